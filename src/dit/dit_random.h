/* Random Wan2.1 DiT checkpoints (real key names and shapes) for tests and
 * benchmarks, written tensor by tensor so any size fits in little memory. */
#ifndef WANC_DIT_DIT_RANDOM_H
#define WANC_DIT_DIT_RANDOM_H

#include <stdint.h>

#include "dit/wan_dit.h"

/* The released config of "wan2.1-t2v-1.3b", "wan2.1-t2v-14b", "wan2.1-i2v-14b". */
wanc_err wanc_dit_arch_config(wanc_dit_config *cfg, const char *arch);
/* Write a random checkpoint of config `cfg` to `path` (num_heads in __metadata__). */
wanc_err wanc_dit_random_write(const char *path, const wanc_dit_config *cfg, wanc_dtype dt, uint64_t seed);
/* `wanc random-model`: DIR/diffusion_pytorch_model.safetensors; layers 0 = the arch's. */
wanc_err wanc_dit_random_model(const char *arch, const char *out_dir, int layers, wanc_dtype dt, uint64_t seed);

#endif
