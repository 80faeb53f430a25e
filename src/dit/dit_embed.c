/* The DiT's embeddings on the nn layers: time (sinusoid, MLP, projection to
 * t_mod per timestep range), context (text MLP, and the CLIP image MLP of
 * I2V/FLF2V), and the patch embedding (a linear over the patches, plus the
 * Fun camera adapter and reference tokens). The time, text and patch parts
 * are shared with training (dit_train.c), which adds their backwards. */
#include <stdio.h>
#include <string.h>

#include "dit/dit_internal.h"

/* ---- shared with training ---------------------------------------------------------------- */

wanc_err dit_time_forward(const nn_ctx *c, const wanc_dit *d, float t, const float *t_mod_add, double *stage,
                          const dit_time_acts *a)
{
    const int64_t D = d->cfg.dim, freq = d->cfg.freq_dim;
    /* the sinusoid in float64 on the host, cast to float32 in place (the doubles are read before each float lands) */
    wanc_dit_sinusoid(stage, (int)freq, t);
    float *tf_host = (float *)stage;
    for (int64_t i = 0; i < freq; i++) tf_host[i] = (float)stage[i];
    TRY(c->be->upload(c->be, a->tf, tf_host, (size_t)freq * sizeof(float)));
    TRY(nn_round(c, a->tf, freq));
    TRY(nn_linear_forward(c, a->h, a->tf, &d->time0, NULL, NULL, 1));
    TRY(nn_silu_forward(c, a->hs, a->h, D));
    TRY(nn_linear_forward(c, a->e, a->hs, &d->time2, NULL, NULL, 1));
    TRY(nn_silu_forward(c, a->es, a->e, D));
    TRY(nn_linear_forward(c, a->t_mod, a->es, &d->tproj, NULL, NULL, 1));
    if (t_mod_add) TRY(nn_add_forward(c, a->t_mod, a->t_mod, t_mod_add, 6 * D));
    return NULL;
}

wanc_err dit_time_backward(const nn_ctx *c, const wanc_dit *d, const nn_linear_grad g[3], const dit_time_acts *a,
                           const float *dt_mod, float *de, float *tmp, float *tmp2)
{
    const int64_t D = d->cfg.dim;
    TRY(nn_linear_backward(c, tmp, 0, dt_mod, a->es, &d->tproj, &g[2], NULL, NULL, NULL, 1));
    TRY(nn_silu_backward(c, de, tmp, a->e, D, 1));
    TRY(nn_linear_backward(c, tmp, 0, de, a->hs, &d->time2, &g[1], NULL, NULL, NULL, 1));
    TRY(nn_silu_backward(c, tmp2, tmp, a->h, D, 0));
    return nn_linear_backward(c, NULL, 0, tmp2, a->tf, &d->time0, &g[0], NULL, NULL, NULL, 1);
}

wanc_err dit_text_forward(const nn_ctx *c, const wanc_dit *d, const dit_text_acts *a, int64_t L)
{
    TRY(nn_round(c, a->in, L * d->cfg.text_dim));
    if (a->h == a->g) { /* inference keeps no pre-activation */
        TRY(nn_linear_gelu_forward(c, a->g, a->in, &d->text0, L));
    } else {
        TRY(nn_linear_forward(c, a->h, a->in, &d->text0, NULL, NULL, L));
        TRY(nn_gelu_tanh_forward(c, a->g, a->h, L * d->cfg.dim));
    }
    return nn_linear_forward(c, a->out, a->g, &d->text2, NULL, NULL, L);
}

wanc_err dit_text_backward(const nn_ctx *c, const wanc_dit *d, const nn_linear_grad g[2], const dit_text_acts *a,
                           const float *dout, float *din, float *tmp, float *tmp2, int64_t L)
{
    TRY(nn_linear_backward(c, tmp, 0, dout, a->g, &d->text2, &g[1], NULL, NULL, NULL, L));
    TRY(nn_gelu_tanh_backward(c, tmp2, tmp, a->h, L * d->cfg.dim, 0));
    return nn_linear_backward(c, din, 0, tmp2, a->in, &d->text0, &g[0], NULL, NULL, NULL, L);
}

wanc_err dit_image_forward(const nn_ctx *c, const wanc_dit *d, const dit_image_acts *a, int64_t L)
{
    const wanc_dit_config *cfg = &d->cfg;
    const int64_t n = L * cfg->clip_dim;
    TRY(nn_round(c, a->in, n));
    if (d->emb_pos) TRY(nn_add_forward(c, a->in, a->in, d->emb_pos, n));
    /* nn.LayerNorm defaults (eps 1e-5) and exact-erf GELU, unlike the rest of the DiT */
    TRY(nn_layer_norm_forward(c, a->n0, a->in, d->img_ln0_w, d->img_ln0_b, L, cfg->clip_dim, 1e-5f));
    TRY(nn_linear_forward(c, a->h, a->n0, &d->img1, NULL, NULL, L));
    TRY(nn_gelu_erf_forward(c, a->g, a->h, n));
    TRY(nn_linear_forward(c, a->p, a->g, &d->img3, NULL, NULL, L));
    return nn_layer_norm_forward(c, a->out, a->p, d->img_ln4_w, d->img_ln4_b, L, cfg->dim, 1e-5f);
}

wanc_err dit_image_backward(const nn_ctx *c, const wanc_dit *d, const dit_image_grads *g, const dit_image_acts *a,
                            const float *dout, float *din, float *tmp, float *tmp2, int64_t L)
{
    const wanc_dit_config *cfg = &d->cfg;
    const int64_t n = L * cfg->clip_dim;
    TRY(nn_layer_norm_backward(c, tmp, g->ln4_w, g->ln4_b, dout, a->p, d->img_ln4_w, L, cfg->dim, 1e-5f, 0));
    TRY(nn_linear_backward(c, tmp2, 0, tmp, a->g, &d->img3, &g->proj3, NULL, NULL, NULL, L));
    TRY(nn_gelu_erf_backward(c, tmp, tmp2, a->h, n, 0));
    TRY(nn_linear_backward(c, tmp2, 0, tmp, a->n0, &d->img1, &g->proj1, NULL, NULL, NULL, L));
    bool want_in = din || g->emb_pos;
    if (!want_in && !g->ln0_w) return NULL;
    float *dx = din ? din : tmp;
    TRY(nn_layer_norm_backward(c, want_in ? dx : NULL, g->ln0_w, g->ln0_b, tmp2, a->in, d->img_ln0_w, L,
                               cfg->clip_dim, 1e-5f, 0));
    /* in = clip + emb_pos[:L]: emb_pos gets d in */
    if (g->emb_pos) TRY(c->be->add(c->be, g->emb_pos, g->emb_pos, dx, n));
    return NULL;
}

wanc_err dit_patch_forward(const nn_ctx *c, const wanc_dit *d, float *rows, float *x, const float *video, int64_t F,
                           int64_t H, int64_t W)
{
    const wanc_dit_config *cfg = &d->cfg;
    const int *p = cfg->patch;
    const int64_t K = (int64_t)cfg->in_dim * p[0] * p[1] * p[2], S = F / p[0] * (H / p[1]) * (W / p[2]);
    TRY(nn_patchify(c, rows, K, 0, 0, 0, video, cfg->in_dim, F, H, W, p));
    TRY(nn_round(c, rows, S * K));
    return nn_linear_forward(c, x, rows, &d->patch, NULL, NULL, S);
}

/* ---- inference ------------------------------------------------------------------------------ */

wanc_err dit_tokens_to_channels(const fwd *f, float *dst, const float *src, int64_t tokens, int64_t C)
{
    return nn_transpose(&f->nn, dst, src, tokens, C);
}

/* TI2V per-token view of the time embedding, as DiffSynth holds it:
 * timestep_tokens [S], t_freq [1, S, freq], t [1, S, dim], t_mod [1, S, 6, dim].
 * Only for observers (tests, host memory); the forward itself keeps one row per range. */
static wanc_err observe_per_token(const fwd *f, wanc_arena *A, const fwd_bufs *B, int freq_dim, const float *tvec,
                                  double *sd)
{
    const nn_ranges *r = &B->env.ranges;
    int64_t S = B->S, D = B->D, w = 6 * D > freq_dim ? 6 * D : freq_dim;
    float *e;
    TRY(dit_alloc_f(A, &e, S * w));
    for (int sg = 0; sg < r->n; sg++)
        for (int64_t i = r->begin[sg]; i < r->end[sg]; i++) e[i] = B->seg_t[sg];
    dit_observe(f, "timestep_tokens", e, 1, (int64_t[]){S});
    for (int sg = 0; sg < r->n; sg++) {
        wanc_dit_sinusoid(sd, freq_dim, B->seg_t[sg]);
        for (int64_t i = r->begin[sg]; i < r->end[sg]; i++)
            for (int j = 0; j < freq_dim; j++) e[i * freq_dim + j] = (float)sd[j];
    }
    TRY(dit_rnd(f, e, S * freq_dim));
    dit_observe(f, "t_freq", e, 3, (int64_t[]){1, S, freq_dim});
    for (int sg = 0; sg < r->n; sg++)
        for (int64_t i = r->begin[sg]; i < r->end[sg]; i++)
            memcpy(e + i * D, tvec + sg * D, sizeof(float) * (size_t)D);
    dit_observe(f, "t", e, 3, (int64_t[]){1, S, D});
    for (int sg = 0; sg < r->n; sg++)
        for (int64_t i = r->begin[sg]; i < r->end[sg]; i++)
            memcpy(e + i * 6 * D, B->t_mod + sg * 6 * D, sizeof(float) * (size_t)(6 * D));
    dit_observe(f, "t_mod", e, 4, (int64_t[]){1, S, 6, D});
    return NULL;
}

wanc_err dit_embed_time(const fwd *f, wanc_dit *d, wanc_arena *A, fwd_bufs *B, float *tvec)
{
    const wanc_dit_config *c = &d->cfg;
    const wanc_dit_inputs *in = f->in;
    const int64_t D = c->dim;
    float *tf, *tmp;
    double *sd;
    TRY(dit_alloc_f(A, &tf, c->freq_dim));
    TRY(dit_alloc_f(A, &tmp, 6 * D));
    TRY(dit_stage(d, (size_t)c->freq_dim * sizeof(double), &sd));
    for (int sg = 0; sg < B->env.ranges.n; sg++) {
        const dit_time_acts a = {.tf = tf, .h = tmp, .hs = tmp, .e = tvec + sg * D, .es = tmp,
                                 .t_mod = B->t_mod + sg * 6 * D};
        TRY(dit_time_forward(&f->nn, d, B->seg_t[sg], in->t_mod_add, sd, &a));
        if (!in->zero_first_frame) dit_observe(f, "t_freq", tf, 2, (int64_t[]){1, c->freq_dim});
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
    const nn_ctx *nn = &f->nn;
    const wanc_dit_inputs *in = f->in;
    const int64_t D = c->dim, Lc = in->clip ? in->clip_len : 0, ctxin = in->ctx_len * c->text_dim;
    float *ctxin_b, *img_a, *ctx_emb = B->ctx + Lc * D;
    TRY(dit_alloc_f(A, &ctxin_b, ctxin));
    TRY(be->upload(be, ctxin_b, in->context, (size_t)ctxin * sizeof(float)));
    const dit_text_acts ta = {.in = ctxin_b, .h = B->big, .g = B->big, .out = ctx_emb};
    TRY(dit_text_forward(nn, d, &ta, in->ctx_len));
    dit_observe(f, "context_emb", ctx_emb, 3, (int64_t[]){1, in->ctx_len, D});
    if (in->clip) {
        int64_t n = Lc * c->clip_dim;
        TRY(dit_alloc_f(A, &img_a, n));
        TRY(be->upload(be, img_a, in->clip, (size_t)n * sizeof(float)));
        const dit_image_acts ia = {.in = img_a, .n0 = img_a, .h = B->big, .g = B->big, .p = B->ctx, .out = B->ctx};
        TRY(dit_image_forward(nn, d, &ia, Lc));
        dit_observe(f, "clip_emb", B->ctx, 3, (int64_t[]){1, Lc, D});
    }
    dit_observe(f, "context", B->ctx, 3, (int64_t[]){1, B->L, D});
    return NULL;
}

/* The video tokens go after the Sr reference tokens. */
wanc_err dit_embed_patches(const fwd *f, const wanc_dit *d, wanc_arena *A, fwd_bufs *B, int64_t Sr)
{
    const wanc_dit_config *c = &d->cfg;
    const wanc_backend *be = f->be;
    const nn_ctx *nn = &f->nn;
    const wanc_dit_inputs *in = f->in;
    const int pt = c->patch[0], ph = c->patch[1], pw = c->patch[2];
    const int64_t D = c->dim, Fp = in->F / pt, Hp = in->H / ph, Wp = in->W / pw, Sv = Fp * Hp * Wp;
    const int64_t FHW = in->F * in->H * in->W;
    float *xv = B->x + Sr * D, *video;
    /* the latents and y, channel-concatenated in backend memory */
    TRY(dit_alloc_f(A, &video, c->in_dim * FHW));
    TRY(be->upload(be, video, in->latents, (size_t)(in->lat_c * FHW) * sizeof(float)));
    if (in->y) TRY(be->upload(be, video + in->lat_c * FHW, in->y, (size_t)(in->y_c * FHW) * sizeof(float)));
    TRY(dit_patch_forward(nn, d, B->big, xv, video, in->F, in->H, in->W));
    if (in->observe) { /* the conv's own layout [1, dim, F, H/2, W/2] */
        TRY(dit_tokens_to_channels(f, B->big, xv, Sv, D));
        dit_observe(f, "patch_conv", B->big, 5, (int64_t[]){1, D, Fp, Hp, Wp});
    }
    if (in->camera) { /* Fun camera: + control_adapter(camera) [dim, F, Hp, Wp] */
        float *cam;
        TRY(dit_alloc_f(A, &cam, D * Sv));
        TRY(dit_camera_forward(f, d, A, in->camera, in->F, in->H, in->W, cam));
        dit_observe(f, "camera_adapter", cam, 5, (int64_t[]){1, D, Fp, Hp, Wp});
        TRY(nn_transpose(nn, B->big, cam, D, Sv));
        TRY(nn_add_forward(nn, xv, xv, B->big, Sv * D));
    }
    if (in->reference) { /* Fun control: ref_conv(reference) tokens first */
        const int64_t HW = in->H * in->W, K = in->ref_c * ph * pw;
        float *ref;
        TRY(dit_alloc_f(A, &ref, in->ref_c * HW));
        TRY(be->upload(be, ref, in->reference, (size_t)(in->ref_c * HW) * sizeof(float)));
        TRY(nn_patchify(nn, B->big, K, 0, 0, 0, ref, in->ref_c, 1, in->H, in->W, (const int[3]){1, ph, pw}));
        TRY(nn_round(nn, B->big, Sr * K));
        TRY(nn_linear_forward(nn, B->x, B->big, &d->ref_conv, NULL, NULL, Sr));
        if (in->observe) {
            TRY(dit_tokens_to_channels(f, B->big, B->x, Sr, D));
            dit_observe(f, "ref_conv", B->big, 4, (int64_t[]){1, D, Hp, Wp});
        }
    }
    dit_observe(f, "x_tokens", B->x, 3, (int64_t[]){1, B->S, D});
    return NULL;
}
