/* Benchmark of the CPU ops at Wan-like sizes, each against the plain sgemm
 * rate measured in the same run (wanc_sgemm_gflops).
 *
 *   bench_ops [--threads N] [--reps R] [--quick]
 *
 * Prints one line per op and, last, a machine-readable line
 *   ops threads=.. sgemm=.. linear_f32=.. linear_bf16=.. ... (GFLOP/s, ratios)
 * --quick shrinks every size (for a smoke run on a busy machine).
 * On a shared machine the load changes during the run, so every ratio is
 * taken against an sgemm timed right after that op (the printed `sgemm=` is
 * the first one). */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/clock.h"
#include "backend/backend.h"
#include "backend/cpu/cpu_internal.h"
#include "core/tensor.h"
#include "core/threads.h"

static float *rand_buf(size_t n)
{
    float *p = malloc(n * sizeof(float));
    if (!p) {
        fprintf(stderr, "bench_ops: out of memory\n");
        exit(1);
    }
    uint32_t s = 2463534242u;
    for (size_t i = 0; i < n; i++) {
        s ^= s << 13, s ^= s >> 17, s ^= s << 5;
        p[i] = (float)(s >> 8) / 16777216.0f - 0.5f;
    }
    return p;
}

static void die_on(wanc_err e, const char *what)
{
    if (!e) return;
    fprintf(stderr, "bench_ops: %s: %s\n", what, wanc_error_message(e));
    exit(1);
}

#define MAX_REPS 64
/* Median seconds of `reps` runs of the statement (after one warm-up). */
#define TIME_MEDIAN(result, reps, stmt)                                                                      \
    do {                                                                                                     \
        double ts_[MAX_REPS];                                                                                \
        stmt;                                                                                                \
        for (int r_ = 0; r_ < (reps); r_++) {                                                                \
            double t0_ = wanc_now_seconds();                                                                  \
            stmt;                                                                                            \
            ts_[r_] = wanc_now_seconds() - t0_;                                                               \
        }                                                                                                    \
        (result) = wanc_median(ts_, (reps));                                                                 \
    } while (0)

static double bench_linear_x(const wanc_backend *be, wanc_dtype dt, int64_t M, int64_t N, int64_t K, int reps,
                             int bf16_x);
static double bench_linear(const wanc_backend *be, wanc_dtype dt, int64_t M, int64_t N, int64_t K, int reps)
{
    return bench_linear_x(be, dt, M, N, K, reps, 0);
}

/* The bf16 GEMM path against the float32 one on the same bf16 linear
 * (bf16-exact activations, as bf16 compute mode gives them), interleaved
 * rep by rep so both see the same machine load: GFLOP/s of each. */
static void bench_linear_paths(const wanc_backend *be, int64_t M, int64_t N, int64_t K, int reps, double *fast,
                               double *slow)
{
    cpu_isa best = cpu_isa_best(), saved = cpu_isa_get();
    double rf[MAX_REPS], rs[MAX_REPS]; /* GFLOP/s per rep */
    for (int r = 0; r < reps; r++) {
        cpu_isa_set(cpu_isa_name(best));
        rf[r] = bench_linear_x(be, WANC_BF16, M, N, K, 1, 1);
        cpu_isa_set("avx2");
        rs[r] = bench_linear_x(be, WANC_BF16, M, N, K, 1, 1);
    }
    cpu_isa_set(cpu_isa_name(saved));
    *fast = wanc_median(rf, reps);
    *slow = wanc_median(rs, reps);
}

static double bench_linear_x(const wanc_backend *be, wanc_dtype dt, int64_t M, int64_t N, int64_t K, int reps,
                             int bf16_x)
{
    wanc_tensor w;
    die_on(wanc_tensor_alloc(&w, dt, 2, (int64_t[]){N, K}), "weight");
    float *wf = rand_buf((size_t)(N * K));
    die_on(wanc_convert(w.data, dt, wf, WANC_F32, (size_t)(N * K)), "convert");
    free(wf);
    float *x = rand_buf((size_t)(M * K)), *out = rand_buf((size_t)(M * N));
    if (bf16_x) wanc_round_bf16_inplace(x, (size_t)(M * K));
    double t;
    TIME_MEDIAN(t, reps, die_on(be->linear(be, out, x, &w, NULL, M), "linear"));
    wanc_tensor_free(&w);
    free(x);
    free(out);
    return 2.0 * (double)M * N * K / t * 1e-9;
}

int main(int argc, char **argv)
{
    int reps = 3, quick = 0;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--threads") && i + 1 < argc) wanc_threads_set(atoi(argv[++i]));
        else if (!strcmp(argv[i], "--reps") && i + 1 < argc) reps = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--quick")) quick = 1;
        else {
            fprintf(stderr, "usage: bench_ops [--threads N] [--reps R] [--quick]\n");
            return 2;
        }
    }
    if (reps < 1) reps = 1;
    if (reps > MAX_REPS) reps = MAX_REPS;
    const wanc_backend *be = wanc_backend_cpu();
    int threads = wanc_threads_get();
    int sg_n = quick ? 1024 : 2048;
    double sgemm = wanc_sgemm_gflops(sg_n, reps);
    printf("sgemm %dx%dx%d (OpenBLAS, %d threads): %.1f GFLOP/s isa=%s\n", sg_n, sg_n, sg_n, threads, sgemm,
           wanc_cpu_isa());

    /* DiT 1.3B-like GEMMs: 1280 tokens, dim 1536, FFN 8960 */
    int64_t M = quick ? 320 : 1280, K = 1536;
    double lin[2][2], lin_ratio[2][2];
    const int64_t Ns[2] = {1536, 8960};
    const wanc_dtype dts[2] = {WANC_F32, WANC_BF16};
    for (int d = 0; d < 2; d++)
        for (int n = 0; n < 2; n++) {
            lin[d][n] = bench_linear(be, dts[d], M, Ns[n], K, reps);
            lin_ratio[d][n] = lin[d][n] / wanc_sgemm_gflops(sg_n, reps);
            printf("linear %s M=%lld K=%lld N=%lld: %.1f GFLOP/s (%.2f x sgemm)\n", wanc_dtype_name(dts[d]),
                   (long long)M, (long long)K, (long long)Ns[n], lin[d][n], lin_ratio[d][n]);
        }

    /* bf16 compute mode's linear: the best path against avx2, interleaved */
    double lin_best[2], lin_avx2[2];
    for (int n = 0; n < 2; n++) {
        bench_linear_paths(be, M, Ns[n], K, reps, &lin_best[n], &lin_avx2[n]);
        printf("linear bf16, bf16 activations M=%lld K=%lld N=%lld: isa=%s %.1f GFLOP/s, isa=avx2 %.1f GFLOP/s "
               "(%.2fx)\n", (long long)M, (long long)K, (long long)Ns[n], cpu_isa_name(cpu_isa_best()), lin_best[n],
               lin_avx2[n], lin_best[n] / lin_avx2[n]);
    }

    /* Self-attention, DiT-like: 12 heads of 128 */
    int64_t L = quick ? 512 : 1560, H = quick ? 4 : 12, D = 128;
    float *q = rand_buf((size_t)(L * H * D)), *k = rand_buf((size_t)(L * H * D)), *v = rand_buf((size_t)(L * H * D));
    float *o = rand_buf((size_t)(L * H * D));
    double t;
    TIME_MEDIAN(t, reps, die_on(be->attention(be, o, q, k, v, L, L, H, D, 0.0884f, NULL, NULL), "attention"));
    double attn = 4.0 * (double)L * L * D * H / t * 1e-9, attn_ratio = attn / wanc_sgemm_gflops(sg_n, reps);
    printf("attention L=%lld H=%lld D=%lld: %.1f GFLOP/s (%.2f x sgemm)\n", (long long)L, (long long)H,
           (long long)D, attn, attn_ratio);
    free(q);
    free(k);
    free(v);
    free(o);

    /* VAE-like 3x3x3 conv: 384 -> 384 channels, 3 (already padded) frames -> 1, 60x104 */
    int64_t C = quick ? 96 : 384, Hc = quick ? 30 : 60, Wc = quick ? 52 : 104, T = 3;
    wanc_tensor cw;
    die_on(wanc_tensor_alloc(&cw, WANC_BF16, 5, (int64_t[]){C, C, 3, 3, 3}), "conv weight");
    float *cwf = rand_buf((size_t)(C * C * 27));
    die_on(wanc_convert(cw.data, WANC_BF16, cwf, WANC_F32, (size_t)(C * C * 27)), "convert");
    free(cwf);
    float *cx = rand_buf((size_t)(C * T * Hc * Wc)), *co = rand_buf((size_t)(C * Hc * Wc));
    TIME_MEDIAN(t, reps,
                die_on(be->conv3d(be, co, cx, &cw, NULL, C, T, Hc, Wc, (int[]){1, 1, 1}, (int[]){0, 1, 1}), "conv3d"));
    double conv = 2.0 * (double)C * C * 27 * Hc * Wc / t * 1e-9, conv_ratio = conv / wanc_sgemm_gflops(sg_n, reps);
    printf("conv3d bf16 %lld->%lld 3x3x3, 3x%lldx%lld: %.1f GFLOP/s (%.2f x sgemm)\n", (long long)C, (long long)C,
           (long long)Hc, (long long)Wc, conv, conv_ratio);
    /* the same conv through im2col + one big-K sgemm, for comparison */
    cpu_conv3d_force_im2col = 1;
    TIME_MEDIAN(t, reps,
                die_on(be->conv3d(be, co, cx, &cw, NULL, C, T, Hc, Wc, (int[]){1, 1, 1}, (int[]){0, 1, 1}), "conv3d"));
    cpu_conv3d_force_im2col = 0;
    double conv_im2col = 2.0 * (double)C * C * 27 * Hc * Wc / t * 1e-9;
    double im2col_ratio = conv_im2col / wanc_sgemm_gflops(sg_n, reps);
    printf("conv3d (im2col path) same size: %.1f GFLOP/s (%.2f x sgemm)\n", conv_im2col, im2col_ratio);
    /* bf16 compute mode's conv (bf16 input): the best path against avx2, interleaved rep by rep */
    wanc_round_bf16_inplace(cx, (size_t)(C * T * Hc * Wc));
    double cf[MAX_REPS], cs[MAX_REPS];
    cpu_isa conv_saved = cpu_isa_get();
    for (int r = 0; r < reps; r++) {
        cpu_isa_set(cpu_isa_name(cpu_isa_best()));
        TIME_MEDIAN(cf[r], 1,
                    die_on(be->conv3d(be, co, cx, &cw, NULL, C, T, Hc, Wc, (int[]){1, 1, 1}, (int[]){0, 1, 1}), "conv3d"));
        cpu_isa_set("avx2");
        TIME_MEDIAN(cs[r], 1,
                    die_on(be->conv3d(be, co, cx, &cw, NULL, C, T, Hc, Wc, (int[]){1, 1, 1}, (int[]){0, 1, 1}), "conv3d"));
    }
    cpu_isa_set(cpu_isa_name(conv_saved));
    double conv_best = 2.0 * (double)C * C * 27 * Hc * Wc / wanc_median(cf, reps) * 1e-9;
    double conv_avx2 = 2.0 * (double)C * C * 27 * Hc * Wc / wanc_median(cs, reps) * 1e-9;
    printf("conv3d bf16, bf16 input, same size: isa=%s %.1f GFLOP/s, isa=avx2 %.1f GFLOP/s (%.2fx)\n",
           cpu_isa_name(cpu_isa_best()), conv_best, conv_avx2, conv_best / conv_avx2);
    wanc_tensor_free(&cw);
    free(cx);
    free(co);

    printf("ops isa=%s threads=%d sgemm=%.1f linear_bf16x_1536=%.1f linear_bf16x_8960=%.1f conv3d_bf16x=%.1f linear_f32_1536=%.1f linear_f32_8960=%.1f linear_bf16_1536=%.1f "
           "linear_bf16_8960=%.1f attention=%.1f conv3d=%.1f conv3d_im2col=%.1f ratio_linear_f32=%.2f ratio_linear_bf16=%.2f "
           "ratio_attention=%.2f ratio_conv3d=%.2f ratio_conv3d_im2col=%.2f\n",
           wanc_cpu_isa(), threads, sgemm, lin_best[0], lin_best[1], conv_best, lin[0][0], lin[0][1], lin[1][0], lin[1][1], attn, conv, conv_im2col,
           lin_ratio[0][0] < lin_ratio[0][1] ? lin_ratio[0][0] : lin_ratio[0][1],
           lin_ratio[1][0] < lin_ratio[1][1] ? lin_ratio[1][0] : lin_ratio[1][1], attn_ratio, conv_ratio,
           im2col_ratio);
    return 0;
}
