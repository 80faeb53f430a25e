/* DiT unit tests: config inference, heads from metadata/options, named errors,
 * the float64 tables, diffusers names (renamed, saved, loaded back), and that
 * a forward is repeatable (arena reuse) and thread-count independent. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "backend/backend.h"
#include "core/threads.h"
#include "dit/dit_random.h"
#include "dit/wan_dit.h"
#include "test.h"
#include "tools_support/random_weights.h"

/* A tiny I2V-shaped config (head_dim 32 splits 12/10/10). */
static wanc_dit_config tiny_config(bool image)
{
    return (wanc_dit_config){.dim = 64, .in_dim = image ? 36 : 16, .out_dim = 16, .ffn_dim = 96, .text_dim = 24,
                             .freq_dim = 256, .num_heads = 2, .num_layers = 2, .patch = {1, 2, 2}, .eps = 1e-6f,
                             .has_image_input = image};
}

static void tmp_path(char *buf, size_t cap, const char *tag)
{
    snprintf(buf, cap, "/tmp/wanc_test_dit_%d_%s.safetensors", (int)getpid(), tag);
}

typedef struct {
    float *lat, *y, *ctx, *clip, *out;
} tiny_inputs;

static wanc_dit_inputs make_inputs(tiny_inputs *t, const wanc_dit_config *c)
{
    const int64_t F = 2, H = 4, W = 6, L = 7;
    t->lat = malloc(sizeof(float) * 16 * F * H * W);
    t->y = malloc(sizeof(float) * 20 * F * H * W);
    t->ctx = malloc(sizeof(float) * L * c->text_dim);
    t->clip = malloc(sizeof(float) * 257 * 1280);
    t->out = malloc(sizeof(float) * 16 * F * H * W);
    uint32_t s = 12345;
    for (int64_t i = 0; i < 16 * F * H * W; i++) t->lat[i] = (float)((s = s * 1664525u + 1013904223u) >> 8) / 8e6f - 1;
    for (int64_t i = 0; i < 20 * F * H * W; i++) t->y[i] = (float)((s = s * 1664525u + 1013904223u) >> 8) / 8e6f - 1;
    for (int64_t i = 0; i < L * c->text_dim; i++) t->ctx[i] = (float)((s = s * 1664525u + 1013904223u) >> 8) / 8e6f - 1;
    for (int64_t i = 0; i < 257 * 1280; i++) t->clip[i] = (float)((s = s * 1664525u + 1013904223u) >> 8) / 8e6f - 1;
    return (wanc_dit_inputs){.latents = t->lat, .lat_c = 16, .F = F, .H = H, .W = W,
                             .y = c->has_image_input ? t->y : NULL, .y_c = c->has_image_input ? 20 : 0,
                             .timestep = 937.5f, .context = t->ctx, .ctx_len = L,
                             .clip = c->has_image_input ? t->clip : NULL, .clip_len = c->has_image_input ? 257 : 0};
}

static void free_inputs(tiny_inputs *t)
{
    free(t->lat), free(t->y), free(t->ctx), free(t->clip), free(t->out);
}

TEST(dit_config_from_random_checkpoint)
{
    char p[256];
    tmp_path(p, sizeof p, "cfg");
    wanc_dit_config c = tiny_config(true);
    c.num_heads = 4; /* recorded in __metadata__ */
    CHECK_OK(wanc_dit_random_write(p, &c, WANC_BF16, 7));
    wanc_weights *w = NULL;
    CHECK_OK(wanc_weights_open(&w, p));
    if (!w) return;
    wanc_dit_config got;
    CHECK_OK(wanc_dit_infer_config(&got, w, 0));
    CHECK(got.dim == 64 && got.in_dim == 36 && got.out_dim == 16 && got.ffn_dim == 96 && got.text_dim == 24);
    CHECK(got.freq_dim == 256 && got.num_layers == 2 && got.has_image_input && !got.has_image_pos_emb);
    CHECK(got.num_heads == 4);
    CHECK_OK(wanc_dit_infer_config(&got, w, 2)); /* the option wins over metadata */
    CHECK(got.num_heads == 2);
    CHECK_ERR(wanc_dit_infer_config(&got, w, 3), WANC_EINVAL, "not divisible by num_heads 3");
    wanc_weights_close(w);
    remove(p);
}

TEST(dit_unknown_layout_is_a_named_error)
{
    char p[256];
    tmp_path(p, sizeof p, "bad");
    float v[4] = {0};
    wanc_tensor t = wanc_tensor_wrap(v, WANC_F32, 1, (int64_t[]){4});
    const char *names[] = {"encoder.conv1.weight"};
    CHECK_OK(wanc_safetensors_write(p, 1, names, &t, NULL));
    wanc_weights *w = NULL;
    CHECK_OK(wanc_weights_open(&w, p));
    if (!w) return;
    wanc_dit_config got;
    CHECK_ERR(wanc_dit_infer_config(&got, w, 0), WANC_EFORMAT, "no tensor patch_embedding.weight");
    wanc_weights_close(w);
    remove(p);
}

TEST(dit_tables)
{
    double s[8];
    wanc_dit_sinusoid(s, 8, 2.0);
    CHECK_NEAR(s[0], cos(2.0), 1e-15);         /* ω_0 = 1 */
    CHECK_NEAR(s[4], sin(2.0), 1e-15);
    CHECK_NEAR(s[1], cos(2.0 * pow(10000.0, -0.25)), 1e-15);
    /* head_dim 32: frame part 12 channels (6 pairs), rows/cols 10 (5 pairs each) */
    double cs[2 * 3 * 16 * 2];
    CHECK_OK(wanc_dit_rope_table(cs, 2, 1, 3, 32));
    const double *tok = cs + (1 * 3 + 2) * 32; /* f=1, h=0, w=2 */
    CHECK_NEAR(tok[0], cos(1.0), 1e-15);       /* pair 0: frame, ω = 1 */
    CHECK_NEAR(tok[2 * 1 + 1], sin(pow(10000.0, -2.0 / 12)), 1e-15);
    CHECK_NEAR(tok[2 * 6], 1.0, 1e-15);        /* pair 6: row 0 */
    CHECK_NEAR(tok[2 * 11 + 1], sin(2.0), 1e-15); /* pair 11: column 2, ω = 1 */
    CHECK_ERR(wanc_dit_rope_table(cs, 1, 1, 1, 64), WANC_EUNSUPPORTED, "head_dim 64");
}

static float max_diff(const float *a, const float *b, int64_t n)
{
    float m = 0;
    for (int64_t i = 0; i < n; i++) m = fmaxf(m, fabsf(a[i] - b[i]));
    return m;
}

TEST(dit_diffusers_names_roundtrip)
{
    char p[256], q[256];
    tmp_path(p, sizeof p, "native");
    tmp_path(q, sizeof q, "diffusers");
    wanc_dit_config c = tiny_config(true);
    CHECK_OK(wanc_dit_random_write(p, &c, WANC_BF16, 11));
    /* rename to diffusers names and save a copy */
    wanc_weights *w = NULL;
    CHECK_OK(wanc_weights_open(&w, p));
    if (!w) return;
    CHECK_OK(wanc_weights_rename(w, wanc_dit_native_to_diffusers_name, NULL));
    int n = wanc_weights_count(w);
    const char **names = malloc(sizeof *names * (size_t)n);
    wanc_tensor *ts = malloc(sizeof *ts * (size_t)n);
    for (int i = 0; i < n; i++) names[i] = wanc_weights_name(w, i), ts[i] = *wanc_weights_tensor(w, i);
    CHECK(wanc_weights_find(w, "condition_embedder.time_proj.weight") != NULL);
    CHECK_OK(wanc_safetensors_write(q, n, names, ts, NULL));
    free(names);
    free(ts);
    wanc_weights_close(w);

    const wanc_backend *be = wanc_backend_cpu();
    wanc_dit *a = NULL, *b = NULL;
    wanc_dit_options o = {.num_heads = 2};
    CHECK_OK(wanc_dit_open(&a, be, p, &o));
    CHECK_OK(wanc_dit_open(&b, be, q, &o));
    if (a && b) {
        const wanc_dit_config *cb = wanc_dit_get_config(b);
        CHECK(cb->has_image_input && cb->num_layers == 2 && cb->in_dim == 36);
        tiny_inputs t;
        wanc_dit_inputs in = make_inputs(&t, &c);
        int64_t n_out = 16 * in.F * in.H * in.W;
        float *ref = malloc(sizeof(float) * (size_t)n_out);
        CHECK_OK(wanc_dit_forward(a, &in, ref));
        CHECK_OK(wanc_dit_forward(b, &in, t.out));
        CHECK(max_diff(ref, t.out, n_out) == 0.0f);
        /* the same model again (arena reused) and at another thread count: same bits */
        int threads = wanc_threads_get();
        wanc_threads_set(threads > 1 ? 1 : 2);
        CHECK_OK(wanc_dit_forward(a, &in, t.out));
        wanc_threads_set(threads);
        CHECK(max_diff(ref, t.out, n_out) == 0.0f);
        float mx = 0;
        for (int64_t i = 0; i < n_out; i++) mx = fmaxf(mx, fabsf(ref[i]));
        CHECK(mx > 0 && isfinite(mx));
        /* wrong channel count: named error */
        in.y = NULL;
        CHECK_ERR(wanc_dit_forward(a, &in, t.out), WANC_ESHAPE, "the model takes 36");
        free(ref);
        free_inputs(&t);
    }
    wanc_dit_free(a);
    wanc_dit_free(b);
    remove(p);
    remove(q);
}

/* A random T2V checkpoint plus one extra tensor (its own file, the union is
 * the store): the optional modules' layouts are checked by name. */
static wanc_err infer_with_extra(const char *extra_name, int ndim, const int64_t *shape, wanc_dit_config *got)
{
    char base[256], extra[256];
    tmp_path(base, sizeof base, "base");
    tmp_path(extra, sizeof extra, "extra");
    wanc_dit_config c = tiny_config(false);
    wanc_err err = wanc_dit_random_write(base, &c, WANC_F32, 3);
    float *v = calloc((size_t)wanc_numel(ndim, shape), sizeof(float));
    wanc_tensor t = wanc_tensor_wrap(v, WANC_F32, ndim, shape);
    if (!err) err = v ? wanc_safetensors_write(extra, 1, &extra_name, &t, NULL) : wanc_error(WANC_ENOMEM, "oom");
    wanc_weights *w = NULL;
    if (!err) err = wanc_weights_open_files(&w, (const char *[]){base, extra}, 2);
    if (!err) err = wanc_dit_infer_config(got, w, 0);
    if (w) wanc_weights_close(w);
    free(v);
    remove(base);
    remove(extra);
    return err;
}

TEST(dit_optional_module_layouts)
{
    wanc_dit_config got;
    CHECK_ERR(infer_with_extra("vace_blocks.0.modulation", 3, (int64_t[]){1, 6, 64}, &got), WANC_EFORMAT,
              "vace_blocks.* without vace_patch_embedding.weight");
    CHECK_ERR(infer_with_extra("vace_patch_embedding.weight", 5, (int64_t[]){64, 96, 1, 2, 2}, &got), WANC_EFORMAT,
              "vace_patch_embedding.weight without vace_blocks.0.modulation");
    CHECK_ERR(infer_with_extra("ref_conv.weight", 4, (int64_t[]){64, 16, 3, 3}, &got), WANC_ESHAPE,
              "ref_conv.weight has shape");
    CHECK_OK(infer_with_extra("ref_conv.weight", 4, (int64_t[]){64, 16, 2, 2}, &got));
    CHECK(got.has_ref_conv && got.ref_in_dim == 16 && !got.vace_num_blocks && !got.has_control_adapter);
    CHECK_ERR(infer_with_extra("control_adapter.conv.weight", 4, (int64_t[]){64, 100, 2, 2}, &got), WANC_ESHAPE,
              "control_adapter.conv.weight has shape");
    CHECK_OK(infer_with_extra("control_adapter.conv.weight", 4, (int64_t[]){64, 24 * 64, 2, 2}, &got));
    CHECK(got.has_control_adapter && got.control_in_dim == 24);
    CHECK_ERR(infer_with_extra("control_adapter.residual_blocks.0.conv1.weight", 4, (int64_t[]){64, 64, 3, 3}, &got),
              WANC_EFORMAT, "residual blocks without control_adapter.conv");
}

/* Inputs for modules the model does not have are named errors, not ignored. */
TEST(dit_module_inputs_need_the_module)
{
    char p[256];
    tmp_path(p, sizeof p, "mods");
    wanc_dit_config c = tiny_config(false);
    CHECK_OK(wanc_dit_random_write(p, &c, WANC_F32, 5));
    wanc_dit *dit = NULL;
    CHECK_OK(wanc_dit_open(&dit, wanc_backend_cpu(), p, &(wanc_dit_options){0}));
    if (!dit) return;
    tiny_inputs t;
    wanc_dit_inputs in = make_inputs(&t, &c);
    float extra[96 * 2 * 4 * 6] = {0};
    wanc_dit_inputs v = in;
    v.vace_context = extra, v.vace_c = 96, v.vace_scale = 1;
    CHECK_ERR(wanc_dit_forward(dit, &v, t.out), WANC_EINVAL, "no VACE");
    v = in;
    v.reference = extra, v.ref_c = 16;
    CHECK_ERR(wanc_dit_forward(dit, &v, t.out), WANC_EINVAL, "no ref_conv");
    v = in;
    v.camera = extra, v.camera_c = 24;
    CHECK_ERR(wanc_dit_forward(dit, &v, t.out), WANC_EINVAL, "no control_adapter");
    CHECK_OK(wanc_dit_forward(dit, &in, t.out));
    free_inputs(&t);
    wanc_dit_free(dit);
    remove(p);
}

/* The step-cache hook: a computed call hands the cache the tokens entering
 * and leaving the blocks; a skipped call adds the stored residual instead of
 * running them, so the same inputs give the same output (to rounding). */
typedef struct {
    bool skip_next;
    int checks, stores, updates;
    float *in, *residual;
    int64_t n, mod_n;
} mock_cache;

static wanc_err mock_check(void *user, const float *t_mod, int64_t mod_n, const float *x, int64_t n, bool *skip)
{
    mock_cache *m = user;
    (void)t_mod;
    m->checks++;
    m->mod_n = mod_n;
    *skip = m->skip_next;
    if (!*skip) {
        free(m->in);
        m->in = malloc(sizeof(float) * (size_t)n);
        if (!m->in) return wanc_error(WANC_ENOMEM, "mock cache");
        memcpy(m->in, x, sizeof(float) * (size_t)n);
        m->n = n;
    }
    return NULL;
}
static wanc_err mock_store(void *user, const float *x_out, int64_t n)
{
    mock_cache *m = user;
    m->stores++;
    free(m->residual);
    m->residual = malloc(sizeof(float) * (size_t)n);
    if (!m->residual) return wanc_error(WANC_ENOMEM, "mock cache");
    for (int64_t i = 0; i < n; i++) m->residual[i] = x_out[i] - m->in[i];
    return NULL;
}
static wanc_err mock_update(void *user, float *x, int64_t n)
{
    mock_cache *m = user;
    m->updates++;
    for (int64_t i = 0; i < n; i++) x[i] += m->residual[i];
    return NULL;
}

TEST(dit_step_cache_hook)
{
    char p[256];
    tmp_path(p, sizeof p, "cache");
    wanc_dit_config c = tiny_config(false);
    CHECK_OK(wanc_dit_random_write(p, &c, WANC_F32, 9));
    wanc_dit *dit = NULL;
    CHECK_OK(wanc_dit_open(&dit, wanc_backend_cpu(), p, &(wanc_dit_options){0}));
    if (!dit) return;
    tiny_inputs t;
    wanc_dit_inputs in = make_inputs(&t, &c);
    const int64_t n = 16 * in.F * in.H * in.W;
    float *plain = malloc(sizeof(float) * (size_t)n), *cached = malloc(sizeof(float) * (size_t)n);
    mock_cache m = {0};
    wanc_dit_cache hook = {.check = mock_check, .store = mock_store, .update = mock_update, .user = &m};
    CHECK_OK(wanc_dit_forward(dit, &in, plain));
    in.cache = &hook;
    CHECK_OK(wanc_dit_forward(dit, &in, t.out)); /* computed: stores */
    CHECK(!memcmp(plain, t.out, sizeof(float) * (size_t)n));
    m.skip_next = true;
    CHECK_OK(wanc_dit_forward(dit, &in, cached)); /* skipped: blocks bypassed */
    CHECK(m.checks == 2 && m.stores == 1 && m.updates == 1 && m.mod_n == 6 * c.dim);
    CHECK(m.n == (int64_t)(in.F * in.H / 2 * in.W / 2) * c.dim);
    double worst = 0, peak = 0;
    for (int64_t i = 0; i < n; i++) {
        worst = fmax(worst, fabs((double)cached[i] - plain[i]));
        peak = fmax(peak, fabs((double)plain[i]));
    }
    CHECK(worst <= 1e-5 * peak);
    in.cache = &(wanc_dit_cache){.check = mock_check, .user = &m};
    CHECK_ERR(wanc_dit_forward(dit, &in, t.out), WANC_EINVAL, "needs check, store and update");
    free(m.in), free(m.residual), free(plain), free(cached);
    free_inputs(&t);
    wanc_dit_free(dit);
    remove(p);
}

/* A random 4-layer DiT with 3 VACE blocks (base file + a vace_* file, the
 * union is the store): 3 blocks over 4 layers is no released stride, so the
 * mapping must be stated (wanc_dit_options.config_json, DiffSynth's
 * vace_layers); stated fields the tensors determine must agree with them. */
static wanc_err write_vace_dit(const char *base, const char *vace)
{
    wanc_dit_config c = tiny_config(false);
    c.num_layers = 4;
    TRY(wanc_dit_random_write(base, &c, WANC_F32, 21));
    wanc_weights *w;
    TRY(wanc_weights_open(&w, base));
    wanc_random_tensor t[160];
    int n = 0;
    for (int j = 0; j < 3; j++) {
        for (int i = 0; i < wanc_weights_count(w) && n < 140; i++) {
            const char *name = wanc_weights_name(w, i);
            if (strncmp(name, "blocks.0.", 9)) continue;
            const wanc_tensor *src = wanc_weights_find(w, name);
            t[n] = (wanc_random_tensor){.dtype = WANC_F32, .ndim = src->ndim, .std = 0.05f};
            memcpy(t[n].shape, src->shape, sizeof(int64_t) * (size_t)src->ndim);
            snprintf(t[n++].name, sizeof t[0].name, "vace_blocks.%d.%s", j, name + 9);
        }
        t[n] = (wanc_random_tensor){.dtype = WANC_F32, .ndim = 2, .shape = {64, 64}, .std = 0.05f};
        snprintf(t[n++].name, sizeof t[0].name, "vace_blocks.%d.after_proj.weight", j);
        t[n] = (wanc_random_tensor){.dtype = WANC_F32, .ndim = 1, .shape = {64}, .std = 0.05f};
        snprintf(t[n++].name, sizeof t[0].name, "vace_blocks.%d.after_proj.bias", j);
    }
    wanc_weights_close(w);
    t[n++] = (wanc_random_tensor){"vace_blocks.0.before_proj.weight", WANC_F32, 2, {64, 64}, 0.05f, 0};
    t[n++] = (wanc_random_tensor){"vace_blocks.0.before_proj.bias", WANC_F32, 1, {64}, 0.05f, 0};
    t[n++] = (wanc_random_tensor){"vace_patch_embedding.weight", WANC_F32, 5, {64, 96, 1, 2, 2}, 0.05f, 0};
    t[n++] = (wanc_random_tensor){"vace_patch_embedding.bias", WANC_F32, 1, {64}, 0.05f, 0};
    return wanc_random_safetensors_write(vace, n, t, 22, NULL);
}

static wanc_weights *vace_store; /* the loaded model's store (wanc_dit_load does not own it) */

static wanc_err open_vace(wanc_dit **out, const char *base, const char *vace, const char *json)
{
    wanc_weights *w;
    TRY(wanc_weights_open_files(&w, (const char *[]){base, vace}, 2));
    wanc_err err = wanc_dit_load(out, wanc_backend_cpu(), w, &(wanc_dit_options){.config_json = json});
    if (err) wanc_weights_close(w);
    else vace_store = w;
    return err;
}

TEST(dit_stated_config_vace_layers)
{
    char base[256], vace[256];
    tmp_path(base, sizeof base, "vbase");
    tmp_path(vace, sizeof vace, "vace");
    CHECK_OK(write_vace_dit(base, vace));
    wanc_dit *d = NULL;
    CHECK_ERR(open_vace(&d, base, vace, NULL), WANC_EFORMAT, "state vace_layers");
    CHECK_ERR(open_vace(&d, base, vace, "{\"vace_layers\": [0, 1]}"), WANC_EINVAL, "2 layers for 3 VACE blocks");
    CHECK_ERR(open_vace(&d, base, vace, "{\"vace_layers\": [0, 1, 4]}"), WANC_EINVAL, "the DiT has 4 layers");
    CHECK_ERR(open_vace(&d, base, vace, "{\"vace_layers\": [0, 3, 3]}"), WANC_EINVAL, "names layer 3 twice");
    CHECK_ERR(open_vace(&d, base, vace, "{\"dit\": {\"num_layers\": 5}, \"vace\": {\"vace_layers\": [0, 1, 3]}}"),
              WANC_EINVAL, "num_layers = 5");
    CHECK_ERR(open_vace(&d, base, vace, "[1]"), WANC_EFORMAT, "not a JSON object");
    CHECK_OK(open_vace(&d, base, vace, "{\"dit\": {\"dim\": 64, \"num_heads\": 2, \"eps\": 1e-6, \"num_layers\": 4}, "
                                       "\"vace\": {\"vace_layers\": [0, 1, 3], \"vace_in_dim\": 96}}"));
    if (d) {
        const wanc_dit_config *c = wanc_dit_get_config(d);
        CHECK(c->vace_num_blocks == 3 && c->vace_layers[0] == 0 && c->vace_layers[1] == 1 && c->vace_layers[2] == 3);
        CHECK(c->num_heads == 2);
        /* the hints reach the output: scale 0 equals no VACE input, scale 1 differs */
        tiny_inputs t;
        wanc_dit_inputs in = make_inputs(&t, c);
        const int64_t n = 16 * in.F * in.H * in.W;
        float *plain = malloc(sizeof(float) * (size_t)n), *vc = calloc((size_t)(96 * in.F * in.H * in.W), sizeof(float));
        for (int64_t i = 0; vc && i < 96 * in.F * in.H * in.W; i++) vc[i] = (float)((i * 7919) % 13) / 13.0f - 0.5f;
        CHECK_OK(wanc_dit_forward(d, &in, plain));
        in.vace_context = vc, in.vace_c = 96, in.vace_scale = 0;
        CHECK_OK(wanc_dit_forward(d, &in, t.out));
        CHECK(max_diff(plain, t.out, n) == 0.0f);
        in.vace_scale = 1;
        CHECK_OK(wanc_dit_forward(d, &in, t.out));
        CHECK(max_diff(plain, t.out, n) > 0.0f);
        free(plain);
        free(vc);
        free_inputs(&t);
    }
    wanc_dit_free(d);
    if (vace_store) wanc_weights_close(vace_store);
    remove(base);
    remove(vace);
}

/* Streaming (--max-memory): each block's pages are read ahead by a helper
 * thread and dropped after use; the output must not change, forward after
 * forward, and freeing the DiT right after a forward must be clean. */
TEST(dit_streamed_blocks_give_the_resident_output)
{
    char p[256];
    tmp_path(p, sizeof p, "stream");
    wanc_dit_config c = tiny_config(false);
    c.num_layers = 4;
    CHECK_OK(wanc_dit_random_write(p, &c, WANC_BF16, 17));
    const wanc_backend *be = wanc_backend_cpu();
    wanc_dit *resident = NULL, *streamed = NULL;
    wanc_dit_options o = {.num_heads = 2}, os = o;
    os.stream_blocks = true;
    CHECK_OK(wanc_dit_open(&resident, be, p, &o));
    CHECK_OK(wanc_dit_open(&streamed, be, p, &os));
    if (resident && streamed) {
        tiny_inputs t;
        wanc_dit_inputs in = make_inputs(&t, &c);
        int64_t n_out = 16 * in.F * in.H * in.W;
        float *ref = malloc(sizeof(float) * (size_t)n_out);
        CHECK_OK(wanc_dit_forward(resident, &in, ref));
        int differ = 0;
        for (int k = 0; k < 3; k++) {
            CHECK_OK(wanc_dit_forward(streamed, &in, t.out));
            differ += max_diff(ref, t.out, n_out) != 0.0f;
        }
        CHECK(differ == 0);
        free(ref);
        free_inputs(&t);
    }
    wanc_dit_free(resident);
    wanc_dit_free(streamed);
    remove(p);
}

/* Classifier-free guidance's two branches in one pass (a streamed DiT reads
 * each block once for both): the same bits as two forwards, resident or
 * streamed, bf16 or fp32 compute. */
TEST(dit_cfg_pair_gives_two_forwards_bits)
{
    char p[256];
    tmp_path(p, sizeof p, "pair");
    wanc_dit_config c = tiny_config(false);
    c.num_layers = 3;
    CHECK_OK(wanc_dit_random_write(p, &c, WANC_BF16, 23));
    const wanc_backend *be = wanc_backend_cpu();
    for (int mode = 0; mode < 4; mode++) {
        wanc_dit *d = NULL;
        wanc_dit_options o = {.num_heads = 2, .stream_blocks = mode & 1, .precision = mode & 2 ? WANC_DIT_BF16 : WANC_DIT_FP32};
        CHECK_OK(wanc_dit_open(&d, be, p, &o));
        if (!d) continue;
        tiny_inputs t;
        wanc_dit_inputs posi = make_inputs(&t, &c), nega = posi;
        const int64_t n_out = 16 * posi.F * posi.H * posi.W, nctx = posi.ctx_len * c.text_dim;
        float *ctx2 = malloc(sizeof(float) * (size_t)nctx), *ref[2], *got[2];
        for (int64_t i = 0; i < nctx; i++) ctx2[i] = -0.5f * t.ctx[(i * 31) % nctx];
        nega.context = ctx2;
        for (int b = 0; b < 2; b++) {
            ref[b] = malloc(sizeof(float) * (size_t)n_out);
            got[b] = malloc(sizeof(float) * (size_t)n_out);
        }
        CHECK_OK(wanc_dit_forward(d, &posi, ref[0]));
        CHECK_OK(wanc_dit_forward(d, &nega, ref[1]));
        CHECK(max_diff(ref[0], ref[1], n_out) > 0.0f); /* the context matters */
        CHECK_OK(wanc_dit_forward_cfg_pair(d, &posi, &nega, got[0], got[1]));
        CHECK(memcmp(ref[0], got[0], sizeof(float) * (size_t)n_out) == 0);
        CHECK(memcmp(ref[1], got[1], sizeof(float) * (size_t)n_out) == 0);
        for (int b = 0; b < 2; b++) free(ref[b]), free(got[b]);
        free(ctx2);
        free_inputs(&t);
        wanc_dit_free(d);
    }
    remove(p);
}

/* The fused ops (norm + modulation, GELU and gated-residual epilogues) give
 * the DiT forward the unfused ops' bits: a table without them runs the
 * separate ops. fp32 and bf16 compute. */
TEST(dit_fused_ops_give_the_unfused_forward_bits)
{
    char p[256];
    tmp_path(p, sizeof p, "fused");
    wanc_dit_config c = tiny_config(false);
    c.num_layers = 2;
    CHECK_OK(wanc_dit_random_write(p, &c, WANC_BF16, 29));
    wanc_backend unfused = *wanc_backend_cpu();
    unfused.linear_fused = NULL;
    unfused.layer_norm_modulate = NULL;
    const wanc_backend *tables[2] = {wanc_backend_cpu(), &unfused};
    for (int bf16 = 0; bf16 < 2; bf16++) {
        float *out[2] = {NULL, NULL};
        int64_t n_out = 0;
        for (int t = 0; t < 2; t++) {
            wanc_dit *d = NULL;
            wanc_dit_options o = {.num_heads = 2, .precision = bf16 ? WANC_DIT_BF16 : WANC_DIT_FP32};
            CHECK_OK(wanc_dit_open(&d, tables[t], p, &o));
            if (!d) continue;
            tiny_inputs ti;
            wanc_dit_inputs in = make_inputs(&ti, &c);
            n_out = 16 * in.F * in.H * in.W;
            out[t] = malloc(sizeof(float) * (size_t)n_out);
            CHECK_OK(wanc_dit_forward(d, &in, out[t]));
            free_inputs(&ti);
            wanc_dit_free(d);
        }
        CHECK(out[0] && out[1] && !memcmp(out[0], out[1], sizeof(float) * (size_t)n_out));
        free(out[0]), free(out[1]);
    }
    remove(p);
}
