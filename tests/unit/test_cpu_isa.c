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
#include "core/threads.h"
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

/* conv3d (stride 1, the VAE's path) with a BF16 weight and a bf16 input:
 * every path against double sums, over history frames given or zero, and
 * the same bits at 1 and 2 threads on each path. */
static void conv_ref(double *ref, const float *in, const double *wv, const double *bv, int64_t Cin, int64_t Cout,
                     int64_t T, int64_t H, int64_t W, int64_t k, int pt, int ph)
{
    int64_t To = T + 2 * pt - k + 1, Ho = H + 2 * ph - k + 1, Wo = W + 2 * ph - k + 1;
    for (int64_t co = 0; co < Cout; co++)
        for (int64_t t = 0; t < To; t++)
            for (int64_t h = 0; h < Ho; h++)
                for (int64_t w = 0; w < Wo; w++) {
                    double s = bv[co];
                    for (int64_t ci = 0; ci < Cin; ci++)
                        for (int64_t dt = 0; dt < k; dt++)
                            for (int64_t dh = 0; dh < k; dh++)
                                for (int64_t dw = 0; dw < k; dw++) {
                                    int64_t ti = t + dt - pt, hi = h + dh - ph, wi = w + dw - ph;
                                    if (ti < 0 || ti >= T || hi < 0 || hi >= H || wi < 0 || wi >= W) continue;
                                    s += (double)in[((ci * T + ti) * H + hi) * W + wi] *
                                         wv[(((co * Cin + ci) * k + dt) * k + dh) * k + dw];
                                }
                    ref[((co * To + t) * Ho + h) * Wo + w] = s;
                }
}

TEST(cpu_bf16_conv3d_every_path)
{
    const wanc_backend *be = wanc_backend_cpu();
    const int64_t Cin = 37, Cout = 20, T = 3, Th = 2, H = 23, W = 13, k = 3;
    wanc_tensor w, b;
    CHECK_OK(wanc_tensor_alloc(&w, WANC_BF16, 5, (int64_t[]){Cout, Cin, k, k, k}));
    CHECK_OK(wanc_tensor_alloc(&b, WANC_BF16, 1, (int64_t[]){Cout}));
    const int64_t nw = Cout * Cin * k * k * k, nin = Cin * (Th + T) * H * W;
    double *wv = malloc(sizeof(double) * (size_t)nw), bv[20];
    for (int64_t i = 0; i < nw; i++) {
        uint16_t h = wanc_f32_to_bf16(isa_frand() * 0.5f);
        ((uint16_t *)w.data)[i] = h;
        wv[i] = wanc_bf16_to_f32(h);
    }
    for (int64_t i = 0; i < Cout; i++) {
        uint16_t h = wanc_f32_to_bf16(isa_frand());
        ((uint16_t *)b.data)[i] = h;
        bv[i] = wanc_bf16_to_f32(h);
    }
    /* cat = hist[Cin, Th] ++ x[Cin, T] along time, all bf16 */
    float *cat = malloc(sizeof(float) * (size_t)nin), *hist = malloc(sizeof(float) * (size_t)(Cin * Th * H * W));
    float *x = malloc(sizeof(float) * (size_t)(Cin * T * H * W));
    for (int64_t i = 0; i < nin; i++) cat[i] = wanc_round_bf16(isa_frand());
    for (int64_t ci = 0; ci < Cin; ci++) {
        memcpy(hist + ci * Th * H * W, cat + ci * (Th + T) * H * W, sizeof(float) * (size_t)(Th * H * W));
        memcpy(x + ci * T * H * W, cat + (ci * (Th + T) + Th) * H * W, sizeof(float) * (size_t)(T * H * W));
    }
    /* causal: time padding 0 on the concatenation (To = Th + T - 2), spatial padding 1 */
    const int64_t To = Th + T - k + 1, nout = Cout * To * H * W;
    double *ref = malloc(sizeof(double) * (size_t)nout), *ref0 = malloc(sizeof(double) * (size_t)nout);
    conv_ref(ref, cat, wv, bv, Cin, Cout, Th + T, H, W, k, 0, 1);
    /* zero history: the reference on zeros ++ x */
    float *zcat = calloc((size_t)nin, sizeof(float));
    for (int64_t ci = 0; ci < Cin; ci++)
        memcpy(zcat + (ci * (Th + T) + Th) * H * W, x + ci * T * H * W, sizeof(float) * (size_t)(T * H * W));
    conv_ref(ref0, zcat, wv, bv, Cin, Cout, Th + T, H, W, k, 0, 1);
    float *o1 = malloc(sizeof(float) * (size_t)nout), *o2 = malloc(sizeof(float) * (size_t)nout);
    const double tol = 2e-6 * (double)(Cin * k * k * k);
    cpu_isa saved = cpu_isa_get();
    int threads = wanc_threads_get();
    for (int isa = 0; isa <= (int)cpu_isa_best(); isa++) {
        CHECK_OK(cpu_isa_set(cpu_isa_name((cpu_isa)isa)));
        for (int zero_hist = 0; zero_hist < 2; zero_hist++) {
            const double *r = zero_hist ? ref0 : ref;
            wanc_threads_set(1);
            CHECK_OK(be->conv3d_hist(be, o1, zero_hist ? NULL : hist, Th, x, &w, &b, Cin, T, H, W, (int[]){1, 1, 1},
                                     (int[]){0, 1, 1}));
            wanc_threads_set(2);
            CHECK_OK(be->conv3d_hist(be, o2, zero_hist ? NULL : hist, Th, x, &w, &b, Cin, T, H, W, (int[]){1, 1, 1},
                                     (int[]){0, 1, 1}));
            double err = 0;
            for (int64_t i = 0; i < nout; i++) {
                double d = fabs((double)o1[i] - r[i]);
                if (!(d <= err)) err = d;
            }
            if (!(err <= tol))
                fprintf(stderr, "  bf16 conv3d path %s zero_hist %d: err %g\n", cpu_isa_name((cpu_isa)isa), zero_hist,
                        err);
            CHECK(err <= tol);
            CHECK(memcmp(o1, o2, sizeof(float) * (size_t)nout) == 0);
        }
    }
    wanc_threads_set(threads);
    CHECK_OK(cpu_isa_set(cpu_isa_name(saved)));
    wanc_tensor_free(&w);
    wanc_tensor_free(&b);
    free(wv);
    free(cat);
    free(zcat);
    free(hist);
    free(x);
    free(ref);
    free(ref0);
    free(o1);
    free(o2);
}

/* attention with q, k, v all bf16 (bf16 compute): q·kᵀ and P·V on the bf16
 * kernels where the path has them (P rounded to bf16 for P·V, its sums
 * float32, as PyTorch's bf16 attention); every path against a double
 * softmax (the bf16 path against one whose P is rounded to bf16 as well),
 * same bits at 1 and 2 threads. Several query and key tiles, a ragged last
 * one. */
TEST(cpu_bf16_attention_every_path)
{
    const wanc_backend *be = wanc_backend_cpu();
    const int64_t Lq = 150, Lk = 300, H = 2, D = 40, HD = H * D;
    const float scale = 0.158f;
    float *q = malloc(sizeof(float) * (size_t)(Lq * HD)), *k = malloc(sizeof(float) * (size_t)(Lk * HD));
    float *v = malloc(sizeof(float) * (size_t)(Lk * HD));
    for (int64_t i = 0; i < Lq * HD; i++) q[i] = wanc_round_bf16(isa_frand() * 2.0f);
    for (int64_t i = 0; i < Lk * HD; i++) k[i] = wanc_round_bf16(isa_frand() * 2.0f);
    for (int64_t i = 0; i < Lk * HD; i++) v[i] = wanc_round_bf16(isa_frand());
    double *ref = malloc(sizeof(double) * (size_t)(Lq * HD)), *p = malloc(sizeof(double) * (size_t)(2 * Lk));
    double *ref_pb = malloc(sizeof(double) * (size_t)(Lq * HD)); /* P rounded to bf16 in P·V */
    for (int64_t h = 0; h < H; h++)
        for (int64_t i = 0; i < Lq; i++) {
            double mx = -1e300, sum = 0;
            for (int64_t c = 0; c < Lk; c++) {
                double s = 0;
                for (int64_t d = 0; d < D; d++) s += (double)q[i * HD + h * D + d] * k[c * HD + h * D + d];
                p[c] = s * scale;
                if (p[c] > mx) mx = p[c];
            }
            /* the bf16 path rounds exp(s - m) against the running max m of
             * the key tiles so far, then rescales by exp(m - max) */
            double *pb = p + Lk, run = -1e300;
            for (int64_t c0 = 0; c0 < Lk; c0 += CPU_ATTN_TK) {
                int64_t c1 = c0 + CPU_ATTN_TK < Lk ? c0 + CPU_ATTN_TK : Lk;
                for (int64_t c = c0; c < c1; c++) run = p[c] > run ? p[c] : run;
                for (int64_t c = c0; c < c1; c++)
                    pb[c] = (double)wanc_round_bf16((float)exp(p[c] - run)) * exp(run - mx);
            }
            for (int64_t c = 0; c < Lk; c++) sum += p[c] = exp(p[c] - mx);
            for (int64_t d = 0; d < D; d++) {
                double o = 0, ob = 0;
                for (int64_t c = 0; c < Lk; c++) {
                    o += p[c] * v[c * HD + h * D + d];
                    ob += pb[c] * v[c * HD + h * D + d];
                }
                ref[i * HD + h * D + d] = o / sum;
                ref_pb[i * HD + h * D + d] = ob / sum;
            }
        }
    float *o1 = malloc(sizeof(float) * (size_t)(Lq * HD)), *o2 = malloc(sizeof(float) * (size_t)(Lq * HD));
    cpu_isa saved = cpu_isa_get();
    int threads = wanc_threads_get();
    for (int isa = 0; isa <= (int)cpu_isa_best(); isa++) {
        CHECK_OK(cpu_isa_set(cpu_isa_name((cpu_isa)isa)));
        wanc_threads_set(1);
        CHECK_OK(be->attention(be, o1, q, k, v, Lq, Lk, H, D, scale, NULL, NULL));
        wanc_threads_set(2);
        CHECK_OK(be->attention(be, o2, q, k, v, Lq, Lk, H, D, scale, NULL, NULL));
        const double *r = isa == CPU_ISA_AVX512BF16 ? ref_pb : ref;
        double err = 0, err_other = 0;
        for (int64_t i = 0; i < Lq * HD; i++) {
            double d = fabs((double)o1[i] - r[i]), d2 = fabs((double)o1[i] - (r == ref ? ref_pb : ref)[i]);
            if (!(d <= err)) err = d;
            if (!(d2 <= err_other)) err_other = d2;
        }
        fprintf(stderr, "  bf16 attention path %s: err %g (against the other rounding of P: %g)\n",
                cpu_isa_name((cpu_isa)isa), err, err_other);
        /* bf16 path: a p within float32 exp's error of a bf16 rounding
         * boundary may round the other way (2^-8 · p · |v| / sum each, rare);
         * the other scheme of rounding P is 4e-4 away, so 1e-4 still tells */
        CHECK(err <= (isa == CPU_ISA_AVX512BF16 ? 1e-4 : 1e-5));
        CHECK(memcmp(o1, o2, sizeof(float) * (size_t)(Lq * HD)) == 0);
    }
    wanc_threads_set(threads);
    CHECK_OK(cpu_isa_set(cpu_isa_name(saved)));
    free(q);
    free(k);
    free(v);
    free(ref);
    free(ref_pb);
    free(p);
    free(o1);
    free(o2);
}
