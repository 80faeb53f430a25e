#include "core/tensor.h"

#include <math.h>
#include "core/quant.h"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const struct {
    const char *name;
    size_t size;
    bool is_float;
    int block;          /* elements per block, for the block-quantized types */
    size_t block_bytes;
} dtype_info[WANC_DTYPE_COUNT] = {
    [WANC_F64] = {"F64", 8, true},         [WANC_F32] = {"F32", 4, true},
    [WANC_BF16] = {"BF16", 2, true},       [WANC_F16] = {"F16", 2, true},
    [WANC_F8_E4M3] = {"F8_E4M3", 1, true}, [WANC_F8_E5M2] = {"F8_E5M2", 1, true},
    [WANC_I64] = {"I64", 8, false},        [WANC_I32] = {"I32", 4, false},
    [WANC_U8] = {"U8", 1, false},          [WANC_BOOL] = {"BOOL", 1, false},
    [WANC_Q4_0] = {"Q4_0", 0, true, 32, 18},   [WANC_Q4_1] = {"Q4_1", 0, true, 32, 20},
    [WANC_Q5_0] = {"Q5_0", 0, true, 32, 22},   [WANC_Q5_1] = {"Q5_1", 0, true, 32, 24},
    [WANC_Q8_0] = {"Q8_0", 0, true, 32, 34},   [WANC_Q2_K] = {"Q2_K", 0, true, 256, 84},
    [WANC_Q3_K] = {"Q3_K", 0, true, 256, 110}, [WANC_Q4_K] = {"Q4_K", 0, true, 256, 144},
    [WANC_Q5_K] = {"Q5_K", 0, true, 256, 176}, [WANC_Q6_K] = {"Q6_K", 0, true, 256, 210},
};

size_t wanc_dtype_size(wanc_dtype dt) { return dt < WANC_DTYPE_COUNT ? dtype_info[dt].size : 0; }
bool wanc_dtype_is_float(wanc_dtype dt) { return dt < WANC_DTYPE_COUNT && dtype_info[dt].is_float; }
const char *wanc_dtype_name(wanc_dtype dt) { return dt < WANC_DTYPE_COUNT ? dtype_info[dt].name : "?"; }

int64_t wanc_dtype_block_elems(wanc_dtype dt)
{
    if (dt >= WANC_DTYPE_COUNT) return 0;
    return dtype_info[dt].block ? dtype_info[dt].block : 1;
}

size_t wanc_dtype_block_bytes(wanc_dtype dt)
{
    if (dt >= WANC_DTYPE_COUNT) return 0;
    return dtype_info[dt].block ? dtype_info[dt].block_bytes : dtype_info[dt].size;
}

size_t wanc_dtype_row_bytes(wanc_dtype dt, int64_t n)
{
    int64_t be = wanc_dtype_block_elems(dt);
    if (be <= 0 || n < 0) return 0;
    return (size_t)((n + be - 1) / be) * wanc_dtype_block_bytes(dt);
}

bool wanc_dtype_parse(const char *name, wanc_dtype *out)
{
    for (int i = 0; i < WANC_DTYPE_COUNT; i++)
        if (!dtype_info[i].block && strcmp(name, dtype_info[i].name) == 0) {
            *out = (wanc_dtype)i;
            return true;
        }
    return false;
}

int64_t wanc_numel(int ndim, const int64_t *shape)
{
    /* A zero dim makes the count 0 whatever the others are: check first, so a
     * file's huge dims beside a zero one never overflow the product. Loaders
     * bound the product of nonzero dims; past INT64_MAX it saturates. */
    for (int i = 0; i < ndim; i++)
        if (shape[i] == 0) return 0;
    int64_t n = 1;
    for (int i = 0; i < ndim; i++)
        if (__builtin_mul_overflow(n, shape[i], &n)) return INT64_MAX;
    return n;
}

int64_t wanc_tensor_numel(const wanc_tensor *t) { return wanc_numel(t->ndim, t->shape); }
size_t wanc_tensor_nbytes(const wanc_tensor *t) { return wanc_dtype_row_bytes(t->dtype, wanc_tensor_numel(t)); }

/* a·b, INT64_MAX when it does not fit: only an empty tensor's dims can get
 * there (a non-empty one fits its file), and its strides are never used */
static int64_t mul_saturated(int64_t a, int64_t b)
{
    int64_t r;
    return __builtin_mul_overflow(a, b, &r) ? INT64_MAX : r;
}

static void set_contiguous_strides(wanc_tensor *t)
{
    int64_t s = 1;
    for (int i = t->ndim - 1; i >= 0; i--) {
        t->stride[i] = s;
        s = mul_saturated(s, t->shape[i]);
    }
}

bool wanc_tensor_is_contiguous(const wanc_tensor *t)
{
    if (wanc_tensor_numel(t) == 0) return true; /* nothing to lay out */
    int64_t s = 1;
    for (int i = t->ndim - 1; i >= 0; i--) {
        if (t->shape[i] != 1 && t->stride[i] != s) return false;
        s = mul_saturated(s, t->shape[i]);
    }
    return true;
}

wanc_tensor wanc_tensor_wrap(void *data, wanc_dtype dt, int ndim, const int64_t *shape)
{
    wanc_tensor t = {.dtype = dt, .ndim = ndim, .data = data};
    for (int i = 0; i < ndim; i++) t.shape[i] = shape[i];
    set_contiguous_strides(&t);
    return t;
}

wanc_err wanc_tensor_alloc(wanc_tensor *t, wanc_dtype dt, int ndim, const int64_t *shape)
{
    memset(t, 0, sizeof *t);
    if (ndim < 0 || ndim > WANC_MAX_DIMS)
        WANC_FAIL(WANC_EINVAL, "tensor with %d dims (at most %d supported)", ndim, WANC_MAX_DIMS);
    for (int i = 0; i < ndim; i++)
        if (shape[i] < 0) WANC_FAIL(WANC_EINVAL, "negative tensor dimension %lld", (long long)shape[i]);
    size_t bytes = wanc_dtype_row_bytes(dt, wanc_numel(ndim, shape));
    size_t padded = (bytes + 63) & ~(size_t)63;
    void *p = aligned_alloc(64, padded ? padded : 64);
    if (!p) {
        char s[96];
        WANC_FAIL(WANC_ENOMEM, "cannot allocate %zu bytes for a %s tensor of shape %s", bytes,
                  wanc_dtype_name(dt), wanc_shape_str(s, sizeof s, ndim, shape));
    }
    memset(p, 0, padded ? padded : 64);
    *t = wanc_tensor_wrap(p, dt, ndim, shape);
    t->owned = p;
    return NULL;
}

void wanc_tensor_free(wanc_tensor *t)
{
    if (!t) return;
    free(t->owned);
    memset(t, 0, sizeof *t);
}

wanc_tensor wanc_tensor_narrow(const wanc_tensor *t, int dim, int64_t start, int64_t len)
{
    wanc_tensor v = *t;
    v.owned = NULL;
    v.data = (char *)t->data + wanc_dtype_row_bytes(t->dtype, start * t->stride[dim]);
    v.shape[dim] = len;
    return v;
}

wanc_err wanc_tensor_reshape(wanc_tensor *out, const wanc_tensor *t, int ndim, const int64_t *shape)
{
    char a[96], b[96];
    if (!wanc_tensor_is_contiguous(t)) WANC_FAIL(WANC_EINVAL, "reshape of a non-contiguous tensor");
    if (ndim > WANC_MAX_DIMS || wanc_numel(ndim, shape) != wanc_tensor_numel(t))
        WANC_FAIL(WANC_ESHAPE, "cannot reshape %s to %s", wanc_shape_str(a, sizeof a, t->ndim, t->shape),
                  wanc_shape_str(b, sizeof b, ndim, shape));
    *out = wanc_tensor_wrap(t->data, t->dtype, ndim, shape);
    return NULL;
}

bool wanc_tensor_shape_is(const wanc_tensor *t, int ndim, const int64_t *shape)
{
    if (t->ndim != ndim) return false;
    for (int i = 0; i < ndim; i++)
        if (shape[i] != -1 && shape[i] != t->shape[i]) return false;
    return true;
}

char *wanc_shape_str(char *buf, size_t cap, int ndim, const int64_t *shape)
{
    if (cap == 0) return buf;
    if (ndim == 0) {
        snprintf(buf, cap, "[]");
        return buf;
    }
    size_t off = 0;
    buf[0] = 0;
    for (int i = 0; i < ndim && off < cap; i++) {
        int n = snprintf(buf + off, cap - off, i ? "x%lld" : "%lld", (long long)shape[i]);
        if (n < 0) break;
        off += (size_t)n;
    }
    return buf;
}

/* ---- small float formats ------------------------------------------------
 * One generic encoder/decoder for IEEE-like formats with E exponent bits and
 * M mantissa bits. Encoding rounds to nearest even (exact: every step is a
 * power-of-two scaling of a float held in a double). */
typedef struct {
    int ebits, mbits, bias;
    bool has_inf;   /* f16, e5m2: all-ones exponent = inf/nan           */
    uint32_t nan;   /* code used for NaN (without sign)                 */
} fmt_desc;

static const fmt_desc FMT_F16 = {5, 10, 15, true, 0x7e00};
static const fmt_desc FMT_E5M2 = {5, 2, 15, true, 0x7e};
static const fmt_desc FMT_E4M3 = {4, 3, 7, false, 0x7f}; /* e4m3fn: no inf, S.1111.111 = NaN */

static float fmt_decode(const fmt_desc *d, uint32_t v)
{
    uint32_t sign = v >> (d->ebits + d->mbits) & 1u;
    uint32_t e = v >> d->mbits & ((1u << d->ebits) - 1);
    uint32_t m = v & ((1u << d->mbits) - 1);
    uint32_t emax = (1u << d->ebits) - 1;
    float r;
    if (d->has_inf && e == emax) r = m ? NAN : INFINITY;
    else if (!d->has_inf && e == emax && m == (1u << d->mbits) - 1) r = NAN;
    else if (e == 0) r = ldexpf((float)m, 1 - d->bias - d->mbits);
    else r = ldexpf((float)(m | (1u << d->mbits)), (int)e - d->bias - d->mbits);
    return sign ? -r : r;
}

static uint32_t fmt_encode(const fmt_desc *d, float f)
{
    uint32_t sign = signbit(f) ? 1u << (d->ebits + d->mbits) : 0;
    if (isnan(f)) return sign | d->nan;
    double a = fabs((double)f);
    uint32_t emax = (1u << d->ebits) - 1;
    uint32_t inf_code = d->has_inf ? emax << d->mbits : d->nan;
    if (isinf(a)) return sign | inf_code;
    int min_exp = 1 - d->bias; /* exponent of the smallest normal */
    uint32_t code;
    if (a < ldexp(1.0, min_exp)) {
        code = (uint32_t)nearbyint(ldexp(a, d->mbits - min_exp)); /* may round up to the smallest normal */
    } else {
        int e;
        double m = frexp(a, &e); /* a = m * 2^e, m in [0.5, 1) */
        e -= 1;                  /* a = (2m) * 2^e, 2m in [1, 2) */
        uint32_t q = (uint32_t)nearbyint(ldexp(2 * m - 1, d->mbits));
        if (q == (1u << d->mbits)) {
            q = 0;
            e += 1;
        }
        int64_t field = (int64_t)e + d->bias;
        if (d->has_inf ? field >= (int64_t)emax : field > (int64_t)emax) return sign | inf_code;
        code = (uint32_t)field << d->mbits | q;
        if (!d->has_inf && code >= d->nan) return sign | d->nan; /* e4m3fn overflows to NaN, as torch */
    }
    return sign | code;
}

float wanc_f16_to_f32(uint16_t h) { return fmt_decode(&FMT_F16, h); }
uint16_t wanc_f32_to_f16(float f) { return (uint16_t)fmt_encode(&FMT_F16, f); }
float wanc_f8e4m3_to_f32(uint8_t v) { return fmt_decode(&FMT_E4M3, v); }
uint8_t wanc_f32_to_f8e4m3(float f) { return (uint8_t)fmt_encode(&FMT_E4M3, f); }
float wanc_f8e5m2_to_f32(uint8_t v) { return fmt_decode(&FMT_E5M2, v); }
uint8_t wanc_f32_to_f8e5m2(float f) { return (uint8_t)fmt_encode(&FMT_E5M2, f); }

void wanc_round_bf16_inplace(float *x, size_t n)
{
    for (size_t i = 0; i < n; i++) x[i] = wanc_round_bf16(x[i]);
}

static double load_as_double(const void *src, wanc_dtype dt, size_t i)
{
    switch (dt) {
    case WANC_F64: return ((const double *)src)[i];
    case WANC_F32: return ((const float *)src)[i];
    case WANC_BF16: return wanc_bf16_to_f32(((const uint16_t *)src)[i]);
    case WANC_F16: return wanc_f16_to_f32(((const uint16_t *)src)[i]);
    case WANC_F8_E4M3: return wanc_f8e4m3_to_f32(((const uint8_t *)src)[i]);
    case WANC_F8_E5M2: return wanc_f8e5m2_to_f32(((const uint8_t *)src)[i]);
    case WANC_I64: return (double)((const int64_t *)src)[i];
    case WANC_I32: return ((const int32_t *)src)[i];
    case WANC_U8: return ((const uint8_t *)src)[i];
    case WANC_BOOL: return ((const uint8_t *)src)[i] != 0;
    default: return 0;
    }
}

/* float64 → narrow float goes through float32, as PyTorch does. */
static void store_from_double(void *dst, wanc_dtype dt, size_t i, double v)
{
    switch (dt) {
    case WANC_F64: ((double *)dst)[i] = v; break;
    case WANC_F32: ((float *)dst)[i] = (float)v; break;
    case WANC_BF16: ((uint16_t *)dst)[i] = wanc_f32_to_bf16((float)v); break;
    case WANC_F16: ((uint16_t *)dst)[i] = wanc_f32_to_f16((float)v); break;
    case WANC_F8_E4M3: ((uint8_t *)dst)[i] = wanc_f32_to_f8e4m3((float)v); break;
    case WANC_F8_E5M2: ((uint8_t *)dst)[i] = wanc_f32_to_f8e5m2((float)v); break;
    case WANC_I64: ((int64_t *)dst)[i] = (int64_t)v; break;
    case WANC_I32: ((int32_t *)dst)[i] = (int32_t)v; break;
    case WANC_U8: ((uint8_t *)dst)[i] = (uint8_t)(int64_t)v; break;
    case WANC_BOOL: ((uint8_t *)dst)[i] = v != 0; break;
    default: break;
    }
}

wanc_err wanc_convert(void *dst, wanc_dtype dst_dt, const void *src, wanc_dtype src_dt, size_t n)
{
    if (dst_dt >= WANC_DTYPE_COUNT || src_dt >= WANC_DTYPE_COUNT)
        WANC_FAIL(WANC_EINVAL, "conversion between unknown dtypes %d and %d", (int)src_dt, (int)dst_dt);
    if (dst_dt == src_dt) {
        memcpy(dst, src, wanc_dtype_row_bytes(dst_dt, (int64_t)n));
        return NULL;
    }
    if (wanc_dtype_is_quant(dst_dt))
        WANC_FAIL(WANC_EUNSUPPORTED, "conversion to %s: block types are written by wanc_quantize",
                  wanc_dtype_name(dst_dt));
    if (wanc_dtype_is_quant(src_dt)) {
        if (dst_dt == WANC_F32) return wanc_dequantize(dst, src, src_dt, (int64_t)n);
        float *tmp = malloc(n * sizeof(float) + 1);
        if (!tmp) WANC_FAIL(WANC_ENOMEM, "conversion buffer for %zu values", n);
        wanc_err e = wanc_dequantize(tmp, src, src_dt, (int64_t)n);
        if (!e) e = wanc_convert(dst, dst_dt, tmp, WANC_F32, n);
        free(tmp);
        return e;
    }
    /* The hot paths: weights and activations between f32 and bf16/f16. */
    if (dst_dt == WANC_F32 && src_dt == WANC_BF16) {
        const uint16_t *s = src;
        float *d = dst;
        for (size_t i = 0; i < n; i++) d[i] = wanc_bf16_to_f32(s[i]);
        return NULL;
    }
    if (dst_dt == WANC_BF16 && src_dt == WANC_F32) {
        const float *s = src;
        uint16_t *d = dst;
        for (size_t i = 0; i < n; i++) d[i] = wanc_f32_to_bf16(s[i]);
        return NULL;
    }
    /* I64 values beyond 2^53 would lose bits through a double. */
    if (src_dt == WANC_I64 && dst_dt == WANC_I32) {
        for (size_t i = 0; i < n; i++) ((int32_t *)dst)[i] = (int32_t)((const int64_t *)src)[i];
        return NULL;
    }
    for (size_t i = 0; i < n; i++) store_from_double(dst, dst_dt, i, load_as_double(src, src_dt, i));
    return NULL;
}

static void apply_scale(float *x, size_t n, float scale)
{
    if (scale != 0.0f)
        for (size_t i = 0; i < n; i++) x[i] *= scale;
}

wanc_err wanc_tensor_to_f32(float *dst, const wanc_tensor *src)
{
    size_t n = (size_t)wanc_tensor_numel(src);
    if (wanc_tensor_is_contiguous(src)) {
        TRY(wanc_convert(dst, WANC_F32, src->data, src->dtype, n));
        apply_scale(dst, n, src->scale);
        return NULL;
    }
    if (wanc_dtype_is_quant(src->dtype))
        WANC_FAIL(WANC_EUNSUPPORTED, "a strided view of a %s tensor cannot be decoded", wanc_dtype_name(src->dtype));
    /* Strided: walk the index space, innermost dim fastest. */
    int64_t idx[WANC_MAX_DIMS] = {0};
    for (size_t k = 0; k < n; k++) {
        int64_t off = 0;
        for (int d = 0; d < src->ndim; d++) off += idx[d] * src->stride[d];
        dst[k] = (float)load_as_double(src->data, src->dtype, (size_t)off);
        for (int d = src->ndim - 1; d >= 0; d--) {
            if (++idx[d] < src->shape[d]) break;
            idx[d] = 0;
        }
    }
    apply_scale(dst, n, src->scale);
    return NULL;
}

wanc_err wanc_weight_rows_to_f32(float *dst, const wanc_tensor *w, int64_t row0, int64_t nrows)
{
    if (!w || w->ndim < 1 || !w->data) WANC_FAIL(WANC_EINVAL, "weight rows: no weight");
    if (!wanc_dtype_is_float(w->dtype))
        WANC_FAIL(WANC_EUNSUPPORTED, "weight rows: dtype %s is not a weight type", wanc_dtype_name(w->dtype));
    if (!wanc_tensor_is_contiguous(w)) WANC_FAIL(WANC_EINVAL, "weight rows: weight must be contiguous");
    int64_t N = w->shape[0], K = N ? wanc_tensor_numel(w) / N : 0;
    if (row0 < 0 || nrows < 0 || row0 + nrows > N)
        WANC_FAIL(WANC_EINVAL, "weight rows: rows %lld..%lld outside %lld", (long long)row0,
                  (long long)(row0 + nrows), (long long)N);
    if (K % wanc_dtype_block_elems(w->dtype))
        WANC_FAIL(WANC_ESHAPE, "weight rows: rows of %lld values are not whole %s blocks", (long long)K,
                  wanc_dtype_name(w->dtype));
    const char *src = (const char *)w->data + wanc_dtype_row_bytes(w->dtype, K) * (size_t)row0;
    TRY(wanc_dequantize(dst, src, w->dtype, nrows * K));
    apply_scale(dst, (size_t)(nrows * K), w->scale);
    return NULL;
}

wanc_err wanc_tensor_convert(wanc_tensor *out, const wanc_tensor *src, wanc_dtype dt)
{
    TRY(wanc_tensor_alloc(out, dt, src->ndim, src->shape));
    if (!wanc_tensor_is_contiguous(src) || src->scale != 0.0f) {
        float *tmp = malloc((size_t)wanc_tensor_numel(src) * sizeof(float) + 1);
        if (!tmp) {
            wanc_tensor_free(out);
            WANC_FAIL(WANC_ENOMEM, "conversion buffer");
        }
        wanc_err e = wanc_tensor_to_f32(tmp, src);
        if (!e) e = wanc_convert(out->data, dt, tmp, WANC_F32, (size_t)wanc_tensor_numel(src));
        free(tmp);
        if (e) wanc_tensor_free(out);
        return e;
    }
    wanc_err e = wanc_convert(out->data, dt, src->data, src->dtype, (size_t)wanc_tensor_numel(src));
    if (e) wanc_tensor_free(out);
    return e;
}
