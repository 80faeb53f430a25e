/* Row-wise ops over the last dim: layer_norm, rms_norm, softmax.
 *
 * Each row is reduced by one thread in index order (statistics in double),
 * rows are spread over the pool; so the bits never depend on the thread
 * count. All are safe in place (out == x). */
#include <float.h>
#include <math.h>

#include "backend/cpu/cpu_internal.h"
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
        double s = 0;
        for (int64_t i = 0; i < D; i++) s += x[i];
        double mean = s / (double)D, v = 0;
        for (int64_t i = 0; i < D; i++) {
            double d = x[i] - mean;
            v += d * d;
        }
        float m = (float)mean, rstd = (float)(1.0 / sqrt(v / (double)D + (double)j->eps));
        for (int64_t i = 0; i < D; i++) {
            float y = (x[i] - m) * rstd;
            if (j->weight) y *= j->weight[i];
            if (j->bias) y += j->bias[i];
            o[i] = y;
        }
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
        double s = 0;
        for (int64_t i = 0; i < D; i++) s += (double)x[i] * x[i];
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
        float m = -INFINITY;
        for (int64_t i = 0; i < D; i++) m = x[i] > m ? x[i] : m;
        double s = 0;
        for (int64_t i = 0; i < D; i++) {
            float e = expf(x[i] - m);
            o[i] = e;
            s += e;
        }
        float inv = (float)(1.0 / s);
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
