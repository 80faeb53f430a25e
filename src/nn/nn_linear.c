/* Linear with an optional LoRA, forward and backward. */
#include "nn/nn.h"

wanc_err nn_round(const nn_ctx *c, float *x, int64_t n) { return c->bf16 ? c->be->round_bf16(c->be, x, n) : NULL; }

wanc_err nn_linear_forward(const nn_ctx *c, float *y, const float *x, const nn_linear *l, const nn_lora *lo,
                           float *u, int64_t M)
{
    const wanc_backend *be = c->be;
    const int64_t N = l->w->shape[0];
    TRY(be->linear(be, y, x, l->w, l->b, M));
    if (l->lora) TRY(wanc_lora_delta_apply(be, y, x, M, l->lora));
    if (lo) {
        const int64_t K = wanc_tensor_numel(l->w) / N, r = lo->rank;
        TRY(be->gemm(be, u, x, lo->A, M, r, K, 0, 1, 1.0f, 0.0f, K, K, r));
        TRY(be->gemm(be, y, u, lo->B, M, N, r, 0, 1, lo->scale, 1.0f, r, r, N));
    }
    return nn_round(c, y, M * N);
}

wanc_err nn_linear_backward(const nn_ctx *c, float *dx, int acc, const float *dy, const float *x, const nn_linear *l,
                            const nn_linear_grad *g, const nn_lora *lo, const float *u, float *du, int64_t M)
{
    const wanc_backend *be = c->be;
    if (dx) TRY(be->linear_backward(be, dx, NULL, NULL, dy, x, l->w, M, acc));
    if (g && (g->w || g->b)) TRY(be->linear_backward(be, NULL, g->w, g->b, dy, x, l->w, M, 1));
    if (lo) {
        const int64_t N = l->w->shape[0], K = wanc_tensor_numel(l->w) / N, r = lo->rank;
        if (lo->dB) TRY(be->gemm(be, lo->dB, dy, u, N, r, M, 1, 0, lo->scale, 1.0f, N, r, r));
        TRY(be->gemm(be, du, dy, lo->B, M, r, N, 0, 0, lo->scale, 0.0f, N, r, r));
        if (lo->dA) TRY(be->gemm(be, lo->dA, du, x, r, K, M, 1, 0, 1.0f, 1.0f, r, K, K));
        if (dx) TRY(be->gemm(be, dx, du, lo->A, M, K, r, 0, 0, 1.0f, 1.0f, r, K, K));
    }
    return NULL;
}

/* ---- fused linears ---------------------------------------------------------------------------- */

wanc_err nn_linear_gelu_forward(const nn_ctx *c, float *y, const float *x, const nn_linear *l, int64_t M)
{
    const wanc_backend *be = c->be;
    if (!be->linear_fused || l->lora) {
        TRY(nn_linear_forward(c, y, x, l, NULL, NULL, M));
        return nn_gelu_tanh_forward(c, y, y, M * l->w->shape[0]);
    }
    const wanc_epilogue ep = {.kind = WANC_EPILOGUE_GELU_TANH, .round_bf16 = c->bf16};
    return be->linear_fused(be, y, x, l->w, l->b, M, &ep);
}

/* Do the ranges tile rows [0, M) in order (what the epilogue's range_end assumes)? */
static int ranges_tile(const nn_ranges *r, int64_t M)
{
    if (r->n < 1 || r->n > WANC_EPILOGUE_MAX_RANGES || r->begin[0] != 0 || r->end[r->n - 1] != M) return 0;
    for (int k = 1; k < r->n; k++)
        if (r->begin[k] != r->end[k - 1]) return 0;
    return 1;
}

wanc_err nn_linear_residual_forward(const nn_ctx *c, float *res, float *y, const float *x, const nn_linear *l,
                                    const nn_lora *lo, float *u, const float *gate, int64_t stride,
                                    const nn_ranges *r, int64_t M)
{
    const wanc_backend *be = c->be;
    const int64_t N = l->w->shape[0];
    if (!be->linear_fused || l->lora || lo || !ranges_tile(r, M)) {
        TRY(nn_linear_forward(c, y, x, l, lo, u, M));
        if (!gate) return nn_add_forward(c, res, res, y, M * N);
        return nn_gate_forward(c, res, y, gate, stride, r, N);
    }
    wanc_epilogue ep = {.kind = WANC_EPILOGUE_RESIDUAL, .round_bf16 = c->bf16, .residual = res, .gate = gate,
                        .gate_stride = stride, .nranges = r->n};
    for (int k = 0; k < r->n; k++) ep.range_end[k] = r->end[k];
    return be->linear_fused(be, y, x, l->w, l->b, M, &ep);
}
