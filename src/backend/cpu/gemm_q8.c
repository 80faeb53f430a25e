/* int8 dot products for GGUF Q8_0 weights, as llama.cpp computes them.
 *
 * A Q8_0 weight row is blocks of 32 signed bytes q_w with one half-float
 * scale d_w. Instead of decoding the weight to float32 for sgemm, each
 * activation row is quantized the same way (per 32 values: d_x = max|x| /
 * 127, q_x = x / d_x rounded to nearest-even, so |q_x| <= 127; d_x kept in
 * float32, where ggml rounds it to half) and a product is
 *
 *     y[m, n] = Σ_blocks (d_x · d_w) · Σ_32 q_x · q_w
 *
 * with the inner 32-term dot product exact in int32 and the outer sum in
 * float32 (the scale product rounded once, then one fused multiply-add per
 * block into per-lane accumulators, lanes summed at the end in a fixed
 * order). The result differs from the dequantized float path by the
 * activation quantization error (about |x|·|w| / 254 per block at worst,
 * typically 1e-3 relative), not by the weights: that path stays the
 * reference for the fixtures.
 *
 * Kernels (cpu_int8_get picks the best one the CPU and the current path
 * allow; all compiled with target attributes, the build stays x86-64-v3):
 *   avx512vnni  zmm vpdpbusd, two blocks per instruction;
 *   avxvnni     ymm vpdpbusd (VEX), one block per instruction;
 *   avx2        vpmaddubsw + vpmaddwd.
 * vpdpbusd multiplies unsigned by signed bytes: the activations are stored
 * as q_x + 128 (unsigned) and each lane's accumulator starts at
 * -128 · Σ q_w of its four weights (kept with the packed weights), so the
 * lane holds Σ q_x · q_w exactly with no per-product sign fix-up.
 * vpmaddubsw saturates its int16 pair sums, so the AVX2 kernel puts the
 * sign on the activation instead: |q_w| (<= 128) times q_x·sign(q_w)
 * (<= 127) stays below 32767 even for a -128 weight.
 *
 * The micro-kernel computes a 4 × 4 tile of y over the whole K; tiles are
 * fixed by the sizes alone, so the bits do not depend on the thread count.
 * The three kernels sum the same exact block products in different lane
 * groupings: they agree within float32 summation error. */
#include <immintrin.h>
#include <math.h>
#include <string.h>

#include "backend/cpu/cpu_internal.h"
#include "core/quant.h"

#define AVX2_TARGET __attribute__((target("avx2,fma")))
#define AVXVNNI_TARGET __attribute__((target("avx2,fma,avxvnni")))
#define AVX512VNNI_TARGET __attribute__((target("avx512f,avx512bw,avx512vl,avx512vnni,fma")))

/* ---- packed layouts -------------------------------------------------------------
 * K is padded to Kp (a multiple of Q8_KSTEP) with zero weights; rows to
 * multiples of 4. Per row of x: Kp bytes of q (q_x + 128 on the VNNI
 * kernels, q_x on AVX2), then Kp/32 · 8 floats: each block's d_x repeated
 * over the 8 int32 lanes of its dot product. Per row of w: Kp bytes of q_w,
 * Kp/32 · 8 floats of d_w, and (VNNI) Kp/32 · 8 int32 lane starts. */

static int64_t padded_k(int64_t K) { return (K + Q8_KSTEP - 1) / Q8_KSTEP * Q8_KSTEP; }
static int64_t x_row_bytes(int64_t Kp) { return Kp + Kp / 32 * 8 * (int64_t)sizeof(float); }
static int64_t w_row_bytes(int64_t Kp) { return Kp + 2 * (Kp / 32 * 8 * (int64_t)sizeof(float)); }

size_t cpu_q8_x_pack_bytes(int64_t m, int64_t K)
{
    return (size_t)((m + Q8_MR - 1) / Q8_MR * Q8_MR) * (size_t)x_row_bytes(padded_k(K));
}

size_t cpu_q8_w_pack_bytes(int64_t n, int64_t K)
{
    return (size_t)((n + Q8_NR - 1) / Q8_NR * Q8_NR) * (size_t)w_row_bytes(padded_k(K));
}

/* One activation row: q (Kp bytes) and the expanded scales s. */
AVX2_TARGET static void quantize_x_row(uint8_t *q, float *s, const float *x, int64_t K, int64_t Kp, int offset)
{
    const __m256 absmask = _mm256_castsi256_ps(_mm256_set1_epi32(0x7fffffff));
    const __m256i order = _mm256_setr_epi32(0, 4, 1, 5, 2, 6, 3, 7);
    const __m256i flip = _mm256_set1_epi8(offset ? (char)0x80 : 0);
    int64_t b = 0;
    for (; b < K / 32; b++) {
        __m256 v[4], m = _mm256_setzero_ps(), bad = _mm256_setzero_ps();
        for (int i = 0; i < 4; i++) {
            v[i] = _mm256_loadu_ps(x + b * 32 + i * 8);
            m = _mm256_max_ps(m, _mm256_and_ps(v[i], absmask));
            bad = _mm256_add_ps(bad, _mm256_sub_ps(v[i], v[i])); /* NaN when a value is not finite */
        }
        m = _mm256_max_ps(m, _mm256_permute2f128_ps(m, m, 1));
        m = _mm256_max_ps(m, _mm256_shuffle_ps(m, m, 0x4e));
        m = _mm256_max_ps(m, _mm256_shuffle_ps(m, m, 0xb1));
        float amax = _mm256_cvtss_f32(m), d = amax / 127.0f, id = d != 0.0f ? 1.0f / d : 0.0f;
        if (_mm256_movemask_ps(_mm256_cmp_ps(bad, bad, _CMP_UNORD_Q))) d = NAN, id = 0.0f; /* y becomes NaN */
        const __m256 vid = _mm256_set1_ps(id);
        __m256i i0 = _mm256_cvtps_epi32(_mm256_mul_ps(v[0], vid)), i1 = _mm256_cvtps_epi32(_mm256_mul_ps(v[1], vid));
        __m256i i2 = _mm256_cvtps_epi32(_mm256_mul_ps(v[2], vid)), i3 = _mm256_cvtps_epi32(_mm256_mul_ps(v[3], vid));
        __m256i p = _mm256_packs_epi16(_mm256_packs_epi32(i0, i1), _mm256_packs_epi32(i2, i3));
        p = _mm256_permutevar8x32_epi32(p, order);
        _mm256_storeu_si256((__m256i *)(q + b * 32), _mm256_xor_si256(p, flip));
        _mm256_storeu_ps(s + b * 8, _mm256_set1_ps(d));
    }
    for (; b < Kp / 32; b++) { /* padding: a zero block */
        memset(q + b * 32, offset ? 0x80 : 0, 32);
        _mm256_storeu_ps(s + b * 8, _mm256_setzero_ps());
    }
}

void cpu_q8_pack_x(void *dst, const float *x, int64_t ldx, int64_t m, int64_t K, cpu_int8 kern)
{
    const int64_t Kp = padded_k(K), rb = x_row_bytes(Kp), mp = (m + Q8_MR - 1) / Q8_MR * Q8_MR;
    const int offset = kern != CPU_INT8_AVX2;
    for (int64_t r = 0; r < mp; r++) {
        uint8_t *q = (uint8_t *)dst + r * rb;
        float *s = (float *)(q + Kp);
        if (r < m) {
            quantize_x_row(q, s, x + r * ldx, K, Kp, offset);
        } else {
            memset(q, offset ? 0x80 : 0, (size_t)Kp);
            memset(s, 0, (size_t)(Kp / 32 * 8) * sizeof(float));
        }
    }
}

void cpu_q8_pack_w(void *dst, const uint8_t *w, int64_t n, int64_t K)
{
    const int64_t Kp = padded_k(K), rb = w_row_bytes(Kp), np = (n + Q8_NR - 1) / Q8_NR * Q8_NR;
    const int64_t nb = K / 32, row_in = nb * 34;
    for (int64_t r = 0; r < np; r++) {
        int8_t *q = (int8_t *)((uint8_t *)dst + r * rb);
        float *s = (float *)((uint8_t *)q + Kp);
        int32_t *start = (int32_t *)(s + Kp / 32 * 8);
        memset(q, 0, (size_t)Kp);
        memset(s, 0, (size_t)(Kp / 32 * 8) * sizeof(float));
        memset(start, 0, (size_t)(Kp / 32 * 8) * sizeof(int32_t));
        if (r >= n) continue;
        const uint8_t *in = w + r * row_in;
        for (int64_t b = 0; b < nb; b++, in += 34) {
            float d = wanc_half_bits_to_f32((uint16_t)(in[0] | in[1] << 8));
            memcpy(q + b * 32, in + 2, 32);
            for (int l = 0; l < 8; l++) {
                const int8_t *g = q + b * 32 + 4 * l;
                s[b * 8 + l] = d;
                start[b * 8 + l] = -128 * (g[0] + g[1] + g[2] + g[3]);
            }
        }
    }
}

/* ---- micro-kernels: c[4][4] = the tile's dot products over Kp ------------------ */

typedef struct {
    const uint8_t *x, *w; /* the tile's first packed rows */
    int64_t xrow, wrow;   /* packed row strides in bytes */
    int64_t Kp;
} q8_tile;

static inline const float *x_scales(const q8_tile *t, int r) { return (const float *)(t->x + r * t->xrow + t->Kp); }
static inline const float *w_scales(const q8_tile *t, int c) { return (const float *)(t->w + c * t->wrow + t->Kp); }
static inline const int32_t *w_starts(const q8_tile *t, int c)
{
    return (const int32_t *)(w_scales(t, c) + t->Kp / 32 * 8);
}

AVX512VNNI_TARGET static void tile_avx512vnni(float c[Q8_MR][Q8_NR], const q8_tile *t)
{
    __m512 acc[Q8_MR][Q8_NR];
#pragma GCC unroll 4
    for (int r = 0; r < Q8_MR; r++)
#pragma GCC unroll 4
        for (int j = 0; j < Q8_NR; j++) acc[r][j] = _mm512_setzero_ps();
    for (int64_t k = 0; k < t->Kp; k += 64) {
        __m512i xq[Q8_MR];
        __m512 xs[Q8_MR];
#pragma GCC unroll 4
        for (int r = 0; r < Q8_MR; r++) {
            xq[r] = _mm512_loadu_si512(t->x + r * t->xrow + k);
            xs[r] = _mm512_loadu_ps(x_scales(t, r) + k / 4);
        }
#pragma GCC unroll 4
        for (int j = 0; j < Q8_NR; j++) {
            __m512i wq = _mm512_loadu_si512(t->w + j * t->wrow + k);
            __m512 ws = _mm512_loadu_ps(w_scales(t, j) + k / 4);
            __m512i w0 = _mm512_loadu_si512(w_starts(t, j) + k / 4);
#pragma GCC unroll 4
            for (int r = 0; r < Q8_MR; r++) {
                __m512i dot = _mm512_dpbusd_epi32(w0, xq[r], wq);
                acc[r][j] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(dot), _mm512_mul_ps(xs[r], ws), acc[r][j]);
            }
        }
    }
    for (int r = 0; r < Q8_MR; r++)
        for (int j = 0; j < Q8_NR; j++) {
            __m256 h = _mm256_add_ps(_mm512_castps512_ps256(acc[r][j]),
                                     _mm256_castpd_ps(_mm512_extractf64x4_pd(_mm512_castps_pd(acc[r][j]), 1)));
            __m128 q = _mm_add_ps(_mm256_castps256_ps128(h), _mm256_extractf128_ps(h, 1));
            q = _mm_add_ps(q, _mm_movehl_ps(q, q));
            q = _mm_add_ss(q, _mm_movehdup_ps(q));
            c[r][j] = _mm_cvtss_f32(q);
        }
}

AVX2_TARGET static float hsum256(__m256 v)
{
    __m128 q = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    q = _mm_add_ps(q, _mm_movehl_ps(q, q));
    q = _mm_add_ss(q, _mm_movehdup_ps(q));
    return _mm_cvtss_f32(q);
}

/* The 256-bit kernels have 16 registers (VEX): the 4 × 4 tile as two 4 × 2
 * halves. They differ only in the block dot product DOT(w0, wq, xq) (w0:
 * the lane starts, wq: the weight bytes, xq: the activation bytes), so one
 * macro writes both. */
#define Q8_TILE256(name, target, DOT)                                                                          \
    target static void name(float c[Q8_MR][Q8_NR], const q8_tile *t)                                           \
    {                                                                                                          \
        for (int j0 = 0; j0 < Q8_NR; j0 += 2) {                                                                \
            __m256 acc[Q8_MR][2];                                                                              \
            _Pragma("GCC unroll 4") for (int r = 0; r < Q8_MR; r++) acc[r][0] = acc[r][1] = _mm256_setzero_ps(); \
            for (int64_t k = 0; k < t->Kp; k += 32) {                                                          \
                __m256i xq[Q8_MR];                                                                             \
                _Pragma("GCC unroll 4") for (int r = 0; r < Q8_MR; r++) xq[r] =                                \
                    _mm256_loadu_si256((const __m256i *)(t->x + r * t->xrow + k));                             \
                _Pragma("GCC unroll 2") for (int j = 0; j < 2; j++)                                            \
                {                                                                                              \
                    __m256i wq = _mm256_loadu_si256((const __m256i *)(t->w + (j0 + j) * t->wrow + k));         \
                    __m256 ws = _mm256_loadu_ps(w_scales(t, j0 + j) + k / 4);                                  \
                    __m256i w0 = _mm256_loadu_si256((const __m256i *)(w_starts(t, j0 + j) + k / 4));           \
                    (void)w0;                                                                                  \
                    _Pragma("GCC unroll 4") for (int r = 0; r < Q8_MR; r++)                                    \
                    {                                                                                          \
                        __m256i dot = DOT(w0, wq, xq[r]);                                                      \
                        __m256 sx = _mm256_loadu_ps(x_scales(t, r) + k / 4);                                   \
                        acc[r][j] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(dot), _mm256_mul_ps(sx, ws), acc[r][j]); \
                    }                                                                                          \
                }                                                                                              \
            }                                                                                                  \
            for (int r = 0; r < Q8_MR; r++) {                                                                  \
                c[r][j0] = hsum256(acc[r][0]);                                                                 \
                c[r][j0 + 1] = hsum256(acc[r][1]);                                                             \
            }                                                                                                  \
        }                                                                                                      \
    }

/* unsigned activation bytes (q_x + 128) · signed weights, from the lane starts */
#define DOT_AVXVNNI(w0, wq, xq) _mm256_dpbusd_avx_epi32(w0, xq, wq)
/* |q_w| (-128 → 128 as unsigned) · q_x·sign(q_w): int16 pair sums below 32767, then int32 */
#define DOT_AVX2(w0, wq, xq) \
    _mm256_madd_epi16(_mm256_maddubs_epi16(_mm256_abs_epi8(wq), _mm256_sign_epi8(xq, wq)), _mm256_set1_epi16(1))

Q8_TILE256(tile_avxvnni, AVXVNNI_TARGET, DOT_AVXVNNI)
Q8_TILE256(tile_avx2, AVX2_TARGET, DOT_AVX2)

void cpu_q8_gemm_block(float *c, int64_t ldc, const void *xp, const void *wp, int64_t m, int64_t n, int64_t K,
                       const float *bias, cpu_int8 kern)
{
    const int64_t Kp = padded_k(K);
    q8_tile t = {.xrow = x_row_bytes(Kp), .wrow = w_row_bytes(Kp), .Kp = Kp};
    float tile[Q8_MR][Q8_NR];
    /* n-tiles outer: a tile of packed weights (4 rows) stays in L1/L2 while
     * the block's activations stream past it */
    for (int64_t j0 = 0; j0 < n; j0 += Q8_NR) {
        t.w = (const uint8_t *)wp + j0 * t.wrow;
        for (int64_t r0 = 0; r0 < m; r0 += Q8_MR) {
            t.x = (const uint8_t *)xp + r0 * t.xrow;
            if (kern == CPU_INT8_AVX512VNNI) tile_avx512vnni(tile, &t);
            else if (kern == CPU_INT8_AVXVNNI) tile_avxvnni(tile, &t);
            else tile_avx2(tile, &t);
            for (int r = 0; r < Q8_MR && r0 + r < m; r++)
                for (int j = 0; j < Q8_NR && j0 + j < n; j++)
                    c[(r0 + r) * ldc + j0 + j] = bias ? tile[r][j] + bias[j0 + j] : tile[r][j];
        }
    }
}
