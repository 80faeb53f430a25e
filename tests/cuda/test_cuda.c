/* CPU-vs-CUDA parity for every op of the backend table, plus the CUDA
 * backend's memory (pool, pinned transfers, host-pointer staging, weight
 * cache) and its named errors.
 *
 * Each test runs the same op on the CPU backend and on "cuda" with the same
 * inputs and compares: bit-exact where both sides do the same IEEE
 * operations in the same order (add, mul, scale, modulate, gated_add,
 * round_bf16, RoPE, mul_rows, relu, channel_rms_norm without SiLU, and the
 * pure copies: upsample, copy_strided, fill), else the normalised error max|gpu - cpu| / max|cpu|
 * against a bound stated per test. Sizes are odd on purpose, and inputs
 * come from offset and strided pointers where the op allows.
 *
 * Without a device every test that needs one prints a SKIP line (a skip is
 * not a pass) and the host_* tests (layout and pool invariants, the named
 * errors) still run. Built by `make CUDA=1 test-cuda` only. */
#include <float.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "backend/backend.h"
#include "core/tensor.h"
#include "../unit/test.h"
#ifndef WANC_CUDA
#error "tests/cuda needs a CUDA=1 build (make CUDA=1 test-cuda)"
#endif
#include "cuda/cuda_backend.h"

/* ---- runner (the TEST macros register in tests/common/test_registry.c) ------------------- */

static const wanc_backend *gpu, *cpu;

/* Tests named host_* need no device and always run. */
static int is_host_test(const char *name) { return !strncmp(name, "host_", 5); }

int main(int argc, char **argv)
{
    cpu = wanc_backend_cpu();
    wanc_err err = wanc_backend_get("cuda", &gpu);
    if (err)
        printf("cuda: no device: %s\n", wanc_error_message(err));
    else
        printf("cuda: testing on %s\n", gpu->name);
    int passed = 0, failed = 0, skipped = 0;
    for (int i = 0; i < test_count(); i++) {
        const test_case *t = test_get(i);
        if (argc > 1 && !strstr(t->name, argv[1])) continue;
        if (err && !is_host_test(t->name)) {
            printf("SKIP %s (%s): %s\n", t->name, t->file, wanc_error_message(err));
            skipped++;
            continue;
        }
        int f = 0;
        t->fn(&f);
        printf("%s %s (%s)\n", f ? "FAIL" : "PASS", t->name, t->file);
        fflush(stdout);
        if (f) failed++;
        else passed++;
    }
    printf("cuda: %d passed, %d failed, %d skipped%s\n", passed, failed, skipped,
           skipped ? " (no CUDA device: the parity tests did not run)" : "");
    wanc_error_free(err);
    return failed ? 1 : 0;
}

/* ---- helpers ------------------------------------------------------------------------ */

static uint64_t rng_state = 0x2545f4914f6cdd1dull;
static float frand(void) /* uniform in [-1, 1) */
{
    rng_state = rng_state * 6364136223846793005ull + 1442695040888963407ull;
    return (float)((rng_state >> 40) / 16777216.0 * 2.0 - 1.0);
}
static float *rand_buf(size_t n, float amp)
{
    float *p = malloc(n * sizeof(float) + 4);
    for (size_t i = 0; i < n; i++) p[i] = frand() * amp;
    return p;
}
static float *copy_buf(const float *x, size_t n)
{
    float *p = malloc(n * sizeof(float) + 4);
    memcpy(p, x, n * sizeof(float));
    return p;
}

/* A device copy of n floats of host x (NULL on failure, reported). */
static float *to_dev(int *test_failed_, const float *x, size_t n)
{
    void *d = NULL;
    CHECK_OK(gpu->alloc(gpu, &d, n * sizeof(float) + 4));
    if (d) CHECK_OK(gpu->upload(gpu, d, x, n * sizeof(float)));
    return d;
}
static float *from_dev(int *test_failed_, const float *d, size_t n)
{
    float *h = calloc(n + 1, sizeof(float));
    CHECK_OK(gpu->download(gpu, h, d, n * sizeof(float)));
    return h;
}

/* max|a - ref| / max|ref| (NaN counts as failure). */
static double norm_err(const float *a, const float *ref, size_t n)
{
    double m = 0, r = 0;
    for (size_t i = 0; i < n; i++) {
        double d = fabs((double)a[i] - (double)ref[i]);
        if (!(d <= m)) m = d;
        if (fabs(ref[i]) > r) r = fabs(ref[i]);
    }
    return r > 0 ? m / r : m;
}
#define CHECK_CLOSE(got, ref, n, tol)                                                              \
    do {                                                                                           \
        double e_ = norm_err((got), (ref), (n));                                                   \
        if (!(e_ <= (tol))) fprintf(stderr, "  normalised error %.3g > %.3g\n", e_, (double)(tol)); \
        CHECK(e_ <= (tol));                                                                        \
    } while (0)
#define CHECK_SAME(got, ref, n) CHECK(memcmp((got), (ref), (n) * sizeof(float)) == 0)

/* A weight tensor of shape `shape` in dtype dt, owned, random. */
static wanc_tensor make_weight(wanc_dtype dt, int ndim, const int64_t *shape, float amp)
{
    wanc_tensor t;
    if (wanc_tensor_alloc(&t, dt, ndim, shape)) abort();
    int64_t n = wanc_tensor_numel(&t);
    for (int64_t i = 0; i < n; i++) {
        float f = frand() * amp;
        if (dt == WANC_F32) ((float *)t.data)[i] = f;
        else if (dt == WANC_BF16) ((uint16_t *)t.data)[i] = wanc_f32_to_bf16(f);
        else ((uint16_t *)t.data)[i] = wanc_f32_to_f16(f);
    }
    return t;
}

/* ---- host-side (no device) ------------------------------------------------------------ */

TEST(host_cuda_invariants) { CHECK_OK(wanc_cuda_check_invariants()); }

TEST(host_cuda_backend_errors)
{
    /* with a device these name the bad index; without one, the missing device */
    const wanc_backend *be = (const wanc_backend *)1;
    wanc_err err = wanc_backend_cuda(-1, &be);
    CHECK(err != NULL && be == NULL);
    CHECK(strstr(wanc_error_message(err), "does not exist") || strstr(wanc_error_message(err), "no CUDA device"));
    wanc_error_free(err);
    CHECK_ERR(wanc_backend_cuda(0, NULL), WANC_EINVAL, "NULL");
    CHECK_ERR(wanc_cuda_synchronize(cpu), WANC_EINVAL, "not a CUDA backend");
    wanc_cuda_mem_stats st;
    CHECK_ERR(wanc_cuda_mem_stats_get(cpu, &st), WANC_EINVAL, "not a CUDA backend");
    double ms;
    CHECK_ERR(wanc_cuda_gemm_ms(cpu, 64, 1, 1, &ms), WANC_EINVAL, "not a CUDA backend");
}

/* ---- memory -------------------------------------------------------------------------- */

TEST(cuda_upload_download_roundtrip)
{
    /* 70 MB + 3 floats: several pinned chunks, an odd tail, an offset destination */
    size_t n = (70u << 20) / 4 + 3;
    float *x = rand_buf(n, 1), *back = calloc(n, sizeof(float));
    void *d = NULL;
    CHECK_OK(gpu->alloc(gpu, &d, (n + 1) * sizeof(float)));
    CHECK_OK(gpu->upload(gpu, (float *)d + 1, x, n * sizeof(float)));
    CHECK_OK(gpu->download(gpu, back, (float *)d + 1, n * sizeof(float)));
    CHECK_SAME(back, x, n);
    gpu->free(gpu, d);
    free(x);
    free(back);
}

TEST(cuda_pool_reuses_blocks)
{
    wanc_cuda_mem_stats s0, s1, s2;
    CHECK_OK(wanc_cuda_mem_stats_get(gpu, &s0));
    void *a = NULL, *b = NULL, *z = NULL;
    CHECK_OK(gpu->alloc(gpu, &a, 3u << 20));
    CHECK_OK(wanc_cuda_mem_stats_get(gpu, &s1));
    CHECK(s1.pool_live_bytes >= s0.pool_live_bytes + (3u << 20));
    gpu->free(gpu, a);
    CHECK_OK(gpu->alloc(gpu, &b, (3u << 20) - 100)); /* same size class: the same block */
    CHECK(a == b);
    CHECK_OK(gpu->alloc(gpu, &z, 0)); /* zero bytes is a valid, freeable block */
    CHECK(z != NULL);
    gpu->free(gpu, b);
    gpu->free(gpu, z);
    gpu->free(gpu, NULL);
    CHECK_OK(wanc_cuda_mem_stats_get(gpu, &s2));
    CHECK(s2.pool_live_bytes == s0.pool_live_bytes);
}

/* ---- dense ---------------------------------------------------------------------------- */

/* out = x · wᵀ + bias on both backends; x rounded to bf16 first when the
 * GPU rounds it (BF16 weights), so both sides multiply the same values. */
static void linear_case(int *test_failed_, wanc_dtype wdt, wanc_dtype bdt, int64_t M, int64_t N, int64_t K,
                        int host_ptrs, double tol)
{
    int64_t ws[2] = {N, K}, bs[1] = {N};
    wanc_tensor w = make_weight(wdt, 2, ws, 0.5f), b = make_weight(bdt, 1, bs, 0.5f);
    float *x = rand_buf((size_t)(M * K), 1);
    if (wdt == WANC_BF16) wanc_round_bf16_inplace(x, (size_t)(M * K));
    float *ref = calloc((size_t)(M * N), sizeof(float)), *got = NULL;
    CHECK_OK(cpu->linear(cpu, ref, x, &w, &b, M));
    if (host_ptrs) {
        got = calloc((size_t)(M * N), sizeof(float));
        CHECK_OK(gpu->linear(gpu, got, x, &w, &b, M));
    } else {
        float *dx = to_dev(test_failed_, x, (size_t)(M * K)), *dout = NULL;
        CHECK_OK(gpu->alloc(gpu, (void **)&dout, (size_t)(M * N) * sizeof(float)));
        CHECK_OK(gpu->linear(gpu, dout, dx, &w, &b, M));
        got = from_dev(test_failed_, dout, (size_t)(M * N));
        gpu->free(gpu, dx);
        gpu->free(gpu, dout);
    }
    CHECK_CLOSE(got, ref, (size_t)(M * N), tol);
    free(x);
    free(ref);
    free(got);
    wanc_tensor_free(&w);
    wanc_tensor_free(&b);
}

TEST(cuda_linear_f32) { linear_case(test_failed_, WANC_F32, WANC_F32, 37, 45, 67, 0, 1e-5); }
TEST(cuda_linear_bf16) { linear_case(test_failed_, WANC_BF16, WANC_BF16, 129, 70, 300, 0, 1e-5); }
TEST(cuda_linear_f16) { linear_case(test_failed_, WANC_F16, WANC_F32, 33, 17, 1000, 0, 1e-5); }
TEST(cuda_linear_host_pointers) { linear_case(test_failed_, WANC_BF16, WANC_F32, 19, 65, 96, 1, 1e-5); }

TEST(cuda_linear_bf16_rounds_activations)
{
    /* unrounded x: the GPU multiplies bf16(x); the CPU on bf16(x) is the reference */
    int64_t M = 21, N = 33, K = 130, ws[2] = {N, K};
    wanc_tensor w = make_weight(WANC_BF16, 2, ws, 0.5f);
    float *x = rand_buf((size_t)(M * K), 1), *xr = copy_buf(x, (size_t)(M * K));
    wanc_round_bf16_inplace(xr, (size_t)(M * K));
    float *ref = calloc((size_t)(M * N), sizeof(float)), *got = calloc((size_t)(M * N), sizeof(float));
    CHECK_OK(cpu->linear(cpu, ref, xr, &w, NULL, M));
    CHECK_OK(gpu->linear(gpu, got, x, &w, NULL, M));
    CHECK_CLOSE(got, ref, (size_t)(M * N), 1e-5);
    /* with bf16_gemm off the weight is expanded and x used as it is */
    CHECK_OK(wanc_cuda_configure(gpu, &(wanc_cuda_options){.bf16_gemm = 0, .allow_tf32 = 0}));
    CHECK_OK(cpu->linear(cpu, ref, x, &w, NULL, M));
    CHECK_OK(gpu->linear(gpu, got, x, &w, NULL, M));
    CHECK_CLOSE(got, ref, (size_t)(M * N), 1e-5);
    CHECK_OK(wanc_cuda_configure(gpu, &(wanc_cuda_options){.bf16_gemm = 1, .allow_tf32 = 0}));
    free(x);
    free(xr);
    free(ref);
    free(got);
    wanc_tensor_free(&w);
}

TEST(cuda_weight_cache_sees_new_contents)
{
    /* the same host address with new values must not reuse the old device copy */
    int64_t M = 5, N = 40, K = 64, ws[2] = {N, K};
    wanc_tensor w = make_weight(WANC_F32, 2, ws, 0.5f);
    float *x = rand_buf((size_t)(M * K), 1);
    float *ref = calloc((size_t)(M * N), sizeof(float)), *got = calloc((size_t)(M * N), sizeof(float));
    CHECK_OK(gpu->linear(gpu, got, x, &w, NULL, M));
    wanc_cuda_mem_stats s1, s2;
    CHECK_OK(wanc_cuda_mem_stats_get(gpu, &s1));
    CHECK_OK(gpu->linear(gpu, got, x, &w, NULL, M)); /* cached: no new weight */
    CHECK_OK(wanc_cuda_mem_stats_get(gpu, &s2));
    CHECK(s2.weight_count == s1.weight_count);
    for (int64_t i = 0; i < N * K; i++) ((float *)w.data)[i] = frand();
    CHECK_OK(cpu->linear(cpu, ref, x, &w, NULL, M));
    CHECK_OK(gpu->linear(gpu, got, x, &w, NULL, M));
    CHECK_CLOSE(got, ref, (size_t)(M * N), 1e-5);
    CHECK_OK(wanc_cuda_forget_weights(gpu));
    CHECK_OK(wanc_cuda_mem_stats_get(gpu, &s2));
    CHECK(s2.weight_count == 0 && s2.weight_bytes == 0);
    free(x);
    free(ref);
    free(got);
    wanc_tensor_free(&w);
}

TEST(cuda_gemm_strided)
{
    for (int ta = 0; ta < 2; ta++)
        for (int tb = 0; tb < 2; tb++) {
            int64_t M = 23, N = 31, K = 45;
            int64_t lda = (ta ? M : K) + 3, ldb = (tb ? K : N) + 5, ldc = N + 2;
            int64_t arows = ta ? K : M, brows = tb ? N : K;
            /* +1: operands start one float into their buffers */
            float *a = rand_buf((size_t)(arows * lda + 1), 1), *b = rand_buf((size_t)(brows * ldb + 1), 1);
            float *c0 = rand_buf((size_t)(M * ldc + 1), 1), *ref = copy_buf(c0, (size_t)(M * ldc + 1));
            CHECK_OK(cpu->gemm(cpu, ref + 1, a + 1, b + 1, M, N, K, ta, tb, 0.7f, 0.3f, lda, ldb, ldc));
            float *da = to_dev(test_failed_, a, (size_t)(arows * lda + 1));
            float *db = to_dev(test_failed_, b, (size_t)(brows * ldb + 1));
            float *dc = to_dev(test_failed_, c0, (size_t)(M * ldc + 1));
            CHECK_OK(gpu->gemm(gpu, dc + 1, da + 1, db + 1, M, N, K, ta, tb, 0.7f, 0.3f, lda, ldb, ldc));
            float *got = from_dev(test_failed_, dc, (size_t)(M * ldc + 1));
            CHECK_CLOSE(got, ref, (size_t)(M * ldc + 1), 1e-5);
            CHECK(got[0] == c0[0]); /* nothing written outside the matrix */
            for (int64_t r = 0; r < M; r++) CHECK(got[1 + r * ldc + N] == c0[1 + r * ldc + N]);
            /* host pointers (staged to aligned blocks: cuBLAS may pick another kernel) */
            float *hc = copy_buf(c0, (size_t)(M * ldc + 1));
            CHECK_OK(gpu->gemm(gpu, hc + 1, a + 1, b + 1, M, N, K, ta, tb, 0.7f, 0.3f, lda, ldb, ldc));
            CHECK_CLOSE(hc, ref, (size_t)(M * ldc + 1), 1e-5);
            CHECK(hc[0] == c0[0]);
            for (int64_t r = 0; r < M; r++) CHECK(hc[1 + r * ldc + N] == c0[1 + r * ldc + N]);
            gpu->free(gpu, da);
            gpu->free(gpu, db);
            gpu->free(gpu, dc);
            free(a);
            free(b);
            free(c0);
            free(ref);
            free(got);
            free(hc);
        }
}

/* ---- norms, softmax ---------------------------------------------------------------------- */

TEST(cuda_layer_norm)
{
    int64_t rows = 33, dim = 1537;
    size_t n = (size_t)(rows * dim);
    float *x = rand_buf(n, 3), *w = rand_buf((size_t)dim, 1), *b = rand_buf((size_t)dim, 1);
    for (size_t i = 0; i < n; i++) x[i] += 2.0f; /* a mean far from 0 */
    for (int affine = 0; affine < 4; affine++) {
        const float *ww = affine & 1 ? w : NULL, *bb = affine & 2 ? b : NULL;
        float *ref = calloc(n, sizeof(float));
        CHECK_OK(cpu->layer_norm(cpu, ref, x, ww, bb, rows, dim, 1e-6f));
        float *dx = to_dev(test_failed_, x, n);
        float *dw = ww ? to_dev(test_failed_, ww, (size_t)dim) : NULL, *dbb = bb ? to_dev(test_failed_, bb, (size_t)dim) : NULL;
        CHECK_OK(gpu->layer_norm(gpu, dx, dx, dw, dbb, rows, dim, 1e-6f)); /* in place */
        float *got = from_dev(test_failed_, dx, n);
        CHECK_CLOSE(got, ref, n, 1e-6);
        gpu->free(gpu, dx);
        gpu->free(gpu, dw);
        gpu->free(gpu, dbb);
        free(ref);
        free(got);
    }
    free(x);
    free(w);
    free(b);
}

TEST(cuda_rms_norm)
{
    int64_t rows = 17, dim = 129;
    size_t n = (size_t)(rows * dim);
    float *x = rand_buf(n, 2), *w = rand_buf((size_t)dim, 1);
    for (int with_w = 0; with_w < 2; with_w++) {
        float *ref = calloc(n, sizeof(float)), *got = calloc(n, sizeof(float));
        CHECK_OK(cpu->rms_norm(cpu, ref, x, with_w ? w : NULL, rows, dim, 1e-5f));
        CHECK_OK(gpu->rms_norm(gpu, got, x, with_w ? w : NULL, rows, dim, 1e-5f)); /* host pointers */
        CHECK_CLOSE(got, ref, n, 1e-6);
        free(ref);
        free(got);
    }
    free(x);
    free(w);
}

TEST(cuda_softmax)
{
    int64_t rows = 19, dim = 1001;
    size_t n = (size_t)(rows * dim);
    float *x = rand_buf(n, 8);
    float *ref = calloc(n, sizeof(float));
    CHECK_OK(cpu->softmax(cpu, ref, x, rows, dim));
    float *dx = to_dev(test_failed_, x, n);
    CHECK_OK(gpu->softmax(gpu, dx, dx, rows, dim));
    float *got = from_dev(test_failed_, dx, n);
    CHECK_CLOSE(got, ref, n, 1e-5);
    gpu->free(gpu, dx);
    free(x);
    free(ref);
    free(got);
}

/* ---- elementwise ---------------------------------------------------------------------- */

TEST(cuda_elementwise)
{
    size_t n = 100003;
    float *a = rand_buf(n + 1, 6), *b = rand_buf(n + 1, 6);
    float *da = to_dev(test_failed_, a, n + 1), *db = to_dev(test_failed_, b, n + 1), *dout = NULL;
    CHECK_OK(gpu->alloc(gpu, (void **)&dout, (n + 1) * sizeof(float)));
    float *ref = calloc(n, sizeof(float)), *got;
    /* transcendental: accurate CUDA functions vs the CPU's polynomials */
    wanc_err (*const un_cpu[3])(const wanc_backend *, float *, const float *, int64_t) = {cpu->gelu_tanh, cpu->gelu_erf, cpu->silu};
    wanc_err (*const un_gpu[3])(const wanc_backend *, float *, const float *, int64_t) = {gpu->gelu_tanh, gpu->gelu_erf, gpu->silu};
    for (int k = 0; k < 3; k++) {
        CHECK_OK(un_cpu[k](cpu, ref, a + 1, (int64_t)n));
        CHECK_OK(un_gpu[k](gpu, dout, da + 1, (int64_t)n)); /* offset input */
        got = from_dev(test_failed_, dout, n);
        CHECK_CLOSE(got, ref, n, 2e-6);
        free(got);
    }
    /* the same IEEE operations in the same order: the same bits */
    CHECK_OK(cpu->add(cpu, ref, a + 1, b, (int64_t)n));
    CHECK_OK(gpu->add(gpu, dout, da + 1, db, (int64_t)n));
    got = from_dev(test_failed_, dout, n);
    CHECK_SAME(got, ref, n);
    free(got);
    CHECK_OK(cpu->mul(cpu, ref, a, b + 1, (int64_t)n));
    CHECK_OK(gpu->mul(gpu, dout, da, db + 1, (int64_t)n));
    got = from_dev(test_failed_, dout, n);
    CHECK_SAME(got, ref, n);
    free(got);
    CHECK_OK(cpu->scale(cpu, ref, a, 0.37f, -1.25f, (int64_t)n));
    CHECK_OK(gpu->scale(gpu, dout, da, 0.37f, -1.25f, (int64_t)n));
    got = from_dev(test_failed_, dout, n);
    CHECK_SAME(got, ref, n);
    free(got);
    memcpy(ref, a, n * sizeof(float));
    CHECK_OK(cpu->round_bf16(cpu, ref, (int64_t)n));
    CHECK_OK(gpu->round_bf16(gpu, da, (int64_t)n));
    got = from_dev(test_failed_, da, n);
    CHECK_SAME(got, ref, n);
    free(got);
    /* host pointers, in place */
    float *h = copy_buf(b, n), *hr = copy_buf(b, n);
    CHECK_OK(cpu->gelu_tanh(cpu, hr, hr, (int64_t)n));
    CHECK_OK(gpu->gelu_tanh(gpu, h, h, (int64_t)n));
    CHECK_CLOSE(h, hr, n, 2e-6);
    gpu->free(gpu, da);
    gpu->free(gpu, db);
    gpu->free(gpu, dout);
    free(a);
    free(b);
    free(ref);
    free(h);
    free(hr);
}

TEST(cuda_modulate_gated_add)
{
    int64_t rows = 41, dim = 97;
    size_t n = (size_t)(rows * dim);
    float *x = rand_buf(n, 3), *y = rand_buf(n, 3), *sh = rand_buf((size_t)dim, 1), *sc = rand_buf((size_t)dim, 1);
    float *ref = calloc(n, sizeof(float)), *got = calloc(n, sizeof(float));
    CHECK_OK(cpu->modulate(cpu, ref, x, sh, sc, rows, dim));
    CHECK_OK(gpu->modulate(gpu, got, x, sh, sc, rows, dim));
    CHECK_SAME(got, ref, n);
    for (int g = 0; g < 2; g++) {
        float *r2 = copy_buf(x, n), *g2 = copy_buf(x, n);
        CHECK_OK(cpu->gated_add(cpu, r2, y, g ? sc : NULL, rows, dim));
        float *dx = to_dev(test_failed_, x, n), *dy = to_dev(test_failed_, y, n);
        float *dg = g ? to_dev(test_failed_, sc, (size_t)dim) : NULL;
        CHECK_OK(gpu->gated_add(gpu, dx, dy, dg, rows, dim));
        free(g2);
        g2 = from_dev(test_failed_, dx, n);
        CHECK_SAME(g2, r2, n);
        gpu->free(gpu, dx);
        gpu->free(gpu, dy);
        gpu->free(gpu, dg);
        free(r2);
        free(g2);
    }
    free(x);
    free(y);
    free(sh);
    free(sc);
    free(ref);
    free(got);
}

TEST(cuda_rope)
{
    int64_t L = 29, H = 3, D = 18, half = D / 2;
    size_t n = (size_t)(L * H * D);
    double *cs = malloc(sizeof(double) * (size_t)(L * half * 2));
    for (int64_t l = 0; l < L; l++)
        for (int64_t i = 0; i < half; i++) {
            double th = (double)l * pow(10000.0, -2.0 * (double)i / (double)D);
            cs[(l * half + i) * 2] = cos(th);
            cs[(l * half + i) * 2 + 1] = sin(th);
        }
    float *x = rand_buf(n + 1, 2), *ref = copy_buf(x, n + 1);
    CHECK_OK(cpu->rope(cpu, ref + 1, cs, L, H, D));
    float *dx = to_dev(test_failed_, x, n + 1);
    CHECK_OK(gpu->rope(gpu, dx + 1, cs, L, H, D)); /* device x at an offset, host table */
    float *got = from_dev(test_failed_, dx, n + 1);
    CHECK_SAME(got, ref, n + 1);
    gpu->free(gpu, dx);
    free(cs);
    free(x);
    free(ref);
    free(got);
}

/* ---- attention ------------------------------------------------------------------------- */

/* bf16 = 1: the tensor-core kernel (wanc_cuda_options.attention_bf16) on
 * q, k, v that are already bf16 values, as in bf16 mode; its softmax
 * weights are rounded to bf16 (torch's bf16 flash attention does the same),
 * hence the looser bound in those cases. */
static void attention_case_mode(int *test_failed_, int64_t Lq, int64_t Lk, int64_t H, int64_t D, int with_bias,
                                int mask_kind /* 0 none, 1 some keys, 2 all keys */, double tol, int bf16)
{
    size_t nq = (size_t)(Lq * H * D), nk = (size_t)(Lk * H * D);
    float *q = rand_buf(nq, 1), *k = rand_buf(nk, 1), *v = rand_buf(nk, 1);
    if (bf16) {
        wanc_round_bf16_inplace(q, nq);
        wanc_round_bf16_inplace(k, nk);
        wanc_round_bf16_inplace(v, nk);
        CHECK_OK(wanc_cuda_configure(gpu, &(wanc_cuda_options){.bf16_gemm = 1, .attention_bf16 = 1}));
    }
    float *bias = with_bias ? rand_buf((size_t)(H * Lq * Lk), 2) : NULL;
    uint8_t *mask = NULL;
    if (mask_kind) {
        mask = malloc((size_t)Lk);
        for (int64_t j = 0; j < Lk; j++) mask[j] = mask_kind == 2 ? 0 : (j % 3 != 1);
    }
    float scale = 1.0f / sqrtf((float)D);
    float *ref = calloc(nq, sizeof(float));
    CHECK_OK(cpu->attention(cpu, ref, q, k, v, Lq, Lk, H, D, scale, bias, mask));
    float *dq = to_dev(test_failed_, q, nq), *dk = to_dev(test_failed_, k, nk), *dv = to_dev(test_failed_, v, nk);
    float *dout = NULL;
    CHECK_OK(gpu->alloc(gpu, (void **)&dout, nq * sizeof(float)));
    CHECK_OK(gpu->attention(gpu, dout, dq, dk, dv, Lq, Lk, H, D, scale, bias, mask)); /* bias, mask from host */
    float *got = from_dev(test_failed_, dout, nq);
    CHECK_CLOSE(got, ref, nq, tol);
    if (bf16) CHECK_OK(wanc_cuda_configure(gpu, &(wanc_cuda_options){.bf16_gemm = 1, .attention_bf16 = 0}));
    gpu->free(gpu, dq);
    gpu->free(gpu, dk);
    gpu->free(gpu, dv);
    gpu->free(gpu, dout);
    free(q);
    free(k);
    free(v);
    free(bias);
    free(mask);
    free(ref);
    free(got);
}

static void attention_case(int *test_failed_, int64_t Lq, int64_t Lk, int64_t H, int64_t D, int with_bias,
                           int mask_kind, double tol)
{
    attention_case_mode(test_failed_, Lq, Lk, H, D, with_bias, mask_kind, tol, 0);
}

TEST(cuda_attention_self) { attention_case(test_failed_, 77, 77, 3, 64, 0, 0, 1e-5); }
TEST(cuda_attention_dit_head) { attention_case(test_failed_, 45, 300, 2, 128, 0, 0, 1e-5); }
TEST(cuda_attention_cross_short) { attention_case(test_failed_, 130, 7, 4, 128, 0, 0, 1e-5); }
TEST(cuda_attention_odd_dims) { attention_case(test_failed_, 33, 65, 5, 20, 0, 0, 1e-5); }
TEST(cuda_attention_clip_head) { attention_case(test_failed_, 57, 57, 2, 80, 0, 0, 1e-5); }
TEST(cuda_attention_vae_single_head) { attention_case(test_failed_, 50, 50, 1, 384, 0, 0, 1e-5); }
TEST(cuda_attention_bias_mask) { attention_case(test_failed_, 29, 70, 3, 64, 1, 1, 1e-5); }
TEST(cuda_attention_all_masked) { attention_case(test_failed_, 9, 40, 2, 32, 0, 2, 1e-5); }

TEST(cuda_attention_bf16_dit_head) { attention_case_mode(test_failed_, 100, 300, 2, 128, 0, 0, 1e-2, 1); }
TEST(cuda_attention_bf16_cross) { attention_case_mode(test_failed_, 70, 13, 3, 128, 0, 0, 1e-2, 1); }
TEST(cuda_attention_bf16_bias_mask) { attention_case_mode(test_failed_, 65, 129, 2, 64, 1, 1, 1e-2, 1); }
TEST(cuda_attention_bf16_clip_head) { attention_case_mode(test_failed_, 40, 70, 2, 80, 0, 0, 1e-2, 1); }
TEST(cuda_attention_bf16_all_masked) { attention_case_mode(test_failed_, 9, 40, 2, 32, 0, 2, 1e-2, 1); }
/* head dims the tensor-core kernel does not take fall back to fp32: the tight bound holds */
TEST(cuda_attention_bf16_fallback) { attention_case_mode(test_failed_, 33, 65, 2, 20, 0, 0, 1e-5, 1); }
TEST(cuda_attention_bf16_large_head_fallback) { attention_case_mode(test_failed_, 20, 30, 1, 384, 0, 0, 1e-5, 1); }

/* ---- conv3d ------------------------------------------------------------------------------- */

static void conv_case(int *test_failed_, wanc_dtype wdt, int ndim, int64_t Cout, int64_t Cin, int64_t T, int64_t H,
                      int64_t W, int kt, int kh, int kw, const int stride[3], const int pad[3], int with_bias)
{
    int64_t ws5[5] = {Cout, Cin, kt, kh, kw}, ws4[4] = {Cout, Cin, kh, kw}, bs[1] = {Cout};
    wanc_tensor w = make_weight(wdt, ndim, ndim == 5 ? ws5 : ws4, 0.3f), b = make_weight(WANC_F32, 1, bs, 0.5f);
    size_t nx = (size_t)(Cin * T * H * W);
    int64_t To = (T + 2 * pad[0] - kt) / stride[0] + 1, Ho = (H + 2 * pad[1] - kh) / stride[1] + 1,
            Wo = (W + 2 * pad[2] - kw) / stride[2] + 1;
    size_t no = (size_t)(Cout * To * Ho * Wo);
    float *x = rand_buf(nx, 1), *ref = calloc(no, sizeof(float));
    CHECK_OK(cpu->conv3d(cpu, ref, x, &w, with_bias ? &b : NULL, Cin, T, H, W, stride, pad));
    float *dx = to_dev(test_failed_, x, nx), *dout = NULL;
    CHECK_OK(gpu->alloc(gpu, (void **)&dout, no * sizeof(float)));
    CHECK_OK(gpu->conv3d(gpu, dout, dx, &w, with_bias ? &b : NULL, Cin, T, H, W, stride, pad));
    float *got = from_dev(test_failed_, dout, no);
    CHECK_CLOSE(got, ref, no, 1e-5);
    gpu->free(gpu, dx);
    gpu->free(gpu, dout);
    free(x);
    free(ref);
    free(got);
    wanc_tensor_free(&w);
    wanc_tensor_free(&b);
}

TEST(cuda_conv3d_3x3x3)
{
    conv_case(test_failed_, WANC_F32, 5, 7, 5, 4, 9, 11, 3, 3, 3, (const int[3]){1, 1, 1}, (const int[3]){1, 1, 1}, 1);
}
TEST(cuda_conv3d_downsample_bf16)
{
    conv_case(test_failed_, WANC_BF16, 5, 6, 4, 5, 10, 13, 3, 3, 3, (const int[3]){2, 2, 2}, (const int[3]){0, 1, 1}, 1);
}
TEST(cuda_conv3d_patch_embed)
{
    conv_case(test_failed_, WANC_F32, 5, 16, 3, 3, 8, 10, 1, 2, 2, (const int[3]){1, 2, 2}, (const int[3]){0, 0, 0}, 1);
}
TEST(cuda_conv3d_pointwise_f16)
{
    conv_case(test_failed_, WANC_F16, 5, 9, 12, 2, 7, 5, 1, 1, 1, (const int[3]){1, 1, 1}, (const int[3]){0, 0, 0}, 0);
}
TEST(cuda_conv2d)
{
    conv_case(test_failed_, WANC_F32, 4, 5, 3, 1, 12, 9, 1, 3, 3, (const int[3]){1, 1, 1}, (const int[3]){0, 1, 1}, 1);
}

/* ---- conv3d_hist ------------------------------------------------------------------------------ */

/* hist[Cin, Th] ++ x[Cin, T] along time: against the CPU's conv3d_hist and
 * against the GPU's own conv3d on the built concatenation (the same bits). */
static void conv_hist_case(int *test_failed_, int64_t Cout, int64_t Cin, int64_t Th, int64_t T, int64_t H, int64_t W,
                           int with_hist, const int stride[3], const int pad[3])
{
    int64_t ws[5] = {Cout, Cin, 3, 3, 3}, bs[1] = {Cout};
    wanc_tensor w = make_weight(WANC_BF16, 5, ws, 0.3f), b = make_weight(WANC_F32, 1, bs, 0.5f);
    const int64_t HW = H * W, Tc = Th + T;
    float *hist = rand_buf((size_t)(Cin * Th * HW), 1), *x = rand_buf((size_t)(Cin * T * HW), 1);
    float *cat = calloc((size_t)(Cin * Tc * HW) + 1, sizeof(float));
    for (int64_t c = 0; c < Cin; c++) {
        if (with_hist) memcpy(cat + c * Tc * HW, hist + c * Th * HW, sizeof(float) * (size_t)(Th * HW));
        memcpy(cat + (c * Tc + Th) * HW, x + c * T * HW, sizeof(float) * (size_t)(T * HW));
    }
    int64_t To = (Tc + 2 * pad[0] - 3) / stride[0] + 1, Ho = (H + 2 * pad[1] - 3) / stride[1] + 1,
            Wo = (W + 2 * pad[2] - 3) / stride[2] + 1;
    size_t no = (size_t)(Cout * To * Ho * Wo);
    float *ref = calloc(no, sizeof(float)), *got_host = calloc(no, sizeof(float));
    const float *hp = with_hist ? hist : NULL;
    CHECK_OK(cpu->conv3d_hist(cpu, ref, hp, Th, x, &w, &b, Cin, T, H, W, stride, pad));
    float *dh = with_hist ? to_dev(test_failed_, hist, (size_t)(Cin * Th * HW)) : NULL;
    float *dx = to_dev(test_failed_, x, (size_t)(Cin * T * HW)), *dcat = to_dev(test_failed_, cat, (size_t)(Cin * Tc * HW));
    float *dout = NULL, *dout2 = NULL;
    CHECK_OK(gpu->alloc(gpu, (void **)&dout, no * sizeof(float)));
    CHECK_OK(gpu->alloc(gpu, (void **)&dout2, no * sizeof(float)));
    CHECK_OK(gpu->conv3d_hist(gpu, dout, dh, Th, dx, &w, &b, Cin, T, H, W, stride, pad));
    CHECK_OK(gpu->conv3d(gpu, dout2, dcat, &w, &b, Cin, Tc, H, W, stride, pad));
    float *got = from_dev(test_failed_, dout, no), *got2 = from_dev(test_failed_, dout2, no);
    CHECK_CLOSE(got, ref, no, 1e-5);
    CHECK_SAME(got, got2, no);
    /* host pointers */
    CHECK_OK(gpu->conv3d_hist(gpu, got_host, hp, Th, x, &w, &b, Cin, T, H, W, stride, pad));
    CHECK_SAME(got_host, got, no);
    gpu->free(gpu, dh);
    gpu->free(gpu, dx);
    gpu->free(gpu, dcat);
    gpu->free(gpu, dout);
    gpu->free(gpu, dout2);
    free(hist);
    free(x);
    free(cat);
    free(ref);
    free(got_host);
    free(got);
    free(got2);
    wanc_tensor_free(&w);
    wanc_tensor_free(&b);
}

TEST(cuda_conv3d_hist_cached_frames)
{
    conv_hist_case(test_failed_, 5, 4, 2, 3, 7, 9, 1, (const int[3]){1, 1, 1}, (const int[3]){0, 1, 1});
}
TEST(cuda_conv3d_hist_zero_history)
{
    conv_hist_case(test_failed_, 6, 3, 2, 1, 6, 5, 0, (const int[3]){1, 1, 1}, (const int[3]){0, 1, 1});
}
TEST(cuda_conv3d_hist_time_stride)
{
    conv_hist_case(test_failed_, 4, 5, 1, 4, 8, 6, 1, (const int[3]){2, 2, 2}, (const int[3]){0, 0, 0});
}
TEST(cuda_conv3d_hist_history_only)
{
    conv_hist_case(test_failed_, 3, 2, 3, 0, 5, 5, 1, (const int[3]){1, 1, 1}, (const int[3]){0, 1, 1});
}

/* ---- channel-first features, layout, mul_rows, relu ---------------------------------------------- */

TEST(cuda_channel_rms_norm)
{
    /* the same operations in the same order (double sum over channels, one
     * rounding each for /, ·√C, ·gamma): the same bits; SiLU's expf differs
     * from the CPU's polynomial by a few ulp */
    const int64_t C = 13, P = 1037;
    size_t n = (size_t)(C * P);
    float *x = rand_buf(n, 2), *g = rand_buf((size_t)C, 1.5f), *ref = calloc(n, sizeof(float));
    float *dx = to_dev(test_failed_, x, n), *dg = to_dev(test_failed_, g, (size_t)C), *dout = NULL;
    CHECK_OK(gpu->alloc(gpu, (void **)&dout, n * sizeof(float)));
    for (int variant = 0; variant < 3; variant++) {
        const float *gamma = variant == 1 ? NULL : g, *dgamma = variant == 1 ? NULL : dg;
        int silu = variant == 2;
        CHECK_OK(cpu->channel_rms_norm(cpu, ref, x, gamma, C, P, 1e-12f, silu));
        CHECK_OK(gpu->channel_rms_norm(gpu, dout, dx, dgamma, C, P, 1e-12f, silu));
        float *got = from_dev(test_failed_, dout, n);
        if (silu) CHECK_CLOSE(got, ref, n, 2e-6);
        else CHECK_SAME(got, ref, n);
        free(got);
    }
    /* host pointers, in place; a zero column takes the eps branch */
    float *h = copy_buf(x, n), *hr = copy_buf(x, n);
    for (int64_t c = 0; c < C; c++) h[c * P + 5] = hr[c * P + 5] = 0.0f;
    CHECK_OK(cpu->channel_rms_norm(cpu, hr, hr, g, C, P, 1e-6f, 0));
    CHECK_OK(gpu->channel_rms_norm(gpu, h, h, g, C, P, 1e-6f, 0));
    CHECK_SAME(h, hr, n);
    CHECK_ERR(gpu->channel_rms_norm(gpu, h, NULL, g, C, P, 1e-6f, 0), WANC_EINVAL, "NULL");
    gpu->free(gpu, dx);
    gpu->free(gpu, dg);
    gpu->free(gpu, dout);
    free(x);
    free(g);
    free(ref);
    free(h);
    free(hr);
}

TEST(cuda_upsample_nearest2x)
{
    const int64_t N = 5, H = 7, W = 9;
    size_t nx = (size_t)(N * H * W), no = nx * 4;
    float *x = rand_buf(nx, 1), *ref = calloc(no, sizeof(float)), *h = calloc(no, sizeof(float));
    CHECK_OK(cpu->upsample_nearest2x(cpu, ref, x, N, H, W));
    float *dx = to_dev(test_failed_, x, nx), *dout = NULL;
    CHECK_OK(gpu->alloc(gpu, (void **)&dout, no * sizeof(float)));
    CHECK_OK(gpu->upsample_nearest2x(gpu, dout, dx, N, H, W));
    float *got = from_dev(test_failed_, dout, no);
    CHECK_SAME(got, ref, no);
    CHECK_OK(gpu->upsample_nearest2x(gpu, h, x, N, H, W)); /* host pointers */
    CHECK_SAME(h, ref, no);
    CHECK_ERR(gpu->upsample_nearest2x(gpu, dx, dx, N, H, W), WANC_EINVAL, "in place");
    gpu->free(gpu, dx);
    gpu->free(gpu, dout);
    free(x);
    free(ref);
    free(h);
    free(got);
}

/* One strided copy on both backends into a prefilled out of `no` floats. */
static void copy_case(int *test_failed_, size_t no, const int64_t *os, size_t nx, const int64_t *xs,
                      const int64_t *shape, int nd)
{
    float *x = rand_buf(nx, 1), *ref = rand_buf(no, 9), *h = copy_buf(ref, no);
    float *dx = to_dev(test_failed_, x, nx), *dout = to_dev(test_failed_, ref, no);
    CHECK_OK(cpu->copy_strided(cpu, ref, os, x, xs, shape, nd));
    CHECK_OK(gpu->copy_strided(gpu, dout, os, dx, xs, shape, nd));
    float *got = from_dev(test_failed_, dout, no);
    CHECK_SAME(got, ref, no); /* written elements copied, the rest untouched */
    CHECK_OK(gpu->copy_strided(gpu, h, os, x, xs, shape, nd)); /* host pointers */
    CHECK_SAME(h, ref, no);
    gpu->free(gpu, dx);
    gpu->free(gpu, dout);
    free(x);
    free(ref);
    free(h);
    free(got);
}

TEST(cuda_copy_strided)
{
    /* transpose [37, 53] → [53, 37] */
    copy_case(test_failed_, 37 * 53, (const int64_t[]){1, 37}, 37 * 53, (const int64_t[]){53, 1},
              (const int64_t[]){37, 53}, 2);
    /* pad: x[3, 5, 7] into the interior of out[3, 9, 11] (offset via shape, not pointer) */
    copy_case(test_failed_, 3 * 9 * 11, (const int64_t[]){99, 11, 1}, 3 * 5 * 7, (const int64_t[]){35, 7, 1},
              (const int64_t[]){3, 5, 7}, 3);
    /* broadcast a row (x stride 0) and interleave (out stride 2) over 4 dims */
    copy_case(test_failed_, 2 * 3 * 4 * 10, (const int64_t[]){120, 40, 10, 2}, 2 * 5, (const int64_t[]){5, 0, 0, 1},
              (const int64_t[]){2, 3, 4, 5}, 4);
    float v = 0;
    CHECK_ERR(gpu->copy_strided(gpu, &v, (const int64_t[]){1}, &v, (const int64_t[]){1}, (const int64_t[]){1}, 9),
              WANC_EINVAL, "ndim");
}

TEST(cuda_fill)
{
    const size_t n = 70001;
    float *h = rand_buf(n, 1), *dout = NULL;
    CHECK_OK(gpu->alloc(gpu, (void **)&dout, n * sizeof(float)));
    CHECK_OK(gpu->fill(gpu, dout, -2.5f, (int64_t)n));
    float *got = from_dev(test_failed_, dout, n);
    int ok = 1;
    for (size_t i = 0; i < n; i++) ok &= got[i] == -2.5f;
    CHECK(ok);
    CHECK_OK(gpu->fill(gpu, h + 1, 0.75f, (int64_t)(n - 1))); /* host pointer, offset */
    ok = 1;
    for (size_t i = 1; i < n; i++) ok &= h[i] == 0.75f;
    CHECK(ok && h[0] != 0.75f);
    CHECK_ERR(gpu->fill(gpu, dout, 0, -1), WANC_EINVAL, "n =");
    gpu->free(gpu, dout);
    free(h);
    free(got);
}

TEST(cuda_mul_rows)
{
    const int64_t rows = 41, dim = 1031;
    size_t n = (size_t)(rows * dim);
    float *x = rand_buf(n, 3), *w = rand_buf((size_t)dim, 2), *ref = calloc(n, sizeof(float));
    CHECK_OK(cpu->mul_rows(cpu, ref, x, w, rows, dim));
    float *dx = to_dev(test_failed_, x, n), *dw = to_dev(test_failed_, w, (size_t)dim), *dout = NULL;
    CHECK_OK(gpu->alloc(gpu, (void **)&dout, n * sizeof(float)));
    CHECK_OK(gpu->mul_rows(gpu, dout, dx, dw, rows, dim));
    float *got = from_dev(test_failed_, dout, n);
    CHECK_SAME(got, ref, n);
    float *h = copy_buf(x, n);
    CHECK_OK(gpu->mul_rows(gpu, h, h, w, rows, dim)); /* host pointers, in place */
    CHECK_SAME(h, ref, n);
    CHECK_ERR(gpu->mul_rows(gpu, h, h, NULL, rows, dim), WANC_EINVAL, "NULL");
    gpu->free(gpu, dx);
    gpu->free(gpu, dw);
    gpu->free(gpu, dout);
    free(x);
    free(w);
    free(ref);
    free(got);
    free(h);
}

TEST(cuda_relu)
{
    const size_t n = 100003;
    float *x = rand_buf(n, 4), *ref = calloc(n, sizeof(float));
    x[0] = -0.0f;
    x[1] = NAN;
    x[2] = -INFINITY;
    CHECK_OK(cpu->relu(cpu, ref, x, (int64_t)n));
    float *dx = to_dev(test_failed_, x, n), *dout = NULL;
    CHECK_OK(gpu->alloc(gpu, (void **)&dout, n * sizeof(float)));
    CHECK_OK(gpu->relu(gpu, dout, dx, (int64_t)n));
    float *got = from_dev(test_failed_, dout, n);
    CHECK(isnan(got[1]));
    CHECK_SAME(got + 2, ref + 2, n - 2);
    CHECK(got[0] == 0.0f && !signbit(got[0]));
    float *h = copy_buf(x, n);
    CHECK_OK(gpu->relu(gpu, h, h, (int64_t)n)); /* host pointers, in place */
    CHECK_SAME(h + 2, ref + 2, n - 2);
    gpu->free(gpu, dx);
    gpu->free(gpu, dout);
    free(x);
    free(ref);
    free(got);
    free(h);
}

/* The device's table has every op (ctx_init checks it too). */
TEST(cuda_table_complete) { CHECK_OK(wanc_backend_check_complete(gpu)); }

/* ---- errors ---------------------------------------------------------------------------------- */

TEST(cuda_named_errors)
{
    int64_t ws[2] = {4, 4};
    wanc_tensor w;
    CHECK_OK(wanc_tensor_alloc(&w, WANC_F8_E4M3, 2, ws));
    float x[16] = {0}, out[16];
    CHECK_ERR(gpu->linear(gpu, out, x, &w, NULL, 4), WANC_ESHAPE, "F8_E4M3");
    wanc_tensor_free(&w);
    CHECK_ERR(gpu->attention(gpu, out, x, x, x, 1, 1, 1, 520, 1.0f, NULL, NULL), WANC_EUNSUPPORTED, "head dim");
    const wanc_backend *be = NULL;
    CHECK_ERR(wanc_backend_get("cuda:4095", &be), WANC_EINVAL, "does not exist");
    CHECK_ERR(wanc_cuda_configure(cpu, &(wanc_cuda_options){.bf16_gemm = 1}), WANC_EINVAL, "not a CUDA backend");
    CHECK_OK(wanc_cuda_synchronize(gpu));
}
