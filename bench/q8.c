/* Benchmark of Q8_0 linears at the 1.3B DiT's sizes (1280 tokens, dim 1536,
 * FFN 8960): the int8 dot-product kernels this CPU has against decoding
 * the weights for the float32 GEMM (wanc_backend_cpu), interleaved rep by
 * rep so each sees the same machine load, and the same-run sgemm rate.
 *
 *   bench_q8 [--threads N] [--reps R] [--quick]
 *
 * Last line: q8 isa=.. int8=.. threads=.. sgemm=.. fp_<N>=.. int8_<N>=..
 * speedup_<N>=.. (GFLOP/s; speedup = best int8 kernel / fp path). */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "backend/backend.h"
#include "backend/cpu/cpu_internal.h"
#include "core/clock.h"
#include "core/quant.h"
#include "core/tensor.h"
#include "core/threads.h"

#define MAX_REPS 64

static void die_on(wanc_err e, const char *what)
{
    if (!e) return;
    fprintf(stderr, "bench_q8: %s: %s\n", what, wanc_error_message(e));
    exit(1);
}

static float *rand_buf(size_t n, uint32_t s)
{
    float *p = malloc(n * sizeof(float));
    if (!p) {
        fprintf(stderr, "bench_q8: out of memory\n");
        exit(1);
    }
    for (size_t i = 0; i < n; i++) {
        s ^= s << 13, s ^= s >> 17, s ^= s << 5;
        p[i] = (float)(s >> 8) / 16777216.0f - 0.5f;
    }
    return p;
}

static double seconds_of(const wanc_backend *be, float *out, const float *x, const wanc_tensor *w, int64_t M)
{
    double t0 = wanc_now_seconds();
    die_on(be->linear(be, out, x, w, NULL, M), "linear");
    return wanc_now_seconds() - t0;
}

int main(int argc, char **argv)
{
    int reps = 3, quick = 0;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--threads") && i + 1 < argc) wanc_threads_set(atoi(argv[++i]));
        else if (!strcmp(argv[i], "--reps") && i + 1 < argc) reps = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--quick")) quick = 1;
        else {
            fprintf(stderr, "usage: bench_q8 [--threads N] [--reps R] [--quick]\n");
            return 2;
        }
    }
    if (reps < 1) reps = 1;
    if (reps > MAX_REPS) reps = MAX_REPS;
    const wanc_backend *fp = wanc_backend_cpu(), *i8 = wanc_backend_cpu_q8_int8();
    die_on(cpu_isa_set(cpu_isa_name(cpu_isa_best())), "path");
    int threads = wanc_threads_get();
    double sgemm = wanc_sgemm_gflops(quick ? 1024 : 2048, reps);
    int64_t M = quick ? 320 : 1280;
    /* q/k/v/o and ffn.0 (K 1536), ffn.2 (K 8960) */
    const int64_t NK[3][2] = {{1536, 1536}, {8960, 1536}, {1536, 8960}};
    double rate_fp[3], rate_i8[3][CPU_INT8_COUNT] = {{0}};
    for (int s = 0; s < 3; s++) {
        int64_t N = NK[s][0], K = NK[s][1];
        wanc_tensor w;
        die_on(wanc_tensor_alloc(&w, WANC_Q8_0, 2, (int64_t[]){N, K}), "weight");
        float *wf = rand_buf((size_t)(N * K), 7);
        die_on(wanc_quantize(w.data, WANC_Q8_0, wf, N * K), "quantize");
        free(wf);
        float *x = rand_buf((size_t)(M * K), 11), *out = malloc(sizeof(float) * (size_t)(M * N));
        double flop = 2.0 * (double)M * N * K, tf[MAX_REPS], ti[CPU_INT8_COUNT][MAX_REPS];
        seconds_of(fp, out, x, &w, M); /* warm-up */
        for (int r = 0; r < reps; r++) {
            tf[r] = seconds_of(fp, out, x, &w, M);
            for (int k = 0; k < CPU_INT8_COUNT; k++) {
                if (!cpu_int8_supported((cpu_int8)k)) continue;
                die_on(cpu_int8_set(cpu_int8_name((cpu_int8)k)), "int8 kernel");
                if (r == 0) seconds_of(i8, out, x, &w, M);
                ti[k][r] = seconds_of(i8, out, x, &w, M);
            }
        }
        die_on(cpu_int8_set(NULL), "int8 kernel");
        rate_fp[s] = flop / wanc_median(tf, reps) * 1e-9;
        printf("linear Q8_0 M=%lld N=%lld K=%lld: fp (decoded, sgemm) %.1f GFLOP/s", (long long)M, (long long)N,
               (long long)K, rate_fp[s]);
        for (int k = 0; k < CPU_INT8_COUNT; k++) {
            if (!cpu_int8_supported((cpu_int8)k)) continue;
            rate_i8[s][k] = flop / wanc_median(ti[k], reps) * 1e-9;
            printf(", int8=%s %.1f GFLOP/s (%.2fx)", cpu_int8_name((cpu_int8)k), rate_i8[s][k],
                   rate_i8[s][k] / rate_fp[s]);
        }
        printf("\n");
        wanc_tensor_free(&w);
        free(x);
        free(out);
    }
    cpu_int8 best = cpu_int8_get();
    printf("q8 isa=%s int8=%s threads=%d sgemm=%.1f", wanc_cpu_isa(), cpu_int8_name(best), threads, sgemm);
    for (int s = 0; s < 3; s++)
        printf(" fp_%lldx%lld=%.1f int8_%lldx%lld=%.1f speedup_%lldx%lld=%.2f", (long long)NK[s][0],
               (long long)NK[s][1], rate_fp[s], (long long)NK[s][0], (long long)NK[s][1], rate_i8[s][best],
               (long long)NK[s][0], (long long)NK[s][1], rate_i8[s][best] / rate_fp[s]);
    printf("\n");
    return 0;
}
