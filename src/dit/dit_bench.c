/* `wanc bench dit`: one DiT forward at real layer sizes with random weights.
 *
 *   wanc bench dit [--arch wan2.1-t2v-1.3b] [--layers 2] [--latent 16x5x32x32]
 *                  [--context 512] [--dtype f32|bf16|q8_0] [--compute fp32|bf16] [--threads N]
 *                  [--q8 int8|fp] [--lora-rank R [--lora-mode fused|runtime]]
 *
 * --dtype q8_0 writes the random checkpoint in f32, quantizes it as
 * `wanc quantize --type Q8_0` does (a GGUF: the blocks' attention and FFN
 * matrices Q8_0) and runs that; --q8 int8 (the default, as the pipeline)
 * runs its Q8_0 weights on the int8 dot-product kernels, --q8 fp decodes
 * them for the float GEMM.
 *
 * --lora-rank R applies a random rank-R LoRA on every 2-D block weight (fused
 * by default), to measure what a LoRA costs in time and peak memory.
 * The random checkpoint is streamed to a temporary file and mmapped, exactly
 * as a real one is loaded (bf16 weights stay bf16). The last line is
 *   dit forward_s=<median of 3> gflop=<count> gflops=<rate>
 *       sgemm_gflops=<same-run sgemm rate> ratio=<gflops/sgemm> peak_rss_mb=<n>
 * FLOPs: 2·M·N·K per GEMM plus 4·L²·D per attention head (wanc_dit_flops).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#include "core/threads.h"
#include "core/clock.h"
#include "dit/dit_lora.h"
#include "dit/dit_random.h"
#include "dit/wan_dit.h"
#include "wanc.h"

typedef struct {
    const char *arch, *dtype, *compute, *lora_mode, *q8;
    int layers, threads, lora_rank;
    int64_t lat[4], ctx;
} bench_args;

static wanc_err parse(bench_args *a, int argc, char **argv)
{
    *a = (bench_args){.arch = "wan2.1-t2v-1.3b", .dtype = "f32", .compute = "fp32", .lora_mode = "fused", .q8 = "int8", .layers = 2,
                      .lat = {16, 5, 32, 32}, .ctx = 512};
    for (int i = 0; i < argc; i++) {
        const char *k = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (!v) WANC_FAIL(WANC_EINVAL, "bench dit: %s needs a value", k);
        i++;
        if (!strcmp(k, "--arch")) a->arch = v;
        else if (!strcmp(k, "--dtype")) a->dtype = v;
        else if (!strcmp(k, "--compute")) a->compute = v;
        else if (!strcmp(k, "--layers")) a->layers = atoi(v);
        else if (!strcmp(k, "--threads")) a->threads = atoi(v);
        else if (!strcmp(k, "--lora-rank")) a->lora_rank = atoi(v);
        else if (!strcmp(k, "--lora-mode")) a->lora_mode = v;
        else if (!strcmp(k, "--q8")) a->q8 = v;
        else if (!strcmp(k, "--context")) a->ctx = atoll(v);
        else if (!strcmp(k, "--latent")) {
            long long c, f, h, w;
            if (sscanf(v, "%lldx%lldx%lldx%lld", &c, &f, &h, &w) != 4 || c <= 0 || f <= 0 || h <= 0 || w <= 0)
                WANC_FAIL(WANC_EINVAL, "bench dit: --latent '%s' is not CxFxHxW", v);
            a->lat[0] = c, a->lat[1] = f, a->lat[2] = h, a->lat[3] = w;
        } else WANC_FAIL(WANC_EINVAL, "bench dit: unknown option %s", k);
    }
    if (a->layers <= 0 || a->ctx <= 0) WANC_FAIL(WANC_EINVAL, "bench dit: --layers and --context must be positive");
    if (strcmp(a->dtype, "f32") && strcmp(a->dtype, "bf16") && strcmp(a->dtype, "q8_0"))
        WANC_FAIL(WANC_EINVAL, "bench dit: --dtype must be f32, bf16 or q8_0, not '%s'", a->dtype);
    if (strcmp(a->q8, "int8") && strcmp(a->q8, "fp"))
        WANC_FAIL(WANC_EINVAL, "bench dit: --q8 must be int8 or fp, not '%s'", a->q8);
    if (!strcmp(a->dtype, "q8_0") && a->lora_rank)
        WANC_FAIL(WANC_EINVAL, "bench dit: --lora-rank is not measured with --dtype q8_0");
    if (strcmp(a->compute, "fp32") && strcmp(a->compute, "bf16"))
        WANC_FAIL(WANC_EINVAL, "bench dit: --compute must be fp32 or bf16, not '%s'", a->compute);
    if ((strcmp(a->lora_mode, "fused") && strcmp(a->lora_mode, "runtime")) || a->lora_rank < 0)
        WANC_FAIL(WANC_EINVAL, "bench dit: --lora-mode must be fused or runtime and --lora-rank >= 0");
    return NULL;
}

static void fill(float *p, int64_t n, uint32_t seed)
{
    for (int64_t i = 0; i < n; i++) {
        seed = seed * 1664525u + 1013904223u;
        p[i] = (float)(seed >> 8) * (2.0f / 16777216.0f) - 1.0f;
    }
}

wanc_err wanc_bench_dit(FILE *out, int argc, char **argv)
{
    bench_args a;
    TRY(parse(&a, argc, argv));
    if (a.threads > 0) wanc_threads_set(a.threads);
    wanc_dit_config cfg;
    TRY(wanc_dit_arch_config(&cfg, a.arch));
    cfg.num_layers = a.layers;
    const char *tmpdir = getenv("TMPDIR");
    char path[4096];
    snprintf(path, sizeof path, "%s/wanc_bench_dit_%d.safetensors", tmpdir && *tmpdir ? tmpdir : "/tmp",
             (int)getpid());
    TRY(wanc_dit_random_write(path, &cfg, strcmp(a.dtype, "bf16") ? WANC_F32 : WANC_BF16, 1));
    int q8 = !strcmp(a.dtype, "q8_0");
    if (q8) { /* the same weights as a Q8_0 GGUF, then that file is the one opened */
        char gguf[4096];
        snprintf(gguf, sizeof gguf, "%.4000s.gguf", path);
        wanc_err qe = wanc_quantize_dit(path, gguf, "Q8_0", NULL, NULL);
        remove(path);
        if (qe) {
            remove(gguf);
            return qe;
        }
        snprintf(path, sizeof path, "%s", gguf);
    }
    const wanc_backend *be = q8 && !strcmp(a.q8, "int8") ? wanc_backend_cpu_q8_int8() : wanc_backend_cpu();
    char lora_path[4200];
    snprintf(lora_path, sizeof lora_path, "%s.lora.safetensors", path);
    wanc_lora_spec spec = {lora_path, 1.0f, WANC_LORA_ALL_EXPERTS};
    wanc_err err = a.lora_rank ? wanc_random_lora(path, lora_path, a.lora_rank, a.dtype, 2) : NULL;
    dit_with_lora dl = {0};
    wanc_dit_options opt = {.precision = strcmp(a.compute, "bf16") ? WANC_DIT_FP32 : WANC_DIT_BF16};
    char summary[512] = "";
    double load0 = wanc_now_seconds();
    if (!err)
        err = dit_lora_open(&dl, be, path, &opt, &spec, a.lora_rank ? 1 : 0,
                            strcmp(a.lora_mode, "runtime") ? WANC_LORA_FUSED : WANC_LORA_RUNTIME, false, 0, 1,
                            summary, sizeof summary);
    double load_s = wanc_now_seconds() - load0;
    double load_rss = wanc_peak_rss_mb();
    remove(path); /* the mapping stays valid */
    remove(lora_path);
    if (err) return err;
    wanc_dit *dit = dl.dit;

    int64_t C = a.lat[0], F = a.lat[1], H = a.lat[2], W = a.lat[3];
    int64_t yc = cfg.in_dim - C, clip_len = cfg.has_image_input ? WANC_DIT_CLIP_TOKENS : 0;
    float *lat = malloc(sizeof(float) * (size_t)(C * F * H * W));
    float *y = malloc(sizeof(float) * (size_t)((yc > 0 ? yc : 1) * F * H * W));
    float *ctx = malloc(sizeof(float) * (size_t)(a.ctx * cfg.text_dim));
    float *clip = malloc(sizeof(float) * (size_t)((clip_len ? clip_len : 1) * WANC_DIT_CLIP_DIM));
    float *res = malloc(sizeof(float) * (size_t)(cfg.out_dim * F * H * W));
    if (!lat || !y || !ctx || !clip || !res) {
        err = wanc_error(WANC_ENOMEM, "bench dit: out of memory");
        goto done;
    }
    fill(lat, C * F * H * W, 1);
    fill(y, (yc > 0 ? yc : 1) * F * H * W, 2);
    fill(ctx, a.ctx * cfg.text_dim, 3);
    fill(clip, (clip_len ? clip_len : 1) * WANC_DIT_CLIP_DIM, 4);
    wanc_dit_inputs in = {.latents = lat, .lat_c = C, .F = F, .H = H, .W = W, .y = yc > 0 ? y : NULL,
                          .y_c = yc > 0 ? yc : 0, .timestep = 937.5f, .context = ctx, .ctx_len = a.ctx,
                          .clip = clip_len ? clip : NULL, .clip_len = clip_len};
    double t[3];
    for (int r = 0; r < 3; r++) {
        double t0 = wanc_now_seconds();
        TRY_GOTO(err, done, wanc_dit_forward(dit, &in, res));
        t[r] = wanc_now_seconds() - t0;
    }
    double median = wanc_median(t, 3);
    double gflop = wanc_dit_flops(&cfg, F, H, W, a.ctx, clip_len) * 1e-9;
    double sg = wanc_sgemm_gflops(2048, 3);
    double weight_mb = 0; /* the checkpoint's tensor bytes */
    for (int i = 0; i < wanc_weights_count(dl.store); i++)
        weight_mb += (double)wanc_tensor_nbytes(wanc_weights_tensor(dl.store, i)) / (1024.0 * 1024.0);
    fprintf(out, "dit arch=%s layers=%d dim=%d ffn=%d heads=%d tokens=%lld context=%lld dtype=%s compute=%s threads=%d "
            "weights_mb=%.0f isa=%s%s%s\n",
            a.arch, cfg.num_layers, cfg.dim, cfg.ffn_dim, cfg.num_heads,
            (long long)((F / cfg.patch[0]) * (H / cfg.patch[1]) * (W / cfg.patch[2])), (long long)a.ctx, a.dtype,
            a.compute, wanc_threads_get(), weight_mb, wanc_cpu_isa(), be->q8_int8 ? " int8=" : "",
            be->q8_int8 ? wanc_cpu_int8() : "");
    if (a.lora_rank)
        fprintf(out, "dit lora rank=%d mode=%s load_s=%.2f peak_rss_after_load_mb=%.0f (%s)\n", a.lora_rank,
                a.lora_mode, load_s, load_rss, summary);
    fprintf(out, "dit forward_s=%.4f gflop=%.1f gflops=%.1f sgemm_gflops=%.1f ratio=%.3f peak_rss_mb=%.0f\n", median,
            gflop, gflop / median, sg, sg > 0 ? gflop / median / sg : 0.0, wanc_peak_rss_mb());
done:
    free(lat);
    free(y);
    free(ctx);
    free(clip);
    free(res);
    dit_lora_free(&dl);
    return err;
}

wanc_err wanc_random_model_dit(const char *arch, const char *out_dir, int layers, const char *dtype,
                               unsigned long long seed)
{
    wanc_dtype dt;
    if (!dtype || !strcmp(dtype, "bf16")) dt = WANC_BF16;
    else if (!strcmp(dtype, "f32")) dt = WANC_F32;
    else WANC_FAIL(WANC_EINVAL, "--dtype must be bf16 or f32, not '%s'", dtype);
    return wanc_dit_random_model(arch, out_dir, layers, dt, (uint64_t)seed);
}
