/* VACE (DiffSynth's VaceWanModel) for the Wan DiT.
 *
 * The VACE checkpoints hold the DiT and the `vace_*` tensors in one file.
 * VACE has its own patch embedding (vace_in_dim = 96 channels) and n DiT
 * blocks of the DiT's width; block 0 also has before_proj, every block an
 * after_proj. Per forward:
 *   c = vace_patch_embedding(vace_context) tokens, zero-padded to x's length
 *   c = before_proj(c) + x               (x: DiT tokens after patch embedding)
 *   for each block j: c = block_j(c); hint_j = after_proj_j(c)
 * and the DiT adds hint_j · vace_scale to x right after its block
 * vace_layers[j].
 *
 * The block count is in the names; the layers are not. The released
 * models put the n blocks at a fixed stride over the DiT's L layers
 * (1.3B: 15 over 30 at 0, 2, .., 28; 14B: 8 over 40 at 0, 5, .., 35), i.e.
 * layer j·ceil(L/n); the tiny fixture (2 over 3 at 0, 2) agrees. Any other
 * mapping is stated by the caller (a DiT config's vace_layers, dit_config.c).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dit/dit_internal.h"

wanc_err dit_vace_infer_config(wanc_dit_config *cfg, const wanc_weights *w, const dit_stated *stated)
{
    char name[64];
    int n = 0;
    while (1) {
        snprintf(name, sizeof name, "vace_blocks.%d.modulation", n);
        if (!wanc_weights_has(w, name)) break;
        n++;
    }
    const wanc_tensor *pe = wanc_weights_find(w, "vace_patch_embedding.weight");
    cfg->vace_num_blocks = 0;
    if (!n && !pe) return NULL;
    if (!n || !pe)
        WANC_FAIL(WANC_EFORMAT, "%s: unknown VACE layout: %s without %s", wanc_weights_describe(w),
                  n ? "vace_blocks.*" : "vace_patch_embedding.weight",
                  n ? "vace_patch_embedding.weight" : "vace_blocks.0.modulation");
    if (pe->ndim != 5 || pe->shape[0] != cfg->dim)
        WANC_FAIL(WANC_ESHAPE, "%s: vace_patch_embedding.weight must be [%d, C, %d, %d, %d]",
                  wanc_weights_describe(w), cfg->dim, cfg->patch[0], cfg->patch[1], cfg->patch[2]);
    if (!wanc_weights_has(w, "vace_blocks.0.before_proj.weight"))
        WANC_FAIL(WANC_EFORMAT, "%s: unknown VACE layout: vace_blocks.0 has no before_proj",
                  wanc_weights_describe(w));
    if (n > WANC_DIT_MAX_VACE || n > cfg->num_layers)
        WANC_FAIL(WANC_EFORMAT, "%s: %d VACE blocks for a DiT of %d layers (at most %d)", wanc_weights_describe(w), n,
                  cfg->num_layers, n > WANC_DIT_MAX_VACE ? WANC_DIT_MAX_VACE : cfg->num_layers);
    if (stated && stated->n_vace_layers) { /* vace_layers as the caller states it */
        if (stated->n_vace_layers != n)
            WANC_FAIL(WANC_EINVAL, "%s: DiT config vace_layers lists %d layers for %d VACE blocks (vace_blocks.*)",
                      wanc_weights_describe(w), stated->n_vace_layers, n);
        for (int j = 0; j < n; j++) {
            int l = stated->vace_layers[j];
            if (l >= cfg->num_layers)
                WANC_FAIL(WANC_EINVAL, "%s: DiT config vace_layers[%d] = %d, but the DiT has %d layers",
                          wanc_weights_describe(w), j, l, cfg->num_layers);
            for (int k = 0; k < j; k++)
                if (stated->vace_layers[k] == l)
                    WANC_FAIL(WANC_EINVAL, "%s: DiT config vace_layers names layer %d twice", wanc_weights_describe(w),
                              l);
            cfg->vace_layers[j] = l;
        }
    } else { /* the released pattern */
        int stride = (cfg->num_layers + n - 1) / n;
        for (int j = 0; j < n; j++) cfg->vace_layers[j] = j * stride;
        if (cfg->vace_layers[n - 1] >= cfg->num_layers)
            WANC_FAIL(WANC_EFORMAT, "%s: %d VACE blocks do not map onto %d DiT layers at a released stride (%d): "
                      "state vace_layers in a DiT config (--dit-config)", wanc_weights_describe(w), n,
                      cfg->num_layers, stride);
    }
    cfg->vace_num_blocks = n;
    cfg->vace_in_dim = (int)pe->shape[1];
    return NULL;
}

wanc_err dit_vace_load(wanc_dit *d)
{
    const wanc_dit_config *c = &d->cfg;
    int n = c->vace_num_blocks;
    if (!n) return NULL;
    int64_t D = c->dim;
    TRY(dit_view_weight(d, &d->vace_patch.w, 5, (int64_t[]){D, c->vace_in_dim, c->patch[0], c->patch[1], c->patch[2]},
                        "vace_patch_embedding.weight"));
    TRY(dit_view_weight(d, &d->vace_patch.b, 1, (int64_t[]){D}, "vace_patch_embedding.bias"));
    TRY(dit_get_linear(d, &d->vace_before, D, D, "vace_blocks.0.before_proj"));
    d->vace_blocks = calloc((size_t)n, sizeof *d->vace_blocks);
    d->vace_after = calloc((size_t)n, sizeof *d->vace_after);
    if (!d->vace_blocks || !d->vace_after) WANC_FAIL(WANC_ENOMEM, "DiT: out of memory (VACE)");
    for (int j = 0; j < n; j++) {
        TRY(dit_load_block(d, &d->vace_blocks[j], "vace_blocks", j));
        TRY(dit_get_linear(d, &d->vace_after[j], D, D, "vace_blocks.%d.after_proj", j));
    }
    return NULL;
}

wanc_err dit_vace_hints(const fwd *f, const wanc_dit *d, fwd_bufs *B, wanc_arena *A, const float *x, float *hints)
{
    const wanc_dit_config *cfg = &d->cfg;
    const wanc_dit_inputs *in = f->in;
    const int *p = cfg->patch;
    const int64_t S = B->S, D = B->D, n = cfg->vace_num_blocks;
    const int64_t Fp = in->F / p[0], Hp = in->H / p[1], Wp = in->W / p[2], Sv = Fp * Hp * Wp;
    const int64_t K = (int64_t)cfg->vace_in_dim * p[0] * p[1] * p[2];
    const int64_t FHW = in->F * in->H * in->W;
    float *c, *rows, *video, *stack = NULL;
    TRY(dit_alloc_f(A, &c, S * D));
    TRY(dit_alloc_f(A, &rows, Sv * K));
    TRY(dit_alloc_f(A, &video, in->vace_c * FHW));
    if (in->observe) TRY(dit_alloc_f(A, &stack, (n + 1) * S * D));

    /* patch embedding of the VACE context; rows past its Sv tokens are zero */
    TRY(f->be->upload(f->be, video, in->vace_context, (size_t)(in->vace_c * FHW) * sizeof(float)));
    TRY(nn_patchify(&f->nn, rows, K, 0, 0, 0, video, in->vace_c, in->F, in->H, in->W, p));
    TRY(dit_rnd(f, rows, Sv * K));
    TRY(dit_lin(f, c, rows, &d->vace_patch, Sv));
    TRY(f->be->fill(f->be, c + Sv * D, 0.0f, (S - Sv) * D));
    if (in->observe) {
        TRY(dit_tokens_to_channels(f, B->big, c, Sv, D));
        dit_observe(f, "vace.patch_conv", B->big, 5, (int64_t[]){1, D, Fp, Hp, Wp});
    }
    /* block 0: c = before_proj(c) + x */
    TRY(dit_lin(f, B->h, c, &d->vace_before, S));
    TRY(f->be->add(f->be, c, B->h, x, S * D));
    TRY(dit_rnd(f, c, S * D));

    float *x_main = B->x; /* the blocks run on B->x: point it at c for a while */
    B->x = c;
    wanc_err err = NULL;
    for (int j = 0; j < n && !err; j++) {
        float *hint = hints + j * S * D;
        err = dit_run_block(f, d, &d->vace_blocks[j], B);
        if (!err) err = dit_lin(f, hint, c, &d->vace_after[j], S);
        if (!err && in->observe) { /* DiffSynth's stacked [hint_0..hint_j, c] */
            char name[32];
            memcpy(stack, hints, sizeof(float) * (size_t)((j + 1) * S * D));
            memcpy(stack + (j + 1) * S * D, c, sizeof(float) * (size_t)(S * D));
            snprintf(name, sizeof name, "vace.block.%d", j);
            dit_observe(f, name, stack, 4, (int64_t[]){j + 2, 1, S, D});
            snprintf(name, sizeof name, "vace.hint.%d", j);
            dit_observe(f, name, hint, 3, (int64_t[]){1, S, D});
        }
    }
    B->x = x_main;
    return err;
}
