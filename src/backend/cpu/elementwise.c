/* Elementwise ops and the row-broadcast modulation helpers.
 *
 * Each output element depends on its own inputs only, so any split over
 * the pool gives the same bits. The formulas follow PyTorch's float32
 * kernels term by term. All are safe in place. */
#include <math.h>
#include <string.h>

#include "backend/cpu/cpu_internal.h"
#include "backend/cpu/cpu_simd.h"
#include "core/threads.h"

#define ELEMS_PER_TASK 16384

typedef enum { OP_GELU_TANH, OP_GELU_ERF, OP_SILU, OP_ADD, OP_MUL, OP_SCALE, OP_ROUND_BF16, OP_RELU } ew_op;

typedef struct {
    ew_op op;
    float *out;
    const float *a, *b;
    float alpha, beta;
} ew_job;


/* The transcendental ops, term by term as torch's float kernels:
 *   gelu_tanh = 0.5·x·(1 + tanh(√(2/π)·(x + 0.044715·x³)))
 *   gelu_erf  = x·0.5·(1 + erf(x·(1/√2)))
 *   silu      = x / (1 + exp(-x))
 * With AVX2 every element goes through the vector code (the tail via a
 * padded copy), so an element's value never depends on where a range ends. */
static float transcendental_scalar(ew_op op, float x)
{
    switch (op) {
    case OP_GELU_TANH: {
        float x3 = x * x * x;
        return 0.5f * x * (1.0f + cpu_tanhf_scalar(GELU_BETA * (x + GELU_KAPPA * x3)));
    }
    case OP_GELU_ERF:
        return x * 0.5f * (1.0f + cpu_erff_scalar(x * (float)M_SQRT1_2));
    default:
        return x / (1.0f + cpu_expf_scalar(-x));
    }
}

#ifdef CPU_HAVE_AVX2
static __m256 transcendental_avx2(ew_op op, __m256 x)
{
    const __m256 one = _mm256_set1_ps(1.0f), half = _mm256_set1_ps(0.5f);
    switch (op) {
    case OP_GELU_TANH: {
        __m256 x3 = _mm256_mul_ps(_mm256_mul_ps(x, x), x);
        __m256 inner = _mm256_mul_ps(_mm256_set1_ps(GELU_BETA),
                                     _mm256_add_ps(x, _mm256_mul_ps(_mm256_set1_ps(GELU_KAPPA), x3)));
        return _mm256_mul_ps(_mm256_mul_ps(half, x), _mm256_add_ps(one, cpu_tanhf_avx2(inner)));
    }
    case OP_GELU_ERF: {
        __m256 e = cpu_erff_avx2(_mm256_mul_ps(x, _mm256_set1_ps((float)M_SQRT1_2)));
        return _mm256_mul_ps(_mm256_mul_ps(x, half), _mm256_add_ps(one, e));
    }
    default:
        return _mm256_div_ps(x, _mm256_add_ps(one, cpu_expf_avx2(_mm256_sub_ps(_mm256_setzero_ps(), x))));
    }
}
#endif

static void transcendental(ew_op op, float *o, const float *a, int64_t begin, int64_t end)
{
    int64_t i = begin;
#ifdef CPU_HAVE_AVX2
    for (; i + 8 <= end; i += 8) _mm256_storeu_ps(o + i, transcendental_avx2(op, _mm256_loadu_ps(a + i)));
    if (i < end) {
        float tmp[8] = {0};
        memcpy(tmp, a + i, sizeof(float) * (size_t)(end - i));
        _mm256_storeu_ps(tmp, transcendental_avx2(op, _mm256_loadu_ps(tmp)));
        memcpy(o + i, tmp, sizeof(float) * (size_t)(end - i));
        i = end;
    }
#endif
    for (; i < end; i++) o[i] = transcendental_scalar(op, a[i]);
}

void cpu_silu_span(float *out, const float *x, int64_t n) { transcendental(OP_SILU, out, x, 0, n); }

static void ew_range(void *ctx, int64_t begin, int64_t end)
{
    ew_job *j = ctx;
    float *o = j->out;
    const float *a = j->a, *b = j->b;
    switch (j->op) {
    case OP_GELU_TANH:
    case OP_GELU_ERF:
    case OP_SILU:
        transcendental(j->op, o, a, begin, end);
        break;
    case OP_ADD:
        for (int64_t i = begin; i < end; i++) o[i] = a[i] + b[i];
        break;
    case OP_MUL:
        for (int64_t i = begin; i < end; i++) o[i] = a[i] * b[i];
        break;
    case OP_SCALE:
        for (int64_t i = begin; i < end; i++) o[i] = a[i] * j->alpha + j->beta;
        break;
    case OP_ROUND_BF16:
        for (int64_t i = begin; i < end; i++) o[i] = wanc_round_bf16(o[i]);
        break;
    case OP_RELU:
        /* !(x <= 0) keeps NaN (as torch's relu) and maps -0 to +0; the
         * compare-and-select vectorises like the loops above. */
        for (int64_t i = begin; i < end; i++) o[i] = !(a[i] <= 0.0f) ? a[i] : 0.0f;
        break;
    }
}

static wanc_err run_ew(const char *name, ew_job *j, int64_t n)
{
    if (n < 0) WANC_FAIL(WANC_EINVAL, "%s: n = %lld < 0", name, (long long)n);
    if (n == 0) return NULL;
    if (!j->out || !j->a || ((j->op == OP_ADD || j->op == OP_MUL) && !j->b))
        WANC_FAIL(WANC_EINVAL, "%s: NULL buffer", name);
    wanc_parallel_for(n, ELEMS_PER_TASK, ew_range, j);
    return NULL;
}

/* out[n] = gelu_tanh(x[n]) (in place ok) */
wanc_err cpu_gelu_tanh(const wanc_backend *be, float *out, const float *x, int64_t n)
{
    (void)be;
    return run_ew("gelu_tanh", &(ew_job){.op = OP_GELU_TANH, .out = out, .a = x}, n);
}

/* out[n] = gelu_erf(x[n]) (in place ok) */
wanc_err cpu_gelu_erf(const wanc_backend *be, float *out, const float *x, int64_t n)
{
    (void)be;
    return run_ew("gelu_erf", &(ew_job){.op = OP_GELU_ERF, .out = out, .a = x}, n);
}

/* out[n] = silu(x[n]) (in place ok) */
wanc_err cpu_silu(const wanc_backend *be, float *out, const float *x, int64_t n)
{
    (void)be;
    return run_ew("silu", &(ew_job){.op = OP_SILU, .out = out, .a = x}, n);
}

/* out[n] = a[n] + b[n] (in place ok) */
wanc_err cpu_add(const wanc_backend *be, float *out, const float *a, const float *b, int64_t n)
{
    (void)be;
    return run_ew("add", &(ew_job){.op = OP_ADD, .out = out, .a = a, .b = b}, n);
}

/* out[n] = a[n] · b[n] (in place ok) */
wanc_err cpu_mul(const wanc_backend *be, float *out, const float *a, const float *b, int64_t n)
{
    (void)be;
    return run_ew("mul", &(ew_job){.op = OP_MUL, .out = out, .a = a, .b = b}, n);
}

/* out[n] = x[n] · alpha + beta, one rounding per operation (in place ok) */
wanc_err cpu_scale(const wanc_backend *be, float *out, const float *x, float alpha, float beta, int64_t n)
{
    (void)be;
    return run_ew("scale", &(ew_job){.op = OP_SCALE, .out = out, .a = x, .alpha = alpha, .beta = beta}, n);
}

/* x[n] ← nearest bf16 value (ties to even), kept as float32 */
wanc_err cpu_round_bf16(const wanc_backend *be, float *x, int64_t n)
{
    (void)be;
    return run_ew("round_bf16", &(ew_job){.op = OP_ROUND_BF16, .out = x, .a = x}, n);
}

/* out[n] = max(x[n], 0), NaN kept (in place ok) */
wanc_err cpu_relu(const wanc_backend *be, float *out, const float *x, int64_t n)
{
    (void)be;
    return run_ew("relu", &(ew_job){.op = OP_RELU, .out = out, .a = x}, n);
}

/* ---- linear epilogues ------------------------------------------------------------- */

/* ep on the output block y[row0.., col0..] (rows x cols, row stride ldy =
 * the linear's N, which the residual shares): each element goes through the
 * formulas of the unfused ops above and below (gelu_tanh's vector code,
 * gated_add's sum, round_bf16), so the bits are theirs. */
void cpu_epilogue_block(const wanc_epilogue *ep, float *y, int64_t ldy, int64_t row0, int64_t rows, int64_t col0,
                        int64_t cols)
{
    const int rb = ep->round_bf16;
    for (int64_t r = 0; r < rows; r++) {
        float *yr = y + r * ldy;
        if (rb)
            for (int64_t c = 0; c < cols; c++) yr[c] = wanc_round_bf16(yr[c]);
        if (ep->kind == WANC_EPILOGUE_GELU_TANH) {
            transcendental(OP_GELU_TANH, yr, yr, 0, cols);
            if (rb)
                for (int64_t c = 0; c < cols; c++) yr[c] = wanc_round_bf16(yr[c]);
            continue;
        }
        int k = 0;
        while (k + 1 < ep->nranges && row0 + r >= ep->range_end[k]) k++;
        float *res = ep->residual + (row0 + r) * ldy + col0;
        const float *g = ep->gate ? ep->gate + k * ep->gate_stride + col0 : NULL;
        if (!rb && g)
            for (int64_t c = 0; c < cols; c++) res[c] = res[c] + g[c] * yr[c];
        else if (!rb)
            for (int64_t c = 0; c < cols; c++) res[c] = res[c] + yr[c];
        else if (g) /* torch's bf16: the product rounded, then the sum */
            for (int64_t c = 0; c < cols; c++) res[c] = wanc_round_bf16(res[c] + wanc_round_bf16(yr[c] * g[c]));
        else
            for (int64_t c = 0; c < cols; c++) res[c] = wanc_round_bf16(res[c] + yr[c]);
    }
}

/* ---- row broadcasts ------------------------------------------------------------- */

typedef struct {
    float *out;
    const float *x, *shift, *scale;
    int64_t dim;
} rb_job;

static int64_t rows_per_task(int64_t dim)
{
    int64_t r = ELEMS_PER_TASK / (dim > 0 ? dim : 1);
    return r < 1 ? 1 : r;
}

static void modulate_range(void *ctx, int64_t begin, int64_t end)
{
    rb_job *j = ctx;
    for (int64_t r = begin; r < end; r++) {
        const float *x = j->x + r * j->dim;
        float *o = j->out + r * j->dim;
        for (int64_t d = 0; d < j->dim; d++) o[d] = x[d] * (1.0f + j->scale[d]) + j->shift[d];
    }
}

/* out[r,d] = x[r,d] · (1 + scale[d]) + shift[d]; x/out [rows, dim]. */
wanc_err cpu_modulate(const wanc_backend *be, float *out, const float *x, const float *shift, const float *scale,
                      int64_t rows, int64_t dim)
{
    (void)be;
    if (rows < 0 || dim < 0) WANC_FAIL(WANC_EINVAL, "modulate: negative size");
    if (rows == 0 || dim == 0) return NULL;
    if (!out || !x || !shift || !scale) WANC_FAIL(WANC_EINVAL, "modulate: NULL buffer");
    rb_job j = {.out = out, .x = x, .shift = shift, .scale = scale, .dim = dim};
    wanc_parallel_for(rows, rows_per_task(dim), modulate_range, &j);
    return NULL;
}

static void gated_add_range(void *ctx, int64_t begin, int64_t end)
{
    rb_job *j = ctx; /* out = x (accumulated), x = y, scale = gate */
    for (int64_t r = begin; r < end; r++) {
        float *o = j->out + r * j->dim;
        const float *y = j->x + r * j->dim;
        if (j->scale)
            for (int64_t d = 0; d < j->dim; d++) o[d] = o[d] + j->scale[d] * y[d];
        else
            for (int64_t d = 0; d < j->dim; d++) o[d] = o[d] + y[d];
    }
}

/* x[r,d] += gate[d] · y[r,d] (gate NULL = 1); x/y [rows, dim]. */
wanc_err cpu_gated_add(const wanc_backend *be, float *x, const float *y, const float *gate, int64_t rows,
                       int64_t dim)
{
    (void)be;
    if (rows < 0 || dim < 0) WANC_FAIL(WANC_EINVAL, "gated_add: negative size");
    if (rows == 0 || dim == 0) return NULL;
    if (!x || !y) WANC_FAIL(WANC_EINVAL, "gated_add: NULL buffer");
    rb_job j = {.out = x, .x = y, .scale = gate, .dim = dim};
    wanc_parallel_for(rows, rows_per_task(dim), gated_add_range, &j);
    return NULL;
}

static void mul_rows_range(void *ctx, int64_t begin, int64_t end)
{
    rb_job *j = ctx; /* scale = w */
    for (int64_t r = begin; r < end; r++) {
        const float *x = j->x + r * j->dim;
        float *o = j->out + r * j->dim;
        for (int64_t d = 0; d < j->dim; d++) o[d] = x[d] * j->scale[d];
    }
}

/* out[r,d] = x[r,d] · w[d]; x/out [rows, dim], w [dim] (in place ok). */
wanc_err cpu_mul_rows(const wanc_backend *be, float *out, const float *x, const float *w, int64_t rows,
                      int64_t dim)
{
    (void)be;
    if (rows < 0 || dim < 0)
        WANC_FAIL(WANC_EINVAL, "mul_rows: negative size rows = %lld, dim = %lld", (long long)rows, (long long)dim);
    if (rows == 0 || dim == 0) return NULL;
    if (!out || !x || !w) WANC_FAIL(WANC_EINVAL, "mul_rows: NULL buffer");
    rb_job j = {.out = out, .x = x, .scale = w, .dim = dim};
    wanc_parallel_for(rows, rows_per_task(dim), mul_rows_range, &j);
    return NULL;
}
