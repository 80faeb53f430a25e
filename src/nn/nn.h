/* Layers with forward/backward pairs (as llm.c writes them), between the
 * backend table and the models.
 *
 * A layer's forward computes one module of the network with backend ops and,
 * in bf16 mode (`nn_ctx.bf16`, inference as torch's bf16 run), rounds each
 * result where torch would round it. Its backward takes the gradient of the
 * forward's output and whatever the forward kept: the caller decides what to
 * keep by the buffers it passes. A training tape gives each activation its
 * own buffer (the input a norm's backward recomputes its statistics from, the
 * GELU input, attention's log-sum-exp `lse`, a LoRA's A·x `u`); inference
 * passes NULL for what only the backward reads and lets activations share
 * buffers. Backwards run in float32 (training does not round).
 *
 * Every pointer is backend memory (`be->alloc`), so a model written on these
 * layers runs on any backend that fills the ops it uses; the layout layers
 * (patchify, transpose, copy) are strided copies, not host loops.
 *
 * Gradient outputs follow the backend's conventions: a NULL gradient is not
 * computed (a frozen weight), `acc` != 0 adds into it instead of overwriting.
 */
#ifndef WANC_NN_NN_H
#define WANC_NN_NN_H

#include <stdbool.h>
#include <stdint.h>

#include "backend/backend.h"
#include "lora/lora.h"

typedef struct nn_ctx {
    const wanc_backend *be;
    bool bf16;     /* round results to bf16 as torch's bf16 run does (inference only) */
    float *vtmp;   /* bf16 modulation scratch: [max dim] */
    float *zeros;  /* [max dim] of zeros (bf16 modulation's shift-only add) */
} nn_ctx;

/* x[n] rounded to bf16 in bf16 mode; nothing in fp32 mode. */
wanc_err nn_round(const nn_ctx *c, float *x, int64_t n);

/* ---- linear (nn_linear.c) ---------------------------------------------------------------- */

/* A Linear: w [N, K] as stored (or a conv weight [N, ...] read as [N, K]),
 * b [N] or NULL; lora: run-time LoRA terms of inference (frozen), or NULL. */
typedef struct nn_linear {
    const wanc_tensor *w, *b;
    const wanc_lora_delta *lora;
} nn_linear;

/* A trainable LoRA on a Linear: y += scale · B (A x). A [rank, K], B [N, rank]
 * float32; dA, dB the same shapes (gradients added by the backward, NULL: frozen). */
typedef struct nn_lora {
    float *A, *B, *dA, *dB;
    int64_t rank;
    float scale;
} nn_lora;

/* Gradients of a Linear's weight [N, K] and bias [N], NULL: not kept. */
typedef struct nn_linear_grad {
    float *w, *b;
} nn_linear_grad;

/* y[M, N] = x[M, K]·wᵀ + b (+ the run-time LoRA terms) (+ lo: scale·(x·Aᵀ)·Bᵀ,
 * keeping u = x·Aᵀ [M, rank] for the backward), rounded once. */
wanc_err nn_linear_forward(const nn_ctx *c, float *y, const float *x, const nn_linear *l, const nn_lora *lo,
                           float *u, int64_t M);
/* dx[M, K] (+)= dy·w (+ the LoRA path); g: parameter gradients added; LoRA
 * dA/dB added. du: scratch [M, rank] when lo is given. */
wanc_err nn_linear_backward(const nn_ctx *c, float *dx, int acc, const float *dy, const float *x, const nn_linear *l,
                            const nn_linear_grad *g, const nn_lora *lo, const float *u, float *du, int64_t M);

/* ---- normalisation (nn_norm.c) ------------------------------------------------------------- */

/* LayerNorm over the last dim (weight/bias NULL: no affine). The backward
 * recomputes mean and rstd from x (in double, as the forward): the tape keeps x.
 * Norm backwards: dx (+)= per acc; dw/db (parameter gradients) are always
 * added to, so they sum over the items of a gradient accumulation. */
wanc_err nn_layer_norm_forward(const nn_ctx *c, float *out, const float *x, const float *w, const float *b,
                               int64_t rows, int64_t dim, float eps);
wanc_err nn_layer_norm_backward(const nn_ctx *c, float *dx, float *dw, float *db, const float *dy, const float *x,
                                const float *w, int64_t rows, int64_t dim, float eps, int acc);
/* DiffSynth's RMSNorm: normalise in float32 (bf16: round), then × weight. */
wanc_err nn_rms_norm_forward(const nn_ctx *c, float *out, const float *x, const float *w, int64_t rows, int64_t dim,
                             float eps);
wanc_err nn_rms_norm_backward(const nn_ctx *c, float *dx, float *dw, const float *dy, const float *x, const float *w,
                              int64_t rows, int64_t dim, float eps, int acc);

/* ---- modulation (nn_modulation.c) ------------------------------------------------------------ */

/* Token ranges that share one modulation vector: one range normally; TI2V-5B's
 * per-token timesteps give latent frame 0 its own (t = 0). Range r's vectors
 * sit at `vec + r·stride`. */
#define NN_MAX_RANGES 2
typedef struct nn_ranges {
    int n;
    int64_t begin[NN_MAX_RANGES], end[NN_MAX_RANGES];
} nn_ranges;

/* out = x·(1 + scale) + shift per range (torch rounds 1 + scale, the product
 * and the sum: three roundings in bf16). In place ok. */
wanc_err nn_modulate_forward(const nn_ctx *c, float *out, const float *x, const float *shift, const float *scale,
                             int64_t stride, const nn_ranges *r, int64_t dim);
/* dx (+)= dy·(1 + scale); dshift/dscale per range (+)= Σ rows. */
wanc_err nn_modulate_backward(const nn_ctx *c, float *dx, float *dshift, float *dscale, int64_t stride, const float *dy,
                              const float *x, const float *scale, const nn_ranges *r, int64_t dim, int acc);
/* x += gate·y per range (the residual branch; bf16: the product rounded, then
 * the sum; y is clobbered). */
wanc_err nn_gate_forward(const nn_ctx *c, float *x, float *y, const float *gate, int64_t stride, const nn_ranges *r,
                         int64_t dim);
/* The gated branch's gradients: dy (+)= gate·dx, dgate per range (+)= Σ dx·y.
 * (dx itself flows on unchanged through the residual.) */
wanc_err nn_gate_backward(const nn_ctx *c, float *dy, float *dgate, int64_t stride, const float *dx, const float *y,
                          const float *gate, const nn_ranges *r, int64_t dim, int acc);

/* LayerNorm (no affine) then nn_modulate_forward, without keeping LN(x)
 * (inference): one pass per row where the backend has the fused op. Same
 * bits either way. In place ok. */
wanc_err nn_norm_modulate_forward(const nn_ctx *c, float *out, const float *x, const float *shift, const float *scale,
                                  int64_t stride, const nn_ranges *r, int64_t dim, float eps);

/* ---- fused linears (nn_linear.c) ----------------------------------------------------------- */

/* gelu_tanh(nn_linear_forward(x)) into y without keeping the pre-activation
 * (inference): one fused op where the backend has it, else the two layers.
 * Same bits either way. */
wanc_err nn_linear_gelu_forward(const nn_ctx *c, float *y, const float *x, const nn_linear *l, int64_t M);
/* res += gate·y per range, y = nn_linear_forward(x) (kept in y, rounded as
 * that layer rounds it; gate NULL: res + y, nn_add_forward's sum): the
 * residual branch of a block in one fused op where the backend has it and
 * no LoRA term is added, else nn_linear_forward and nn_gate_forward /
 * nn_add_forward. Same bits either way (y is clobbered on the unfused
 * bf16 gate path, as nn_gate_forward does). */
wanc_err nn_linear_residual_forward(const nn_ctx *c, float *res, float *y, const float *x, const nn_linear *l,
                                    const nn_lora *lo, float *u, const float *gate, int64_t stride,
                                    const nn_ranges *r, int64_t M);

/* ---- pointwise (nn_pointwise.c) ------------------------------------------------------------- */

/* out = act(x) over n values; the backward reads x (the tape keeps the input). */
wanc_err nn_gelu_tanh_forward(const nn_ctx *c, float *out, const float *x, int64_t n);
wanc_err nn_gelu_tanh_backward(const nn_ctx *c, float *dx, const float *dy, const float *x, int64_t n, int acc);
wanc_err nn_gelu_erf_forward(const nn_ctx *c, float *out, const float *x, int64_t n);
wanc_err nn_gelu_erf_backward(const nn_ctx *c, float *dx, const float *dy, const float *x, int64_t n, int acc);
wanc_err nn_silu_forward(const nn_ctx *c, float *out, const float *x, int64_t n);
wanc_err nn_silu_backward(const nn_ctx *c, float *dx, const float *dy, const float *x, int64_t n, int acc);
/* out = a + b, rounded. */
wanc_err nn_add_forward(const nn_ctx *c, float *out, const float *a, const float *b, int64_t n);

/* ---- attention (nn_attention.c) ------------------------------------------------------------ */

/* RoPE on adjacent pairs of each head of x[L, H·D] in place (float64 angles
 * cos_sin[L, D/2, 2]); the backward rotates dx back. */
wanc_err nn_rope_forward(const nn_ctx *c, float *x, const double *cos_sin, int64_t L, int64_t H, int64_t D);
wanc_err nn_rope_backward(const nn_ctx *c, float *dx, const double *cos_sin, int64_t L, int64_t H, int64_t D);
/* out[Lq, H·D] = softmax(q kᵀ/√D) v per head; lse [H, Lq] kept for the
 * backward when not NULL (same out bits either way). */
wanc_err nn_attention_forward(const nn_ctx *c, float *out, float *lse, const float *q, const float *k, const float *v,
                              int64_t Lq, int64_t Lk, int64_t H, int64_t D);
/* Flash-style: recomputes the probabilities from q, k and lse; out is the forward's. */
wanc_err nn_attention_backward(const nn_ctx *c, float *dq, float *dk, float *dv, const float *dout, const float *q,
                               const float *k, const float *v, const float *out, const float *lse, int64_t Lq,
                               int64_t Lk, int64_t H, int64_t D, int acc);

/* ---- layout (nn_layout.c): strided copies on the backend ------------------------------------ */

/* Between a video x[C, F, H, W] and its patch rows: row (f, h, w) of the
 * F/pt·H/ph·W/pw patches comes after `skip_rows` rows left alone (reference
 * tokens); rows have `row_len` features. Channel ch's features sit at
 * (c0 + ch)·pt·ph·pw + (kt, kh, kw) (a patch conv's weight order), or with
 * channels_last at (kt, kh, kw)·row_len/(pt·ph·pw) + c0 + ch (the head's
 * output order). */
wanc_err nn_patchify(const nn_ctx *c, float *rows, int64_t row_len, int64_t c0, int channels_last, int64_t skip_rows,
                     const float *x, int64_t C, int64_t F, int64_t H, int64_t W, const int patch[3]);
wanc_err nn_unpatchify(const nn_ctx *c, float *x, const float *rows, int64_t row_len, int64_t c0, int channels_last,
                       int64_t skip_rows, int64_t C, int64_t F, int64_t H, int64_t W, const int patch[3]);
/* dst[cols, rows] = src[rows, cols]ᵀ (tokens ↔ channels). */
wanc_err nn_transpose(const nn_ctx *c, float *dst, const float *src, int64_t rows, int64_t cols);
/* dst[n] = src[n] */
wanc_err nn_copy(const nn_ctx *c, float *dst, const float *src, int64_t n);

#endif
