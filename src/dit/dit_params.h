/* Where the DiT keeps each of its parameters, by checkpoint name (for full
 * fine-tuning, which updates them in place between steps).
 *
 * A Wan DiT reads its Linear / conv weights and biases as tensors (an entry
 * of its weight store, or an owned converted copy in bf16-weights mode) and
 * keeps its small parameters (RMSNorm / LayerNorm weights, modulations) as
 * float32 copies made at load. A change to either is what the next forward
 * computes with.
 *
 *   wanc_dit_param p;
 *   TRY(wanc_dit_param_find(dit, "blocks.0.norm3.weight", &p));   // p.vec, p.numel
 *   TRY(wanc_dit_param_find(dit, "blocks.0.ffn.0.weight", &p));   // p.tensor
 */
#ifndef WANC_DIT_DIT_PARAMS_H
#define WANC_DIT_DIT_PARAMS_H

#include <stdint.h>

#include "dit/wan_dit.h"

typedef struct wanc_dit_param {
    float *vec;               /* the float32 copy of a small parameter, or NULL */
    const wanc_tensor *tensor; /* the tensor a weight / bias is read from, or NULL */
    int64_t numel;
} wanc_dit_param;

/* Named error (WANC_ENOTFOUND) when the DiT has no parameter of that name. */
wanc_err wanc_dit_param_find(wanc_dit *d, const char *name, wanc_dit_param *out);

#endif
