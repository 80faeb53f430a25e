/* Backward ops for training: linear, the norms, modulation and gates,
 * GELU (tanh) and SiLU. (Attention's and RoPE's backward are in
 * attention.c, next to their forwards.)
 *
 * Determinism: products go through cpu_gemm (blocks fixed by the sizes, one
 * single-threaded sgemm per block); per-column reductions over rows (dW of a
 * norm, dshift, dgate, db) sum fixed chunks of rows in float64, then the
 * chunks in order; elementwise ops are per element. So every gradient has
 * the same bits at any thread count. */
#include <math.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "backend/cpu/cpu_internal.h"
#include "backend/cpu/cpu_simd.h"
#include "core/threads.h"

/* ---- per-column sums over rows ------------------------------------------------------ */

/* Rows per reduction chunk: from the sizes only. */
static int64_t reduce_chunk(int64_t dim)
{
    int64_t r = 65536 / (dim > 0 ? dim : 1);
    return r < 16 ? 16 : r;
}

/* A row op: for rows [begin, end) write the per-row results (dx) and add
 * each row's column contributions into acc[ncols·dim] (float64). */
typedef void (*row_fn)(void *ctx, int64_t begin, int64_t end, double *acc);

typedef struct {
    row_fn fn;
    void *ctx;
    double *partial; /* [nchunks, nacc·dim] */
    int64_t chunk, width;
} reduce_job;

static void reduce_range(void *ctx, int64_t begin, int64_t end)
{
    reduce_job *j = ctx;
    for (int64_t c = begin; c < end; c++) j->fn(j->ctx, c * j->chunk, (c + 1) * j->chunk, j->partial + c * j->width);
}

/* Run fn over every row and leave the column sums of its `width` values in
 * sums[width] (float64), chunk partials added in chunk order. The row op
 * clamps `end` to the row count itself. */
static wanc_err reduce_rows(const char *op, row_fn fn, void *ctx, int64_t rows, int64_t dim, int64_t width,
                            double *sums)
{
    int64_t chunk = reduce_chunk(dim), nchunks = (rows + chunk - 1) / chunk;
    if (nchunks < 1) nchunks = 1;
    double *partial = calloc((size_t)(nchunks * width > 0 ? nchunks * width : 1), sizeof(double));
    if (!partial) WANC_FAIL(WANC_ENOMEM, "%s: out of memory for %lld row-chunk partial sums", op, (long long)nchunks);
    reduce_job j = {.fn = fn, .ctx = ctx, .partial = partial, .chunk = chunk, .width = width};
    wanc_parallel_for(nchunks, 1, reduce_range, &j);
    for (int64_t i = 0; i < width; i++) sums[i] = 0;
    for (int64_t c = 0; c < nchunks; c++)
        for (int64_t i = 0; i < width; i++) sums[i] += partial[c * width + i];
    free(partial);
    return NULL;
}

/* out[i] (+)= (float)sums[i] */
static void store_sums(float *out, const double *sums, int64_t n, int accumulate)
{
    if (!out) return;
    for (int64_t i = 0; i < n; i++) out[i] = accumulate ? out[i] + (float)sums[i] : (float)sums[i];
}

static wanc_err check_sizes(const char *op, int64_t rows, int64_t dim)
{
    if (rows < 0 || dim < 0)
        WANC_FAIL(WANC_EINVAL, "%s: negative size rows=%lld dim=%lld", op, (long long)rows, (long long)dim);
    return NULL;
}

/* ---- linear ----------------------------------------------------------------------------------- */

typedef struct {
    const float *dy;
    int64_t N, M;
} colsum_ctx;

static void colsum_rows(void *ctx, int64_t begin, int64_t end, double *acc)
{
    colsum_ctx *c = ctx;
    if (end > c->M) end = c->M;
    for (int64_t r = begin; r < end; r++)
        for (int64_t n = 0; n < c->N; n++) acc[n] += c->dy[r * c->N + n];
}

/* Weight rows converted per block for dx = dy·w when w is not float32. */
#define LIN_BWD_NB 256

wanc_err cpu_linear_backward(const wanc_backend *be, float *dx, float *dw, float *db, const float *dy, const float *x,
                             const wanc_tensor *w, int64_t M, int accumulate)
{
    if (!w || w->ndim < 2 || !w->data) WANC_FAIL(WANC_EINVAL, "linear_backward: weight must be a tensor of >= 2 dims");
    if (!cpu_weight_dtype_ok(w->dtype))
        WANC_FAIL(WANC_ESHAPE, "linear_backward: weight dtype %s is not a float type", wanc_dtype_name(w->dtype));
    if (!wanc_tensor_is_contiguous(w)) WANC_FAIL(WANC_EINVAL, "linear_backward: weight must be contiguous");
    if (M < 0) WANC_FAIL(WANC_EINVAL, "linear_backward: M = %lld < 0", (long long)M);
    int64_t N = w->shape[0], K = N ? wanc_tensor_numel(w) / N : 0;
    if (N <= 0 || K <= 0) WANC_FAIL(WANC_ESHAPE, "linear_backward: empty weight");
    if (K % wanc_dtype_block_elems(w->dtype))
        WANC_FAIL(WANC_ESHAPE, "linear_backward: %s weight rows of %lld values are not whole blocks",
                  wanc_dtype_name(w->dtype), (long long)K);
    if (M == 0) {
        if (!accumulate) {
            if (dw) memset(dw, 0, (size_t)(N * K) * sizeof(float));
            if (db) memset(db, 0, (size_t)N * sizeof(float));
        }
        return NULL;
    }
    if (!dy || (dw && !x)) WANC_FAIL(WANC_EINVAL, "linear_backward: NULL dy or x");
    float beta = accumulate ? 1.0f : 0.0f;
    if (dx) {
        if (w->dtype == WANC_F32 && w->scale == 0.0f) {
            TRY(cpu_gemm(be, dx, dy, w->data, M, K, N, 0, 0, 1.0f, beta, N, K, K));
        } else {
            /* dx = Σ over blocks of w's rows: dy[:, blk] · w[blk, :], in block order */
            int64_t nb = N < LIN_BWD_NB ? N : LIN_BWD_NB;
            float *blk = malloc((size_t)(nb * K) * sizeof(float));
            if (!blk) WANC_FAIL(WANC_ENOMEM, "linear_backward: out of memory for a %lld x %lld weight block",
                                (long long)nb, (long long)K);
            wanc_err err = NULL;
            for (int64_t n0 = 0; n0 < N && !err; n0 += nb) {
                int64_t nn = N - n0 < nb ? N - n0 : nb;
                cpu_weight_rows(blk, w, n0, nn, K); /* any stored dtype: bf16, fp8 (scaled), ggml blocks */
                err = cpu_gemm(be, dx, dy + n0, blk, M, K, nn, 0, 0, 1.0f, n0 ? 1.0f : beta, N, K, K);
            }
            free(blk);
            if (err) return err;
        }
    }
    if (dw) TRY(cpu_gemm(be, dw, dy, x, N, K, M, 1, 0, 1.0f, beta, N, K, K));
    if (db) {
        double *sums = malloc((size_t)N * sizeof(double));
        if (!sums) WANC_FAIL(WANC_ENOMEM, "linear_backward: out of memory for db");
        colsum_ctx c = {.dy = dy, .N = N, .M = M};
        wanc_err err = reduce_rows("linear_backward", colsum_rows, &c, M, N, N, sums);
        if (!err) store_sums(db, sums, N, accumulate);
        free(sums);
        if (err) return err;
    }
    return NULL;
}

/* ---- layer_norm / rms_norm ---------------------------------------------------------------------- */

typedef struct {
    float *dx;
    const float *dy, *x, *w;
    int64_t rows, dim;
    float eps;
    int accumulate, rms, want_cols;
} norm_ctx;

/* Per row: the forward's statistics (double), x̂, g = dy·w, then
 *   LayerNorm: dx = rstd·(g - mean(g) - x̂·mean(g·x̂))
 *   RMSNorm:   dx = rstd·(g - x̂·mean(g·x̂))
 * and the column contributions dy·x̂ (dweight) and dy (dbias). */
static void norm_rows(void *ctx, int64_t begin, int64_t end, double *acc)
{
    norm_ctx *c = ctx;
    const int64_t D = c->dim;
    if (end > c->rows) end = c->rows;
    for (int64_t r = begin; r < end; r++) {
        const float *x = c->x + r * D, *dy = c->dy + r * D;
        double mean = 0, rstd;
        if (c->rms) {
            rstd = 1.0 / sqrt(cpu_sum_f64(x, D, 0.0, 1) / (double)D + (double)c->eps);
        } else {
            mean = cpu_sum_f64(x, D, 0.0, 0) / (double)D;
            rstd = 1.0 / sqrt(cpu_sum_f64(x, D, mean, 1) / (double)D + (double)c->eps);
        }
        double sg = 0, sgx = 0;
        for (int64_t i = 0; i < D; i++) {
            double xh = (x[i] - mean) * rstd, g = (double)dy[i] * (c->w ? c->w[i] : 1.0f);
            sg += g;
            sgx += g * xh;
        }
        sg /= (double)D;
        sgx /= (double)D;
        if (c->dx) {
            float *dx = c->dx + r * D;
            for (int64_t i = 0; i < D; i++) {
                double xh = (x[i] - mean) * rstd, g = (double)dy[i] * (c->w ? c->w[i] : 1.0f);
                float v = (float)(rstd * (g - (c->rms ? 0.0 : sg) - xh * sgx));
                dx[i] = c->accumulate ? dx[i] + v : v;
            }
        }
        if (c->want_cols)
            for (int64_t i = 0; i < D; i++) {
                double xh = (x[i] - mean) * rstd;
                acc[i] += dy[i] * xh;  /* dweight */
                acc[D + i] += dy[i];   /* dbias */
            }
    }
}

static wanc_err norm_backward(const char *op, float *dx, float *dweight, float *dbias, const float *dy,
                              const float *x, const float *weight, int64_t rows, int64_t dim, float eps, int accumulate,
                              int rms)
{
    TRY(check_sizes(op, rows, dim));
    if ((dweight || dbias) && !weight && !rms)
        WANC_FAIL(WANC_EINVAL, "%s: dweight/dbias asked for a norm without affine weight", op);
    if (dweight && !weight) WANC_FAIL(WANC_EINVAL, "%s: dweight asked without a weight", op);
    if (rows > 0 && dim > 0 && (!dy || !x)) WANC_FAIL(WANC_EINVAL, "%s: NULL dy or x", op);
    int want_cols = dweight || dbias;
    norm_ctx c = {.dx = dx, .dy = dy, .x = x, .w = weight, .rows = rows, .dim = dim, .eps = eps,
                  .accumulate = accumulate, .rms = rms, .want_cols = want_cols};
    if (!want_cols) {
        /* no column sums: rows in parallel, nothing to reduce */
        TRY(reduce_rows(op, norm_rows, &c, rows, dim, 0, NULL));
        return NULL;
    }
    double *sums = malloc((size_t)(2 * dim) * sizeof(double));
    if (!sums) WANC_FAIL(WANC_ENOMEM, "%s: out of memory", op);
    wanc_err err = reduce_rows(op, norm_rows, &c, rows, dim, 2 * dim, sums);
    if (!err) {
        store_sums(dweight, sums, dim, accumulate);
        store_sums(dbias, sums + dim, dim, accumulate);
    }
    free(sums);
    return err;
}

wanc_err cpu_layer_norm_backward(const wanc_backend *be, float *dx, float *dweight, float *dbias, const float *dy,
                                 const float *x, const float *weight, int64_t rows, int64_t dim, float eps,
                                 int accumulate)
{
    (void)be;
    return norm_backward("layer_norm_backward", dx, dweight, dbias, dy, x, weight, rows, dim, eps, accumulate, 0);
}

wanc_err cpu_rms_norm_backward(const wanc_backend *be, float *dx, float *dweight, const float *dy, const float *x,
                               const float *weight, int64_t rows, int64_t dim, float eps, int accumulate)
{
    (void)be;
    return norm_backward("rms_norm_backward", dx, dweight, NULL, dy, x, weight, rows, dim, eps, accumulate, 1);
}

/* ---- modulate / mul_rows ------------------------------------------------------------------------ */

typedef struct {
    float *dx;
    const float *dy, *x, *w; /* w: the per-column factor (1 + scale, or the gate) */
    int64_t rows, dim;
    int accumulate, plus_one, want_cols;
} colmul_ctx;

/* dx = dy·f[d] with f = w (or 1 + w); columns: dy·x (dscale / dw) and dy (dshift). */
static void colmul_rows(void *ctx, int64_t begin, int64_t end, double *acc)
{
    colmul_ctx *c = ctx;
    const int64_t D = c->dim;
    if (end > c->rows) end = c->rows;
    for (int64_t r = begin; r < end; r++) {
        const float *dy = c->dy + r * D, *x = c->x ? c->x + r * D : NULL;
        if (c->dx) {
            float *dx = c->dx + r * D;
            for (int64_t i = 0; i < D; i++) {
                float f = c->plus_one ? 1.0f + c->w[i] : c->w[i];
                dx[i] = c->accumulate ? dx[i] + dy[i] * f : dy[i] * f;
            }
        }
        if (c->want_cols)
            for (int64_t i = 0; i < D; i++) {
                if (x) acc[i] += (double)dy[i] * x[i];
                acc[D + i] += dy[i];
            }
    }
}

static wanc_err colmul_backward(const char *op, float *dx, float *dw, float *dshift, const float *dy, const float *x,
                                const float *w, int64_t rows, int64_t dim, int accumulate, int plus_one)
{
    TRY(check_sizes(op, rows, dim));
    if (rows > 0 && dim > 0 && (!dy || !w || (dw && !x))) WANC_FAIL(WANC_EINVAL, "%s: NULL dy, x or factor", op);
    int want_cols = dw || dshift;
    colmul_ctx c = {.dx = dx, .dy = dy, .x = dw ? x : NULL, .w = w, .rows = rows, .dim = dim,
                    .accumulate = accumulate, .plus_one = plus_one, .want_cols = want_cols};
    if (!want_cols) return reduce_rows(op, colmul_rows, &c, rows, dim, 0, NULL);
    double *sums = malloc((size_t)(2 * dim) * sizeof(double));
    if (!sums) WANC_FAIL(WANC_ENOMEM, "%s: out of memory", op);
    wanc_err err = reduce_rows(op, colmul_rows, &c, rows, dim, 2 * dim, sums);
    if (!err) {
        store_sums(dw, sums, dim, accumulate);
        store_sums(dshift, sums + dim, dim, accumulate);
    }
    free(sums);
    return err;
}

wanc_err cpu_modulate_backward(const wanc_backend *be, float *dx, float *dshift, float *dscale, const float *dy,
                               const float *x, const float *scale, int64_t rows, int64_t dim, int accumulate)
{
    (void)be;
    return colmul_backward("modulate_backward", dx, dscale, dshift, dy, x, scale, rows, dim, accumulate, 1);
}

wanc_err cpu_mul_rows_backward(const wanc_backend *be, float *dx, float *dw, const float *dy, const float *x,
                               const float *w, int64_t rows, int64_t dim, int accumulate)
{
    (void)be;
    return colmul_backward("mul_rows_backward", dx, dw, NULL, dy, x, w, rows, dim, accumulate, 0);
}

/* ---- GELU (tanh, erf) and SiLU ------------------------------------------------------------------- */

typedef enum { ACT_GELU_TANH, ACT_SILU, ACT_GELU_ERF } act_kind;

typedef struct {
    float *dx;
    const float *dy, *x;
    int accumulate;
    act_kind kind;
} act_job;

static void act_range(void *ctx, int64_t begin, int64_t end)
{
    act_job *j = ctx;
    for (int64_t i = begin; i < end; i++) {
        float x = j->x[i], d;
        if (j->kind == ACT_SILU) {
            /* silu' = σ(x)·(1 + x·(1 - σ(x))) */
            float s = 1.0f / (1.0f + cpu_expf_scalar(-x));
            d = s * (1.0f + x * (1.0f - s));
        } else if (j->kind == ACT_GELU_ERF) {
            /* y = ½x(1 + erf(x/√2)): y' = ½(1 + erf(x/√2)) + x·φ(x), φ the normal density */
            d = 0.5f * (1.0f + cpu_erff_scalar(x * (float)M_SQRT1_2)) +
                x * (float)(0.5 * M_2_SQRTPI * M_SQRT1_2) * cpu_expf_scalar(-0.5f * x * x);
        } else {
            /* y = ½x(1 + tanh u), u = β(x + κx³): y' = ½(1 + t) + ½x(1 - t²)·β(1 + 3κx²) */
            float t = cpu_tanhf_scalar(GELU_BETA * (x + GELU_KAPPA * x * x * x));
            d = 0.5f * (1.0f + t) + 0.5f * x * (1.0f - t * t) * GELU_BETA * (1.0f + 3.0f * GELU_KAPPA * x * x);
        }
        float v = j->dy[i] * d;
        j->dx[i] = j->accumulate ? j->dx[i] + v : v;
    }
}

static wanc_err act_backward(const char *op, float *dx, const float *dy, const float *x, int64_t n, int accumulate,
                             act_kind kind)
{
    if (n < 0) WANC_FAIL(WANC_EINVAL, "%s: n = %lld < 0", op, (long long)n);
    if (n == 0) return NULL;
    if (!dx || !dy || !x) WANC_FAIL(WANC_EINVAL, "%s: NULL buffer", op);
    act_job j = {.dx = dx, .dy = dy, .x = x, .accumulate = accumulate, .kind = kind};
    wanc_parallel_for(n, 16384, act_range, &j);
    return NULL;
}

wanc_err cpu_gelu_tanh_backward(const wanc_backend *be, float *dx, const float *dy, const float *x, int64_t n,
                                int accumulate)
{
    (void)be;
    return act_backward("gelu_tanh_backward", dx, dy, x, n, accumulate, ACT_GELU_TANH);
}

wanc_err cpu_silu_backward(const wanc_backend *be, float *dx, const float *dy, const float *x, int64_t n,
                           int accumulate)
{
    (void)be;
    return act_backward("silu_backward", dx, dy, x, n, accumulate, ACT_SILU);
}

wanc_err cpu_gelu_erf_backward(const wanc_backend *be, float *dx, const float *dy, const float *x, int64_t n,
                               int accumulate)
{
    (void)be;
    return act_backward("gelu_erf_backward", dx, dy, x, n, accumulate, ACT_GELU_ERF);
}
