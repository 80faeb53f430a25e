/* One Wan DiT block: modulated self-attention with RoPE, cross-attention on
 * the text tokens (and the I2V image tokens), modulated FFN, with the bf16
 * roundings torch's bf16 run makes (see dit_forward.c). */
#include <math.h>

#include "dit/dit_internal.h"

/* out[r, :] = x[r, :] · vec (one float32 product per element, then rounded). */
static wanc_err mul_rows(const fwd *f, float *out, const float *x, const float *vec, int64_t rows, int64_t dim)
{
    TRY(f->be->mul_rows(f->be, out, x, vec, rows, dim));
    return dit_rnd(f, out, rows * dim);
}

/* out = x · (1 + scale) + shift: torch rounds 1+scale, the product and the sum. */
wanc_err dit_modulate(const fwd *f, float *out, const float *x, const float *shift, const float *scale,
                         int64_t rows, int64_t dim)
{
    if (!f->bf16) return f->be->modulate(f->be, out, x, shift, scale, rows, dim);
    TRY(f->be->scale(f->be, f->vtmp, scale, 1.0f, 1.0f, dim));
    TRY(dit_rnd(f, f->vtmp, dim));
    TRY(mul_rows(f, out, x, f->vtmp, rows, dim));
    /* + shift: modulate with scale 0 is x·1 + shift, the sum alone. */
    TRY(f->be->modulate(f->be, out, out, shift, f->zeros, rows, dim));
    return dit_rnd(f, out, rows * dim);
}

/* x += gate · y (torch: the product rounded, then the sum). y is clobbered. */
static wanc_err gate_add(const fwd *f, float *x, float *y, const float *gate, int64_t rows, int64_t dim)
{
    if (!f->bf16) return f->be->gated_add(f->be, x, y, gate, rows, dim);
    TRY(mul_rows(f, y, y, gate, rows, dim));
    TRY(f->be->add(f->be, x, x, y, rows * dim));
    return dit_rnd(f, x, rows * dim);
}

/* DiffSynth's RMSNorm: normalise in float32, cast, then × weight. In place. */
static wanc_err rms(const fwd *f, float *x, const float *w, int64_t rows, int64_t dim, float eps)
{
    if (!f->bf16) return f->be->rms_norm(f->be, x, x, w, rows, dim, eps);
    TRY(f->be->rms_norm(f->be, x, x, NULL, rows, dim, eps));
    TRY(dit_rnd(f, x, rows * dim));
    return mul_rows(f, x, x, w, rows, dim);
}

wanc_err dit_run_block(const fwd *f, const wanc_dit *d, const dit_block *b, fwd_bufs *B)
{
    const wanc_backend *be = f->be;
    int64_t S = B->S, D = B->D;
    float eps = d->cfg.eps, ascale = 1.0f / sqrtf((float)B->hd);
    /* (shift, scale, gate) for attention and FFN: modulation + t_mod, per timestep range;
     * m(s, j) is chunk j (shift_msa, scale_msa, gate_msa, shift_mlp, scale_mlp, gate_mlp) */
    for (int sg = 0; sg < B->nseg; sg++) {
        TRY(be->add(be, B->mod + sg * 6 * D, b->modulation, B->t_mod + sg * 6 * D, 6 * D));
        TRY(dit_rnd(f, B->mod + sg * 6 * D, 6 * D));
    }
#define m(sg, j) (B->mod + ((sg) * 6 + (j)) * D)
#define SEGS for (int sg = 0; sg < B->nseg; sg++)
#define ROWS(p) ((p) + B->seg_begin[sg] * D)
#define NROWS (B->seg_end[sg] - B->seg_begin[sg])

    /* self-attention */
    TRY(be->layer_norm(be, B->h, B->x, NULL, NULL, S, D, eps));
    TRY(dit_rnd(f, B->h, S * D));
    SEGS TRY(dit_modulate(f, ROWS(B->h), ROWS(B->h), m(sg, 0), m(sg, 1), NROWS, D));
    TRY(dit_lin(f, B->q, B->h, &b->q, S));
    TRY(rms(f, B->q, b->norm_q, S, D, eps));
    TRY(dit_lin(f, B->k, B->h, &b->k, S));
    TRY(rms(f, B->k, b->norm_k, S, D, eps));
    TRY(dit_lin(f, B->v, B->h, &b->v, S));
    TRY(be->rope(be, B->q, B->rope, S, B->H, B->hd));
    TRY(dit_rnd(f, B->q, S * D));
    TRY(be->rope(be, B->k, B->rope, S, B->H, B->hd));
    TRY(dit_rnd(f, B->k, S * D));
    TRY(be->attention(be, B->a, B->q, B->k, B->v, S, S, B->H, B->hd, ascale, NULL, NULL));
    TRY(dit_rnd(f, B->a, S * D));
    TRY(dit_lin(f, B->h, B->a, &b->o, S));
    SEGS TRY(gate_add(f, ROWS(B->x), ROWS(B->h), m(sg, 2), NROWS, D));

    /* cross-attention: text tokens, plus the first 257 context tokens as image tokens */
    TRY(be->layer_norm(be, B->h, B->x, b->norm3_w, b->norm3_b, S, D, eps));
    TRY(dit_rnd(f, B->h, S * D));
    TRY(dit_lin(f, B->q, B->h, &b->cq, S));
    TRY(rms(f, B->q, b->cnorm_q, S, D, eps));
    const float *text = B->ctx + B->Li * D;
    TRY(dit_lin(f, B->kc, text, &b->ck, B->Lt));
    TRY(rms(f, B->kc, b->cnorm_k, B->Lt, D, eps));
    TRY(dit_lin(f, B->vc, text, &b->cv, B->Lt));
    TRY(be->attention(be, B->a, B->q, B->kc, B->vc, S, B->Lt, B->H, B->hd, ascale, NULL, NULL));
    TRY(dit_rnd(f, B->a, S * D));
    if (d->cfg.has_image_input) {
        TRY(dit_lin(f, B->kc, B->ctx, &b->ck_img, B->Li));
        TRY(rms(f, B->kc, b->cnorm_k_img, B->Li, D, eps));
        TRY(dit_lin(f, B->vc, B->ctx, &b->cv_img, B->Li));
        TRY(be->attention(be, B->a2, B->q, B->kc, B->vc, S, B->Li, B->H, B->hd, ascale, NULL, NULL));
        TRY(dit_rnd(f, B->a2, S * D));
        TRY(be->add(be, B->a, B->a, B->a2, S * D));
        TRY(dit_rnd(f, B->a, S * D));
    }
    TRY(dit_lin(f, B->h, B->a, &b->co, S));
    TRY(be->add(be, B->x, B->x, B->h, S * D));
    TRY(dit_rnd(f, B->x, S * D));

    /* FFN */
    TRY(be->layer_norm(be, B->h, B->x, NULL, NULL, S, D, eps));
    TRY(dit_rnd(f, B->h, S * D));
    SEGS TRY(dit_modulate(f, ROWS(B->h), ROWS(B->h), m(sg, 3), m(sg, 4), NROWS, D));
    int64_t Fd = d->cfg.ffn_dim;
    TRY(dit_lin(f, B->big, B->h, &b->ffn0, S));
    TRY(be->gelu_tanh(be, B->big, B->big, S * Fd));
    TRY(dit_rnd(f, B->big, S * Fd));
    TRY(dit_lin(f, B->h, B->big, &b->ffn2, S));
    SEGS TRY(gate_add(f, ROWS(B->x), ROWS(B->h), m(sg, 5), NROWS, D));
    return NULL;
#undef m
#undef SEGS
#undef ROWS
#undef NROWS
}
