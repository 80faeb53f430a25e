/* CPU backend ops against naive double-precision references written here,
 * plus thread-count determinism and attention's memory bound. */
#include <float.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "backend/backend.h"
#include "backend/cpu/cpu_internal.h"
#include "core/tensor.h"
#include "core/threads.h"
#include "test.h"

/* ---- helpers --------------------------------------------------------------------- */

static uint64_t rng_state = 0x9e3779b97f4a7c15ull;
static float frand(void) /* uniform in [-1, 1) */
{
    rng_state = rng_state * 6364136223846793005ull + 1442695040888963407ull;
    return (float)((rng_state >> 40) / 16777216.0 * 2.0 - 1.0);
}
static float *rand_buf(size_t n, float amp)
{
    float *p = malloc(n * sizeof(float) + 1);
    for (size_t i = 0; i < n; i++) p[i] = frand() * amp;
    return p;
}
static double max_abs_diff(const float *a, const double *ref, size_t n)
{
    double m = 0;
    for (size_t i = 0; i < n; i++) {
        double d = fabs((double)a[i] - ref[i]);
        if (!(d <= m)) m = d; /* NaN propagates as failure */
    }
    return m;
}
/* A weight tensor [N, K] in dtype dt (owned buffer) plus its values as double. */
static wanc_tensor make_weight(wanc_dtype dt, int ndim, const int64_t *shape, double **values)
{
    wanc_tensor t;
    if (wanc_tensor_alloc(&t, dt, ndim, shape)) abort();
    int64_t n = wanc_tensor_numel(&t);
    *values = malloc((size_t)n * sizeof(double));
    for (int64_t i = 0; i < n; i++) {
        float f = frand() * 0.5f;
        if (dt == WANC_F32) {
            ((float *)t.data)[i] = f;
            (*values)[i] = f;
        } else if (dt == WANC_BF16) {
            uint16_t h = wanc_f32_to_bf16(f);
            ((uint16_t *)t.data)[i] = h;
            (*values)[i] = wanc_bf16_to_f32(h);
        } else {
            uint16_t h = wanc_f32_to_f16(f);
            ((uint16_t *)t.data)[i] = h;
            (*values)[i] = wanc_f16_to_f32(h);
        }
    }
    return t;
}

/* ---- linear / gemm ------------------------------------------------------------------- */

static void check_linear(int *test_failed_, wanc_dtype dt, int64_t M, int64_t N, int64_t K, int with_bias)
{
    const wanc_backend *be = wanc_backend_cpu();
    double *wv, *bv = NULL;
    wanc_tensor w = make_weight(dt, 2, (int64_t[]){N, K}, &wv), b = {0};
    if (with_bias) b = make_weight(dt, 1, (int64_t[]){N}, &bv);
    float *x = rand_buf((size_t)(M * K), 1.0f), *out = malloc(sizeof(float) * (size_t)(M * N));
    double *ref = malloc(sizeof(double) * (size_t)(M * N));
    for (int64_t m = 0; m < M; m++)
        for (int64_t n = 0; n < N; n++) {
            double s = bv ? bv[n] : 0;
            for (int64_t k = 0; k < K; k++) s += (double)x[m * K + k] * wv[n * K + k];
            ref[m * N + n] = s;
        }
    CHECK_OK(be->linear(be, out, x, &w, with_bias ? &b : NULL, M));
    /* float32 accumulation of K products of size <= 0.5: error ~ K·eps·|terms| */
    double err = max_abs_diff(out, ref, (size_t)(M * N));
    if (!(err <= 2e-6 * (double)K)) fprintf(stderr, "  linear %s %lldx%lldx%lld: err %g\n", wanc_dtype_name(dt),
                                            (long long)M, (long long)N, (long long)K, err);
    CHECK(err <= 2e-6 * (double)K);
    wanc_tensor_free(&w);
    wanc_tensor_free(&b);
    free(wv);
    free(bv);
    free(x);
    free(out);
    free(ref);
}

TEST(ops_linear_f32_bf16_f16)
{
    check_linear(test_failed_, WANC_F32, 37, 53, 29, 1);
    check_linear(test_failed_, WANC_F32, 300, 1100, 70, 0); /* several N and M blocks, ragged */
    check_linear(test_failed_, WANC_BF16, 300, 1100, 70, 1);
    check_linear(test_failed_, WANC_F16, 131, 777, 45, 1);
    check_linear(test_failed_, WANC_BF16, 1, 65, 513, 1); /* M = 1 */
}

TEST(ops_linear_rejects_bad_weights)
{
    const wanc_backend *be = wanc_backend_cpu();
    float x[4] = {0}, out[4];
    wanc_tensor w;
    CHECK_OK(wanc_tensor_alloc(&w, WANC_I32, 2, (int64_t[]){2, 2}));
    CHECK_ERR(be->linear(be, out, x, &w, NULL, 1), WANC_ESHAPE, "I32");
    wanc_tensor_free(&w);
    CHECK_OK(wanc_tensor_alloc(&w, WANC_F32, 2, (int64_t[]){2, 2}));
    wanc_tensor b;
    CHECK_OK(wanc_tensor_alloc(&b, WANC_F32, 1, (int64_t[]){3}));
    CHECK_ERR(be->linear(be, out, x, &w, &b, 1), WANC_ESHAPE, "bias");
    CHECK_ERR(be->linear(be, out, x, &w, NULL, -1), WANC_EINVAL, "M");
    wanc_tensor_free(&w);
    wanc_tensor_free(&b);
}

TEST(ops_gemm_transposes_and_strides)
{
    const wanc_backend *be = wanc_backend_cpu();
    const int64_t M = 45, N = 600, K = 33, pad = 3;
    for (int ta = 0; ta < 2; ta++)
        for (int tb = 0; tb < 2; tb++) {
            int64_t lda = (ta ? M : K) + pad, ldb = (tb ? K : N) + pad, ldc = N + pad;
            int64_t arows = ta ? K : M, brows = tb ? N : K;
            float *a = rand_buf((size_t)(arows * lda), 1), *b = rand_buf((size_t)(brows * ldb), 1);
            float *c = rand_buf((size_t)(M * ldc), 1);
            double *ref = malloc(sizeof(double) * (size_t)(M * N));
            const float alpha = 0.75f, beta = -0.5f;
            for (int64_t m = 0; m < M; m++)
                for (int64_t n = 0; n < N; n++) {
                    double s = 0;
                    for (int64_t k = 0; k < K; k++)
                        s += (double)(ta ? a[k * lda + m] : a[m * lda + k]) * (tb ? b[n * ldb + k] : b[k * ldb + n]);
                    ref[m * N + n] = alpha * s + beta * (double)c[m * ldc + n];
                }
            CHECK_OK(be->gemm(be, c, a, b, M, N, K, ta, tb, alpha, beta, lda, ldb, ldc));
            double err = 0;
            for (int64_t m = 0; m < M; m++)
                for (int64_t n = 0; n < N; n++) {
                    double d = fabs(c[m * ldc + n] - ref[m * N + n]);
                    err = d > err ? d : err;
                }
            CHECK(err < 1e-4);
            free(a);
            free(b);
            free(c);
            free(ref);
        }
    float z[4];
    CHECK_ERR(be->gemm(be, z, z, z, 2, 2, 2, 0, 0, 1, 0, 1, 2, 2), WANC_EINVAL, "lda");
}

/* ---- normalisation ---------------------------------------------------------------------- */

TEST(ops_layer_norm_rms_norm_softmax)
{
    const wanc_backend *be = wanc_backend_cpu();
    const int64_t R = 7, D = 333;
    float *x = rand_buf((size_t)(R * D), 3), *w = rand_buf((size_t)D, 1), *b = rand_buf((size_t)D, 1);
    float *out = malloc(sizeof(float) * (size_t)(R * D));
    double *ref = malloc(sizeof(double) * (size_t)(R * D));
    for (int affine = 0; affine < 2; affine++) {
        for (int64_t r = 0; r < R; r++) {
            double mean = 0, var = 0;
            for (int64_t i = 0; i < D; i++) mean += x[r * D + i];
            mean /= D;
            for (int64_t i = 0; i < D; i++) var += (x[r * D + i] - mean) * (x[r * D + i] - mean);
            var /= D; /* biased */
            for (int64_t i = 0; i < D; i++) {
                double y = (x[r * D + i] - mean) / sqrt(var + 1e-6);
                ref[r * D + i] = affine ? y * w[i] + b[i] : y;
            }
        }
        CHECK_OK(be->layer_norm(be, out, x, affine ? w : NULL, affine ? b : NULL, R, D, 1e-6f));
        CHECK(max_abs_diff(out, ref, (size_t)(R * D)) < 1e-5);
    }
    for (int affine = 0; affine < 2; affine++) {
        for (int64_t r = 0; r < R; r++) {
            double ms = 0;
            for (int64_t i = 0; i < D; i++) ms += (double)x[r * D + i] * x[r * D + i];
            ms /= D;
            for (int64_t i = 0; i < D; i++) ref[r * D + i] = x[r * D + i] / sqrt(ms + 1e-5) * (affine ? w[i] : 1.0);
        }
        CHECK_OK(be->rms_norm(be, out, x, affine ? w : NULL, R, D, 1e-5f));
        CHECK(max_abs_diff(out, ref, (size_t)(R * D)) < 1e-5);
    }
    for (int64_t r = 0; r < R; r++) {
        double mx = -INFINITY, s = 0;
        for (int64_t i = 0; i < D; i++) mx = fmax(mx, x[r * D + i] * 4.0);
        for (int64_t i = 0; i < D; i++) s += exp(x[r * D + i] * 4.0 - mx);
        for (int64_t i = 0; i < D; i++) ref[r * D + i] = exp(x[r * D + i] * 4.0 - mx) / s;
    }
    for (int64_t i = 0; i < R * D; i++) out[i] = x[i] * 4.0f;
    CHECK_OK(be->softmax(be, out, out, R, D)); /* in place */
    CHECK(max_abs_diff(out, ref, (size_t)(R * D)) < 1e-6);
    /* layer_norm in place matches out of place */
    float *copy = malloc(sizeof(float) * (size_t)(R * D));
    memcpy(copy, x, sizeof(float) * (size_t)(R * D));
    CHECK_OK(be->layer_norm(be, out, x, w, b, R, D, 1e-6f));
    CHECK_OK(be->layer_norm(be, copy, copy, w, b, R, D, 1e-6f));
    CHECK(memcmp(copy, out, sizeof(float) * (size_t)(R * D)) == 0);
    CHECK_ERR(be->softmax(be, out, x, -1, D), WANC_EINVAL, "negative");
    free(copy);
    free(x);
    free(w);
    free(b);
    free(out);
    free(ref);
}

/* ---- elementwise ------------------------------------------------------------------------- */

TEST(ops_elementwise)
{
    const wanc_backend *be = wanc_backend_cpu();
    const int64_t n = 40001;
    float *a = rand_buf((size_t)n, 6), *b = rand_buf((size_t)n, 2), *out = malloc(sizeof(float) * (size_t)n);
    double *ref = malloc(sizeof(double) * (size_t)n);
    const double k0 = sqrt(2.0 / M_PI);
    for (int64_t i = 0; i < n; i++) ref[i] = 0.5 * a[i] * (1 + tanh(k0 * (a[i] + 0.044715 * pow(a[i], 3))));
    CHECK_OK(be->gelu_tanh(be, out, a, n));
    CHECK(max_abs_diff(out, ref, (size_t)n) < 2e-6);
    for (int64_t i = 0; i < n; i++) ref[i] = 0.5 * a[i] * (1 + erf(a[i] / sqrt(2.0)));
    CHECK_OK(be->gelu_erf(be, out, a, n));
    CHECK(max_abs_diff(out, ref, (size_t)n) < 2e-6);
    for (int64_t i = 0; i < n; i++) ref[i] = a[i] / (1 + exp(-(double)a[i]));
    CHECK_OK(be->silu(be, out, a, n));
    CHECK(max_abs_diff(out, ref, (size_t)n) < 2e-6);
    /* add/mul/scale are single float ops: exact against float arithmetic */
    CHECK_OK(be->add(be, out, a, b, n));
    for (int64_t i = 0; i < n; i++) CHECK(out[i] == a[i] + b[i]);
    CHECK_OK(be->mul(be, out, a, b, n));
    for (int64_t i = 0; i < n; i++) CHECK(out[i] == a[i] * b[i]);
    CHECK_OK(be->scale(be, out, a, 0.3f, -1.5f, n));
    for (int64_t i = 0; i < n; i++) CHECK(out[i] == a[i] * 0.3f + -1.5f);
    memcpy(out, a, sizeof(float) * (size_t)n);
    CHECK_OK(be->round_bf16(be, out, n));
    for (int64_t i = 0; i < n; i++) {
        /* nearest bf16, ties to even: no bf16 value is closer */
        uint32_t u;
        memcpy(&u, &out[i], 4);
        CHECK((u & 0xffff) == 0);
        float up, dn;
        uint32_t uu = u + 0x10000, ud = u - 0x10000;
        memcpy(&up, &uu, 4);
        memcpy(&dn, &ud, 4);
        CHECK(fabs(out[i] - a[i]) <= fabs(up - a[i]) && fabs(out[i] - a[i]) <= fabs(dn - a[i]));
    }
    float tie = 1.0f + 1.0f / 256; /* halfway: goes to even (1.0) */
    CHECK_OK(be->round_bf16(be, &tie, 1));
    CHECK(tie == 1.0f);
    CHECK_ERR(be->add(be, out, a, NULL, n), WANC_EINVAL, "NULL");
    free(a);
    free(b);
    free(out);
    free(ref);
}

TEST(ops_modulate_gated_add)
{
    const wanc_backend *be = wanc_backend_cpu();
    const int64_t R = 33, D = 1027;
    float *x = rand_buf((size_t)(R * D), 2), *y = rand_buf((size_t)(R * D), 2);
    float *sh = rand_buf((size_t)D, 1), *sc = rand_buf((size_t)D, 1), *out = malloc(sizeof(float) * (size_t)(R * D));
    CHECK_OK(be->modulate(be, out, x, sh, sc, R, D));
    for (int64_t r = 0; r < R; r++)
        for (int64_t d = 0; d < D; d++) CHECK(out[r * D + d] == x[r * D + d] * (1.0f + sc[d]) + sh[d]);
    memcpy(out, x, sizeof(float) * (size_t)(R * D));
    CHECK_OK(be->gated_add(be, out, y, sc, R, D));
    for (int64_t r = 0; r < R; r++)
        for (int64_t d = 0; d < D; d++) CHECK(out[r * D + d] == x[r * D + d] + sc[d] * y[r * D + d]);
    memcpy(out, x, sizeof(float) * (size_t)(R * D));
    CHECK_OK(be->gated_add(be, out, y, NULL, R, D));
    for (int64_t i = 0; i < R * D; i++) CHECK(out[i] == x[i] + y[i]);
    free(x);
    free(y);
    free(sh);
    free(sc);
    free(out);
}

/* out[r,d] = x[r,d]·w[d] is one float32 product, so the reference is exact. */
TEST(ops_mul_rows)
{
    const wanc_backend *be = wanc_backend_cpu();
    static const int64_t sizes[][2] = {{1, 1}, {3, 7}, {33, 1027}, {17, 16385}};
    for (size_t s = 0; s < sizeof sizes / sizeof sizes[0]; s++) {
        const int64_t R = sizes[s][0], D = sizes[s][1];
        float *x = rand_buf((size_t)(R * D), 3), *w = rand_buf((size_t)D, 2);
        float *out = malloc(sizeof(float) * (size_t)(R * D));
        CHECK_OK(be->mul_rows(be, out, x, w, R, D));
        int ok = 1;
        for (int64_t r = 0; r < R; r++)
            for (int64_t d = 0; d < D; d++) ok &= out[r * D + d] == x[r * D + d] * w[d];
        CHECK(ok);
        CHECK_OK(be->mul_rows(be, x, x, w, R, D)); /* in place */
        CHECK(memcmp(x, out, sizeof(float) * (size_t)(R * D)) == 0);
        free(x);
        free(w);
        free(out);
    }
    float v = 1;
    CHECK_OK(be->mul_rows(be, NULL, NULL, NULL, 0, 5)); /* empty: nothing to touch */
    CHECK_ERR(be->mul_rows(be, &v, &v, &v, -1, 1), WANC_EINVAL, "negative size");
    CHECK_ERR(be->mul_rows(be, &v, &v, NULL, 1, 1), WANC_EINVAL, "NULL buffer");
}

TEST(ops_relu)
{
    const wanc_backend *be = wanc_backend_cpu();
    const int64_t n = 40007; /* odd: a partial vector at the end of every task */
    float *x = rand_buf((size_t)n, 5), *out = malloc(sizeof(float) * (size_t)n);
    x[0] = -0.0f;
    x[1] = NAN;
    x[2] = -INFINITY;
    x[3] = INFINITY;
    x[4] = 0.0f;
    CHECK_OK(be->relu(be, out, x, n));
    int ok = 1;
    for (int64_t i = 5; i < n; i++) ok &= out[i] == (x[i] > 0 ? x[i] : 0.0f);
    CHECK(ok);
    CHECK(out[0] == 0.0f && !signbit(out[0])); /* -0 → +0 */
    CHECK(isnan(out[1]));                       /* NaN propagates as in torch */
    CHECK(out[2] == 0.0f && out[3] == INFINITY && out[4] == 0.0f && !signbit(out[4]));
    CHECK_OK(be->relu(be, x, x, n)); /* in place */
    CHECK(memcmp(x + 2, out + 2, sizeof(float) * (size_t)(n - 2)) == 0 && isnan(x[1]));
    CHECK_ERR(be->relu(be, out, x, -1), WANC_EINVAL, "n =");
    CHECK_ERR(be->relu(be, NULL, x, 3), WANC_EINVAL, "NULL buffer");
    free(x);
    free(out);
}

/* Every entry of the CPU table is filled in, and a missing one is named. */
TEST(ops_cpu_table_complete)
{
    const wanc_backend *be = wanc_backend_cpu();
    CHECK_OK(wanc_backend_check_complete(be));
    wanc_backend broken = *be;
    broken.relu = NULL;
    CHECK_ERR(wanc_backend_check_complete(&broken), WANC_EINTERNAL, "backend cpu: op relu is missing");
    broken = *be;
    broken.alloc = NULL;
    CHECK_ERR(wanc_backend_check_complete(&broken), WANC_EINTERNAL, "op alloc is missing");
}

/* ---- attention / rope --------------------------------------------------------------------- */

static void attention_ref(double *ref, const float *q, const float *k, const float *v, int64_t Lq, int64_t Lk,
                          int64_t H, int64_t D, float scale, const float *bias, const uint8_t *mask)
{
    double *s = malloc(sizeof(double) * (size_t)Lk);
    for (int64_t h = 0; h < H; h++)
        for (int64_t i = 0; i < Lq; i++) {
            double mx = -INFINITY, sum = 0;
            for (int64_t j = 0; j < Lk; j++) {
                double d = 0;
                for (int64_t c = 0; c < D; c++) d += (double)q[i * H * D + h * D + c] * k[j * H * D + h * D + c];
                d *= scale;
                if (bias) d += bias[(h * Lq + i) * Lk + j];
                if (mask && !mask[j]) d = -FLT_MAX;
                s[j] = d;
                mx = fmax(mx, d);
            }
            for (int64_t j = 0; j < Lk; j++) sum += (s[j] = exp(s[j] - mx));
            for (int64_t c = 0; c < D; c++) {
                double o = 0;
                for (int64_t j = 0; j < Lk; j++) o += s[j] * v[j * H * D + h * D + c];
                ref[i * H * D + h * D + c] = o / sum;
            }
        }
    free(s);
}

static void check_attention(int *test_failed_, int64_t Lq, int64_t Lk, int64_t H, int64_t D, int use_bias,
                            int use_mask, int all_masked)
{
    const wanc_backend *be = wanc_backend_cpu();
    float *q = rand_buf((size_t)(Lq * H * D), 1), *k = rand_buf((size_t)(Lk * H * D), 1);
    float *v = rand_buf((size_t)(Lk * H * D), 1);
    float *bias = use_bias ? rand_buf((size_t)(H * Lq * Lk), 2) : NULL;
    uint8_t *mask = NULL;
    if (use_mask) {
        mask = malloc((size_t)Lk);
        for (int64_t j = 0; j < Lk; j++) mask[j] = all_masked ? 0 : (j % 3 != 1);
    }
    float *out = malloc(sizeof(float) * (size_t)(Lq * H * D));
    double *ref = malloc(sizeof(double) * (size_t)(Lq * H * D));
    float scale = 1.0f / sqrtf((float)D);
    attention_ref(ref, q, k, v, Lq, Lk, H, D, scale, bias, mask);
    CHECK_OK(be->attention(be, out, q, k, v, Lq, Lk, H, D, scale, bias, mask));
    double err = max_abs_diff(out, ref, (size_t)(Lq * H * D));
    if (!(err < 2e-6)) fprintf(stderr, "  attention Lq=%lld Lk=%lld H=%lld D=%lld: err %g\n", (long long)Lq,
                               (long long)Lk, (long long)H, (long long)D, err);
    CHECK(err < 2e-6);
    free(q);
    free(k);
    free(v);
    free(bias);
    free(mask);
    free(out);
    free(ref);
}

TEST(ops_attention_bias_mask_ragged)
{
    check_attention(test_failed_, 5, 7, 1, 3, 0, 0, 0);
    check_attention(test_failed_, 130, 300, 3, 24, 0, 0, 0);   /* ragged query and key tiles */
    check_attention(test_failed_, 77, 513, 2, 40, 1, 0, 0);    /* bias, Lq != Lk */
    check_attention(test_failed_, 65, 257, 2, 16, 1, 1, 0);    /* bias + key mask */
    check_attention(test_failed_, 9, 600, 2, 8, 0, 1, 1);      /* every key masked: uniform like torch */
    check_attention(test_failed_, 300, 40, 1, 130, 0, 1, 0);   /* D larger than a tile row */
}

TEST(ops_attention_memory_stays_tiled)
{
    /* L = 32,760 tokens (a 480P 81-frame latent), one head, D = 128: a
     * materialised score matrix would be L² floats = 4.3 GB; the tiled kernel
     * needs one tile per thread, so the peak RSS may grow by a few MB only
     * (the inputs are allocated before the measurement starts). */
    const wanc_backend *be = wanc_backend_cpu();
    const int64_t Lq = 32760, Lk = 32760, D = 128;
    float *q = rand_buf((size_t)(Lq * D), 1), *k = rand_buf((size_t)(Lk * D), 1), *v = rand_buf((size_t)(Lk * D), 1);
    float *out = malloc(sizeof(float) * (size_t)(Lq * D));
    /* warm up: thread pool, OpenBLAS buffers, scratch */
    CHECK_OK(be->attention(be, out, q, k, v, 64, 512, 1, D, 0.088f, NULL, NULL));
    memset(out, 0, sizeof(float) * (size_t)(Lq * D));
    long rss0 = -1, hwm = -1;
    FILE *f = fopen("/proc/self/clear_refs", "w");
    int can_reset = f && fputs("5", f) >= 0;
    if (f) can_reset = (fclose(f) == 0) && can_reset;
    FILE *s = fopen("/proc/self/status", "r");
    char line[256];
    while (s && fgets(line, sizeof line, s)) sscanf(line, "VmRSS: %ld", &rss0);
    if (s) fclose(s);
    CHECK_OK(be->attention(be, out, q, k, v, Lq, Lk, 1, D, 0.088f, NULL, NULL));
    s = fopen("/proc/self/status", "r");
    while (s && fgets(line, sizeof line, s)) sscanf(line, "VmHWM: %ld", &hwm);
    if (s) fclose(s);
    if (can_reset && rss0 > 0 && hwm > 0) {
        long growth_kb = hwm - rss0, full_kb = (long)(Lq * Lk * 4 / 1024);
        printf("  attention Lq=%lld Lk=%lld: peak RSS growth %ld kB (a full score matrix: %ld kB)\n",
               (long long)Lq, (long long)Lk, growth_kb, full_kb);
        CHECK(growth_kb < 64 * 1024); /* < 1.5% of L²·4 bytes */
    } else {
        printf("  note: /proc peak-RSS reset unavailable; memory bound not measured\n");
    }
    /* spot-check a few rows against the reference */
    double ref[3 * 128];
    attention_ref(ref, q + 100 * D, k, v, 3, Lk, 1, D, 0.088f, NULL, NULL);
    CHECK(max_abs_diff(out + 100 * D, ref, 3 * 128) < 2e-6);
    attention_ref(ref, q + (Lq - 3) * D, k, v, 3, Lk, 1, D, 0.088f, NULL, NULL);
    CHECK(max_abs_diff(out + (Lq - 3) * D, ref, 3 * 128) < 2e-6);
    free(q);
    free(k);
    free(v);
    free(out);
}

TEST(ops_rope_float64)
{
    const wanc_backend *be = wanc_backend_cpu();
    const int64_t L = 11, H = 3, D = 10;
    float *x = rand_buf((size_t)(L * H * D), 2), *orig = malloc(sizeof(float) * (size_t)(L * H * D));
    memcpy(orig, x, sizeof(float) * (size_t)(L * H * D));
    double *cs = malloc(sizeof(double) * (size_t)(L * D));
    for (int64_t l = 0; l < L; l++)
        for (int64_t i = 0; i < D / 2; i++) {
            double ang = l * pow(10000.0, -2.0 * i / D);
            cs[(l * D / 2 + i) * 2] = cos(ang);
            cs[(l * D / 2 + i) * 2 + 1] = sin(ang);
        }
    CHECK_OK(be->rope(be, x, cs, L, H, D));
    for (int64_t l = 0; l < L; l++)
        for (int64_t h = 0; h < H; h++)
            for (int64_t i = 0; i < D / 2; i++) {
                const float *o = orig + (l * H + h) * D + 2 * i;
                double c = cs[(l * D / 2 + i) * 2], sn = cs[(l * D / 2 + i) * 2 + 1];
                /* exact: float64 product of float32 inputs, rounded once to float32 */
                CHECK(x[(l * H + h) * D + 2 * i] == (float)((double)o[0] * c - (double)o[1] * sn));
                CHECK(x[(l * H + h) * D + 2 * i + 1] == (float)((double)o[0] * sn + (double)o[1] * c));
            }
    CHECK_ERR(be->rope(be, x, cs, L, H, 9), WANC_EINVAL, "even");
    free(x);
    free(orig);
    free(cs);
}

/* ---- conv3d ------------------------------------------------------------------------------- */

static void check_conv(int *test_failed_, wanc_dtype dt, int64_t Cin, int64_t Cout, int64_t T, int64_t H,
                       int64_t W, int kt, int kh, int kw, const int st[3], const int pd[3])
{
    const wanc_backend *be = wanc_backend_cpu();
    double *wv, *bv;
    wanc_tensor w = make_weight(dt, 5, (int64_t[]){Cout, Cin, kt, kh, kw}, &wv);
    wanc_tensor b = make_weight(dt, 1, (int64_t[]){Cout}, &bv);
    int64_t To = (T + 2 * pd[0] - kt) / st[0] + 1, Ho = (H + 2 * pd[1] - kh) / st[1] + 1,
            Wo = (W + 2 * pd[2] - kw) / st[2] + 1;
    size_t no = (size_t)(Cout * To * Ho * Wo);
    float *x = rand_buf((size_t)(Cin * T * H * W), 1), *out = malloc(sizeof(float) * no);
    double *ref = malloc(sizeof(double) * no);
    for (int64_t co = 0; co < Cout; co++)
        for (int64_t to = 0; to < To; to++)
            for (int64_t ho = 0; ho < Ho; ho++)
                for (int64_t wo = 0; wo < Wo; wo++) {
                    double s = bv[co];
                    for (int64_t ci = 0; ci < Cin; ci++)
                        for (int dt_ = 0; dt_ < kt; dt_++)
                            for (int dh = 0; dh < kh; dh++)
                                for (int dw = 0; dw < kw; dw++) {
                                    int64_t t = to * st[0] - pd[0] + dt_, h = ho * st[1] - pd[1] + dh,
                                            ww = wo * st[2] - pd[2] + dw;
                                    if (t < 0 || t >= T || h < 0 || h >= H || ww < 0 || ww >= W) continue;
                                    s += wv[(((co * Cin + ci) * kt + dt_) * kh + dh) * kw + dw] *
                                         x[((ci * T + t) * H + h) * W + ww];
                                }
                    ref[((co * To + to) * Ho + ho) * Wo + wo] = s;
                }
    CHECK_OK(be->conv3d(be, out, x, &w, &b, Cin, T, H, W, st, pd));
    double err = max_abs_diff(out, ref, no);
    if (!(err < 1e-5)) fprintf(stderr, "  conv3d %s: err %g\n", wanc_dtype_name(dt), err);
    CHECK(err < 1e-5);
    /* conv3d_hist: the first Th frames from a separate history buffer give the same bits */
    const int64_t HW = H * W;
    float *hist = malloc(sizeof(float) * (size_t)(Cin * T * HW) + 1);
    float *rest = malloc(sizeof(float) * (size_t)(Cin * T * HW) + 1);
    float *out2 = malloc(sizeof(float) * no);
    for (int64_t Th = 0; Th <= T; Th++) {
        for (int64_t ci = 0; ci < Cin; ci++) {
            memcpy(hist + ci * Th * HW, x + ci * T * HW, sizeof(float) * (size_t)(Th * HW));
            memcpy(rest + ci * (T - Th) * HW, x + (ci * T + Th) * HW, sizeof(float) * (size_t)((T - Th) * HW));
        }
        CHECK_OK(be->conv3d_hist(be, out2, Th ? hist : NULL, Th, rest, &w, &b, Cin, T - Th, H, W, st, pd));
        int same = memcmp(out, out2, sizeof(float) * no) == 0;
        if (!same)
            fprintf(stderr, "  conv3d_hist %s Th=%lld of %lld differs\n", wanc_dtype_name(dt), (long long)Th,
                    (long long)T);
        CHECK(same);
    }
    /* a NULL history is Th zero frames: the same bits as conv3d over x with those frames zeroed */
    for (int64_t Th = 1; Th < T; Th++) {
        memcpy(rest, x, sizeof(float) * (size_t)(Cin * T * HW));
        for (int64_t ci = 0; ci < Cin; ci++) memset(rest + ci * T * HW, 0, sizeof(float) * (size_t)(Th * HW));
        CHECK_OK(be->conv3d(be, out, rest, &w, &b, Cin, T, H, W, st, pd));
        for (int64_t ci = 0; ci < Cin; ci++)
            memcpy(hist + ci * (T - Th) * HW, x + (ci * T + Th) * HW, sizeof(float) * (size_t)((T - Th) * HW));
        CHECK_OK(be->conv3d_hist(be, out2, NULL, Th, hist, &w, &b, Cin, T - Th, H, W, st, pd));
        CHECK(memcmp(out, out2, sizeof(float) * no) == 0);
    }
    free(hist);
    free(rest);
    free(out2);
    wanc_tensor_free(&w);
    wanc_tensor_free(&b);
    free(wv);
    free(bv);
    free(x);
    free(out);
    free(ref);
}

#include "backend/cpu/cpu_internal.h"

TEST(ops_conv3d)
{
    for (int force = 1; force >= 0; force--) { /* im2col everywhere, then the default paths */
        cpu_conv3d_force_im2col = force;
        check_conv(test_failed_, WANC_F32, 3, 5, 4, 9, 11, 3, 3, 3, (int[]){1, 1, 1}, (int[]){1, 1, 1});
        check_conv(test_failed_, WANC_BF16, 4, 6, 5, 10, 7, 3, 3, 3, (int[]){2, 2, 1}, (int[]){0, 1, 1});
        check_conv(test_failed_, WANC_F16, 2, 3, 1, 8, 9, 1, 3, 3, (int[]){1, 2, 2}, (int[]){0, 0, 1}); /* conv2d */
        check_conv(test_failed_, WANC_F32, 6, 4, 3, 5, 6, 1, 1, 1, (int[]){1, 1, 1}, (int[]){0, 0, 0}); /* 1x1x1 */
        check_conv(test_failed_, WANC_BF16, 64, 8, 2, 20, 70, 3, 3, 3, (int[]){1, 1, 1}, (int[]){1, 1, 1}); /* slabs */
        check_conv(test_failed_, WANC_F32, 3, 4, 5, 7, 300, 3, 1, 5, (int[]){1, 1, 1}, (int[]){2, 0, 2}); /* wide rows */
        check_conv(test_failed_, WANC_F32, 3, 4, 3, 40, 2, 2, 3, 1, (int[]){1, 1, 1}, (int[]){0, 2, 0}); /* narrow */
        check_conv(test_failed_, WANC_BF16, 5, 7, 7, 6, 9, 3, 1, 1, (int[]){2, 1, 1}, (int[]){1, 0, 0}); /* time stride */
        check_conv(test_failed_, WANC_F32, 5, 3, 1, 9, 12, 1, 3, 3, (int[]){1, 2, 2}, (int[]){0, 0, 0}); /* downsample */
    }
    cpu_conv3d_force_im2col = 0;
    const wanc_backend *be = wanc_backend_cpu();
    double *wv;
    wanc_tensor w = make_weight(WANC_F32, 5, (int64_t[]){2, 3, 3, 3, 3}, &wv);
    float x[64], out[64];
    CHECK_ERR(be->conv3d(be, out, x, &w, NULL, 4, 1, 4, 4, (int[]){1, 1, 1}, (int[]){1, 1, 1}), WANC_ESHAPE,
              "input channels");
    CHECK_ERR(be->conv3d(be, out, x, &w, NULL, 3, 1, 4, 4, (int[]){1, 1, 1}, (int[]){0, 1, 1}), WANC_ESHAPE,
              "larger");
    wanc_tensor_free(&w);
    free(wv);
}

/* ---- channel-first norm and layout ops ------------------------------------------------------ */

/* Naive RMS_norm over channels: x / max(||x[:, p]||, eps) · sqrt(C) · gamma[c], in double. */
static void check_channel_norm(int *test_failed_, int64_t C, int64_t P, int with_gamma)
{
    const wanc_backend *be = wanc_backend_cpu();
    float *x = rand_buf((size_t)(C * P), 2), *g = rand_buf((size_t)C, 1);
    for (int64_t c = 0; c < C; c++) x[c * P + P / 2] = 0.0f; /* an all-zero position: 0 / eps = 0 */
    float *out = malloc(sizeof(float) * (size_t)(C * P)), *fused = malloc(sizeof(float) * (size_t)(C * P));
    double *ref = malloc(sizeof(double) * (size_t)(C * P));
    for (int64_t p = 0; p < P; p++) {
        double ss = 0;
        for (int64_t c = 0; c < C; c++) ss += (double)x[c * P + p] * x[c * P + p];
        double n = sqrt(ss) > 1e-12 ? sqrt(ss) : 1e-12;
        for (int64_t c = 0; c < C; c++)
            ref[c * P + p] = x[c * P + p] / n * sqrt((double)C) * (with_gamma ? g[c] : 1.0);
    }
    const float *gm = with_gamma ? g : NULL;
    CHECK_OK(be->channel_rms_norm(be, out, x, gm, C, P, 1e-12f, 0));
    double err = max_abs_diff(out, ref, (size_t)(C * P));
    if (!(err <= 1e-5 * sqrt((double)C)))
        fprintf(stderr, "  channel_rms_norm C=%lld P=%lld: err %g\n", (long long)C, (long long)P, err);
    CHECK(err <= 1e-5 * sqrt((double)C));
    CHECK(out[P / 2] == 0.0f);
    /* fused SiLU = the separate silu op, bit for bit; and in place gives the same */
    CHECK_OK(be->channel_rms_norm(be, fused, x, gm, C, P, 1e-12f, 1));
    CHECK_OK(be->silu(be, out, out, C * P));
    CHECK(memcmp(out, fused, sizeof(float) * (size_t)(C * P)) == 0);
    CHECK_OK(be->channel_rms_norm(be, x, x, gm, C, P, 1e-12f, 1));
    CHECK(memcmp(x, fused, sizeof(float) * (size_t)(C * P)) == 0);
    free(x);
    free(g);
    free(out);
    free(fused);
    free(ref);
}

TEST(ops_channel_rms_norm)
{
    check_channel_norm(test_failed_, 37, 4013, 1); /* several tasks, a ragged last span */
    check_channel_norm(test_failed_, 1, 9, 1);     /* C = 1: sign(x)·gamma */
    check_channel_norm(test_failed_, 384, 7, 0);   /* wide C, fewer positions than a vector */
    const wanc_backend *be = wanc_backend_cpu();
    float v[4] = {0};
    CHECK_ERR(be->channel_rms_norm(be, v, v, NULL, -1, 4, 1e-12f, 0), WANC_EINVAL, "negative");
    CHECK_ERR(be->channel_rms_norm(be, NULL, v, NULL, 1, 4, 1e-12f, 0), WANC_EINVAL, "NULL");
    CHECK_OK(be->channel_rms_norm(be, NULL, NULL, NULL, 0, 4, 1e-12f, 0)); /* empty: nothing to do */
}

TEST(ops_upsample_nearest2x)
{
    const wanc_backend *be = wanc_backend_cpu();
    const int64_t sizes[3][3] = {{3, 5, 13}, {2, 1, 1}, {4, 7, 32}};
    for (int s = 0; s < 3; s++) {
        const int64_t N = sizes[s][0], H = sizes[s][1], W = sizes[s][2];
        float *x = rand_buf((size_t)(N * H * W), 1), *out = malloc(sizeof(float) * (size_t)(N * 4 * H * W));
        CHECK_OK(be->upsample_nearest2x(be, out, x, N, H, W));
        int ok = 1;
        for (int64_t n = 0; n < N; n++)
            for (int64_t i = 0; i < 2 * H; i++)
                for (int64_t j = 0; j < 2 * W; j++)
                    ok &= out[(n * 2 * H + i) * 2 * W + j] == x[(n * H + i / 2) * W + j / 2];
        CHECK(ok);
        free(x);
        free(out);
    }
    float v[4] = {0};
    CHECK_ERR(be->upsample_nearest2x(be, v, v, 1, 1, 1), WANC_EINVAL, "in place");
    CHECK_ERR(be->upsample_nearest2x(be, v, v + 1, 1, -1, 1), WANC_EINVAL, "negative");
}

/* The naive strided copy: every index of shape in row-major order. */
static void naive_copy(float *out, const int64_t *os, const float *x, const int64_t *xs, const int64_t *shape, int nd)
{
    int64_t idx[8] = {0}, total = 1;
    for (int d = 0; d < nd; d++) total *= shape[d];
    for (int64_t e = 0; e < total; e++) {
        int64_t r = e, oo = 0, xo = 0;
        for (int d = nd - 1; d >= 0; d--) {
            idx[d] = r % shape[d];
            r /= shape[d];
            oo += idx[d] * os[d];
            xo += idx[d] * xs[d];
        }
        out[oo] = x[xo];
    }
}

static void check_copy(int *test_failed_, const int64_t *os, const int64_t *xs, const int64_t *shape, int nd,
                       size_t out_n, size_t x_n)
{
    const wanc_backend *be = wanc_backend_cpu();
    float *x = rand_buf(x_n, 1), *a = malloc(sizeof(float) * out_n), *b = malloc(sizeof(float) * out_n);
    for (size_t i = 0; i < out_n; i++) a[i] = b[i] = -7.0f; /* untouched elements must stay */
    naive_copy(a, os, x, xs, shape, nd);
    CHECK_OK(be->copy_strided(be, b, os, x, xs, shape, nd));
    CHECK(memcmp(a, b, sizeof(float) * out_n) == 0);
    free(x);
    free(a);
    free(b);
}

TEST(ops_copy_strided)
{
    /* concatenation along time of channel slabs: out[C=5, 2+3 frames, HW=7] <- x[5, 3, 7] at frame 2 */
    check_copy(test_failed_, (int64_t[]){35, 1}, (int64_t[]){21, 1}, (int64_t[]){5, 21}, 2, 5 * 35, 5 * 21);
    /* the temporal upsample interleave: out[c, 2t+s] = x[s*C + c, t], C = 3, T = 3, HW = 11 */
    check_copy(test_failed_, (int64_t[]){11, 66, 22, 1}, (int64_t[]){99, 33, 11, 1}, (int64_t[]){2, 3, 3, 11}, 4,
               3 * 6 * 11, 6 * 3 * 11);
    /* transposes across several 32x32 tiles, odd sizes, both directions */
    check_copy(test_failed_, (int64_t[]){37, 1}, (int64_t[]){1, 53}, (int64_t[]){53, 37}, 2, 53 * 37, 37 * 53);
    check_copy(test_failed_, (int64_t[]){1, 71}, (int64_t[]){45, 1}, (int64_t[]){71, 45}, 2, 71 * 45, 71 * 45);
    /* padding into a larger frame, size-1 dims and a 1-D strided gather */
    check_copy(test_failed_, (int64_t[]){10 * 13, 13, 1}, (int64_t[]){9 * 12, 12, 1}, (int64_t[]){4, 9, 12}, 3,
               4 * 10 * 13, 4 * 9 * 12);
    check_copy(test_failed_, (int64_t[]){500, 1, 7, 1}, (int64_t[]){3, 9, 1, 1}, (int64_t[]){1, 1, 3, 1}, 4, 30, 9);
    check_copy(test_failed_, (int64_t[]){2}, (int64_t[]){3}, (int64_t[]){1001}, 1, 2002, 3003);
    /* the attention's q/k/v split of qkv[P, 3C]: [3, P, C] */
    check_copy(test_failed_, (int64_t[]){19 * 5, 5, 1}, (int64_t[]){5, 15, 1}, (int64_t[]){3, 19, 5}, 3, 3 * 19 * 5,
               19 * 15);
    const wanc_backend *be = wanc_backend_cpu();
    float v[4] = {0};
    int64_t one[1] = {1}, neg[1] = {-1};
    CHECK_ERR(be->copy_strided(be, v, one, v + 1, one, one, 0), WANC_EINVAL, "ndim");
    CHECK_ERR(be->copy_strided(be, v, one, v + 1, one, neg, 1), WANC_EINVAL, "size");
    CHECK_ERR(be->copy_strided(be, NULL, one, v, one, one, 1), WANC_EINVAL, "NULL");
}

TEST(ops_fill)
{
    const wanc_backend *be = wanc_backend_cpu();
    float *x = malloc(sizeof(float) * 200003);
    CHECK_OK(be->fill(be, x, -1.5f, 200001));
    int ok = 1;
    for (int i = 0; i < 200001; i++) ok &= x[i] == -1.5f;
    CHECK(ok);
    CHECK_ERR(be->fill(be, x, 0, -1), WANC_EINVAL, "n =");
    free(x);
}

/* ---- determinism: 1 vs 2 threads, bit for bit ------------------------------------------------ */

#define LAYOUT_GROUP_FLOATS ((size_t)(2 * 16 * 6001 + 8 * 66 * 82 + 300 * 257 + 100003))

/* Runs every op once at the current thread count; all outputs go to `res`. */
static void run_all_ops(int *test_failed_, float *res[12])
{
    const wanc_backend *be = wanc_backend_cpu();
    rng_state = 42;
    double *wv, *bv, *cwv;
    wanc_tensor w = make_weight(WANC_BF16, 2, (int64_t[]){1100, 300}, &wv);
    wanc_tensor b = make_weight(WANC_F32, 1, (int64_t[]){1100}, &bv);
    wanc_tensor wf = make_weight(WANC_F32, 2, (int64_t[]){1100, 300}, &cwv);
    free(cwv);
    const int64_t M = 700, n = 100003;
    float *x = rand_buf((size_t)(M * 300), 1);
    res[0] = malloc(sizeof(float) * (size_t)(M * 1100));
    CHECK_OK(be->linear(be, res[0], x, &w, &b, M));
    res[1] = malloc(sizeof(float) * (size_t)(M * 1100));
    CHECK_OK(be->linear(be, res[1], x, &wf, &b, M));
    res[2] = calloc((size_t)(M * 700), sizeof(float));
    CHECK_OK(be->gemm(be, res[2], x, x, M, M, 300, 0, 1, 1.0f, 0.0f, 300, 300, M));
    float *a = rand_buf((size_t)n, 4), *c = rand_buf((size_t)n, 1);
    res[3] = malloc(sizeof(float) * (size_t)n * 8);
    float *r3 = res[3];
    CHECK_OK(be->gelu_tanh(be, r3, a, n));
    CHECK_OK(be->gelu_erf(be, r3 + n, a, n));
    CHECK_OK(be->silu(be, r3 + 2 * n, a, n));
    CHECK_OK(be->add(be, r3 + 3 * n, a, c, n));
    CHECK_OK(be->mul(be, r3 + 4 * n, a, c, n));
    CHECK_OK(be->scale(be, r3 + 5 * n, a, 1.7f, 0.1f, n));
    memcpy(r3 + 6 * n, a, sizeof(float) * (size_t)n);
    CHECK_OK(be->round_bf16(be, r3 + 6 * n, n));
    memcpy(r3 + 7 * n, a, sizeof(float) * (size_t)n);
    CHECK_OK(be->gated_add(be, r3 + 7 * n, c, c + 1000, 100, 1000));
    res[4] = calloc((size_t)n * 4, sizeof(float)); /* the ops fill 100x1000 of each n-float slot */
    CHECK_OK(be->layer_norm(be, res[4], a, c, c + 1000, 100, 1000, 1e-6f));
    CHECK_OK(be->rms_norm(be, res[4] + n, a, c, 100, 1000, 1e-6f));
    CHECK_OK(be->softmax(be, res[4] + 2 * n, a, 100, 1000));
    CHECK_OK(be->modulate(be, res[4] + 3 * n, a, c, c + 1000, 100, 1000));
    const int64_t Lq = 300, Lk = 333, H = 2, D = 48;
    float *q = rand_buf((size_t)(Lq * H * D), 1), *k = rand_buf((size_t)(Lk * H * D), 1);
    float *v = rand_buf((size_t)(Lk * H * D), 1), *bias = rand_buf((size_t)(H * Lq * Lk), 1);
    uint8_t *mask = malloc((size_t)Lk);
    for (int64_t j = 0; j < Lk; j++) mask[j] = j % 5 != 0;
    res[5] = malloc(sizeof(float) * (size_t)(Lq * H * D));
    CHECK_OK(be->attention(be, res[5], q, k, v, Lq, Lk, H, D, 0.14f, bias, mask));
    double *cs = malloc(sizeof(double) * (size_t)(Lq * D));
    for (int64_t i = 0; i < Lq * D; i++) cs[i] = cos(0.01 * (double)i);
    res[6] = malloc(sizeof(float) * (size_t)(Lq * H * D));
    memcpy(res[6], q, sizeof(float) * (size_t)(Lq * H * D));
    CHECK_OK(be->rope(be, res[6], cs, Lq, H, D));
    wanc_tensor cw = make_weight(WANC_BF16, 5, (int64_t[]){8, 64, 3, 3, 3}, &cwv);
    float *cx = rand_buf((size_t)(64 * 2 * 20 * 70), 1);
    double *cbv;
    wanc_tensor cb = make_weight(WANC_F16, 1, (int64_t[]){8}, &cbv);
    free(cbv);
    res[7] = malloc(sizeof(float) * 8 * 2 * 20 * 70);
    CHECK_OK(be->conv3d(be, res[7], cx, &cw, &cb, 64, 2, 20, 70, (int[]){1, 1, 1}, (int[]){1, 1, 1}));
    /* strided: the im2col path, two column slabs */
    wanc_tensor cw2 = make_weight(WANC_F32, 5, (int64_t[]){8, 64, 1, 3, 3}, &cbv);
    free(cbv);
    float *cx2 = rand_buf((size_t)(64 * 200 * 200), 1);
    res[8] = malloc(sizeof(float) * 8 * 99 * 99);
    CHECK_OK(be->conv3d(be, res[8], cx2, &cw2, &cb, 64, 1, 200, 200, (int[]){1, 2, 2}, (int[]){0, 0, 0}));
    /* layout group: channel norm (+ fused SiLU) over several tasks, upsample, a tiled transpose, fill */
    res[9] = calloc(LAYOUT_GROUP_FLOATS, sizeof(float));
    float *r9 = res[9];
    CHECK_OK(be->channel_rms_norm(be, r9, a, c, 16, 6001, 1e-12f, 1)); /* two tasks */
    CHECK_OK(be->channel_rms_norm(be, r9 + 16 * 6001, a, NULL, 16, 6001, 1e-12f, 0));
    r9 += 2 * 16 * 6001;
    CHECK_OK(be->upsample_nearest2x(be, r9, cx, 8, 33, 41));
    r9 += 8 * 66 * 82;
    CHECK_OK(be->copy_strided(be, r9, (int64_t[]){1, 300}, cx, (int64_t[]){257, 1}, (int64_t[]){300, 257}, 2));
    r9 += 300 * 257;
    CHECK_OK(be->fill(be, r9, 0.25f, 100003));
    /* linear with bf16-exact activations: the AVX-512 BF16 kernels where the path has them */
    res[11] = malloc(sizeof(float) * (size_t)(M * 1100));
    wanc_round_bf16_inplace(x, (size_t)(M * 300));
    CHECK_OK(be->linear(be, res[11], x, &w, &b, M));
    /* appended ops: mul_rows over several tasks (ragged dim), relu over several tasks */
    res[10] = calloc((size_t)n * 2, sizeof(float));
    CHECK_OK(be->mul_rows(be, res[10], a, c, 97, 1030));
    CHECK_OK(be->relu(be, res[10] + n, a, n));
    wanc_tensor_free(&cw2);
    free(cx2);
    wanc_tensor_free(&cb);
    wanc_tensor_free(&w);
    wanc_tensor_free(&b);
    wanc_tensor_free(&wf);
    wanc_tensor_free(&cw);
    free(wv);
    free(bv);
    free(cwv);
    free(x);
    free(a);
    free(c);
    free(q);
    free(k);
    free(v);
    free(bias);
    free(mask);
    free(cs);
    free(cx);
}

TEST(ops_bit_identical_at_1_and_2_threads)
{
    static const size_t sizes[12] = {700 * 1100,   700 * 1100,   700 * 700,       100003 * 8,  100003 * 4,
                                     300 * 2 * 48, 300 * 2 * 48, 8 * 2 * 20 * 70, 8 * 99 * 99, LAYOUT_GROUP_FLOATS,
                                     100003 * 2,   700 * 1100};
    int saved = wanc_threads_get();
    cpu_isa saved_isa = cpu_isa_get();
    /* every instruction-set path this CPU has (the bf16 kernels included) */
    for (int isa = 0; isa <= (int)cpu_isa_best(); isa++) {
        CHECK_OK(cpu_isa_set(cpu_isa_name((cpu_isa)isa)));
        float *r1[12] = {0}, *r2[12] = {0};
        wanc_threads_set(1);
        run_all_ops(test_failed_, r1);
        wanc_threads_set(2);
        run_all_ops(test_failed_, r2);
        for (int i = 0; i < 12; i++) {
            int same = memcmp(r1[i], r2[i], sizes[i] * sizeof(float)) == 0;
            if (!same) fprintf(stderr, "  op group %d differs between 1 and 2 threads (path %s)\n", i,
                               cpu_isa_name((cpu_isa)isa));
            CHECK(same);
            free(r1[i]);
            free(r2[i]);
        }
    }
    wanc_threads_set(saved);
    CHECK_OK(cpu_isa_set(cpu_isa_name(saved_isa)));
}

/* ---- the vector exp used by softmax-like ops ------------------------------------------------ */

#include "backend/cpu/cpu_simd.h"

TEST(ops_exp_approximation)
{
    /* relative error within 3 float ulps of exp over the whole finite range,
     * exactly 1 at 0, exactly 0 below ln(FLT_MIN) and for -FLT_MAX, inf above */
    double worst = 0;
    for (float x = -87.0f; x < 88.0f; x += 0.0137f) {
        float buf[1] = {x};
        cpu_exp_sub_sum(buf, 1, 0.0f);
        double rel = fabs(buf[0] - exp((double)x)) / exp((double)x);
        worst = rel > worst ? rel : worst;
        CHECK(cpu_expf_scalar(x) == cpu_expf_scalar(x)); /* not NaN */
        double rs = fabs(cpu_expf_scalar(x) - exp((double)x)) / exp((double)x);
        worst = rs > worst ? rs : worst;
    }
    CHECK(worst < 3 * FLT_EPSILON);
    float v[11] = {0, -FLT_MAX, -100, -87.5f, 100, 0, 0, 0, 0, 0, 0};
    cpu_exp_sub_sum(v, 11, 0.0f); /* vector lanes and the tail */
    CHECK(v[0] == 1.0f && v[1] == 0.0f && v[2] == 0.0f && v[3] == 0.0f && isinf(v[4]) && v[10] == 1.0f);
    CHECK(cpu_expf_scalar(0) == 1.0f && cpu_expf_scalar(-FLT_MAX) == 0.0f && isnan(cpu_expf_scalar(NAN)));
}
