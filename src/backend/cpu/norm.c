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

static void layer_norm_range(void *ctx, int64_t begin, int64_t end)
{
    row_job *j = ctx;
    int64_t D = j->dim;
    for (int64_t r = begin; r < end; r++) {
        const float *x = j->x + r * D;
        float *o = j->out + r * D;
        double mean = cpu_sum_f64(x, D, 0.0, 0) / (double)D;
        double v = cpu_sum_f64(x, D, mean, 1);
        float m = (float)mean, rstd = (float)(1.0 / sqrt(v / (double)D + (double)j->eps));
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
