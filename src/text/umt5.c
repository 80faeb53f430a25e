/* UMT5 encoder (see umt5.h for the math and the tensor layout). */
#include "text/umt5.h"

#include <float.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* torch.finfo(torch.bfloat16).min: the additive mask of a bf16 run. */
#define UMT5_BF16_MIN (-0x1.fep127f)

typedef struct umt5_layer {
    const wanc_tensor *q, *k, *v, *o;      /* [dim_attn, dim] ×3, [dim, dim_attn] */
    const wanc_tensor *gate, *fc1, *fc2;   /* [dim_ffn, dim] ×2, [dim, dim_ffn] */
    float *norm1, *norm2;                  /* [dim], backend memory */
    const float *pos_table;                /* [num_buckets, num_heads], host memory */
} umt5_layer;

struct wanc_umt5 {
    wanc_umt5_config cfg;
    const wanc_backend *be;
    wanc_weights *owned_store; /* set by wanc_umt5_open */
    const wanc_weights *store;
    const wanc_tensor *embedding; /* [vocab, dim] */
    float *norm;                  /* [dim], backend memory */
    float **pos_tables;           /* host copies, one per distinct table */
    int npos_tables;
    umt5_layer *layers;
};

wanc_umt5_config wanc_umt5_config_xxl(void)
{
    return (wanc_umt5_config){.vocab = 256384, .dim = 4096, .dim_attn = 4096, .dim_ffn = 10240,
                              .num_heads = 64, .num_layers = 24, .num_buckets = 32, .shared_pos = false};
}

int wanc_umt5_bucket(int64_t rel_pos, int num_buckets, int max_distance)
{
    int half = num_buckets / 2; /* one half per sign of the offset */
    int bucket = rel_pos > 0 ? half : 0;
    int64_t a = rel_pos < 0 ? -rel_pos : rel_pos;
    int max_exact = half / 2;
    if (a < max_exact) return bucket + (int)a;
    /* The same float32 steps as torch: log(a / max_exact) / log(max_dist / max_exact)
     * * (half - max_exact), truncated; the log ratio constant is a double cast to float. */
    float ratio = logf((float)a / (float)max_exact) / (float)log((double)max_distance / max_exact);
    int64_t large = max_exact + (int64_t)(ratio * (float)(half - max_exact));
    if (large > half - 1) large = half - 1;
    return bucket + (int)large;
}

/* ---- loading ------------------------------------------------------------ */

static wanc_err check_weight_dtype(const wanc_weights *w, const char *name, const wanc_tensor *t)
{
    if (!wanc_dtype_is_float(t->dtype))
        WANC_FAIL(WANC_EUNSUPPORTED, "%s: tensor %s has dtype %s (UMT5 weights must be float: F32, BF16, F16, fp8, GGUF blocks)",
                  wanc_weights_describe(w), name, wanc_dtype_name(t->dtype));
    return NULL;
}

static const char *pos_name(bool shared, int layer, char *buf, size_t cap)
{
    if (shared) snprintf(buf, cap, "pos_embedding.embedding.weight");
    else snprintf(buf, cap, "blocks.%d.pos_embedding.embedding.weight", layer);
    return buf;
}

wanc_err wanc_umt5_config_infer(wanc_umt5_config *cfg, const wanc_weights *w)
{
    const char *file = wanc_weights_describe(w);
    char s[96], name[128];
    memset(cfg, 0, sizeof *cfg);

    const wanc_tensor *emb = wanc_weights_find(w, "token_embedding.weight");
    if (!emb) WANC_FAIL(WANC_ENOTFOUND, "%s: not a UMT5 encoder: no tensor token_embedding.weight", file);
    if (emb->ndim != 2)
        WANC_FAIL(WANC_ESHAPE, "%s: token_embedding.weight is %s, expected [vocab, dim] (fits no UMT5 config)", file,
                  wanc_shape_str(s, sizeof s, emb->ndim, emb->shape));
    cfg->vocab = emb->shape[0];
    cfg->dim = emb->shape[1];

    while (wanc_weights_has(w, (snprintf(name, sizeof name, "blocks.%d.attn.q.weight", (int)cfg->num_layers), name)))
        cfg->num_layers++;
    if (cfg->num_layers == 0) WANC_FAIL(WANC_ENOTFOUND, "%s: not a UMT5 encoder: no tensor blocks.0.attn.q.weight", file);

    const wanc_tensor *t;
    TRYC(wanc_weights_get(w, "blocks.0.attn.q.weight", &t, 2, (int64_t[]){-1, cfg->dim}),
         "UMT5 encoder (dim %lld from token_embedding.weight)", (long long)cfg->dim);
    cfg->dim_attn = t->shape[0];
    TRYC(wanc_weights_get(w, "blocks.0.ffn.fc1.weight", &t, 2, (int64_t[]){-1, cfg->dim}),
         "UMT5 encoder (dim %lld from token_embedding.weight)", (long long)cfg->dim);
    cfg->dim_ffn = t->shape[0];

    cfg->shared_pos = !wanc_weights_has(w, "blocks.0.pos_embedding.embedding.weight") &&
                      wanc_weights_has(w, "pos_embedding.embedding.weight");
    pos_name(cfg->shared_pos, 0, name, sizeof name);
    TRYC(wanc_weights_get(w, name, &t, 2, (int64_t[]){-1, -1}), "UMT5 encoder: relative-position bias table");
    cfg->num_buckets = t->shape[0];
    cfg->num_heads = t->shape[1];
    if (cfg->num_heads <= 0 || cfg->dim_attn % cfg->num_heads != 0)
        WANC_FAIL(WANC_ESHAPE, "%s: %s is %s: %lld heads do not divide dim_attn %lld (fits no UMT5 config)", file,
                  name, wanc_shape_str(s, sizeof s, t->ndim, t->shape), (long long)cfg->num_heads,
                  (long long)cfg->dim_attn);
    /* Bidirectional buckets need at least one exact and one log-spaced bucket per sign. */
    if (cfg->num_buckets < 4 || cfg->num_buckets % 2 != 0)
        WANC_FAIL(WANC_ESHAPE, "%s: %s is %s: %lld buckets (need an even count >= 4; fits no UMT5 config)", file, name,
                  wanc_shape_str(s, sizeof s, t->ndim, t->shape), (long long)cfg->num_buckets);
    if (cfg->dim <= 0 || cfg->dim_attn <= 0 || cfg->dim_ffn <= 0 || cfg->vocab <= 0)
        WANC_FAIL(WANC_ESHAPE, "%s: empty UMT5 dimensions (vocab %lld, dim %lld, dim_attn %lld, dim_ffn %lld)", file,
                  (long long)cfg->vocab, (long long)cfg->dim, (long long)cfg->dim_attn, (long long)cfg->dim_ffn);
    return NULL;
}

static wanc_err upload_f32(const wanc_backend *be, float **dst, const wanc_weights *w, const char *name, int64_t n)
{
    float *host = NULL;
    TRY(wanc_weights_load_f32(w, name, &host, 1, (int64_t[]){n}));
    wanc_err err = be->alloc(be, (void **)dst, (size_t)n * sizeof(float));
    if (!err) err = be->upload(be, *dst, host, (size_t)n * sizeof(float));
    free(host);
    return err;
}

static wanc_err get_weight(const wanc_weights *w, const wanc_tensor **out, int64_t rows, int64_t cols, const char *fmt,
                           int layer)
{
    char name[128];
    snprintf(name, sizeof name, fmt, layer);
    TRY(wanc_weights_get(w, name, out, 2, (int64_t[]){rows, cols}));
    return check_weight_dtype(w, name, *out);
}

static wanc_err load_layers(wanc_umt5 *m)
{
    const wanc_weights *w = m->store;
    const wanc_umt5_config *c = &m->cfg;
    int64_t D = c->dim, A = c->dim_attn, F = c->dim_ffn;
    m->npos_tables = c->shared_pos ? 1 : (int)c->num_layers;
    m->pos_tables = calloc((size_t)m->npos_tables, sizeof *m->pos_tables);
    m->layers = calloc((size_t)c->num_layers, sizeof *m->layers);
    if (!m->pos_tables || !m->layers) WANC_FAIL(WANC_ENOMEM, "UMT5: out of memory for %lld layers", (long long)c->num_layers);
    for (int i = 0; i < m->npos_tables; i++) {
        char name[128];
        pos_name(c->shared_pos, i, name, sizeof name);
        TRY(wanc_weights_load_f32(w, name, &m->pos_tables[i], 2, (int64_t[]){c->num_buckets, c->num_heads}));
    }
    for (int i = 0; i < (int)c->num_layers; i++) {
        umt5_layer *L = &m->layers[i];
        TRY(get_weight(w, &L->q, A, D, "blocks.%d.attn.q.weight", i));
        TRY(get_weight(w, &L->k, A, D, "blocks.%d.attn.k.weight", i));
        TRY(get_weight(w, &L->v, A, D, "blocks.%d.attn.v.weight", i));
        TRY(get_weight(w, &L->o, D, A, "blocks.%d.attn.o.weight", i));
        TRY(get_weight(w, &L->gate, F, D, "blocks.%d.ffn.gate.0.weight", i));
        TRY(get_weight(w, &L->fc1, F, D, "blocks.%d.ffn.fc1.weight", i));
        TRY(get_weight(w, &L->fc2, D, F, "blocks.%d.ffn.fc2.weight", i));
        char name[128];
        snprintf(name, sizeof name, "blocks.%d.norm1.weight", i);
        TRY(upload_f32(m->be, &L->norm1, w, name, D));
        snprintf(name, sizeof name, "blocks.%d.norm2.weight", i);
        TRY(upload_f32(m->be, &L->norm2, w, name, D));
        L->pos_table = m->pos_tables[c->shared_pos ? 0 : i];
    }
    TRY(upload_f32(m->be, &m->norm, w, "norm.weight", D));
    return NULL;
}

wanc_err wanc_umt5_load(wanc_umt5 **out, const wanc_weights *w, const wanc_backend *be)
{
    *out = NULL;
    wanc_umt5 *m = calloc(1, sizeof *m);
    if (!m) WANC_FAIL(WANC_ENOMEM, "UMT5: out of memory");
    m->be = be;
    m->store = w;
    wanc_err err = wanc_umt5_config_infer(&m->cfg, w);
    if (!err) err = get_weight(w, &m->embedding, m->cfg.vocab, m->cfg.dim, "token_embedding.weight", 0);
    if (!err) err = load_layers(m);
    if (err) {
        wanc_umt5_free(m);
        return wanc_error_context(err, "loading the UMT5 encoder");
    }
    *out = m;
    return NULL;
}

wanc_err wanc_umt5_open(wanc_umt5 **out, const char *path, const wanc_backend *be)
{
    *out = NULL;
    wanc_weights *w;
    TRY(wanc_weights_open(&w, path));
    wanc_err err = NULL;
    if (wanc_umt5_is_hf(w)) {
        bool has_shared = wanc_weights_has(w, "shared.weight");
        err = wanc_error_context(wanc_weights_rename(w, wanc_umt5_hf_name, &has_shared), "HF T5 names");
    }
    if (!err) err = wanc_umt5_load(out, w, be);
    if (err) {
        wanc_weights_close(w);
        return err;
    }
    (*out)->owned_store = w;
    return NULL;
}

const wanc_weights *wanc_umt5_store(const wanc_umt5 *m) { return m ? m->store : NULL; }

void wanc_umt5_free(wanc_umt5 *m)
{
    if (!m) return;
    const wanc_backend *be = m->be;
    if (m->layers)
        for (int i = 0; i < (int)m->cfg.num_layers; i++) {
            if (m->layers[i].norm1) be->free(be, m->layers[i].norm1);
            if (m->layers[i].norm2) be->free(be, m->layers[i].norm2);
        }
    if (m->norm) be->free(be, m->norm);
    if (m->pos_tables)
        for (int i = 0; i < m->npos_tables; i++) free(m->pos_tables[i]);
    free(m->pos_tables);
    free(m->layers);
    wanc_weights_close(m->owned_store);
    free(m);
}

const wanc_umt5_config *wanc_umt5_get_config(const wanc_umt5 *m) { return &m->cfg; }

void wanc_umt5_zero_padding(float *emb, const int64_t *mask, int64_t L, int64_t dim)
{
    int64_t valid = 0;
    for (int64_t i = 0; i < L; i++) valid += mask[i] != 0;
    if (valid < L) memset(emb + valid * dim, 0, (size_t)((L - valid) * dim) * sizeof(float));
}

/* ---- forward ------------------------------------------------------------- */

/* Activation buffers of one encode call (backend memory unless noted). */
typedef struct umt5_work {
    const wanc_backend *be;
    bool bf16;
    int64_t n;               /* tokens computed */
    float *x, *h, *t;        /* [n, dim] residual stream, normed input / block output, scratch */
    float *q, *k, *v, *att;  /* [n, dim_attn] */
    float *f1, *f2;          /* [n, dim_ffn] */
    float *bias;             /* [heads, n, n] position bias (bf16 path: mask folded in) */
    float *logits;           /* [n, n] one head's scores (bf16 path only) */
    uint8_t *key_mask;       /* [n] (fp32 path) */
    float *host_bias;        /* host [heads, n, n] */
    int *buckets;            /* host [2n-1]: bucket of rel = j - i, indexed rel + n - 1 */
    float *diag;             /* host [2n-1] */
} umt5_work;

/* Round to bf16 in bf16 mode (torch rounds every op's result there). */
static wanc_err round_if(const umt5_work *w, float *x, int64_t n)
{
    return w->bf16 ? w->be->round_bf16(w->be, x, n) : NULL;
}

/* y = x·wᵀ followed by ep (GELU, or x += y with res), each result rounded
 * as round_if rounds it: the backend's fused op when it has one, else the
 * separate ops (the same bits). */
static wanc_err linear_then(const umt5_work *w, float *y, const float *x, const wanc_tensor *wt, wanc_epilogue ep,
                            int64_t n)
{
    const wanc_backend *be = w->be;
    const int64_t N = wt->shape[0];
    ep.round_bf16 = w->bf16;
    ep.nranges = 1;
    ep.range_end[0] = n;
    if (be->linear_fused) return be->linear_fused(be, y, x, wt, NULL, n, &ep);
    TRY(be->linear(be, y, x, wt, NULL, n));
    TRY(round_if(w, y, n * N));
    if (ep.kind == WANC_EPILOGUE_GELU_TANH) {
        TRY(be->gelu_tanh(be, y, y, n * N));
        return round_if(w, y, n * N);
    }
    TRY(be->add(be, ep.residual, ep.residual, y, n * N));
    return round_if(w, ep.residual, n * N);
}

/* out[n, dim] = T5LayerNorm(x[n, dim]) with weight [dim].
 * fp32: x · rsqrt(mean x² + eps) · w. bf16: the normalised value is cast to
 * bf16 before × weight, and the product rounded again. */
static wanc_err t5_norm(const umt5_work *w, float *out, const float *x, const float *weight, int64_t dim)
{
    const wanc_backend *be = w->be;
    int64_t n = w->n;
    if (!w->bf16) return be->rms_norm(be, out, x, weight, n, dim, WANC_UMT5_EPS);
    TRY(be->rms_norm(be, w->t, x, NULL, n, dim, WANC_UMT5_EPS));
    TRY(be->round_bf16(be, w->t, n * dim));
    TRY(be->mul_rows(be, out, w->t, weight, n, dim));
    return be->round_bf16(be, out, n * dim);
}

/* Fill w->bias[h, i, j] = table[bucket(j - i), h] (+ the mask in bf16 mode). */
static wanc_err build_bias(const umt5_work *w, const wanc_umt5_config *c, const float *table, const int64_t *mask)
{
    int64_t n = w->n, H = c->num_heads;
    for (int64_t h = 0; h < H; h++) {
        for (int64_t r = 0; r < 2 * n - 1; r++) w->diag[r] = table[w->buckets[r] * H + h];
        for (int64_t i = 0; i < n; i++) {
            float *row = w->host_bias + (h * n + i) * n;
            /* bias[i][j] = diag[j - i + n - 1]: one contiguous slice per row. */
            memcpy(row, w->diag + (n - 1 - i), (size_t)n * sizeof(float));
            /* masked_fill(mask == 0, finfo(bf16).min) of the reference's bias. */
            if (w->bf16)
                for (int64_t j = 0; j < n; j++)
                    if (!mask[j]) row[j] = UMT5_BF16_MIN;
        }
    }
    return w->be->upload(w->be, w->bias, w->host_bias, (size_t)(H * n * n) * sizeof(float));
}

/* att[n, H·D] from q, k, v [n, H·D] with the layer's bias in w->bias. */
static wanc_err self_attention(const umt5_work *w, const wanc_umt5_config *c)
{
    const wanc_backend *be = w->be;
    int64_t n = w->n, H = c->num_heads, D = c->dim_attn / c->num_heads, HD = c->dim_attn;
    if (!w->bf16) /* T5 does not scale the logits: scale 1. */
        return be->attention(be, w->att, w->q, w->k, w->v, n, n, H, D, 1.0f, w->bias, w->key_mask);
    /* bf16: the reference rounds the scores, the biased scores and the
     * probabilities to bf16 (einsum, +bias, softmax(...).type_as), which a
     * fused online-softmax kernel cannot reproduce: one head at a time. */
    for (int64_t h = 0; h < H; h++) {
        TRY(be->gemm(be, w->logits, w->q + h * D, w->k + h * D, n, n, D, 0, 1, 1.0f, 0.0f, HD, HD, n));
        TRY(be->round_bf16(be, w->logits, n * n));
        TRY(be->add(be, w->logits, w->logits, w->bias + h * n * n, n * n));
        TRY(be->round_bf16(be, w->logits, n * n));
        TRY(be->softmax(be, w->logits, w->logits, n, n));
        TRY(be->round_bf16(be, w->logits, n * n));
        TRY(be->gemm(be, w->att + h * D, w->logits, w->v + h * D, n, D, n, 0, 0, 1.0f, 0.0f, n, HD, HD));
    }
    return be->round_bf16(be, w->att, n * HD);
}

/* x[n, dim] → x + attn(norm1 x) → x + ffn(norm2 x). */
static wanc_err run_block(const umt5_work *w, const wanc_umt5_config *c, const umt5_layer *L, const int64_t *mask)
{
    const wanc_backend *be = w->be;
    int64_t n = w->n, D = c->dim, A = c->dim_attn, F = c->dim_ffn;

    TRY(t5_norm(w, w->h, w->x, L->norm1, D));
    TRY(be->linear(be, w->q, w->h, L->q, NULL, n));
    TRY(round_if(w, w->q, n * A));
    TRY(be->linear(be, w->k, w->h, L->k, NULL, n));
    TRY(round_if(w, w->k, n * A));
    TRY(be->linear(be, w->v, w->h, L->v, NULL, n));
    TRY(round_if(w, w->v, n * A));
    TRY(build_bias(w, c, L->pos_table, mask));
    TRY(self_attention(w, c));
    TRY(linear_then(w, w->h, w->att, L->o, (wanc_epilogue){.kind = WANC_EPILOGUE_RESIDUAL, .residual = w->x}, n));

    TRY(t5_norm(w, w->h, w->x, L->norm2, D));
    TRY(be->linear(be, w->f1, w->h, L->fc1, NULL, n));
    TRY(round_if(w, w->f1, n * F));
    /* The reference's GELU is a chain of tanh-formula ops, each rounded in a
     * bf16 run; the backend evaluates it fused in float32, rounded once. */
    TRY(linear_then(w, w->f2, w->h, L->gate, (wanc_epilogue){.kind = WANC_EPILOGUE_GELU_TANH}, n));
    TRY(be->mul(be, w->f1, w->f1, w->f2, n * F));
    TRY(round_if(w, w->f1, n * F));
    return linear_then(w, w->h, w->f1, L->fc2, (wanc_epilogue){.kind = WANC_EPILOGUE_RESIDUAL, .residual = w->x}, n);
}

static wanc_err alloc_work(umt5_work *w, const wanc_umt5_config *c)
{
    const wanc_backend *be = w->be;
    int64_t n = w->n, H = c->num_heads;
    size_t fl = sizeof(float);
    TRY(be->alloc(be, (void **)&w->x, (size_t)(n * c->dim) * fl));
    TRY(be->alloc(be, (void **)&w->h, (size_t)(n * c->dim) * fl));
    TRY(be->alloc(be, (void **)&w->t, (size_t)(n * c->dim) * fl));
    TRY(be->alloc(be, (void **)&w->q, (size_t)(n * c->dim_attn) * fl));
    TRY(be->alloc(be, (void **)&w->k, (size_t)(n * c->dim_attn) * fl));
    TRY(be->alloc(be, (void **)&w->v, (size_t)(n * c->dim_attn) * fl));
    TRY(be->alloc(be, (void **)&w->att, (size_t)(n * c->dim_attn) * fl));
    TRY(be->alloc(be, (void **)&w->f1, (size_t)(n * c->dim_ffn) * fl));
    TRY(be->alloc(be, (void **)&w->f2, (size_t)(n * c->dim_ffn) * fl));
    TRY(be->alloc(be, (void **)&w->bias, (size_t)(H * n * n) * fl));
    if (w->bf16) TRY(be->alloc(be, (void **)&w->logits, (size_t)(n * n) * fl));
    else TRY(be->alloc(be, (void **)&w->key_mask, (size_t)n));
    w->host_bias = malloc((size_t)(H * n * n) * fl);
    w->buckets = malloc((size_t)(2 * n - 1) * sizeof(int));
    w->diag = malloc((size_t)(2 * n - 1) * fl);
    if (!w->host_bias || !w->buckets || !w->diag)
        WANC_FAIL(WANC_ENOMEM, "UMT5: out of memory for the position bias of %lld tokens", (long long)n);
    return NULL;
}

static void free_work(umt5_work *w)
{
    const wanc_backend *be = w->be;
    void *dev[] = {w->x, w->h, w->t, w->q, w->k, w->v, w->att, w->f1, w->f2, w->bias, w->logits, w->key_mask};
    for (size_t i = 0; i < sizeof dev / sizeof dev[0]; i++)
        if (dev[i]) be->free(be, dev[i]);
    free(w->host_bias);
    free(w->buckets);
    free(w->diag);
}

/* Token embedding rows of ids[0..n) into w->x. */
static wanc_err embed(const wanc_umt5 *m, umt5_work *w, const int64_t *ids)
{
    int64_t n = w->n, D = m->cfg.dim;
    float *host = malloc((size_t)(n * D) * sizeof(float));
    if (!host) WANC_FAIL(WANC_ENOMEM, "UMT5: out of memory for %lld token embeddings", (long long)n);
    wanc_err err = NULL;
    for (int64_t i = 0; i < n && !err; i++) {
        if (ids[i] < 0 || ids[i] >= m->cfg.vocab) {
            err = wanc_error(WANC_EINVAL, "UMT5: token id %lld at position %lld is outside the vocabulary [0, %lld)",
                             (long long)ids[i], (long long)i, (long long)m->cfg.vocab);
            break;
        }
        wanc_tensor row = wanc_tensor_narrow(m->embedding, 0, ids[i], 1);
        err = wanc_tensor_to_f32(host + i * D, &row);
    }
    if (!err) err = w->be->upload(w->be, w->x, host, (size_t)(n * D) * sizeof(float));
    free(host);
    return err;
}

/* Drop a block's weight pages from the resident set once it has run: the
 * encoder then holds one block of its weights at a time (umt5-xxl is 11 GB
 * in bf16), and the next prompt faults them back in from the page cache. */
static void release_block(const wanc_umt5 *m, const umt5_layer *L)
{
    const wanc_tensor *mats[] = {L->q, L->k, L->v, L->o, L->gate, L->fc1, L->fc2};
    for (size_t i = 0; i < sizeof mats / sizeof mats[0]; i++) wanc_weights_advise(m->store, mats[i], false);
}

static wanc_err encode(const wanc_umt5 *m, umt5_work *w, float *out, const int64_t *ids, const int64_t *mask,
                       const wanc_umt5_opts *o)
{
    const wanc_umt5_config *c = &m->cfg;
    const wanc_backend *be = m->be;
    int64_t n = w->n;
    TRY(alloc_work(w, c));
    for (int64_t r = 0; r < 2 * n - 1; r++)
        w->buckets[r] = wanc_umt5_bucket(r - (n - 1), (int)c->num_buckets, WANC_UMT5_MAX_DISTANCE);
    if (w->key_mask) {
        uint8_t *km = malloc((size_t)n);
        if (!km) WANC_FAIL(WANC_ENOMEM, "UMT5: out of memory");
        for (int64_t i = 0; i < n; i++) km[i] = mask[i] != 0;
        wanc_err err = be->upload(be, w->key_mask, km, (size_t)n);
        free(km);
        TRY(err);
    }
    TRY(embed(m, w, ids));
    if (o->probe) TRY(o->probe(o->probe_user, be, "embed", w->x, n, c->dim));
    for (int i = 0; i < (int)c->num_layers; i++) {
        TRYC(run_block(w, c, &m->layers[i], mask), "UMT5 block %d", i);
        release_block(m, &m->layers[i]);
        if (o->probe) {
            char name[32];
            snprintf(name, sizeof name, "block.%d", i);
            TRY(o->probe(o->probe_user, be, name, w->x, n, c->dim));
        }
    }
    TRY(t5_norm(w, w->h, w->x, m->norm, c->dim));
    return be->download(be, out, w->h, (size_t)(n * c->dim) * sizeof(float));
}

wanc_err wanc_umt5_encode(const wanc_umt5 *m, float *out, const int64_t *ids, const int64_t *mask, int64_t L,
                          const wanc_umt5_opts *opts)
{
    static const wanc_umt5_opts defaults = {0};
    const wanc_umt5_opts *o = opts ? opts : &defaults;
    if (L <= 0) WANC_FAIL(WANC_EINVAL, "UMT5: %lld tokens (need at least one)", (long long)L);
    /* The valid prefix: with a mask of the tokenizer's form (ones, then zeros)
     * only those rows are needed for the pipeline's result. */
    int64_t valid = 0, prefix = 0;
    for (int64_t i = 0; i < L; i++) valid += mask[i] != 0;
    while (prefix < L && mask[prefix]) prefix++;
    if (valid == 0) WANC_FAIL(WANC_EINVAL, "UMT5: the attention mask has no token (all %lld positions masked)", (long long)L);
    bool shortcut = !o->all_rows && prefix == valid;
    umt5_work w = {.be = m->be, .bf16 = o->bf16, .n = shortcut ? valid : L};
    wanc_err err = encode(m, &w, out, ids, mask, o);
    free_work(&w);
    if (err) return err;
    int64_t D = m->cfg.dim;
    if (shortcut) memset(out + valid * D, 0, (size_t)((L - valid) * D) * sizeof(float));
    else if (!o->all_rows) wanc_umt5_zero_padding(out, mask, L, D);
    return NULL;
}
