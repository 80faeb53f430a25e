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
