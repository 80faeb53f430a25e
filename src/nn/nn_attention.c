/* Multi-head attention (flash-style backward) and the RoPE rotation. */
#include <math.h>

#include "nn/nn.h"

wanc_err nn_rope_forward(const nn_ctx *c, float *x, const double *cos_sin, int64_t L, int64_t H, int64_t D)
{
    TRY(c->be->rope(c->be, x, cos_sin, L, H, D));
    return nn_round(c, x, L * H * D);
}

wanc_err nn_rope_backward(const nn_ctx *c, float *dx, const double *cos_sin, int64_t L, int64_t H, int64_t D)
{
    return c->be->rope_backward(c->be, dx, cos_sin, L, H, D);
}

wanc_err nn_attention_forward(const nn_ctx *c, float *out, float *lse, const float *q, const float *k, const float *v,
                              int64_t Lq, int64_t Lk, int64_t H, int64_t D)
{
    const float scale = 1.0f / sqrtf((float)D);
    if (lse) TRY(c->be->attention_lse(c->be, out, lse, q, k, v, Lq, Lk, H, D, scale));
    else TRY(c->be->attention(c->be, out, q, k, v, Lq, Lk, H, D, scale, NULL, NULL));
    return nn_round(c, out, Lq * H * D);
}

wanc_err nn_attention_backward(const nn_ctx *c, float *dq, float *dk, float *dv, const float *dout, const float *q,
                               const float *k, const float *v, const float *out, const float *lse, int64_t Lq,
                               int64_t Lk, int64_t H, int64_t D, int acc)
{
    return c->be->attention_backward(c->be, dq, dk, dv, dout, q, k, v, out, lse, Lq, Lk, H, D,
                                     1.0f / sqrtf((float)D), acc);
}
