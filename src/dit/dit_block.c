/* One Wan DiT block, written once on the nn layers for inference and
 * training alike:
 *   mod = modulation + t_mod  → shift0, scale0, gate0, shift3, scale3, gate5 (per timestep range)
 *   x1 = x0 + gate0 · o(attn(rope(rms(q(h1))), rope(rms(k(h1))), v(h1))),  h1 = LN(x0)(1 + scale0) + shift0
 *   x2 = x1 + co(attn(rms(cq(n3)), rms(ck(ctx)), cv(ctx)) [+ attn(.., image k/v)]),  n3 = LN_affine(x1)
 *   x3 = x2 + gate5 · ffn2(gelu(ffn0(h2))),                                 h2 = LN(x2)(1 + scale3) + shift3
 * Inference lets the activations share a few buffers (dit_run_block);
 * training gives each its own (a tape) and runs dit_block_backward on it. */
#include <string.h>

#include "dit/dit_internal.h"

const char *const dit_block_linear_names[DIT_NLIN] = {
    "self_attn.q",  "self_attn.k",  "self_attn.v",  "self_attn.o", "cross_attn.q",
    "cross_attn.k", "cross_attn.v", "cross_attn.o", "ffn.0",       "ffn.2"};

const dit_linear *dit_block_linear(const dit_block *b, int i)
{
    const dit_linear *l[DIT_NLIN] = {&b->q, &b->k, &b->v, &b->o, &b->cq, &b->ck, &b->cv, &b->co, &b->ffn0, &b->ffn2};
    return l[i];
}

#define MOD(base, j) ((base) + (j) * D) /* chunk j of range 0's [6, D]; range r at + r·6D */
#define LORA(j) (lora && lora[j].rank > 0 ? &lora[j] : NULL)
#define U(j) (a->u[j])

wanc_err dit_block_forward(const nn_ctx *c, const wanc_dit_config *cfg, const dit_block *b, const nn_lora *lora,
                           const dit_block_env *e, const float *x0, float *x_out, dit_block_acts *a)
{
    const int64_t S = e->S, Lt = e->Lt, Li = e->Li, D = cfg->dim, H = cfg->num_heads, hd = D / H, Fd = cfg->ffn_dim;
    const int64_t st = 6 * D; /* one range's modulation */
    const float eps = cfg->eps;
    const nn_ranges *r = &e->ranges;
    for (int k = 0; k < r->n; k++) TRY(nn_add_forward(c, a->mod + k * st, b->modulation, e->t_mod + k * st, st));

    /* self-attention */
    if (a->n1 == a->h1) { /* inference keeps no LN(x0): the fused pass */
        TRY(nn_norm_modulate_forward(c, a->h1, x0, MOD(a->mod, 0), MOD(a->mod, 1), st, r, D, eps));
    } else {
        TRY(nn_layer_norm_forward(c, a->n1, x0, NULL, NULL, S, D, eps));
        TRY(nn_modulate_forward(c, a->h1, a->n1, MOD(a->mod, 0), MOD(a->mod, 1), st, r, D));
    }
    TRY(nn_linear_forward(c, a->qpre, a->h1, &b->q, LORA(DIT_LQ), U(DIT_LQ), S));
    TRY(nn_rms_norm_forward(c, a->q, a->qpre, b->norm_q, S, D, eps));
    TRY(nn_rope_forward(c, a->q, e->rope, S, H, hd));
    TRY(nn_linear_forward(c, a->kpre, a->h1, &b->k, LORA(DIT_LK), U(DIT_LK), S));
    TRY(nn_rms_norm_forward(c, a->k, a->kpre, b->norm_k, S, D, eps));
    TRY(nn_rope_forward(c, a->k, e->rope, S, H, hd));
    TRY(nn_linear_forward(c, a->v, a->h1, &b->v, LORA(DIT_LV), U(DIT_LV), S));
    TRY(nn_attention_forward(c, a->a, a->lse1, a->q, a->k, a->v, S, S, H, hd));
    if (a->x1 != x0) TRY(nn_copy(c, a->x1, x0, S * D));
    TRY(nn_linear_residual_forward(c, a->x1, a->o, a->a, &b->o, LORA(DIT_LO), U(DIT_LO), MOD(a->mod, 2), st, r, S));

    /* cross-attention: the text tokens, plus the Li image tokens that come first in the context */
    const float *text = e->ctx + Li * D;
    TRY(nn_layer_norm_forward(c, a->n3, a->x1, b->norm3_w, b->norm3_b, S, D, eps));
    TRY(nn_linear_forward(c, a->cqpre, a->n3, &b->cq, LORA(DIT_LCQ), U(DIT_LCQ), S));
    TRY(nn_rms_norm_forward(c, a->cq, a->cqpre, b->cnorm_q, S, D, eps));
    TRY(nn_linear_forward(c, a->ckpre, text, &b->ck, LORA(DIT_LCK), U(DIT_LCK), Lt));
    TRY(nn_rms_norm_forward(c, a->ck, a->ckpre, b->cnorm_k, Lt, D, eps));
    TRY(nn_linear_forward(c, a->cv, text, &b->cv, LORA(DIT_LCV), U(DIT_LCV), Lt));
    TRY(nn_attention_forward(c, a->cat, a->lse2, a->cq, a->ck, a->cv, S, Lt, H, hd));
    if (cfg->has_image_input) {
        TRY(nn_linear_forward(c, a->ckipre, e->ctx, &b->ck_img, NULL, NULL, Li));
        TRY(nn_rms_norm_forward(c, a->cki, a->ckipre, b->cnorm_k_img, Li, D, eps));
        TRY(nn_linear_forward(c, a->cvi, e->ctx, &b->cv_img, NULL, NULL, Li));
        TRY(nn_attention_forward(c, a->cai, a->lse3, a->cq, a->cki, a->cvi, S, Li, H, hd));
        TRY(nn_add_forward(c, a->ca, a->cat, a->cai, S * D));
    } else if (a->ca != a->cat) {
        TRY(nn_copy(c, a->ca, a->cat, S * D));
    }
    if (a->co == a->x2) { /* the training tape sums x1 + co in co's buffer */
        TRY(nn_linear_forward(c, a->co, a->ca, &b->co, LORA(DIT_LCO), U(DIT_LCO), S));
        TRY(nn_add_forward(c, a->x2, a->x1, a->co, S * D));
    } else {
        if (a->x2 != a->x1) TRY(nn_copy(c, a->x2, a->x1, S * D));
        TRY(nn_linear_residual_forward(c, a->x2, a->co, a->ca, &b->co, LORA(DIT_LCO), U(DIT_LCO), NULL, st, r, S));
    }

    /* FFN */
    if (a->n2 == a->h2) {
        TRY(nn_norm_modulate_forward(c, a->h2, a->x2, MOD(a->mod, 3), MOD(a->mod, 4), st, r, D, eps));
    } else {
        TRY(nn_layer_norm_forward(c, a->n2, a->x2, NULL, NULL, S, D, eps));
        TRY(nn_modulate_forward(c, a->h2, a->n2, MOD(a->mod, 3), MOD(a->mod, 4), st, r, D));
    }
    /* inference keeps no pre-activation: GELU in the GEMM's epilogue */
    if (a->f1 == a->g && !(lora && lora[DIT_LF0].rank > 0)) {
        TRY(nn_linear_gelu_forward(c, a->g, a->h2, &b->ffn0, S));
    } else {
        TRY(nn_linear_forward(c, a->f1, a->h2, &b->ffn0, LORA(DIT_LF0), U(DIT_LF0), S));
        TRY(nn_gelu_tanh_forward(c, a->g, a->f1, S * Fd));
    }
    if (x_out != a->x2) TRY(nn_copy(c, x_out, a->x2, S * D));
    return nn_linear_residual_forward(c, x_out, a->f2, a->g, &b->ffn2, LORA(DIT_LF2), U(DIT_LF2), MOD(a->mod, 5), st,
                                      r, S);
}

wanc_err dit_block_backward(const nn_ctx *c, const wanc_dit_config *cfg, const dit_block *b, const nn_lora *lora,
                            const dit_block_grads *g, const dit_block_env *e, const float *x0, const dit_block_acts *a,
                            float *gx, float *dt_mod, float *dctx, const dit_block_scratch *s)
{
    const wanc_backend *be = c->be;
    const int64_t S = e->S, Lt = e->Lt, Li = e->Li, D = cfg->dim, H = cfg->num_heads, hd = D / H, Fd = cfg->ffn_dim;
    const int64_t st = 6 * D;
    const float eps = cfg->eps;
    const nn_ranges *r = &e->ranges;
    const nn_linear_grad *lg = g->lin;
    float *dmod = s->dmod, *g1 = s->g1, *g2 = s->g2, *g3 = s->g3;
    TRY(be->fill(be, dmod, 0.0f, r->n * st));

    /* FFN: x3 = x2 + gate5·f2 */
    TRY(nn_gate_backward(c, g1, MOD(dmod, 5), st, gx, a->f2, MOD(a->mod, 5), r, D, 0));
    TRY(nn_linear_backward(c, s->big, 0, g1, a->g, &b->ffn2, &lg[DIT_LF2], LORA(DIT_LF2), U(DIT_LF2), s->du, S));
    TRY(nn_gelu_tanh_backward(c, s->big2, s->big, a->f1, S * Fd, 0));
    TRY(nn_linear_backward(c, g2, 0, s->big2, a->h2, &b->ffn0, &lg[DIT_LF0], LORA(DIT_LF0), U(DIT_LF0), s->du, S));
    TRY(nn_modulate_backward(c, g3, MOD(dmod, 3), MOD(dmod, 4), st, g2, a->n2, MOD(a->mod, 4), r, D, 0));
    TRY(nn_layer_norm_backward(c, gx, NULL, NULL, g3, a->x2, NULL, S, D, eps, 1));

    /* cross-attention: x2 = x1 + co(ca), ca = text attention [+ image attention] */
    TRY(nn_linear_backward(c, g1, 0, gx, a->ca, &b->co, &lg[DIT_LCO], LORA(DIT_LCO), U(DIT_LCO), s->du, S));
    TRY(nn_attention_backward(c, g2, s->gctx, s->gctx2, g1, a->cq, a->ck, a->cv, a->cat, a->lse2, S, Lt, H, hd, 0));
    const float *text = e->ctx + Li * D;
    float *dtext = dctx ? dctx + Li * D : NULL;
    TRY(nn_linear_backward(c, dtext, 1, s->gctx2, text, &b->cv, &lg[DIT_LCV], LORA(DIT_LCV), U(DIT_LCV), s->du, Lt));
    TRY(nn_rms_norm_backward(c, s->gctx2, g->cnorm_k, s->gctx, a->ckpre, b->cnorm_k, Lt, D, eps, 0));
    TRY(nn_linear_backward(c, dtext, 1, s->gctx2, text, &b->ck, &lg[DIT_LCK], LORA(DIT_LCK), U(DIT_LCK), s->du, Lt));
    if (cfg->has_image_input) { /* the image attention shares the query: dq adds up (so do dk, dv: zeroed first) */
        TRY(be->fill(be, s->gctx, 0.0f, Li * D));
        TRY(be->fill(be, s->gctx2, 0.0f, Li * D));
        TRY(nn_attention_backward(c, g2, s->gctx, s->gctx2, g1, a->cq, a->cki, a->cvi, a->cai, a->lse3, S, Li, H, hd,
                                  1));
        if (dctx || g->v_img.w) { /* frozen and no context gradient (LoRA): nothing further down */
            TRY(nn_linear_backward(c, dctx, 1, s->gctx2, e->ctx, &b->cv_img, &g->v_img, NULL, NULL, NULL, Li));
            TRY(nn_rms_norm_backward(c, s->gctx2, g->cnorm_k_img, s->gctx, a->ckipre, b->cnorm_k_img, Li, D, eps, 0));
            TRY(nn_linear_backward(c, dctx, 1, s->gctx2, e->ctx, &b->ck_img, &g->k_img, NULL, NULL, NULL, Li));
        }
    }
    TRY(nn_rms_norm_backward(c, g1, g->cnorm_q, g2, a->cqpre, b->cnorm_q, S, D, eps, 0));
    TRY(nn_linear_backward(c, g2, 0, g1, a->n3, &b->cq, &lg[DIT_LCQ], LORA(DIT_LCQ), U(DIT_LCQ), s->du, S));
    TRY(nn_layer_norm_backward(c, gx, g->norm3_w, g->norm3_b, g2, a->x1, b->norm3_w, S, D, eps, 1));

    /* self-attention: x1 = x0 + gate0·o */
    TRY(nn_gate_backward(c, g1, MOD(dmod, 2), st, gx, a->o, MOD(a->mod, 2), r, D, 0));
    TRY(nn_linear_backward(c, g2, 0, g1, a->a, &b->o, &lg[DIT_LO], LORA(DIT_LO), U(DIT_LO), s->du, S));
    float *dq = g1, *dk = g3, *dv = s->big; /* big holds >= S·D */
    TRY(nn_attention_backward(c, dq, dk, dv, g2, a->q, a->k, a->v, a->a, a->lse1, S, S, H, hd, 0));
    TRY(nn_rope_backward(c, dq, e->rope, S, H, hd));
    TRY(nn_rope_backward(c, dk, e->rope, S, H, hd));
    float *dh1 = s->big2; /* >= S·D */
    TRY(nn_linear_backward(c, dh1, 0, dv, a->h1, &b->v, &lg[DIT_LV], LORA(DIT_LV), U(DIT_LV), s->du, S));
    TRY(nn_rms_norm_backward(c, g2, g->norm_q, dq, a->qpre, b->norm_q, S, D, eps, 0));
    TRY(nn_linear_backward(c, dh1, 1, g2, a->h1, &b->q, &lg[DIT_LQ], LORA(DIT_LQ), U(DIT_LQ), s->du, S));
    TRY(nn_rms_norm_backward(c, g2, g->norm_k, dk, a->kpre, b->norm_k, S, D, eps, 0));
    TRY(nn_linear_backward(c, dh1, 1, g2, a->h1, &b->k, &lg[DIT_LK], LORA(DIT_LK), U(DIT_LK), s->du, S));
    TRY(nn_modulate_backward(c, g3, MOD(dmod, 0), MOD(dmod, 1), st, dh1, a->n1, MOD(a->mod, 1), r, D, 0));
    TRY(nn_layer_norm_backward(c, gx, NULL, NULL, g3, x0, NULL, S, D, eps, 1));

    /* mod = modulation + t_mod: both get dmod */
    for (int k = 0; k < r->n; k++) {
        TRY(be->add(be, dt_mod + k * st, dt_mod + k * st, dmod + k * st, st));
        if (g->modulation) TRY(be->add(be, g->modulation, g->modulation, dmod + k * st, st));
    }
    return NULL;
}

/* The inference block on B->x in place: the activations share B's buffers,
 * each written after the last read of the one it replaces. */
wanc_err dit_run_block(const fwd *f, const wanc_dit *d, const dit_block *b, fwd_bufs *B)
{
    dit_block_acts a = {.mod = B->mod,
                        .n1 = B->h, .h1 = B->h, .qpre = B->q, .q = B->q, .kpre = B->k, .k = B->k, .v = B->v,
                        .a = B->a, .o = B->h, .x1 = B->x,
                        .n3 = B->h, .cqpre = B->q, .cq = B->q, .ckpre = B->kc, .ck = B->kc, .cv = B->vc,
                        .ckipre = B->kc, .cki = B->kc, .cvi = B->vc, .cai = B->a2,
                        .ca = B->a, .cat = B->a, .co = B->h, .x2 = B->x,
                        .n2 = B->h, .h2 = B->h, .f1 = B->big, .g = B->big, .f2 = B->h};
    return dit_block_forward(&f->nn, &d->cfg, b, NULL, &B->env, B->x, B->x, &a);
}
