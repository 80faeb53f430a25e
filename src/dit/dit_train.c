/* The Wan DiT's training forward and backward (see dit_train.h).
 *
 * The math is DiffSynth's WanModel in float32, block by block:
 *   mod = modulation + t_mod  → shift0, scale0, gate0, shift3, scale3, gate5
 *   x1 = x0 + gate0 · o(attn(rope(rms(q(h1))), rope(rms(k(h1))), v(h1))),  h1 = LN(x0)(1 + scale0) + shift0
 *   x2 = x1 + co(attn(rms(cq(n3)), rms(ck(ctx)), cv(ctx))),                n3 = LN_affine(x1)
 *   x3 = x2 + gate5 · ffn2(gelu(ffn0(h2))),                                 h2 = LN(x2)(1 + scale3) + shift3
 * with embeddings (patch linear, text MLP, time MLP + projection) before
 * and the modulated head after. The backward walks the same steps in
 * reverse with the backend's backward ops; each block is re-run from its
 * saved input onto the tape first (per-block checkpointing, as DiffSynth
 * trains: the gradients are the same as without it). */
#include "dit/dit_train.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dit/dit_internal.h"

enum { LQ, LK, LV, LO, LCQ, LCK, LCV, LCO, LF0, LF2, NLIN };
static const char *const lin_names[NLIN] = {"self_attn.q",  "self_attn.k",  "self_attn.v",  "self_attn.o",
                                            "cross_attn.q", "cross_attn.k", "cross_attn.v", "cross_attn.o",
                                            "ffn.0",        "ffn.2"};

static const dit_linear *block_linear(const dit_block *b, int i)
{
    const dit_linear *l[NLIN] = {&b->q, &b->k, &b->v, &b->o, &b->cq, &b->ck, &b->cv, &b->co, &b->ffn0, &b->ffn2};
    return l[i];
}

typedef struct {
    float *w, *b; /* gradients of weight [N, K] and bias [N], or NULL (not kept) */
} lin_grad;

typedef struct {
    lin_grad lin[NLIN];
    float *norm_q, *norm_k, *cnorm_q, *cnorm_k, *norm3_w, *norm3_b, *modulation;
    wanc_dit_lora lora[NLIN];
    bool has_lora[NLIN];
} block_train;

typedef struct {
    char name[96];
    float *g;
    int64_t n;
} param_grad;

/* One block's activations, kept from its (re-)forward for its backward. */
typedef struct {
    float *n1, *h1, *qpre, *qr, *kpre, *kr, *v, *a, *lse1, *o, *x1, *n3, *cqpre, *cq1, *ckpre, *ck1, *cv, *ca,
        *lse2, *x2, *n2, *h2, *f1, *g, *f2;
    float *mod;          /* [nseg, 6, D] */
    float *u[NLIN];      /* LoRA A·x per linear [M, rank] */
} tape;

struct wanc_dit_trainer {
    wanc_dit *d;
    const wanc_backend *be;
    bool full;
    block_train *blk;
    lin_grad patch, text0, text2, time0, time2, tproj, head;
    float *head_mod_g;
    param_grad *params;
    int nparams, capparams;
    /* memory from be->alloc */
    void **mem;
    int nmem, capmem;
    /* sizes of the current forward */
    bool have_forward;
    int64_t S, Lt, F, H, W, Fp, Hp, Wp, K, P, D, hd, Fd, rmax;
    int nseg;
    int64_t seg_begin[2], seg_end[2];
    float seg_t[2];
    wanc_dit_observe_fn observe;
    void *observe_user;
    bool want_ctx; /* this backward needs d context (full grads, or asked for) */
    /* forward state */
    float *ctx_in, *text_h, *text_g, *ctx;              /* [Lt, text_dim], [Lt, D] x3 */
    float *tf, *te_h, *te_s, *e, *e_s, *t_mod;          /* per segment: [2, freq], [2, D] ... [2, 6D] */
    float *rows;                                         /* patch rows [S, K] */
    float **x_in;                                        /* block inputs [layers + 1][S, D] */
    float *head_n, *head_h, *head_out, *hm;              /* [S, D], [S, D], [S, P], [2, 2D] */
    double *rope;
    bool no_checkpointing; /* keep every block's tape instead of re-running blocks in backward */
    tape *tapes;           /* one tape (checkpointing) or one per block */
    int tape_block;        /* checkpointing: the block whose activations the tape holds (-1: none) */
    /* backward scratch */
    float *gx, *gb1, *gb2, *gb3, *gbig, *gbig2, *gctx, *gctx2, *dctx_emb, *dt_mod, *de, *dmod, *du, *dsmall;
};

/* ---- memory and parameters ------------------------------------------------------------- */

static wanc_err talloc(wanc_dit_trainer *t, float **out, int64_t n)
{
    if (t->nmem == t->capmem) {
        int cap = t->capmem ? 2 * t->capmem : 64;
        void **m = realloc(t->mem, (size_t)cap * sizeof *m);
        if (!m) WANC_FAIL(WANC_ENOMEM, "DiT trainer: out of memory");
        t->mem = m;
        t->capmem = cap;
    }
    void *p;
    TRY(t->be->alloc(t->be, &p, (size_t)(n > 0 ? n : 1) * sizeof(float)));
    memset(p, 0, (size_t)(n > 0 ? n : 1) * sizeof(float));
    t->mem[t->nmem++] = p;
    *out = p;
    return NULL;
}

/* A kept gradient for parameter `name` of n values (only with full grads). */
static wanc_err param(wanc_dit_trainer *t, float **g, int64_t n, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
static wanc_err param(wanc_dit_trainer *t, float **g, int64_t n, const char *fmt, ...)
{
    *g = NULL;
    if (!t->full) return NULL;
    if (t->nparams == t->capparams) {
        int cap = t->capparams ? 2 * t->capparams : 128;
        param_grad *p = realloc(t->params, (size_t)cap * sizeof *p);
        if (!p) WANC_FAIL(WANC_ENOMEM, "DiT trainer: out of memory");
        t->params = p;
        t->capparams = cap;
    }
    param_grad *p = &t->params[t->nparams];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(p->name, sizeof p->name, fmt, ap);
    va_end(ap);
    TRY(talloc(t, &p->g, n));
    p->n = n;
    *g = p->g;
    t->nparams++;
    return NULL;
}

static wanc_err lin_param(wanc_dit_trainer *t, lin_grad *g, const dit_linear *l, const char *name)
{
    int64_t n = wanc_tensor_numel(l->w);
    TRY(param(t, &g->w, n, "%s.weight", name));
    if (l->b) TRY(param(t, &g->b, wanc_tensor_numel(l->b), "%s.bias", name));
    return NULL;
}

wanc_err wanc_dit_trainer_new(wanc_dit_trainer **out, wanc_dit *d, bool full_grads)
{
    *out = NULL;
    const wanc_dit_config *c = &d->cfg;
    if (c->has_image_input || c->vace_num_blocks || c->has_ref_conv || c->has_control_adapter)
        WANC_FAIL(WANC_EUNSUPPORTED,
                  "DiT training: image input, VACE, reference tokens and the camera adapter are not trained yet "
                  "(T2V and TI2V models are)");
    if (d->bf16)
        WANC_FAIL(WANC_EUNSUPPORTED, "DiT training: bf16 compute is not implemented yet (load the DiT in fp32)");
    TRY(wanc_backend_check_training(d->be));
    wanc_dit_trainer *t = calloc(1, sizeof *t);
    if (!t) WANC_FAIL(WANC_ENOMEM, "DiT trainer: out of memory");
    t->d = d;
    t->be = d->be;
    t->full = full_grads;
    wanc_err err = NULL;
    t->blk = calloc((size_t)c->num_layers, sizeof *t->blk);
    if (!t->blk) err = wanc_error(WANC_ENOMEM, "DiT trainer: out of memory");
    const int64_t D = c->dim;
    if (!err) err = lin_param(t, &t->patch, &d->patch, "patch_embedding");
    if (!err) err = lin_param(t, &t->text0, &d->text0, "text_embedding.0");
    if (!err) err = lin_param(t, &t->text2, &d->text2, "text_embedding.2");
    if (!err) err = lin_param(t, &t->time0, &d->time0, "time_embedding.0");
    if (!err) err = lin_param(t, &t->time2, &d->time2, "time_embedding.2");
    if (!err) err = lin_param(t, &t->tproj, &d->tproj, "time_projection.1");
    for (int i = 0; i < c->num_layers && !err; i++) {
        block_train *bt = &t->blk[i];
        char name[96];
        for (int j = 0; j < NLIN && !err; j++) {
            snprintf(name, sizeof name, "blocks.%d.%s", i, lin_names[j]);
            err = lin_param(t, &bt->lin[j], block_linear(&d->blocks[i], j), name);
        }
        if (!err) err = param(t, &bt->norm_q, D, "blocks.%d.self_attn.norm_q.weight", i);
        if (!err) err = param(t, &bt->norm_k, D, "blocks.%d.self_attn.norm_k.weight", i);
        if (!err) err = param(t, &bt->cnorm_q, D, "blocks.%d.cross_attn.norm_q.weight", i);
        if (!err) err = param(t, &bt->cnorm_k, D, "blocks.%d.cross_attn.norm_k.weight", i);
        if (!err) err = param(t, &bt->norm3_w, D, "blocks.%d.norm3.weight", i);
        if (!err) err = param(t, &bt->norm3_b, D, "blocks.%d.norm3.bias", i);
        if (!err) err = param(t, &bt->modulation, 6 * D, "blocks.%d.modulation", i);
    }
    if (!err) err = lin_param(t, &t->head, &d->head, "head.head");
    if (!err) err = param(t, &t->head_mod_g, 2 * D, "head.modulation");
    if (err) {
        wanc_dit_trainer_free(t);
        return err;
    }
    *out = t;
    return NULL;
}

void wanc_dit_trainer_free(wanc_dit_trainer *t)
{
    if (!t) return;
    for (int i = 0; i < t->nmem; i++) t->be->free(t->be, t->mem[i]);
    free(t->mem);
    free(t->params);
    free(t->blk);
    free(t->x_in);
    free(t->tapes);
    free(t);
}

wanc_err wanc_dit_trainer_add_lora(wanc_dit_trainer *t, const char *module, const wanc_dit_lora *lora)
{
    int blk = -1, used = 0;
    if (sscanf(module, "blocks.%d.%n", &blk, &used) != 1 || used == 0 || blk < 0 || blk >= t->d->cfg.num_layers)
        WANC_FAIL(WANC_EINVAL, "DiT LoRA: module '%s' is not a Linear of a block (blocks.<i>.<name>)", module);
    for (int j = 0; j < NLIN; j++) {
        if (strcmp(module + used, lin_names[j])) continue;
        if (!lora || !lora->A || !lora->B || lora->rank <= 0)
            WANC_FAIL(WANC_EINVAL, "DiT LoRA %s: A, B and a positive rank are required", module);
        t->blk[blk].lora[j] = *lora;
        t->blk[blk].has_lora[j] = true;
        t->rmax = lora->rank > t->rmax ? lora->rank : t->rmax;
        t->have_forward = false; /* the tape's LoRA buffers are sized by the largest rank */
        return NULL;
    }
    WANC_FAIL(WANC_EINVAL, "DiT LoRA: module '%s' is not one of the block's Linear layers", module);
}

void wanc_dit_trainer_set_checkpointing(wanc_dit_trainer *t, bool on)
{
    if (t->no_checkpointing == !on) return;
    t->no_checkpointing = !on;
    t->have_forward = false; /* the tapes are re-made at the next forward */
}

float *wanc_dit_trainer_grad(const wanc_dit_trainer *t, const char *name, int64_t *numel)
{
    for (int i = 0; i < t->nparams; i++)
        if (!strcmp(t->params[i].name, name)) {
            if (numel) *numel = t->params[i].n;
            return t->params[i].g;
        }
    return NULL;
}

int wanc_dit_trainer_param_count(const wanc_dit_trainer *t) { return t->nparams; }

const char *wanc_dit_trainer_param_name(const wanc_dit_trainer *t, int i)
{
    return i >= 0 && i < t->nparams ? t->params[i].name : NULL;
}

void wanc_dit_trainer_zero_grad(wanc_dit_trainer *t)
{
    for (int i = 0; i < t->nparams; i++) memset(t->params[i].g, 0, (size_t)t->params[i].n * sizeof(float));
}

/* ---- buffers for one size -------------------------------------------------------------------- */

static wanc_err size_buffers(wanc_dit_trainer *t, int64_t F, int64_t H, int64_t W, int64_t Lt)
{
    const wanc_dit_config *c = &t->d->cfg;
    const int pt = c->patch[0], ph = c->patch[1], pw = c->patch[2];
    if (t->have_forward && t->F == F && t->H == H && t->W == W && t->Lt == Lt) return NULL;
    /* sizes changed (or first call): drop the activation buffers, keep the parameter gradients */
    int keep = 0;
    for (int i = 0; i < t->nparams; i++) keep++;
    for (int i = keep; i < t->nmem; i++) t->be->free(t->be, t->mem[i]);
    t->nmem = keep;
    free(t->x_in);
    t->x_in = NULL;
    free(t->tapes);
    t->tapes = NULL;
    t->have_forward = false;
    t->tape_block = -1;
    t->F = F, t->H = H, t->W = W, t->Lt = Lt;
    t->Fp = F / pt, t->Hp = H / ph, t->Wp = W / pw;
    t->S = t->Fp * t->Hp * t->Wp;
    t->D = c->dim, t->hd = c->dim / c->num_heads, t->Fd = c->ffn_dim;
    t->K = (int64_t)c->in_dim * pt * ph * pw, t->P = (int64_t)c->out_dim * pt * ph * pw;
    const int64_t S = t->S, D = t->D, Fd = t->Fd, Hh = c->num_heads, R = t->rmax > 0 ? t->rmax : 1;
    const int64_t M = S > Lt ? S : Lt;
    t->x_in = calloc((size_t)c->num_layers + 1, sizeof *t->x_in);
    if (!t->x_in) WANC_FAIL(WANC_ENOMEM, "DiT trainer: out of memory");
    for (int i = 0; i <= c->num_layers; i++) TRY(talloc(t, &t->x_in[i], S * D));
    TRY(talloc(t, &t->ctx_in, Lt * c->text_dim));
    TRY(talloc(t, &t->text_h, Lt * D));
    TRY(talloc(t, &t->text_g, Lt * D));
    TRY(talloc(t, &t->ctx, Lt * D));
    TRY(talloc(t, &t->tf, 2 * c->freq_dim));
    TRY(talloc(t, &t->te_h, 2 * D));
    TRY(talloc(t, &t->te_s, 2 * D));
    TRY(talloc(t, &t->e, 2 * D));
    TRY(talloc(t, &t->e_s, 2 * D));
    TRY(talloc(t, &t->t_mod, 2 * 6 * D));
    TRY(talloc(t, &t->rows, S * t->K));
    TRY(talloc(t, &t->head_n, S * D));
    TRY(talloc(t, &t->head_h, S * D));
    TRY(talloc(t, &t->head_out, S * t->P));
    TRY(talloc(t, &t->hm, 2 * 2 * D));
    float *rope;
    TRY(talloc(t, &rope, 2 * S * t->hd)); /* S · hd doubles */
    t->rope = (double *)rope;
    int ntapes = t->no_checkpointing ? c->num_layers : 1;
    t->tapes = calloc((size_t)ntapes, sizeof *t->tapes);
    if (!t->tapes) WANC_FAIL(WANC_ENOMEM, "DiT trainer: out of memory");
    for (int i = 0; i < ntapes; i++) {
        tape *p = &t->tapes[i];
        float **sd[] = {&p->n1, &p->h1, &p->qpre, &p->qr, &p->kpre, &p->kr, &p->v, &p->a, &p->o, &p->x1, &p->n3,
                        &p->cqpre, &p->cq1, &p->ca, &p->x2, &p->n2, &p->h2, &p->f2};
        for (size_t k = 0; k < sizeof sd / sizeof sd[0]; k++) TRY(talloc(t, sd[k], S * D));
        float **ld[] = {&p->ckpre, &p->ck1, &p->cv};
        for (size_t k = 0; k < sizeof ld / sizeof ld[0]; k++) TRY(talloc(t, ld[k], Lt * D));
        TRY(talloc(t, &p->lse1, Hh * S));
        TRY(talloc(t, &p->lse2, Hh * S));
        TRY(talloc(t, &p->f1, S * Fd));
        TRY(talloc(t, &p->g, S * Fd));
        TRY(talloc(t, &p->mod, 2 * 6 * D));
        for (int j = 0; j < NLIN; j++) TRY(talloc(t, &p->u[j], M * R));
    }
    /* backward scratch */
    float **bs[] = {&t->gx, &t->gb1, &t->gb2, &t->gb3};
    for (size_t i = 0; i < sizeof bs / sizeof bs[0]; i++) TRY(talloc(t, bs[i], S * D));
    int64_t big = S * Fd > S * t->K ? S * Fd : S * t->K;
    if (big < S * t->P) big = S * t->P;
    TRY(talloc(t, &t->gbig, big));
    TRY(talloc(t, &t->gbig2, S * Fd > Lt * D ? S * Fd : Lt * D));
    TRY(talloc(t, &t->gctx, Lt * D));
    TRY(talloc(t, &t->gctx2, Lt * D));
    TRY(talloc(t, &t->dctx_emb, Lt * D));
    TRY(talloc(t, &t->dt_mod, 2 * 6 * D));
    TRY(talloc(t, &t->de, 2 * D));
    TRY(talloc(t, &t->dmod, 2 * 6 * D));
    TRY(talloc(t, &t->du, M * R));
    TRY(talloc(t, &t->dsmall, 6 * D > c->freq_dim ? 6 * D : c->freq_dim));
    return NULL;
}

/* ---- Linear with an optional LoRA ------------------------------------------------------------------ */

/* y[M, N] = x·Wᵀ + b (+ scale·(x·Aᵀ)·Bᵀ, keeping u = x·Aᵀ [M, rank]). */
static wanc_err lin_fwd(const wanc_dit_trainer *t, float *y, const float *x, const dit_linear *l,
                        const wanc_dit_lora *lo, float *u, int64_t M)
{
    const wanc_backend *be = t->be;
    if (l->lora)
        WANC_FAIL(WANC_EUNSUPPORTED, "DiT training: a run-time LoRA (wanc_dit_set_lora) is attached to a Linear; "
                                     "train on the base DiT (or a fused one) with the trainer's own LoRA");
    TRY(be->linear(be, y, x, l->w, l->b, M));
    if (lo) {
        int64_t N = l->w->shape[0], K = wanc_tensor_numel(l->w) / N, r = lo->rank;
        TRY(be->gemm(be, u, x, lo->A, M, r, K, 0, 1, 1.0f, 0.0f, K, K, r));
        TRY(be->gemm(be, y, u, lo->B, M, N, r, 0, 1, lo->scale, 1.0f, r, r, N));
    }
    return NULL;
}

/* The backward of lin_fwd: dx (+)= dy·W (+ the LoRA path), parameter
 * gradients added (g NULL: frozen), LoRA dA / dB added. */
static wanc_err lin_bwd(wanc_dit_trainer *t, float *dx, int acc, const float *dy, const float *x, const dit_linear *l,
                        const lin_grad *g, const wanc_dit_lora *lo, const float *u, int64_t M)
{
    const wanc_backend *be = t->be;
    if (dx) TRY(be->linear_backward(be, dx, NULL, NULL, dy, x, l->w, M, acc));
    if (g && (g->w || g->b)) TRY(be->linear_backward(be, NULL, g->w, g->b, dy, x, l->w, M, 1));
    if (lo) {
        int64_t N = l->w->shape[0], K = wanc_tensor_numel(l->w) / N, r = lo->rank;
        if (lo->dB) TRY(be->gemm(be, lo->dB, dy, u, N, r, M, 1, 0, lo->scale, 1.0f, N, r, r));
        TRY(be->gemm(be, t->du, dy, lo->B, M, r, N, 0, 0, lo->scale, 0.0f, N, r, r));
        if (lo->dA) TRY(be->gemm(be, lo->dA, t->du, x, r, K, M, 1, 0, 1.0f, 1.0f, r, K, K));
        if (dx) TRY(be->gemm(be, dx, t->du, lo->A, M, K, r, 0, 0, 1.0f, 1.0f, r, K, K));
    }
    return NULL;
}

static const wanc_dit_lora *lora_of(const block_train *bt, int j) { return bt->has_lora[j] ? &bt->lora[j] : NULL; }

static void observe(const wanc_dit_trainer *t, const char *name, const float *data, int ndim, const int64_t *shape)
{
    if (t->observe) t->observe(t->observe_user, name, data, ndim, shape);
}

/* ---- one block ------------------------------------------------------------------------------------- */

#define SEG for (int sg = 0; sg < t->nseg; sg++)
#define ROWS(p) ((p) + t->seg_begin[sg] * D)
#define NROWS (t->seg_end[sg] - t->seg_begin[sg])
#define MOD(base, j) ((base) + (sg * 6 + (j)) * D)

/* x_out[S, D] = block(x0); everything the backward needs stays on the tape. */
static wanc_err block_fwd(wanc_dit_trainer *t, int i, const float *x0, float *x_out)
{
    const wanc_backend *be = t->be;
    const dit_block *b = &t->d->blocks[i];
    const block_train *bt = &t->blk[i];
    tape *p = &t->tapes[t->no_checkpointing ? i : 0];
    const int64_t S = t->S, D = t->D, Lt = t->Lt, Hh = t->d->cfg.num_heads, hd = t->hd;
    const float eps = t->d->cfg.eps, sc = 1.0f / sqrtf((float)hd);
    t->tape_block = i;
    SEG TRY(be->add(be, MOD(p->mod, 0), b->modulation, t->t_mod + sg * 6 * D, 6 * D));

    /* self-attention */
    TRY(be->layer_norm(be, p->n1, x0, NULL, NULL, S, D, eps));
    SEG TRY(be->modulate(be, ROWS(p->h1), ROWS(p->n1), MOD(p->mod, 0), MOD(p->mod, 1), NROWS, D));
    TRY(lin_fwd(t, p->qpre, p->h1, &b->q, lora_of(bt, LQ), p->u[LQ], S));
    TRY(be->rms_norm(be, p->qr, p->qpre, b->norm_q, S, D, eps));
    TRY(be->rope(be, p->qr, t->rope, S, Hh, hd));
    TRY(lin_fwd(t, p->kpre, p->h1, &b->k, lora_of(bt, LK), p->u[LK], S));
    TRY(be->rms_norm(be, p->kr, p->kpre, b->norm_k, S, D, eps));
    TRY(be->rope(be, p->kr, t->rope, S, Hh, hd));
    TRY(lin_fwd(t, p->v, p->h1, &b->v, lora_of(bt, LV), p->u[LV], S));
    TRY(be->attention_lse(be, p->a, p->lse1, p->qr, p->kr, p->v, S, S, Hh, hd, sc));
    TRY(lin_fwd(t, p->o, p->a, &b->o, lora_of(bt, LO), p->u[LO], S));
    memcpy(p->x1, x0, (size_t)(S * D) * sizeof(float));
    SEG TRY(be->gated_add(be, ROWS(p->x1), ROWS(p->o), MOD(p->mod, 2), NROWS, D));

    /* cross-attention on the text tokens */
    TRY(be->layer_norm(be, p->n3, p->x1, b->norm3_w, b->norm3_b, S, D, eps));
    TRY(lin_fwd(t, p->cqpre, p->n3, &b->cq, lora_of(bt, LCQ), p->u[LCQ], S));
    TRY(be->rms_norm(be, p->cq1, p->cqpre, b->cnorm_q, S, D, eps));
    TRY(lin_fwd(t, p->ckpre, t->ctx, &b->ck, lora_of(bt, LCK), p->u[LCK], Lt));
    TRY(be->rms_norm(be, p->ck1, p->ckpre, b->cnorm_k, Lt, D, eps));
    TRY(lin_fwd(t, p->cv, t->ctx, &b->cv, lora_of(bt, LCV), p->u[LCV], Lt));
    TRY(be->attention_lse(be, p->ca, p->lse2, p->cq1, p->ck1, p->cv, S, Lt, Hh, hd, sc));
    TRY(lin_fwd(t, p->x2, p->ca, &b->co, lora_of(bt, LCO), p->u[LCO], S));
    TRY(be->add(be, p->x2, p->x2, p->x1, S * D)); /* x1 + co(...): the sum commutes bit for bit */

    /* FFN */
    TRY(be->layer_norm(be, p->n2, p->x2, NULL, NULL, S, D, eps));
    SEG TRY(be->modulate(be, ROWS(p->h2), ROWS(p->n2), MOD(p->mod, 3), MOD(p->mod, 4), NROWS, D));
    TRY(lin_fwd(t, p->f1, p->h2, &b->ffn0, lora_of(bt, LF0), p->u[LF0], S));
    TRY(be->gelu_tanh(be, p->g, p->f1, S * t->Fd));
    TRY(lin_fwd(t, p->f2, p->g, &b->ffn2, lora_of(bt, LF2), p->u[LF2], S));
    memcpy(x_out, p->x2, (size_t)(S * D) * sizeof(float));
    SEG TRY(be->gated_add(be, ROWS(x_out), ROWS(p->f2), MOD(p->mod, 5), NROWS, D));
    return NULL;
}

/* gx[S, D]: d loss / d block output in, d loss / d block input out (in
 * place). Parameter gradients added (the kept ones: a NULL gradient pointer
 * is "frozen" for the backend ops); t->dt_mod and t->dctx_emb added to. */
static wanc_err block_bwd(wanc_dit_trainer *t, int i, const float *x0, float *gx)
{
    const wanc_backend *be = t->be;
    const dit_block *b = &t->d->blocks[i];
    block_train *bt = &t->blk[i];
    tape *p = &t->tapes[t->no_checkpointing ? i : 0];
    const int64_t S = t->S, D = t->D, Lt = t->Lt, Hh = t->d->cfg.num_heads, hd = t->hd;
    const float eps = t->d->cfg.eps, sc = 1.0f / sqrtf((float)hd);
    float *dmod = t->dmod, *g1 = t->gb1, *g2 = t->gb2, *g3 = t->gb3;
    memset(dmod, 0, (size_t)(2 * 6 * D) * sizeof(float));

    /* FFN: x3 = x2 + gate5·f2 */
    SEG TRY(be->mul_rows_backward(be, ROWS(g1), MOD(dmod, 5), ROWS(gx), ROWS(p->f2), MOD(p->mod, 5), NROWS, D, 0));
    TRY(lin_bwd(t, t->gbig, 0, g1, p->g, &b->ffn2, &bt->lin[LF2], lora_of(bt, LF2), p->u[LF2], S));
    TRY(be->gelu_tanh_backward(be, t->gbig2, t->gbig, p->f1, S * t->Fd, 0));
    TRY(lin_bwd(t, g2, 0, t->gbig2, p->h2, &b->ffn0, &bt->lin[LF0], lora_of(bt, LF0), p->u[LF0], S));
    SEG TRY(be->modulate_backward(be, ROWS(g3), MOD(dmod, 3), MOD(dmod, 4), ROWS(g2), ROWS(p->n2), MOD(p->mod, 4),
                                  NROWS, D, 0));
    TRY(be->layer_norm_backward(be, gx, NULL, NULL, g3, p->x2, NULL, S, D, eps, 1));

    /* cross-attention: x2 = x1 + co(ca) */
    TRY(lin_bwd(t, g1, 0, gx, p->ca, &b->co, &bt->lin[LCO], lora_of(bt, LCO), p->u[LCO], S));
    TRY(be->attention_backward(be, g2, t->gctx, t->gctx2, g1, p->cq1, p->ck1, p->cv, p->ca, p->lse2, S, Lt, Hh, hd,
                               sc, 0));
    float *dctx_emb = t->want_ctx ? t->dctx_emb : NULL; /* the context's gradient only when someone needs it */
    TRY(lin_bwd(t, dctx_emb, 1, t->gctx2, t->ctx, &b->cv, &bt->lin[LCV], lora_of(bt, LCV), p->u[LCV], Lt));
    TRY(be->rms_norm_backward(be, t->gctx2, bt->cnorm_k, t->gctx, p->ckpre, b->cnorm_k, Lt, D, eps, 0));
    TRY(lin_bwd(t, dctx_emb, 1, t->gctx2, t->ctx, &b->ck, &bt->lin[LCK], lora_of(bt, LCK), p->u[LCK], Lt));
    TRY(be->rms_norm_backward(be, g1, bt->cnorm_q, g2, p->cqpre, b->cnorm_q, S, D, eps, 0));
    TRY(lin_bwd(t, g2, 0, g1, p->n3, &b->cq, &bt->lin[LCQ], lora_of(bt, LCQ), p->u[LCQ], S));
    TRY(be->layer_norm_backward(be, gx, bt->norm3_w, bt->norm3_b, g2, p->x1, b->norm3_w, S, D, eps, 1));

    /* self-attention: x1 = x0 + gate0·o */
    SEG TRY(be->mul_rows_backward(be, ROWS(g1), MOD(dmod, 2), ROWS(gx), ROWS(p->o), MOD(p->mod, 2), NROWS, D, 0));
    TRY(lin_bwd(t, g2, 0, g1, p->a, &b->o, &bt->lin[LO], lora_of(bt, LO), p->u[LO], S));
    float *dq = g1, *dk = g3, *dv = t->gbig; /* gbig holds >= S·D */
    TRY(be->attention_backward(be, dq, dk, dv, g2, p->qr, p->kr, p->v, p->a, p->lse1, S, S, Hh, hd, sc, 0));
    TRY(be->rope_backward(be, dq, t->rope, S, Hh, hd));
    TRY(be->rope_backward(be, dk, t->rope, S, Hh, hd));
    float *dh1 = t->gbig2; /* >= S·D */
    TRY(lin_bwd(t, dh1, 0, dv, p->h1, &b->v, &bt->lin[LV], lora_of(bt, LV), p->u[LV], S));
    TRY(be->rms_norm_backward(be, g2, bt->norm_q, dq, p->qpre, b->norm_q, S, D, eps, 0));
    TRY(lin_bwd(t, dh1, 1, g2, p->h1, &b->q, &bt->lin[LQ], lora_of(bt, LQ), p->u[LQ], S));
    TRY(be->rms_norm_backward(be, g2, bt->norm_k, dk, p->kpre, b->norm_k, S, D, eps, 0));
    TRY(lin_bwd(t, dh1, 1, g2, p->h1, &b->k, &bt->lin[LK], lora_of(bt, LK), p->u[LK], S));
    SEG TRY(be->modulate_backward(be, ROWS(g3), MOD(dmod, 0), MOD(dmod, 1), ROWS(dh1), ROWS(p->n1), MOD(p->mod, 1),
                                  NROWS, D, 0));
    TRY(be->layer_norm_backward(be, gx, NULL, NULL, g3, x0, NULL, S, D, eps, 1));

    /* mod = modulation + t_mod: both get dmod */
    SEG
    {
        TRY(be->add(be, t->dt_mod + sg * 6 * D, t->dt_mod + sg * 6 * D, MOD(dmod, 0), 6 * D));
        if (bt->modulation) TRY(be->add(be, bt->modulation, bt->modulation, MOD(dmod, 0), 6 * D));
    }
    return NULL;
}

/* ---- the whole model ------------------------------------------------------------------------------ */

wanc_err wanc_dit_trainer_forward(wanc_dit_trainer *t, const wanc_dit_train_inputs *in, float *pred)
{
    const wanc_dit *d = t->d;
    const wanc_dit_config *c = &d->cfg;
    const wanc_backend *be = t->be;
    if (!in || !in->latents || !in->context || in->ctx_len <= 0 || !pred)
        WANC_FAIL(WANC_EINVAL, "DiT training forward: latents, context and the output are required");
    if (in->F <= 0 || in->H <= 0 || in->W <= 0 || in->F % c->patch[0] || in->H % c->patch[1] || in->W % c->patch[2])
        WANC_FAIL(WANC_ESHAPE, "DiT training forward: latent size %lldx%lldx%lld is not a multiple of the patch",
                  (long long)in->F, (long long)in->H, (long long)in->W);
    TRY(size_buffers(t, in->F, in->H, in->W, in->ctx_len));
    t->observe = in->observe;
    t->observe_user = in->observe_user;
    const int64_t S = t->S, D = t->D, Lt = t->Lt;

    /* timestep ranges: one, or frame 0 at t = 0 (TI2V) */
    int64_t n0 = in->zero_first_frame ? t->Hp * t->Wp : S;
    t->nseg = 0;
    if (n0 > 0) t->seg_begin[t->nseg] = 0, t->seg_end[t->nseg] = n0, t->seg_t[t->nseg++] = in->zero_first_frame ? 0 : in->timestep;
    if (n0 < S) t->seg_begin[t->nseg] = n0, t->seg_end[t->nseg] = S, t->seg_t[t->nseg++] = in->timestep;

    /* time embedding and projection per range */
    double sd[1024];
    if (c->freq_dim > 1024) WANC_FAIL(WANC_EUNSUPPORTED, "DiT training: freq_dim %d > 1024", c->freq_dim);
    for (int sg = 0; sg < t->nseg; sg++) {
        float *tf = t->tf + sg * c->freq_dim;
        wanc_dit_sinusoid(sd, c->freq_dim, t->seg_t[sg]);
        for (int i = 0; i < c->freq_dim; i++) tf[i] = (float)sd[i];
        TRY(be->linear(be, t->te_h + sg * D, tf, d->time0.w, d->time0.b, 1));
        TRY(be->silu(be, t->te_s + sg * D, t->te_h + sg * D, D));
        TRY(be->linear(be, t->e + sg * D, t->te_s + sg * D, d->time2.w, d->time2.b, 1));
        TRY(be->silu(be, t->e_s + sg * D, t->e + sg * D, D));
        TRY(be->linear(be, t->t_mod + sg * 6 * D, t->e_s + sg * D, d->tproj.w, d->tproj.b, 1));
    }
    observe(t, "time_embedding", t->e, 2, (int64_t[]){1, D});
    observe(t, "time_projection", t->t_mod, 2, (int64_t[]){1, 6 * D});

    /* text embedding: Linear, GELU (tanh), Linear */
    memcpy(t->ctx_in, in->context, (size_t)(Lt * c->text_dim) * sizeof(float));
    TRY(be->linear(be, t->text_h, t->ctx_in, d->text0.w, d->text0.b, Lt));
    TRY(be->gelu_tanh(be, t->text_g, t->text_h, Lt * D));
    TRY(be->linear(be, t->ctx, t->text_g, d->text2.w, d->text2.b, Lt));
    observe(t, "text_embedding", t->ctx, 3, (int64_t[]){1, Lt, D});

    /* patch embedding: a linear over the patches */
    dit_patchify(t->rows, in->latents, c->in_dim, NULL, c->in_dim, in->F, in->H, in->W, c->patch);
    TRY(be->linear(be, t->x_in[0], t->rows, d->patch.w, d->patch.b, S));
    if (t->observe) {
        dit_tokens_to_channels(t->gbig, t->x_in[0], S, D);
        observe(t, "patch_embedding", t->gbig, 5, (int64_t[]){1, D, t->Fp, t->Hp, t->Wp});
    }
    TRY(wanc_dit_rope_table(t->rope, t->Fp, t->Hp, t->Wp, (int)t->hd));

    /* blocks: each input kept (the checkpoints) */
    for (int i = 0; i < c->num_layers; i++) {
        TRY(block_fwd(t, i, t->x_in[i], t->x_in[i + 1]));
        char name[32];
        snprintf(name, sizeof name, "block_out.%d", i);
        observe(t, name, t->x_in[i + 1], 3, (int64_t[]){1, S, D});
    }

    /* head: (shift, scale) = head.modulation + e; Linear(LN(x)(1 + scale) + shift) */
    const float *xf = t->x_in[c->num_layers];
    TRY(be->layer_norm(be, t->head_n, xf, NULL, NULL, S, D, c->eps));
    for (int sg = 0; sg < t->nseg; sg++) {
        float *hm = t->hm + sg * 2 * D;
        TRY(be->add(be, hm, d->head_mod, t->e + sg * D, D));
        TRY(be->add(be, hm + D, d->head_mod + D, t->e + sg * D, D));
        TRY(be->modulate(be, ROWS(t->head_h), ROWS(t->head_n), hm, hm + D, NROWS, D));
    }
    TRY(be->linear(be, t->head_out, t->head_h, d->head.w, d->head.b, S));
    observe(t, "head", t->head_out, 3, (int64_t[]){1, S, t->P});
    /* unpatchify: features (kt, kh, kw, c) → pred[c, F, H, W] */
    const int pt = c->patch[0], ph = c->patch[1], pw = c->patch[2];
    for (int64_t tok = 0; tok < S; tok++) {
        int64_t fi = tok / (t->Hp * t->Wp), hi = tok / t->Wp % t->Hp, wi = tok % t->Wp;
        const float *row = t->head_out + tok * t->P;
        for (int kt = 0; kt < pt; kt++)
            for (int kh = 0; kh < ph; kh++)
                for (int kw = 0; kw < pw; kw++)
                    for (int ch = 0; ch < c->out_dim; ch++)
                        pred[((ch * in->F + fi * pt + kt) * in->H + hi * ph + kh) * in->W + wi * pw + kw] = *row++;
    }
    t->have_forward = true;
    return NULL;
}

wanc_err wanc_dit_trainer_backward(wanc_dit_trainer *t, const float *dpred, float *dx, float *dctx)
{
    if (!t->have_forward) WANC_FAIL(WANC_EINVAL, "DiT training backward: no forward to go back through");
    if (!dpred) WANC_FAIL(WANC_EINVAL, "DiT training backward: NULL gradient");
    const wanc_dit *d = t->d;
    const wanc_dit_config *c = &d->cfg;
    const wanc_backend *be = t->be;
    const int64_t S = t->S, D = t->D, Lt = t->Lt;
    const int pt = c->patch[0], ph = c->patch[1], pw = c->patch[2];
    memset(t->dt_mod, 0, (size_t)(2 * 6 * D) * sizeof(float));
    memset(t->de, 0, (size_t)(2 * D) * sizeof(float));
    memset(t->dctx_emb, 0, (size_t)(Lt * D) * sizeof(float));
    t->want_ctx = t->full || dctx; /* LoRA-only training without d context skips the text path's backward */

    /* head: patchify dpred into the head's rows */
    float *dhead = t->gbig;
    for (int64_t tok = 0; tok < S; tok++) {
        int64_t fi = tok / (t->Hp * t->Wp), hi = tok / t->Wp % t->Hp, wi = tok % t->Wp;
        float *row = dhead + tok * t->P;
        for (int kt = 0; kt < pt; kt++)
            for (int kh = 0; kh < ph; kh++)
                for (int kw = 0; kw < pw; kw++)
                    for (int ch = 0; ch < c->out_dim; ch++)
                        *row++ = dpred[((ch * t->F + fi * pt + kt) * t->H + hi * ph + kh) * t->W + wi * pw + kw];
    }
    observe(t, "grad:head", dhead, 3, (int64_t[]){1, S, t->P});
    TRY(lin_bwd(t, t->gb1, 0, dhead, t->head_h, &d->head, &t->head, NULL, NULL, S));
    for (int sg = 0; sg < t->nseg; sg++) {
        float *dhm = t->dsmall; /* [2D]: dshift, dscale */
        TRY(be->modulate_backward(be, ROWS(t->gb2), dhm, dhm + D, ROWS(t->gb1), ROWS(t->head_n), t->hm + sg * 2 * D + D,
                                  NROWS, D, 0));
        if (t->head_mod_g) TRY(be->add(be, t->head_mod_g, t->head_mod_g, dhm, 2 * D));
        TRY(be->add(be, t->de + sg * D, t->de + sg * D, dhm, D));
        TRY(be->add(be, t->de + sg * D, t->de + sg * D, dhm + D, D));
    }
    TRY(be->layer_norm_backward(be, t->gx, NULL, NULL, t->gb2, t->x_in[c->num_layers], NULL, S, D, c->eps, 0));

    /* blocks in reverse: re-run each from its kept input, then its backward */
    for (int i = c->num_layers - 1; i >= 0; i--) {
        char name[40];
        snprintf(name, sizeof name, "grad:block_out.%d", i);
        observe(t, name, t->gx, 3, (int64_t[]){1, S, D});
        /* checkpointing: re-run the block onto the tape (its output, already
         * kept as the next block's input, goes to scratch); the last block's
         * activations are still there from the forward */
        if (!t->no_checkpointing && t->tape_block != i) TRY(block_fwd(t, i, t->x_in[i], t->gb3));
        TRY(block_bwd(t, i, t->x_in[i], t->gx));
    }

    /* patch embedding: d rows, then back to the latents' layout */
    if (t->observe) {
        dit_tokens_to_channels(t->gbig, t->gx, S, D);
        observe(t, "grad:patch_embedding", t->gbig, 5, (int64_t[]){1, D, t->Fp, t->Hp, t->Wp});
    }
    TRY(lin_bwd(t, dx ? t->gbig : NULL, 0, t->gx, t->rows, &d->patch, &t->patch, NULL, NULL, S));
    if (dx) {
        const int64_t HW = t->H * t->W, FHW = t->F * HW;
        for (int64_t tok = 0; tok < S; tok++) {
            int64_t fi = tok / (t->Hp * t->Wp), hi = tok / t->Wp % t->Hp, wi = tok % t->Wp;
            const float *row = t->gbig + tok * t->K;
            for (int64_t ch = 0; ch < c->in_dim; ch++)
                for (int kt = 0; kt < pt; kt++)
                    for (int kh = 0; kh < ph; kh++)
                        for (int kw = 0; kw < pw; kw++)
                            dx[ch * FHW + (fi * pt + kt) * HW + (hi * ph + kh) * t->W + wi * pw + kw] = *row++;
        }
    }

    /* time projection and embedding per range */
    observe(t, "grad:time_projection", t->dt_mod, 2, (int64_t[]){1, 6 * D});
    for (int sg = 0; sg < t->nseg; sg++) {
        float *de = t->de + sg * D, *tmp = t->dsmall;
        TRY(lin_bwd(t, tmp, 0, t->dt_mod + sg * 6 * D, t->e_s + sg * D, &d->tproj, &t->tproj, NULL, NULL, 1));
        TRY(be->silu_backward(be, de, tmp, t->e + sg * D, D, 1));
    }
    observe(t, "grad:time_embedding", t->de, 2, (int64_t[]){1, D});
    for (int sg = 0; sg < t->nseg; sg++) {
        float *tmp = t->dsmall, *tmp2 = t->gb1;
        TRY(lin_bwd(t, tmp, 0, t->de + sg * D, t->te_s + sg * D, &d->time2, &t->time2, NULL, NULL, 1));
        TRY(be->silu_backward(be, tmp2, tmp, t->te_h + sg * D, D, 0));
        TRY(lin_bwd(t, NULL, 0, tmp2, t->tf + sg * c->freq_dim, &d->time0, &t->time0, NULL, NULL, 1));
    }

    /* text embedding */
    if (!t->want_ctx) return NULL;
    observe(t, "grad:text_embedding", t->dctx_emb, 3, (int64_t[]){1, Lt, D});
    TRY(lin_bwd(t, t->gbig2, 0, t->dctx_emb, t->text_g, &d->text2, &t->text2, NULL, NULL, Lt));
    TRY(be->gelu_tanh_backward(be, t->gctx, t->gbig2, t->text_h, Lt * D, 0));
    TRY(lin_bwd(t, dctx, 0, t->gctx, t->ctx_in, &d->text0, &t->text0, NULL, NULL, Lt));
    return NULL;
}
