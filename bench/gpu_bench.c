/* GPU timings through the backend table: the bf16 GEMM peak, flash
 * attention at Wan 1.3B size, and a DiT-1.3B-shaped forward whose
 * activations stay in device memory.
 *
 *   bench_gpu_bench [--device cuda|cuda:N|cpu] [--gemm 8192] [--attn-tokens 32760]
 *                   [--latent 16x21x60x104] [--layers 30] [--dim 1536] [--ffn 8960]
 *                   [--heads 12] [--context 512] [--reps 3] [--no-dit] [--no-attn]
 *                   [--attn-bf16 1|0]
 *
 * Why a DiT-shaped forward and not src/dit: the DiT keeps its activations
 * in host memory and loops over them on the host (patchify, RoPE table,
 * unpatchify), so on the CUDA backend every op would copy over PCIe. This
 * driver runs the same per-block op sequence as the DiT's bf16 mode
 * (layer_norm, modulate, q/k/v/o linears, RMSNorm, RoPE, self-attention,
 * cross-attention over `context` text tokens, GELU FFN, gated residuals,
 * round_bf16 after each op), plus the patch-embedding conv, the text
 * embedding MLP and the head, with random BF16 weights in device memory
 * (distinct per layer). Time embedding and unpatchify (vector-sized work)
 * are left out.
 *
 * Attention is timed with both CUDA kernels (fp32 SIMT, bf16 tensor-core);
 * the DiT uses the bf16 one (bf16 mode: q, k, v are bf16 already) unless
 * --attn-bf16 0.
 *
 * FLOPs: 2·M·N·K per GEMM (and conv), 4·Lq·Lk·D per head of attention.
 * Every rate is also given as a ratio to the GEMM peak measured in the same
 * run. --device cpu runs the same code on the CPU backend (use small sizes:
 * a smoke test of this driver without a GPU); its peak is the sgemm rate.
 *
 * Lines (the last three are machine-readable):
 *   gemm_peak n=.. ms=.. tflops=..
 *   attention kernel=fp32|bf16 tokens=.. heads=.. head_dim=.. ms=.. tflops=.. ratio=..
 *   dit layers=.. tokens=.. ms=.. tflops=.. ratio=.. gemm_ms=.. attn_ms=.. other_ms=..
 */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "backend/backend.h"
#include "core/clock.h"
#include "core/tensor.h"
#ifdef WANC_CUDA
#include "cuda/cuda_backend.h"
#endif

typedef struct {
    const char *device;
    int gemm_n, layers, dim, ffn, heads, reps, no_dit, no_attn, attn_bf16;
    int64_t attn_tokens, ctx, lat[4];
} args;

/* Wait for the device (a no-op on the CPU backend). */
static wanc_err sync_be(const wanc_backend *be)
{
#ifdef WANC_CUDA
    if (strncmp(be->name, "cuda", 4) == 0) return wanc_cuda_synchronize(be);
#endif
    (void)be;
    return NULL;
}

static wanc_err parse(args *a, int argc, char **argv)
{
    *a = (args){.device = "cuda", .gemm_n = 8192, .layers = 30, .dim = 1536, .ffn = 8960, .heads = 12, .reps = 3,
                .attn_tokens = 32760, .ctx = 512, .lat = {16, 21, 60, 104}, .attn_bf16 = 1};
    for (int i = 1; i < argc; i++) {
        const char *k = argv[i];
        if (!strcmp(k, "--no-dit")) {
            a->no_dit = 1;
            continue;
        }
        if (!strcmp(k, "--no-attn")) {
            a->no_attn = 1;
            continue;
        }
        const char *v = i + 1 < argc ? argv[++i] : NULL;
        if (!v) WANC_FAIL(WANC_EINVAL, "gpu_bench: %s needs a value", k);
        if (!strcmp(k, "--device")) a->device = v;
        else if (!strcmp(k, "--gemm")) a->gemm_n = atoi(v);
        else if (!strcmp(k, "--attn-tokens")) a->attn_tokens = atoll(v);
        else if (!strcmp(k, "--layers")) a->layers = atoi(v);
        else if (!strcmp(k, "--dim")) a->dim = atoi(v);
        else if (!strcmp(k, "--ffn")) a->ffn = atoi(v);
        else if (!strcmp(k, "--heads")) a->heads = atoi(v);
        else if (!strcmp(k, "--context")) a->ctx = atoll(v);
        else if (!strcmp(k, "--reps")) a->reps = atoi(v);
        else if (!strcmp(k, "--attn-bf16")) a->attn_bf16 = atoi(v) != 0;
        else if (!strcmp(k, "--latent")) {
            long long c, f, h, w;
            if (sscanf(v, "%lldx%lldx%lldx%lld", &c, &f, &h, &w) != 4 || c <= 0 || f <= 0 || h <= 1 || w <= 1 ||
                h % 2 || w % 2)
                WANC_FAIL(WANC_EINVAL, "gpu_bench: --latent '%s' is not CxFxHxW with even H, W", v);
            a->lat[0] = c, a->lat[1] = f, a->lat[2] = h, a->lat[3] = w;
        } else WANC_FAIL(WANC_EINVAL, "gpu_bench: unknown option %s", k);
    }
    if (a->gemm_n < 0 || a->layers <= 0 || a->dim <= 0 || a->ffn <= 0 || a->heads <= 0 || a->dim % a->heads ||
        (a->dim / a->heads) % 2 || a->reps <= 0 || a->attn_tokens <= 0 || a->ctx <= 0)
        WANC_FAIL(WANC_EINVAL, "gpu_bench: sizes must be positive, dim divisible by heads into even head dims");
    return NULL;
}

/* ---- device buffers ------------------------------------------------------------ */

/* n random floats in [-amp, amp), generated on the host in 4 MB pieces and uploaded. */
static wanc_err dev_rand_f32(const wanc_backend *be, float **out, size_t n, float amp, uint32_t seed)
{
    *out = NULL;
    TRY(be->alloc(be, (void **)out, n * sizeof(float)));
    enum { CHUNK = 1 << 20 };
    float *h = malloc(CHUNK * sizeof(float));
    if (!h) WANC_FAIL(WANC_ENOMEM, "gpu_bench: out of host memory");
    wanc_err err = NULL;
    for (size_t off = 0; off < n && !err; off += CHUNK) {
        size_t m = n - off < CHUNK ? n - off : CHUNK;
        for (size_t i = 0; i < m; i++) {
            seed ^= seed << 13, seed ^= seed >> 17, seed ^= seed << 5;
            h[i] = ((float)(seed >> 8) * (2.0f / 16777216.0f) - 1.0f) * amp;
        }
        err = be->upload(be, *out + off, h, m * sizeof(float));
    }
    free(h);
    return err;
}

/* A BF16 weight [rows, cols] in the backend's memory, values ~ U(-1,1)/sqrt(cols). */
static wanc_err dev_weight(const wanc_backend *be, wanc_tensor *t, int64_t rows, int64_t cols, uint32_t seed)
{
    int64_t shape[2] = {rows, cols};
    size_t n = (size_t)(rows * cols);
    void *d = NULL;
    TRY(be->alloc(be, &d, n * 2));
    enum { CHUNK = 1 << 21 };
    uint16_t *h = malloc(CHUNK * sizeof(uint16_t));
    if (!h) WANC_FAIL(WANC_ENOMEM, "gpu_bench: out of host memory");
    float amp = 1.0f / sqrtf((float)cols);
    wanc_err err = NULL;
    for (size_t off = 0; off < n && !err; off += CHUNK) {
        size_t m = n - off < CHUNK ? n - off : CHUNK;
        for (size_t i = 0; i < m; i++) {
            seed ^= seed << 13, seed ^= seed >> 17, seed ^= seed << 5;
            h[i] = wanc_f32_to_bf16(((float)(seed >> 8) * (2.0f / 16777216.0f) - 1.0f) * amp);
        }
        err = be->upload(be, (uint16_t *)d + off, h, m * 2);
    }
    free(h);
    *t = wanc_tensor_wrap(d, WANC_BF16, 2, shape);
    return err;
}

/* A float32 vector tensor [n] in the backend's memory. */
static wanc_err dev_vec(const wanc_backend *be, wanc_tensor *t, int64_t n, float amp, uint32_t seed)
{
    float *d;
    TRY(dev_rand_f32(be, &d, (size_t)n, amp, seed));
    *t = wanc_tensor_wrap(d, WANC_F32, 1, &n);
    return NULL;
}

/* ---- GEMM peak ---------------------------------------------------------------------- */

static wanc_err gemm_peak(const wanc_backend *be, const args *a, double *tflops)
{
    *tflops = 0;
    if (a->gemm_n == 0) return NULL;
#ifdef WANC_CUDA
    if (strncmp(be->name, "cuda", 4) == 0) {
        double ms = 0;
        TRY(wanc_cuda_gemm_ms(be, a->gemm_n, 1, 10, &ms));
        double n = a->gemm_n;
        *tflops = 2.0 * n * n * n / (ms * 1e-3) * 1e-12;
        printf("gemm_peak n=%d dtype=bf16 ms=%.3f tflops=%.1f\n", a->gemm_n, ms, *tflops);
        return NULL;
    }
#endif
    (void)be;
    *tflops = wanc_sgemm_gflops(a->gemm_n, 3) * 1e-3;
    printf("gemm_peak n=%d dtype=f32(cpu sgemm) tflops=%.4f\n", a->gemm_n, *tflops);
    return NULL;
}

/* ---- attention -------------------------------------------------------------------------- */

/* Choose the attention kernel: bf16 = 1 the tensor-core one (CUDA only). */
static wanc_err set_attention_bf16(const wanc_backend *be, int bf16)
{
#ifdef WANC_CUDA
    if (strncmp(be->name, "cuda", 4) == 0)
        return wanc_cuda_configure(be, &(wanc_cuda_options){.bf16_gemm = 1, .allow_tf32 = 0, .attention_bf16 = bf16});
#endif
    (void)be;
    (void)bf16;
    return NULL;
}

static wanc_err bench_attention(const wanc_backend *be, const args *a, double peak, int bf16)
{
    int64_t L = a->attn_tokens, H = a->heads, D = a->dim / a->heads;
    size_t n = (size_t)(L * H * D);
    float *q = NULL, *k = NULL, *v = NULL, *o = NULL;
    wanc_err err = NULL;
    double times[64];
    int reps = a->reps < 64 ? a->reps : 64;
    TRY_GOTO(err, done, dev_rand_f32(be, &q, n, 1.0f, 1));
    TRY_GOTO(err, done, dev_rand_f32(be, &k, n, 1.0f, 2));
    TRY_GOTO(err, done, dev_rand_f32(be, &v, n, 1.0f, 3));
    TRY_GOTO(err, done, be->alloc(be, (void **)&o, n * sizeof(float)));
    float scale = 1.0f / sqrtf((float)D);
    TRY_GOTO(err, done, set_attention_bf16(be, bf16));
    for (int r = -1; r < reps; r++) { /* r = -1: warm-up */
        TRY_GOTO(err, done, sync_be(be));
        double t0 = wanc_now_seconds();
        TRY_GOTO(err, done, be->attention(be, o, q, k, v, L, L, H, D, scale, NULL, NULL));
        TRY_GOTO(err, done, sync_be(be));
        if (r >= 0) times[r] = wanc_now_seconds() - t0;
    }
    double s = wanc_median(times, reps), tf = 4.0 * (double)L * (double)L * (double)D * (double)H / s * 1e-12;
    printf("attention kernel=%s tokens=%lld heads=%lld head_dim=%lld ms=%.1f tflops=%.2f ratio=%.3f\n",
           bf16 ? "bf16" : "fp32", (long long)L, (long long)H, (long long)D, s * 1e3, tf, peak > 0 ? tf / peak : 0);
done:
    be->free(be, q);
    be->free(be, k);
    be->free(be, v);
    be->free(be, o);
    return err;
}

/* ---- the DiT-shaped forward --------------------------------------------------------------- */

typedef struct {
    wanc_tensor q, k, v, o, cq, ck, cv, co, ffn0, ffn2;    /* BF16 weights */
    wanc_tensor bq, bk, bv, bo, bcq, bck, bcv, bco, bf0, bf2; /* F32 biases */
    float *norm_q, *norm_k, *cnorm_q, *cnorm_k, *norm3_w, *norm3_b, *modulation; /* [D], [6D] */
} layer_w;

typedef struct {
    const wanc_backend *be;
    int64_t S, D, F, H, hd, Lt, text_dim, in_c, out_c;
    float *x, *h, *q, *k, *v, *a, *big, *kc, *vc, *ctx, *mod, *tmod;
    double *rope;
    /* split timing (profile = 1: sync around every op) */
    int profile;
    double t_gemm, t_attn, t_other;
} dit_state;

enum { CAT_GEMM, CAT_ATTN, CAT_OTHER };

/* Run one op; when profiling, wait for the device before and after and
 * add the time to its category. */
#define OP(st, cat, expr)                                                                          \
    do {                                                                                           \
        double op_t0_ = 0;                                                                         \
        if ((st)->profile) {                                                                       \
            TRY(sync_be((st)->be));                                                                \
            op_t0_ = wanc_now_seconds();                                                                      \
        }                                                                                          \
        TRY(expr);                                                                                 \
        if ((st)->profile) {                                                                       \
            TRY(sync_be((st)->be));                                                                \
            double op_dt_ = wanc_now_seconds() - op_t0_;                                                      \
            if ((cat) == CAT_GEMM) (st)->t_gemm += op_dt_;                                         \
            else if ((cat) == CAT_ATTN) (st)->t_attn += op_dt_;                                    \
            else (st)->t_other += op_dt_;                                                          \
        }                                                                                          \
    } while (0)

static wanc_err lin(dit_state *st, float *out, const float *x, const wanc_tensor *w, const wanc_tensor *b, int64_t M)
{
    const wanc_backend *be = st->be;
    OP(st, CAT_GEMM, be->linear(be, out, x, w, b, M));
    OP(st, CAT_OTHER, be->round_bf16(be, out, M * w->shape[0]));
    return NULL;
}

static wanc_err rnd(dit_state *st, float *x, int64_t n)
{
    OP(st, CAT_OTHER, st->be->round_bf16(st->be, x, n));
    return NULL;
}

static wanc_err run_block(dit_state *st, const layer_w *w)
{
    const wanc_backend *be = st->be;
    int64_t S = st->S, D = st->D;
    float eps = 1e-6f, as = 1.0f / sqrtf((float)st->hd);
    float *m = st->mod;
    OP(st, CAT_OTHER, be->add(be, m, w->modulation, st->tmod, 6 * D));
    TRY(rnd(st, m, 6 * D));
    /* self-attention */
    OP(st, CAT_OTHER, be->layer_norm(be, st->h, st->x, NULL, NULL, S, D, eps));
    TRY(rnd(st, st->h, S * D));
    OP(st, CAT_OTHER, be->modulate(be, st->h, st->h, m, m + D, S, D));
    TRY(rnd(st, st->h, S * D));
    TRY(lin(st, st->q, st->h, &w->q, &w->bq, S));
    OP(st, CAT_OTHER, be->rms_norm(be, st->q, st->q, w->norm_q, S, D, eps));
    TRY(lin(st, st->k, st->h, &w->k, &w->bk, S));
    OP(st, CAT_OTHER, be->rms_norm(be, st->k, st->k, w->norm_k, S, D, eps));
    TRY(lin(st, st->v, st->h, &w->v, &w->bv, S));
    OP(st, CAT_OTHER, be->rope(be, st->q, st->rope, S, st->H, st->hd));
    TRY(rnd(st, st->q, S * D));
    OP(st, CAT_OTHER, be->rope(be, st->k, st->rope, S, st->H, st->hd));
    TRY(rnd(st, st->k, S * D));
    OP(st, CAT_ATTN, be->attention(be, st->a, st->q, st->k, st->v, S, S, st->H, st->hd, as, NULL, NULL));
    TRY(rnd(st, st->a, S * D));
    TRY(lin(st, st->h, st->a, &w->o, &w->bo, S));
    OP(st, CAT_OTHER, be->gated_add(be, st->x, st->h, m + 2 * D, S, D));
    TRY(rnd(st, st->x, S * D));
    /* cross-attention over the text tokens */
    OP(st, CAT_OTHER, be->layer_norm(be, st->h, st->x, w->norm3_w, w->norm3_b, S, D, eps));
    TRY(rnd(st, st->h, S * D));
    TRY(lin(st, st->q, st->h, &w->cq, &w->bcq, S));
    OP(st, CAT_OTHER, be->rms_norm(be, st->q, st->q, w->cnorm_q, S, D, eps));
    TRY(lin(st, st->kc, st->ctx, &w->ck, &w->bck, st->Lt));
    OP(st, CAT_OTHER, be->rms_norm(be, st->kc, st->kc, w->cnorm_k, st->Lt, D, eps));
    TRY(lin(st, st->vc, st->ctx, &w->cv, &w->bcv, st->Lt));
    OP(st, CAT_ATTN, be->attention(be, st->a, st->q, st->kc, st->vc, S, st->Lt, st->H, st->hd, as, NULL, NULL));
    TRY(rnd(st, st->a, S * D));
    TRY(lin(st, st->h, st->a, &w->co, &w->bco, S));
    OP(st, CAT_OTHER, be->add(be, st->x, st->x, st->h, S * D));
    TRY(rnd(st, st->x, S * D));
    /* FFN */
    OP(st, CAT_OTHER, be->layer_norm(be, st->h, st->x, NULL, NULL, S, D, eps));
    TRY(rnd(st, st->h, S * D));
    OP(st, CAT_OTHER, be->modulate(be, st->h, st->h, m + 3 * D, m + 4 * D, S, D));
    TRY(rnd(st, st->h, S * D));
    TRY(lin(st, st->big, st->h, &w->ffn0, &w->bf0, S));
    OP(st, CAT_OTHER, be->gelu_tanh(be, st->big, st->big, S * st->F));
    TRY(rnd(st, st->big, S * st->F));
    TRY(lin(st, st->h, st->big, &w->ffn2, &w->bf2, S));
    OP(st, CAT_OTHER, be->gated_add(be, st->x, st->h, m + 5 * D, S, D));
    TRY(rnd(st, st->x, S * D));
    return NULL;
}

typedef struct {
    wanc_tensor patch_w, patch_b, txt0, btxt0, txt1, btxt1, head, bhead;
    float *lat, *text, *head_out;
    layer_w *layers;
    int nlayers;
} dit_weights;

/* patch embed → text MLP → blocks → head (out[S, out_c·4] token-major) */
static wanc_err dit_forward(dit_state *st, const dit_weights *dw, const args *a, int layers)
{
    const wanc_backend *be = st->be;
    int64_t D = st->D;
    static const int stride[3] = {1, 2, 2}, pad[3] = {0, 0, 0};
    /* The patch conv's output is channel-first [D, S] (in big); the DiT
     * transposes it to tokens [S, D] on the host. Here the conv is timed and
     * the blocks start from x (random tokens): the transpose is a memory-
     * bound copy, small next to one block. */
    OP(st, CAT_GEMM, be->conv3d(be, st->big, dw->lat, &dw->patch_w, &dw->patch_b, st->in_c, a->lat[1], a->lat[2],
                                a->lat[3], stride, pad));
    OP(st, CAT_GEMM, be->linear(be, st->a, dw->text, &dw->txt0, &dw->btxt0, st->Lt));
    OP(st, CAT_OTHER, be->gelu_tanh(be, st->a, st->a, st->Lt * D));
    OP(st, CAT_GEMM, be->linear(be, st->ctx, st->a, &dw->txt1, &dw->btxt1, st->Lt));
    TRY(rnd(st, st->ctx, st->Lt * D));
    for (int l = 0; l < layers; l++) TRY(run_block(st, &dw->layers[l % dw->nlayers]));
    OP(st, CAT_OTHER, be->layer_norm(be, st->h, st->x, NULL, NULL, st->S, D, 1e-6f));
    OP(st, CAT_GEMM, be->linear(be, dw->head_out, st->h, &dw->head, &dw->bhead, st->S));
    return NULL;
}

static double dit_flops(const dit_state *st, int layers)
{
    double S = (double)st->S, D = (double)st->D, F = (double)st->F, Lt = (double)st->Lt;
    double per = 2 * S * D * D * 4        /* q k v o */
                 + 2 * S * D * D * 2      /* cross q, o */
                 + 2 * Lt * D * D * 2     /* cross k, v */
                 + 2 * S * D * F * 2      /* ffn */
                 + 4 * S * S * D          /* self-attention, all heads */
                 + 4 * S * Lt * D;        /* cross-attention */
    double pre = 2 * S * D * (double)st->in_c * 4 + 2 * Lt * st->text_dim * D + 2 * Lt * D * D;
    double head = 2 * S * D * (double)st->out_c * 4;
    return per * layers + pre + head;
}

static void free_layer(const wanc_backend *be, layer_w *w)
{
    wanc_tensor *ts[] = {&w->q, &w->k, &w->v, &w->o, &w->cq, &w->ck, &w->cv, &w->co, &w->ffn0, &w->ffn2,
                         &w->bq, &w->bk, &w->bv, &w->bo, &w->bcq, &w->bck, &w->bcv, &w->bco, &w->bf0, &w->bf2};
    for (size_t i = 0; i < sizeof ts / sizeof *ts; i++) be->free(be, ts[i]->data);
    float *vs[] = {w->norm_q, w->norm_k, w->cnorm_q, w->cnorm_k, w->norm3_w, w->norm3_b, w->modulation};
    for (size_t i = 0; i < sizeof vs / sizeof *vs; i++) be->free(be, vs[i]);
}

static wanc_err make_layer(const wanc_backend *be, layer_w *w, int64_t D, int64_t F, uint32_t s)
{
    memset(w, 0, sizeof *w);
    TRY(dev_weight(be, &w->q, D, D, s + 1));
    TRY(dev_weight(be, &w->k, D, D, s + 2));
    TRY(dev_weight(be, &w->v, D, D, s + 3));
    TRY(dev_weight(be, &w->o, D, D, s + 4));
    TRY(dev_weight(be, &w->cq, D, D, s + 5));
    TRY(dev_weight(be, &w->ck, D, D, s + 6));
    TRY(dev_weight(be, &w->cv, D, D, s + 7));
    TRY(dev_weight(be, &w->co, D, D, s + 8));
    TRY(dev_weight(be, &w->ffn0, F, D, s + 9));
    TRY(dev_weight(be, &w->ffn2, D, F, s + 10));
    wanc_tensor *bs[] = {&w->bq, &w->bk, &w->bv, &w->bo, &w->bcq, &w->bck, &w->bcv, &w->bco, &w->bf2};
    for (size_t i = 0; i < sizeof bs / sizeof *bs; i++) TRY(dev_vec(be, bs[i], D, 0.02f, s + 20 + (uint32_t)i));
    TRY(dev_vec(be, &w->bf0, F, 0.02f, s + 40));
    float **vs[] = {&w->norm_q, &w->norm_k, &w->cnorm_q, &w->cnorm_k, &w->norm3_w, &w->norm3_b};
    for (size_t i = 0; i < sizeof vs / sizeof *vs; i++) TRY(dev_rand_f32(be, vs[i], (size_t)D, 1.0f, s + 50 + (uint32_t)i));
    TRY(dev_rand_f32(be, &w->modulation, (size_t)(6 * D), 0.1f, s + 60));
    return NULL;
}

static wanc_err bench_dit(const wanc_backend *be, const args *a, double peak)
{
    dit_state st = {.be = be, .D = a->dim, .F = a->ffn, .H = a->heads, .hd = a->dim / a->heads, .Lt = a->ctx,
                    .text_dim = 4096, .in_c = a->lat[0], .out_c = a->lat[0]};
    st.S = a->lat[1] * (a->lat[2] / 2) * (a->lat[3] / 2);
    int64_t S = st.S, D = st.D, Fd = st.F;
    dit_weights dw = {0};
    wanc_err err = NULL;
    dw.nlayers = a->layers;
    dw.layers = calloc((size_t)a->layers, sizeof(layer_w));
    if (!dw.layers) WANC_FAIL(WANC_ENOMEM, "gpu_bench: out of memory");
    printf("dit: building %d layers of random bf16 weights (dim %lld, ffn %lld, %lld heads), %lld tokens\n",
           a->layers, (long long)D, (long long)Fd, (long long)st.H, (long long)S);
    fflush(stdout);
    for (int l = 0; l < a->layers; l++) TRY_GOTO(err, done, make_layer(be, &dw.layers[l], D, Fd, 1000u * (uint32_t)l));
    {
        int64_t ps[5] = {D, st.in_c, 1, 2, 2};
        float *pw;
        TRY_GOTO(err, done, dev_rand_f32(be, &pw, (size_t)(D * st.in_c * 4), 0.1f, 7));
        dw.patch_w = wanc_tensor_wrap(pw, WANC_F32, 5, ps);
    }
    TRY_GOTO(err, done, dev_vec(be, &dw.patch_b, D, 0.02f, 8));
    TRY_GOTO(err, done, dev_weight(be, &dw.txt0, D, st.text_dim, 9));
    TRY_GOTO(err, done, dev_vec(be, &dw.btxt0, D, 0.02f, 10));
    TRY_GOTO(err, done, dev_weight(be, &dw.txt1, D, D, 11));
    TRY_GOTO(err, done, dev_vec(be, &dw.btxt1, D, 0.02f, 12));
    TRY_GOTO(err, done, dev_weight(be, &dw.head, st.out_c * 4, D, 13));
    TRY_GOTO(err, done, dev_vec(be, &dw.bhead, st.out_c * 4, 0.02f, 14));
    TRY_GOTO(err, done, dev_rand_f32(be, &dw.lat, (size_t)(st.in_c * a->lat[1] * a->lat[2] * a->lat[3]), 1.0f, 15));
    TRY_GOTO(err, done, dev_rand_f32(be, &dw.text, (size_t)(st.Lt * st.text_dim), 1.0f, 16));
    TRY_GOTO(err, done, be->alloc(be, (void **)&dw.head_out, (size_t)(S * st.out_c * 4) * sizeof(float)));
    /* activations */
    TRY_GOTO(err, done, dev_rand_f32(be, &st.x, (size_t)(S * D), 1.0f, 17));
    float **acts[] = {&st.h, &st.q, &st.k, &st.v, &st.a}; /* a also holds the text MLP's [Lt, D] */
    int64_t rows = S > st.Lt ? S : st.Lt;
    for (size_t i = 0; i < sizeof acts / sizeof *acts; i++)
        TRY_GOTO(err, done, be->alloc(be, (void **)acts[i], (size_t)(rows * D) * sizeof(float)));
    int64_t big = S * (Fd > D ? Fd : D);
    TRY_GOTO(err, done, be->alloc(be, (void **)&st.big, (size_t)big * sizeof(float)));
    TRY_GOTO(err, done, be->alloc(be, (void **)&st.kc, (size_t)(st.Lt * D) * sizeof(float)));
    TRY_GOTO(err, done, be->alloc(be, (void **)&st.vc, (size_t)(st.Lt * D) * sizeof(float)));
    TRY_GOTO(err, done, be->alloc(be, (void **)&st.ctx, (size_t)(st.Lt * D) * sizeof(float)));
    TRY_GOTO(err, done, be->alloc(be, (void **)&st.mod, (size_t)(6 * D) * sizeof(float)));
    TRY_GOTO(err, done, dev_rand_f32(be, &st.tmod, (size_t)(6 * D), 0.1f, 18));
    {
        /* a RoPE table of the right shape (angles need not be Wan's for timing) */
        size_t nr = (size_t)(S * st.hd); /* S · hd/2 · 2 */
        double *h = malloc(nr * sizeof(double));
        if (!h) {
            err = wanc_error(WANC_ENOMEM, "gpu_bench: out of memory for the RoPE table");
            goto done;
        }
        for (size_t i = 0; i < nr / 2; i++) {
            h[2 * i] = cos(0.001 * (double)i);
            h[2 * i + 1] = sin(0.001 * (double)i);
        }
        err = be->alloc(be, (void **)&st.rope, nr * sizeof(double));
        if (!err) err = be->upload(be, st.rope, h, nr * sizeof(double));
        free(h);
        if (err) goto done;
    }

    /* warm-up: one layer (cuBLAS heuristics, pool blocks, kernel attributes) */
    TRY_GOTO(err, done, dit_forward(&st, &dw, a, 1));
    TRY_GOTO(err, done, sync_be(be));
    double t0 = wanc_now_seconds();
    TRY_GOTO(err, done, dit_forward(&st, &dw, a, a->layers));
    TRY_GOTO(err, done, sync_be(be));
    double s = wanc_now_seconds() - t0, fl = dit_flops(&st, a->layers);
    /* split: one profiled block (a sync around every op), scaled to all layers */
    st.profile = 1;
    TRY_GOTO(err, done, run_block(&st, &dw.layers[0]));
    double tf = fl / s * 1e-12;
    printf("dit attention=%s layers=%d tokens=%lld ms=%.1f tflops=%.2f ratio=%.3f gemm_ms=%.1f attn_ms=%.1f other_ms=%.1f"
           " (split: one profiled block x %d)\n",
           a->attn_bf16 && strncmp(be->name, "cuda", 4) == 0 ? "bf16" : "fp32", a->layers, (long long)S, s * 1e3, tf, peak > 0 ? tf / peak : 0, st.t_gemm * 1e3 * a->layers,
           st.t_attn * 1e3 * a->layers, st.t_other * 1e3 * a->layers, a->layers);
done:
    if (dw.layers)
        for (int l = 0; l < a->layers; l++) free_layer(be, &dw.layers[l]);
    free(dw.layers);
    wanc_tensor *ts[] = {&dw.patch_w, &dw.patch_b, &dw.txt0, &dw.btxt0, &dw.txt1, &dw.btxt1, &dw.head, &dw.bhead};
    for (size_t i = 0; i < sizeof ts / sizeof *ts; i++) be->free(be, ts[i]->data);
    void *ps[] = {dw.lat, dw.text, dw.head_out, st.x, st.h, st.q, st.k, st.v, st.a, st.big, st.kc, st.vc,
                  st.ctx, st.mod, st.tmod, st.rope};
    for (size_t i = 0; i < sizeof ps / sizeof *ps; i++) be->free(be, ps[i]);
    return err;
}

int main(int argc, char **argv)
{
    args a;
    const wanc_backend *be = NULL;
    wanc_err err = parse(&a, argc, argv);
    if (!err) err = wanc_backend_get(a.device, &be);
    if (err && wanc_error_code(err) == WANC_EUNSUPPORTED) {
        printf("gpu_bench: SKIP: %s\n", wanc_error_message(err));
        wanc_error_free(err);
        return 0;
    }
    double peak = 0;
    if (!err) {
        printf("gpu_bench: backend %s\n", be->name);
        err = gemm_peak(be, &a, &peak);
    }
    if (!err && !a.no_attn) err = bench_attention(be, &a, peak, 0);
    if (!err && !a.no_attn && strncmp(be->name, "cuda", 4) == 0) err = bench_attention(be, &a, peak, 1);
    if (!err) err = set_attention_bf16(be, a.attn_bf16);
    if (!err && !a.no_dit) err = bench_dit(be, &a, peak);
    if (err) {
        fprintf(stderr, "gpu_bench: %s\n", wanc_error_message(err));
        wanc_error_free(err);
        return 1;
    }
    return 0;
}
