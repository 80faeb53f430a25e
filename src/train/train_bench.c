/* `wanc bench train`: one optimizer step of DiffSynth-style training at real
 * layer sizes with random weights.
 *
 *   wanc bench train [--arch wan2.1-t2v-1.3b] [--layers 2] [--latent 16x5x32x32]
 *                    [--context 512] [--mode lora|full] [--rank 32] [--dtype f32|bf16] [--threads N]
 *
 * A step is what launch_training_task does once: the FlowMatchSFTLoss
 * forward (the DiT keeps each block's input), the backward (each block
 * re-run, then its backward: per-block checkpointing; the last block's
 * activations are still on the tape, so it is not re-run), and AdamW over the
 * trainable tensors (LoRA rank --rank on q,k,v,o,ffn.0,ffn.2, or every DiT
 * parameter for --mode full; there the update runs on float32 copies of the
 * weights, as the mmapped checkpoint is read-only). --dtype is the stored
 * weight dtype (read as stored; compute is float32). Each step is followed
 * by one inference forward of the same DiT (same machine load). Lines:
 *   train forward_s=<inference forward> step_over_forward=<ratio>
 *   train step_s=<median of 3> gflop=<GEMM-work FLOPs of a step> gflops=<rate>
 *         sgemm_gflops=<same-run sgemm> ratio=<gflops/sgemm> peak_rss_mb=<n>
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/clock.h"
#include "core/threads.h"
#include "dit/dit_random.h"
#include "dit/dit_train.h"
#include "train/adamw.h"
#include "train/flow_loss.h"
#include "wanc.h"

typedef struct {
    const char *arch, *dtype, *mode;
    int layers, threads, rank;
    int64_t lat[4], ctx;
} train_bench_args;

static wanc_err parse(train_bench_args *a, int argc, char **argv)
{
    *a = (train_bench_args){.arch = "wan2.1-t2v-1.3b", .dtype = "f32", .mode = "lora", .layers = 2, .rank = 32,
                            .lat = {16, 5, 32, 32}, .ctx = 512};
    for (int i = 0; i < argc; i++) {
        const char *k = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (!v) WANC_FAIL(WANC_EINVAL, "bench train: %s needs a value", k);
        i++;
        if (!strcmp(k, "--arch")) a->arch = v;
        else if (!strcmp(k, "--dtype")) a->dtype = v;
        else if (!strcmp(k, "--mode")) a->mode = v;
        else if (!strcmp(k, "--layers")) a->layers = atoi(v);
        else if (!strcmp(k, "--rank")) a->rank = atoi(v);
        else if (!strcmp(k, "--threads")) a->threads = atoi(v);
        else if (!strcmp(k, "--context")) a->ctx = atoll(v);
        else if (!strcmp(k, "--latent")) {
            long long c, f, h, w;
            if (sscanf(v, "%lldx%lldx%lldx%lld", &c, &f, &h, &w) != 4 || c <= 0 || f <= 0 || h <= 0 || w <= 0)
                WANC_FAIL(WANC_EINVAL, "bench train: --latent '%s' is not CxFxHxW", v);
            a->lat[0] = c, a->lat[1] = f, a->lat[2] = h, a->lat[3] = w;
        } else WANC_FAIL(WANC_EINVAL, "bench train: unknown option %s", k);
    }
    if (a->layers <= 0 || a->ctx <= 0 || a->rank <= 0)
        WANC_FAIL(WANC_EINVAL, "bench train: --layers, --context and --rank must be positive");
    if (strcmp(a->dtype, "f32") && strcmp(a->dtype, "bf16"))
        WANC_FAIL(WANC_EINVAL, "bench train: --dtype must be f32 or bf16, not '%s'", a->dtype);
    if (strcmp(a->mode, "lora") && strcmp(a->mode, "full"))
        WANC_FAIL(WANC_EINVAL, "bench train: --mode must be lora or full, not '%s'", a->mode);
    return NULL;
}

static void fill(float *p, int64_t n, uint32_t seed)
{
    for (int64_t i = 0; i < n; i++) {
        seed = seed * 1664525u + 1013904223u;
        p[i] = (float)(seed >> 8) * (2.0f / 16777216.0f) - 1.0f;
    }
}

/* GEMM-work FLOPs of one step: the forward, the checkpoint re-run of every
 * block but the last (whose activations are still on the tape), then the
 * backward: dX of every Linear (dW too in full mode), the attention
 * backward (7 products of L·L'·D where the forward has 2), the LoRA
 * products. 2·M·N·K per product. */
static double step_flops(const wanc_dit_config *c, int64_t S, int64_t Lt, bool full, int64_t r)
{
    const double D = c->dim, Fd = c->ffn_dim;
    /* per block: Linear (M, N, K) */
    const double lin[10][3] = {{S, D, D}, {S, D, D}, {S, D, D}, {S, D, D}, {S, D, D},
                               {Lt, D, D}, {Lt, D, D}, {S, D, D}, {S, Fd, D}, {S, D, Fd}};
    double fwd = 0, bwd = 0;
    for (int i = 0; i < 10; i++) {
        double M = lin[i][0], N = lin[i][1], K = lin[i][2], f = 2 * M * N * K;
        fwd += f;
        bwd += f * (full ? 2 : 1);
        if (!full) { /* LoRA: u = xAᵀ, y += uBᵀ; backward dB, du, dA, dx */
            fwd += 2 * M * r * (K + N);
            bwd += 2 * M * r * (2 * N + 2 * K);
        }
    }
    double attn = 4.0 * S * S * D + 4.0 * S * Lt * D;
    double block_fwd = fwd + attn, block_bwd = bwd + 3.5 * attn;
    double pt = (double)c->patch[0] * c->patch[1] * c->patch[2];
    double emb = 2.0 * S * D * c->in_dim * pt + 2.0 * Lt * D * c->text_dim + 2.0 * Lt * D * D + 2.0 * S * D * c->out_dim * pt;
    double emb_bwd = 2.0 * S * D * c->out_dim * pt + (full ? emb : 0);
    return (2.0 * c->num_layers - 1) * block_fwd + c->num_layers * block_bwd + emb + emb_bwd;
}

wanc_err wanc_bench_train(FILE *out, int argc, char **argv)
{
    train_bench_args a;
    TRY(parse(&a, argc, argv));
    if (a.threads > 0) wanc_threads_set(a.threads);
    wanc_dit_config cfg;
    TRY(wanc_dit_arch_config(&cfg, a.arch));
    cfg.num_layers = a.layers;
    if (cfg.has_image_input) WANC_FAIL(WANC_EUNSUPPORTED, "bench train: %s has an image input (not trained yet)", a.arch);
    const char *tmpdir = getenv("TMPDIR");
    char path[4096];
    snprintf(path, sizeof path, "%s/wanc_bench_train_%d.safetensors", tmpdir && *tmpdir ? tmpdir : "/tmp",
             (int)getpid());
    TRY(wanc_dit_random_write(path, &cfg, strcmp(a.dtype, "bf16") ? WANC_F32 : WANC_BF16, 1));
    wanc_dit *dit = NULL;
    wanc_err err = wanc_dit_open(&dit, wanc_backend_cpu(), path, &(wanc_dit_options){0});
    remove(path); /* the mapping stays valid */
    if (err) return err;

    const bool full = !strcmp(a.mode, "full");
    const int64_t C = a.lat[0], F = a.lat[1], H = a.lat[2], W = a.lat[3], n = C * F * H * W;
    const int64_t S = F / cfg.patch[0] * (H / cfg.patch[1]) * (W / cfg.patch[2]);
    wanc_dit_trainer *tr = NULL;
    wanc_train_sched ts = {0};
    float *x0 = malloc(sizeof(float) * (size_t)n), *eps = malloc(sizeof(float) * (size_t)n);
    float *ctx = malloc(sizeof(float) * (size_t)(a.ctx * cfg.text_dim)), *pred = malloc(sizeof(float) * (size_t)n);
    /* trainable tensors: p, g, m, v each */
    int ntrain = 0;
    float **p = NULL, **g = NULL, **m = NULL, **v = NULL;
    int64_t *len = NULL;
    if (!x0 || !eps || !ctx || !pred) {
        err = wanc_error(WANC_ENOMEM, "bench train: out of memory");
        goto done;
    }
    fill(x0, n, 1);
    fill(eps, n, 2);
    fill(ctx, a.ctx * cfg.text_dim, 3);
    TRY_GOTO(err, done, wanc_train_sched_init(&ts, WANC_FLOW_DEFAULT_SHIFT));
    TRY_GOTO(err, done, wanc_dit_trainer_new(&tr, dit, full));

    /* the trainable set */
    int cap = full ? 1024 : cfg.num_layers * 20;
    p = calloc((size_t)cap, sizeof *p), g = calloc((size_t)cap, sizeof *g);
    m = calloc((size_t)cap, sizeof *m), v = calloc((size_t)cap, sizeof *v);
    len = calloc((size_t)cap, sizeof *len);
    if (!p || !g || !m || !v || !len) {
        err = wanc_error(WANC_ENOMEM, "bench train: out of memory");
        goto done;
    }
#define NEW_TENSOR(count)                                                                                      \
    do {                                                                                                       \
        len[ntrain] = (count);                                                                                 \
        p[ntrain] = calloc((size_t)len[ntrain], sizeof(float));                                                \
        m[ntrain] = calloc((size_t)len[ntrain], sizeof(float));                                                \
        v[ntrain] = calloc((size_t)len[ntrain], sizeof(float));                                                \
        if (!p[ntrain] || !m[ntrain] || !v[ntrain]) {                                                          \
            err = wanc_error(WANC_ENOMEM, "bench train: out of memory for the trainable tensors");           \
            goto done;                                                                                         \
        }                                                                                                      \
        ntrain++;                                                                                              \
    } while (0)
    if (full) {
        /* every DiT parameter's gradient, with float32 copies to update */
        const char *top[] = {"patch_embedding.weight", "patch_embedding.bias", "text_embedding.0.weight",
                             "text_embedding.0.bias", "text_embedding.2.weight", "text_embedding.2.bias",
                             "time_embedding.0.weight", "time_embedding.0.bias", "time_embedding.2.weight",
                             "time_embedding.2.bias", "time_projection.1.weight", "time_projection.1.bias",
                             "head.head.weight", "head.head.bias", "head.modulation"};
        const char *blk[] = {"self_attn.q.weight", "self_attn.q.bias", "self_attn.k.weight", "self_attn.k.bias",
                             "self_attn.v.weight", "self_attn.v.bias", "self_attn.o.weight", "self_attn.o.bias",
                             "cross_attn.q.weight", "cross_attn.q.bias", "cross_attn.k.weight",
                             "cross_attn.k.bias", "cross_attn.v.weight", "cross_attn.v.bias",
                             "cross_attn.o.weight", "cross_attn.o.bias", "ffn.0.weight", "ffn.0.bias",
                             "ffn.2.weight", "ffn.2.bias", "self_attn.norm_q.weight", "self_attn.norm_k.weight",
                             "cross_attn.norm_q.weight", "cross_attn.norm_k.weight", "norm3.weight", "norm3.bias",
                             "modulation"};
        for (int i = -1; i < cfg.num_layers; i++) {
            int count = i < 0 ? (int)(sizeof top / sizeof top[0]) : (int)(sizeof blk / sizeof blk[0]);
            for (int j = 0; j < count; j++) {
                char name[96];
                if (i < 0) snprintf(name, sizeof name, "%s", top[j]);
                else snprintf(name, sizeof name, "blocks.%d.%s", i, blk[j]);
                int64_t k = 0;
                float *gr = wanc_dit_trainer_grad(tr, name, &k);
                if (!gr || ntrain == cap) {
                    err = wanc_error(WANC_EINTERNAL, "bench train: no gradient for %s", name);
                    goto done;
                }
                g[ntrain] = gr;
                NEW_TENSOR(k);
            }
        }
    } else {
        static const char *const mods[] = {"self_attn.q", "self_attn.k", "self_attn.v", "self_attn.o", "cross_attn.q",
                                           "cross_attn.k", "cross_attn.v", "cross_attn.o", "ffn.0", "ffn.2"};
        wanc_torch_gen gen;
        wanc_torch_gen_seed(&gen, 5);
        for (int i = 0; i < cfg.num_layers; i++)
            for (int j = 0; j < 10; j++) {
                int64_t in = j == 9 ? cfg.ffn_dim : cfg.dim, outd = j == 8 ? cfg.ffn_dim : cfg.dim;
                NEW_TENSOR(a.rank * in);   /* A */
                NEW_TENSOR(outd * a.rank); /* B */
                float *A = p[ntrain - 2], *B = p[ntrain - 1];
                fill(A, a.rank * in, 10 + (uint32_t)ntrain);
                fill(B, outd * a.rank, 20 + (uint32_t)ntrain); /* nonzero B: every product does real work */
                g[ntrain - 2] = calloc((size_t)(a.rank * in), sizeof(float));
                g[ntrain - 1] = calloc((size_t)(outd * a.rank), sizeof(float));
                if (!g[ntrain - 2] || !g[ntrain - 1]) {
                    err = wanc_error(WANC_ENOMEM, "bench train: out of memory");
                    goto done;
                }
                char name[64];
                snprintf(name, sizeof name, "blocks.%d.%s", i, mods[j]);
                wanc_dit_lora l = {.A = A, .B = B, .dA = g[ntrain - 2], .dB = g[ntrain - 1], .rank = a.rank,
                                   .scale = 1.0f};
                TRY_GOTO(err, done, wanc_dit_trainer_add_lora(tr, name, &l));
            }
    }
#undef NEW_TENSOR

    /* the steps, each followed by one inference forward of the same DiT, so
     * that both see the same machine load (the ratio is what is compared) */
    wanc_adamw opt;
    wanc_adamw_init(&opt, 1e-4, 0.01);
    wanc_dit_inputs fin = {.latents = x0, .lat_c = C, .F = F, .H = H, .W = W, .timestep = 500.0f, .context = ctx,
                           .ctx_len = a.ctx};
    double t[3], tf[3];
    float loss = 0;
    for (int r = 0; r < 3; r++) {
        double t0 = wanc_now_seconds();
        if (full) wanc_dit_trainer_zero_grad(tr);
        else
            for (int i = 0; i < ntrain; i++) memset(g[i], 0, (size_t)len[i] * sizeof(float));
        wanc_sft_inputs in = {.x0 = x0, .noise = eps, .C = C, .F = F, .H = H, .W = W, .context = ctx,
                              .ctx_len = a.ctx, .timestep_id = 500};
        wanc_sft_outputs o = {0};
        TRY_GOTO(err, done, wanc_sft_step(tr, &ts, &in, &o, true));
        loss = o.loss;
        wanc_adamw_begin_step(&opt);
        for (int i = 0; i < ntrain; i++) wanc_adamw_update(&opt, p[i], g[i], m[i], v[i], len[i]);
        wanc_adamw_end_step(&opt);
        t[r] = wanc_now_seconds() - t0;
        t0 = wanc_now_seconds();
        TRY_GOTO(err, done, wanc_dit_forward(dit, &fin, pred));
        tf[r] = wanc_now_seconds() - t0;
    }
    double ratio[3];
    for (int r = 0; r < 3; r++) ratio[r] = t[r] / tf[r];
    double step = wanc_median(t, 3), fwd = wanc_median(tf, 3), step_over_forward = wanc_median(ratio, 3);
    double gflop = step_flops(&cfg, S, a.ctx, full, a.rank) * 1e-9;
    double sg = wanc_sgemm_gflops(2048, 3);
    fprintf(out, "train arch=%s layers=%d dim=%d ffn=%d heads=%d tokens=%lld context=%lld mode=%s rank=%d dtype=%s "
                 "threads=%d loss=%.4g trainable=%d tensors\n",
            a.arch, cfg.num_layers, cfg.dim, cfg.ffn_dim, cfg.num_heads, (long long)S, (long long)a.ctx, a.mode,
            full ? 0 : a.rank, a.dtype, wanc_threads_get(), loss, ntrain);
    fprintf(out, "train forward_s=%.4f step_over_forward=%.2f (median of the 3 step/forward pairs)\n", fwd,
            step_over_forward);
    fprintf(out, "train step_s=%.4f gflop=%.1f gflops=%.1f sgemm_gflops=%.1f ratio=%.3f peak_rss_mb=%.0f\n", step,
            gflop, gflop / step, sg, sg > 0 ? gflop / step / sg : 0.0, wanc_peak_rss_mb());
done:
    for (int i = 0; i < ntrain; i++) {
        free(p[i]);
        free(m[i]);
        free(v[i]);
        if (!full) free(g[i]);
    }
    free(p), free(g), free(m), free(v), free(len);
    free(x0), free(eps), free(ctx), free(pred);
    wanc_dit_trainer_free(tr);
    if (ts.s.sigmas) wanc_train_sched_free(&ts);
    wanc_dit_free(dit);
    return err;
}
