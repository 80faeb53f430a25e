/* The Wan DiT's training forward and backward (see dit_train.h).
 *
 * The model is the inference one: the same embeddings, block and head
 * (dit_embed.c, dit_block.c, dit_head.c on the nn layers) in float32, with
 * every activation the backward reads kept on a tape, and their backwards.
 * Per-block gradient checkpointing, as DiffSynth trains: each block's input
 * is kept; in backward the block runs again onto the tape first (the
 * gradients are the same as without it). */
#include "dit/dit_train.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dit/dit_internal.h"

typedef struct {
    dit_block_grads g;
    nn_lora lora[DIT_NLIN]; /* rank 0: none */
} block_train;

typedef struct {
    char name[96];
    float *g;
    int64_t n;
} param_grad;

enum { T_TIME0, T_TIME2, T_TPROJ };

struct wanc_dit_trainer {
    wanc_dit *d;
    const wanc_backend *be;
    nn_ctx nn; /* float32: no rounding */
    bool full;
    block_train *blk;
    nn_linear_grad patch, text_g[2], time_g[3], head; /* parameter gradients (NULL: not kept) */
    float *head_mod_g;
    dit_image_grads img_g; /* img_emb (I2V / FLF2V) */
    param_grad *params;
    int nparams, capparams;
    /* memory from be->alloc */
    void **mem;
    int nmem, capmem;
    /* sizes of the current forward */
    bool have_forward;
    int64_t S, Lt, Li, F, H, W, Fp, Hp, Wp, K, P, D, hd, Fd, rmax;
    int64_t lat_c; /* latent channels of the last forward (in_dim minus y's) */
    dit_block_env env; /* ranges, context, t_mod, RoPE for the blocks */
    float seg_t[NN_MAX_RANGES];
    wanc_dit_observe_fn observe;
    void *observe_user;
    bool want_ctx; /* this backward needs d context (full grads, or asked for) */
    /* forward state */
    dit_text_acts text;                 /* [Lt, text_dim], [Lt, D] x3; out = ctx + Li·D */
    dit_image_acts img;                 /* [Li, clip_dim] x4, [Li, D]; out = ctx (the image rows come first) */
    float *ctx;                         /* [Li + Lt, D]: what the blocks' cross-attention reads */
    dit_time_acts time[NN_MAX_RANGES];  /* per range: [freq], [D] x4, [6D] */
    float *e, *t_mod;                   /* [ranges, D], [ranges, 6D]: what time[] points into */
    float *video, *rows, *pred;         /* [in_dim, F, H, W], [S, K], [out_dim, F, H, W] */
    float **x_in;                       /* block inputs [layers + 1][S, D] */
    dit_head_acts head_a;               /* [S, D] x2, [ranges, 2D], [S, P] */
    double *rope, *stage;               /* backend [S, hd/2, 2]; host staging */
    bool no_checkpointing; /* keep every block's tape instead of re-running blocks in backward */
    dit_block_acts *tapes; /* one tape (checkpointing) or one per block */
    int tape_block;        /* checkpointing: the block whose activations the tape holds (-1: none) */
    /* backward scratch */
    dit_block_scratch bs;
    float *gx, *dctx_emb, *dctx, *dt_mod, *de, *dsmall;
    float *dclip, *img_tmp, *img_tmp2; /* [Li, clip_dim], [Li, max(D, clip_dim)], [Li, clip_dim] */
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
    wanc_err err = t->be->fill(t->be, p, 0.0f, n > 0 ? n : 1);
    if (err) {
        t->be->free(t->be, p);
        return err;
    }
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

static wanc_err lin_param(wanc_dit_trainer *t, nn_linear_grad *g, const dit_linear *l, const char *name)
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
    if (c->vace_num_blocks || c->has_ref_conv || c->has_control_adapter)
        WANC_FAIL(WANC_EUNSUPPORTED, "DiT training: VACE, reference tokens and the camera adapter are not trained yet "
                  "(T2V, I2V, FLF2V and TI2V models are)");
    if (d->bf16)
        WANC_FAIL(WANC_EUNSUPPORTED, "DiT training: bf16 compute is not implemented yet (load the DiT in fp32)");
    TRY(wanc_backend_check_training(d->be));
    wanc_dit_trainer *t = calloc(1, sizeof *t);
    if (!t) WANC_FAIL(WANC_ENOMEM, "DiT trainer: out of memory");
    t->d = d;
    t->be = d->be;
    t->nn = (nn_ctx){.be = d->be};
    t->full = full_grads;
    wanc_err err = NULL;
    t->blk = calloc((size_t)c->num_layers, sizeof *t->blk);
    if (!t->blk) err = wanc_error(WANC_ENOMEM, "DiT trainer: out of memory");
    const int64_t D = c->dim;
    if (!err) err = lin_param(t, &t->patch, &d->patch, "patch_embedding");
    if (!err) err = lin_param(t, &t->text_g[0], &d->text0, "text_embedding.0");
    if (!err) err = lin_param(t, &t->text_g[1], &d->text2, "text_embedding.2");
    if (!err) err = lin_param(t, &t->time_g[T_TIME0], &d->time0, "time_embedding.0");
    if (!err) err = lin_param(t, &t->time_g[T_TIME2], &d->time2, "time_embedding.2");
    if (!err) err = lin_param(t, &t->time_g[T_TPROJ], &d->tproj, "time_projection.1");
    if (c->has_image_input) {
        dit_image_grads *ig = &t->img_g;
        const int64_t cd = c->clip_dim;
        if (!err) err = param(t, &ig->ln0_w, cd, "img_emb.proj.0.weight");
        if (!err) err = param(t, &ig->ln0_b, cd, "img_emb.proj.0.bias");
        if (!err) err = lin_param(t, &ig->proj1, &d->img1, "img_emb.proj.1");
        if (!err) err = lin_param(t, &ig->proj3, &d->img3, "img_emb.proj.3");
        if (!err) err = param(t, &ig->ln4_w, D, "img_emb.proj.4.weight");
        if (!err) err = param(t, &ig->ln4_b, D, "img_emb.proj.4.bias");
        if (!err && d->emb_pos) err = param(t, &ig->emb_pos, 2 * WANC_DIT_CLIP_TOKENS * cd, "img_emb.emb_pos");
    }
    for (int i = 0; i < c->num_layers && !err; i++) {
        block_train *bt = &t->blk[i];
        char name[96];
        for (int j = 0; j < DIT_NLIN && !err; j++) {
            snprintf(name, sizeof name, "blocks.%d.%s", i, dit_block_linear_names[j]);
            err = lin_param(t, &bt->g.lin[j], dit_block_linear(&d->blocks[i], j), name);
        }
        if (!err) err = param(t, &bt->g.norm_q, D, "blocks.%d.self_attn.norm_q.weight", i);
        if (!err) err = param(t, &bt->g.norm_k, D, "blocks.%d.self_attn.norm_k.weight", i);
        if (!err) err = param(t, &bt->g.cnorm_q, D, "blocks.%d.cross_attn.norm_q.weight", i);
        if (!err) err = param(t, &bt->g.cnorm_k, D, "blocks.%d.cross_attn.norm_k.weight", i);
        if (c->has_image_input) {
            snprintf(name, sizeof name, "blocks.%d.cross_attn.k_img", i);
            if (!err) err = lin_param(t, &bt->g.k_img, &d->blocks[i].ck_img, name);
            snprintf(name, sizeof name, "blocks.%d.cross_attn.v_img", i);
            if (!err) err = lin_param(t, &bt->g.v_img, &d->blocks[i].cv_img, name);
            if (!err) err = param(t, &bt->g.cnorm_k_img, D, "blocks.%d.cross_attn.norm_k_img.weight", i);
        }
        if (!err) err = param(t, &bt->g.norm3_w, D, "blocks.%d.norm3.weight", i);
        if (!err) err = param(t, &bt->g.norm3_b, D, "blocks.%d.norm3.bias", i);
        if (!err) err = param(t, &bt->g.modulation, 6 * D, "blocks.%d.modulation", i);
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
    free(t->stage);
    free(t);
}

wanc_err wanc_dit_trainer_add_lora(wanc_dit_trainer *t, const char *module, const wanc_dit_lora *lora)
{
    int blk = -1, used = 0;
    if (sscanf(module, "blocks.%d.%n", &blk, &used) != 1 || used == 0 || blk < 0 || blk >= t->d->cfg.num_layers)
        WANC_FAIL(WANC_EINVAL, "DiT LoRA: module '%s' is not a Linear of a block (blocks.<i>.<name>)", module);
    for (int j = 0; j < DIT_NLIN; j++) {
        if (strcmp(module + used, dit_block_linear_names[j])) continue;
        if (!lora || !lora->A || !lora->B || lora->rank <= 0)
            WANC_FAIL(WANC_EINVAL, "DiT LoRA %s: A, B and a positive rank are required", module);
        t->blk[blk].lora[j] = *lora;
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
    /* fill cannot fail on a buffer this trainer allocated with a positive size */
    for (int i = 0; i < t->nparams; i++) wanc_error_free(t->be->fill(t->be, t->params[i].g, 0.0f, t->params[i].n));
}

/* ---- buffers for one size -------------------------------------------------------------------- */

static wanc_err size_buffers(wanc_dit_trainer *t, int64_t F, int64_t H, int64_t W, int64_t Lt, int64_t Li)
{
    const wanc_dit_config *c = &t->d->cfg;
    const int pt = c->patch[0], ph = c->patch[1], pw = c->patch[2];
    if (t->have_forward && t->F == F && t->H == H && t->W == W && t->Lt == Lt && t->Li == Li) return NULL;
    /* sizes changed (or first call): drop the activation buffers, keep the parameter gradients */
    int keep = t->nparams;
    for (int i = keep; i < t->nmem; i++) t->be->free(t->be, t->mem[i]);
    t->nmem = keep;
    free(t->x_in);
    t->x_in = NULL;
    free(t->tapes);
    t->tapes = NULL;
    t->have_forward = false;
    t->tape_block = -1;
    t->F = F, t->H = H, t->W = W, t->Lt = Lt, t->Li = Li;
    t->Fp = F / pt, t->Hp = H / ph, t->Wp = W / pw;
    t->S = t->Fp * t->Hp * t->Wp;
    t->D = c->dim, t->hd = c->dim / c->num_heads, t->Fd = c->ffn_dim;
    t->K = (int64_t)c->in_dim * pt * ph * pw, t->P = (int64_t)c->out_dim * pt * ph * pw;
    const int64_t S = t->S, D = t->D, Fd = t->Fd, Hh = c->num_heads, R = t->rmax > 0 ? t->rmax : 1;
    const int64_t M = S > Lt ? S : Lt, R2 = NN_MAX_RANGES, FHW = F * H * W, Lk = Lt > Li ? Lt : Li;
    const int64_t CD = c->clip_dim;
    t->x_in = calloc((size_t)c->num_layers + 1, sizeof *t->x_in);
    if (!t->x_in) WANC_FAIL(WANC_ENOMEM, "DiT trainer: out of memory");
    for (int i = 0; i <= c->num_layers; i++) TRY(talloc(t, &t->x_in[i], S * D));
    TRY(talloc(t, &t->text.in, Lt * c->text_dim));
    TRY(talloc(t, &t->text.h, Lt * D));
    TRY(talloc(t, &t->text.g, Lt * D));
    TRY(talloc(t, &t->ctx, (Li + Lt) * D));
    t->text.out = t->ctx + Li * D;
    if (Li > 0) {
        float **id[] = {&t->img.in, &t->img.n0, &t->img.h, &t->img.g, &t->dclip, &t->img_tmp2};
        for (size_t k = 0; k < sizeof id / sizeof id[0]; k++) TRY(talloc(t, id[k], Li * CD));
        TRY(talloc(t, &t->img.p, Li * D));
        TRY(talloc(t, &t->img_tmp, Li * (D > CD ? D : CD)));
        t->img.out = t->ctx;
    }
    TRY(talloc(t, &t->e, R2 * D));
    TRY(talloc(t, &t->t_mod, R2 * 6 * D));
    for (int k = 0; k < R2; k++) {
        dit_time_acts *a = &t->time[k];
        TRY(talloc(t, &a->tf, c->freq_dim));
        TRY(talloc(t, &a->h, D));
        TRY(talloc(t, &a->hs, D));
        TRY(talloc(t, &a->es, D));
        a->e = t->e + k * D;
        a->t_mod = t->t_mod + k * 6 * D;
    }
    TRY(talloc(t, &t->video, (c->in_dim > c->out_dim ? c->in_dim : c->out_dim) * FHW));
    t->pred = t->video; /* the latents are patchified before the prediction lands */
    TRY(talloc(t, &t->rows, S * t->K));
    TRY(talloc(t, &t->head_a.n, S * D));
    TRY(talloc(t, &t->head_a.h, S * D));
    TRY(talloc(t, &t->head_a.hm, R2 * 2 * D));
    TRY(talloc(t, &t->head_a.out, S * t->P));
    float *rope;
    TRY(talloc(t, &rope, 2 * S * t->hd)); /* S · hd doubles */
    t->rope = (double *)rope;
    free(t->stage);
    size_t stage_n = (size_t)(S * t->hd > c->freq_dim ? S * t->hd : c->freq_dim);
    t->stage = malloc(stage_n * sizeof(double));
    if (!t->stage) WANC_FAIL(WANC_ENOMEM, "DiT trainer: out of memory");
    int ntapes = t->no_checkpointing ? c->num_layers : 1;
    t->tapes = calloc((size_t)ntapes, sizeof *t->tapes);
    if (!t->tapes) WANC_FAIL(WANC_ENOMEM, "DiT trainer: out of memory");
    for (int i = 0; i < ntapes; i++) {
        dit_block_acts *p = &t->tapes[i];
        float **sd[] = {&p->n1, &p->h1, &p->qpre, &p->q, &p->kpre, &p->k, &p->v, &p->a, &p->o, &p->x1, &p->n3,
                        &p->cqpre, &p->cq, &p->ca, &p->x2, &p->n2, &p->h2, &p->f2};
        for (size_t k = 0; k < sizeof sd / sizeof sd[0]; k++) TRY(talloc(t, sd[k], S * D));
        p->co = p->x2; /* x2 = x1 + co(ca) is summed in place: the backward reads neither co nor x1's copy */
        float **ld[] = {&p->ckpre, &p->ck, &p->cv};
        for (size_t k = 0; k < sizeof ld / sizeof ld[0]; k++) TRY(talloc(t, ld[k], Lt * D));
        TRY(talloc(t, &p->lse1, Hh * S));
        TRY(talloc(t, &p->lse2, Hh * S));
        p->cat = p->ca; /* without image tokens the text attention is ca itself */
        if (Li > 0) { /* ca = cat + cai: the attention backwards read each output on its own */
            float **id[] = {&p->ckipre, &p->cki, &p->cvi};
            for (size_t k = 0; k < sizeof id / sizeof id[0]; k++) TRY(talloc(t, id[k], Li * D));
            TRY(talloc(t, &p->cat, S * D));
            TRY(talloc(t, &p->cai, S * D));
            TRY(talloc(t, &p->lse3, Hh * S));
        }
        TRY(talloc(t, &p->f1, S * Fd));
        TRY(talloc(t, &p->g, S * Fd));
        TRY(talloc(t, &p->mod, R2 * 6 * D));
        for (int j = 0; j < DIT_NLIN; j++) TRY(talloc(t, &p->u[j], M * R));
    }
    /* backward scratch */
    dit_block_scratch *b = &t->bs;
    float **bs[] = {&t->gx, &b->g1, &b->g2, &b->g3};
    for (size_t i = 0; i < sizeof bs / sizeof bs[0]; i++) TRY(talloc(t, bs[i], S * D));
    int64_t big = S * Fd > S * t->K ? S * Fd : S * t->K;
    if (big < S * t->P) big = S * t->P;
    TRY(talloc(t, &b->big, big));
    TRY(talloc(t, &b->big2, S * Fd > Lt * D ? S * Fd : Lt * D));
    TRY(talloc(t, &b->gctx, Lk * D));
    TRY(talloc(t, &b->gctx2, Lk * D));
    TRY(talloc(t, &b->dmod, R2 * 6 * D));
    TRY(talloc(t, &b->du, M * R));
    TRY(talloc(t, &t->dctx_emb, (Li + Lt) * D));
    TRY(talloc(t, &t->dctx, Lt * c->text_dim));
    TRY(talloc(t, &t->dt_mod, R2 * 6 * D));
    TRY(talloc(t, &t->de, R2 * D));
    TRY(talloc(t, &t->dsmall, 6 * D > c->freq_dim ? 6 * D : c->freq_dim));
    t->env = (dit_block_env){.S = S, .Lt = Lt, .Li = Li, .ctx = t->ctx, .t_mod = t->t_mod, .rope = t->rope};
    return NULL;
}

static void observe(const wanc_dit_trainer *t, const char *name, const float *data, int ndim, const int64_t *shape)
{
    if (t->observe) t->observe(t->observe_user, name, data, ndim, shape);
}

/* x_out[S, D] = block i (x0); everything the backward needs stays on the block's tape. */
static wanc_err block_fwd(wanc_dit_trainer *t, int i, const float *x0, float *x_out)
{
    t->tape_block = i;
    return dit_block_forward(&t->nn, &t->d->cfg, &t->d->blocks[i], t->blk[i].lora, &t->env, x0, x_out,
                             &t->tapes[t->no_checkpointing ? i : 0]);
}

/* ---- the whole model ------------------------------------------------------------------------------ */

wanc_err wanc_dit_trainer_forward(wanc_dit_trainer *t, const wanc_dit_train_inputs *in, float *pred)
{
    const wanc_dit *d = t->d;
    const wanc_dit_config *c = &d->cfg;
    const wanc_backend *be = t->be;
    const nn_ctx *nn = &t->nn;
    if (!in || !in->latents || !in->context || in->ctx_len <= 0 || !pred)
        WANC_FAIL(WANC_EINVAL, "DiT training forward: latents, context and the output are required");
    if (in->F <= 0 || in->H <= 0 || in->W <= 0 || in->F % c->patch[0] || in->H % c->patch[1] || in->W % c->patch[2])
        WANC_FAIL(WANC_ESHAPE, "DiT training forward: latent size %lldx%lldx%lld is not a multiple of the patch",
                  (long long)in->F, (long long)in->H, (long long)in->W);
    const int64_t y_c = in->y ? in->y_c : 0, Li = c->has_image_input ? in->clip_len : 0;
    if (y_c < 0 || y_c >= c->in_dim || (in->y && y_c == 0))
        WANC_FAIL(WANC_ESHAPE, "DiT training forward: y of %lld channels; the DiT takes in_dim %d in all",
                  (long long)in->y_c, c->in_dim);
    if (c->has_image_input != (in->clip != NULL))
        WANC_FAIL(WANC_EINVAL, "DiT training forward: %s", c->has_image_input
                      ? "this DiT has image (CLIP) cross-attention: the CLIP tokens are required"
                      : "CLIP tokens given, but this DiT has no image cross-attention");
    if (in->clip && (Li <= 0 || (t->d->emb_pos && Li > 2 * WANC_DIT_CLIP_TOKENS)))
        WANC_FAIL(WANC_ESHAPE, "DiT training forward: %lld CLIP tokens (1..%d with image position embeddings)",
                  (long long)in->clip_len, 2 * WANC_DIT_CLIP_TOKENS);
    for (int i = 0; i < d->nlinears; i++)
        if (d->linears[i].l->lora)
            WANC_FAIL(WANC_EUNSUPPORTED, "DiT training: a run-time LoRA (wanc_dit_set_lora) is attached to %s; "
                                         "train on the base DiT (or a fused one) with the trainer's own LoRA",
                      d->linears[i].name);
    TRY(size_buffers(t, in->F, in->H, in->W, in->ctx_len, Li));
    t->lat_c = c->in_dim - y_c;
    t->observe = in->observe;
    t->observe_user = in->observe_user;
    const int64_t S = t->S, D = t->D, Lt = t->Lt, FHW = in->F * in->H * in->W;

    /* timestep ranges: one, or frame 0 at t = 0 (TI2V) */
    nn_ranges *r = &t->env.ranges;
    int64_t n0 = in->zero_first_frame ? t->Hp * t->Wp : S;
    r->n = 0;
    if (n0 > 0) r->begin[r->n] = 0, r->end[r->n] = n0, t->seg_t[r->n++] = in->zero_first_frame ? 0 : in->timestep;
    if (n0 < S) r->begin[r->n] = n0, r->end[r->n] = S, t->seg_t[r->n++] = in->timestep;

    /* time embedding and projection per range */
    for (int k = 0; k < r->n; k++) TRY(dit_time_forward(nn, d, t->seg_t[k], NULL, t->stage, &t->time[k]));
    observe(t, "time_embedding", t->e, 2, (int64_t[]){1, D});
    observe(t, "time_projection", t->t_mod, 2, (int64_t[]){1, 6 * D});

    /* text embedding: Linear, GELU (tanh), Linear */
    TRY(be->upload(be, t->text.in, in->context, (size_t)(Lt * c->text_dim) * sizeof(float)));
    TRY(dit_text_forward(nn, d, &t->text, Lt));
    observe(t, "text_embedding", t->text.out, 3, (int64_t[]){1, Lt, D});
    if (Li > 0) { /* CLIP tokens through img_emb, ahead of the text in the context */
        TRY(be->upload(be, t->img.in, in->clip, (size_t)(Li * c->clip_dim) * sizeof(float)));
        TRY(dit_image_forward(nn, d, &t->img, Li));
        observe(t, "clip_emb", t->img.out, 3, (int64_t[]){1, Li, D});
    }

    /* patch embedding: a linear over the patches */
    TRY(be->upload(be, t->video, in->latents, (size_t)(t->lat_c * FHW) * sizeof(float)));
    if (y_c) TRY(be->upload(be, t->video + t->lat_c * FHW, in->y, (size_t)(y_c * FHW) * sizeof(float)));
    TRY(dit_patch_forward(nn, d, t->rows, t->x_in[0], t->video, in->F, in->H, in->W));
    if (t->observe) {
        TRY(nn_transpose(nn, t->bs.big, t->x_in[0], S, D));
        observe(t, "patch_embedding", t->bs.big, 5, (int64_t[]){1, D, t->Fp, t->Hp, t->Wp});
    }
    TRY(wanc_dit_rope_table(t->stage, t->Fp, t->Hp, t->Wp, (int)t->hd));
    TRY(be->upload(be, t->rope, t->stage, (size_t)(S * t->hd) * sizeof(double)));

    /* blocks: each input kept (the checkpoints) */
    for (int i = 0; i < c->num_layers; i++) {
        TRY(block_fwd(t, i, t->x_in[i], t->x_in[i + 1]));
        char name[32];
        snprintf(name, sizeof name, "block_out.%d", i);
        observe(t, name, t->x_in[i + 1], 3, (int64_t[]){1, S, D});
    }

    /* head, then unpatchify: features (kt, kh, kw, c) → pred[c, F, H, W] */
    TRY(dit_head_forward(nn, d, t->x_in[c->num_layers], t->e, r, S, &t->head_a));
    observe(t, "head", t->head_a.out, 3, (int64_t[]){1, S, t->P});
    TRY(nn_unpatchify(nn, t->pred, t->head_a.out, t->P, 0, 1, 0, c->out_dim, in->F, in->H, in->W, c->patch));
    TRY(be->download(be, pred, t->pred, (size_t)(c->out_dim * FHW) * sizeof(float)));
    t->have_forward = true;
    return NULL;
}

wanc_err wanc_dit_trainer_backward(wanc_dit_trainer *t, const float *dpred, float *dx, float *dctx)
{
    return wanc_dit_trainer_backward_clip(t, dpred, dx, dctx, NULL);
}

wanc_err wanc_dit_trainer_backward_clip(wanc_dit_trainer *t, const float *dpred, float *dx, float *dctx, float *dclip)
{
    if (!t->have_forward) WANC_FAIL(WANC_EINVAL, "DiT training backward: no forward to go back through");
    if (!dpred) WANC_FAIL(WANC_EINVAL, "DiT training backward: NULL gradient");
    const wanc_dit *d = t->d;
    const wanc_dit_config *c = &d->cfg;
    const wanc_backend *be = t->be;
    const nn_ctx *nn = &t->nn;
    const nn_ranges *r = &t->env.ranges;
    const dit_block_scratch *bs = &t->bs;
    const int64_t S = t->S, D = t->D, Lt = t->Lt, Li = t->Li, FHW = t->F * t->H * t->W;
    if (dclip && Li == 0) WANC_FAIL(WANC_EINVAL, "DiT training backward: d clip asked, but no CLIP tokens went in");
    TRY(be->fill(be, t->dt_mod, 0.0f, NN_MAX_RANGES * 6 * D));
    TRY(be->fill(be, t->de, 0.0f, NN_MAX_RANGES * D));
    TRY(be->fill(be, t->dctx_emb, 0.0f, (Li + Lt) * D));
    /* LoRA-only training without d context skips the context paths' backward */
    t->want_ctx = t->full || dctx || dclip;

    /* head: patchify dpred into the head's rows */
    float *dhead = bs->big;
    TRY(be->upload(be, t->pred, dpred, (size_t)(c->out_dim * FHW) * sizeof(float)));
    TRY(nn_patchify(nn, dhead, t->P, 0, 1, 0, t->pred, c->out_dim, t->F, t->H, t->W, c->patch));
    observe(t, "grad:head", dhead, 3, (int64_t[]){1, S, t->P});
    TRY(dit_head_backward(nn, d, &t->head, t->head_mod_g, &t->head_a, t->x_in[c->num_layers], dhead, t->gx, t->de,
                          r, S, bs->g1, bs->g2, t->dsmall));

    /* blocks in reverse: re-run each from its kept input, then its backward */
    for (int i = c->num_layers - 1; i >= 0; i--) {
        char name[40];
        snprintf(name, sizeof name, "grad:block_out.%d", i);
        observe(t, name, t->gx, 3, (int64_t[]){1, S, D});
        /* checkpointing: re-run the block onto the tape (its output, already
         * kept as the next block's input, goes to scratch); the last block's
         * activations are still there from the forward */
        if (!t->no_checkpointing && t->tape_block != i) TRY(block_fwd(t, i, t->x_in[i], bs->g3));
        TRY(dit_block_backward(nn, c, &d->blocks[i], t->blk[i].lora, &t->blk[i].g, &t->env, t->x_in[i],
                               &t->tapes[t->no_checkpointing ? i : 0], t->gx, t->dt_mod,
                               t->want_ctx ? t->dctx_emb : NULL, bs));
    }

    /* patch embedding: d rows, then back to the latents' layout */
    if (t->observe) {
        TRY(nn_transpose(nn, bs->big, t->gx, S, D));
        observe(t, "grad:patch_embedding", bs->big, 5, (int64_t[]){1, D, t->Fp, t->Hp, t->Wp});
    }
    TRY(nn_linear_backward(nn, dx ? bs->big : NULL, 0, t->gx, t->rows, &d->patch, &t->patch, NULL, NULL, NULL, S));
    if (dx) { /* the latents' channels (y's come after them) */
        TRY(nn_unpatchify(nn, t->video, bs->big, t->K, 0, 0, 0, c->in_dim, t->F, t->H, t->W, c->patch));
        TRY(be->download(be, dx, t->video, (size_t)(t->lat_c * FHW) * sizeof(float)));
    }

    /* time projection and embedding per range (de already holds the head's share) */
    observe(t, "grad:time_projection", t->dt_mod, 2, (int64_t[]){1, 6 * D});
    for (int k = 0; k < r->n; k++)
        TRY(dit_time_backward(nn, d, t->time_g, &t->time[k], t->dt_mod + k * 6 * D, t->de + k * D, t->dsmall,
                              bs->g1));
    observe(t, "grad:time_embedding", t->de, 2, (int64_t[]){1, D});

    /* text embedding, then the image MLP (its rows come first in d context) */
    if (!t->want_ctx) return NULL;
    observe(t, "grad:text_embedding", t->dctx_emb + Li * D, 3, (int64_t[]){1, Lt, D});
    TRY(dit_text_backward(nn, d, t->text_g, &t->text, t->dctx_emb + Li * D, dctx ? t->dctx : NULL, bs->big2,
                          bs->gctx, Lt));
    if (dctx) TRY(be->download(be, dctx, t->dctx, (size_t)(Lt * c->text_dim) * sizeof(float)));
    if (Li > 0 && (t->full || dclip)) {
        observe(t, "grad:clip_emb", t->dctx_emb, 3, (int64_t[]){1, Li, D});
        TRY(dit_image_backward(nn, d, &t->img_g, &t->img, t->dctx_emb, dclip ? t->dclip : NULL, t->img_tmp,
                               t->img_tmp2, Li));
        if (dclip) TRY(be->download(be, dclip, t->dclip, (size_t)(Li * c->clip_dim) * sizeof(float)));
    }
    return NULL;
}
