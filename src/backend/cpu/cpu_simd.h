/* Small vector helpers shared by the CPU ops (AVX2/FMA when the build
 * targets it, plain C otherwise; both compute the same formulas).
 *
 * cpu_expf_approx: Cephes-style exp, range reduction by ln 2 and a degree-5
 * polynomial; about 2 ulp over the range, exp(0) = 1 exactly, and inputs
 * below ln(FLT_MIN) give exactly 0 (as expf's underflow does for the
 * masked logits of attention). Inputs above 88.37 give +inf. */
#ifndef WANC_BACKEND_CPU_SIMD_H
#define WANC_BACKEND_CPU_SIMD_H

#include <math.h>
#include <stdint.h>
#include <string.h>

#if defined(__AVX2__) && defined(__FMA__)
#include <immintrin.h>
#define CPU_HAVE_AVX2 1
#endif

#define CPU_EXP_LO (-87.33654f) /* ln(FLT_MIN) */
#define CPU_EXP_HI 88.3762626647949f

static inline float cpu_expf_scalar(float x)
{
    if (x != x) return x; /* NaN */
    if (x < CPU_EXP_LO) return 0.0f;
    if (x > CPU_EXP_HI) return INFINITY;
    float fx = floorf(x * 1.44269504088896341f + 0.5f);
    float r = x - fx * 0.693359375f + fx * 2.12194440e-4f;
    float r2 = r * r;
    float y = 1.9875691500E-4f;
    y = y * r + 1.3981999507E-3f;
    y = y * r + 8.3334519073E-3f;
    y = y * r + 4.1665795894E-2f;
    y = y * r + 1.6666665459E-1f;
    y = y * r + 5.0000001201E-1f;
    y = y * r2 + r + 1.0f;
    int32_t e = ((int32_t)fx + 127) << 23;
    float scale;
    memcpy(&scale, &e, sizeof scale);
    return y * scale;
}

#ifdef CPU_HAVE_AVX2
static inline __m256 cpu_expf_avx2(__m256 x)
{
    __m256 under = _mm256_cmp_ps(x, _mm256_set1_ps(CPU_EXP_LO), _CMP_LT_OQ);
    __m256 over = _mm256_cmp_ps(x, _mm256_set1_ps(CPU_EXP_HI), _CMP_GT_OQ);
    __m256 xc = _mm256_max_ps(_mm256_min_ps(x, _mm256_set1_ps(CPU_EXP_HI)), _mm256_set1_ps(CPU_EXP_LO));
    __m256 fx = _mm256_floor_ps(_mm256_fmadd_ps(xc, _mm256_set1_ps(1.44269504088896341f), _mm256_set1_ps(0.5f)));
    __m256 r = _mm256_fnmadd_ps(fx, _mm256_set1_ps(0.693359375f), xc);
    r = _mm256_fmadd_ps(fx, _mm256_set1_ps(2.12194440e-4f), r);
    __m256 r2 = _mm256_mul_ps(r, r);
    __m256 y = _mm256_set1_ps(1.9875691500E-4f);
    y = _mm256_fmadd_ps(y, r, _mm256_set1_ps(1.3981999507E-3f));
    y = _mm256_fmadd_ps(y, r, _mm256_set1_ps(8.3334519073E-3f));
    y = _mm256_fmadd_ps(y, r, _mm256_set1_ps(4.1665795894E-2f));
    y = _mm256_fmadd_ps(y, r, _mm256_set1_ps(1.6666665459E-1f));
    y = _mm256_fmadd_ps(y, r, _mm256_set1_ps(5.0000001201E-1f));
    y = _mm256_fmadd_ps(y, r2, _mm256_add_ps(r, _mm256_set1_ps(1.0f)));
    __m256i e = _mm256_slli_epi32(_mm256_add_epi32(_mm256_cvtps_epi32(fx), _mm256_set1_epi32(127)), 23);
    y = _mm256_mul_ps(y, _mm256_castsi256_ps(e));
    y = _mm256_andnot_ps(under, y);
    return _mm256_blendv_ps(y, _mm256_set1_ps(INFINITY), over);
}
#endif

/* tanh through exp: sign(u)·(1 - 2/(exp(2|u|) + 1)). Absolute error about
 * 1e-7 (a unit of 1.0's last place), which is what matters where it is used
 * (GELU's 1 + tanh); ±1 beyond |u| ≈ 44. */
static inline float cpu_tanhf_scalar(float u)
{
    float a = fabsf(u), e = cpu_expf_scalar(2.0f * a);
    float t = 1.0f - 2.0f / (e + 1.0f);
    return u < 0 ? -t : t;
}

/* erf as PyTorch's vectorised CPU kernel computes it (Abramowitz & Stegun
 * 7.1.26): t = 1/(1 + p|x|), erf = sign(x)·(1 - poly(t)·t·exp(-x²)). */
#define CPU_ERF_P 0.3275911f
#define CPU_ERF_A1 0.254829592f
#define CPU_ERF_A2 (-0.284496736f)
#define CPU_ERF_A3 1.421413741f
#define CPU_ERF_A4 (-1.453152027f)
#define CPU_ERF_A5 1.061405429f
static inline float cpu_erff_scalar(float x)
{
    float a = fabsf(x), t = 1.0f / (CPU_ERF_P * a + 1.0f);
    float r = CPU_ERF_A5;
    r = r * t + CPU_ERF_A4;
    r = r * t + CPU_ERF_A3;
    r = r * t + CPU_ERF_A2;
    r = r * t + CPU_ERF_A1;
    r = r * t;
    float e = cpu_expf_scalar(-a * a);
    float y = 1.0f - r * e;
    return x < 0 ? -y : y;
}

#ifdef CPU_HAVE_AVX2
static inline __m256 cpu_tanhf_avx2(__m256 u)
{
    const __m256 sign = _mm256_set1_ps(-0.0f), one = _mm256_set1_ps(1.0f);
    __m256 a = _mm256_andnot_ps(sign, u);
    __m256 e = cpu_expf_avx2(_mm256_add_ps(a, a));
    __m256 t = _mm256_sub_ps(one, _mm256_div_ps(_mm256_set1_ps(2.0f), _mm256_add_ps(e, one)));
    return _mm256_or_ps(t, _mm256_and_ps(sign, u));
}

static inline __m256 cpu_erff_avx2(__m256 x)
{
    const __m256 sign = _mm256_set1_ps(-0.0f), one = _mm256_set1_ps(1.0f);
    __m256 a = _mm256_andnot_ps(sign, x);
    __m256 t = _mm256_div_ps(one, _mm256_fmadd_ps(_mm256_set1_ps(CPU_ERF_P), a, one));
    __m256 r = _mm256_set1_ps(CPU_ERF_A5);
    r = _mm256_fmadd_ps(r, t, _mm256_set1_ps(CPU_ERF_A4));
    r = _mm256_fmadd_ps(r, t, _mm256_set1_ps(CPU_ERF_A3));
    r = _mm256_fmadd_ps(r, t, _mm256_set1_ps(CPU_ERF_A2));
    r = _mm256_fmadd_ps(r, t, _mm256_set1_ps(CPU_ERF_A1));
    r = _mm256_mul_ps(r, t);
    __m256 e = cpu_expf_avx2(_mm256_sub_ps(_mm256_setzero_ps(), _mm256_mul_ps(a, a)));
    __m256 y = _mm256_fnmadd_ps(r, e, one);
    return _mm256_or_ps(y, _mm256_and_ps(sign, x));
}
#endif

/* s[i] = exp(s[i] - m) for i < n; returns the sum of the new s (fixed order). */
static inline float cpu_exp_sub_sum(float *s, int64_t n, float m)
{
    int64_t i = 0;
    float total = 0;
#ifdef CPU_HAVE_AVX2
    __m256 acc = _mm256_setzero_ps(), vm = _mm256_set1_ps(m);
    for (; i + 8 <= n; i += 8) {
        __m256 e = cpu_expf_avx2(_mm256_sub_ps(_mm256_loadu_ps(s + i), vm));
        _mm256_storeu_ps(s + i, e);
        acc = _mm256_add_ps(acc, e);
    }
    if (i < n) { /* the tail through the same vector code */
        float tmp[8] = {0};
        memcpy(tmp, s + i, sizeof(float) * (size_t)(n - i));
        __m256 e = cpu_expf_avx2(_mm256_sub_ps(_mm256_loadu_ps(tmp), vm));
        _mm256_storeu_ps(tmp, e);
        memcpy(s + i, tmp, sizeof(float) * (size_t)(n - i));
        for (int64_t k = 0; k < n - i; k++) total += tmp[k];
        i = n;
    }
    float lanes[8];
    _mm256_storeu_ps(lanes, acc);
    total += ((lanes[0] + lanes[1]) + (lanes[2] + lanes[3])) + ((lanes[4] + lanes[5]) + (lanes[6] + lanes[7]));
#endif
    for (; i < n; i++) {
        s[i] = cpu_expf_scalar(s[i] - m);
        total += s[i];
    }
    return total;
}

/* Row statistics in double, in one fixed order for a given n:
 * sum(x), sum((x - mean)²), sum(x²). */
static inline double cpu_sum_f64(const float *x, int64_t n, double center, int squares)
{
    int64_t i = 0;
    double total = 0;
#ifdef CPU_HAVE_AVX2
    __m256d a0 = _mm256_setzero_pd(), a1 = _mm256_setzero_pd(), c = _mm256_set1_pd(center);
    for (; i + 8 <= n; i += 8) {
        __m256d lo = _mm256_sub_pd(_mm256_cvtps_pd(_mm_loadu_ps(x + i)), c);
        __m256d hi = _mm256_sub_pd(_mm256_cvtps_pd(_mm_loadu_ps(x + i + 4)), c);
        if (squares) {
            lo = _mm256_mul_pd(lo, lo);
            hi = _mm256_mul_pd(hi, hi);
        }
        a0 = _mm256_add_pd(a0, lo);
        a1 = _mm256_add_pd(a1, hi);
    }
    double lanes[4];
    _mm256_storeu_pd(lanes, _mm256_add_pd(a0, a1));
    total = (lanes[0] + lanes[1]) + (lanes[2] + lanes[3]);
#endif
    for (; i < n; i++) {
        double d = (double)x[i] - center;
        total += squares ? d * d : d;
    }
    return total;
}

/* max(m0, s[0..n)) */
static inline float cpu_max(const float *s, int64_t n, float m0)
{
    int64_t i = 0;
    float m = m0;
#ifdef CPU_HAVE_AVX2
    if (n >= 8) {
        __m256 vm = _mm256_set1_ps(m0);
        for (; i + 8 <= n; i += 8) vm = _mm256_max_ps(vm, _mm256_loadu_ps(s + i));
        float lanes[8];
        _mm256_storeu_ps(lanes, vm);
        for (int k = 0; k < 8; k++) m = lanes[k] > m ? lanes[k] : m;
    }
#endif
    for (; i < n; i++) m = s[i] > m ? s[i] : m;
    return m;
}

#endif
