/* The DiT's embeddings: time (sinusoid, MLP, projection to t_mod per
 * timestep range), context (text MLP, and the CLIP image MLP of I2V/FLF2V),
 * and the patch embedding (a linear over the patches, plus the Fun camera
 * adapter and reference tokens). */
#include <stdio.h>
#include <string.h>

#include "dit/dit_internal.h"

void dit_patchify(float *rows, const float *a, int64_t ca, const float *b, int64_t C, int64_t F, int64_t H,
                  int64_t W, const int patch[3])
{
    const int pt = patch[0], ph = patch[1], pw = patch[2];
    const int64_t Hp = H / ph, Wp = W / pw, S = F / pt * Hp * Wp, HW = H * W, FHW = F * HW;
    for (int64_t tok = 0; tok < S; tok++) {
        int64_t fi = tok / (Hp * Wp), hi = tok / Wp % Hp, wi = tok % Wp;
        float *row = rows + tok * C * pt * ph * pw;
        for (int64_t ch = 0; ch < C; ch++) {
            const float *src = ch < ca ? a + ch * FHW : b + (ch - ca) * FHW;
            for (int kt = 0; kt < pt; kt++)
                for (int kh = 0; kh < ph; kh++)
                    for (int kw = 0; kw < pw; kw++)
                        *row++ = src[(fi * pt + kt) * HW + (hi * ph + kh) * W + wi * pw + kw];
        }
    }
}

void dit_tokens_to_channels(float *dst, const float *src, int64_t tokens, int64_t C)
{
    for (int64_t tok = 0; tok < tokens; tok++)
        for (int64_t j = 0; j < C; j++) dst[j * tokens + tok] = src[tok * C + j];
}

/* TI2V per-token view of the time embedding, as DiffSynth holds it:
 * timestep_tokens [S], t_freq [1, S, freq], t [1, S, dim], t_mod [1, S, 6, dim].
 * Only for observers (tests); the forward itself keeps one row per range. */
static wanc_err observe_per_token(const fwd *f, wanc_arena *A, const fwd_bufs *B, int freq_dim, const float *tvec,
                                  double *sd)
{
    int64_t S = B->S, D = B->D, w = 6 * D > freq_dim ? 6 * D : freq_dim;
    float *e;
    TRY(dit_alloc_f(A, &e, S * w));
    for (int sg = 0; sg < B->nseg; sg++)
        for (int64_t i = B->seg_begin[sg]; i < B->seg_end[sg]; i++) e[i] = B->seg_t[sg];
    dit_observe(f, "timestep_tokens", e, 1, (int64_t[]){S});
    for (int sg = 0; sg < B->nseg; sg++) {
        wanc_dit_sinusoid(sd, freq_dim, B->seg_t[sg]);
        for (int64_t i = B->seg_begin[sg]; i < B->seg_end[sg]; i++)
            for (int j = 0; j < freq_dim; j++) e[i * freq_dim + j] = (float)sd[j];
    }
    TRY(dit_rnd(f, e, S * freq_dim));
    dit_observe(f, "t_freq", e, 3, (int64_t[]){1, S, freq_dim});
    for (int sg = 0; sg < B->nseg; sg++)
        for (int64_t i = B->seg_begin[sg]; i < B->seg_end[sg]; i++) memcpy(e + i * D, tvec + sg * D, sizeof(float) * (size_t)D);
    dit_observe(f, "t", e, 3, (int64_t[]){1, S, D});
    for (int sg = 0; sg < B->nseg; sg++)
        for (int64_t i = B->seg_begin[sg]; i < B->seg_end[sg]; i++)
            memcpy(e + i * 6 * D, B->t_mod + sg * 6 * D, sizeof(float) * (size_t)(6 * D));
    dit_observe(f, "t_mod", e, 4, (int64_t[]){1, S, 6, D});
    return NULL;
}

wanc_err dit_embed_time(const fwd *f, const wanc_dit *d, wanc_arena *A, fwd_bufs *B, float *tvec)
{
    const wanc_dit_config *c = &d->cfg;
    const wanc_backend *be = f->be;
    const wanc_dit_inputs *in = f->in;
    const int64_t D = c->dim;
    float *tf, *tmp;
    double *sd;
    TRY(dit_alloc_f(A, &tf, c->freq_dim));
    TRY(dit_alloc_f(A, &tmp, 6 * D));
    TRY(wanc_arena_alloc(A, (void **)&sd, (size_t)c->freq_dim * sizeof(double)));
    for (int sg = 0; sg < B->nseg; sg++) {
        float *tv = tvec + sg * D, *tm = B->t_mod + sg * 6 * D;
        wanc_dit_sinusoid(sd, c->freq_dim, B->seg_t[sg]);
        for (int i = 0; i < c->freq_dim; i++) tf[i] = (float)sd[i];
        TRY(dit_rnd(f, tf, c->freq_dim));
        if (!in->zero_first_frame) dit_observe(f, "t_freq", tf, 2, (int64_t[]){1, c->freq_dim});
        TRY(dit_lin(f, tmp, tf, &d->time0, 1));
        TRY(be->silu(be, tmp, tmp, D));
        TRY(dit_rnd(f, tmp, D));
        TRY(dit_lin(f, tv, tmp, &d->time2, 1));
        TRY(be->silu(be, tmp, tv, D));
        TRY(dit_rnd(f, tmp, D));
        TRY(dit_lin(f, tm, tmp, &d->tproj, 1));
        if (in->t_mod_add) {
            TRY(be->add(be, tm, tm, in->t_mod_add, 6 * D));
            TRY(dit_rnd(f, tm, 6 * D));
        }
    }
    if (!in->zero_first_frame) {
        dit_observe(f, "t", tvec, 2, (int64_t[]){1, D});
        dit_observe(f, "t_mod", B->t_mod, 3, (int64_t[]){1, 6, D});
    } else if (in->observe) {
        TRY(observe_per_token(f, A, B, c->freq_dim, tvec, sd));
    }
    return NULL;
}

wanc_err dit_embed_context(const fwd *f, const wanc_dit *d, wanc_arena *A, fwd_bufs *B)
{
    const wanc_dit_config *c = &d->cfg;
    const wanc_backend *be = f->be;
    const wanc_dit_inputs *in = f->in;
    const int64_t D = c->dim, Lc = in->clip ? in->clip_len : 0, ctxin = in->ctx_len * c->text_dim;
    float *ctxin_b, *img_a, *ctx_emb = B->ctx + Lc * D;
    TRY(dit_alloc_f(A, &ctxin_b, ctxin));
    memcpy(ctxin_b, in->context, (size_t)ctxin * sizeof(float));
    TRY(dit_rnd(f, ctxin_b, ctxin));
    TRY(dit_lin(f, B->big, ctxin_b, &d->text0, in->ctx_len));
    TRY(be->gelu_tanh(be, B->big, B->big, in->ctx_len * D));
    TRY(dit_rnd(f, B->big, in->ctx_len * D));
    TRY(dit_lin(f, ctx_emb, B->big, &d->text2, in->ctx_len));
    dit_observe(f, "context_emb", ctx_emb, 3, (int64_t[]){1, in->ctx_len, D});
    if (in->clip) {
        int64_t n = Lc * c->clip_dim;
        TRY(dit_alloc_f(A, &img_a, n));
        memcpy(img_a, in->clip, (size_t)n * sizeof(float));
        TRY(dit_rnd(f, img_a, n));
        if (d->emb_pos) {
            TRY(be->add(be, img_a, img_a, d->emb_pos, n));
            TRY(dit_rnd(f, img_a, n));
        }
        /* nn.LayerNorm defaults (eps 1e-5) and exact-erf GELU, unlike the rest of the DiT */
        TRY(be->layer_norm(be, img_a, img_a, d->img_ln0_w, d->img_ln0_b, Lc, c->clip_dim, 1e-5f));
        TRY(dit_rnd(f, img_a, n));
        TRY(dit_lin(f, B->big, img_a, &d->img1, Lc));
        TRY(be->gelu_erf(be, B->big, B->big, n));
        TRY(dit_rnd(f, B->big, n));
        TRY(dit_lin(f, B->ctx, B->big, &d->img3, Lc));
        TRY(be->layer_norm(be, B->ctx, B->ctx, d->img_ln4_w, d->img_ln4_b, Lc, D, 1e-5f));
        TRY(dit_rnd(f, B->ctx, Lc * D));
        dit_observe(f, "clip_emb", B->ctx, 3, (int64_t[]){1, Lc, D});
    }
    dit_observe(f, "context", B->ctx, 3, (int64_t[]){1, B->L, D});
    return NULL;
}

/* Patch embedding as a linear over patches: row (f,h,w), column (c,kt,kh,kw);
 * the video tokens go after the Sr reference tokens. */
wanc_err dit_embed_patches(const fwd *f, const wanc_dit *d, wanc_arena *A, fwd_bufs *B, int64_t Sr)
{
    const wanc_dit_config *c = &d->cfg;
    const wanc_dit_inputs *in = f->in;
    const int pt = c->patch[0], ph = c->patch[1], pw = c->patch[2];
    const int64_t D = c->dim, Fp = in->F / pt, Hp = in->H / ph, Wp = in->W / pw, Sv = Fp * Hp * Wp;
    const int64_t K = (int64_t)c->in_dim * pt * ph * pw;
    float *xv = B->x + Sr * D;
    dit_patchify(B->big, in->latents, in->lat_c, in->y, c->in_dim, in->F, in->H, in->W, c->patch);
    TRY(dit_rnd(f, B->big, Sv * K));
    TRY(dit_lin(f, xv, B->big, &d->patch, Sv));
    if (in->observe) { /* the conv's own layout [1, dim, F, H/2, W/2] */
        dit_tokens_to_channels(B->big, xv, Sv, D);
        dit_observe(f, "patch_conv", B->big, 5, (int64_t[]){1, D, Fp, Hp, Wp});
    }
    if (in->camera) { /* Fun camera: + control_adapter(camera) [dim, F, Hp, Wp] */
        float *cam;
        TRY(dit_alloc_f(A, &cam, D * Sv));
        TRY(dit_camera_forward(f, d, A, in->camera, in->F, in->H, in->W, cam));
        dit_observe(f, "camera_adapter", cam, 5, (int64_t[]){1, D, Fp, Hp, Wp});
        for (int64_t tok = 0; tok < Sv; tok++)
            for (int64_t j = 0; j < D; j++) xv[tok * D + j] += cam[j * Sv + tok];
        TRY(dit_rnd(f, xv, Sv * D));
    }
    if (in->reference) { /* Fun control: ref_conv(reference) tokens first */
        dit_patchify(B->big, in->reference, in->ref_c, NULL, in->ref_c, 1, in->H, in->W, (const int[3]){1, ph, pw});
        TRY(dit_rnd(f, B->big, Sr * in->ref_c * ph * pw));
        TRY(dit_lin(f, B->x, B->big, &d->ref_conv, Sr));
        if (in->observe) {
            dit_tokens_to_channels(B->big, B->x, Sr, D);
            dit_observe(f, "ref_conv", B->big, 4, (int64_t[]){1, D, Hp, Wp});
        }
    }
    dit_observe(f, "x_tokens", B->x, 3, (int64_t[]){1, B->S, D});
    return NULL;
}
