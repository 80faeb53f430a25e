/* Streaming writer of random-weight checkpoints (for `wanc random-model`).
 *
 * A generator lists its tensors (name, shape, dtype, how to fill them); the
 * writer lays them out as one .safetensors file and fills the data chunk by
 * chunk, so a 30 GB model is written with a few MB of memory. Values are
 * deterministic in (seed, tensor name, element index), independent of the
 * order of the list and of the thread count.
 */
#ifndef WANC_TOOLS_SUPPORT_RANDOM_WEIGHTS_H
#define WANC_TOOLS_SUPPORT_RANDOM_WEIGHTS_H

#include <stdint.h>

#include "core/error.h"
#include "core/tensor.h"

typedef struct wanc_random_tensor {
    char name[128];
    wanc_dtype dtype; /* WANC_BF16, WANC_F16 or WANC_F32 */
    int ndim;
    int64_t shape[WANC_MAX_DIMS];
    float std;        /* normal(mean, std); std 0 gives the constant `mean` */
    float mean;
} wanc_random_tensor;

/* Write the n tensors to `path` (via a temporary file renamed at the end).
 * metadata: NULL or NULL-terminated key, value, ... pairs for __metadata__. */
wanc_err wanc_random_safetensors_write(const char *path, int n, const wanc_random_tensor *tensors, uint64_t seed,
                                       const char *const *metadata);

#endif
