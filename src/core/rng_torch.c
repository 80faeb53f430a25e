/* Noise identical to PyTorch's CPU generator (see rng_torch.h).
 *
 * Every float operation below is written in the order torch's kernels
 * perform it, one rounding per operation. The file is compiled as ISO C11,
 * where GCC does not contract a*b+c into an FMA, so each product and sum is
 * rounded exactly as written; the single fused multiply-add torch's AVX2
 * kernel does use is written as fmaf.
 */
#include "core/rng_torch.h"

#include <math.h>
#include <string.h>

#define MT_N 624
#define MT_M 397

bool wanc_randn_kernel_parse(const char *name, wanc_randn_kernel *out)
{
    if (!name) return false;
    if (!strcmp(name, "avx2")) *out = WANC_RANDN_AVX2;
    else if (!strcmp(name, "default")) *out = WANC_RANDN_DEFAULT;
    else return false;
    return true;
}

const char *wanc_randn_kernel_name(wanc_randn_kernel k)
{
    return k == WANC_RANDN_DEFAULT ? "default" : "avx2";
}

/* ---- MT19937 ------------------------------------------------------------ */

void wanc_torch_gen_seed(wanc_torch_gen *g, uint64_t seed)
{
    /* torch keeps the 64-bit seed but seeds the twister with its low word. */
    g->mt[0] = (uint32_t)(seed & 0xffffffffu);
    for (int i = 1; i < MT_N; i++) g->mt[i] = 1812433253u * (g->mt[i - 1] ^ (g->mt[i - 1] >> 30)) + (uint32_t)i;
    /* The first draw twists the freshly seeded state. */
    g->left = 1;
    g->next = 0;
    g->has_cached_normal = false;
    g->cached_normal = 0;
}

static inline uint32_t mt_mix(uint32_t u, uint32_t v)
{
    return (u & 0x80000000u) | (v & 0x7fffffffu);
}

static inline uint32_t mt_twist(uint32_t u, uint32_t v)
{
    return (mt_mix(u, v) >> 1) ^ ((v & 1u) ? 0x9908b0dfu : 0u);
}

static void mt_next_state(wanc_torch_gen *g)
{
    uint32_t *s = g->mt;
    int i = 0;
    for (; i < MT_N - MT_M; i++) s[i] = s[i + MT_M] ^ mt_twist(s[i], s[i + 1]);
    for (; i < MT_N - 1; i++) s[i] = s[i + MT_M - MT_N] ^ mt_twist(s[i], s[i + 1]);
    s[MT_N - 1] = s[MT_M - 1] ^ mt_twist(s[MT_N - 1], s[0]);
    g->left = MT_N;
    g->next = 0;
}

uint32_t wanc_torch_gen_u32(wanc_torch_gen *g)
{
    if (--g->left == 0) mt_next_state(g);
    uint32_t y = g->mt[g->next++];
    y ^= y >> 11;
    y ^= (y << 7) & 0x9d2c5680u;
    y ^= (y << 15) & 0xefc60000u;
    y ^= y >> 18;
    return y;
}

uint64_t wanc_torch_gen_u64(wanc_torch_gen *g)
{
    uint64_t hi = wanc_torch_gen_u32(g);
    uint64_t lo = wanc_torch_gen_u32(g);
    return (hi << 32) | lo;
}

/* uniform_real_distribution<float>(0, 1): 24 random bits scaled by 2^-24. */
static inline float uniform_f32(wanc_torch_gen *g)
{
    return (float)(wanc_torch_gen_u32(g) & ((1u << 24) - 1)) * (1.0f / 16777216.0f);
}

/* uniform_real_distribution<double>(0, 1): 53 random bits scaled by 2^-53. */
static inline double uniform_f64(wanc_torch_gen *g)
{
    return (double)(wanc_torch_gen_u64(g) & ((UINT64_C(1) << 53) - 1)) * (1.0 / 9007199254740992.0);
}

/* ---- float bit helpers -------------------------------------------------- */

static inline uint32_t f2u(float f)
{
    uint32_t u;
    memcpy(&u, &f, 4);
    return u;
}

static inline float u2f(uint32_t u)
{
    float f;
    memcpy(&f, &u, 4);
    return f;
}

/* ---- the AVX2 kernel's float polynomials ---------------------------------
 *
 * torch's AVX2 normal kernel uses the Cephes single-precision log and
 * sincos (as adapted to AVX by Pommier and Garberoglio). They are evaluated
 * here lane by lane with the same constants and the same operation order;
 * masks become the same bit operations so signed zeros come out alike. */

static const float CEPHES_SQRTHF = 0.707106781186547524f;
static const float CEPHES_LOG_P[9] = {7.0376836292E-2f,  -1.1514610310E-1f, 1.1676998740E-1f,
                                      -1.2420140846E-1f, +1.4249322787E-1f, -1.6668057665E-1f,
                                      +2.0000714765E-1f, -2.4999993993E-1f, +3.3333331174E-1f};
static const float CEPHES_LOG_Q1 = -2.12194440e-4f;
static const float CEPHES_LOG_Q2 = 0.693359375f;

static const float CEPHES_MINUS_DP1 = -0.78515625f;
static const float CEPHES_MINUS_DP2 = -2.4187564849853515625e-4f;
static const float CEPHES_MINUS_DP3 = -3.77489497744594108e-8f;
static const float CEPHES_SINCOF[3] = {-1.9515295891E-4f, 8.3321608736E-3f, -1.6666654611E-1f};
static const float CEPHES_COSCOF[3] = {2.443315711809948E-005f, -1.388731625493765E-003f, 4.166664568298827E-002f};
static const float CEPHES_FOPI = 1.27323954473516f; /* 4/pi */

/* log(x) for x > 0 (the kernel only sees x in [2^-24, 1]). */
static float cephes_logf(float x)
{
    const float min_norm = u2f(0x00800000u);
    if (!(x > 0)) return u2f(0xffffffffu); /* the kernel ORs an all-ones mask: NaN */
    if (x < min_norm) x = min_norm;         /* max(x, min_norm): no denormals */

    uint32_t bits = f2u(x);
    int32_t exponent = (int32_t)(bits >> 23) - 0x7f;
    /* keep the mantissa, exponent of 0.5: x in [0.5, 1) */
    x = u2f((bits & ~0x7f800000u) | f2u(0.5f));
    float e = (float)exponent;
    e = e + 1.0f;

    /* if x < sqrt(1/2): e -= 1, x = x + x - 1, else x = x - 1 (done with masks) */
    uint32_t mask = x < CEPHES_SQRTHF ? 0xffffffffu : 0u;
    float tmp = u2f(f2u(x) & mask);
    x = x - 1.0f;
    e = e - u2f(f2u(1.0f) & mask);
    x = x + tmp;

    float z = x * x;
    float y = CEPHES_LOG_P[0];
    for (int i = 1; i < 9; i++) y = fmaf(y, x, CEPHES_LOG_P[i]);
    y = y * x;
    y = fmaf(y, z, e * CEPHES_LOG_Q1);
    y = fmaf(-z, 0.5f, y);
    x = x + y;
    x = fmaf(e, CEPHES_LOG_Q2, x);
    return x;
}

/* sin and cos of x at once (accurate for |x| < 8192; the kernel sees [0, 2pi)). */
static void cephes_sincosf(float x, float *s, float *c)
{
    uint32_t sign_sin = f2u(x) & 0x80000000u;
    x = u2f(f2u(x) & 0x7fffffffu);

    /* octant: j = (trunc(x·4/pi) + 1) & ~1 */
    float y = x * CEPHES_FOPI;
    int32_t j = (int32_t)y; /* truncation, as cvttps */
    j = (j + 1) & ~1;
    y = (float)j;

    uint32_t swap_sign_sin = ((uint32_t)j & 4u) << 29;
    uint32_t poly_mask = ((j & 2) == 0) ? 0xffffffffu : 0u;

    /* extended-precision reduction x = ((x - y·DP1) - y·DP2) - y·DP3 */
    x = fmaf(y, CEPHES_MINUS_DP1, x);
    x = fmaf(y, CEPHES_MINUS_DP2, x);
    x = fmaf(y, CEPHES_MINUS_DP3, x);

    uint32_t sign_cos = (~(uint32_t)(j - 2) & 4u) << 29;
    sign_sin ^= swap_sign_sin;

    /* cosine polynomial on [0, pi/4] */
    float z = x * x;
    float yc = fmaf(CEPHES_COSCOF[0], z, CEPHES_COSCOF[1]);
    yc = fmaf(yc, z, CEPHES_COSCOF[2]);
    yc = yc * z;
    yc = fmaf(yc, z, -(z * 0.5f));
    yc = yc + 1.0f;

    /* sine polynomial on [0, pi/4] */
    float ys = fmaf(CEPHES_SINCOF[0], z, CEPHES_SINCOF[1]);
    ys = fmaf(ys, z, CEPHES_SINCOF[2]);
    ys = ys * z;
    ys = fmaf(ys, x, x);

    /* pick per octant, with the kernel's and/andnot/sub/add sequence */
    float ysin2 = u2f(poly_mask & f2u(ys));
    float ysin1 = u2f(~poly_mask & f2u(yc));
    ys = ys - ysin2;
    yc = yc - ysin1;
    float sin_v = ysin1 + ysin2;
    float cos_v = yc + ys;
    *s = u2f(f2u(sin_v) ^ sign_sin);
    *c = u2f(f2u(cos_v) ^ sign_cos);
}

/* ---- the 16-element Box–Muller blocks ----------------------------------- */

/* torch's normal_fill_16_AVX2: data[16] uniforms in [0,1) -> normals. */
static void box_muller16_avx2(float *data)
{
    const float two_pi = (float)(2.0 * M_PI);
    for (int j = 0; j < 8; j++) {
        float u1 = 1.0f - data[j];
        float u2 = data[j + 8];
        float radius = sqrtf(-2.0f * cephes_logf(u1));
        float theta = two_pi * u2;
        float s, c;
        cephes_sincosf(theta, &s, &c);
        float n1 = radius * c, n2 = radius * s;
        /* the kernel stores fma(n, std, mean) with std = 1, mean = 0 */
        data[j] = fmaf(n1, 1.0f, 0.0f);
        data[j + 8] = fmaf(n2, 1.0f, 0.0f);
    }
}

/* torch's scalar normal_fill_16 (libm float log/cos/sin). */
static void box_muller16_default(float *data)
{
    for (int j = 0; j < 8; j++) {
        float u1 = 1.0f - data[j];
        float u2 = data[j + 8];
        float radius = sqrtf(-2.0f * logf(u1));
        /* 2·pi is a double there, so the angle is rounded to float once */
        float theta = (float)(2.0 * M_PI * (double)u2);
        data[j] = radius * cosf(theta) * 1.0f + 0.0f;
        data[j + 8] = radius * sinf(theta) * 1.0f + 0.0f;
    }
}

/* at::normal_distribution<double>: one Box–Muller pair per two calls. */
static double normal_f64(wanc_torch_gen *g)
{
    if (g->has_cached_normal) {
        g->has_cached_normal = false;
        return g->cached_normal;
    }
    double u1 = uniform_f64(g);
    double u2 = uniform_f64(g);
    double r = sqrt(-2.0 * log(1.0 - u2));
    double theta = 2.0 * M_PI * u1;
    g->cached_normal = r * sin(theta);
    g->has_cached_normal = true;
    return r * cos(theta);
}

wanc_err wanc_torch_gen_randn(wanc_torch_gen *g, float *out, int64_t n, wanc_randn_kernel kernel)
{
    if (!g || (!out && n > 0)) WANC_FAIL(WANC_EINVAL, "randn: NULL generator or output");
    if (n < 0) WANC_FAIL(WANC_EINVAL, "randn: negative element count %lld", (long long)n);
    if (kernel != WANC_RANDN_AVX2 && kernel != WANC_RANDN_DEFAULT)
        WANC_FAIL(WANC_EINVAL, "randn: unknown kernel %d", (int)kernel);

    if (n < 16) {
        for (int64_t i = 0; i < n; i++) out[i] = (float)normal_f64(g);
        return NULL;
    }
    void (*block)(float *) = kernel == WANC_RANDN_AVX2 ? box_muller16_avx2 : box_muller16_default;
    for (int64_t i = 0; i < n; i++) out[i] = uniform_f32(g);
    for (int64_t i = 0; i + 16 <= n; i += 16) block(out + i);
    if (n % 16) {
        /* the tail: the last 16 positions get fresh uniforms and a new block */
        float *tail = out + n - 16;
        for (int i = 0; i < 16; i++) tail[i] = uniform_f32(g);
        block(tail);
    }
    return NULL;
}

wanc_err wanc_torch_randn(float *out, int64_t n, uint64_t seed, wanc_randn_kernel kernel)
{
    wanc_torch_gen g;
    wanc_torch_gen_seed(&g, seed);
    return wanc_torch_gen_randn(&g, out, n, kernel);
}
