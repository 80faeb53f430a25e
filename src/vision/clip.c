/* CLIP ViT image encoder (see clip.h). */
#include "vision/clip.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "vision/resample.h"
#include "wanc.h"

const float wanc_clip_mean[3] = {0.48145466f, 0.4578275f, 0.40821073f};
const float wanc_clip_std[3] = {0.26862954f, 0.26130258f, 0.27577711f};

typedef struct clip_block {
    wanc_tensor q_w, k_w, v_w;          /* [D, D] each: the row blocks of open-clip's to_qkv, or HF's q/k/v_proj */
    wanc_tensor q_b, k_b, v_b;          /* [D] */
    const wanc_tensor *proj_w, *proj_b; /* [D, D], [D] */
    const wanc_tensor *fc1_w, *fc1_b;   /* [mlp, D], [mlp] */
    const wanc_tensor *fc2_w, *fc2_b;   /* [D, mlp], [D] */
    float *norm1_w, *norm1_b, *norm2_w, *norm2_b; /* [D] host copies */
} clip_block;

struct wanc_clip {
    wanc_clip_config cfg;
    const wanc_tensor *patch_w; /* [D, 3, p, p] */
    float *cls, *pos;           /* [D], [L, D] */
    float *pre_w, *pre_b;       /* [D] */
    clip_block *blocks;         /* cfg.layers − 1 that run */
    bool bf16;                  /* round every op's result to bf16 */
};

void wanc_clip_set_bf16(wanc_clip *m, bool bf16) { m->bf16 = bf16; }

const wanc_clip_config *wanc_clip_get_config(const wanc_clip *m) { return &m->cfg; }

void wanc_clip_free(wanc_clip *m)
{
    if (!m) return;
    free(m->cls);
    free(m->pos);
    free(m->pre_w);
    free(m->pre_b);
    if (m->blocks)
        for (int i = 0; i < m->cfg.layers - 1; i++) {
            clip_block *b = &m->blocks[i];
            free(b->norm1_w), free(b->norm1_b), free(b->norm2_w), free(b->norm2_b);
        }
    free(m->blocks);
    free(m);
}

static wanc_err load_f32f(const wanc_weights *w, float **out, int64_t n, const char *fmt, int i)
{
    char name[128];
    snprintf(name, sizeof name, fmt, i);
    return wanc_weights_load_f32(w, name, out, 1, (int64_t[]){n});
}

static wanc_err load_block(clip_block *b, const wanc_weights *w, int i, int64_t D, int64_t mlp)
{
    char name[96];
    snprintf(name, sizeof name, "visual.transformer.%d.attn.to_qkv.weight", i);
    if (wanc_weights_has(w, name)) { /* open-clip: one [3D, D] projection, rows q | k | v */
        const wanc_tensor *qkv_w, *qkv_b;
        TRY(wanc_weights_get(w, name, &qkv_w, 2, (int64_t[]){3 * D, D}));
        TRY(wanc_weights_getf(w, &qkv_b, 1, (int64_t[]){3 * D}, "visual.transformer.%d.attn.to_qkv.bias", i));
        b->q_w = wanc_tensor_narrow(qkv_w, 0, 0, D), b->k_w = wanc_tensor_narrow(qkv_w, 0, D, D);
        b->v_w = wanc_tensor_narrow(qkv_w, 0, 2 * D, D);
        b->q_b = wanc_tensor_narrow(qkv_b, 0, 0, D), b->k_b = wanc_tensor_narrow(qkv_b, 0, D, D);
        b->v_b = wanc_tensor_narrow(qkv_b, 0, 2 * D, D);
    } else { /* Hugging Face: three projections (renamed to attn.q/k/v by wanc_clip_hf_name) */
        const char *part[3] = {"q", "k", "v"};
        wanc_tensor *wt[3] = {&b->q_w, &b->k_w, &b->v_w}, *bt[3] = {&b->q_b, &b->k_b, &b->v_b};
        for (int k = 0; k < 3; k++) {
            const wanc_tensor *t;
            TRY(wanc_weights_getf(w, &t, 2, (int64_t[]){D, D}, "visual.transformer.%d.attn.%s.weight", i, part[k]));
            *wt[k] = *t;
            TRY(wanc_weights_getf(w, &t, 1, (int64_t[]){D}, "visual.transformer.%d.attn.%s.bias", i, part[k]));
            *bt[k] = *t;
        }
    }
    TRY(wanc_weights_getf(w, &b->proj_w, 2, (int64_t[]){D, D}, "visual.transformer.%d.attn.proj.weight", i));
    TRY(wanc_weights_getf(w, &b->proj_b, 1, (int64_t[]){D}, "visual.transformer.%d.attn.proj.bias", i));
    TRY(wanc_weights_getf(w, &b->fc1_w, 2, (int64_t[]){mlp, D}, "visual.transformer.%d.mlp.0.weight", i));
    TRY(wanc_weights_getf(w, &b->fc1_b, 1, (int64_t[]){mlp}, "visual.transformer.%d.mlp.0.bias", i));
    TRY(wanc_weights_getf(w, &b->fc2_w, 2, (int64_t[]){D, mlp}, "visual.transformer.%d.mlp.2.weight", i));
    TRY(wanc_weights_getf(w, &b->fc2_b, 1, (int64_t[]){D}, "visual.transformer.%d.mlp.2.bias", i));
    TRY(load_f32f(w, &b->norm1_w, D, "visual.transformer.%d.norm1.weight", i));
    TRY(load_f32f(w, &b->norm1_b, D, "visual.transformer.%d.norm1.bias", i));
    TRY(load_f32f(w, &b->norm2_w, D, "visual.transformer.%d.norm2.weight", i));
    TRY(load_f32f(w, &b->norm2_b, D, "visual.transformer.%d.norm2.bias", i));
    return NULL;
}

static wanc_err clip_load(wanc_clip *m, const wanc_weights *w, int heads)
{
    wanc_clip_config *c = &m->cfg;
    const char *src = wanc_weights_describe(w);
    const wanc_tensor *pw = wanc_weights_find(w, "visual.patch_embedding.weight");
    if (!pw) WANC_FAIL(WANC_ENOTFOUND, "%s: no tensor visual.patch_embedding.weight (not a CLIP checkpoint?)", src);
    if (pw->ndim != 4 || pw->shape[1] != 3 || pw->shape[2] != pw->shape[3] || pw->shape[0] <= 0 ||
        pw->shape[2] <= 0) {
        char s[64];
        WANC_FAIL(WANC_ESHAPE, "%s: visual.patch_embedding.weight has shape %s, expected [width, 3, p, p]", src,
                  wanc_shape_str(s, sizeof s, pw->ndim, pw->shape));
    }
    m->patch_w = pw;
    c->width = (int)pw->shape[0];
    c->patch = (int)pw->shape[2];
    const wanc_tensor *pos = wanc_weights_find(w, "visual.pos_embedding");
    if (!pos) WANC_FAIL(WANC_ENOTFOUND, "%s: no tensor visual.pos_embedding", src);
    /* open-clip [1, tokens, D]; Hugging Face [tokens, D] */
    if (!(pos->ndim == 3 && pos->shape[0] == 1 && pos->shape[2] == c->width) &&
        !(pos->ndim == 2 && pos->shape[1] == c->width)) {
        char s[64];
        WANC_FAIL(WANC_ESHAPE, "%s: visual.pos_embedding has shape %s, expected [1, tokens, %d]", src,
                  wanc_shape_str(s, sizeof s, pos->ndim, pos->shape), c->width);
    }
    c->tokens = (int)pos->shape[pos->ndim - 2];
    c->grid = (int)lround(sqrt((double)(c->tokens - 1)));
    if (c->tokens < 2 || (int64_t)c->grid * c->grid != c->tokens - 1)
        WANC_FAIL(WANC_ESHAPE, "%s: visual.pos_embedding has %d tokens, expected 1 + a square number", src,
                  c->tokens);
    c->image_size = c->grid * c->patch;
    c->eps = 1e-5f;
    for (c->layers = 0;; c->layers++) {
        char name[96];
        snprintf(name, sizeof name, "visual.transformer.%d.norm1.weight", c->layers);
        if (!wanc_weights_has(w, name)) break;
    }
    if (c->layers < 1) WANC_FAIL(WANC_ENOTFOUND, "%s: no visual.transformer.0.* tensors", src);
    const wanc_tensor *fc1 = wanc_weights_find(w, "visual.transformer.0.mlp.0.weight");
    if (!fc1 || fc1->ndim != 2)
        WANC_FAIL(WANC_ENOTFOUND, "%s: no 2-d tensor visual.transformer.0.mlp.0.weight", src);
    c->mlp = (int)fc1->shape[0];
    if (heads <= 0) {
        if (c->width % 80)
            WANC_FAIL(WANC_EINVAL, "%s: width %d is not a multiple of the real head size 80; give the head count",
                      src, c->width);
        heads = c->width / 80;
    }
    if (c->width % heads)
        WANC_FAIL(WANC_EINVAL, "%s: width %d does not split into %d heads", src, c->width, heads);
    c->heads = heads;
    c->head_dim = c->width / heads;

    int64_t D = c->width;
    const wanc_tensor *cls = wanc_weights_find(w, "visual.cls_embedding");
    bool hf_shapes = cls && cls->ndim == 1; /* HF: class_embedding [D], position_embedding [tokens, D] */
    TRY(wanc_weights_load_f32(w, "visual.cls_embedding", &m->cls, hf_shapes ? 1 : 3,
                              hf_shapes ? (int64_t[]){D} : (int64_t[]){1, 1, D}));
    TRY(wanc_weights_load_f32(w, "visual.pos_embedding", &m->pos, pos->ndim,
                              pos->ndim == 2 ? (int64_t[]){c->tokens, D} : (int64_t[]){1, c->tokens, D}));
    TRY(wanc_weights_load_f32(w, "visual.pre_norm.weight", &m->pre_w, 1, (int64_t[]){D}));
    TRY(wanc_weights_load_f32(w, "visual.pre_norm.bias", &m->pre_b, 1, (int64_t[]){D}));
    m->blocks = calloc((size_t)c->layers, sizeof *m->blocks);
    if (!m->blocks) WANC_FAIL(WANC_ENOMEM, "CLIP: out of memory");
    /* use_31_block: the last block is stored but never runs */
    for (int i = 0; i < c->layers - 1; i++) TRYC(load_block(&m->blocks[i], w, i, D, c->mlp), "%s: CLIP block %d", src, i);
    return NULL;
}

wanc_err wanc_clip_load(wanc_clip **out, const wanc_weights *w, int heads)
{
    *out = NULL;
    wanc_clip *m = calloc(1, sizeof *m);
    if (!m) WANC_FAIL(WANC_ENOMEM, "CLIP: out of memory");
    wanc_err err = clip_load(m, w, heads);
    if (err) {
        wanc_clip_free(m);
        return err;
    }
    *out = m;
    return NULL;
}

static inline float round_if(float x, bool bf16) { return bf16 ? wanc_round_bf16(x) : x; }

wanc_err wanc_clip_prepare_input(float *out, float *interpolated, const float *image, int H, int W, int image_size,
                                 bool bf16)
{
    int S = image_size;
    size_t plane = (size_t)S * S;
    TRYC(wanc_interpolate_bicubic(out, S, S, image, 3, H, W), "CLIP input");
    if (bf16) wanc_round_bf16_inplace(out, 3 * plane);
    if (interpolated) memcpy(interpolated, out, 3 * plane * sizeof(float));
    for (int c = 0; c < 3; c++) {
        float *p = out + c * plane, mean = round_if(wanc_clip_mean[c], bf16), std = round_if(wanc_clip_std[c], bf16);
        /* x·0.5 + 0.5 (two ops, as mul_ then add_), then (x − mean) / std */
        for (size_t i = 0; i < plane; i++) {
            float v = round_if(p[i] * 0.5f, bf16);
            v = round_if(v + 0.5f, bf16);
            v = round_if(v - mean, bf16);
            p[i] = round_if(v / std, bf16);
        }
    }
    return NULL;
}

double wanc_clip_flops(const wanc_clip_config *c)
{
    double L = c->tokens, D = c->width, P = (double)c->grid * c->grid, K = 3.0 * c->patch * c->patch;
    double per_block = 2 * L * D * (3 * D) + 2 * L * D * D + 2 * 2 * L * D * c->mlp + 2 * 2 * L * L * D;
    return 2 * P * K * D + (c->layers - 1) * per_block;
}

/* Every activation buffer of one forward, in backend memory. */
typedef struct {
    float *x, *h, *q, *k, *v, *a, *f, *patches; /* [L,D] x6, [L,mlp], [grid², 3p²] */
    float *params; /* pos, cls, pre_w, pre_b, then per block norm1_w, norm1_b, norm2_w, norm2_b */
} clip_buffers;

static wanc_err trace_stage(const wanc_backend *be, wanc_clip_trace_fn trace, void *user, float *host,
                            const char *stage, const float *dev, int rows, int D)
{
    if (!trace) return NULL;
    TRY(be->download(be, host, dev, (size_t)rows * D * sizeof(float)));
    trace(user, stage, host, 2, (int64_t[]){rows, D});
    return NULL;
}

/* Round n values to bf16 in bf16 mode (torch rounds every op's result). */
static wanc_err maybe_round(const wanc_clip *m, const wanc_backend *be, float *x, int64_t n)
{
    return m->bf16 ? be->round_bf16(be, x, n) : NULL;
}

static wanc_err run_block(const wanc_clip *m, const wanc_backend *be, const clip_block *b, const float *norms,
                          const clip_buffers *s)
{
    const wanc_clip_config *c = &m->cfg;
    int64_t L = c->tokens, D = c->width;
#define R(p, n) TRY(maybe_round(m, be, (p), (n)))
    /* attention */
    TRY(be->layer_norm(be, s->h, s->x, norms, norms + D, L, D, c->eps));
    R(s->h, L * D);
    TRY(be->linear(be, s->q, s->h, &b->q_w, &b->q_b, L));
    TRY(be->linear(be, s->k, s->h, &b->k_w, &b->k_b, L));
    TRY(be->linear(be, s->v, s->h, &b->v_w, &b->v_b, L));
    R(s->q, 3 * L * D); /* q, k, v are adjacent */
    TRY(be->attention(be, s->a, s->q, s->k, s->v, L, L, c->heads, c->head_dim, 1.0f / sqrtf((float)c->head_dim),
                      NULL, NULL));
    R(s->a, L * D);
    TRY(be->linear(be, s->h, s->a, b->proj_w, b->proj_b, L));
    R(s->h, L * D);
    TRY(be->add(be, s->x, s->x, s->h, L * D));
    R(s->x, L * D);
    /* MLP */
    TRY(be->layer_norm(be, s->h, s->x, norms + 2 * D, norms + 3 * D, L, D, c->eps));
    R(s->h, L * D);
    TRY(be->linear(be, s->f, s->h, b->fc1_w, b->fc1_b, L));
    R(s->f, L * c->mlp);
    TRY(be->gelu_erf(be, s->f, s->f, L * c->mlp));
    R(s->f, L * c->mlp);
    TRY(be->linear(be, s->h, s->f, b->fc2_w, b->fc2_b, L));
    R(s->h, L * D);
    TRY(be->add(be, s->x, s->x, s->h, L * D));
    R(s->x, L * D);
    return NULL;
}

/* Upload the small float32 parameters (pos, cls, pre_norm, block norms) into
 * s->params, staged through the host buffer `stage`. */
static wanc_err upload_params(const wanc_clip *m, const wanc_backend *be, const clip_buffers *s, float *stage)
{
    const wanc_clip_config *c = &m->cfg;
    int64_t L = c->tokens, D = c->width;
    int nrun = c->layers - 1;
    size_t np = (size_t)(L * D + 3 * D + 4 * D * nrun), row = (size_t)D * sizeof(float);
    memcpy(stage, m->pos, (size_t)L * row);
    memcpy(stage + L * D, m->cls, row);
    memcpy(stage + L * D + D, m->pre_w, row);
    memcpy(stage + L * D + 2 * D, m->pre_b, row);
    for (int i = 0; i < nrun; i++) {
        float *d = stage + L * D + 3 * D + 4 * D * i;
        const clip_block *b = &m->blocks[i];
        memcpy(d, b->norm1_w, row);
        memcpy(d + D, b->norm1_b, row);
        memcpy(d + 2 * D, b->norm2_w, row);
        memcpy(d + 3 * D, b->norm2_b, row);
    }
    if (m->bf16) wanc_round_bf16_inplace(stage, np); /* a bf16 model holds bf16 parameters */
    return be->upload(be, s->params, stage, np * sizeof(float));
}

/* Upload x[3, S, S] as its flattened p x p patches [grid², 3·p·p] in (c, ky, kx)
 * order, the layout of the conv weight [D, 3, p, p]: the patch conv is then one linear. */
static wanc_err upload_patches(const wanc_clip *m, const wanc_backend *be, const clip_buffers *s, const float *x,
                               float *stage)
{
    const wanc_clip_config *c = &m->cfg;
    int64_t p = c->patch, G = c->grid, K = 3 * p * p, S = c->image_size;
    for (int64_t gy = 0; gy < G; gy++)
        for (int64_t gx = 0; gx < G; gx++) {
            float *row = stage + (gy * G + gx) * K;
            for (int64_t ch = 0; ch < 3; ch++)
                for (int64_t ky = 0; ky < p; ky++)
                    memcpy(row + (ch * p + ky) * p, x + (ch * S + gy * p + ky) * S + gx * p, (size_t)p * sizeof(float));
        }
    return be->upload(be, s->patches, stage, (size_t)(G * G * K) * sizeof(float));
}

static wanc_err clip_forward(const wanc_clip *m, const wanc_backend *be, float *out, const float *x,
                             wanc_clip_trace_fn trace, void *user, clip_buffers *s, float *host, float *stage)
{
    const wanc_clip_config *c = &m->cfg;
    int64_t L = c->tokens, D = c->width, G = c->grid;
    int nrun = c->layers - 1;
    TRY(upload_params(m, be, s, stage));
    TRY(upload_patches(m, be, s, x, stage));
    TRY(be->linear(be, s->x + D, s->patches, m->patch_w, NULL, G * G));
    R(s->x + D, G * G * D);
    if (trace) {
        /* [grid², D] → [D, grid, grid] as the conv output */
        TRY(be->download(be, host, s->x + D, (size_t)(G * G * D) * sizeof(float)));
        float *t = host + L * D;
        for (int64_t i = 0; i < G * G; i++)
            for (int64_t d = 0; d < D; d++) t[d * G * G + i] = host[i * D + d];
        trace(user, "00_patch_embedding", t, 3, (int64_t[]){D, G, G});
    }
    const float *dpos = s->params, *dcls = s->params + L * D, *dpre = s->params + L * D + D;
    TRY(be->scale(be, s->x, dcls, 1.0f, 0.0f, D)); /* row 0 = class token */
    TRY(be->add(be, s->x, s->x, dpos, L * D));
    R(s->x, L * D);
    TRY(trace_stage(be, trace, user, host, "01_embeddings", s->x, (int)L, (int)D));
    TRY(be->layer_norm(be, s->x, s->x, dpre, dpre + D, L, D, c->eps));
    R(s->x, L * D);
    TRY(trace_stage(be, trace, user, host, "02_pre_norm", s->x, (int)L, (int)D));
    for (int i = 0; i < nrun; i++) {
        TRYC(run_block(m, be, &m->blocks[i], s->params + L * D + 3 * D + 4 * D * i, s), "CLIP block %d", i);
        char stage[48];
        snprintf(stage, sizeof stage, "%02d_transformer.%d", i + 3, i);
        TRY(trace_stage(be, trace, user, host, stage, s->x, (int)L, (int)D));
    }
    return be->download(be, out, s->x, (size_t)(L * D) * sizeof(float));
#undef R
}

wanc_err wanc_clip_encode(const wanc_clip *m, const wanc_backend *be, float *out, const float *x,
                          wanc_clip_trace_fn trace, void *trace_user)
{
    const wanc_clip_config *c = &m->cfg;
    int64_t L = c->tokens, D = c->width, G = c->grid, K = 3 * (int64_t)c->patch * c->patch;
    int nrun = c->layers - 1;
    size_t n_act = (size_t)(6 * L * D + L * c->mlp + G * G * K);
    size_t n_par = (size_t)(L * D + 3 * D + 4 * D * nrun);
    float *base = NULL, *host = NULL, *stage = NULL;
    TRY(be->alloc(be, (void **)&base, (n_act + n_par) * sizeof(float)));
    clip_buffers s;
    s.x = base;
    s.h = s.x + L * D;
    s.q = s.h + L * D;
    s.k = s.q + L * D;
    s.v = s.k + L * D;
    s.a = s.v + L * D;
    s.f = s.a + L * D;
    s.patches = s.f + L * c->mlp;
    s.params = s.patches + G * G * K;
    wanc_err err = NULL;
    size_t n_patches = (size_t)(G * G * K);
    if (!(stage = malloc((n_par > n_patches ? n_par : n_patches) * sizeof(float))))
        err = wanc_error(WANC_ENOMEM, "CLIP: out of memory for the upload buffer");
    if (!err && trace && !(host = malloc(2 * (size_t)(L * D) * sizeof(float))))
        err = wanc_error(WANC_ENOMEM, "CLIP: out of memory for the trace buffer");
    if (!err) err = clip_forward(m, be, out, x, trace, trace_user, &s, host, stage);
    free(host);
    free(stage);
    be->free(be, base);
    return err;
}

/* ---- random checkpoint ---------------------------------------------------- */

typedef struct {
    uint64_t s;
} clip_rng;

static uint64_t rng_next(clip_rng *r)
{
    uint64_t z = (r->s += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

static float rng_normal(clip_rng *r)
{
    double u1 = ((rng_next(r) >> 11) + 0.5) * (1.0 / 9007199254740992.0);
    double u2 = (rng_next(r) >> 11) * (1.0 / 9007199254740992.0);
    return (float)(sqrt(-2.0 * log(u1)) * cos(6.283185307179586 * u2));
}

/* Fill t (F32 or BF16) with mean + std·N(0,1). */
static void fill_normal(wanc_tensor *t, clip_rng *r, float mean, float std)
{
    int64_t n = wanc_tensor_numel(t);
    for (int64_t i = 0; i < n; i++) {
        float v = mean + std * rng_normal(r);
        if (t->dtype == WANC_BF16) ((uint16_t *)t->data)[i] = wanc_f32_to_bf16(v);
        else ((float *)t->data)[i] = v;
    }
}

wanc_err wanc_clip_write_random(const char *path, int width, int layers, int patch, int image_size, wanc_dtype dt,
                                uint64_t seed)
{
    if (width <= 0 || layers <= 0 || patch <= 0 || image_size <= 0 || image_size % patch)
        WANC_FAIL(WANC_EINVAL, "clip random model: bad config width %d layers %d patch %d image %d", width, layers,
                  patch, image_size);
    if (dt != WANC_F32 && dt != WANC_BF16)
        WANC_FAIL(WANC_EUNSUPPORTED, "clip random model: dtype %s (F32 or BF16 only)", wanc_dtype_name(dt));
    int64_t D = width, G = image_size / patch, L = 1 + G * G, M = 4 * D, E = 1024;
    int n = 9 + 12 * layers; /* 6 stem + 12 per block + post_norm (2) + head */
    char(*names)[96] = calloc((size_t)n, sizeof *names);
    const char **np = calloc((size_t)n, sizeof *np);
    wanc_tensor *ts = calloc((size_t)n, sizeof *ts);
    wanc_err err = NULL;
    if (!names || !np || !ts) {
        err = wanc_error(WANC_ENOMEM, "clip random model: out of memory");
        goto done;
    }
    clip_rng rng = {seed};
    int k = 0;
#define ADD(shape_nd, shape_arr, mean, std, ...)                                                              \
    do {                                                                                                      \
        snprintf(names[k], sizeof names[k], __VA_ARGS__);                                                     \
        np[k] = names[k];                                                                                     \
        TRY_GOTO(err, done, wanc_tensor_alloc(&ts[k], dt, shape_nd, shape_arr));                              \
        fill_normal(&ts[k], &rng, mean, std);                                                                 \
        k++;                                                                                                  \
    } while (0)
    float sd = 1.0f / sqrtf((float)D), sm = 1.0f / sqrtf((float)M), sp = 1.0f / sqrtf((float)(3 * patch * patch));
    ADD(0, ((int64_t[]){1}), 2.6f, 0.0f, "log_scale"); /* a scalar, as in the real file */
    ADD(3, ((int64_t[]){1, 1, D}), 0.0f, sd, "visual.cls_embedding");
    ADD(3, ((int64_t[]){1, L, D}), 0.0f, 0.02f, "visual.pos_embedding");
    ADD(4, ((int64_t[]){D, 3, patch, patch}), 0.0f, sp, "visual.patch_embedding.weight");
    ADD(1, ((int64_t[]){D}), 1.0f, 0.1f, "visual.pre_norm.weight");
    ADD(1, ((int64_t[]){D}), 0.0f, 0.05f, "visual.pre_norm.bias");
    for (int i = 0; i < layers; i++) {
        ADD(1, ((int64_t[]){D}), 1.0f, 0.1f, "visual.transformer.%d.norm1.weight", i);
        ADD(1, ((int64_t[]){D}), 0.0f, 0.05f, "visual.transformer.%d.norm1.bias", i);
        ADD(2, ((int64_t[]){3 * D, D}), 0.0f, sd, "visual.transformer.%d.attn.to_qkv.weight", i);
        ADD(1, ((int64_t[]){3 * D}), 0.0f, 0.05f, "visual.transformer.%d.attn.to_qkv.bias", i);
        ADD(2, ((int64_t[]){D, D}), 0.0f, sd, "visual.transformer.%d.attn.proj.weight", i);
        ADD(1, ((int64_t[]){D}), 0.0f, 0.05f, "visual.transformer.%d.attn.proj.bias", i);
        ADD(1, ((int64_t[]){D}), 1.0f, 0.1f, "visual.transformer.%d.norm2.weight", i);
        ADD(1, ((int64_t[]){D}), 0.0f, 0.05f, "visual.transformer.%d.norm2.bias", i);
        ADD(2, ((int64_t[]){M, D}), 0.0f, sd, "visual.transformer.%d.mlp.0.weight", i);
        ADD(1, ((int64_t[]){M}), 0.0f, 0.05f, "visual.transformer.%d.mlp.0.bias", i);
        ADD(2, ((int64_t[]){D, M}), 0.0f, sm, "visual.transformer.%d.mlp.2.weight", i);
        ADD(1, ((int64_t[]){D}), 0.0f, 0.05f, "visual.transformer.%d.mlp.2.bias", i);
    }
    /* post_norm and head: stored in the real file, unused by the image path */
    ADD(1, ((int64_t[]){D}), 1.0f, 0.1f, "visual.post_norm.weight");
    ADD(1, ((int64_t[]){D}), 0.0f, 0.05f, "visual.post_norm.bias");
    ADD(2, ((int64_t[]){D, E}), 0.0f, sd, "visual.head");
#undef ADD
    err = wanc_safetensors_write(path, k, np, ts, (const char *const[]){"format", "pt", "wanc", "random clip-vit-h-14", NULL});
done:
    if (ts)
        for (int i = 0; i < n; i++) wanc_tensor_free(&ts[i]);
    free(ts);
    free(np);
    free(names);
    return err;
}

wanc_err wanc_random_clip(const char *path, const char *dtype, unsigned long long seed, int width, int layers)
{
    wanc_dtype dt;
    if (!strcmp(dtype, "f32") || !strcmp(dtype, "F32")) dt = WANC_F32;
    else if (!strcmp(dtype, "bf16") || !strcmp(dtype, "BF16")) dt = WANC_BF16;
    else WANC_FAIL(WANC_EINVAL, "random clip: dtype '%s' (f32 or bf16)", dtype);
    return wanc_clip_write_random(path, width > 0 ? width : 1280, layers > 0 ? layers : 32, 14, 224, dt, seed);
}
