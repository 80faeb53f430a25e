/* Wan2.2 in the pipeline, on tiny random models: the A14B expert switch (the
 * step the boundary implies, one expert mapped at a time, per-expert CFG),
 * the release layout found by --model-dir, the family in the description,
 * and the pairings that cannot work.
 *
 * The expert test replaces the DiT by the test hook (velocity_override),
 * which sees which expert the pipeline would call and reads /proc/self/maps
 * to see which expert files are mapped at that moment.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "wanc.h"
#include "dit/dit_random.h"
#include "sched/flow_match.h"
#include "test.h"
#include "vae/wan_vae.h"

#define STEPS 8

static char root[4096];
static wanc_pipeline_files demo; /* tokenizer, T5, VAE, DiT of the demo (T2V, text_dim 32) */
static char paths[4][4096];     /* demo dit, t5, vae, tokenizer */
static char high[4200], low[4200], model_dir[4200];
static int heads;
static void remove_root(void) { test_rm_tree(root); }

/* The demo's DiT config with another seed: a second expert of the same shapes. */
static wanc_dit_config tiny_dit(int in_dim, int out_dim)
{
    return (wanc_dit_config){.dim = 64, .in_dim = in_dim, .out_dim = out_dim, .ffn_dim = 128, .text_dim = 32,
                             .freq_dim = 256, .num_heads = 2, .num_layers = 2, .patch = {1, 2, 2}, .eps = 1e-6f};
}

/* A release-like folder: the demo's text and VAE files, high_noise_model/ and
 * low_noise_model/ each with 3 shards and an index. */
static bool setup(void)
{
    if (root[0]) return true;
    if (!test_make_tmpdir(root, sizeof root, "wan22")) return false;
    atexit(remove_root);
    snprintf(model_dir, sizeof model_dir, "%s/a14b", root);
    wanc_err err = wanc_demo_write_models(model_dir, &demo, &heads);
    const char *src[4] = {demo.dit, demo.t5, demo.vae, demo.tokenizer};
    for (int i = 0; i < 4; i++) snprintf(paths[i], sizeof paths[i], "%s", src[i]);
    demo = (wanc_pipeline_files){.dit = paths[0], .t5 = paths[1], .vae = paths[2], .tokenizer = paths[3]};
    wanc_dit_config c = tiny_dit(16, 16);
    snprintf(high, sizeof high, "%s/high_noise_model", model_dir);
    snprintf(low, sizeof low, "%s/low_noise_model", model_dir);
    if (!err && (mkdir(high, 0755) || mkdir(low, 0755))) err = wanc_error(WANC_EIO, "mkdir");
    if (!err) err = wanc_dit_random_write_shards(high, &c, WANC_BF16, 11, 3);
    if (!err) err = wanc_dit_random_write_shards(low, &c, WANC_BF16, 12, 3);
    if (err) {
        fprintf(stderr, "  writing the models: %s\n", wanc_error_message(err));
        wanc_error_free(err);
        return false;
    }
    return true;
}

typedef struct {
    int calls, expert[2 * STEPS], negative[2 * STEPS];
    float t[2 * STEPS];
    bool own_mapped[2 * STEPS], other_mapped[2 * STEPS];
} call_log;

/* Is a file under `dir` mapped into this process? */
static bool mapped(const char *dir)
{
    FILE *f = fopen("/proc/self/maps", "r");
    char line[8192];
    bool found = false;
    while (f && fgets(line, sizeof line, f))
        if (strstr(line, dir)) found = true;
    if (f) fclose(f);
    return found;
}

static wanc_err record(void *user, const wanc_dit_call *call, float *v)
{
    call_log *l = user;
    if (l->calls < 2 * STEPS) {
        int i = l->calls;
        l->expert[i] = call->expert;
        l->negative[i] = call->negative;
        l->t[i] = call->timestep;
        l->own_mapped[i] = mapped(call->expert ? low : high);
        l->other_mapped[i] = mapped(call->expert ? high : low);
    }
    l->calls++;
    for (int64_t i = 0; i < call->lat_c * call->F * call->H * call->W; i++) v[i] = 0.1f;
    return NULL;
}

static void params(wanc_gen_params *p, call_log *log)
{
    wanc_gen_params_default(p);
    p->prompt = "a cat";
    p->height = 32;
    p->width = 48;
    p->num_frames = 5;
    p->num_inference_steps = STEPS;
    p->seed = 3;
    p->velocity_override = record;
    p->velocity_user = log;
}

int test_expected_switch(double boundary, int steps)
{
    wanc_flow_sched s = {0};
    wanc_err err = wanc_flow_sched_init(&s, steps, 1.0f, 5.0f);
    int k = 0;
    while (!err && k < s.num_steps && !((double)s.timesteps[k] < boundary * 1000.0)) k++;
    wanc_error_free(err);
    wanc_flow_sched_free(&s);
    return k;
}

TEST(wan22_a14b_switches_experts_at_the_boundary_with_one_mapped)
{
    if (!setup()) {
        CHECK(false);
        return;
    }
    wanc_pipeline *pipe = NULL;
    wanc_pipeline_files f = {.model_dir = model_dir};
    wanc_pipeline_options o;
    wanc_pipeline_options_default(&o);
    o.dit_heads = heads;
    CHECK_OK(wanc_pipeline_load(&pipe, &f, &o));
    if (!pipe) return;
    CHECK(strstr(wanc_pipeline_describe(pipe), "Wan2.2 A14B T2V, 2 experts, boundary 0.875") ==
          wanc_pipeline_describe(pipe));
    const double boundaries[3] = {NAN, 0.5, 0.9};
    for (int b = 0; b < 3; b++) {
        call_log log = {0};
        wanc_gen_params p;
        params(&p, &log);
        p.switch_dit_boundary = (float)boundaries[b];
        wanc_video v = {0};
        CHECK_OK(wanc_generate(pipe, &p, &v));
        wanc_video_free(&v);
        const int sw = test_expected_switch(isnan(boundaries[b]) ? 0.875 : boundaries[b], STEPS);
        CHECK(sw > 0 && sw < STEPS);
        CHECK(log.calls == 2 * STEPS);
        int wrong = 0, both_mapped = 0;
        for (int i = 0; i < log.calls && i < 2 * STEPS; i++) {
            wrong += log.expert[i] != (i / 2 >= sw);
            both_mapped += !log.own_mapped[i] || log.other_mapped[i];
        }
        fprintf(stderr, "  boundary %.3g: switch at step %d of %d, %d calls on the wrong expert, %d with the "
                "other expert mapped\n", isnan(boundaries[b]) ? 0.875 : boundaries[b], sw, STEPS, wrong, both_mapped);
        CHECK(wrong == 0);
        CHECK(both_mapped == 0);
    }
    /* per-expert CFG: scale 1 while the high-noise expert runs skips its negative calls */
    call_log log = {0};
    wanc_gen_params p;
    params(&p, &log);
    p.cfg_scale_high = 1.0f;
    p.cfg_scale_low = 3.0f;
    wanc_video v = {0};
    CHECK_OK(wanc_generate(pipe, &p, &v));
    wanc_video_free(&v);
    const int sw = test_expected_switch(0.875, STEPS);
    CHECK(log.calls == sw + 2 * (STEPS - sw));
    int neg_high = 0;
    for (int i = 0; i < log.calls && i < 2 * STEPS; i++) neg_high += log.negative[i] && log.expert[i] == 0;
    CHECK(neg_high == 0);
    wanc_pipeline_free(pipe);
}

TEST(wan22_pairings_that_cannot_work_are_named_errors)
{
    if (!setup()) {
        CHECK(false);
        return;
    }
    wanc_pipeline_options o;
    wanc_pipeline_options_default(&o);
    o.dit_heads = heads;
    wanc_pipeline *pipe = NULL;
    /* a TI2V-5B DiT (in/out 48) with the Wan2.1 VAE */
    char ti2v[4300];
    snprintf(ti2v, sizeof ti2v, "%s/ti2v.safetensors", root);
    wanc_dit_config c = tiny_dit(48, 48);
    CHECK_OK(wanc_dit_random_write(ti2v, &c, WANC_BF16, 5));
    wanc_pipeline_files f = demo;
    f.dit = ti2v;
    CHECK_ERR(wanc_pipeline_load(&pipe, &f, &o), WANC_ESHAPE, "needs the Wan2.2 VAE");
    CHECK(pipe == NULL);
    /* experts of different shapes */
    char other[4300];
    snprintf(other, sizeof other, "%s/other.safetensors", root);
    c = tiny_dit(16, 16);
    c.dim = 128;
    c.num_heads = 2;
    CHECK_OK(wanc_dit_random_write(other, &c, WANC_BF16, 6));
    f = demo;
    f.dit2 = other;
    CHECK_ERR(wanc_pipeline_load(&pipe, &f, &o), WANC_ESHAPE, "do not fit together");
    /* two DiTs for a one-DiT family */
    f = demo;
    f.dit = ti2v;
    f.dit2 = ti2v;
    char vae22[4300];
    snprintf(vae22, sizeof vae22, "%s/Wan2.2_VAE.safetensors", root);
    CHECK_OK(wanc_vae22_write_random(vae22, 4, 6, WANC_F32, 8)); /* tiny, as test_vae22 */
    f.vae = vae22;
    CHECK_ERR(wanc_pipeline_load(&pipe, &f, &o), WANC_EINVAL, "has one");
    /* the same TI2V DiT alone with the Wan2.2 VAE is TI2V-5B */
    f.dit2 = NULL;
    CHECK_OK(wanc_pipeline_load(&pipe, &f, &o));
    if (pipe) CHECK(strncmp(wanc_pipeline_describe(pipe), "Wan2.2 TI2V-5B: ", 16) == 0);
    wanc_pipeline_free(pipe);
}

TEST(wan22_release_folder_without_its_low_noise_expert)
{
    if (!setup()) {
        CHECK(false);
        return;
    }
    char dir[4300], sub[4400];
    snprintf(dir, sizeof dir, "%s/half", root);
    snprintf(sub, sizeof sub, "%s/high_noise_model", dir);
    CHECK(mkdir(dir, 0755) == 0 && mkdir(sub, 0755) == 0);
    char file[4500];
    snprintf(file, sizeof file, "%s/diffusion_pytorch_model.safetensors", sub);
    wanc_dit_config c = tiny_dit(16, 16);
    CHECK_OK(wanc_dit_random_write(file, &c, WANC_BF16, 9));
    wanc_pipeline *pipe = NULL;
    wanc_pipeline_files f = {.model_dir = dir};
    CHECK_ERR(wanc_pipeline_load(&pipe, &f, NULL), WANC_ENOTFOUND, "low_noise_model");
}
