/* DiT unit tests: config inference, heads from metadata/options, named errors,
 * the float64 tables, diffusers names (renamed, saved, loaded back), and that
 * a forward is repeatable (arena reuse) and thread-count independent. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "backend/backend.h"
#include "core/threads.h"
#include "dit/dit_random.h"
#include "dit/wan_dit.h"
#include "test.h"

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
