/* The AVX-512 BF16 GEMM: packed micro-kernels on vdpbf16ps.
 *
 * vdpbf16ps multiplies pairs of bf16 values and adds both products into a
 * float32 lane: every product of two bf16 numbers is exact in float32 (8-bit
 * by 8-bit significands), so when both operands of a GEMM hold values that
 * are exactly bf16 — the weights of a bf16 checkpoint, and in bf16 compute
 * mode the activations, which every op has already rounded to bf16 — this
 * computes the same float32 GEMM as sgemm would, in another summation order
 * (fixed by the sizes alone), at twice sgemm's rate. (vdpbf16ps flushes
 * denormal inputs and results to zero: values below 1.2e-38.) The callers
 * check the operands are bf16-exact while packing them and take the float32
 * path otherwise, so the numerics stay PyTorch's: float32 accumulation, and
 * each op's one rounding to bf16 stays where the models already do it.
 *
 * Layout (as GotoBLAS, ggml's and llamafile's kernels): the micro-kernel
 * keeps a 12 × 32 block of C in 24 zmm accumulators; per step it loads
 * one pair-row of B (32 columns × a k pair, two zmm) and broadcasts a k pair
 * of each of the 12 rows of A. Packed A panels are [kc2][12] pairs, packed
 * B panels [K2][32] pairs (a pair: low half the even k).
 *
 * Everything here is compiled for AVX-512 BF16 with target attributes (the
 * rest of the build stays x86-64-v3) and runs only when cpu_isa_get() says
 * CPU_ISA_AVX512BF16. */
#include <immintrin.h>
#include <string.h>

#include "backend/cpu/cpu_internal.h"

#define BF16_TARGET __attribute__((target("avx512f,avx512bw,avx512vl,avx512dq,avx512bf16")))

/* ---- packing ------------------------------------------------------------------ */

/* Rows [0, n) of a matrix (element (j, k) at src[j·ld + k·cs], K columns)
 * as panels of `width` rows: [ceil(n/width)][K2][width] pairs, zero padded.
 * src holds bf16 bits, or (f32) float32 values that are exactly bf16. */
static void pack_panels(uint32_t *dst, const void *src, int f32, int64_t ld, int64_t cs, int64_t n, int64_t K,
                        int64_t width)
{
    const int64_t K2 = (K + 1) / 2, panels = (n + width - 1) / width;
    const uint16_t *s16 = src;
    const uint32_t *s32 = src; /* float32 bits */
    for (int64_t p = 0; p < panels; p++) {
        uint32_t *d = dst + p * K2 * width;
        for (int64_t jj = 0; jj < width; jj++) {
            int64_t j = p * width + jj;
            for (int64_t k2 = 0; k2 < K2; k2++) {
                uint32_t lo = 0, hi = 0;
                if (j < n) {
                    int64_t a = j * ld + 2 * k2 * cs, b = a + cs;
                    lo = f32 ? s32[a] >> 16 : s16[a];
                    if (2 * k2 + 1 < K) hi = f32 ? s32[b] >> 16 : s16[b];
                }
                d[k2 * width + jj] = lo | hi << 16;
            }
        }
    }
}

void cpu_bf16_pack_b(uint32_t *dst, const uint16_t *w, int64_t ldw, int64_t n, int64_t K)
{
    pack_panels(dst, w, 0, ldw, 1, n, K, BF16_NR);
}

void cpu_bf16_pack_b_f32(uint32_t *dst, const float *x, int64_t ldx, int64_t n, int64_t K)
{
    pack_panels(dst, x, 1, ldx, 1, n, K, BF16_NR);
}

void cpu_bf16_pack_b_f32_strided(uint32_t *dst, const float *x, int64_t ld, int64_t cs, int64_t n, int64_t K)
{
    pack_panels(dst, x, 1, ld, cs, n, K, BF16_NR);
}

void cpu_bf16_pack_a_bf16(uint32_t *dst, const uint16_t *a, int64_t ld, int64_t cs, int64_t m, int64_t K)
{
    pack_panels(dst, a, 0, ld, cs, m, K, BF16_MR);
}

int cpu_bf16_exact(const float *x, int64_t n)
{
    const uint32_t *u = (const uint32_t *)(const void *)x;
    uint32_t low = 0;
    for (int64_t i = 0; i < n; i++) low |= u[i] & 0xffffu;
    return low == 0;
}

/* 16 float32 (8 pairs) → their 16 high halves, in order: 8 pairs of bf16
 * bits. *bad collects the low halves. */
BF16_TARGET static inline __m256i pairs8(const float *src, __m512i *bad)
{
    __m512i v = _mm512_loadu_si512(src);
    *bad = _mm512_or_si512(*bad, v);
    return _mm512_cvtepi32_epi16(_mm512_srli_epi32(v, 16));
}

BF16_TARGET int cpu_bf16_pack_a(uint32_t *dst, const float *x, int64_t ldx, int64_t m, int64_t k0, int64_t kc,
                                int64_t K)
{
    (void)K;
    const int64_t kc2 = (kc + 1) / 2, panels = (m + BF16_MR - 1) / BF16_MR;
    __m512i bad = _mm512_setzero_si512();
    uint32_t bad_tail = 0;
    uint32_t tmp[8];
    for (int64_t p = 0; p < panels; p++) {
        uint32_t *d = dst + p * kc2 * BF16_MR;
        for (int64_t ii = 0; ii < BF16_MR; ii++) {
            int64_t i = p * BF16_MR + ii;
            if (i >= m) {
                for (int64_t k2 = 0; k2 < kc2; k2++) d[k2 * BF16_MR + ii] = 0;
                continue;
            }
            const float *r = x + i * ldx + k0;
            int64_t k2 = 0;
            for (; 2 * (k2 + 8) <= kc; k2 += 8) {
                _mm256_storeu_si256((__m256i *)tmp, pairs8(r + 2 * k2, &bad));
                for (int t = 0; t < 8; t++) d[(k2 + t) * BF16_MR + ii] = tmp[t];
            }
            for (; k2 < kc2; k2++) {
                uint32_t lo, hi = 0;
                memcpy(&lo, r + 2 * k2, 4);
                if (2 * k2 + 1 < kc) memcpy(&hi, r + 2 * k2 + 1, 4);
                bad_tail |= (lo | hi) & 0xffffu;
                d[k2 * BF16_MR + ii] = lo >> 16 | (hi & 0xffff0000u);
            }
        }
    }
    return !bad_tail && !_mm512_test_epi32_mask(bad, _mm512_set1_epi32(0xffff));
}

/* ---- the micro-kernel ------------------------------------------------------------ */

#define ROWS(X) X(0) X(1) X(2) X(3) X(4) X(5) X(6) X(7) X(8) X(9) X(10) X(11)

BF16_TARGET static void kernel_12x32(float *c, int64_t ldc, const uint32_t *a, const uint32_t *b, int64_t ldb,
                                     int64_t kc2, int m, int n, int accumulate, const float *bias)
{
    const __mmask16 ma = n >= 16 ? 0xffff : (__mmask16)((1u << n) - 1);
    const __mmask16 mb = n >= 32 ? 0xffff : n > 16 ? (__mmask16)((1u << (n - 16)) - 1) : 0;
#define DECL(i)                                                                                                        \
    __m512 c##i##a = _mm512_setzero_ps(), c##i##b = _mm512_setzero_ps();                                               \
    if (accumulate && (i) < m) {                                                                                       \
        c##i##a = _mm512_maskz_loadu_ps(ma, c + (i) * ldc);                                                            \
        c##i##b = _mm512_maskz_loadu_ps(mb, c + (i) * ldc + 16);                                                       \
    }
    ROWS(DECL)
#undef DECL
    for (int64_t k = 0; k < kc2; k++) {
        const __m512bh b0 = (__m512bh)_mm512_maskz_loadu_epi32(ma, b), b1 = (__m512bh)_mm512_maskz_loadu_epi32(mb, b + 16);
#define STEP(i)                                                                                                        \
    {                                                                                                                  \
        const __m512bh ai = (__m512bh)_mm512_set1_epi32((int)a[i]);                                                    \
        c##i##a = _mm512_dpbf16_ps(c##i##a, ai, b0);                                                                   \
        c##i##b = _mm512_dpbf16_ps(c##i##b, ai, b1);                                                                   \
    }
        ROWS(STEP)
#undef STEP
        a += BF16_MR;
        b += ldb;
    }
    __m512 bias_a = _mm512_setzero_ps(), bias_b = _mm512_setzero_ps();
    if (bias) {
        bias_a = _mm512_maskz_loadu_ps(ma, bias);
        bias_b = _mm512_maskz_loadu_ps(mb, bias + 16);
    }
#define STORE(i)                                                                                                       \
    if ((i) < m) {                                                                                                     \
        if (bias) {                                                                                                    \
            c##i##a = _mm512_add_ps(c##i##a, bias_a);                                                                  \
            c##i##b = _mm512_add_ps(c##i##b, bias_b);                                                                  \
        }                                                                                                              \
        _mm512_mask_storeu_ps(c + (i) * ldc, ma, c##i##a);                                                             \
        _mm512_mask_storeu_ps(c + (i) * ldc + 16, mb, c##i##b);                                                        \
    }
    ROWS(STORE)
#undef STORE
}

void cpu_bf16_gemm_block(float *c, int64_t ldc, const uint32_t *a, int64_t a_panel, const uint32_t *b, int64_t ldb,
                         int64_t b_panel, int64_t m, int64_t n, int64_t kc2, int accumulate, const float *bias)
{
    for (int64_t j = 0; j < n; j += BF16_NR) {
        int nn = n - j < BF16_NR ? (int)(n - j) : BF16_NR;
        for (int64_t i = 0; i < m; i += BF16_MR)
            kernel_12x32(c + i * ldc + j, ldc, a + (i / BF16_MR) * a_panel, b + (j / BF16_NR) * b_panel, ldb, kc2,
                         m - i < BF16_MR ? (int)(m - i) : BF16_MR, nn, accumulate, bias ? bias + j : NULL);
    }
}
