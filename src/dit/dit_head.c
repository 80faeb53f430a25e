/* The DiT's head: (shift, scale) = head.modulation + t per timestep range,
 * Linear(LN(x)(1 + scale) + shift); the forward is shared with training,
 * which adds the backward. dit_run_head also unpatchifies for inference. */
#include "dit/dit_internal.h"

wanc_err dit_head_forward(const nn_ctx *c, const wanc_dit *d, const float *x, const float *e, const nn_ranges *r,
                          int64_t S, const dit_head_acts *a)
{
    const int64_t D = d->cfg.dim;
    for (int k = 0; k < r->n; k++) {
        float *hm = a->hm + k * 2 * D;
        TRY(c->be->add(c->be, hm, d->head_mod, e + k * D, D));
        TRY(c->be->add(c->be, hm + D, d->head_mod + D, e + k * D, D));
        TRY(nn_round(c, hm, 2 * D));
    }
    if (a->n == a->h) { /* inference keeps no LN(x): the fused pass */
        TRY(nn_norm_modulate_forward(c, a->h, x, a->hm, a->hm + D, 2 * D, r, D, d->cfg.eps));
    } else {
        TRY(nn_layer_norm_forward(c, a->n, x, NULL, NULL, S, D, d->cfg.eps));
        TRY(nn_modulate_forward(c, a->h, a->n, a->hm, a->hm + D, 2 * D, r, D));
    }
    return nn_linear_forward(c, a->out, a->h, &d->head, NULL, NULL, S);
}

wanc_err dit_head_backward(const nn_ctx *c, const wanc_dit *d, const nn_linear_grad *g, float *dmod,
                           const dit_head_acts *a, const float *x, const float *dout, float *gx, float *de,
                           const nn_ranges *r, int64_t S, float *tmp, float *tmp2, float *dhm)
{
    const wanc_backend *be = c->be;
    const int64_t D = d->cfg.dim;
    TRY(nn_linear_backward(c, tmp, 0, dout, a->h, &d->head, g, NULL, NULL, NULL, S));
    /* dhm per range: dshift, dscale; shift and scale are both head.modulation + e */
    TRY(nn_modulate_backward(c, tmp2, dhm, dhm + D, 2 * D, tmp, a->n, a->hm + D, r, D, 0));
    for (int k = 0; k < r->n; k++) {
        const float *dk = dhm + k * 2 * D;
        if (dmod) TRY(be->add(be, dmod, dmod, dk, 2 * D));
        TRY(be->add(be, de + k * D, de + k * D, dk, D));
        TRY(be->add(be, de + k * D, de + k * D, dk + D, D));
    }
    return nn_layer_norm_backward(c, gx, NULL, NULL, tmp2, x, NULL, S, D, d->cfg.eps, 0);
}

wanc_err dit_run_head(const fwd *f, const wanc_dit *d, wanc_arena *A, fwd_bufs *B, const float *tvec, int64_t Sr,
                      float *out)
{
    const wanc_dit_config *c = &d->cfg;
    const wanc_dit_inputs *in = f->in;
    const int64_t S = B->S, D = c->dim, P = (int64_t)c->out_dim * c->patch[0] * c->patch[1] * c->patch[2];
    const int64_t n = c->out_dim * in->F * in->H * in->W;
    float *head_b, *video;
    TRY(dit_alloc_f(A, &head_b, S * P));
    TRY(dit_alloc_f(A, &video, n));
    dit_observe(f, "head_in", B->x, 3, (int64_t[]){1, S, D});
    const dit_head_acts a = {.n = B->h, .h = B->h, .hm = B->mod, .out = head_b};
    TRY(dit_head_forward(&f->nn, d, B->x, tvec, &B->env.ranges, S, &a));
    dit_observe(f, "head_out", head_b, 3, (int64_t[]){1, S, P});
    /* unpatchify the video tokens (reference tokens dropped): features (kt, kh, kw, c) → [c, F, H, W] */
    TRY(nn_unpatchify(&f->nn, video, head_b, P, 0, 1, Sr, c->out_dim, in->F, in->H, in->W, c->patch));
    return f->be->download(f->be, out, video, (size_t)n * sizeof(float));
}
