/* Decoders for ggml's block-quantized formats (see quant.h for the layouts)
 * and the fast float decoders the weight conversion uses.
 *
 * Each decoder follows ggml's scalar reference formula term by term: the
 * block scale is a float from IEEE half, the integer code is converted to
 * float, and products/sums are rounded in the same order. This file is built
 * with -std=c11, where GCC does not contract a·b + c into an FMA, so every
 * intermediate is a rounded float32 as in ggml's reference build.
 */
#include "core/quant.h"
#include "core/threads.h"

#include <float.h>
#include <math.h>
#include <string.h>

static inline float half_at(const uint8_t *p)
{
    uint16_t h;
    memcpy(&h, p, 2);
    return wanc_half_bits_to_f32(h);
}

/* ---- 32-element blocks ------------------------------------------------------ */

static void dequant_q4_0(float *y, const uint8_t *b, int64_t nb)
{
    for (int64_t i = 0; i < nb; i++, b += 18, y += 32) {
        const float d = half_at(b);
        const uint8_t *qs = b + 2;
        for (int j = 0; j < 16; j++) {
            const int x0 = (qs[j] & 0x0f) - 8, x1 = (qs[j] >> 4) - 8;
            y[j] = (float)x0 * d;
            y[j + 16] = (float)x1 * d;
        }
    }
}

static void dequant_q4_1(float *y, const uint8_t *b, int64_t nb)
{
    for (int64_t i = 0; i < nb; i++, b += 20, y += 32) {
        const float d = half_at(b), m = half_at(b + 2);
        const uint8_t *qs = b + 4;
        for (int j = 0; j < 16; j++) {
            const int x0 = qs[j] & 0x0f, x1 = qs[j] >> 4;
            y[j] = (float)x0 * d + m;
            y[j + 16] = (float)x1 * d + m;
        }
    }
}

static void dequant_q5_0(float *y, const uint8_t *b, int64_t nb)
{
    for (int64_t i = 0; i < nb; i++, b += 22, y += 32) {
        const float d = half_at(b);
        uint32_t qh;
        memcpy(&qh, b + 2, 4);
        const uint8_t *qs = b + 6;
        for (int j = 0; j < 16; j++) {
            const uint8_t h0 = (uint8_t)(((qh >> j) << 4) & 0x10), h1 = (uint8_t)((qh >> (j + 12)) & 0x10);
            const int x0 = ((qs[j] & 0x0f) | h0) - 16, x1 = ((qs[j] >> 4) | h1) - 16;
            y[j] = (float)x0 * d;
            y[j + 16] = (float)x1 * d;
        }
    }
}

static void dequant_q5_1(float *y, const uint8_t *b, int64_t nb)
{
    for (int64_t i = 0; i < nb; i++, b += 24, y += 32) {
        const float d = half_at(b), m = half_at(b + 2);
        uint32_t qh;
        memcpy(&qh, b + 4, 4);
        const uint8_t *qs = b + 8;
        for (int j = 0; j < 16; j++) {
            const uint8_t h0 = (uint8_t)(((qh >> j) << 4) & 0x10), h1 = (uint8_t)((qh >> (j + 12)) & 0x10);
            const int x0 = (qs[j] & 0x0f) | h0, x1 = (qs[j] >> 4) | h1;
            y[j] = (float)x0 * d + m;
            y[j + 16] = (float)x1 * d + m;
        }
    }
}

static void dequant_q8_0(float *y, const uint8_t *b, int64_t nb)
{
    for (int64_t i = 0; i < nb; i++, b += 34, y += 32) {
        const float d = half_at(b);
        const int8_t *qs = (const int8_t *)(b + 2);
        for (int j = 0; j < 32; j++) y[j] = (float)qs[j] * d;
    }
}

/* ---- 256-element super-blocks ------------------------------------------------- */

static void dequant_q2_k(float *y, const uint8_t *b, int64_t nb)
{
    for (int64_t i = 0; i < nb; i++, b += 84) {
        const uint8_t *scales = b, *q = b + 16;
        const float d = half_at(b + 80), dmin = half_at(b + 82);
        int is = 0;
        for (int n = 0; n < 256; n += 128, q += 32) {
            for (int shift = 0; shift < 8; shift += 2) {
                for (int half = 0; half < 2; half++) {
                    const uint8_t sc = scales[is++];
                    const float dl = d * (float)(sc & 0xf), ml = dmin * (float)(sc >> 4);
                    for (int l = 0; l < 16; l++) *y++ = dl * (float)((int8_t)((q[l + 16 * half] >> shift) & 3)) - ml;
                }
            }
        }
    }
}

static void dequant_q3_k(float *y, const uint8_t *b, int64_t nb)
{
    for (int64_t i = 0; i < nb; i++, b += 110) {
        const uint8_t *hm = b, *q = b + 32;
        const float d_all = half_at(b + 108);
        /* 16 six-bit scales: low 4 bits in bytes 0..7, high 2 bits in 8..11 */
        uint32_t aux[4];
        memcpy(aux, b + 96, 12);
        const uint32_t kmask1 = 0x03030303u, kmask2 = 0x0f0f0f0fu, tmp = aux[2];
        aux[2] = ((aux[0] >> 4) & kmask2) | (((tmp >> 4) & kmask1) << 4);
        aux[3] = ((aux[1] >> 4) & kmask2) | (((tmp >> 6) & kmask1) << 4);
        aux[0] = (aux[0] & kmask2) | (((tmp >> 0) & kmask1) << 4);
        aux[1] = (aux[1] & kmask2) | (((tmp >> 2) & kmask1) << 4);
        int8_t scales[16];
        memcpy(scales, aux, 16);
        int is = 0;
        uint8_t m = 1;
        for (int n = 0; n < 256; n += 128, q += 32) {
            for (int shift = 0; shift < 8; shift += 2, m = (uint8_t)(m << 1)) {
                for (int half = 0; half < 2; half++) {
                    const float dl = d_all * (float)(scales[is++] - 32);
                    for (int l = 16 * half; l < 16 * half + 16; l++)
                        *y++ = dl * (float)((int8_t)((q[l] >> shift) & 3) - ((hm[l] & m) ? 0 : 4));
                }
            }
        }
    }
}

/* The 6-bit scale and min of sub-block j from Q4_K/Q5_K's 12 packed bytes. */
static inline void scale_min_k4(int j, const uint8_t *q, uint8_t *d, uint8_t *m)
{
    if (j < 4) {
        *d = q[j] & 63;
        *m = q[j + 4] & 63;
    } else {
        *d = (uint8_t)((q[j + 4] & 0xf) | ((q[j - 4] >> 6) << 4));
        *m = (uint8_t)((q[j + 4] >> 4) | ((q[j] >> 6) << 4));
    }
}

/* Sub-block j's float scale d·sc and offset dmin·m. */
static inline void sub_scales(float d, float dmin, const uint8_t *scales, int j, float *dj, float *mj)
{
    uint8_t sc, m;
    scale_min_k4(j, scales, &sc, &m);
    *dj = d * (float)sc;
    *mj = dmin * (float)m;
}

static void dequant_q4_k(float *y, const uint8_t *b, int64_t nb)
{
    for (int64_t i = 0; i < nb; i++, b += 144) {
        const float d = half_at(b), dmin = half_at(b + 2);
        const uint8_t *scales = b + 4, *q = b + 16;
        for (int j = 0, is = 0; j < 256; j += 64, q += 32, is += 2) {
            float d1, m1, d2, m2;
            sub_scales(d, dmin, scales, is, &d1, &m1);
            sub_scales(d, dmin, scales, is + 1, &d2, &m2);
            for (int l = 0; l < 32; l++) *y++ = d1 * (float)(q[l] & 0xf) - m1;
            for (int l = 0; l < 32; l++) *y++ = d2 * (float)(q[l] >> 4) - m2;
        }
    }
}

static void dequant_q5_k(float *y, const uint8_t *b, int64_t nb)
{
    for (int64_t i = 0; i < nb; i++, b += 176) {
        const float d = half_at(b), dmin = half_at(b + 2);
        const uint8_t *scales = b + 4, *qh = b + 16, *ql = b + 48;
        uint8_t u1 = 1, u2 = 2;
        for (int j = 0, is = 0; j < 256; j += 64, ql += 32, is += 2) {
            float d1, m1, d2, m2;
            sub_scales(d, dmin, scales, is, &d1, &m1);
            sub_scales(d, dmin, scales, is + 1, &d2, &m2);
            for (int l = 0; l < 32; l++) *y++ = d1 * (float)((ql[l] & 0xf) + (qh[l] & u1 ? 16 : 0)) - m1;
            for (int l = 0; l < 32; l++) *y++ = d2 * (float)((ql[l] >> 4) + (qh[l] & u2 ? 16 : 0)) - m2;
            u1 = (uint8_t)(u1 << 2);
            u2 = (uint8_t)(u2 << 2);
        }
    }
}

static void dequant_q6_k(float *y, const uint8_t *b, int64_t nb)
{
    for (int64_t i = 0; i < nb; i++, b += 210) {
        const uint8_t *ql = b, *qh = b + 128;
        const int8_t *sc = (const int8_t *)(b + 192);
        const float d = half_at(b + 208);
        for (int n = 0; n < 256; n += 128, y += 128, ql += 64, qh += 32, sc += 8) {
            for (int l = 0; l < 32; l++) {
                const int is = l / 16;
                const int8_t q1 = (int8_t)((ql[l] & 0xf) | (((qh[l] >> 0) & 3) << 4)) - 32;
                const int8_t q2 = (int8_t)((ql[l + 32] & 0xf) | (((qh[l] >> 2) & 3) << 4)) - 32;
                const int8_t q3 = (int8_t)((ql[l] >> 4) | (((qh[l] >> 4) & 3) << 4)) - 32;
                const int8_t q4 = (int8_t)((ql[l + 32] >> 4) | (((qh[l] >> 6) & 3) << 4)) - 32;
                y[l + 0] = d * (float)sc[is + 0] * (float)q1;
                y[l + 32] = d * (float)sc[is + 2] * (float)q2;
                y[l + 64] = d * (float)sc[is + 4] * (float)q3;
                y[l + 96] = d * (float)sc[is + 6] * (float)q4;
            }
        }
    }
}

/* ---- fp8 --------------------------------------------------------------------------- */

/* 256-entry tables, filled once from the exact scalar decoders. */
static float f8_table[2][256];
static int f8_ready; /* benign race: every thread writes the same values */

static const float *f8_lut(wanc_dtype dt)
{
    if (!__atomic_load_n(&f8_ready, __ATOMIC_ACQUIRE)) {
        for (int c = 0; c < 256; c++) {
            f8_table[0][c] = wanc_f8e4m3_to_f32((uint8_t)c);
            f8_table[1][c] = wanc_f8e5m2_to_f32((uint8_t)c);
        }
        __atomic_store_n(&f8_ready, 1, __ATOMIC_RELEASE);
    }
    return f8_table[dt == WANC_F8_E5M2];
}

wanc_err wanc_dequantize(float *dst, const void *src, wanc_dtype dt, int64_t n)
{
    int64_t be = wanc_dtype_block_elems(dt);
    if (n < 0 || be <= 0 || n % be)
        WANC_FAIL(WANC_EINVAL, "dequantize: %lld values of %s are not a whole number of %lld-value blocks",
                  (long long)n, wanc_dtype_name(dt), (long long)be);
    const uint8_t *s = src;
    int64_t nb = n / be;
    switch (dt) {
    case WANC_Q4_0: dequant_q4_0(dst, s, nb); return NULL;
    case WANC_Q4_1: dequant_q4_1(dst, s, nb); return NULL;
    case WANC_Q5_0: dequant_q5_0(dst, s, nb); return NULL;
    case WANC_Q5_1: dequant_q5_1(dst, s, nb); return NULL;
    case WANC_Q8_0: dequant_q8_0(dst, s, nb); return NULL;
    case WANC_Q2_K: dequant_q2_k(dst, s, nb); return NULL;
    case WANC_Q3_K: dequant_q3_k(dst, s, nb); return NULL;
    case WANC_Q4_K: dequant_q4_k(dst, s, nb); return NULL;
    case WANC_Q5_K: dequant_q5_k(dst, s, nb); return NULL;
    case WANC_Q6_K: dequant_q6_k(dst, s, nb); return NULL;
    case WANC_F8_E4M3:
    case WANC_F8_E5M2: {
        const float *lut = f8_lut(dt);
        for (int64_t i = 0; i < n; i++) dst[i] = lut[s[i]];
        return NULL;
    }
    case WANC_F16:
        for (int64_t i = 0; i < n; i++) {
            uint16_t h;
            memcpy(&h, s + 2 * i, 2);
            dst[i] = wanc_half_bits_to_f32(h);
        }
        return NULL;
    case WANC_F32:
    case WANC_BF16:
    case WANC_F64: return wanc_convert(dst, WANC_F32, src, dt, (size_t)n);
    default:
        WANC_FAIL(WANC_EUNSUPPORTED, "dequantize: %s is not a floating-point type", wanc_dtype_name(dt));
    }
}

/* ---- encoders (ggml's reference quantizers, no importance matrix) ------------------ */

static inline void put_half(uint8_t *p, float f)
{
    uint16_t h = wanc_f32_to_f16(f);
    memcpy(p, &h, 2);
}

/* Round to nearest, ties away from the float trick ggml uses (valid for |f| <= 2^22). */
static inline int nearest_int(float f)
{
    float v = f + 12582912.f;
    int32_t i;
    memcpy(&i, &v, 4);
    return (i & 0x007fffff) - 0x00400000;
}

static inline int imin(int a, int b) { return a < b ? a : b; }
static inline int imax(int a, int b) { return a > b ? a : b; }

static void quant_q8_0(uint8_t *b, const float *x, int64_t nb)
{
    for (int64_t i = 0; i < nb; i++, b += 34, x += 32) {
        float amax = 0;
        for (int j = 0; j < 32; j++) amax = fmaxf(amax, fabsf(x[j]));
        const float d = amax / 127.0f, id = d ? 1.0f / d : 0.0f;
        put_half(b, d);
        for (int j = 0; j < 32; j++) b[2 + j] = (uint8_t)(int8_t)roundf(x[j] * id);
    }
}

/* The value of largest magnitude (its sign kept), as Q4_0/Q5_0 scale by it. */
static float signed_absmax(const float *x, int n)
{
    float amax = 0, max = 0;
    for (int j = 0; j < n; j++)
        if (amax < fabsf(x[j])) amax = fabsf(x[j]), max = x[j];
    return max;
}

static void quant_q4_0(uint8_t *b, const float *x, int64_t nb)
{
    for (int64_t i = 0; i < nb; i++, b += 18, x += 32) {
        const float d = signed_absmax(x, 32) / -8.0f, id = d ? 1.0f / d : 0.0f;
        put_half(b, d);
        for (int j = 0; j < 16; j++) {
            const int x0 = imin(15, (int8_t)(x[j] * id + 8.5f)), x1 = imin(15, (int8_t)(x[16 + j] * id + 8.5f));
            b[2 + j] = (uint8_t)(x0 | (x1 << 4));
        }
    }
}

static void min_max(const float *x, int n, float *mn, float *mx)
{
    *mn = FLT_MAX, *mx = -FLT_MAX;
    for (int j = 0; j < n; j++) *mn = fminf(*mn, x[j]), *mx = fmaxf(*mx, x[j]);
}

static void quant_q4_1(uint8_t *b, const float *x, int64_t nb)
{
    for (int64_t i = 0; i < nb; i++, b += 20, x += 32) {
        float mn, mx;
        min_max(x, 32, &mn, &mx);
        const float d = (mx - mn) / 15.0f, id = d ? 1.0f / d : 0.0f;
        put_half(b, d);
        put_half(b + 2, mn);
        for (int j = 0; j < 16; j++) {
            const int x0 = imin(15, (int8_t)((x[j] - mn) * id + 0.5f)), x1 = imin(15, (int8_t)((x[16 + j] - mn) * id + 0.5f));
            b[4 + j] = (uint8_t)(x0 | (x1 << 4));
        }
    }
}

/* 32 five-bit codes → 16 bytes of low nibbles + a u32 of high bits. */
static void pack_q5(uint8_t *qh_out, uint8_t *qs, const int *q)
{
    uint32_t qh = 0;
    for (int j = 0; j < 16; j++) {
        qs[j] = (uint8_t)((q[j] & 0x0f) | ((q[16 + j] & 0x0f) << 4));
        qh |= ((uint32_t)(q[j] & 0x10) >> 4) << j;
        qh |= ((uint32_t)(q[16 + j] & 0x10) >> 4) << (j + 16);
    }
    memcpy(qh_out, &qh, 4);
}

static void quant_q5_0(uint8_t *b, const float *x, int64_t nb)
{
    for (int64_t i = 0; i < nb; i++, b += 22, x += 32) {
        const float d = signed_absmax(x, 32) / -16.0f, id = d ? 1.0f / d : 0.0f;
        put_half(b, d);
        int q[32];
        for (int j = 0; j < 32; j++) q[j] = imin(31, (int8_t)(x[j] * id + 16.5f));
        pack_q5(b + 2, b + 6, q);
    }
}

static void quant_q5_1(uint8_t *b, const float *x, int64_t nb)
{
    for (int64_t i = 0; i < nb; i++, b += 24, x += 32) {
        float mn, mx;
        min_max(x, 32, &mn, &mx);
        const float d = (mx - mn) / 31.0f, id = d ? 1.0f / d : 0.0f;
        put_half(b, d);
        put_half(b + 2, mn);
        int q[32];
        for (int j = 0; j < 32; j++) q[j] = (uint8_t)((x[j] - mn) * id + 0.5f);
        pack_q5(b + 4, b + 8, q);
    }
}

#define GROUP_MAX_EPS 1e-15f

/* Scale and min of one 32-value sub-block for Q4_K/Q5_K: a weighted
 * least-squares search over nstep candidate scales (ggml's make_qkx2_quants). */
static float make_qkx2_quants(int n, int nmax, const float *x, const float *weights, uint8_t *L, float *the_min,
                              uint8_t *Laux, float rmin, float rdelta, int nstep)
{
    float mn = x[0], mx = x[0], sum_w = weights[0], sum_x = sum_w * x[0];
    for (int i = 1; i < n; i++) {
        if (x[i] < mn) mn = x[i];
        if (x[i] > mx) mx = x[i];
        float w = weights[i];
        sum_w += w;
        sum_x += w * x[i];
    }
    if (mn > 0) mn = 0;
    if (mx == mn) {
        memset(L, 0, (size_t)n);
        *the_min = -mn;
        return 0.0f;
    }
    float iscale = nmax / (mx - mn), scale = 1 / iscale, best_error = 0;
    for (int i = 0; i < n; i++) {
        int l = nearest_int(iscale * (x[i] - mn));
        L[i] = (uint8_t)imax(0, imin(nmax, l));
        float diff = scale * L[i] + mn - x[i];
        best_error += weights[i] * (diff * diff);
    }
    for (int is = 0; is <= nstep; is++) {
        iscale = (rmin + rdelta * is + nmax) / (mx - mn);
        float sum_l = 0, sum_l2 = 0, sum_xl = 0;
        for (int i = 0; i < n; i++) {
            int l = imax(0, imin(nmax, nearest_int(iscale * (x[i] - mn))));
            Laux[i] = (uint8_t)l;
            float w = weights[i];
            sum_l += w * l;
            sum_l2 += w * l * l;
            sum_xl += w * l * x[i];
        }
        float D = sum_w * sum_l2 - sum_l * sum_l;
        if (D > 0) {
            float this_scale = (sum_w * sum_xl - sum_x * sum_l) / D;
            float this_min = (sum_l2 * sum_x - sum_l * sum_xl) / D;
            if (this_min > 0) {
                this_min = 0;
                this_scale = sum_xl / sum_l2;
            }
            float cur_error = 0;
            for (int i = 0; i < n; i++) {
                float diff = this_scale * Laux[i] + this_min - x[i];
                cur_error += weights[i] * (diff * diff);
            }
            if (cur_error < best_error) {
                memcpy(L, Laux, (size_t)n);
                best_error = cur_error;
                scale = this_scale;
                mn = this_min;
            }
        }
    }
    *the_min = -mn;
    return scale;
}

/* Q4_K / Q5_K share everything but the code width (nmax 15 / 31), the search
 * range and the packing of the codes. Writes d, dmin, the 12 scale bytes at
 * b + 4 and the codes L[256]. */
static void quant_k_scales(uint8_t *b, uint8_t *L, const float *x, int nmax, float rmin, int nstep)
{
    uint8_t Laux[32];
    float weights[32], mins[8], scales[8], max_scale = 0, max_min = 0;
    for (int j = 0; j < 8; j++) {
        float sum_x2 = 0;
        for (int l = 0; l < 32; l++) sum_x2 += x[32 * j + l] * x[32 * j + l];
        float av_x = sqrtf(sum_x2 / 32);
        for (int l = 0; l < 32; l++) weights[l] = av_x + fabsf(x[32 * j + l]);
        scales[j] = make_qkx2_quants(32, nmax, x + 32 * j, weights, L + 32 * j, &mins[j], Laux, rmin, 0.1f, nstep);
        if (scales[j] > max_scale) max_scale = scales[j];
        if (mins[j] > max_min) max_min = mins[j];
    }
    float inv_scale = max_scale > 0 ? 63.f / max_scale : 0.f, inv_min = max_min > 0 ? 63.f / max_min : 0.f;
    uint8_t *sc = b + 4;
    memset(sc, 0, 12);
    for (int j = 0; j < 8; j++) {
        uint8_t ls = (uint8_t)imin(63, nearest_int(inv_scale * scales[j]));
        uint8_t lm = (uint8_t)imin(63, nearest_int(inv_min * mins[j]));
        if (j < 4) {
            sc[j] = ls;
            sc[j + 4] = lm;
        } else {
            sc[j + 4] = (uint8_t)((ls & 0xf) | ((lm & 0xf) << 4));
            sc[j - 4] |= (uint8_t)((ls >> 4) << 6);
            sc[j] |= (uint8_t)((lm >> 4) << 6);
        }
    }
    put_half(b, max_scale / 63.f);
    put_half(b + 2, max_min / 63.f);
    const float d_all = half_at(b), dmin_all = half_at(b + 2);
    for (int j = 0; j < 8; j++) {
        uint8_t s, m;
        scale_min_k4(j, sc, &s, &m);
        const float d = d_all * s;
        if (!d) continue;
        const float dm = dmin_all * m;
        for (int ii = 0; ii < 32; ii++) L[32 * j + ii] = (uint8_t)imax(0, imin(nmax, nearest_int((x[32 * j + ii] + dm) / d)));
    }
}

static void quant_q4_k(uint8_t *b, const float *x, int64_t nb)
{
    uint8_t L[256];
    for (int64_t i = 0; i < nb; i++, b += 144, x += 256) {
        quant_k_scales(b, L, x, 15, -1.f, 20);
        uint8_t *q = b + 16;
        for (int j = 0; j < 256; j += 64, q += 32)
            for (int l = 0; l < 32; l++) q[l] = (uint8_t)(L[j + l] | (L[j + l + 32] << 4));
    }
}

static void quant_q5_k(uint8_t *b, const float *x, int64_t nb)
{
    uint8_t L[256];
    for (int64_t i = 0; i < nb; i++, b += 176, x += 256) {
        quant_k_scales(b, L, x, 31, -0.5f, 15);
        uint8_t *qh = b + 16, *ql = b + 48, m1 = 1, m2 = 2;
        memset(qh, 0, 32);
        for (int n = 0; n < 256; n += 64, ql += 32, m1 = (uint8_t)(m1 << 2), m2 = (uint8_t)(m2 << 2))
            for (int j = 0; j < 32; j++) {
                int l1 = L[n + j], l2 = L[n + j + 32];
                if (l1 > 15) l1 -= 16, qh[j] |= m1;
                if (l2 > 15) l2 -= 16, qh[j] |= m2;
                ql[j] = (uint8_t)(l1 | (l2 << 4));
            }
    }
}

/* Q6_K's per-16 scale (ggml's make_qx_quants, rmse_type 1: weights x²). */
static float make_qx_quants(int n, int nmax, const float *x, int8_t *L)
{
    float max = 0, amax = 0;
    for (int i = 0; i < n; i++)
        if (fabsf(x[i]) > amax) amax = fabsf(x[i]), max = x[i];
    if (amax < GROUP_MAX_EPS) {
        memset(L, 0, (size_t)n);
        return 0.f;
    }
    float iscale = -nmax / max, sumlx = 0, suml2 = 0;
    for (int i = 0; i < n; i++) {
        int l = imax(-nmax, imin(nmax - 1, nearest_int(iscale * x[i])));
        L[i] = (int8_t)(l + nmax);
        float w = x[i] * x[i];
        sumlx += w * x[i] * l;
        suml2 += w * l * l;
    }
    float scale = suml2 ? sumlx / suml2 : 0.0f, best = scale * sumlx;
    for (int is = -9; is <= 9; is++) {
        if (is == 0) continue;
        iscale = -(nmax + 0.1f * is) / max;
        sumlx = suml2 = 0;
        for (int i = 0; i < n; i++) {
            int l = imax(-nmax, imin(nmax - 1, nearest_int(iscale * x[i])));
            float w = x[i] * x[i];
            sumlx += w * x[i] * l;
            suml2 += w * l * l;
        }
        if (suml2 > 0 && sumlx * sumlx > best * suml2) {
            for (int i = 0; i < n; i++) L[i] = (int8_t)(nmax + imax(-nmax, imin(nmax - 1, nearest_int(iscale * x[i]))));
            scale = sumlx / suml2;
            best = scale * sumlx;
        }
    }
    return scale;
}

static void quant_q6_k(uint8_t *b, const float *x, int64_t nb)
{
    int8_t L[256];
    float scales[16];
    for (int64_t i = 0; i < nb; i++, b += 210, x += 256) {
        float max_scale = 0, max_abs_scale = 0;
        for (int ib = 0; ib < 16; ib++) {
            scales[ib] = make_qx_quants(16, 32, x + 16 * ib, L + 16 * ib);
            if (fabsf(scales[ib]) > max_abs_scale) max_abs_scale = fabsf(scales[ib]), max_scale = scales[ib];
        }
        memset(b, 0, 210);
        if (max_abs_scale < GROUP_MAX_EPS) continue; /* all zero, d = 0 */
        float iscale = -128.f / max_scale;
        put_half(b + 208, 1 / iscale);
        int8_t *sc = (int8_t *)(b + 192);
        for (int ib = 0; ib < 16; ib++) sc[ib] = (int8_t)imin(127, nearest_int(iscale * scales[ib]));
        const float dh = half_at(b + 208);
        for (int j = 0; j < 16; j++) {
            const float d = dh * sc[j];
            if (!d) continue;
            for (int ii = 0; ii < 16; ii++)
                L[16 * j + ii] = (int8_t)(imax(-32, imin(31, nearest_int(x[16 * j + ii] / d))) + 32);
        }
        uint8_t *ql = b, *qh = b + 128;
        for (int j = 0; j < 256; j += 128, ql += 64, qh += 32)
            for (int l = 0; l < 32; l++) {
                const uint8_t q1 = L[j + l] & 0xf, q2 = L[j + l + 32] & 0xf, q3 = L[j + l + 64] & 0xf,
                              q4 = L[j + l + 96] & 0xf;
                ql[l] = (uint8_t)(q1 | (q3 << 4));
                ql[l + 32] = (uint8_t)(q2 | (q4 << 4));
                qh[l] = (uint8_t)((L[j + l] >> 4) | ((L[j + l + 32] >> 4) << 2) | ((L[j + l + 64] >> 4) << 4) |
                                  ((L[j + l + 96] >> 4) << 6));
            }
    }
}

typedef void (*quant_fn)(uint8_t *b, const float *x, int64_t nb);

typedef struct {
    quant_fn fn;
    uint8_t *dst;
    const float *src;
    int64_t be;
    size_t bb;
} quant_job;

static void quant_range(void *ctx, int64_t begin, int64_t end)
{
    const quant_job *j = ctx;
    j->fn(j->dst + (size_t)begin * j->bb, j->src + begin * j->be, end - begin);
}

wanc_err wanc_quantize(void *dst, wanc_dtype dt, const float *src, int64_t n)
{
    int64_t be = wanc_dtype_block_elems(dt);
    if (n < 0 || be <= 1 || n % be)
        WANC_FAIL(WANC_EINVAL, "quantize: %lld values are not a whole number of %s blocks", (long long)n,
                  wanc_dtype_name(dt));
    quant_fn fn;
    switch (dt) {
    case WANC_Q8_0: fn = quant_q8_0; break;
    case WANC_Q4_0: fn = quant_q4_0; break;
    case WANC_Q4_1: fn = quant_q4_1; break;
    case WANC_Q5_0: fn = quant_q5_0; break;
    case WANC_Q5_1: fn = quant_q5_1; break;
    case WANC_Q4_K: fn = quant_q4_k; break;
    case WANC_Q5_K: fn = quant_q5_k; break;
    case WANC_Q6_K: fn = quant_q6_k; break;
    default: WANC_FAIL(WANC_EUNSUPPORTED, "quantize: no encoder for %s (Q8_0, Q6_K, Q5_K, Q5_0/1, Q4_K, Q4_0/1)", wanc_dtype_name(dt));
    }
    /* blocks are encoded independently: spread them over the pool (a 14B
     * DiT's K-quant search is ~30 CPU-minutes on one core) */
    quant_job j = {fn, dst, src, be, wanc_dtype_block_bytes(dt)};
    wanc_parallel_for(n / be, 1024, quant_range, &j);
    return NULL;
}
