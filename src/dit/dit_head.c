/* The DiT's head: (shift, scale) = head.modulation + t per timestep range,
 * Linear(LN(x)(1 + scale) + shift), then unpatchify to the latents' layout. */
#include "dit/dit_internal.h"

wanc_err dit_head_forward(const fwd *f, const wanc_dit *d, wanc_arena *A, fwd_bufs *B, const float *tvec, int64_t Sr,
                          float *out)
{
    const wanc_dit_config *c = &d->cfg;
    const wanc_backend *be = f->be;
    const wanc_dit_inputs *in = f->in;
    const int pt = c->patch[0], ph = c->patch[1], pw = c->patch[2];
    const int64_t S = B->S, D = c->dim, Hp = in->H / ph, Wp = in->W / pw, Sv = S - Sr;
    const int64_t P = (int64_t)c->out_dim * pt * ph * pw;
    float *head_b;
    TRY(dit_alloc_f(A, &head_b, S * P));
    dit_observe(f, "head_in", B->x, 3, (int64_t[]){1, S, D});
    TRY(be->layer_norm(be, B->h, B->x, NULL, NULL, S, D, c->eps));
    TRY(dit_rnd(f, B->h, S * D));
    for (int sg = 0; sg < B->nseg; sg++) {
        float *hm = B->mod + sg * 2 * D, *rows = B->h + B->seg_begin[sg] * D;
        TRY(be->add(be, hm, d->head_mod, tvec + sg * D, D));
        TRY(be->add(be, hm + D, d->head_mod + D, tvec + sg * D, D));
        TRY(dit_rnd(f, hm, 2 * D));
        TRY(dit_modulate(f, rows, rows, hm, hm + D, B->seg_end[sg] - B->seg_begin[sg], D));
    }
    TRY(dit_lin(f, head_b, B->h, &d->head, S));
    dit_observe(f, "head_out", head_b, 3, (int64_t[]){1, S, P});
    /* unpatchify the video tokens (reference tokens dropped):
     * features (kt, kh, kw, c) → out[c, F, H, W] */
    for (int64_t tok = 0; tok < Sv; tok++) {
        int64_t fi = tok / (Hp * Wp), hi = tok / Wp % Hp, wi = tok % Wp;
        const float *row = head_b + (Sr + tok) * P;
        for (int kt = 0; kt < pt; kt++)
            for (int kh = 0; kh < ph; kh++)
                for (int kw = 0; kw < pw; kw++)
                    for (int ch = 0; ch < c->out_dim; ch++)
                        out[((ch * in->F + fi * pt + kt) * in->H + hi * ph + kh) * in->W + wi * pw + kw] = *row++;
    }
    return NULL;
}
