/* Row-wise ops over the last dim: layer_norm, rms_norm, softmax.
 *
 * Each row is reduced by one thread in index order (statistics in double),
 * rows are spread over the pool; so the bits never depend on the thread
 * count. All are safe in place (out == x). */
#include <float.h>
#include <math.h>
#include <string.h>

#include "backend/cpu/cpu_internal.h"
#include "backend/cpu/cpu_simd.h"
#include "core/threads.h"

typedef struct {
    float *out;
    const float *x, *weight, *bias;
    int64_t dim;
    float eps;
} row_job;

static int64_t rows_per_task(int64_t dim)
{
    int64_t r = 16384 / (dim > 0 ? dim : 1);
    return r < 1 ? 1 : r;
}

static wanc_err check_rows(const char *op, const float *out, const float *x, int64_t rows, int64_t dim)
{
    if (rows < 0 || dim < 0)
        WANC_FAIL(WANC_EINVAL, "%s: negative size rows=%lld dim=%lld", op, (long long)rows, (long long)dim);
    if (rows > 0 && dim > 0 && (!out || !x)) WANC_FAIL(WANC_EINVAL, "%s: NULL input or output", op);
    return NULL;
}

/* A row's mean and 1/sqrt(var + eps) (biased variance), summed in double. */
static void layer_norm_stats(const float *x, int64_t D, float eps, float *m, float *rstd)
{
    double mean = cpu_sum_f64(x, D, 0.0, 0) / (double)D;
    double v = cpu_sum_f64(x, D, mean, 1);
    *m = (float)mean;
    *rstd = (float)(1.0 / sqrt(v / (double)D + (double)eps));
}

static void layer_norm_range(void *ctx, int64_t begin, int64_t end)
{
    row_job *j = ctx;
    int64_t D = j->dim;
    for (int64_t r = begin; r < end; r++) {
        const float *x = j->x + r * D;
        float *o = j->out + r * D;
        float m, rstd;
        layer_norm_stats(x, D, j->eps, &m, &rstd);
        const float *w = j->weight, *b = j->bias;
        if (w && b)
            for (int64_t i = 0; i < D; i++) o[i] = ((x[i] - m) * rstd) * w[i] + b[i];
        else if (w)
            for (int64_t i = 0; i < D; i++) o[i] = ((x[i] - m) * rstd) * w[i];
        else if (b)
            for (int64_t i = 0; i < D; i++) o[i] = ((x[i] - m) * rstd) + b[i];
        else
            for (int64_t i = 0; i < D; i++) o[i] = (x[i] - m) * rstd;
    }
}

/* out[rows,dim] = (x - mean) / sqrt(var + eps) · weight + bias (biased var; weight/bias [dim] or NULL). */
wanc_err cpu_layer_norm(const wanc_backend *be, float *out, const float *x, const float *weight,
                        const float *bias, int64_t rows, int64_t dim, float eps)
{
    (void)be;
    TRY(check_rows("layer_norm", out, x, rows, dim));
    if (rows == 0 || dim == 0) return NULL;
    row_job j = {.out = out, .x = x, .weight = weight, .bias = bias, .dim = dim, .eps = eps};
    wanc_parallel_for(rows, rows_per_task(dim), layer_norm_range, &j);
    return NULL;
}

typedef struct {
    float *out;
    const float *x, *shift, *scale;
    int64_t dim;
    float eps;
    int round_bf16;
} norm_mod_job;

/* layer_norm_range's statistics and normalised value, then modulate's
 * x·(1 + scale) + shift on it while the row is in cache (bf16: each result
 * rounded as nn_modulate_forward's separate ops round it). */
static void layer_norm_modulate_range(void *ctx, int64_t begin, int64_t end)
{
    norm_mod_job *j = ctx;
    const int64_t D = j->dim;
    for (int64_t r = begin; r < end; r++) {
        const float *x = j->x + r * D;
        float *o = j->out + r * D;
        float m, rstd;
        layer_norm_stats(x, D, j->eps, &m, &rstd);
        if (!j->round_bf16) {
            for (int64_t i = 0; i < D; i++) {
                float n = (x[i] - m) * rstd;
                o[i] = n * (1.0f + j->scale[i]) + j->shift[i];
            }
            continue;
        }
        for (int64_t i = 0; i < D; i++) {
            float n = wanc_round_bf16((x[i] - m) * rstd), s1 = wanc_round_bf16(1.0f + j->scale[i]);
            o[i] = wanc_round_bf16(wanc_round_bf16(n * s1) + j->shift[i]);
        }
    }
}

/* out[rows,dim] = LN(x)·(1 + scale) + shift (LN without affine), one pass per row. */
wanc_err cpu_layer_norm_modulate(const wanc_backend *be, float *out, const float *x, const float *shift,
                                 const float *scale, int64_t rows, int64_t dim, float eps, int round_bf16)
{
    (void)be;
    TRY(check_rows("layer_norm_modulate", out, x, rows, dim));
    if (rows == 0 || dim == 0) return NULL;
    if (!shift || !scale) WANC_FAIL(WANC_EINVAL, "layer_norm_modulate: NULL shift or scale");
    norm_mod_job j = {.out = out, .x = x, .shift = shift, .scale = scale, .dim = dim, .eps = eps,
                      .round_bf16 = round_bf16};
    wanc_parallel_for(rows, rows_per_task(dim), layer_norm_modulate_range, &j);
    return NULL;
}

static void rms_norm_range(void *ctx, int64_t begin, int64_t end)
{
    row_job *j = ctx;
    int64_t D = j->dim;
    for (int64_t r = begin; r < end; r++) {
        const float *x = j->x + r * D;
        float *o = j->out + r * D;
        double s = cpu_sum_f64(x, D, 0.0, 1);
        float rs = (float)(1.0 / sqrt(s / (double)D + (double)j->eps));
        if (j->weight)
            for (int64_t i = 0; i < D; i++) o[i] = (x[i] * rs) * j->weight[i];
        else
            for (int64_t i = 0; i < D; i++) o[i] = x[i] * rs;
    }
}

/* out[rows,dim] = x / sqrt(mean(x²) + eps) · weight (weight [dim] or NULL). */
wanc_err cpu_rms_norm(const wanc_backend *be, float *out, const float *x, const float *weight, int64_t rows,
                      int64_t dim, float eps)
{
    (void)be;
    TRY(check_rows("rms_norm", out, x, rows, dim));
    if (rows == 0 || dim == 0) return NULL;
    row_job j = {.out = out, .x = x, .weight = weight, .dim = dim, .eps = eps};
    wanc_parallel_for(rows, rows_per_task(dim), rms_norm_range, &j);
    return NULL;
}

static void softmax_range(void *ctx, int64_t begin, int64_t end)
{
    row_job *j = ctx;
    int64_t D = j->dim;
    for (int64_t r = begin; r < end; r++) {
        const float *x = j->x + r * D;
        float *o = j->out + r * D;
        float m = cpu_max(x, D, -INFINITY);
        if (o != x) memcpy(o, x, sizeof(float) * (size_t)D);
        float inv = 1.0f / cpu_exp_sub_sum(o, D, m);
        for (int64_t i = 0; i < D; i++) o[i] *= inv;
    }
}

/* out[rows,dim] = softmax(x) over the last dim. */
wanc_err cpu_softmax(const wanc_backend *be, float *out, const float *x, int64_t rows, int64_t dim)
{
    (void)be;
    TRY(check_rows("softmax", out, x, rows, dim));
    if (rows == 0 || dim == 0) return NULL;
    row_job j = {.out = out, .x = x, .dim = dim};
    wanc_parallel_for(rows, rows_per_task(dim), softmax_range, &j);
    return NULL;
}

/* ---- channel norm over channel-first features ------------------------------------- */

typedef struct {
    float *out;
    const float *x, *gamma;
    int64_t C, P;
    float eps, scale;
    int silu;
} chan_job;

#define CHAN_SPAN 256 /* positions reduced together: one row segment per channel stays in L1 */

/* ss[i] += x[i]² in float64. A float's square is exact in double, so the
 * vector fma and the scalar tail give the same bits as plain mul + add. */
static void sumsq_f64(double *ss, const float *x, int64_t n)
{
    int64_t i = 0;
#ifdef CPU_HAVE_AVX2
    for (; i + 4 <= n; i += 4) {
        __m256d v = _mm256_cvtps_pd(_mm_loadu_ps(x + i));
        _mm256_storeu_pd(ss + i, _mm256_fmadd_pd(v, v, _mm256_loadu_pd(ss + i)));
    }
#endif
    for (; i < n; i++) ss[i] += (double)x[i] * x[i];
}

/* y[i] = ((x[i] / nrm[i]) · scale) · g, one rounding per operation in either path. */
static void chan_scale(float *y, const float *x, const float *nrm, float scale, float g, int64_t n)
{
    int64_t i = 0;
#ifdef CPU_HAVE_AVX2
    const __m256 vs = _mm256_set1_ps(scale), vg = _mm256_set1_ps(g);
    for (; i + 8 <= n; i += 8) {
        __m256 q = _mm256_div_ps(_mm256_loadu_ps(x + i), _mm256_loadu_ps(nrm + i));
        _mm256_storeu_ps(y + i, _mm256_mul_ps(_mm256_mul_ps(q, vs), vg));
    }
#endif
    for (; i < n; i++) y[i] = ((x[i] / nrm[i]) * scale) * g;
}

static void channel_rms_norm_range(void *ctx, int64_t begin, int64_t end)
{
    const chan_job *j = ctx;
    double ss[CHAN_SPAN];
    float nrm[CHAN_SPAN];
    for (int64_t p0 = begin; p0 < end; p0 += CHAN_SPAN) {
        int64_t n = end - p0 < CHAN_SPAN ? end - p0 : CHAN_SPAN;
        memset(ss, 0, sizeof(double) * (size_t)n);
        for (int64_t c = 0; c < j->C; c++) sumsq_f64(ss, j->x + c * j->P + p0, n);
        for (int64_t i = 0; i < n; i++) {
            float v = (float)sqrt(ss[i]);
            nrm[i] = v > j->eps ? v : j->eps;
        }
        for (int64_t c = 0; c < j->C; c++) {
            float *y = j->out + c * j->P + p0;
            chan_scale(y, j->x + c * j->P + p0, nrm, j->scale, j->gamma ? j->gamma[c] : 1.0f, n);
            if (j->silu) cpu_silu_span(y, y, n);
        }
    }
}

/* out[C, P] = x / max(‖x[:, p]‖₂, eps) · √C · gamma[c] (then SiLU when silu != 0); in place ok.
 * Positions are split over the pool; each position is reduced over C in
 * channel order by one thread, so the bits never depend on the thread count. */
wanc_err cpu_channel_rms_norm(const wanc_backend *be, float *out, const float *x, const float *gamma, int64_t C,
                              int64_t P, float eps, int silu)
{
    (void)be;
    if (C < 0 || P < 0)
        WANC_FAIL(WANC_EINVAL, "channel_rms_norm: negative size C=%lld P=%lld", (long long)C, (long long)P);
    if (C == 0 || P == 0) return NULL;
    if (!out || !x) WANC_FAIL(WANC_EINVAL, "channel_rms_norm: NULL input or output");
    chan_job j = {.out = out, .x = x, .gamma = gamma, .C = C, .P = P, .eps = eps,
                  .scale = (float)sqrt((double)C), .silu = silu};
    /* about 64K elements per task, in whole spans */
    int64_t chunk = (65536 / C + CHAN_SPAN - 1) / CHAN_SPAN * CHAN_SPAN;
    if (chunk < CHAN_SPAN) chunk = CHAN_SPAN;
    wanc_parallel_for(P, chunk, channel_rms_norm_range, &j);
    return NULL;
}
