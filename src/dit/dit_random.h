/* Random Wan2.1 DiT checkpoints (real key names and shapes) for tests and
 * benchmarks, written tensor by tensor so any size fits in little memory. */
#ifndef WANC_DIT_DIT_RANDOM_H
#define WANC_DIT_DIT_RANDOM_H

#include <stdint.h>

#include "dit/wan_dit.h"

/* The released config of "wan2.1-t2v-1.3b", "wan2.1-t2v-14b", "wan2.1-i2v-14b", and of one
 * DiT of "wan2.2-t2v-a14b", "wan2.2-i2v-a14b", "wan2.2-fun-a14b-control",
 * "wan2.2-fun-a14b-control-camera", "wan2.2-vace-fun-a14b" (each expert), "wan2.2-ti2v-5b". */
wanc_err wanc_dit_arch_config(wanc_dit_config *cfg, const char *arch);
/* Fewer (or more) layers than the arch's, 0 = as is; VACE blocks keep the
 * release's stride (a 14B VACE at 10 layers has blocks at 0 and 5). */
void wanc_dit_config_set_layers(wanc_dit_config *cfg, int layers);
/* Write a random checkpoint of config `cfg` to `path` (num_heads in __metadata__). */
wanc_err wanc_dit_random_write(const char *path, const wanc_dit_config *cfg, wanc_dtype dt, uint64_t seed);
/* The same as a sharded release: DIR/diffusion_pytorch_model-0000k-of-0000n.safetensors
 * (consecutive names, about equal bytes each) and DIR/diffusion_pytorch_model.safetensors.index.json. */
wanc_err wanc_dit_random_write_shards(const char *dir, const wanc_dit_config *cfg, wanc_dtype dt, uint64_t seed,
                                      int shards);
/* `wanc random-model`: DIR/diffusion_pytorch_model.safetensors; layers 0 = the arch's. */
wanc_err wanc_dit_random_model(const char *arch, const char *out_dir, int layers, wanc_dtype dt, uint64_t seed);

#endif
