/* The CPU backend's instruction-set paths: selection and refusal, and the
 * AVX-512 BF16 GEMM against a double-precision reference on every path the
 * machine has (the same op must agree with itself across paths within
 * float32 summation-order error). */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "backend/backend.h"
#include "backend/cpu/cpu_internal.h"
#include "core/tensor.h"
#include "test.h"
#include "wanc.h"

static uint64_t isa_rng = 0x243f6a8885a308d3ull;
static float isa_frand(void) /* uniform in [-1, 1) */
{
    isa_rng = isa_rng * 6364136223846793005ull + 1442695040888963407ull;
    return (float)((isa_rng >> 40) / 16777216.0 * 2.0 - 1.0);
}

TEST(cpu_isa_selection)
{
    cpu_isa saved = cpu_isa_get();
    CHECK(cpu_isa_best() >= CPU_ISA_AVX2);
    CHECK(saved <= cpu_isa_best());
    CHECK_ERR(cpu_isa_set("sse2"), WANC_EINVAL, "unknown path sse2");
    CHECK_ERR(cpu_isa_set(NULL), WANC_EINVAL, "unknown path");
    for (int i = 0; i < CPU_ISA_COUNT; i++) {
        wanc_err e = cpu_isa_set(cpu_isa_name((cpu_isa)i));
        if (i <= (int)cpu_isa_best()) {
            CHECK(e == NULL);
            CHECK(cpu_isa_get() == (cpu_isa)i);
            CHECK(!strcmp(wanc_cpu_isa(), cpu_isa_name((cpu_isa)i)));
        } else {
            CHECK(e && wanc_error_code(e) == WANC_EUNSUPPORTED && strstr(wanc_error_message(e), "lacks"));
        }
        wanc_error_free(e);
    }
    CHECK_OK(cpu_isa_set(cpu_isa_name(saved)));
    const char *name = NULL;
    if (!getenv("WANC_CPU")) CHECK_OK(wanc_cpu_path(&name));
    else wanc_error_free(wanc_cpu_path(&name));
    CHECK(name && !strcmp(name, cpu_isa_name(saved)));
}

/* out = x · wᵀ + bias with a BF16 weight and bf16-exact x (bf16 compute
 * mode), and with `inexact_row` >= 0 one row left float32 (that block falls
 * back to sgemm). Checked against double sums on every path. */
static void check_bf16_linear(int *test_failed_, int64_t M, int64_t N, int64_t K, int64_t inexact_row)
{
    const wanc_backend *be = wanc_backend_cpu();
    wanc_tensor w, b;
    CHECK_OK(wanc_tensor_alloc(&w, WANC_BF16, 2, (int64_t[]){N, K}));
    CHECK_OK(wanc_tensor_alloc(&b, WANC_BF16, 1, (int64_t[]){N}));
    double *wv = malloc(sizeof(double) * (size_t)(N * K)), *bv = malloc(sizeof(double) * (size_t)N);
    for (int64_t i = 0; i < N * K; i++) {
        uint16_t h = wanc_f32_to_bf16(isa_frand() * 0.5f);
        ((uint16_t *)w.data)[i] = h;
        wv[i] = wanc_bf16_to_f32(h);
    }
    for (int64_t i = 0; i < N; i++) {
        uint16_t h = wanc_f32_to_bf16(isa_frand());
        ((uint16_t *)b.data)[i] = h;
        bv[i] = wanc_bf16_to_f32(h);
    }
    float *x = malloc(sizeof(float) * (size_t)(M * K));
    for (int64_t i = 0; i < M * K; i++) x[i] = wanc_round_bf16(isa_frand());
    if (inexact_row >= 0)
        for (int64_t k = 0; k < K; k++) x[inexact_row * K + k] = isa_frand();
    double *ref = malloc(sizeof(double) * (size_t)(M * N));
    for (int64_t m = 0; m < M; m++)
        for (int64_t n = 0; n < N; n++) {
            double s = bv[n];
            for (int64_t k = 0; k < K; k++) s += (double)x[m * K + k] * wv[n * K + k];
            ref[m * N + n] = s;
        }
    float *out = malloc(sizeof(float) * (size_t)(M * N));
    cpu_isa saved = cpu_isa_get();
    for (int isa = 0; isa <= (int)cpu_isa_best(); isa++) {
        CHECK_OK(cpu_isa_set(cpu_isa_name((cpu_isa)isa)));
        memset(out, 0xff, sizeof(float) * (size_t)(M * N)); /* NaN: every element must be written */
        CHECK_OK(be->linear(be, out, x, &w, &b, M));
        double err = 0;
        for (int64_t i = 0; i < M * N; i++) {
            double d = fabs((double)out[i] - ref[i]);
            if (!(d <= err)) err = d;
        }
        /* float32 accumulation of K products of size <= 0.5 */
        if (!(err <= 2e-6 * (double)K))
            fprintf(stderr, "  bf16 linear %lldx%lldx%lld (inexact row %lld) path %s: err %g\n", (long long)M,
                    (long long)N, (long long)K, (long long)inexact_row, cpu_isa_name((cpu_isa)isa), err);
        CHECK(err <= 2e-6 * (double)K);
    }
    CHECK_OK(cpu_isa_set(cpu_isa_name(saved)));
    wanc_tensor_free(&w);
    wanc_tensor_free(&b);
    free(wv);
    free(bv);
    free(x);
    free(ref);
    free(out);
}

TEST(cpu_bf16_linear_every_path)
{
    check_bf16_linear(test_failed_, 37, 70, 301, -1);    /* ragged M, N and an odd K */
    check_bf16_linear(test_failed_, 1, 65, 513, -1);     /* one row, K over two packed chunks */
    check_bf16_linear(test_failed_, 300, 1100, 96, -1);  /* several N and M blocks */
    check_bf16_linear(test_failed_, 260, 33, 600, 130);  /* an inexact block falls back */
    check_bf16_linear(test_failed_, 13, 32, 2, -1);      /* one k pair */
}
