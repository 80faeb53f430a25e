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
 * block, blocks in order). The result differs from the dequantized float
 * path by the activation quantization error (each q_x off by at most half
 * a step, d_x / 2 = max|x| / 254 in its block), not by the weights: that
 * path stays the reference for the fixtures.
 *
 * Kernels (cpu_int8_get picks the best one the CPU and the current path
 * allow; all compiled with target attributes, the build stays x86-64-v3):
 *   avx512vnni  zmm vpdpbusd: 16 weight rows × 4 values per instruction;
 *   avxvnni     ymm vpdpbusd (VEX): 8 weight rows × 4 values;
 *   avx2        vpmaddubsw + vpmaddwd, 8 rows × 4 values.
 * Weights are packed in panels of 16 rows, each 32-value block as 8 groups
 * of [16 rows][4 values] (as GotoBLAS-style int8 kernels do): one vector
 * of 4 activation values broadcast against a group gives 16 (8) rows'
 * partial dot products in 16 (8) int32 lanes, so a block's dot products end
 * in one vector with no horizontal sums, and the float work (convert, scale
 * product, fused multiply-add) is one vector per 16 rows per block.
 *
 * vpdpbusd multiplies unsigned by signed bytes: the activations are stored
 * as q_x + 128 (unsigned) and each row's int32 accumulator starts at
 * -128 · Σ q_w of its block (kept with the packed weights), so it ends at
 * Σ q_x · q_w exactly, with no per-product sign fix-up. vpmaddubsw
 * saturates its int16 pair sums, so the AVX2 kernel puts the sign on the
 * activation instead: |q_w| (<= 128) times q_x·sign(q_w) (|.| <= 127) stays
 * below 32767, even for a -128 weight.
 *
 * Every kernel computes the same exact block dot products and sums
 * fl(d_x · d_w) · dot over the blocks in order with one fused multiply-add
 * each, so the three kernels give the same bits, at any thread count. */
#include <immintrin.h>
#include <math.h>
#include <string.h>

#include "backend/cpu/cpu_internal.h"

#define AVX2_TARGET __attribute__((target("avx2,fma,f16c")))
#define AVXVNNI_TARGET __attribute__((target("avx2,fma,avxvnni")))
#define AVX512VNNI_TARGET __attribute__((target("avx512f,avx512bw,avx512vl,avx512vnni,fma")))

/* ---- packed layouts -------------------------------------------------------------
 * x: per row (rows padded to Q8_MR), K bytes of q (q_x + 128 for the VNNI
 *    kernels, q_x for AVX2), then K/32 float scales d_x.
 * w: per panel of 16 rows (rows padded to Q8_NR with zeros), per block: 8
 *    groups × [16 rows][4 bytes] of q_w, 16 int32 lane starts (-128 · the
 *    row's Σ q_w over the block), 16 float scales d_w. */
#define PANEL 16
#define BLOCK_BYTES (32 * PANEL + PANEL * 4 + PANEL * 4) /* 640 */

static int64_t x_row_bytes(int64_t K) { return K + K / 32 * (int64_t)sizeof(float); }

size_t cpu_q8_x_pack_bytes(int64_t m, int64_t K)
{
    return (size_t)((m + Q8_MR - 1) / Q8_MR * Q8_MR) * (size_t)x_row_bytes(K);
}

size_t cpu_q8_w_pack_bytes(int64_t n, int64_t K)
{
    return (size_t)((n + Q8_NR - 1) / Q8_NR * Q8_NR / PANEL) * (size_t)(K / 32) * BLOCK_BYTES;
}

/* One activation row: q (K bytes) and the block scales s. */
AVX2_TARGET static void quantize_x_row(uint8_t *q, float *s, const float *x, int64_t K, int offset)
{
    const __m256 absmask = _mm256_castsi256_ps(_mm256_set1_epi32(0x7fffffff));
    const __m256i order = _mm256_setr_epi32(0, 4, 1, 5, 2, 6, 3, 7);
    const __m256i flip = _mm256_set1_epi8(offset ? (char)0x80 : 0);
    for (int64_t b = 0; b < K / 32; b++) {
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
        s[b] = d;
    }
}

void cpu_q8_pack_x(void *dst, const float *x, int64_t ldx, int64_t m, int64_t K, cpu_int8 kern)
{
    const int64_t rb = x_row_bytes(K), mp = (m + Q8_MR - 1) / Q8_MR * Q8_MR;
    const int offset = kern != CPU_INT8_AVX2;
    for (int64_t r = 0; r < mp; r++) {
        uint8_t *q = (uint8_t *)dst + r * rb;
        float *s = (float *)(q + K);
        if (r < m) {
            quantize_x_row(q, s, x + r * ldx, K, offset);
        } else { /* padding rows: zero */
            memset(q, offset ? 0x80 : 0, (size_t)K);
            memset(s, 0, (size_t)(K / 32) * sizeof(float));
        }
    }
}

AVX2_TARGET void cpu_q8_pack_w(void *dst, const uint8_t *w, int64_t n, int64_t K)
{
    const int64_t nb = K / 32, row_in = nb * 34, panels = (n + Q8_NR - 1) / Q8_NR * Q8_NR / PANEL;
    const __m256i flip = _mm256_set1_epi8((char)0x80);
    memset(dst, 0, (size_t)(panels * nb) * BLOCK_BYTES);
    for (int64_t p = 0; p < panels; p++)
        for (int64_t j = 0; j < PANEL && p * PANEL + j < n; j++) {
            const uint8_t *in = w + (p * PANEL + j) * row_in;
            for (int64_t b = 0; b < nb; b++, in += 34) {
                uint8_t *blk = (uint8_t *)dst + (p * nb + b) * BLOCK_BYTES;
                __m256i q = _mm256_loadu_si256((const __m256i *)(in + 2));
                /* Σ q_w: the unsigned sum of q_w + 128 (psadbw), less 32 · 128 */
                __m256i sad = _mm256_sad_epu8(_mm256_xor_si256(q, flip), _mm256_setzero_si256());
                __m128i s2 = _mm_add_epi64(_mm256_castsi256_si128(sad), _mm256_extracti128_si256(sad, 1));
                int32_t sum = (int32_t)(_mm_cvtsi128_si64(s2) + _mm_extract_epi64(s2, 1)) - 32 * 128;
                int32_t groups[8], start = -128 * sum;
                _mm256_storeu_si256((__m256i *)groups, q);
                for (int g = 0; g < 8; g++) memcpy(blk + g * 4 * PANEL + j * 4, &groups[g], 4);
                float d = _cvtsh_ss((uint16_t)(in[0] | in[1] << 8)); /* exact, as F16C converts */
                memcpy(blk + 32 * PANEL + j * 4, &start, 4);
                memcpy(blk + 32 * PANEL + PANEL * 4 + j * 4, &d, 4);
            }
        }
}

/* ---- micro-kernels: c[Q8_MR][Q8_NR] = a tile's dot products over K ----------------- */

typedef struct {
    const uint8_t *x; /* the tile's first packed activation row */
    const uint8_t *w; /* its first panel */
    int64_t xrow;     /* packed activation row stride in bytes */
    int64_t wpanel;   /* packed panel stride in bytes */
    int64_t K;
} q8_tile;

static inline int32_t x_group(const q8_tile *t, int r, int64_t b, int g)
{
    int32_t v;
    memcpy(&v, t->x + r * t->xrow + b * 32 + g * 4, 4);
    return v;
}
static inline float x_scale(const q8_tile *t, int r, int64_t b)
{
    float v;
    memcpy(&v, t->x + r * t->xrow + t->K + b * 4, 4);
    return v;
}
static inline const uint8_t *w_block(const q8_tile *t, int panel, int64_t b)
{
    return t->w + panel * t->wpanel + b * BLOCK_BYTES;
}

#define NPANELS (Q8_NR / PANEL) /* 2 */

AVX512VNNI_TARGET static void tile_avx512vnni(float c[Q8_MR][Q8_NR], const q8_tile *t)
{
    __m512 acc[Q8_MR][NPANELS];
#pragma GCC unroll 4
    for (int r = 0; r < Q8_MR; r++)
#pragma GCC unroll 2
        for (int v = 0; v < NPANELS; v++) acc[r][v] = _mm512_setzero_ps();
    for (int64_t b = 0; b < t->K / 32; b++) {
        __m512i dot[Q8_MR][NPANELS];
#pragma GCC unroll 2
        for (int v = 0; v < NPANELS; v++) {
            __m512i start = _mm512_loadu_si512(w_block(t, v, b) + 32 * PANEL);
#pragma GCC unroll 4
            for (int r = 0; r < Q8_MR; r++) dot[r][v] = start;
        }
#pragma GCC unroll 8
        for (int g = 0; g < 8; g++) {
            __m512i wq[NPANELS];
#pragma GCC unroll 2
            for (int v = 0; v < NPANELS; v++) wq[v] = _mm512_loadu_si512(w_block(t, v, b) + g * 4 * PANEL);
#pragma GCC unroll 4
            for (int r = 0; r < Q8_MR; r++) {
                __m512i xb = _mm512_set1_epi32(x_group(t, r, b, g));
#pragma GCC unroll 2
                for (int v = 0; v < NPANELS; v++) dot[r][v] = _mm512_dpbusd_epi32(dot[r][v], xb, wq[v]);
            }
        }
#pragma GCC unroll 2
        for (int v = 0; v < NPANELS; v++) {
            __m512 ws = _mm512_loadu_ps(w_block(t, v, b) + 32 * PANEL + PANEL * 4);
#pragma GCC unroll 4
            for (int r = 0; r < Q8_MR; r++)
                acc[r][v] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(dot[r][v]),
                                            _mm512_mul_ps(_mm512_set1_ps(x_scale(t, r, b)), ws), acc[r][v]);
        }
    }
    for (int r = 0; r < Q8_MR; r++)
        for (int v = 0; v < NPANELS; v++) _mm512_storeu_ps(&c[r][v * PANEL], acc[r][v]);
}

/* The 256-bit kernels have 16 registers (VEX): a panel is two 8-row halves,
 * the tile is walked as 2 rows × 16 columns at a time. They differ only in
 * the lane start START(p) and the step DOT(acc, xb, wq) (xb: 4 activation
 * bytes broadcast, wq: a group of 8 rows' weight bytes), so one macro
 * writes both. */
#define Q8_TILE256(name, target, START, DOT)                                                                   \
    target static void name(float c[Q8_MR][Q8_NR], const q8_tile *t)                                           \
    {                                                                                                          \
        for (int r0 = 0; r0 < Q8_MR; r0 += 2)                                                                  \
            for (int v = 0; v < NPANELS; v++) {                                                                \
                __m256 acc[2][2];                                                                              \
                acc[0][0] = acc[0][1] = acc[1][0] = acc[1][1] = _mm256_setzero_ps();                           \
                for (int64_t b = 0; b < t->K / 32; b++) {                                                      \
                    const uint8_t *blk = w_block(t, v, b);                                                     \
                    __m256i dot[2][2];                                                                         \
                    _Pragma("GCC unroll 2") for (int h = 0; h < 2; h++) dot[0][h] = dot[1][h] =                \
                        START(blk + 32 * PANEL + h * 32);                                                      \
                    _Pragma("GCC unroll 8") for (int g = 0; g < 8; g++)                                        \
                    {                                                                                          \
                        __m256i wq0 = _mm256_loadu_si256((const __m256i *)(blk + g * 4 * PANEL));              \
                        __m256i wq1 = _mm256_loadu_si256((const __m256i *)(blk + g * 4 * PANEL + 32));         \
                        _Pragma("GCC unroll 2") for (int r = 0; r < 2; r++)                                    \
                        {                                                                                      \
                            __m256i xb = _mm256_set1_epi32(x_group(t, r0 + r, b, g));                          \
                            dot[r][0] = DOT(dot[r][0], xb, wq0);                                               \
                            dot[r][1] = DOT(dot[r][1], xb, wq1);                                               \
                        }                                                                                      \
                    }                                                                                          \
                    _Pragma("GCC unroll 2") for (int h = 0; h < 2; h++)                                        \
                    {                                                                                          \
                        __m256 ws = _mm256_loadu_ps((const float *)(blk + 32 * PANEL + PANEL * 4 + h * 32));   \
                        _Pragma("GCC unroll 2") for (int r = 0; r < 2; r++) acc[r][h] =                        \
                            _mm256_fmadd_ps(_mm256_cvtepi32_ps(dot[r][h]),                                     \
                                            _mm256_mul_ps(_mm256_set1_ps(x_scale(t, r0 + r, b)), ws), acc[r][h]); \
                    }                                                                                          \
                }                                                                                              \
                for (int r = 0; r < 2; r++)                                                                    \
                    for (int h = 0; h < 2; h++) _mm256_storeu_ps(&c[r0 + r][v * PANEL + h * 8], acc[r][h]);    \
            }                                                                                                  \
    }

/* unsigned activation bytes (q_x + 128) · signed weights, from the lane starts */
#define START_VNNI(p) _mm256_loadu_si256((const __m256i *)(p))
#define DOT_AVXVNNI(acc, xb, wq) _mm256_dpbusd_avx_epi32(acc, xb, wq)
/* |q_w| (-128 → 128 as unsigned) · q_x·sign(q_w): int16 pair sums below 32767, then int32 */
#define START_ZERO(p) ((void)(p), _mm256_setzero_si256())
#define DOT_AVX2(acc, xb, wq)                                                                                    \
    _mm256_add_epi32(acc, _mm256_madd_epi16(_mm256_maddubs_epi16(_mm256_abs_epi8(wq), _mm256_sign_epi8(xb, wq)), \
                                            _mm256_set1_epi16(1)))

Q8_TILE256(tile_avxvnni, AVXVNNI_TARGET, START_VNNI, DOT_AVXVNNI)
Q8_TILE256(tile_avx2, AVX2_TARGET, START_ZERO, DOT_AVX2)

void cpu_q8_gemm_block(float *c, int64_t ldc, const void *xp, const void *wp, int64_t m, int64_t n, int64_t K,
                       const float *bias, cpu_int8 kern)
{
    q8_tile t = {.xrow = x_row_bytes(K), .wpanel = K / 32 * BLOCK_BYTES, .K = K};
    float tile[Q8_MR][Q8_NR];
    /* weight tiles outer: a tile's packed weights (32 rows) stay in L1/L2
     * while the block's activations stream past them */
    for (int64_t j0 = 0; j0 < n; j0 += Q8_NR) {
        t.w = (const uint8_t *)wp + j0 / PANEL * t.wpanel;
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
