/* The int8 path of Q8_0 weights (gemm_q8.c) on every kernel this CPU has:
 * against a float64 evaluation of the same quantized math (activations
 * quantized per 32-value block as the kernels do: exact up to float32
 * summation), against the dequantized float path (off by the activation
 * quantization error, bounded per output), the same bits at 1 and 2
 * threads, and the kernel selection / refusal. */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "backend/backend.h"
#include "backend/cpu/cpu_internal.h"
#include "core/quant.h"
#include "core/tensor.h"
#include "core/threads.h"
#include "test.h"

static uint64_t q8_rng = 0x9e3779b97f4a7c15ull;
static float q8_frand(void) /* uniform in [-1, 1) */
{
    q8_rng = q8_rng * 6364136223846793005ull + 1442695040888963407ull;
    return (float)((q8_rng >> 40) / 16777216.0 * 2.0 - 1.0);
}

TEST(q8_int8_kernel_selection)
{
    CHECK(cpu_int8_supported(CPU_INT8_AVX2));
    CHECK_ERR(cpu_int8_set("sse4"), WANC_EINVAL, "unknown int8 kernel sse4");
    for (int k = 0; k < CPU_INT8_COUNT; k++) {
        wanc_err e = cpu_int8_set(cpu_int8_name((cpu_int8)k));
        if (cpu_int8_supported((cpu_int8)k)) {
            CHECK(e == NULL);
            CHECK(k == CPU_INT8_AVX512VNNI && cpu_isa_get() < CPU_ISA_AVX512 ? cpu_int8_get() != (cpu_int8)k
                                                                                : cpu_int8_get() == (cpu_int8)k);
        } else {
            CHECK(e && wanc_error_code(e) == WANC_EUNSUPPORTED && strstr(wanc_error_message(e), "lacks"));
        }
        wanc_error_free(e);
    }
    CHECK_OK(cpu_int8_set(NULL));
    CHECK(!strcmp(wanc_cpu_int8(), cpu_int8_name(cpu_int8_get())));
}

/* What the kernels compute, in float64: x quantized per block exactly as
 * cpu_q8_pack_x does (d = amax / 127 in float32, q = nearest-even(x / d)
 * through the float32 reciprocal), block dot products in integers. sum_abs
 * gets Σ |terms| (the scale of float32 summation error), fp_bound the worst
 * case |int8 - dequantized float| from rounding x (|x - d·q| <= d/2). */
static void q8_reference(double *ref, double *sum_abs, double *fp_bound, const float *x, const uint8_t *wq,
                         const float *bias, int64_t M, int64_t N, int64_t K)
{
    int64_t nb = K / 32;
    int8_t *qx = malloc((size_t)(M * K));
    float *dx = malloc(sizeof(float) * (size_t)(M * nb));
    for (int64_t m = 0; m < M; m++)
        for (int64_t b = 0; b < nb; b++) {
            const float *v = x + m * K + b * 32;
            float amax = 0;
            for (int i = 0; i < 32; i++) amax = fabsf(v[i]) > amax ? fabsf(v[i]) : amax;
            float d = amax / 127.0f, id = d != 0.0f ? 1.0f / d : 0.0f;
            dx[m * nb + b] = d;
            for (int i = 0; i < 32; i++) qx[m * K + b * 32 + i] = (int8_t)nearbyintf(v[i] * id);
        }
    for (int64_t m = 0; m < M; m++)
        for (int64_t n = 0; n < N; n++) {
            double s = bias ? bias[n] : 0, a = 0, fb = 0;
            for (int64_t b = 0; b < nb; b++) {
                const uint8_t *blk = wq + (n * nb + b) * 34;
                double dw = wanc_half_bits_to_f32((uint16_t)(blk[0] | blk[1] << 8)), wabs = 0;
                int64_t isum = 0;
                for (int i = 0; i < 32; i++) {
                    int8_t w = (int8_t)blk[2 + i];
                    isum += (int64_t)w * qx[m * K + b * 32 + i];
                    wabs += fabs(w * dw);
                }
                double term = (double)dx[m * nb + b] * dw * (double)isum;
                s += term;
                a += fabs(term);
                fb += wabs * dx[m * nb + b] * 0.5;
            }
            ref[m * N + n] = s;
            sum_abs[m * N + n] = a + (bias ? fabs(bias[n]) : 0);
            fp_bound[m * N + n] = fb;
        }
    free(qx);
    free(dx);
}

static void check_q8_linear(int *test_failed_, int64_t M, int64_t N, int64_t K)
{
    const wanc_backend *be8 = wanc_backend_cpu_q8_int8(), *be = wanc_backend_cpu();
    CHECK(be8->q8_int8 && !be->q8_int8);
    int64_t nb = K / 32;
    wanc_tensor w, bias;
    CHECK_OK(wanc_tensor_alloc(&w, WANC_Q8_0, 2, (int64_t[]){N, K}));
    CHECK_OK(wanc_tensor_alloc(&bias, WANC_F32, 1, (int64_t[]){N}));
    float *row = malloc(sizeof(float) * (size_t)K);
    for (int64_t n = 0; n < N; n++) {
        float gain = n % 3 == 0 ? 0.01f : n % 3 == 1 ? 1.0f : 40.0f; /* scales far apart */
        for (int64_t k = 0; k < K; k++) row[k] = q8_frand() * gain;
        CHECK_OK(wanc_quantize((uint8_t *)w.data + n * nb * 34, WANC_Q8_0, row, K));
        ((float *)bias.data)[n] = q8_frand();
    }
    /* a -128 weight (never written by ggml's quantizer, legal in a file) */
    ((int8_t *)w.data)[2 + 5] = -128;
    float *x = malloc(sizeof(float) * (size_t)(M * K));
    for (int64_t i = 0; i < M * K; i++) x[i] = q8_frand() * (i % 7 == 0 ? 30.0f : 1.0f);
    if (K >= 64)
        for (int i = 0; i < 32; i++) x[32 + i] = 0.0f; /* an all-zero block (scale 0) */
    double *ref = malloc(sizeof(double) * (size_t)(M * N) * 3), *sum_abs = ref + M * N, *fp_bound = sum_abs + M * N;
    q8_reference(ref, sum_abs, fp_bound, x, w.data, bias.data, M, N, K);
    float *fp = malloc(sizeof(float) * (size_t)(M * N)), *out = malloc(sizeof(float) * (size_t)(M * N)),
          *out2 = malloc(sizeof(float) * (size_t)(M * N)), *first = malloc(sizeof(float) * (size_t)(M * N));
    CHECK_OK(be->linear(be, fp, x, &w, &bias, M)); /* the dequantized float path */

    cpu_isa saved_isa = cpu_isa_get();
    int saved_threads = wanc_threads_get();
    CHECK_OK(cpu_isa_set(cpu_isa_name(cpu_isa_best())));
    for (int k = 0; k < CPU_INT8_COUNT; k++) {
        if (!cpu_int8_supported((cpu_int8)k)) continue;
        CHECK_OK(cpu_int8_set(cpu_int8_name((cpu_int8)k)));
        CHECK(cpu_int8_get() == (cpu_int8)k);
        memset(out, 0xff, sizeof(float) * (size_t)(M * N)); /* NaN: every element must be written */
        wanc_threads_set(1);
        CHECK_OK(be8->linear(be8, out, x, &w, &bias, M));
        wanc_threads_set(2);
        CHECK_OK(be8->linear(be8, out2, x, &w, &bias, M));
        CHECK(memcmp(out, out2, sizeof(float) * (size_t)(M * N)) == 0);
        /* every kernel sums the same block products in the same order */
        if (k == 0) memcpy(first, out, sizeof(float) * (size_t)(M * N));
        else CHECK(memcmp(out, first, sizeof(float) * (size_t)(M * N)) == 0);
        /* float32 summation of nb block terms in order, scale products rounded once */
        double tol_rel = (double)(nb + 4) * 0x1p-23, worst_ref = 0, worst_fp = 0, rel_fp = 0, fp_scale = 0;
        for (int64_t i = 0; i < M * N; i++) {
            double e = fabs((double)out[i] - ref[i]);
            double lim = tol_rel * sum_abs[i] + 1e-30;
            if (!(e <= lim)) worst_ref = fmax(worst_ref, e / lim);
            CHECK(e <= lim);
            double ef = fabs((double)out[i] - (double)fp[i]);
            double limf = fp_bound[i] + 2 * tol_rel * sum_abs[i];
            if (!(ef <= limf)) worst_fp = fmax(worst_fp, ef / limf);
            CHECK(ef <= limf);
            rel_fp = fmax(rel_fp, ef);
            fp_scale = fmax(fp_scale, fabs((double)fp[i]));
        }
        if (worst_ref > 0 || worst_fp > 0)
            fprintf(stderr, "  q8 int8 %lldx%lldx%lld kernel %s: %g x the summation bound, %g x the fp bound\n",
                    (long long)M, (long long)N, (long long)K, cpu_int8_name((cpu_int8)k), worst_ref, worst_fp);
        if (getenv("WANC_TEST_VERBOSE"))
            fprintf(stderr, "  q8 int8 %lldx%lldx%lld kernel %s: peak |int8 - fp| / peak |fp| = %.3g\n",
                    (long long)M, (long long)N, (long long)K, cpu_int8_name((cpu_int8)k), rel_fp / fp_scale);
    }
    /* a non-finite activation gives NaN in its row only */
    x[(M - 1) * K + K / 2] = INFINITY;
    CHECK_OK(be8->linear(be8, out, x, &w, &bias, M));
    CHECK(isnan(out[(M - 1) * N]) && (M == 1 || !isnan(out[0])));
    wanc_threads_set(saved_threads);
    CHECK_OK(cpu_int8_set(NULL));
    CHECK_OK(cpu_isa_set(cpu_isa_name(saved_isa)));
    wanc_tensor_free(&w);
    wanc_tensor_free(&bias);
    free(row);
    free(x);
    free(ref);
    free(fp);
    free(out);
    free(out2);
    free(first);
}

TEST(q8_int8_linear_matches_reference_on_every_kernel)
{
    /* odd sizes: partial 4 x 32 tiles and 16-row panels, one block to many */
    check_q8_linear(test_failed_, 1, 1, 32);
    check_q8_linear(test_failed_, 5, 7, 96);
    check_q8_linear(test_failed_, 13, 9, 160);
    check_q8_linear(test_failed_, 37, 19, 288);
    check_q8_linear(test_failed_, 150, 70, 1536);
    check_q8_linear(test_failed_, 300, 600, 512); /* several M- and N-blocks */
}

TEST(q8_int8_only_on_its_table)
{
    /* wanc_backend_cpu() keeps decoding Q8_0 for the float GEMM: bit-identical to sgemm on the decoded rows */
    const wanc_backend *be = wanc_backend_cpu();
    int64_t M = 3, N = 5, K = 64;
    wanc_tensor w, wf;
    CHECK_OK(wanc_tensor_alloc(&w, WANC_Q8_0, 2, (int64_t[]){N, K}));
    CHECK_OK(wanc_tensor_alloc(&wf, WANC_F32, 2, (int64_t[]){N, K}));
    float row[64], x[3 * 64], a[15], b[15];
    for (int64_t n = 0; n < N; n++) {
        for (int k = 0; k < K; k++) row[k] = q8_frand();
        CHECK_OK(wanc_quantize((uint8_t *)w.data + n * 2 * 34, WANC_Q8_0, row, K));
    }
    CHECK_OK(wanc_dequantize(wf.data, w.data, WANC_Q8_0, N * K));
    for (int i = 0; i < 3 * 64; i++) x[i] = q8_frand();
    CHECK_OK(be->linear(be, a, x, &w, NULL, M));
    CHECK_OK(be->linear(be, b, x, &wf, NULL, M));
    CHECK(memcmp(a, b, sizeof a) == 0);
    wanc_tensor_free(&w);
    wanc_tensor_free(&wf);
}
