/* The backend interface: every op a model needs, behind one function table.
 *
 * Models never call kernels; they call `be->op(be, ...)`. Activations are
 * float32 buffers in the backend's memory (host memory for "cpu", device
 * memory for "cuda"), laid out row-major as PyTorch would: token sequences
 * are [L, D] (batch 1), video features are channel-first [C, T, H, W].
 * Weights are wanc_tensors in their stored dtype (F32, BF16, F16): ops read
 * them as they are, so a bf16 checkpoint never expands to fp32 as a whole.
 *
 * Determinism: an op gives the same bits at any thread count (work is split
 * so each output element is reduced in one fixed order).
 *
 * bf16 compute ("bf16 mode") follows PyTorch's CUDA semantics: each op
 * evaluates in float32 and its result is rounded to bf16 once. Models do
 * that rounding explicitly with `round_bf16` after the ops that torch would
 * round, so the fp32 path and the bf16 path share every kernel.
 *
 * Shapes are given in the comment of each entry; outputs first, then inputs,
 * then sizes. `out` may alias `x` where noted ("in place ok").
 */
#ifndef WANC_BACKEND_H
#define WANC_BACKEND_H

#include <stddef.h>
#include <stdint.h>

#include "core/error.h"
#include "core/tensor.h"

typedef struct wanc_backend wanc_backend;

/* What linear_fused does to each output block of y = x·wᵀ + bias once the
 * block's sums are final, while it is still in cache, instead of a separate
 * pass over y: */
typedef enum {
    WANC_EPILOGUE_GELU_TANH = 1, /* y ← gelu_tanh(y) (the FFN's first linear) */
    WANC_EPILOGUE_RESIDUAL,      /* residual ← residual + gate·y (a gated residual branch), y kept */
} wanc_epilogue_kind;

#define WANC_EPILOGUE_MAX_RANGES 2
typedef struct wanc_epilogue {
    wanc_epilogue_kind kind;
    /* bf16 mode: y is rounded to bf16, and so is each later op's result,
     * exactly where the unfused ops and round_bf16 would round (GELU: y,
     * then gelu(y); residual: y, gate·y, then the sum). */
    int round_bf16;
    /* WANC_EPILOGUE_RESIDUAL: residual[M, N]; gate NULL means 1, else row r
     * takes gate + k·gate_stride [N], k the first range with r < range_end[k]
     * (nranges >= 1; per-token timesteps give some rows their own gate). */
    float *residual;
    const float *gate;
    int64_t gate_stride;
    int nranges;
    int64_t range_end[WANC_EPILOGUE_MAX_RANGES];
} wanc_epilogue;

struct wanc_backend {
    const char *name; /* "cpu", "cuda:0" */
    /* CPU: linear runs Q8_0 weights on int8 dot products (activations
     * quantized per 32-value block, gemm_q8.c) instead of decoding them for
     * the float32 GEMM. Set only in wanc_backend_cpu_q8_int8()'s table. */
    int q8_int8;

    /* ---- memory ------------------------------------------------------ */
    wanc_err (*alloc)(const wanc_backend *be, void **out, size_t bytes);
    void (*free)(const wanc_backend *be, void *p);
    wanc_err (*upload)(const wanc_backend *be, void *dst, const void *host_src, size_t bytes);
    wanc_err (*download)(const wanc_backend *be, void *host_dst, const void *src, size_t bytes);

    /* ---- dense ------------------------------------------------------- */
    /* out[M,N] = x[M,K] · w[N,K]ᵀ (+ bias[N]). w: F32/BF16/F16, contiguous
     * (a conv weight [N, K...] counts as [N, prod K]). bias may be NULL. */
    wanc_err (*linear)(const wanc_backend *be, float *out, const float *x, const wanc_tensor *w,
                       const wanc_tensor *bias, int64_t M);
    /* out[M,N] = alpha · op(a) · op(b) + beta · out, all float32, row-major;
     * op(a) is [M,K] (a stored [K,M] when trans_a), op(b) is [K,N] (stored
     * [N,K] when trans_b). lda/ldb/ldc are row strides in elements. */
    wanc_err (*gemm)(const wanc_backend *be, float *out, const float *a, const float *b, int64_t M, int64_t N,
                     int64_t K, int trans_a, int trans_b, float alpha, float beta, int64_t lda, int64_t ldb,
                     int64_t ldc);

    /* ---- normalisation ----------------------------------------------- */
    /* Over the last dim of x[rows, dim]; weight/bias [dim] float32 or NULL
     * (no affine). LayerNorm: (x-mean)/sqrt(var+eps) with biased variance.
     * In place ok. */
    wanc_err (*layer_norm)(const wanc_backend *be, float *out, const float *x, const float *weight,
                           const float *bias, int64_t rows, int64_t dim, float eps);
    /* RMSNorm: x / sqrt(mean(x²) + eps) · weight (weight may be NULL). In place ok. */
    wanc_err (*rms_norm)(const wanc_backend *be, float *out, const float *x, const float *weight, int64_t rows,
                         int64_t dim, float eps);
    /* Softmax over the last dim of x[rows, dim]. In place ok. */
    wanc_err (*softmax)(const wanc_backend *be, float *out, const float *x, int64_t rows, int64_t dim);

    /* ---- elementwise (n elements, in place ok) -------------------------- */
    wanc_err (*gelu_tanh)(const wanc_backend *be, float *out, const float *x, int64_t n);
    wanc_err (*gelu_erf)(const wanc_backend *be, float *out, const float *x, int64_t n);
    wanc_err (*silu)(const wanc_backend *be, float *out, const float *x, int64_t n);
    /* out = a + b; out = a * b (same shapes) */
    wanc_err (*add)(const wanc_backend *be, float *out, const float *a, const float *b, int64_t n);
    wanc_err (*mul)(const wanc_backend *be, float *out, const float *a, const float *b, int64_t n);
    /* out = x · alpha + beta */
    wanc_err (*scale)(const wanc_backend *be, float *out, const float *x, float alpha, float beta, int64_t n);
    /* Round every value to the nearest bf16 (kept as float32). */
    wanc_err (*round_bf16)(const wanc_backend *be, float *x, int64_t n);

    /* ---- row-broadcast helpers for modulation -------------------------- */
    /* out[r,d] = x[r,d] · (1 + scale[d]) + shift[d]   (x[rows, dim]) */
    wanc_err (*modulate)(const wanc_backend *be, float *out, const float *x, const float *shift,
                         const float *scale, int64_t rows, int64_t dim);
    /* x[r,d] += gate[d] · y[r,d];  gate == NULL means 1 */
    wanc_err (*gated_add)(const wanc_backend *be, float *x, const float *y, const float *gate, int64_t rows,
                          int64_t dim);

    /* ---- attention ----------------------------------------------------- */
    /* out[Lq, H·D] = softmax(scale · q kᵀ + bias) v, per head h, where
     * q[Lq, H·D], k/v[Lk, H·D] (head h = columns h·D..h·D+D-1).
     * bias: NULL or [H, Lq, Lk] float32 added to the logits (T5's position bias);
     * key_mask: NULL or [Lk] (0 = masked key: logit set to -FLT_MAX, as torch's finfo.min).
     * Never materialises Lq×Lk beyond one tile per thread (online softmax). */
    wanc_err (*attention)(const wanc_backend *be, float *out, const float *q, const float *k, const float *v,
                          int64_t Lq, int64_t Lk, int64_t H, int64_t D, float scale, const float *bias,
                          const uint8_t *key_mask);
    /* RoPE on adjacent pairs (2i, 2i+1) of every head, in float64 as the
     * reference: x[L, H·D] in place; cos_sin[L, D/2, 2] (cos, sin) float64. */
    wanc_err (*rope)(const wanc_backend *be, float *x, const double *cos_sin, int64_t L, int64_t H, int64_t D);

    /* ---- convolution --------------------------------------------------- */
    /* out[Cout, To, Ho, Wo] = conv3d(x[Cin, T, H, W], w[Cout, Cin, kt, kh, kw]) + bias[Cout]
     * with zero padding pad[0..2] on both sides of (T, H, W) and stride[0..2].
     * (Causal time padding is the caller's: it concatenates cached frames.)
     * conv2d is the kt = 1 case with T = 1. */
    wanc_err (*conv3d)(const wanc_backend *be, float *out, const float *x, const wanc_tensor *w,
                       const wanc_tensor *bias, int64_t Cin, int64_t T, int64_t H, int64_t W, const int stride[3],
                       const int pad[3]);

    /* ---- channel-first features and layout ------------------------------- */
    /* Normalise over the channels of x[C, P] (P positions, e.g. T·H·W):
     *   out[c,p] = x[c,p] / max(‖x[:,p]‖₂, eps) · √C · gamma[c]
     * (F.normalize over the channel dim times C^½ and the gain, the VAEs'
     * RMS_norm; the sum of squares in float64). gamma NULL means 1.
     * silu != 0 applies SiLU to the result (the same bits as a separate
     * silu op). In place ok. */
    wanc_err (*channel_rms_norm)(const wanc_backend *be, float *out, const float *x, const float *gamma, int64_t C,
                                 int64_t P, float eps, int silu);
    /* out[N, 2H, 2W][i, j] = x[N, H, W][i/2, j/2]: nearest ×2 in space over N
     * planes (N = C·T for channel-first video). Not in place. */
    wanc_err (*upsample_nearest2x)(const wanc_backend *be, float *out, const float *x, int64_t N, int64_t H,
                                   int64_t W);
    /* out[i₀·os₀ + … ] = x[i₀·xs₀ + … ] over every index of shape[ndim]
     * (1 <= ndim <= 8; strides in elements, >= 0): concatenation, slicing,
     * padding (into a filled buffer), interleaving and transposes are all
     * one strided copy. The regions must not overlap. */
    wanc_err (*copy_strided)(const wanc_backend *be, float *out, const int64_t *out_strides, const float *x,
                             const int64_t *x_strides, const int64_t *shape, int ndim);
    /* out[n] = value */
    wanc_err (*fill)(const wanc_backend *be, float *out, float value, int64_t n);

    /* conv3d (as above) over the time concatenation hist[Cin, Th, H, W] ++
     * x[Cin, T, H, W], without materialising it: a causal conv's cached
     * frames stand in for its left padding. Same bits as conv3d on the
     * concatenated input. hist NULL means Th zero frames (a causal conv's
     * first chunk), whose kernel taps are skipped. */
    wanc_err (*conv3d_hist)(const wanc_backend *be, float *out, const float *hist, int64_t Th, const float *x,
                            const wanc_tensor *w, const wanc_tensor *bias, int64_t Cin, int64_t T, int64_t H,
                            int64_t W, const int stride[3], const int pad[3]);

    /* ---- appended ops ---------------------------------------------------- */
    /* out[r,d] = x[r,d] · w[d] over x[rows, dim], w[dim]: one float32
     * product per element (a gate or an RMSNorm weight broadcast over rows).
     * In place ok. */
    wanc_err (*mul_rows)(const wanc_backend *be, float *out, const float *x, const float *w, int64_t rows,
                         int64_t dim);
    /* out[n] = max(x[n], 0) (NaN stays NaN, -0 becomes +0 as torch's relu
     * gives 0 for x <= 0). In place ok. */
    wanc_err (*relu)(const wanc_backend *be, float *out, const float *x, int64_t n);

    /* ---- training: backward ops (and the forwards that save for them) ----
     * Each takes the gradient of its forward's output (dy) and the forward's
     * inputs, and writes the gradients of the inputs. A NULL gradient output
     * is not computed (a frozen weight gets no dW). `accumulate` != 0 adds
     * into the gradient outputs instead of overwriting them (parameters
     * shared by several uses, gradient accumulation). Parameter gradients
     * are float32 whatever the weight's stored dtype. Reductions over rows
     * go through fixed row chunks summed in order: same bits at any thread
     * count. A backend may leave these NULL (inference only); training code
     * checks with wanc_backend_check_training. */
    /* linear: dx[M,K] = dy[M,N]·w[N,K] (w read as stored: F32/BF16/F16);
     * dw[N,K] = dyᵀ·x[M,K]; db[N] = Σ_m dy. */
    wanc_err (*linear_backward)(const wanc_backend *be, float *dx, float *dw, float *db, const float *dy,
                                const float *x, const wanc_tensor *w, int64_t M, int accumulate);
    /* layer_norm (statistics recomputed from x in double, as the forward):
     * dx[rows,dim], dweight/dbias [dim] (weight NULL: no affine, dweight and
     * dbias must be NULL). */
    wanc_err (*layer_norm_backward)(const wanc_backend *be, float *dx, float *dweight, float *dbias, const float *dy,
                                    const float *x, const float *weight, int64_t rows, int64_t dim, float eps,
                                    int accumulate);
    /* rms_norm: dx[rows,dim], dweight [dim] (weight NULL: none). */
    wanc_err (*rms_norm_backward)(const wanc_backend *be, float *dx, float *dweight, const float *dy, const float *x,
                                  const float *weight, int64_t rows, int64_t dim, float eps, int accumulate);
    /* modulate (out = x·(1 + scale) + shift): dx[rows,dim], dshift/dscale [dim]. */
    wanc_err (*modulate_backward)(const wanc_backend *be, float *dx, float *dshift, float *dscale, const float *dy,
                                  const float *x, const float *scale, int64_t rows, int64_t dim, int accumulate);
    /* mul_rows (out = x·w[d], a gate): dx[rows,dim], dw [dim]. */
    wanc_err (*mul_rows_backward)(const wanc_backend *be, float *dx, float *dw, const float *dy, const float *x,
                                  const float *w, int64_t rows, int64_t dim, int accumulate);
    /* dx[n] (+)= dy · f'(x) for gelu_tanh, gelu_erf and silu. */
    wanc_err (*gelu_tanh_backward)(const wanc_backend *be, float *dx, const float *dy, const float *x, int64_t n,
                                   int accumulate);
    wanc_err (*gelu_erf_backward)(const wanc_backend *be, float *dx, const float *dy, const float *x, int64_t n,
                                  int accumulate);
    wanc_err (*silu_backward)(const wanc_backend *be, float *dx, const float *dy, const float *x, int64_t n,
                              int accumulate);
    /* rope: the gradient through the rotation (the inverse rotation), in
     * place on dx[L, H·D], same cos_sin as the forward. */
    wanc_err (*rope_backward)(const wanc_backend *be, float *dx, const double *cos_sin, int64_t L, int64_t H,
                              int64_t D);
    /* attention (no bias, no mask) that also saves lse[H, Lq], the
     * log-sum-exp of each query row's scaled logits: same out bits as
     * attention. */
    wanc_err (*attention_lse)(const wanc_backend *be, float *out, float *lse, const float *q, const float *k,
                              const float *v, int64_t Lq, int64_t Lk, int64_t H, int64_t D, float scale);
    /* Flash-style backward: recomputes the probabilities tile by tile from
     * q, k and lse (memory O(L), never Lq×Lk); out is the forward's output.
     * dq[Lq,H·D], dk/dv[Lk,H·D] (overwritten, or added to with accumulate). */
    wanc_err (*attention_backward)(const wanc_backend *be, float *dq, float *dk, float *dv, const float *dout,
                                   const float *q, const float *k, const float *v, const float *out, const float *lse,
                                   int64_t Lq, int64_t Lk, int64_t H, int64_t D, float scale, int accumulate);

    /* ---- fused ops (optional: NULL runs the unfused ops instead) ----------
     * Each gives the same bits as the ops it replaces, in fp32 and in bf16
     * mode, and saves whole passes over activations that PyTorch makes. */
    /* linear, then ep on each output block (ep NULL: plain linear). */
    wanc_err (*linear_fused)(const wanc_backend *be, float *out, const float *x, const wanc_tensor *w,
                             const wanc_tensor *bias, int64_t M, const wanc_epilogue *ep);
    /* layer_norm without affine, then modulate, in one pass over each row:
     * out = LN(x)·(1 + scale) + shift; round_bf16: LN(x), 1 + scale, the
     * product and the sum each rounded (torch's bf16 ops). In place ok. */
    wanc_err (*layer_norm_modulate)(const wanc_backend *be, float *out, const float *x, const float *shift,
                                    const float *scale, int64_t rows, int64_t dim, float eps, int round_bf16);
};

/* The CPU backend (OpenBLAS + the wanc thread pool). Always available. */
const wanc_backend *wanc_backend_cpu(void);
/* The same backend with Q8_0 weights on the int8 kernels (q8_int8 set):
 * faster, and off the dequantized float path by the activations'
 * quantization error. Every other op and dtype is the same. */
const wanc_backend *wanc_backend_cpu_q8_int8(void);

/* Ok when every inference op of the table (everything before the training
 * ops) is filled in; otherwise a named error
 * ("backend cuda:0: op relu is missing"). Each backend's tests (and the
 * CUDA backend's init) call it, so an op appended to the struct cannot be
 * forgotten in one table. (backend_select.c) */
wanc_err wanc_backend_check_complete(const wanc_backend *be);
/* 1 when every fused op is filled in (they are optional: the CPU backend
 * has them, a table without them runs the separate ops). */
int wanc_backend_has_fused_ops(const wanc_backend *be);
/* Ok when every training (backward) op is filled in; otherwise a named
 * error ("backend cuda:0 cannot train: op attention_backward is missing"). */
wanc_err wanc_backend_check_training(const wanc_backend *be);

/* A backend by name: "cpu", "cuda" (device 0) or "cuda:N". Named errors
 * for an unknown name, a build without CUDA ("this build has no CUDA
 * backend (make CUDA=1)"), or no such device ("no CUDA device").
 * (backend_select.c) */
wanc_err wanc_backend_get(const char *spec, const wanc_backend **out);

/* The CPU backend's instruction-set path: "avx2", "avx512" or "avx512bf16"
 * (detected once; WANC_CPU forces one the CPU has). Benchmarks print it. */
const char *wanc_cpu_isa(void);
/* The int8 kernel Q8_0 weights run on with wanc_backend_cpu_q8_int8():
 * "avx512vnni", "avxvnni" or "avx2" (WANC_CPU_INT8 forces one). Benchmarks
 * print it next to isa=. */
const char *wanc_cpu_int8(void);

/* Measure this machine's float32 GEMM rate (GFLOP/s) on an n×n×n sgemm with
 * the current thread count: the yardstick every benchmark reports against. */
double wanc_sgemm_gflops(int n, int reps);

#endif
