/* Benchmark of the UMT5 encoder on a 512-token prompt.
 *
 *   bench_umt5 [--model FILE] [--threads N] [--f32] [--reps R]
 *
 * Loads the model by mmap (wanc_umt5_open), encodes 512 valid tokens once to
 * warm up (page in the weights), then times `reps` encodes. Without --model a
 * small random UMT5 (dim 512, 2 layers) is written to /tmp first, so `make
 * bench` runs anywhere; the real file is models_t5_umt5-xxl-enc-bf16.pth.
 * Last line:
 *   umt5 file_mb=.. tokens=512 dtype=.. threads=.. seconds=.. gflops=.. sgemm=.. ratio=.. rss_mb=.. rss_over_file=..
 * Targets: rss_over_file <= 1.2, ratio >= 0.6. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "core/clock.h"
#include "backend/backend.h"
#include "core/threads.h"
#include "text/umt5.h"

static int fail(const char *what, wanc_err e)
{
    fprintf(stderr, "bench_umt5: %s: %s\n", what, wanc_error_message(e));
    wanc_error_free(e);
    return 1;
}

/* Floating-point operations of one encode of n tokens (multiply-add = 2). */
static double encode_flops(const wanc_umt5_config *c, double n)
{
    double D = (double)c->dim, A = (double)c->dim_attn, F = (double)c->dim_ffn;
    double per_layer = 2 * n * (4 * D * A + 3 * D * F) /* q, k, v, o, gate, fc1, fc2 */
                       + 2 * 2 * n * n * A;             /* q·kᵀ and p·v over all heads */
    return per_layer * (double)c->num_layers;
}

int main(int argc, char **argv)
{
    const char *model = NULL;
    int reps = 1, bf16 = 1;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--model") && i + 1 < argc) model = argv[++i];
        else if (!strcmp(argv[i], "--threads") && i + 1 < argc) wanc_threads_set(atoi(argv[++i]));
        else if (!strcmp(argv[i], "--reps") && i + 1 < argc) reps = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--f32")) bf16 = 0;
        else {
            fprintf(stderr, "usage: bench_umt5 [--model FILE] [--threads N] [--f32] [--reps R]\n");
            return 2;
        }
    }
    if (reps < 1) reps = 1;
    char tmp[256] = "";
    if (!model) {
        snprintf(tmp, sizeof tmp, "/tmp/wanc_bench_umt5_%d.safetensors", (int)getpid());
        wanc_umt5_config c = {.vocab = 4096, .dim = 512, .dim_attn = 512, .dim_ffn = 1280, .num_heads = 8,
                              .num_layers = 2, .num_buckets = 32};
        wanc_err e = wanc_umt5_write_random(tmp, &c, 1);
        if (e) return fail("writing a small random model", e);
        model = tmp;
    }
    struct stat st;
    if (stat(model, &st) != 0) {
        fprintf(stderr, "bench_umt5: %s: cannot stat\n", model);
        return 1;
    }
    /* The yardstick first, before the model's pages count towards RSS. */
    double sgemm = wanc_sgemm_gflops(1024, 3);

    wanc_umt5 *m = NULL;
    wanc_err e = wanc_umt5_open(&m, model, wanc_backend_cpu());
    if (e) return fail(model, e);
    const wanc_umt5_config *c = wanc_umt5_get_config(m);
    enum { L = 512 };
    int64_t *ids = malloc(L * sizeof *ids), *mask = malloc(L * sizeof *mask);
    float *out = malloc((size_t)(L * c->dim) * sizeof(float));
    if (!ids || !mask || !out) {
        fprintf(stderr, "bench_umt5: out of memory\n");
        return 1;
    }
    for (int i = 0; i < L; i++) {
        ids[i] = (int64_t)(((uint64_t)i * 2654435761u) % (uint64_t)c->vocab);
        mask[i] = 1;
    }
    ids[L - 1] = 1; /* </s> */
    wanc_umt5_opts o = {.bf16 = bf16};
    e = wanc_umt5_encode(m, out, ids, mask, L, &o); /* warm-up: pages the weights in */
    if (e) return fail("encode", e);
    double best = 1e30;
    for (int r = 0; r < reps; r++) {
        double t0 = wanc_now_seconds();
        e = wanc_umt5_encode(m, out, ids, mask, L, &o);
        double t = wanc_now_seconds() - t0;
        if (e) return fail("encode", e);
        if (t < best) best = t;
    }
    double gflops = encode_flops(c, L) / best * 1e-9;
    double rss_mb = wanc_peak_rss_mb(), file_mb = (double)st.st_size / (1024.0 * 1024.0);
    printf("umt5: %s dim %lld, %lld layers, %lld heads; %d tokens in %.3f s\n", model, (long long)c->dim,
           (long long)c->num_layers, (long long)c->num_heads, L, best);
    printf("umt5 isa=%s file_mb=%.1f tokens=%d dtype=%s threads=%d seconds=%.4f gflops=%.2f sgemm=%.2f ratio=%.3f "
           "rss_mb=%.1f rss_over_file=%.3f\n",
           wanc_cpu_isa(), file_mb, L, bf16 ? "bf16" : "f32", wanc_threads_get(), best, gflops, sgemm, gflops / sgemm, rss_mb,
           rss_mb / file_mb);
    wanc_umt5_free(m);
    free(ids);
    free(mask);
    free(out);
    if (tmp[0]) remove(tmp);
    return 0;
}
