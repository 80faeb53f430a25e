/* The Wan2.1 DiT: loading (config inference, weight views) and the forward.
 *
 * The forward mirrors DiffSynth's model_fn_wan_video standard path. In bf16
 * mode every tensor torch keeps in bf16 is rounded after the op that made
 * it (`rnd`), including the intermediate products of `x * (1 + scale) +
 * shift` and `x + gate * y`, which torch evaluates as separate bf16 ops;
 * RMSNorm normalises in float32 and rounds before the weight multiply, RoPE
 * and the sinusoid run in float64. fp32 mode skips every rounding.
 */
#include "dit/wan_dit.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/arena.h"
#include "dit/dit_internal.h"


/* ---- config ----------------------------------------------------------------- */

static wanc_err need(const wanc_weights *w, const char *name, const wanc_tensor **t, int ndim)
{
    *t = wanc_weights_find(w, name);
    if (!*t)
        WANC_FAIL(WANC_EFORMAT, "%s: not a Wan DiT checkpoint: no tensor %s", wanc_weights_describe(w), name);
    if ((*t)->ndim != ndim) {
        char s[64];
        WANC_FAIL(WANC_ESHAPE, "%s: tensor %s has shape %s, expected %d dims", wanc_weights_describe(w), name,
                  wanc_shape_str(s, sizeof s, (*t)->ndim, (*t)->shape), ndim);
    }
    return NULL;
}

static wanc_err infer_config(wanc_dit_config *cfg, const wanc_weights *w, int num_heads_override,
                             const dit_stated *stated);

wanc_err wanc_dit_infer_config(wanc_dit_config *cfg, const wanc_weights *w, int num_heads_override)
{
    return infer_config(cfg, w, num_heads_override, NULL);
}

static wanc_err infer_config(wanc_dit_config *cfg, const wanc_weights *w, int num_heads_override,
                             const dit_stated *stated)
{
    memset(cfg, 0, sizeof *cfg);
    const wanc_tensor *t;
    TRY(need(w, "patch_embedding.weight", &t, 5));
    cfg->dim = (int)t->shape[0];
    cfg->in_dim = (int)t->shape[1];
    for (int i = 0; i < 3; i++) cfg->patch[i] = (int)t->shape[2 + i];
    TRY(need(w, "text_embedding.0.weight", &t, 2));
    cfg->text_dim = (int)t->shape[1];
    TRY(need(w, "time_embedding.0.weight", &t, 2));
    cfg->freq_dim = (int)t->shape[1];
    TRY(need(w, "blocks.0.ffn.0.weight", &t, 2));
    cfg->ffn_dim = (int)t->shape[0];
    TRY(need(w, "head.head.weight", &t, 2));
    int pp = cfg->patch[0] * cfg->patch[1] * cfg->patch[2];
    if (pp <= 0 || t->shape[0] % pp)
        WANC_FAIL(WANC_ESHAPE, "%s: head.head.weight has %lld rows, not a multiple of the patch volume %d",
                  wanc_weights_describe(w), (long long)t->shape[0], pp);
    cfg->out_dim = (int)(t->shape[0] / pp);
    char name[64];
    while (1) {
        snprintf(name, sizeof name, "blocks.%d.modulation", cfg->num_layers);
        if (!wanc_weights_has(w, name)) break;
        cfg->num_layers++;
    }
    cfg->has_image_input = wanc_weights_has(w, "blocks.0.cross_attn.k_img.weight");
    cfg->has_image_pos_emb = wanc_weights_has(w, "img_emb.emb_pos");
    if (cfg->has_image_input != wanc_weights_has(w, "img_emb.proj.1.weight"))
        WANC_FAIL(WANC_EFORMAT, "%s: unknown DiT layout: blocks.0.cross_attn.k_img %s but img_emb.proj.1 %s",
                  wanc_weights_describe(w), cfg->has_image_input ? "present" : "absent",
                  cfg->has_image_input ? "absent" : "present");
    if (cfg->has_image_input) { /* img_emb's input width: 1280 released, the tiny CLIP's in fixtures */
        const wanc_tensor *ln = wanc_weights_find(w, "img_emb.proj.0.weight");
        if (!ln || ln->ndim != 1 || ln->shape[0] < 1)
            WANC_FAIL(WANC_EFORMAT, "%s: unknown DiT layout: img_emb.proj.0.weight missing or not 1-D",
                      wanc_weights_describe(w));
        cfg->clip_dim = (int)ln->shape[0];
    }
    if (cfg->has_image_pos_emb && !cfg->has_image_input)
        WANC_FAIL(WANC_EFORMAT, "%s: unknown DiT layout: img_emb.emb_pos without image cross-attention",
                  wanc_weights_describe(w));
    cfg->eps = 1e-6f;
    int heads = num_heads_override > 0 ? num_heads_override : stated ? stated->num_heads : 0;
    const char *meta = wanc_weights_metadata(w, "num_heads");
    if (heads <= 0 && meta) {
        char *end;
        long v = strtol(meta, &end, 10);
        if (*end || v <= 0)
            WANC_FAIL(WANC_EFORMAT, "%s: metadata num_heads='%s' is not a positive integer",
                      wanc_weights_describe(w), meta);
        heads = (int)v;
    }
    if (heads <= 0) heads = cfg->dim / 128;
    if (heads <= 0 || cfg->dim % heads)
        WANC_FAIL(WANC_EINVAL, "%s: DiT dim %d is not divisible by num_heads %d", wanc_weights_describe(w),
                  cfg->dim, heads);
    cfg->num_heads = heads;
    if (cfg->num_layers == 0)
        WANC_FAIL(WANC_EFORMAT, "%s: not a Wan DiT checkpoint: no blocks.0.modulation", wanc_weights_describe(w));
    /* optional modules: Fun reference conv, Fun camera adapter, VACE */
    t = wanc_weights_find(w, "ref_conv.weight");
    cfg->has_ref_conv = t != NULL;
    if (t) {
        if (t->ndim != 4 || t->shape[0] != cfg->dim || t->shape[2] != cfg->patch[1] || t->shape[3] != cfg->patch[2]) {
            char s[64];
            WANC_FAIL(WANC_ESHAPE, "%s: ref_conv.weight has shape %s, expected [%d, C, %d, %d]",
                      wanc_weights_describe(w), wanc_shape_str(s, sizeof s, t->ndim, t->shape), cfg->dim,
                      cfg->patch[1], cfg->patch[2]);
        }
        cfg->ref_in_dim = (int)t->shape[1];
    }
    TRY(dit_camera_infer_config(cfg, w));
    TRY(dit_vace_infer_config(cfg, w, stated));
    return NULL;
}

/* ---- loading ------------------------------------------------------------------ */

static wanc_err keep_buf(wanc_dit *d, float *p)
{
    if (d->nbufs == d->capbufs) {
        int cap = d->capbufs ? 2 * d->capbufs : 64;
        float **nb = realloc(d->bufs, (size_t)cap * sizeof *nb);
        if (!nb) {
            free(p);
            WANC_FAIL(WANC_ENOMEM, "DiT: out of memory");
        }
        d->bufs = nb;
        d->capbufs = cap;
    }
    d->bufs[d->nbufs++] = p;
    return NULL;
}

/* A small parameter as float32 (bf16 mode: rounded, as the load-time cast). */
wanc_err dit_get_vec(wanc_dit *d, float **out, int ndim, const int64_t *shape, const char *fmt, ...)
{
    char name[160];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(name, sizeof name, fmt, ap);
    va_end(ap);
    float *p;
    TRY(wanc_weights_load_f32(d->store, name, &p, ndim, shape));
    TRY(keep_buf(d, p));
    if (d->bf16_weights) wanc_round_bf16_inplace(p, (size_t)wanc_numel(ndim, shape));
    *out = p;
    return NULL;
}

/* A weight as stored; bf16 mode turns an f32 one into an owned bf16 copy. */
wanc_err dit_view_weight(wanc_dit *d, const wanc_tensor **out, int ndim, const int64_t *shape, const char *name)
{
    const wanc_tensor *t;
    TRY(wanc_weights_get(d->store, name, &t, ndim, shape));
    if (!wanc_tensor_is_contiguous(t))
        WANC_FAIL(WANC_EUNSUPPORTED, "%s: tensor %s is not contiguous", wanc_weights_describe(d->store), name);
    /* fp8 and ggml block types stay compact in both modes: linear decodes them block by block */
    bool compact = wanc_dtype_is_quant(t->dtype) || t->dtype == WANC_F8_E4M3 || t->dtype == WANC_F8_E5M2;
    if (d->bf16_weights && t->dtype != WANC_BF16 && !compact) {
        if (d->nconv == d->capconv) {
            int cap = d->capconv ? 2 * d->capconv : 64;
            wanc_tensor **nc = realloc(d->conv, (size_t)cap * sizeof *nc);
            if (!nc) WANC_FAIL(WANC_ENOMEM, "DiT: out of memory");
            d->conv = nc;
            d->capconv = cap;
        }
        wanc_tensor *ct = calloc(1, sizeof *ct);
        if (!ct) WANC_FAIL(WANC_ENOMEM, "DiT: out of memory");
        wanc_err err = wanc_tensor_convert(ct, t, WANC_BF16);
        if (err) {
            free(ct);
            return wanc_error_context(err, "converting %s to bf16", name);
        }
        d->conv[d->nconv++] = ct;
        t = ct;
    } else if (!wanc_dtype_is_float(t->dtype)) {
        WANC_FAIL(WANC_EUNSUPPORTED, "%s: tensor %s has dtype %s; the DiT reads float weights (F32, BF16, F16, fp8, GGUF blocks)",
                  wanc_weights_describe(d->store), name, wanc_dtype_name(t->dtype));
    }
    *out = t;
    return NULL;
}

/* `<prefix>.weight` [n, k] and `<prefix>.bias` [n]. */
wanc_err dit_get_linear(wanc_dit *d, dit_linear *l, int64_t n, int64_t k, const char *fmt, ...)
{
    char prefix[128], name[160];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(prefix, sizeof prefix, fmt, ap);
    va_end(ap);
    snprintf(name, sizeof name, "%s.weight", prefix);
    TRY(dit_view_weight(d, &l->w, 2, (int64_t[]){n, k}, name));
    if (d->nlinears == d->caplinears) {
        int cap = d->caplinears ? 2 * d->caplinears : 64;
        dit_named_linear *nl = realloc(d->linears, (size_t)cap * sizeof *nl);
        if (!nl) WANC_FAIL(WANC_ENOMEM, "DiT: out of memory");
        d->linears = nl;
        d->caplinears = cap;
    }
    d->linears[d->nlinears] = (dit_named_linear){strdup(name), l};
    if (!d->linears[d->nlinears].name) WANC_FAIL(WANC_ENOMEM, "DiT: out of memory");
    d->nlinears++;
    snprintf(name, sizeof name, "%s.bias", prefix);
    TRY(dit_view_weight(d, &l->b, 1, (int64_t[]){n}, name));
    return NULL;
}

wanc_err wanc_dit_set_lora(wanc_dit *d, const wanc_lora_runtime *rt)
{
    int attached = 0;
    for (int i = 0; i < d->nlinears; i++) {
        d->linears[i].l->lora = wanc_lora_runtime_find(rt, d->linears[i].name);
        attached += d->linears[i].l->lora != NULL;
    }
    if (attached == wanc_lora_runtime_count(rt)) return NULL;
    for (int t = 0; t < wanc_lora_runtime_count(rt); t++) {
        const char *name = wanc_lora_runtime_target(rt, t);
        bool found = false;
        for (int i = 0; i < d->nlinears && !found; i++) found = !strcmp(d->linears[i].name, name);
        if (!found) {
            for (int i = 0; i < d->nlinears; i++) d->linears[i].l->lora = NULL;
            WANC_FAIL(WANC_EUNSUPPORTED, "run-time LoRA: %s is not a linear layer this DiT runs; fuse it instead",
                      name);
        }
    }
    return NULL;
}

wanc_err dit_load_block(wanc_dit *d, dit_block *b, const char *prefix, int i)
{
    const wanc_dit_config *c = &d->cfg;
    int64_t D = c->dim, Fd = c->ffn_dim;
    const int64_t v1[1] = {D};
    TRY(dit_get_linear(d, &b->q, D, D, "%s.%d.self_attn.q", prefix, i));
    TRY(dit_get_linear(d, &b->k, D, D, "%s.%d.self_attn.k", prefix, i));
    TRY(dit_get_linear(d, &b->v, D, D, "%s.%d.self_attn.v", prefix, i));
    TRY(dit_get_linear(d, &b->o, D, D, "%s.%d.self_attn.o", prefix, i));
    TRY(dit_get_vec(d, &b->norm_q, 1, v1, "%s.%d.self_attn.norm_q.weight", prefix, i));
    TRY(dit_get_vec(d, &b->norm_k, 1, v1, "%s.%d.self_attn.norm_k.weight", prefix, i));
    TRY(dit_get_linear(d, &b->cq, D, D, "%s.%d.cross_attn.q", prefix, i));
    TRY(dit_get_linear(d, &b->ck, D, D, "%s.%d.cross_attn.k", prefix, i));
    TRY(dit_get_linear(d, &b->cv, D, D, "%s.%d.cross_attn.v", prefix, i));
    TRY(dit_get_linear(d, &b->co, D, D, "%s.%d.cross_attn.o", prefix, i));
    TRY(dit_get_vec(d, &b->cnorm_q, 1, v1, "%s.%d.cross_attn.norm_q.weight", prefix, i));
    TRY(dit_get_vec(d, &b->cnorm_k, 1, v1, "%s.%d.cross_attn.norm_k.weight", prefix, i));
    if (c->has_image_input) {
        TRY(dit_get_linear(d, &b->ck_img, D, D, "%s.%d.cross_attn.k_img", prefix, i));
        TRY(dit_get_linear(d, &b->cv_img, D, D, "%s.%d.cross_attn.v_img", prefix, i));
        TRY(dit_get_vec(d, &b->cnorm_k_img, 1, v1, "%s.%d.cross_attn.norm_k_img.weight", prefix, i));
    }
    TRY(dit_get_vec(d, &b->norm3_w, 1, v1, "%s.%d.norm3.weight", prefix, i));
    TRY(dit_get_vec(d, &b->norm3_b, 1, v1, "%s.%d.norm3.bias", prefix, i));
    TRY(dit_get_linear(d, &b->ffn0, Fd, D, "%s.%d.ffn.0", prefix, i));
    TRY(dit_get_linear(d, &b->ffn2, D, Fd, "%s.%d.ffn.2", prefix, i));
    TRY(dit_get_vec(d, &b->modulation, 3, (int64_t[]){1, 6, D}, "%s.%d.modulation", prefix, i));
    return NULL;
}

static wanc_err load_all(wanc_dit *d)
{
    const wanc_dit_config *c = &d->cfg;
    int64_t D = c->dim;
    TRY(dit_view_weight(d, &d->patch.w, 5,
                    (int64_t[]){D, c->in_dim, c->patch[0], c->patch[1], c->patch[2]}, "patch_embedding.weight"));
    TRY(dit_view_weight(d, &d->patch.b, 1, (int64_t[]){D}, "patch_embedding.bias"));
    TRY(dit_get_linear(d, &d->text0, D, c->text_dim, "text_embedding.0"));
    TRY(dit_get_linear(d, &d->text2, D, D, "text_embedding.2"));
    TRY(dit_get_linear(d, &d->time0, D, c->freq_dim, "time_embedding.0"));
    TRY(dit_get_linear(d, &d->time2, D, D, "time_embedding.2"));
    TRY(dit_get_linear(d, &d->tproj, 6 * D, D, "time_projection.1"));
    int64_t pp = (int64_t)c->patch[0] * c->patch[1] * c->patch[2];
    TRY(dit_get_linear(d, &d->head, c->out_dim * pp, D, "head.head"));
    TRY(dit_get_vec(d, &d->head_mod, 3, (int64_t[]){1, 2, D}, "head.modulation"));
    if (c->has_image_input) {
        const int64_t ci[1] = {c->clip_dim}, cd[1] = {D};
        TRY(dit_get_vec(d, &d->img_ln0_w, 1, ci, "img_emb.proj.0.weight"));
        TRY(dit_get_vec(d, &d->img_ln0_b, 1, ci, "img_emb.proj.0.bias"));
        TRY(dit_get_linear(d, &d->img1, c->clip_dim, c->clip_dim, "img_emb.proj.1"));
        TRY(dit_get_linear(d, &d->img3, D, c->clip_dim, "img_emb.proj.3"));
        TRY(dit_get_vec(d, &d->img_ln4_w, 1, cd, "img_emb.proj.4.weight"));
        TRY(dit_get_vec(d, &d->img_ln4_b, 1, cd, "img_emb.proj.4.bias"));
        if (c->has_image_pos_emb)
            TRY(dit_get_vec(d, &d->emb_pos, 3, (int64_t[]){1, 2 * WANC_DIT_CLIP_TOKENS, c->clip_dim},
                        "img_emb.emb_pos"));
    }
    d->blocks = calloc((size_t)c->num_layers, sizeof *d->blocks);
    if (!d->blocks) WANC_FAIL(WANC_ENOMEM, "DiT: out of memory");
    for (int i = 0; i < c->num_layers; i++) TRY(dit_load_block(d, &d->blocks[i], "blocks", i));
    if (c->has_ref_conv) {
        TRY(dit_view_weight(d, &d->ref_conv.w, 4, (int64_t[]){D, c->ref_in_dim, c->patch[1], c->patch[2]},
                            "ref_conv.weight"));
        TRY(dit_view_weight(d, &d->ref_conv.b, 1, (int64_t[]){D}, "ref_conv.bias"));
    }
    TRY(dit_camera_load(d));
    TRY(dit_vace_load(d));
    return NULL;
}

wanc_err wanc_dit_load(wanc_dit **out, const wanc_backend *be, wanc_weights *w, const wanc_dit_options *opt)
{
    *out = NULL;
    wanc_dit_options o = opt ? *opt : (wanc_dit_options){0};
    if (wanc_dit_is_diffusers(w)) TRYC(wanc_weights_rename(w, wanc_dit_diffusers_name, NULL), "diffusers DiT names");
    wanc_dit *d = calloc(1, sizeof *d);
    if (!d) WANC_FAIL(WANC_ENOMEM, "DiT: out of memory");
    d->be = be;
    d->store = w;
    d->bf16 = o.precision == WANC_DIT_BF16;
    d->bf16_weights = d->bf16 || o.bf16_weights;
    d->stream_blocks = o.stream_blocks;
    wanc_arena_init(&d->arena, 0);
    dit_stated stated;
    wanc_err err = dit_config_parse(&stated, o.config_json);
    if (!err) err = infer_config(&d->cfg, w, o.num_heads, &stated);
    if (!err) err = dit_config_check(&d->cfg, o.config_json);
    if (!err) err = load_all(d);
    if (err) {
        wanc_dit_free(d);
        return wanc_error_context(err, "loading DiT from %s", wanc_weights_describe(w));
    }
    *out = d;
    return NULL;
}

const wanc_weights *wanc_dit_store(const wanc_dit *dit) { return dit ? dit->store : NULL; }
void wanc_dit_set_streaming(wanc_dit *dit, bool on) { dit->stream_blocks = on; }

wanc_err wanc_dit_open(wanc_dit **out, const wanc_backend *be, const char *path, const wanc_dit_options *opt)
{
    wanc_weights *w;
    TRY(wanc_weights_open(&w, path));
    wanc_err err = wanc_dit_load(out, be, w, opt);
    if (err) {
        wanc_weights_close(w);
        return err;
    }
    (*out)->owns_store = true;
    return NULL;
}

void wanc_dit_free(wanc_dit *d)
{
    if (!d) return;
    dit_prefetch_stop(d);
    for (int i = 0; i < d->nbufs; i++) free(d->bufs[i]);
    free(d->bufs);
    for (int i = 0; i < d->nconv; i++) {
        wanc_tensor_free(d->conv[i]);
        free(d->conv[i]);
    }
    free(d->conv);
    for (int i = 0; i < d->nlinears; i++) free(d->linears[i].name);
    free(d->linears);
    free(d->blocks);
    free(d->vace_blocks);
    free(d->vace_after);
    wanc_arena_free(&d->arena);
    if (d->owns_store) wanc_weights_close(d->store);
    free(d);
}

const wanc_dit_config *wanc_dit_get_config(const wanc_dit *d) { return &d->cfg; }

/* ---- forward helpers ------------------------------------------------------------ */


wanc_err dit_rnd(const fwd *f, float *x, int64_t n) { return f->bf16 ? f->be->round_bf16(f->be, x, n) : NULL; }

/* out[M, N] = x[M, K] · Wᵀ + b, one rounding. */
wanc_err dit_lin(const fwd *f, float *out, const float *x, const dit_linear *l, int64_t M)
{
    TRY(f->be->linear(f->be, out, x, l->w, l->b, M));
    if (l->lora) TRY(wanc_lora_delta_apply(f->be, out, x, M, l->lora));
    return dit_rnd(f, out, M * l->w->shape[0]);
}

/* out[r, :] = x[r, :] · vec (one float32 product per element, then rounded). */
static wanc_err mul_rows(const fwd *f, float *out, const float *x, const float *vec, int64_t rows, int64_t dim)
{
    TRY(f->be->mul_rows(f->be, out, x, vec, rows, dim));
    return dit_rnd(f, out, rows * dim);
}

/* out = x · (1 + scale) + shift: torch rounds 1+scale, the product and the sum. */
static wanc_err modulate(const fwd *f, float *out, const float *x, const float *shift, const float *scale,
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

void dit_observe(const fwd *f, const char *name, const float *data, int ndim, const int64_t *shape)
{
    if (f->in->observe) f->in->observe(f->in->observe_user, name, data, ndim, shape);
}

wanc_err dit_alloc_f(wanc_arena *a, float **p, int64_t n)
{
    return wanc_arena_alloc(a, (void **)p, (size_t)(n > 0 ? n : 1) * sizeof(float));
}

/* ---- the forward -------------------------------------------------------------------- */


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
    SEGS TRY(modulate(f, ROWS(B->h), ROWS(B->h), m(sg, 0), m(sg, 1), NROWS, D));
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
    SEGS TRY(modulate(f, ROWS(B->h), ROWS(B->h), m(sg, 3), m(sg, 4), NROWS, D));
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

wanc_err wanc_dit_forward(wanc_dit *d, const wanc_dit_inputs *in, float *out)
{
    TRY(check_inputs(d, in));
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
    fwd f = {.be = be, .bf16 = d->bf16, .in = in};
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
    int64_t ctxin = in->ctx_len * c->text_dim, headn = S * c->out_dim * pt * ph * pw;
    float *tf, *tvec, *tmp, *ctxin_b, *img_a, *head_b, *hints = NULL;
    wanc_err err = NULL;
    TRY_GOTO(err, done, dit_alloc_f(A, &f.zeros, vmax));
    TRY_GOTO(err, done, dit_alloc_f(A, &f.vtmp, vmax));
    TRY_GOTO(err, done, dit_alloc_f(A, &tf, c->freq_dim));
    TRY_GOTO(err, done, dit_alloc_f(A, &tvec, 2 * D));
    TRY_GOTO(err, done, dit_alloc_f(A, &tmp, 6 * D));
    TRY_GOTO(err, done, dit_alloc_f(A, &B.t_mod, 2 * 6 * D));
    TRY_GOTO(err, done, dit_alloc_f(A, &B.mod, 2 * 6 * D));
    TRY_GOTO(err, done, dit_alloc_f(A, &ctxin_b, ctxin));
    TRY_GOTO(err, done, dit_alloc_f(A, &B.ctx, L * D));
    TRY_GOTO(err, done, dit_alloc_f(A, &img_a, Lc * c->clip_dim));
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
    TRY_GOTO(err, done, dit_alloc_f(A, &head_b, headn));
    TRY_GOTO(err, done, wanc_arena_alloc(A, (void **)&B.rope, (size_t)S * hd * sizeof(double)));
    memset(f.zeros, 0, (size_t)vmax * sizeof(float));

    /* timestep ranges (bf16 mode: the bf16 timestep) */
    {
        float t = d->bf16 ? wanc_round_bf16(in->timestep) : in->timestep;
        int64_t n0 = in->zero_first_frame ? (Fp > 0 ? Hp * Wp : 0) : S;
        B.nseg = 0;
        if (n0 > 0) B.seg_begin[B.nseg] = 0, B.seg_end[B.nseg] = n0, B.seg_t[B.nseg++] = in->zero_first_frame ? 0 : t;
        if (n0 < S) B.seg_begin[B.nseg] = n0, B.seg_end[B.nseg] = S, B.seg_t[B.nseg++] = t;
    }
    /* time embedding per range: float64 sinusoid, MLP, projection to t_mod */
    {
        double *sd;
        TRY_GOTO(err, done, wanc_arena_alloc(A, (void **)&sd, (size_t)c->freq_dim * sizeof(double)));
        for (int sg = 0; sg < B.nseg; sg++) {
            float *tv = tvec + sg * D, *tm = B.t_mod + sg * 6 * D;
            wanc_dit_sinusoid(sd, c->freq_dim, B.seg_t[sg]);
            for (int i = 0; i < c->freq_dim; i++) tf[i] = (float)sd[i];
            TRY_GOTO(err, done, dit_rnd(&f, tf, c->freq_dim));
            if (!in->zero_first_frame) dit_observe(&f, "t_freq", tf, 2, (int64_t[]){1, c->freq_dim});
            TRY_GOTO(err, done, dit_lin(&f, tmp, tf, &d->time0, 1));
            TRY_GOTO(err, done, be->silu(be, tmp, tmp, D));
            TRY_GOTO(err, done, dit_rnd(&f, tmp, D));
            TRY_GOTO(err, done, dit_lin(&f, tv, tmp, &d->time2, 1));
            TRY_GOTO(err, done, be->silu(be, tmp, tv, D));
            TRY_GOTO(err, done, dit_rnd(&f, tmp, D));
            TRY_GOTO(err, done, dit_lin(&f, tm, tmp, &d->tproj, 1));
            if (in->t_mod_add) {
                TRY_GOTO(err, done, be->add(be, tm, tm, in->t_mod_add, 6 * D));
                TRY_GOTO(err, done, dit_rnd(&f, tm, 6 * D));
            }
        }
        if (!in->zero_first_frame) {
            dit_observe(&f, "t", tvec, 2, (int64_t[]){1, D});
            dit_observe(&f, "t_mod", B.t_mod, 3, (int64_t[]){1, 6, D});
        } else if (in->observe) {
            TRY_GOTO(err, done, observe_per_token(&f, A, &B, c->freq_dim, tvec, sd));
        }
    }

    /* context = [img_emb(clip), text_embedding(context)] */
    {
        float *ctx_emb = B.ctx + Lc * D;
        memcpy(ctxin_b, in->context, (size_t)ctxin * sizeof(float));
        TRY_GOTO(err, done, dit_rnd(&f, ctxin_b, ctxin));
        TRY_GOTO(err, done, dit_lin(&f, B.big, ctxin_b, &d->text0, in->ctx_len));
        TRY_GOTO(err, done, be->gelu_tanh(be, B.big, B.big, in->ctx_len * D));
        TRY_GOTO(err, done, dit_rnd(&f, B.big, in->ctx_len * D));
        TRY_GOTO(err, done, dit_lin(&f, ctx_emb, B.big, &d->text2, in->ctx_len));
        dit_observe(&f, "context_emb", ctx_emb, 3, (int64_t[]){1, in->ctx_len, D});
        if (in->clip) {
            int64_t n = Lc * c->clip_dim;
            memcpy(img_a, in->clip, (size_t)n * sizeof(float));
            TRY_GOTO(err, done, dit_rnd(&f, img_a, n));
            if (d->emb_pos) {
                TRY_GOTO(err, done, be->add(be, img_a, img_a, d->emb_pos, n));
                TRY_GOTO(err, done, dit_rnd(&f, img_a, n));
            }
            /* nn.LayerNorm defaults (eps 1e-5) and exact-erf GELU, unlike the rest of the DiT */
            TRY_GOTO(err, done, be->layer_norm(be, img_a, img_a, d->img_ln0_w, d->img_ln0_b, Lc, c->clip_dim,
                                               1e-5f));
            TRY_GOTO(err, done, dit_rnd(&f, img_a, n));
            TRY_GOTO(err, done, dit_lin(&f, B.big, img_a, &d->img1, Lc));
            TRY_GOTO(err, done, be->gelu_erf(be, B.big, B.big, n));
            TRY_GOTO(err, done, dit_rnd(&f, B.big, n));
            TRY_GOTO(err, done, dit_lin(&f, B.ctx, B.big, &d->img3, Lc));
            TRY_GOTO(err, done, be->layer_norm(be, B.ctx, B.ctx, d->img_ln4_w, d->img_ln4_b, Lc, D, 1e-5f));
            TRY_GOTO(err, done, dit_rnd(&f, B.ctx, Lc * D));
            dit_observe(&f, "clip_emb", B.ctx, 3, (int64_t[]){1, Lc, D});
        }
        dit_observe(&f, "context", B.ctx, 3, (int64_t[]){1, L, D});
    }

    /* patch embedding as a linear over patches: row (f,h,w), column (c,kt,kh,kw);
     * the video tokens go after the Sr reference tokens */
    {
        float *xv = B.x + Sr * D;
        dit_patchify(B.big, in->latents, in->lat_c, in->y, c->in_dim, in->F, in->H, in->W, c->patch);
        TRY_GOTO(err, done, dit_rnd(&f, B.big, Sv * K));
        TRY_GOTO(err, done, dit_lin(&f, xv, B.big, &d->patch, Sv));
        if (in->observe) { /* the conv's own layout [1, dim, F, H/2, W/2] */
            dit_tokens_to_channels(B.big, xv, Sv, D);
            dit_observe(&f, "patch_conv", B.big, 5, (int64_t[]){1, D, Fp, Hp, Wp});
        }
        if (in->camera) { /* Fun camera: + control_adapter(camera) [dim, F, Hp, Wp] */
            float *cam;
            TRY_GOTO(err, done, dit_alloc_f(A, &cam, D * Sv));
            TRY_GOTO(err, done, dit_camera_forward(&f, d, A, in->camera, in->F, in->H, in->W, cam));
            dit_observe(&f, "camera_adapter", cam, 5, (int64_t[]){1, D, Fp, Hp, Wp});
            for (int64_t tok = 0; tok < Sv; tok++)
                for (int64_t j = 0; j < D; j++) xv[tok * D + j] += cam[j * Sv + tok];
            TRY_GOTO(err, done, dit_rnd(&f, xv, Sv * D));
        }
        if (in->reference) { /* Fun control: ref_conv(reference) tokens first */
            dit_patchify(B.big, in->reference, in->ref_c, NULL, in->ref_c, 1, in->H, in->W,
                         (const int[3]){1, ph, pw});
            TRY_GOTO(err, done, dit_rnd(&f, B.big, Sr * in->ref_c * ph * pw));
            TRY_GOTO(err, done, dit_lin(&f, B.x, B.big, &d->ref_conv, Sr));
            if (in->observe) {
                dit_tokens_to_channels(B.big, B.x, Sr, D);
                dit_observe(&f, "ref_conv", B.big, 4, (int64_t[]){1, D, Hp, Wp});
            }
        }
        dit_observe(&f, "x_tokens", B.x, 3, (int64_t[]){1, S, D});
    }

    /* reference tokens take RoPE frame 0, the video frames 1..F */
    TRY_GOTO(err, done, wanc_dit_rope_table(B.rope, Fp + (Sr ? 1 : 0), Hp, Wp, (int)hd));
    if (in->observe) {
        for (int64_t i = 0; i < S * hd; i++) B.big[i] = (float)B.rope[i];
        dit_observe(&f, "rope_freqs", B.big, 3, (int64_t[]){S, hd / 2, 2});
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
                TRY_GOTO(err, done, be->add(be, B.x, B.x, B.h, S * D));
                TRY_GOTO(err, done, dit_rnd(&f, B.x, S * D));
            }
        }
        if (in->cache) TRY_GOTO(err, done, in->cache->store(in->cache->user, B.x, S * D));
    }

    /* head: (shift, scale) = head.modulation + t; Linear(LN(x)(1+scale)+shift) */
    {
        dit_observe(&f, "head_in", B.x, 3, (int64_t[]){1, S, D});
        TRY_GOTO(err, done, be->layer_norm(be, B.h, B.x, NULL, NULL, S, D, c->eps));
        TRY_GOTO(err, done, dit_rnd(&f, B.h, S * D));
        for (int sg = 0; sg < B.nseg; sg++) {
            float *hm = B.mod + sg * 2 * D, *rows = B.h + B.seg_begin[sg] * D;
            TRY_GOTO(err, done, be->add(be, hm, d->head_mod, tvec + sg * D, D));
            TRY_GOTO(err, done, be->add(be, hm + D, d->head_mod + D, tvec + sg * D, D));
            TRY_GOTO(err, done, dit_rnd(&f, hm, 2 * D));
            TRY_GOTO(err, done, modulate(&f, rows, rows, hm, hm + D, B.seg_end[sg] - B.seg_begin[sg], D));
        }
        TRY_GOTO(err, done, dit_lin(&f, head_b, B.h, &d->head, S));
        int64_t P = (int64_t)c->out_dim * pt * ph * pw;
        dit_observe(&f, "head_out", head_b, 3, (int64_t[]){1, S, P});
        /* unpatchify the video tokens (reference tokens dropped):
         * features (kt, kh, kw, c) → out[c, F, H, W] */
        for (int64_t tok = 0; tok < Sv; tok++) {
            int64_t fi = tok / (Hp * Wp), hi = tok / Wp % Hp, wi = tok % Wp;
            const float *row = head_b + (Sr + tok) * P;
            for (int kt = 0; kt < pt; kt++)
                for (int kh = 0; kh < ph; kh++)
                    for (int kw = 0; kw < pw; kw++)
                        for (int ch = 0; ch < c->out_dim; ch++)
                            out[((ch * in->F + fi * pt + kt) * in->H + hi * ph + kh) * in->W + wi * pw + kw] =
                                *row++;
        }
    }

done:;
    if (d->stream_blocks) dit_prefetch_wait(d); /* nothing reads the mapping once the forward returns */
    /* Size the arena's one block for this call so the next one allocates nothing. */
    size_t peak = wanc_arena_peak(A);
    wanc_arena_restore(A, d->arena_base);
    if (peak + 64 > A->block_size) { /* it chained blocks: re-make one block of the peak size now */
        wanc_arena_free(A);
        wanc_arena_init(A, peak + 4096);
        void *p;
        wanc_err perr = wanc_arena_alloc(A, &p, 64);
        d->arena_primed = perr == NULL;
        if (d->arena_primed) d->arena_base = wanc_arena_save(A);
        if (!err) err = perr;
        else wanc_error_free(perr);
    }
    return err;
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
