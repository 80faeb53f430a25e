/* LayerNorm and RMSNorm, forward and backward. */
#include "nn/nn.h"

wanc_err nn_layer_norm_forward(const nn_ctx *c, float *out, const float *x, const float *w, const float *b,
                               int64_t rows, int64_t dim, float eps)
{
    TRY(c->be->layer_norm(c->be, out, x, w, b, rows, dim, eps));
    return nn_round(c, out, rows * dim);
}

/* The backend's `accumulate` covers dx and the parameter gradients alike;
 * here the parameter gradients always add up (gradient accumulation over
 * items) while dx follows acc: an overwritten dx with kept parameter
 * gradients takes a second pass for the column sums. */
wanc_err nn_layer_norm_backward(const nn_ctx *c, float *dx, float *dw, float *db, const float *dy, const float *x,
                                const float *w, int64_t rows, int64_t dim, float eps, int acc)
{
    if (acc || (!dw && !db)) return c->be->layer_norm_backward(c->be, dx, dw, db, dy, x, w, rows, dim, eps, acc);
    if (dx) TRY(c->be->layer_norm_backward(c->be, dx, NULL, NULL, dy, x, w, rows, dim, eps, 0));
    return c->be->layer_norm_backward(c->be, NULL, dw, db, dy, x, w, rows, dim, eps, 1);
}

wanc_err nn_rms_norm_forward(const nn_ctx *c, float *out, const float *x, const float *w, int64_t rows, int64_t dim,
                             float eps)
{
    const wanc_backend *be = c->be;
    if (!c->bf16) return be->rms_norm(be, out, x, w, rows, dim, eps);
    TRY(be->rms_norm(be, out, x, NULL, rows, dim, eps));
    TRY(nn_round(c, out, rows * dim));
    if (!w) return NULL;
    TRY(be->mul_rows(be, out, out, w, rows, dim));
    return nn_round(c, out, rows * dim);
}

wanc_err nn_rms_norm_backward(const nn_ctx *c, float *dx, float *dw, const float *dy, const float *x, const float *w,
                              int64_t rows, int64_t dim, float eps, int acc)
{
    if (acc || !dw) return c->be->rms_norm_backward(c->be, dx, dw, dy, x, w, rows, dim, eps, acc);
    if (dx) TRY(c->be->rms_norm_backward(c->be, dx, NULL, dy, x, w, rows, dim, eps, 0));
    return c->be->rms_norm_backward(c->be, NULL, dw, dy, x, w, rows, dim, eps, 1);
}
