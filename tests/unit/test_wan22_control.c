/* Wan2.2's two-expert control models on tiny random DiTs: Fun-A14B-Control
 * (in_dim 52, ref_conv), Fun-A14B-Control-Camera (in_dim 36, camera
 * adapter) and VACE-Fun-A14B (T2V experts with VACE blocks) run the same
 * control units as their one-DiT relatives, with the expert switch.
 *
 * For each family, with experts A and B of the family's shape:
 *   - A given as both experts gives the frames of A alone, bit for bit (the
 *     units and the switch add nothing of their own);
 *   - with A then B, every step before the boundary's step is A's (its
 *     prediction equals the A+A run's bit for bit), and at that step the
 *     prediction on the same latents is B's (it differs);
 *   - the description names the family, its experts and its boundary.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "wanc.h"
#include "dit/dit_random.h"
#include "test.h"

#define STEPS 4
#define VH 32
#define VW 48
#define VT 5

static char root[4096];
static wanc_pipeline_files demo; /* the demo's tokenizer, T5 (text_dim 32), VAE */
static char paths[4][4096];
static void remove_root(void) { test_rm_tree(root); }

static bool setup(void)
{
    if (root[0]) return true;
    if (!test_make_tmpdir(root, sizeof root, "wan22ctl")) return false;
    atexit(remove_root);
    char dir[4200];
    snprintf(dir, sizeof dir, "%s/demo", root);
    int heads;
    wanc_err err = wanc_demo_write_models(dir, &demo, &heads);
    const char *src[4] = {demo.dit, demo.t5, demo.vae, demo.tokenizer};
    for (int i = 0; i < 4; i++) snprintf(paths[i], sizeof paths[i], "%s", src[i]);
    demo = (wanc_pipeline_files){.t5 = paths[1], .vae = paths[2], .tokenizer = paths[3]};
    if (err) {
        fprintf(stderr, "  writing the demo models: %s\n", wanc_error_message(err));
        wanc_error_free(err);
        return false;
    }
    return true;
}

typedef enum { FUN_CONTROL, FUN_CAMERA, VACE } family;
static const char *const family_name[] = {"Wan2.2 Fun-A14B Control", "Wan2.2 Fun-A14B Control-Camera",
                                          "Wan2.2 VACE-Fun-A14B"};
/* one expert alone: the control models are told by their shape, VACE is Wan2.1's */
static const char *const alone_name[] = {"Wan2.2 Fun-A14B Control, 1 expert",
                                         "Wan2.2 Fun-A14B Control-Camera, 1 expert", "Wan2.1 VACE"};

/* The family's expert shape at the demo's width (text_dim 32). */
static wanc_dit_config tiny(family f)
{
    wanc_dit_config c = {.dim = 64, .in_dim = 16, .out_dim = 16, .ffn_dim = 128, .text_dim = 32, .freq_dim = 256,
                         .num_heads = 2, .num_layers = 2, .patch = {1, 2, 2}, .eps = 1e-6f};
    if (f == FUN_CONTROL) c.in_dim = 52, c.has_ref_conv = true, c.ref_in_dim = 16;
    if (f == FUN_CAMERA) c.in_dim = 36, c.has_control_adapter = true, c.control_in_dim = 24;
    if (f == VACE) c.vace_num_blocks = 2, c.vace_in_dim = 96, c.vace_layers[0] = 0, c.vace_layers[1] = 1;
    return c;
}

/* What a run's steps looked like. */
typedef struct {
    int expert[STEPS];
    float *pred[STEPS], *lat_in[STEPS];
    int64_t n;
} steps_log;

static void keep(float **dst, const float *x, int64_t n)
{
    free(*dst);
    *dst = malloc(sizeof(float) * (size_t)n);
    if (*dst) memcpy(*dst, x, sizeof(float) * (size_t)n);
}

static void observe(void *user, const char *name, const float *x, int64_t n)
{
    steps_log *l = user;
    int k;
    char what[48];
    if (sscanf(name, "step%d.%47s", &k, what) != 2 || k < 0 || k >= STEPS) return;
    if (!strcmp(what, "expert")) l->expert[k] = (int)x[0];
    else if (!strcmp(what, "noise_pred_posi")) keep(&l->pred[k], x, l->n = n);
    else if (!strcmp(what, "latents_in")) keep(&l->lat_in[k], x, n);
}

static void log_free(steps_log *l)
{
    for (int k = 0; k < STEPS; k++) free(l->pred[k]), free(l->lat_in[k]);
    memset(l, 0, sizeof *l);
}

static bool same(const float *a, const float *b, int64_t n)
{
    return a && b && !memcmp(a, b, sizeof(float) * (size_t)n);
}

/* The family's inputs: a moving pattern as the control / VACE video, a
 * still as the image. */
static uint8_t video[VT * VH * VW * 3], image[VH * VW * 3];

static int conds_for(family f, wanc_gen_params *p, wanc_cond *c)
{
    for (int t = 0; t < VT; t++)
        for (int i = 0; i < VH * VW * 3; i++) video[t * VH * VW * 3 + i] = (uint8_t)(i * 7 + t * 29 + (i / (VW * 3)) * 3);
    for (int i = 0; i < VH * VW * 3; i++) image[i] = (uint8_t)(i * 13 + 50);
    const wanc_media vid = {video, VT, VH, VW}, img = {image, 1, VH, VW};
    int n = 0;
    if (f == FUN_CONTROL) {
        c[n++] = (wanc_cond){.kind = WANC_COND_CONTROL_VIDEO, .media = vid};
        c[n++] = (wanc_cond){.kind = WANC_COND_REFERENCE_IMAGE, .media = img};
        p->input_image = image, p->input_image_height = VH, p->input_image_width = VW; /* y's mask + image part */
    } else if (f == FUN_CAMERA) {
        c[n++] = (wanc_cond){.kind = WANC_COND_CAMERA, .text = "LeftUp", .value = 0.02f};
        p->input_image = image, p->input_image_height = VH, p->input_image_width = VW;
    } else {
        c[n++] = (wanc_cond){.kind = WANC_COND_VACE_VIDEO, .media = vid};
        c[n++] = (wanc_cond){.kind = WANC_COND_VACE_REFERENCE_IMAGE, .media = img};
        c[n++] = (wanc_cond){.kind = WANC_COND_VACE_SCALE, .value = 0.8f};
    }
    return n;
}

/* Run the family's inputs on experts a (and b); frames into v, steps into l. */
static wanc_err run(family f, const char *a, const char *b, wanc_video *v, steps_log *l, char *desc, size_t cap)
{
    wanc_pipeline_files files = demo;
    files.dit = a;
    files.dit2 = b;
    wanc_pipeline_options o;
    wanc_pipeline_options_default(&o);
    o.dit_heads = 2;
    o.precision = WANC_PRECISION_FP32;
    wanc_pipeline *pipe = NULL;
    TRY(wanc_pipeline_load(&pipe, &files, &o));
    snprintf(desc, cap, "%s", wanc_pipeline_describe(pipe));
    wanc_gen_params p;
    wanc_gen_params_default(&p);
    p.prompt = "a boat on the sea";
    p.negative_prompt = "blurry";
    p.height = VH, p.width = VW, p.num_frames = VT, p.num_inference_steps = STEPS, p.seed = 7;
    wanc_cond c[4];
    p.n_conds = conds_for(f, &p, c);
    p.conds = c;
    p.observe = observe, p.observe_user = l;
    wanc_err err = wanc_generate(pipe, &p, v);
    wanc_pipeline_free(pipe);
    return err;
}

static void check_family(family f, int *test_failed_)
{
    if (!setup()) {
        CHECK(false);
        return;
    }
    char a[4300], b[4300];
    snprintf(a, sizeof a, "%s/%d_high.safetensors", root, (int)f);
    snprintf(b, sizeof b, "%s/%d_low.safetensors", root, (int)f);
    wanc_dit_config c = tiny(f);
    CHECK_OK(wanc_dit_random_write(a, &c, WANC_F32, 100 + (uint64_t)f));
    CHECK_OK(wanc_dit_random_write(b, &c, WANC_F32, 200 + (uint64_t)f));
    wanc_video alone = {0}, twice = {0}, pair = {0};
    steps_log l_alone = {0}, l_twice = {0}, l_pair = {0};
    char d_alone[512], d_twice[512], d_pair[512];
    CHECK_OK(run(f, a, NULL, &alone, &l_alone, d_alone, sizeof d_alone));
    CHECK_OK(run(f, a, a, &twice, &l_twice, d_twice, sizeof d_twice));
    CHECK_OK(run(f, a, b, &pair, &l_pair, d_pair, sizeof d_pair));
    char want[160];
    snprintf(want, sizeof want, "%s, 2 experts, boundary 0.875: ", family_name[f]);
    CHECK(strncmp(d_pair, want, strlen(want)) == 0);
    CHECK(strncmp(d_twice, want, strlen(want)) == 0);
    CHECK(strncmp(d_alone, alone_name[f], strlen(alone_name[f])) == 0 && d_alone[strlen(alone_name[f])] == ':');
    if (strncmp(d_pair, want, strlen(want)) || strncmp(d_alone, alone_name[f], strlen(alone_name[f])))
        fprintf(stderr, "  described as '%s' / '%s'\n", d_pair, d_alone);

    /* the same file as both experts: the one-expert run, bit for bit */
    const size_t bytes = (size_t)alone.T * alone.H * alone.W * 3;
    const bool equal = alone.frames && twice.frames && alone.T == VT && twice.T == VT &&
                       !memcmp(alone.frames, twice.frames, bytes);
    CHECK(equal);

    /* A then B: A's steps until the boundary's step, B's from it */
    const int sw = test_expected_switch(0.875, STEPS);
    CHECK(sw > 0 && sw < STEPS);
    int wrong_expert = 0, before_differs = 0;
    for (int k = 0; k < STEPS; k++) {
        wrong_expert += l_pair.expert[k] != (k >= sw) || l_twice.expert[k] != (k >= sw);
        if (k < sw) before_differs += !same(l_pair.pred[k], l_twice.pred[k], l_pair.n);
    }
    const bool same_input = same(l_pair.lat_in[sw], l_twice.lat_in[sw], l_pair.n);
    const bool b_at_switch = !same(l_pair.pred[sw], l_twice.pred[sw], l_pair.n);
    fprintf(stderr, "  %s: A+A %s A alone; A+B switches at step %d of %d (%d wrong experts, %d earlier steps "
            "differ, step %d %s A's on the same latents)\n", family_name[f],
            equal ? "gives exactly" : "DIFFERS from", sw, STEPS, wrong_expert, before_differs, sw,
            b_at_switch ? "differs from" : "EQUALS");
    CHECK(wrong_expert == 0);
    CHECK(before_differs == 0);
    CHECK(same_input && b_at_switch);
    wanc_video_free(&alone), wanc_video_free(&twice), wanc_video_free(&pair);
    log_free(&l_alone), log_free(&l_twice), log_free(&l_pair);
}

TEST(wan22_fun_a14b_control_runs_the_fun_units_with_two_experts) { check_family(FUN_CONTROL, test_failed_); }
TEST(wan22_fun_a14b_control_camera_runs_the_camera_unit_with_two_experts) { check_family(FUN_CAMERA, test_failed_); }
TEST(wan22_vace_fun_a14b_runs_the_vace_unit_with_two_experts) { check_family(VACE, test_failed_); }
