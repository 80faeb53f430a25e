/* The Wan DiT's forward driver: inputs checked, activations taken from the
 * model's arena, then embeddings (dit_embed.c), the blocks (dit_block.c) with
 * VACE hints or a step cache, and the head (dit_head.c).
 *
 * Activations live in the DiT's arena, whose blocks come from the backend
 * (be->alloc); inputs are uploaded and the output downloaded, so the model
 * code touches no activation from the host except through observers.
 *
 * The forward mirrors DiffSynth's model_fn_wan_video standard path. In bf16
 * mode every tensor torch keeps in bf16 is rounded after the op that made
 * it (`rnd`), including the intermediate products of `x * (1 + scale) +
 * shift` and `x + gate * y`, which torch evaluates as separate bf16 ops;
 * RMSNorm normalises in float32 and rounds before the weight multiply, RoPE
 * and the sinusoid run in float64. fp32 mode skips every rounding.
 */
#include "dit/wan_dit.h"

#include <stdio.h>
#include <string.h>

#include "dit/dit_internal.h"

wanc_err dit_rnd(const fwd *f, float *x, int64_t n) { return nn_round(&f->nn, x, n); }

wanc_err dit_lin(const fwd *f, float *out, const float *x, const dit_linear *l, int64_t M)
{
    return nn_linear_forward(&f->nn, out, x, l, NULL, NULL, M);
}

void dit_observe(const fwd *f, const char *name, const float *data, int ndim, const int64_t *shape)
{
    if (f->in->observe) f->in->observe(f->in->observe_user, name, data, ndim, shape);
}

wanc_err dit_alloc_f(wanc_arena *a, float **p, int64_t n)
{
    return wanc_arena_alloc(a, (void **)p, (size_t)(n > 0 ? n : 1) * sizeof(float));
}

static wanc_err check_inputs(const wanc_dit *d, const wanc_dit_inputs *in)
{
    const wanc_dit_config *c = &d->cfg;
    int64_t cin = in->lat_c + (in->y ? in->y_c : 0);
    if (!in->latents || !in->context || in->ctx_len <= 0)
        WANC_FAIL(WANC_EINVAL, "DiT forward: latents and context are required");
    if (cin != c->in_dim)
        WANC_FAIL(WANC_ESHAPE, "DiT forward: latents (%lld ch) + y (%lld ch) = %lld channels, the model takes %d",
                  (long long)in->lat_c, (long long)(in->y ? in->y_c : 0), (long long)cin, c->in_dim);
    if (in->F <= 0 || in->H <= 0 || in->W <= 0 || in->F % c->patch[0] || in->H % c->patch[1] ||
        in->W % c->patch[2])
        WANC_FAIL(WANC_ESHAPE, "DiT forward: latent size %lldx%lldx%lld is not a multiple of the patch %dx%dx%d",
                  (long long)in->F, (long long)in->H, (long long)in->W, c->patch[0], c->patch[1], c->patch[2]);
    if (c->has_image_input) {
        if (!in->clip)
            WANC_FAIL(WANC_EINVAL, "DiT forward: this image-conditioned model needs CLIP features (clip_feature)");
        int64_t want = c->has_image_pos_emb ? 2 * WANC_DIT_CLIP_TOKENS : in->clip_len;
        if (in->clip_len < WANC_DIT_CLIP_TOKENS || in->clip_len != want)
            WANC_FAIL(WANC_ESHAPE, "DiT forward: clip_feature has %lld tokens, expected %s", (long long)in->clip_len,
                      c->has_image_pos_emb ? "514 (first + last frame)" : ">= 257");
    } else if (in->clip) {
        WANC_FAIL(WANC_EINVAL, "DiT forward: clip_feature given but the model has no image input (img_emb)");
    }
    if (in->vace_context) {
        if (!c->vace_num_blocks)
            WANC_FAIL(WANC_EINVAL, "DiT forward: vace_context given but the model has no VACE (vace_blocks.*) tensors");
        if (in->vace_c != c->vace_in_dim)
            WANC_FAIL(WANC_ESHAPE, "DiT forward: vace_context has %lld channels, vace_patch_embedding takes %d",
                      (long long)in->vace_c, c->vace_in_dim);
    }
    if (in->reference) {
        if (!c->has_ref_conv)
            WANC_FAIL(WANC_EINVAL, "DiT forward: reference latents given but the model has no ref_conv");
        if (in->ref_c != c->ref_in_dim)
            WANC_FAIL(WANC_ESHAPE, "DiT forward: reference latents have %lld channels, ref_conv takes %d",
                      (long long)in->ref_c, c->ref_in_dim);
    }
    if (in->camera) {
        if (!c->has_control_adapter)
            WANC_FAIL(WANC_EINVAL, "DiT forward: camera latents given but the model has no control_adapter");
        if (in->camera_c != c->control_in_dim)
            WANC_FAIL(WANC_ESHAPE, "DiT forward: camera latents have %lld channels, control_adapter takes %d",
                      (long long)in->camera_c, c->control_in_dim);
    }
    if (in->cache && (!in->cache->check || !in->cache->store || !in->cache->update))
        WANC_FAIL(WANC_EINVAL, "DiT forward: a step cache needs check, store and update");
    if (in->cache && in->zero_first_frame)
        WANC_FAIL(WANC_EUNSUPPORTED, "DiT forward: a step cache (TeaCache) with per-token timesteps (TI2V "
                                     "image-to-video) is not supported");
    return NULL;
}

/* Page hints for every weight matrix of a block (streaming, see wanc_dit_options). */
static void block_advise(const wanc_dit *d, const dit_block *b, bool need)
{
    const dit_linear *ls[] = {&b->q, &b->k, &b->v, &b->o, &b->cq, &b->ck, &b->cv, &b->co, &b->ck_img, &b->cv_img,
                              &b->ffn0, &b->ffn2};
    for (size_t i = 0; i < sizeof ls / sizeof ls[0]; i++) {
        wanc_weights_advise(d->store, ls[i]->w, need);
        wanc_weights_advise(d->store, ls[i]->b, need);
    }
}

/* Run a block on the second branch of a pair: its own x and context, every
 * other buffer shared (the branches take turns). */
static wanc_err run_block_other(const fwd *f, const wanc_dit *d, const dit_block *b, fwd_bufs *B, float *x2,
                                float *ctx2)
{
    float *x1 = B->x, *ctx1 = B->ctx;
    B->x = x2, B->ctx = ctx2, B->env.ctx = ctx2;
    wanc_err err = dit_run_block(f, d, b, B);
    B->x = x1, B->ctx = ctx1, B->env.ctx = ctx1;
    return err;
}

/* The forward of `in`, and with in2 (the same inputs but the context) that
 * of in2 too, block by block: each block's weights are read once for both. */
static wanc_err forward(wanc_dit *d, const wanc_dit_inputs *in, const wanc_dit_inputs *in2, float *out, float *out2)
{
    TRY(check_inputs(d, in));
    if (in2) TRY(check_inputs(d, in2));
    const wanc_dit_config *c = &d->cfg;
    const wanc_backend *be = d->be;
    const int pt = c->patch[0], ph = c->patch[1], pw = c->patch[2];
    const int64_t D = c->dim, Fp = in->F / pt, Hp = in->H / ph, Wp = in->W / pw, Sv = Fp * Hp * Wp;
    /* Fun control: one frame of reference tokens before the video tokens */
    const int64_t Sr = in->reference ? Hp * Wp : 0, S = Sr + Sv;
    const int64_t Lc = in->clip ? in->clip_len : 0, L = Lc + in->ctx_len;
    const int64_t K = (int64_t)c->in_dim * pt * ph * pw, hd = D / c->num_heads;
    fwd_bufs B = {.S = S, .D = D, .H = c->num_heads, .hd = hd, .L = L,
                  .Li = c->has_image_input ? WANC_DIT_CLIP_TOKENS : 0};
    B.Lt = L - B.Li;

    if (!d->arena_primed) {
        void *p;
        TRY(wanc_arena_alloc(&d->arena, &p, 64));
        d->arena_base = wanc_arena_save(&d->arena);
        d->arena_primed = true;
    }
    wanc_arena *A = &d->arena;
    wanc_arena_restore(A, d->arena_base);
    fwd f = {.nn = {.be = be, .bf16 = d->bf16}, .be = be, .bf16 = d->bf16, .in = in};
    int64_t vmax = D > c->clip_dim ? D : c->clip_dim;
    int64_t bign = S * c->ffn_dim;
    if (bign < S * K) bign = S * K;
    if (in->vace_context && bign < Sv * (int64_t)c->vace_in_dim * pt * ph * pw)
        bign = Sv * (int64_t)c->vace_in_dim * pt * ph * pw;
    if (bign < Sr * c->ref_in_dim * ph * pw) bign = Sr * c->ref_in_dim * ph * pw;
    if (bign < Lc * c->clip_dim) bign = Lc * c->clip_dim;
    if (bign < S * D) bign = S * D;
    if (bign < in->ctx_len * D) bign = in->ctx_len * D;
    int64_t kvn = (B.Lt > B.Li ? B.Lt : B.Li) * D;
    float *tvec, *hints = NULL;
    wanc_err err = NULL;
    TRY_GOTO(err, done, dit_alloc_f(A, &f.nn.zeros, vmax));
    TRY_GOTO(err, done, dit_alloc_f(A, &f.nn.vtmp, vmax));
    TRY_GOTO(err, done, dit_alloc_f(A, &tvec, 2 * D));
    TRY_GOTO(err, done, dit_alloc_f(A, &B.t_mod, 2 * 6 * D));
    TRY_GOTO(err, done, dit_alloc_f(A, &B.mod, 2 * 6 * D));
    TRY_GOTO(err, done, dit_alloc_f(A, &B.ctx, L * D));
    TRY_GOTO(err, done, dit_alloc_f(A, &B.x, S * D));
    TRY_GOTO(err, done, dit_alloc_f(A, &B.h, S * D));
    TRY_GOTO(err, done, dit_alloc_f(A, &B.q, S * D));
    TRY_GOTO(err, done, dit_alloc_f(A, &B.k, S * D));
    TRY_GOTO(err, done, dit_alloc_f(A, &B.v, S * D));
    TRY_GOTO(err, done, dit_alloc_f(A, &B.a, S * D));
    TRY_GOTO(err, done, dit_alloc_f(A, &B.a2, c->has_image_input ? S * D : 1));
    TRY_GOTO(err, done, dit_alloc_f(A, &B.big, bign));
    TRY_GOTO(err, done, dit_alloc_f(A, &B.kc, kvn));
    TRY_GOTO(err, done, dit_alloc_f(A, &B.vc, kvn));
    TRY_GOTO(err, done, wanc_arena_alloc(A, (void **)&B.rope, (size_t)S * hd * sizeof(double)));
    TRY_GOTO(err, done, be->fill(be, f.nn.zeros, 0.0f, vmax));

    /* timestep ranges (bf16 mode: the bf16 timestep) */
    {
        float t = d->bf16 ? wanc_round_bf16(in->timestep) : in->timestep;
        int64_t n0 = in->zero_first_frame ? (Fp > 0 ? Hp * Wp : 0) : S;
        nn_ranges *r = &B.env.ranges;
        r->n = 0;
        if (n0 > 0) r->begin[r->n] = 0, r->end[r->n] = n0, B.seg_t[r->n++] = in->zero_first_frame ? 0 : t;
        if (n0 < S) r->begin[r->n] = n0, r->end[r->n] = S, B.seg_t[r->n++] = t;
    }
    B.env.S = S, B.env.Lt = B.Lt, B.env.Li = B.Li;
    B.env.ctx = B.ctx, B.env.t_mod = B.t_mod, B.env.rope = B.rope;
    TRY_GOTO(err, done, dit_embed_time(&f, d, A, &B, tvec));
    TRY_GOTO(err, done, dit_embed_context(&f, d, A, &B));
    fwd f2 = f;
    float *x2 = NULL, *ctx2 = NULL;
    if (in2) {
        f2.in = in2;
        TRY_GOTO(err, done, dit_alloc_f(A, &x2, S * D));
        TRY_GOTO(err, done, dit_alloc_f(A, &ctx2, L * D));
        float *ctx1 = B.ctx;
        B.ctx = ctx2;
        err = dit_embed_context(&f2, d, A, &B);
        B.ctx = ctx1;
        if (err) goto done;
    }
    TRY_GOTO(err, done, dit_embed_patches(&f, d, A, &B, Sr));
    if (in2) TRY_GOTO(err, done, nn_copy(&f.nn, x2, B.x, S * D)); /* the same latents */

    /* reference tokens take RoPE frame 0, the video frames 1..F */
    {
        double *rope;
        TRY_GOTO(err, done, dit_stage(d, (size_t)(S * hd) * sizeof(double), &rope));
        TRY_GOTO(err, done, wanc_dit_rope_table(rope, Fp + (Sr ? 1 : 0), Hp, Wp, (int)hd));
        TRY_GOTO(err, done, be->upload(be, B.rope, rope, (size_t)(S * hd) * sizeof(double)));
        if (in->observe) { /* as float32, in place (each double is read before a float lands on it) */
            float *r32 = (float *)rope;
            for (int64_t i = 0; i < S * hd; i++) r32[i] = (float)rope[i];
            TRY_GOTO(err, done, be->upload(be, B.big, r32, (size_t)(S * hd) * sizeof(float)));
            dit_observe(&f, "rope_freqs", B.big, 3, (int64_t[]){S, hd / 2, 2});
        }
    }

    /* step cache: decide on t_mod whether the blocks run */
    bool skip = false;
    if (in->cache) TRY_GOTO(err, done, in->cache->check(in->cache->user, B.t_mod, 6 * D, B.x, S * D, &skip));
    if (skip) {
        TRY_GOTO(err, done, in->cache->update(in->cache->user, B.x, S * D));
    } else {
        if (in->vace_context) {
            TRY_GOTO(err, done, dit_alloc_f(A, &hints, c->vace_num_blocks * S * D));
            TRY_GOTO(err, done, dit_vace_hints(&f, d, &B, A, B.x, hints));
        }
        if (d->stream_blocks) block_advise(d, &d->blocks[0], true);
        for (int i = 0; i < c->num_layers; i++) {
            if (d->stream_blocks && i + 1 < c->num_layers) dit_prefetch_block(d, &d->blocks[i + 1]); /* read ahead */
            TRY_GOTO(err, done, dit_run_block(&f, d, &d->blocks[i], &B));
            if (in2) TRY_GOTO(err, done, run_block_other(&f2, d, &d->blocks[i], &B, x2, ctx2));
            if (d->stream_blocks) block_advise(d, &d->blocks[i], false);
            if (in->observe) {
                char name[32];
                snprintf(name, sizeof name, "block.%d", i);
                dit_observe(&f, name, B.x, 3, (int64_t[]){1, S, D});
            }
            for (int j = 0; hints && j < c->vace_num_blocks; j++) {
                if (c->vace_layers[j] != i) continue; /* x += hint_j · vace_scale after block vace_layers[j] */
                TRY_GOTO(err, done, be->scale(be, B.h, hints + j * S * D, in->vace_scale, 0.0f, S * D));
                TRY_GOTO(err, done, dit_rnd(&f, B.h, S * D));
                TRY_GOTO(err, done, nn_add_forward(&f.nn, B.x, B.x, B.h, S * D));
            }
        }
        if (in->cache) TRY_GOTO(err, done, in->cache->store(in->cache->user, B.x, S * D));
    }

    TRY_GOTO(err, done, dit_run_head(&f, d, A, &B, tvec, Sr, out));
    if (in2) {
        B.x = x2;
        TRY_GOTO(err, done, dit_run_head(&f2, d, A, &B, tvec, Sr, out2));
    }

done:;
    if (d->stream_blocks) dit_prefetch_wait(d); /* nothing reads the mapping once the forward returns */
    /* Size the arena's one block for this call so the next one allocates nothing. */
    size_t peak = wanc_arena_peak(A);
    wanc_arena_restore(A, d->arena_base);
    if (peak + 64 > A->block_size) { /* it chained blocks: re-make one block of the peak size now */
        wanc_arena_allocator al = A->al;
        wanc_arena_free(A);
        wanc_arena_init_with(A, peak + 4096, &al);
        void *p;
        wanc_err perr = wanc_arena_alloc(A, &p, 64);
        d->arena_primed = perr == NULL;
        if (d->arena_primed) d->arena_base = wanc_arena_save(A);
        if (!err) err = perr;
        else wanc_error_free(perr);
    }
    return err;
}

wanc_err wanc_dit_forward(wanc_dit *d, const wanc_dit_inputs *in, float *out) { return forward(d, in, NULL, out, NULL); }

wanc_err wanc_dit_forward_cfg_pair(wanc_dit *d, const wanc_dit_inputs *posi, const wanc_dit_inputs *nega, float *out_posi,
                                   float *out_nega)
{
    /* Paired only where it pays and changes nothing else: a streamed DiT
     * (reading the weights is the cost), inputs that differ in the context
     * alone, and none of the per-branch extras (a step cache's decision,
     * VACE hints, which read the context, or observers of one branch). */
    const wanc_dit_inputs *a = posi, *b = nega;
    bool same = a->latents == b->latents && a->lat_c == b->lat_c && a->F == b->F && a->H == b->H && a->W == b->W &&
                a->y == b->y && a->y_c == b->y_c && a->timestep == b->timestep && a->ctx_len == b->ctx_len &&
                a->clip == b->clip && a->clip_len == b->clip_len && a->t_mod_add == b->t_mod_add &&
                a->zero_first_frame == b->zero_first_frame && a->reference == b->reference && a->ref_c == b->ref_c &&
                a->camera == b->camera && a->camera_c == b->camera_c;
    bool pair = d->stream_blocks && same && !a->cache && !b->cache && !a->vace_context && !b->vace_context &&
                !a->observe && !b->observe;
    if (!pair) {
        TRY(forward(d, posi, NULL, out_posi, NULL));
        return forward(d, nega, NULL, out_nega, NULL);
    }
    return forward(d, posi, nega, out_posi, out_nega);
}

double wanc_dit_flops(const wanc_dit_config *c, int64_t F, int64_t H, int64_t W, int64_t ctx_len, int64_t clip_len)
{
    double D = c->dim, S = (double)(F / c->patch[0]) * (H / c->patch[1]) * (W / c->patch[2]);
    double Li = c->has_image_input ? WANC_DIT_CLIP_TOKENS : 0, Lt = (double)(clip_len + ctx_len) - Li;
    double K = (double)c->in_dim * c->patch[0] * c->patch[1] * c->patch[2];
    double fl = 2 * (c->freq_dim * D + D * D + D * 6 * D);                /* time MLP + projection */
    fl += 2 * ctx_len * ((double)c->text_dim * D + D * D);               /* text embedding */
    if (clip_len) fl += 2 * clip_len * (1280.0 * 1280 + 1280.0 * D);     /* img_emb */
    fl += 2 * S * K * D;                                                 /* patch embedding */
    double blk = 4 * 2 * S * D * D + 4 * S * S * D;                      /* self-attention */
    blk += 2 * 2 * S * D * D + 2 * 2 * Lt * D * D + 4 * S * Lt * D;      /* cross-attention, text */
    blk += 2 * 2 * Li * D * D + 4 * S * Li * D;                          /* image tokens */
    blk += 2 * 2 * S * D * c->ffn_dim;                                   /* FFN */
    fl += c->num_layers * blk;
    fl += 2 * S * D * c->out_dim * c->patch[0] * c->patch[1] * c->patch[2]; /* head */
    return fl;
}
