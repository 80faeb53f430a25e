/* Pointwise layers: GELU (tanh and erf), SiLU, addition. */
#include "nn/nn.h"

wanc_err nn_gelu_tanh_forward(const nn_ctx *c, float *out, const float *x, int64_t n)
{
    TRY(c->be->gelu_tanh(c->be, out, x, n));
    return nn_round(c, out, n);
}

wanc_err nn_gelu_tanh_backward(const nn_ctx *c, float *dx, const float *dy, const float *x, int64_t n, int acc)
{
    return c->be->gelu_tanh_backward(c->be, dx, dy, x, n, acc);
}

wanc_err nn_gelu_erf_forward(const nn_ctx *c, float *out, const float *x, int64_t n)
{
    TRY(c->be->gelu_erf(c->be, out, x, n));
    return nn_round(c, out, n);
}

wanc_err nn_gelu_erf_backward(const nn_ctx *c, float *dx, const float *dy, const float *x, int64_t n, int acc)
{
    return c->be->gelu_erf_backward(c->be, dx, dy, x, n, acc);
}

wanc_err nn_silu_forward(const nn_ctx *c, float *out, const float *x, int64_t n)
{
    TRY(c->be->silu(c->be, out, x, n));
    return nn_round(c, out, n);
}

wanc_err nn_silu_backward(const nn_ctx *c, float *dx, const float *dy, const float *x, int64_t n, int acc)
{
    return c->be->silu_backward(c->be, dx, dy, x, n, acc);
}

wanc_err nn_add_forward(const nn_ctx *c, float *out, const float *a, const float *b, int64_t n)
{
    TRY(c->be->add(c->be, out, a, b, n));
    return nn_round(c, out, n);
}
