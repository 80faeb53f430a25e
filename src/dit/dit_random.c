/* Random Wan DiT checkpoints with the released key names and shapes.
 *
 * `wanc random-model --arch wan2.1-t2v-14b` must work on a machine that
 * cannot hold the model, so the file is streamed: the header is built from
 * the names and shapes alone, then each tensor is generated and written in
 * chunks. Values are a deterministic function of (seed, tensor name), so a
 * file with fewer layers holds the same first layers.
 */
#include <cjson/cJSON.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "dit/dit_random.h"
#include "io/atomic_file.h"

typedef struct {
    const char *arch;
    wanc_dit_config cfg;
} arch_entry;

/* The released Wan2.1 configs (DiffSynth's model configs). */
static const arch_entry archs[] = {
    {"wan2.1-t2v-1.3b", {.dim = 1536, .in_dim = 16, .out_dim = 16, .ffn_dim = 8960, .text_dim = 4096,
                         .freq_dim = 256, .num_heads = 12, .num_layers = 30, .patch = {1, 2, 2}, .eps = 1e-6f}},
    {"wan2.1-t2v-14b", {.dim = 5120, .in_dim = 16, .out_dim = 16, .ffn_dim = 13824, .text_dim = 4096,
                        .freq_dim = 256, .num_heads = 40, .num_layers = 40, .patch = {1, 2, 2}, .eps = 1e-6f}},
    {"wan2.1-i2v-14b", {.dim = 5120, .in_dim = 36, .out_dim = 16, .ffn_dim = 13824, .text_dim = 4096,
                        .freq_dim = 256, .num_heads = 40, .num_layers = 40, .patch = {1, 2, 2}, .eps = 1e-6f,
                        .has_image_input = true}},
    /* Wan2.2: each A14B expert is a 14B Wan2.1-shaped DiT; I2V-A14B takes y (in_dim 36) without CLIP */
    {"wan2.2-t2v-a14b", {.dim = 5120, .in_dim = 16, .out_dim = 16, .ffn_dim = 13824, .text_dim = 4096,
                         .freq_dim = 256, .num_heads = 40, .num_layers = 40, .patch = {1, 2, 2}, .eps = 1e-6f}},
    {"wan2.2-i2v-a14b", {.dim = 5120, .in_dim = 36, .out_dim = 16, .ffn_dim = 13824, .text_dim = 4096,
                         .freq_dim = 256, .num_heads = 40, .num_layers = 40, .patch = {1, 2, 2}, .eps = 1e-6f}},
    /* Wan2.2 Fun-A14B Control / Control-Camera, VACE-Fun-A14B: each expert (model_configs.py) */
    {"wan2.2-fun-a14b-control", {.dim = 5120, .in_dim = 52, .out_dim = 16, .ffn_dim = 13824, .text_dim = 4096,
                                 .freq_dim = 256, .num_heads = 40, .num_layers = 40, .patch = {1, 2, 2},
                                 .eps = 1e-6f, .has_ref_conv = true, .ref_in_dim = 16}},
    {"wan2.2-fun-a14b-control-camera", {.dim = 5120, .in_dim = 36, .out_dim = 16, .ffn_dim = 13824,
                                        .text_dim = 4096, .freq_dim = 256, .num_heads = 40, .num_layers = 40,
                                        .patch = {1, 2, 2}, .eps = 1e-6f, .has_control_adapter = true,
                                        .control_in_dim = 24}},
    /* the Wan2.1-VACE-14B layout: 8 VACE blocks feeding layers 0, 5, .., 35 */
    {"wan2.2-vace-fun-a14b", {.dim = 5120, .in_dim = 16, .out_dim = 16, .ffn_dim = 13824, .text_dim = 4096,
                              .freq_dim = 256, .num_heads = 40, .num_layers = 40, .patch = {1, 2, 2}, .eps = 1e-6f,
                              .vace_num_blocks = 8, .vace_in_dim = 96, .vace_layers = {0, 5, 10, 15, 20, 25, 30, 35}}},
    {"wan2.2-ti2v-5b", {.dim = 3072, .in_dim = 48, .out_dim = 48, .ffn_dim = 14336, .text_dim = 4096,
                        .freq_dim = 256, .num_heads = 24, .num_layers = 30, .patch = {1, 2, 2}, .eps = 1e-6f}},
};

wanc_err wanc_dit_arch_config(wanc_dit_config *cfg, const char *arch)
{
    for (size_t i = 0; i < sizeof archs / sizeof archs[0]; i++)
        if (!strcmp(archs[i].arch, arch)) {
            *cfg = archs[i].cfg;
            return NULL;
        }
    WANC_FAIL(WANC_ENOTFOUND, "unknown DiT arch '%s' (known: wan2.1-t2v-1.3b, wan2.1-t2v-14b, wan2.1-i2v-14b, "
              "wan2.2-t2v-a14b, wan2.2-i2v-a14b, wan2.2-fun-a14b-control, wan2.2-fun-a14b-control-camera, "
              "wan2.2-vace-fun-a14b, wan2.2-ti2v-5b)", arch);
}

void wanc_dit_config_set_layers(wanc_dit_config *cfg, int layers)
{
    if (layers <= 0 || layers == cfg->num_layers) return;
    if (cfg->vace_num_blocks) { /* keep the release's VACE stride: a block every `stride` layers from 0 */
        int stride = cfg->vace_num_blocks > 1 ? cfg->vace_layers[1] - cfg->vace_layers[0] : cfg->num_layers;
        int n = (layers + stride - 1) / stride;
        if (n > WANC_DIT_MAX_VACE) n = WANC_DIT_MAX_VACE;
        for (int j = 0; j < n; j++) cfg->vace_layers[j] = j * stride;
        cfg->vace_num_blocks = n;
    }
    cfg->num_layers = layers;
}

/* ---- the tensor list ----------------------------------------------------------- */

typedef enum { INIT_WEIGHT, INIT_BIAS, INIT_NORM, INIT_MOD, INIT_ZERO } init_kind;

typedef struct {
    char name[96];
    int ndim;
    int64_t shape[5];
    init_kind init;
} spec;

typedef struct {
    spec *s;
    int n, cap;
} spec_list;

static wanc_err add(spec_list *l, init_kind k, int ndim, const int64_t *shape, const char *fmt, ...)
    __attribute__((format(printf, 5, 6)));
static wanc_err add(spec_list *l, init_kind k, int ndim, const int64_t *shape, const char *fmt, ...)
{
    if (l->n == l->cap) {
        int cap = l->cap ? 2 * l->cap : 256;
        spec *ns = realloc(l->s, (size_t)cap * sizeof *ns);
        if (!ns) WANC_FAIL(WANC_ENOMEM, "random DiT: out of memory");
        l->s = ns;
        l->cap = cap;
    }
    spec *s = &l->s[l->n++];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(s->name, sizeof s->name, fmt, ap);
    va_end(ap);
    s->ndim = ndim;
    memcpy(s->shape, shape, (size_t)ndim * sizeof *shape);
    s->init = k;
    return NULL;
}

static wanc_err add_linear(spec_list *l, int64_t n, int64_t k, const char *prefix)
{
    TRY(add(l, INIT_WEIGHT, 2, (int64_t[]){n, k}, "%s.weight", prefix));
    return add(l, INIT_BIAS, 1, (int64_t[]){n}, "%s.bias", prefix);
}

/* One DiT block `prefix`.i (the DiT's blocks, or VACE's, which are DiT blocks). */
static wanc_err add_block(spec_list *l, const wanc_dit_config *c, const char *prefix, int i)
{
    const int64_t D = c->dim;
    char p[96];
    static const char *const attn[] = {"self_attn", "cross_attn"};
    for (int a = 0; a < 2; a++) {
        static const char *const proj[] = {"q", "k", "v", "o"};
        for (int j = 0; j < 4; j++) {
            snprintf(p, sizeof p, "%s.%d.%s.%s", prefix, i, attn[a], proj[j]);
            TRY(add_linear(l, D, D, p));
        }
        TRY(add(l, INIT_NORM, 1, (int64_t[]){D}, "%s.%d.%s.norm_q.weight", prefix, i, attn[a]));
        TRY(add(l, INIT_NORM, 1, (int64_t[]){D}, "%s.%d.%s.norm_k.weight", prefix, i, attn[a]));
    }
    if (c->has_image_input) {
        snprintf(p, sizeof p, "%s.%d.cross_attn.k_img", prefix, i);
        TRY(add_linear(l, D, D, p));
        snprintf(p, sizeof p, "%s.%d.cross_attn.v_img", prefix, i);
        TRY(add_linear(l, D, D, p));
        TRY(add(l, INIT_NORM, 1, (int64_t[]){D}, "%s.%d.cross_attn.norm_k_img.weight", prefix, i));
    }
    TRY(add(l, INIT_NORM, 1, (int64_t[]){D}, "%s.%d.norm3.weight", prefix, i));
    TRY(add(l, INIT_ZERO, 1, (int64_t[]){D}, "%s.%d.norm3.bias", prefix, i));
    snprintf(p, sizeof p, "%s.%d.ffn.0", prefix, i);
    TRY(add_linear(l, c->ffn_dim, D, p));
    snprintf(p, sizeof p, "%s.%d.ffn.2", prefix, i);
    TRY(add_linear(l, D, c->ffn_dim, p));
    return add(l, INIT_MOD, 3, (int64_t[]){1, 6, D}, "%s.%d.modulation", prefix, i);
}

static wanc_err build_specs(spec_list *l, const wanc_dit_config *c)
{
    int64_t D = c->dim;
    TRY(add(l, INIT_WEIGHT, 5, (int64_t[]){D, c->in_dim, c->patch[0], c->patch[1], c->patch[2]},
            "patch_embedding.weight"));
    TRY(add(l, INIT_BIAS, 1, (int64_t[]){D}, "patch_embedding.bias"));
    TRY(add_linear(l, D, c->text_dim, "text_embedding.0"));
    TRY(add_linear(l, D, D, "text_embedding.2"));
    TRY(add_linear(l, D, c->freq_dim, "time_embedding.0"));
    TRY(add_linear(l, D, D, "time_embedding.2"));
    TRY(add_linear(l, 6 * D, D, "time_projection.1"));
    TRY(add_linear(l, (int64_t)c->out_dim * c->patch[0] * c->patch[1] * c->patch[2], D, "head.head"));
    TRY(add(l, INIT_MOD, 3, (int64_t[]){1, 2, D}, "head.modulation"));
    if (c->has_image_input) {
        TRY(add(l, INIT_NORM, 1, (int64_t[]){WANC_DIT_CLIP_DIM}, "img_emb.proj.0.weight"));
        TRY(add(l, INIT_ZERO, 1, (int64_t[]){WANC_DIT_CLIP_DIM}, "img_emb.proj.0.bias"));
        TRY(add_linear(l, WANC_DIT_CLIP_DIM, WANC_DIT_CLIP_DIM, "img_emb.proj.1"));
        TRY(add_linear(l, D, WANC_DIT_CLIP_DIM, "img_emb.proj.3"));
        TRY(add(l, INIT_NORM, 1, (int64_t[]){D}, "img_emb.proj.4.weight"));
        TRY(add(l, INIT_ZERO, 1, (int64_t[]){D}, "img_emb.proj.4.bias"));
        if (c->has_image_pos_emb)
            TRY(add(l, INIT_BIAS, 3, (int64_t[]){1, 2 * WANC_DIT_CLIP_TOKENS, WANC_DIT_CLIP_DIM}, "img_emb.emb_pos"));
    }
    for (int i = 0; i < c->num_layers; i++) TRY(add_block(l, c, "blocks", i));
    if (c->has_ref_conv) { /* Fun V1.1 control: the reference image's tokens */
        TRY(add(l, INIT_WEIGHT, 4, (int64_t[]){D, c->ref_in_dim, c->patch[1], c->patch[2]}, "ref_conv.weight"));
        TRY(add(l, INIT_BIAS, 1, (int64_t[]){D}, "ref_conv.bias"));
    }
    if (c->has_control_adapter) { /* Fun camera: SimpleAdapter, PixelUnshuffle(8) then conv + one residual block */
        TRY(add(l, INIT_WEIGHT, 4, (int64_t[]){D, (int64_t)c->control_in_dim * 64, c->patch[1], c->patch[2]},
                "control_adapter.conv.weight"));
        TRY(add(l, INIT_BIAS, 1, (int64_t[]){D}, "control_adapter.conv.bias"));
        for (int k = 1; k <= 2; k++) {
            TRY(add(l, INIT_WEIGHT, 4, (int64_t[]){D, D, 3, 3}, "control_adapter.residual_blocks.0.conv%d.weight", k));
            TRY(add(l, INIT_BIAS, 1, (int64_t[]){D}, "control_adapter.residual_blocks.0.conv%d.bias", k));
        }
    }
    if (c->vace_num_blocks) { /* VACE: its patch embedding and blocks (the layers they feed are not stored) */
        TRY(add(l, INIT_WEIGHT, 5, (int64_t[]){D, c->vace_in_dim, c->patch[0], c->patch[1], c->patch[2]},
                "vace_patch_embedding.weight"));
        TRY(add(l, INIT_BIAS, 1, (int64_t[]){D}, "vace_patch_embedding.bias"));
        TRY(add_linear(l, D, D, "vace_blocks.0.before_proj"));
        char p[96];
        for (int j = 0; j < c->vace_num_blocks; j++) {
            TRY(add_block(l, c, "vace_blocks", j));
            snprintf(p, sizeof p, "vace_blocks.%d.after_proj", j);
            TRY(add_linear(l, D, D, p));
        }
    }
    return NULL;
}

static int spec_cmp(const void *a, const void *b) { return strcmp(((const spec *)a)->name, ((const spec *)b)->name); }

/* ---- values ----------------------------------------------------------------------- */

static uint64_t splitmix(uint64_t *s)
{
    uint64_t z = (*s += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

static uint64_t name_hash(const char *s)
{
    uint64_t h = 1469598103934665603ull; /* FNV-1a */
    for (; *s; s++) h = (h ^ (unsigned char)*s) * 1099511628211ull;
    return h;
}

/* Uniform in [-1, 1). */
static float uniform(uint64_t *s) { return (float)((double)(splitmix(s) >> 11) * 0x1.0p-53 * 2.0 - 1.0); }

/* Value scale: weights U(±1/√fan_in) like nn.Linear, small biases, norms near 1,
 * modulation ~ randn/√dim as in DiffSynth's init. */
static float init_value(const spec *sp, uint64_t *st)
{
    switch (sp->init) {
    case INIT_WEIGHT: {
        int64_t fan_in = wanc_numel(sp->ndim - 1, sp->shape + 1);
        return uniform(st) / sqrtf((float)fan_in);
    }
    case INIT_BIAS: return 0.02f * uniform(st);
    case INIT_NORM: return 1.0f + 0.1f * uniform(st);
    case INIT_MOD: return uniform(st) * 1.7320508f / sqrtf((float)sp->shape[sp->ndim - 1]);
    case INIT_ZERO: break;
    }
    return 0.0f;
}

/* ---- the streaming writer ------------------------------------------------------------ */

static wanc_err write_all(FILE *f, const void *p, size_t n, const char *path)
{
    if (fwrite(p, 1, n, f) != n) WANC_FAIL(WANC_EIO, "%s: write failed", path);
    return NULL;
}

static char *build_header(const spec_list *l, wanc_dtype dt, const char *const *meta)
{
    cJSON *root = cJSON_CreateObject(), *m = cJSON_CreateObject();
    cJSON_AddItemToObject(root, "__metadata__", m);
    for (int i = 0; meta && meta[i] && meta[i + 1]; i += 2) cJSON_AddStringToObject(m, meta[i], meta[i + 1]);
    uint64_t off = 0;
    for (int i = 0; i < l->n; i++) {
        const spec *s = &l->s[i];
        cJSON *e = cJSON_CreateObject(), *sh = cJSON_CreateArray(), *of = cJSON_CreateArray();
        cJSON_AddStringToObject(e, "dtype", wanc_dtype_name(dt));
        for (int d = 0; d < s->ndim; d++) cJSON_AddItemToArray(sh, cJSON_CreateNumber((double)s->shape[d]));
        cJSON_AddItemToObject(e, "shape", sh);
        uint64_t bytes = (uint64_t)wanc_numel(s->ndim, s->shape) * wanc_dtype_size(dt);
        cJSON_AddItemToArray(of, cJSON_CreateNumber((double)off));
        cJSON_AddItemToArray(of, cJSON_CreateNumber((double)(off + bytes)));
        cJSON_AddItemToObject(e, "data_offsets", of);
        cJSON_AddItemToObject(root, s->name, e);
        off += bytes;
    }
    char *txt = cJSON_PrintUnformatted(root);
    cJSON_Delete(root);
    return txt;
}

static wanc_err write_tensor(FILE *f, const spec *sp, wanc_dtype dt, uint64_t seed, const char *path, float *buf,
                             void *cbuf, size_t chunk)
{
    uint64_t st = seed ^ name_hash(sp->name);
    int64_t n = wanc_numel(sp->ndim, sp->shape);
    for (int64_t done = 0; done < n;) {
        size_t m = (size_t)(n - done) < chunk ? (size_t)(n - done) : chunk;
        for (size_t i = 0; i < m; i++) buf[i] = init_value(sp, &st);
        TRY(wanc_convert(cbuf, dt, buf, WANC_F32, m));
        TRY(write_all(f, cbuf, m * wanc_dtype_size(dt), path));
        done += (int64_t)m;
    }
    return NULL;
}

/* One .safetensors file holding specs s[0..n) (sorted by name). */
static wanc_err write_file(const char *path, const spec *s, int n, wanc_dtype dt, uint64_t seed, int num_heads)
{
    spec_list l = {.s = (spec *)s, .n = n, .cap = n};
    char *hdr = NULL;
    const char *tmp = path; /* for messages */
    wanc_atomic_file a = {0};
    FILE *f = NULL;
    wanc_err err = NULL;
    const size_t chunk = 1 << 16;
    float *buf = malloc(chunk * sizeof(float));
    void *cbuf = malloc(chunk * sizeof(float));
    if (!buf || !cbuf) TRY_GOTO(err, done, wanc_error(WANC_ENOMEM, "random DiT: out of memory"));
    char heads[16];
    snprintf(heads, sizeof heads, "%d", num_heads);
    const char *meta[] = {"format", "pt", "num_heads", heads, NULL};
    hdr = build_header(&l, dt, meta);
    if (!hdr) TRY_GOTO(err, done, wanc_error(WANC_ENOMEM, "random DiT: out of memory"));
    TRY_GOTO(err, done, wanc_atomic_open(&a, path));
    f = a.f;
    size_t hl = strlen(hdr), padded = (hl + 7) & ~(size_t)7;
    unsigned char len8[8];
    for (int i = 0; i < 8; i++) len8[i] = (unsigned char)((uint64_t)padded >> (8 * i));
    TRY_GOTO(err, done, write_all(f, len8, 8, tmp));
    TRY_GOTO(err, done, write_all(f, hdr, hl, tmp));
    TRY_GOTO(err, done, write_all(f, "        ", padded - hl, tmp));
    for (int i = 0; i < n; i++) TRY_GOTO(err, done, write_tensor(f, &s[i], dt, seed, tmp, buf, cbuf, chunk));
    err = wanc_atomic_commit(&a);
done:
    if (err) wanc_atomic_abort(&a);
    free(hdr);
    free(buf);
    free(cbuf);
    return err;
}

static wanc_err sorted_specs(spec_list *l, const wanc_dit_config *cfg, wanc_dtype dt)
{
    if (dt != WANC_F32 && dt != WANC_BF16 && dt != WANC_F16)
        WANC_FAIL(WANC_EINVAL, "random DiT: dtype %s not supported (F32, BF16, F16)", wanc_dtype_name(dt));
    TRY(build_specs(l, cfg));
    qsort(l->s, (size_t)l->n, sizeof *l->s, spec_cmp);
    return NULL;
}

wanc_err wanc_dit_random_write(const char *path, const wanc_dit_config *cfg, wanc_dtype dt, uint64_t seed)
{
    spec_list l = {0};
    wanc_err err = sorted_specs(&l, cfg, dt);
    if (!err) err = write_file(path, l.s, l.n, dt, seed, cfg->num_heads);
    free(l.s);
    return err;
}

wanc_err wanc_dit_random_write_shards(const char *dir, const wanc_dit_config *cfg, wanc_dtype dt, uint64_t seed,
                                      int shards)
{
    spec_list l = {0};
    cJSON *index = NULL;
    char *text = NULL;
    wanc_err err = sorted_specs(&l, cfg, dt);
    if (err) goto done;
    if (shards < 1 || shards > l.n) shards = l.n < 1 ? 1 : l.n;
    uint64_t total = 0;
    for (int i = 0; i < l.n; i++) total += (uint64_t)wanc_numel(l.s[i].ndim, l.s[i].shape) * wanc_dtype_size(dt);
    index = cJSON_CreateObject();
    cJSON *meta = cJSON_AddObjectToObject(index, "metadata"), *map = cJSON_AddObjectToObject(index, "weight_map");
    cJSON_AddNumberToObject(meta, "total_size", (double)total);
    /* consecutive names, about total/shards bytes each, as the release splits them */
    int begin = 0;
    uint64_t done_bytes = 0;
    for (int k = 1; k <= shards; k++) {
        int end = begin;
        uint64_t goal = total * (uint64_t)k / (uint64_t)shards;
        /* every shard gets at least one tensor: leave one for each shard after this one */
        while (end < l.n - (shards - k) && (end == begin || done_bytes < goal || k == shards)) {
            done_bytes += (uint64_t)wanc_numel(l.s[end].ndim, l.s[end].shape) * wanc_dtype_size(dt);
            end++;
        }
        char name[96], path[4096];
        snprintf(name, sizeof name, "diffusion_pytorch_model-%05d-of-%05d.safetensors", k, shards);
        snprintf(path, sizeof path, "%s/%s", dir, name);
        if (end > begin) TRY_GOTO(err, done, write_file(path, l.s + begin, end - begin, dt, seed, cfg->num_heads));
        for (int i = begin; i < end; i++) cJSON_AddStringToObject(map, l.s[i].name, name);
        begin = end;
    }
    text = cJSON_Print(index);
    char path[4096];
    snprintf(path, sizeof path, "%s/diffusion_pytorch_model.safetensors.index.json", dir);
    wanc_atomic_file af;
    if (!text) err = wanc_error(WANC_ENOMEM, "%s: out of memory", path);
    else if (!(err = wanc_atomic_open(&af, path))) {
        if (fputs(text, af.f) < 0) {
            wanc_atomic_abort(&af);
            err = wanc_error(WANC_EIO, "%s: cannot write the shard index", path);
        } else {
            err = wanc_atomic_commit(&af);
        }
    }
done:
    cJSON_Delete(index);
    free(text);
    free(l.s);
    return err;
}

wanc_err wanc_dit_random_model(const char *arch, const char *out_dir, int layers, wanc_dtype dt, uint64_t seed)
{
    wanc_dit_config cfg;
    TRY(wanc_dit_arch_config(&cfg, arch));
    wanc_dit_config_set_layers(&cfg, layers);
    struct stat st;
    if (mkdir(out_dir, 0777) && (stat(out_dir, &st) || !S_ISDIR(st.st_mode))) WANC_FAIL(WANC_EIO, "%s: cannot create directory", out_dir);
    char path[4096];
    snprintf(path, sizeof path, "%s/diffusion_pytorch_model.safetensors", out_dir);
    return wanc_error_context(wanc_dit_random_write(path, &cfg, dt, seed), "random %s DiT", arch);
}
