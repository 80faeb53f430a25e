/* The DiT's parameters by checkpoint name (see dit_params.h). */
#include "dit/dit_params.h"

#include <stdio.h>
#include <string.h>

#include "dit/dit_internal.h"

static wanc_err from_linear(const dit_linear *l, const char *field, wanc_dit_param *out)
{
    const wanc_tensor *t = !strcmp(field, "weight") ? l->w : !strcmp(field, "bias") ? l->b : NULL;
    if (!t) return wanc_error(WANC_ENOTFOUND, "no %s", field);
    out->tensor = t;
    out->numel = wanc_tensor_numel(t);
    return NULL;
}

static wanc_err block_param(const wanc_dit *d, const dit_block *b, const char *rest, wanc_dit_param *out)
{
    const int64_t D = d->cfg.dim;
    struct {
        const char *name;
        float *v;
        int64_t n;
    } vecs[] = {{"self_attn.norm_q.weight", b->norm_q, D},   {"self_attn.norm_k.weight", b->norm_k, D},
                {"cross_attn.norm_q.weight", b->cnorm_q, D}, {"cross_attn.norm_k.weight", b->cnorm_k, D},
                {"cross_attn.norm_k_img.weight", b->cnorm_k_img, D},
                {"norm3.weight", b->norm3_w, D},             {"norm3.bias", b->norm3_b, D},
                {"modulation", b->modulation, 6 * D}};
    for (size_t i = 0; i < sizeof vecs / sizeof vecs[0]; i++)
        if (vecs[i].v && !strcmp(rest, vecs[i].name)) {
            out->vec = vecs[i].v;
            out->numel = vecs[i].n;
            return NULL;
        }
    struct {
        const char *name;
        const dit_linear *l;
    } lins[] = {{"self_attn.q", &b->q},   {"self_attn.k", &b->k},   {"self_attn.v", &b->v},
                {"self_attn.o", &b->o},   {"cross_attn.q", &b->cq}, {"cross_attn.k", &b->ck},
                {"cross_attn.v", &b->cv}, {"cross_attn.o", &b->co}, {"cross_attn.k_img", &b->ck_img},
                {"cross_attn.v_img", &b->cv_img}, {"ffn.0", &b->ffn0}, {"ffn.2", &b->ffn2}};
    for (size_t i = 0; i < sizeof lins / sizeof lins[0]; i++) {
        size_t n = strlen(lins[i].name);
        if (lins[i].l->w && !strncmp(rest, lins[i].name, n) && rest[n] == '.')
            return from_linear(lins[i].l, rest + n + 1, out);
    }
    return wanc_error(WANC_ENOTFOUND, "unknown");
}

wanc_err wanc_dit_param_find(wanc_dit *d, const char *name, wanc_dit_param *out)
{
    memset(out, 0, sizeof *out);
    const int64_t D = d->cfg.dim;
    wanc_err err = NULL;
    int blk = -1, used = 0;
    if (sscanf(name, "blocks.%d.%n", &blk, &used) == 1 && used > 0) {
        if (blk < 0 || blk >= d->cfg.num_layers) err = wanc_error(WANC_ENOTFOUND, "no such block");
        else err = block_param(d, &d->blocks[blk], name + used, out);
    } else if (!strcmp(name, "head.modulation")) {
        out->vec = d->head_mod;
        out->numel = 2 * D;
    } else if (d->cfg.has_image_input && !strncmp(name, "img_emb.", 8) && !strstr(name, "proj.1.") &&
               !strstr(name, "proj.3.")) {
        const int64_t cd = d->cfg.clip_dim;
        struct {
            const char *name;
            float *v;
            int64_t n;
        } vecs[] = {{"img_emb.proj.0.weight", d->img_ln0_w, cd}, {"img_emb.proj.0.bias", d->img_ln0_b, cd},
                    {"img_emb.proj.4.weight", d->img_ln4_w, D},  {"img_emb.proj.4.bias", d->img_ln4_b, D},
                    {"img_emb.emb_pos", d->emb_pos, 2 * WANC_DIT_CLIP_TOKENS * cd}};
        err = wanc_error(WANC_ENOTFOUND, "unknown");
        for (size_t i = 0; i < sizeof vecs / sizeof vecs[0]; i++)
            if (vecs[i].v && !strcmp(name, vecs[i].name)) {
                wanc_error_free(err);
                err = NULL;
                out->vec = vecs[i].v;
                out->numel = vecs[i].n;
                break;
            }
    } else {
        struct {
            const char *name;
            const dit_linear *l;
        } lins[] = {{"patch_embedding", &d->patch},   {"text_embedding.0", &d->text0}, {"text_embedding.2", &d->text2},
                    {"time_embedding.0", &d->time0},  {"time_embedding.2", &d->time2}, {"time_projection.1", &d->tproj},
                    {"head.head", &d->head}, {"img_emb.proj.1", &d->img1}, {"img_emb.proj.3", &d->img3}};
        err = wanc_error(WANC_ENOTFOUND, "unknown");
        for (size_t i = 0; i < sizeof lins / sizeof lins[0]; i++) {
            size_t n = strlen(lins[i].name);
            if (!strncmp(name, lins[i].name, n) && name[n] == '.') {
                wanc_error_free(err);
                err = from_linear(lins[i].l, name + n + 1, out);
                break;
            }
        }
    }
    if (err) {
        wanc_error_free(err);
        memset(out, 0, sizeof *out);
        WANC_FAIL(WANC_ENOTFOUND, "DiT %s: no parameter %s", wanc_weights_describe(d->store), name);
    }
    return NULL;
}
