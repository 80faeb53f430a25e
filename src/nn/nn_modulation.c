/* adaLN modulation from t_mod: x·(1 + scale) + shift, and the gated residual
 * x + gate·y, per range of tokens sharing one timestep. */
#include "nn/nn.h"

#define RANGES for (int k = 0; k < r->n; k++)
#define ROWS(p) ((p) + r->begin[k] * dim)
#define NROWS (r->end[k] - r->begin[k])
#define VEC(p) ((p) + k * stride)

/* out[r, :] = x[r, :] · vec (one float32 product per element, then rounded). */
static wanc_err mul_rows(const nn_ctx *c, float *out, const float *x, const float *vec, int64_t rows, int64_t dim)
{
    TRY(c->be->mul_rows(c->be, out, x, vec, rows, dim));
    return nn_round(c, out, rows * dim);
}

wanc_err nn_modulate_forward(const nn_ctx *c, float *out, const float *x, const float *shift, const float *scale,
                             int64_t stride, const nn_ranges *r, int64_t dim)
{
    const wanc_backend *be = c->be;
    RANGES {
        if (!c->bf16) {
            TRY(be->modulate(be, ROWS(out), ROWS(x), VEC(shift), VEC(scale), NROWS, dim));
            continue;
        }
        /* torch's bf16: 1 + scale, the product and the sum each rounded */
        TRY(be->scale(be, c->vtmp, VEC(scale), 1.0f, 1.0f, dim));
        TRY(nn_round(c, c->vtmp, dim));
        TRY(mul_rows(c, ROWS(out), ROWS(x), c->vtmp, NROWS, dim));
        /* + shift: modulate with scale 0 is x·1 + shift, the sum alone */
        TRY(be->modulate(be, ROWS(out), ROWS(out), VEC(shift), c->zeros, NROWS, dim));
        TRY(nn_round(c, ROWS(out), NROWS * dim));
    }
    return NULL;
}

wanc_err nn_modulate_backward(const nn_ctx *c, float *dx, float *dshift, float *dscale, int64_t stride, const float *dy,
                              const float *x, const float *scale, const nn_ranges *r, int64_t dim, int acc)
{
    RANGES TRY(c->be->modulate_backward(c->be, ROWS(dx), dshift ? VEC(dshift) : NULL, dscale ? VEC(dscale) : NULL,
                                        ROWS(dy), ROWS(x), VEC(scale), NROWS, dim, acc));
    return NULL;
}

wanc_err nn_gate_forward(const nn_ctx *c, float *x, float *y, const float *gate, int64_t stride, const nn_ranges *r,
                         int64_t dim)
{
    const wanc_backend *be = c->be;
    RANGES {
        if (!c->bf16) {
            TRY(be->gated_add(be, ROWS(x), ROWS(y), VEC(gate), NROWS, dim));
            continue;
        }
        TRY(mul_rows(c, ROWS(y), ROWS(y), VEC(gate), NROWS, dim));
        TRY(be->add(be, ROWS(x), ROWS(x), ROWS(y), NROWS * dim));
        TRY(nn_round(c, ROWS(x), NROWS * dim));
    }
    return NULL;
}

wanc_err nn_gate_backward(const nn_ctx *c, float *dy, float *dgate, int64_t stride, const float *dx, const float *y,
                          const float *gate, const nn_ranges *r, int64_t dim, int acc)
{
    RANGES TRY(c->be->mul_rows_backward(c->be, ROWS(dy), dgate ? VEC(dgate) : NULL, ROWS(dx), ROWS(y), VEC(gate),
                                        NROWS, dim, acc));
    return NULL;
}

wanc_err nn_norm_modulate_forward(const nn_ctx *c, float *out, const float *x, const float *shift, const float *scale,
                                  int64_t stride, const nn_ranges *r, int64_t dim, float eps)
{
    const wanc_backend *be = c->be;
    if (!be->layer_norm_modulate) {
        RANGES TRY(nn_layer_norm_forward(c, ROWS(out), ROWS(x), NULL, NULL, NROWS, dim, eps));
        return nn_modulate_forward(c, out, out, shift, scale, stride, r, dim);
    }
    RANGES TRY(be->layer_norm_modulate(be, ROWS(out), ROWS(x), VEC(shift), VEC(scale), NROWS, dim, eps, c->bf16));
    return NULL;
}
