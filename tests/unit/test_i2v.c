/* Image-to-video through the whole pipeline (wanc_pipeline_load +
 * wanc_generate, as `wanc generate --input-image` runs it) on the demo's tiny
 * I2V / FLF2V models.
 *
 * Why the main check is a real one: a random DiT cannot show that frame 0 of
 * the video is the input image, so the DiT is replaced (the test hook
 * velocity_override) by the velocity v = (x − x₀)/σ with x₀ = the latent part
 * of the `y` the pipeline hands the DiT. Flow matching then lands exactly on
 * x₀ (x_{k+1} − x₀ = (x_k − x₀)·σ_{k+1}/σ_k, σ_N = 0), so the decoded frame 0
 * is VAE-decode(VAE-encode(image, zeros...)) frame 0 — which, the Wan VAE
 * being causal in time, equals the VAE round trip of the image alone. The
 * test computes that round trip on its own (resampler → tensor → encode one
 * frame → decode) and requires PSNR > 40 dB. It fails if the pipeline
 * conditions on anything else: the wrong image or orientation (checked: the
 * flipped image gives a low PSNR), a wrong resize, wrong y channel order
 * (mask and latents swapped), or y not reaching the model. The hook also
 * records what the DiT would get: y with 4 + 16 channels, 257 CLIP tokens
 * (514 for FLF2V), both CFG branches.
 */
#include <dirent.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "wanc.h"
#include "backend/backend.h"
#include "io/video_out.h"
#include "test.h"
#include "vae/wan_vae.h"
#include "vision/resample.h"

#define VH 32
#define VW 48
#define VT 9
#define IH 40 /* the input images are not the video size: the pipeline resizes */
#define IW 56

/* The model sets, written once per run: 0 T2V, 1 I2V, 2 FLF2V. */
static char model_root[4096];
static wanc_pipeline_files model_files[3];
static char model_paths[3][5][4096];
static int model_heads;
static void remove_models(void) { test_rm_tree(model_root); }

static const wanc_pipeline_files *models(int kind)
{
    static bool written[3];
    if (!model_root[0]) {
        if (!test_make_tmpdir(model_root, sizeof model_root, "i2v")) return NULL;
        atexit(remove_models);
    }
    if (!written[kind]) {
        char dir[4200];
        snprintf(dir, sizeof dir, "%s/m%d", model_root, kind);
        wanc_pipeline_files f;
        wanc_err err = kind ? wanc_demo_write_i2v_models(dir, kind == 2, &f, &model_heads)
                            : wanc_demo_write_models(dir, &f, &model_heads);
        if (err) {
            fprintf(stderr, "  writing the demo models: %s\n", wanc_error_message(err));
            wanc_error_free(err);
            return NULL;
        }
        /* the demo's paths live in a static buffer of the next call: copy */
        const char *src[5] = {f.dit, f.t5, f.vae, f.tokenizer, f.clip ? f.clip : ""};
        for (int i = 0; i < 5; i++) snprintf(model_paths[kind][i], sizeof model_paths[kind][i], "%s", src[i]);
        model_files[kind] = (wanc_pipeline_files){.dit = model_paths[kind][0], .t5 = model_paths[kind][1],
                                                  .vae = model_paths[kind][2], .tokenizer = model_paths[kind][3],
                                                  .clip = kind ? model_paths[kind][4] : NULL};
        written[kind] = true;
    }
    return &model_files[kind];
}

static wanc_err load(wanc_pipeline **p, int kind, wanc_precision prec)
{
    const wanc_pipeline_files *f = models(kind);
    if (!f) WANC_FAIL(WANC_EIO, "no demo models");
    wanc_pipeline_options o;
    wanc_pipeline_options_default(&o);
    o.precision = prec;
    o.dit_heads = model_heads;
    return wanc_pipeline_load(p, f, &o);
}

/* ---- the stand-in DiT -------------------------------------------------------- */

typedef struct {
    int calls, negative_calls;
    int64_t y_c, clip_len;
} hook_seen;

/* v = (x − x₀)/σ, x₀ = y[4:], σ = timestep/1000: the ODE ends on x₀. */
static wanc_err land_on_condition(void *user, const wanc_dit_call *c, float *v)
{
    hook_seen *s = user;
    s->calls++;
    s->negative_calls += c->negative;
    s->y_c = c->y_c;
    s->clip_len = c->clip ? c->clip_len : 0;
    if (!c->y || c->y_c != 4 + c->lat_c) WANC_FAIL(WANC_EINVAL, "y has %lld channels", (long long)c->y_c);
    int64_t plane = c->F * c->H * c->W, n = c->lat_c * plane;
    const float *x0 = c->y + 4 * plane;
    double sigma = c->timestep / 1000.0;
    for (int64_t i = 0; i < n; i++) v[i] = (float)((c->latents[i] - x0[i]) / sigma);
    return NULL;
}

typedef struct {
    float *final_latents, *y;
    int64_t n_final, n_y, n_clip;
} run_seen;

static void keep(void *user, const char *name, const float *x, int64_t n)
{
    run_seen *s = user;
    float **dst = !strcmp(name, "final_latents") ? &s->final_latents : !strcmp(name, "y") ? &s->y : NULL;
    if (!strcmp(name, "clip_feature")) s->n_clip = n;
    if (!dst) return;
    free(*dst);
    *dst = malloc(sizeof(float) * (size_t)n);
    if (*dst) memcpy(*dst, x, sizeof(float) * (size_t)n);
    if (dst == &s->final_latents) s->n_final = n;
    else s->n_y = n;
}

static void params(wanc_gen_params *p, const uint8_t *img, const uint8_t *end)
{
    wanc_gen_params_default(p);
    p->prompt = "a fox";
    p->negative_prompt = "blur";
    p->seed = 11;
    p->height = VH;
    p->width = VW;
    p->num_frames = VT;
    p->num_inference_steps = 3;
    p->input_image = img;
    p->input_image_height = IH;
    p->input_image_width = IW;
    if (end) {
        p->end_image = end;
        p->end_image_height = IH;
        p->end_image_width = IW;
    }
}

/* ---- the reference: the VAE round trip of the image alone ------------------- */

static wanc_err round_trip_frame(uint8_t *frame, const char *vae_path, const uint8_t *img)
{
    uint8_t rs[VH * VW * 3];
    float x[3 * VH * VW], z[16 * (VH / 8) * (VW / 8)], out[3 * VH * VW];
    TRY(wanc_resize_pil_bicubic(rs, VH, VW, img, IH, IW, IW * 3));
    wanc_image_to_tensor(x, rs, VH, VW);
    wanc_vae21 *vae;
    TRY(wanc_vae21_open(&vae, vae_path, wanc_backend_cpu()));
    wanc_vae_opts o;
    wanc_vae_opts_default(&o);
    wanc_err err = wanc_vae21_encode(vae, z, x, 1, VH, VW, &o);
    if (!err) err = wanc_vae21_decode(vae, out, z, 16, 1, VH / 8, VW / 8, &o);
    wanc_vae21_free(vae);
    if (!err) err = wanc_video_to_u8(frame, out, 1, 3, 1, VH, VW, false);
    return err;
}

static double psnr(const uint8_t *a, const uint8_t *b, int64_t n)
{
    double se = 0;
    for (int64_t i = 0; i < n; i++) se += (double)(a[i] - b[i]) * (a[i] - b[i]);
    return se == 0 ? INFINITY : 10 * log10(255.0 * 255.0 / (se / (double)n));
}

static void flip_horizontally(uint8_t *dst, const uint8_t *src)
{
    for (int y = 0; y < IH; y++)
        for (int x = 0; x < IW; x++) memcpy(dst + (y * IW + x) * 3, src + (y * IW + (IW - 1 - x)) * 3, 3);
}

/* Generate with the stand-in DiT; frame 0 against the round trip of `expect`. */
static double frame0_psnr(int *test_failed_, wanc_pipeline *pipe, int kind, const uint8_t *img, const uint8_t *end,
                          const uint8_t *expect)
{
    wanc_gen_params p;
    params(&p, img, end);
    hook_seen hs = {0};
    run_seen rs = {0};
    p.velocity_override = land_on_condition;
    p.velocity_user = &hs;
    p.observe = keep;
    p.observe_user = &rs;
    wanc_video v = {0};
    double db = -1;
    CHECK_OK(wanc_generate(pipe, &p, &v));
    if (v.frames) {
        CHECK(v.T == VT && v.H == VH && v.W == VW);
        /* the DiT's inputs: both CFG branches, y = 4 mask + 16 latent channels, the CLIP tokens */
        CHECK(hs.calls == 6 && hs.negative_calls == 3);
        CHECK(hs.y_c == 20);
        CHECK(hs.clip_len == (kind == 2 ? 514 : 257));
        CHECK(rs.n_clip == hs.clip_len * 1280);
        /* the ODE landed on the conditioning latents */
        CHECK(rs.final_latents && rs.y && rs.n_y == rs.n_final * 20 / 16);
        if (rs.final_latents && rs.y && rs.n_y == rs.n_final * 20 / 16) {
            const float *x0 = rs.y + rs.n_final / 4;
            double maxd = 0, maxr = 0;
            for (int64_t i = 0; i < rs.n_final; i++) {
                maxd = fmax(maxd, fabs(rs.final_latents[i] - x0[i]));
                maxr = fmax(maxr, fabs(x0[i]));
            }
            CHECK(maxd <= 1e-4 * maxr);
            /* the mask marks the last frame (channel 3 of the last latent frame) iff an end image is given */
            int64_t plane = (VH / 8) * (VW / 8), F = (VT - 1) / 4 + 1;
            const float *last = rs.y + (3 * F + F - 1) * plane;
            int64_t ones = 0;
            for (int64_t i = 0; i < plane; i++) ones += last[i] == 1.0f;
            CHECK(ones == (end ? plane : 0));
        }
        uint8_t ref[VH * VW * 3];
        CHECK_OK(round_trip_frame(ref, model_files[kind].vae, expect));
        db = psnr(v.frames, ref, VH * VW * 3);
    }
    free(rs.final_latents);
    free(rs.y);
    wanc_video_free(&v);
    return db;
}

TEST(i2v_frame0_is_the_vae_round_trip_of_the_input_image)
{
    wanc_pipeline *pipe = NULL;
    CHECK_OK(load(&pipe, 1, WANC_PRECISION_FP32));
    if (!pipe) return;
    CHECK(strstr(wanc_pipeline_describe(pipe), "I2V") != NULL);
    static uint8_t img[IH * IW * 3], flipped[IH * IW * 3];
    wanc_demo_image(img, IH, IW, false);
    flip_horizontally(flipped, img);
    double good = frame0_psnr(test_failed_, pipe, 1, img, NULL, img);
    /* the same check on a run conditioned on the flipped image must fail */
    double wrong = frame0_psnr(test_failed_, pipe, 1, flipped, NULL, img);
    fprintf(stderr, "  i2v frame 0 vs the VAE round trip of the image: %.1f dB; conditioned on the flipped "
            "image: %.1f dB\n", good, wrong);
    CHECK(good > 40);
    CHECK(wrong < 30);
    wanc_pipeline_free(pipe);
}

/* I2V with the optional end image: the VAE input and mask take it, the CLIP
 * tokens stay the start image's 257 (the DiT has no image position embedding). */
TEST(i2v_with_end_image)
{
    wanc_pipeline *pipe = NULL;
    CHECK_OK(load(&pipe, 1, WANC_PRECISION_FP32));
    if (!pipe) return;
    static uint8_t img[IH * IW * 3], end[IH * IW * 3];
    wanc_demo_image(img, IH, IW, false);
    wanc_demo_image(end, IH, IW, true);
    double db = frame0_psnr(test_failed_, pipe, 1, img, end, img);
    fprintf(stderr, "  i2v with an end image, frame 0 vs the round trip of the first image: %.1f dB\n", db);
    CHECK(db > 40);
    wanc_pipeline_free(pipe);
}

TEST(flf2v_frame0_and_both_clip_images)
{
    wanc_pipeline *pipe = NULL;
    CHECK_OK(load(&pipe, 2, WANC_PRECISION_FP32));
    if (!pipe) return;
    CHECK(strstr(wanc_pipeline_describe(pipe), "FLF2V") != NULL);
    static uint8_t img[IH * IW * 3], end[IH * IW * 3];
    wanc_demo_image(img, IH, IW, false);
    wanc_demo_image(end, IH, IW, true);
    double good = frame0_psnr(test_failed_, pipe, 2, img, end, img);
    double swapped = frame0_psnr(test_failed_, pipe, 2, end, img, img);
    fprintf(stderr, "  flf2v frame 0 vs the round trip of the first image: %.1f dB; first and last swapped: "
            "%.1f dB\n", good, swapped);
    CHECK(good > 40);
    CHECK(swapped < 30);
    /* FLF2V without the last frame is a named error */
    wanc_gen_params p;
    params(&p, img, NULL);
    wanc_video v = {0};
    CHECK_ERR(wanc_generate(pipe, &p, &v), WANC_EINVAL, "--end-image");
    wanc_pipeline_free(pipe);
}

/* The real (random) DiT in bf16: runs, deterministic, and the image matters. */
TEST(i2v_real_dit_bf16_deterministic)
{
    wanc_pipeline *pipe = NULL;
    CHECK_OK(load(&pipe, 1, WANC_PRECISION_BF16));
    if (!pipe) return;
    static uint8_t img[IH * IW * 3], flipped[IH * IW * 3];
    wanc_demo_image(img, IH, IW, false);
    flip_horizontally(flipped, img);
    wanc_gen_params p;
    params(&p, img, NULL);
    p.num_inference_steps = 2;
    wanc_video a = {0}, b = {0}, c = {0};
    CHECK_OK(wanc_generate(pipe, &p, &a));
    CHECK_OK(wanc_generate(pipe, &p, &b));
    p.input_image = flipped;
    CHECK_OK(wanc_generate(pipe, &p, &c));
    size_t n = (size_t)VT * VH * VW * 3;
    CHECK(a.frames && b.frames && c.frames);
    if (a.frames && b.frames && c.frames) {
        CHECK(memcmp(a.frames, b.frames, n) == 0);
        CHECK(memcmp(a.frames, c.frames, n) != 0);
    }
    wanc_video_free(&a);
    wanc_video_free(&b);
    wanc_video_free(&c);
    /* an image model without its image */
    params(&p, NULL, NULL);
    CHECK_ERR(wanc_generate(pipe, &p, &a), WANC_EINVAL, "--input-image");
    wanc_pipeline_free(pipe);
}

TEST(i2v_named_errors)
{
    static uint8_t img[IH * IW * 3];
    wanc_demo_image(img, IH, IW, false);
    /* an image given to a text-to-video model */
    wanc_pipeline *pipe = NULL;
    CHECK_OK(load(&pipe, 0, WANC_PRECISION_FP32));
    if (pipe) {
        wanc_gen_params p;
        params(&p, img, NULL);
        wanc_video v = {0};
        CHECK_ERR(wanc_generate(pipe, &p, &v), WANC_EINVAL, "text-to-video");
        wanc_pipeline_free(pipe);
    }
    /* an image model without its CLIP file */
    const wanc_pipeline_files *f = models(1);
    CHECK(f != NULL);
    if (f) {
        wanc_pipeline_files nf = *f;
        nf.clip = NULL;
        wanc_pipeline_options o;
        wanc_pipeline_options_default(&o);
        o.dit_heads = model_heads;
        CHECK_ERR(wanc_pipeline_load(&pipe, &nf, &o), WANC_EINVAL, "--clip");
        /* the T2V DiT's VAE as the CLIP: named */
        nf.clip = f->vae;
        wanc_err err = wanc_pipeline_load(&pipe, &nf, &o);
        CHECK(err && strstr(wanc_error_message(err), "CLIP"));
        wanc_error_free(err);
    }
}
