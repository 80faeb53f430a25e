/* Loading the Wan DiT: the config inferred from tensor names and shapes,
 * weight views (bf16 mode: f32 weights converted once), run-time LoRA
 * attachment, and freeing. The forward is in dit_forward.c. */
#include "dit/wan_dit.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

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
    if (heads <= 0)
        WANC_FAIL(WANC_EINVAL, "%s: the DiT's head count is not stated (no num_heads metadata or config) and its dim "
                  "%d is under 128, the head width of every Wan release: give the head count (--dit-heads)",
                  wanc_weights_describe(w), cfg->dim);
    if (cfg->dim % heads)
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

/* The activation arena's blocks come from the backend. */
static wanc_err arena_be_alloc(const void *user, void **out, size_t bytes)
{
    const wanc_backend *be = user;
    return be->alloc(be, out, bytes);
}

static void arena_be_free(const void *user, void *p)
{
    const wanc_backend *be = user;
    be->free(be, p);
}

wanc_err dit_stage(wanc_dit *d, size_t bytes, double **out)
{
    if (bytes > d->stage_bytes) {
        double *p = realloc(d->stage, bytes);
        if (!p) WANC_FAIL(WANC_ENOMEM, "DiT: out of memory for a %zu-byte staging buffer", bytes);
        d->stage = p;
        d->stage_bytes = bytes;
    }
    *out = d->stage;
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
    wanc_arena_init_with(&d->arena, 0, &(wanc_arena_allocator){arena_be_alloc, arena_be_free, be});
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
    free(d->stage);
    if (d->owns_store) wanc_weights_close(d->store);
    free(d);
}

const wanc_dit_config *wanc_dit_get_config(const wanc_dit *d) { return &d->cfg; }
