/* The Wan text-to-video / video-to-video pipeline: WanVideoPipeline.__call__.
 *
 * Units in DiffSynth's order:
 *   ShapeChecker → NoiseInitializer → PromptEmbedder (posi, nega when cfg ≠ 1)
 *   → InputVideoEmbedder (V2V: VAE-encode, (1−σ₀)x₀ + σ₀ε)
 *   → for each timestep: pred = nega + cfg·(posi − nega); x = step(pred, t, x)
 *   → VAE decode (tiled by default) → uint8 frames.
 *
 * Precision: with bf16 (DiffSynth's default torch_dtype) every tensor the
 * pipeline keeps is bf16: the noise is cast, the DiT gets the timestep as a
 * bf16 value, and each elementwise op of the loop rounds its result, as a
 * torch bf16 tensor would. The models do the same inside (their bf16 modes).
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "wanc.h"
#include "backend/backend.h"
#include "core/rng_torch.h"
#include "core/tensor.h"
#include "core/threads.h"
#include "dit/wan_dit.h"
#include "io/video_out.h"
#include "pipeline/model_files.h"
#include "pipeline/shape_check.h"
#include "sched/flow_match.h"
#include "text/tokenizer.h"
#include "text/umt5.h"
#include "vae/wan_vae.h"
#include "vision/resample.h"

#define VAE_FACTOR 8       /* Wan2.1 VAE: 8× space */
#define SHAPE_DIVISION 16  /* ShapeChecker: 2 × the VAE's upsampling factor */
/* The largest DiT token count wanc accepts (≈ 720P × 161 frames): beyond it
 * the activations alone exceed any machine this runs on. */
#define MAX_DIT_TOKENS (1 << 20)

struct wanc_pipeline {
    const wanc_backend *be;
    wanc_precision precision;
    wanc_tokenizer *tok;
    wanc_umt5 *t5;
    wanc_dit *dit;
    wanc_vae21 *vae;
    char description[256];
};

static double now_seconds(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

void wanc_pipeline_options_default(wanc_pipeline_options *o)
{
    memset(o, 0, sizeof *o);
    o->precision = WANC_PRECISION_BF16;
}

void wanc_gen_params_default(wanc_gen_params *p)
{
    memset(p, 0, sizeof *p);
    p->prompt = "";
    p->negative_prompt = "";
    p->cfg_scale = 5.0f;
    p->seed = -1;
    p->height = 480;
    p->width = 832;
    p->num_frames = 81;
    p->num_inference_steps = 50;
    p->sigma_shift = 5.0f;
    p->denoising_strength = 1.0f;
    p->tiled = true;
    p->tile_size[0] = 30;
    p->tile_size[1] = 52;
    p->tile_stride[0] = 15;
    p->tile_stride[1] = 26;
}

wanc_err wanc_gen_params_check(wanc_gen_params *p, char notices[3][128], int *n_notices)
{
    *n_notices = 0;
    if (p->num_inference_steps <= 0 || p->num_inference_steps > 10000)
        WANC_FAIL(WANC_EINVAL, "num_inference_steps %d: expected 1..10000", p->num_inference_steps);
    if (!(p->denoising_strength > 0 && p->denoising_strength <= 1))
        WANC_FAIL(WANC_EINVAL, "denoising_strength %g: expected a value in (0, 1]", p->denoising_strength);
    if (p->denoising_strength < 1 && !p->input_video)
        WANC_FAIL(WANC_EINVAL, "denoising_strength %g < 1 needs an input video (--input-video)",
                  p->denoising_strength);
    if (!(p->sigma_shift > 0) || !isfinite(p->cfg_scale))
        WANC_FAIL(WANC_EINVAL, "sigma_shift %g / cfg_scale %g: expected a positive shift and a finite scale",
                  p->sigma_shift, p->cfg_scale);
    if (p->tiled && (p->tile_size[0] <= 0 || p->tile_size[1] <= 0 || p->tile_stride[0] <= 0 ||
                     p->tile_stride[1] <= 0 || p->tile_stride[0] > p->tile_size[0] ||
                     p->tile_stride[1] > p->tile_size[1]))
        WANC_FAIL(WANC_EINVAL, "tile_size (%d, %d) / tile_stride (%d, %d): expected positive sizes with "
                  "stride <= size", p->tile_size[0], p->tile_size[1], p->tile_stride[0], p->tile_stride[1]);
    wanc_video_shape shape;
    TRY(wanc_check_resize_hwt(&shape, p->height, p->width, p->num_frames, SHAPE_DIVISION));
    int64_t tokens = (int64_t)((shape.num_frames - 1) / 4 + 1) * (shape.height / 16) * (shape.width / 16);
    if (tokens > MAX_DIT_TOKENS)
        WANC_FAIL(WANC_EINVAL, "%dx%d with %d frames is %lld DiT tokens: more than wanc can hold (%d)",
                  shape.height, shape.width, shape.num_frames, (long long)tokens, MAX_DIT_TOKENS);
    for (int i = 0; i < shape.n_notices && i < 3; i++) snprintf(notices[i], 128, "%s", shape.notices[i]);
    *n_notices = shape.n_notices < 3 ? shape.n_notices : 3;
    p->height = shape.height;
    p->width = shape.width;
    p->num_frames = shape.num_frames;
    return NULL;
}

/* ---- loading --------------------------------------------------------------- */

wanc_err wanc_pipeline_load(wanc_pipeline **out, const wanc_pipeline_files *files, const wanc_pipeline_options *o)
{
    *out = NULL;
    wanc_pipeline_options def;
    if (!o) {
        wanc_pipeline_options_default(&def);
        o = &def;
    }
    if (o->threads > 0) wanc_threads_set(o->threads);

    wanc_model_paths found;
    memset(&found, 0, sizeof found);
    if (files->model_dir) TRY(wanc_find_model_files(&found, files->model_dir));
    const char *dit = files->dit ? files->dit : found.dit;
    const char *t5 = files->t5 ? files->t5 : found.t5;
    const char *vae = files->vae ? files->vae : found.vae;
    const char *tok = files->tokenizer ? files->tokenizer : found.tokenizer;
    const char *missing = !dit[0] ? "the DiT (--dit)" : !t5[0] ? "the text encoder (--t5)"
                        : !vae[0] ? "the VAE (--vae)" : !tok[0] ? "the tokenizer (--tokenizer)" : NULL;
    if (missing) WANC_FAIL(WANC_EINVAL, "no file for %s: give it, or --model-dir with a release folder", missing);

    wanc_pipeline *p = calloc(1, sizeof *p);
    if (!p) WANC_FAIL(WANC_ENOMEM, "pipeline");
    p->be = wanc_backend_cpu();
    p->precision = o->precision;
    bool bf16 = o->precision == WANC_PRECISION_BF16;
    wanc_err err = NULL;
    TRY_GOTO(err, fail, wanc_error_context(wanc_tokenizer_load(&p->tok, tok), "tokenizer"));
    TRY_GOTO(err, fail, wanc_error_context(wanc_umt5_open(&p->t5, t5, p->be), "text encoder"));
    wanc_dit_options dopt = {.num_heads = o->dit_heads, .precision = bf16 ? WANC_DIT_BF16 : WANC_DIT_FP32};
    TRY_GOTO(err, fail, wanc_error_context(wanc_dit_open(&p->dit, p->be, dit, &dopt), "DiT"));
    TRY_GOTO(err, fail, wanc_error_context(wanc_vae21_open(&p->vae, vae, p->be), "VAE"));

    const wanc_dit_config *dc = wanc_dit_get_config(p->dit);
    const wanc_umt5_config *tc = wanc_umt5_get_config(p->t5);
    if (dc->has_image_input) {
        err = wanc_error(WANC_EUNSUPPORTED, "DiT %s is an image-to-video model (in_dim %d): it needs an input "
                         "image (--input-image), which this build does not support yet", dit, dc->in_dim);
        goto fail;
    }
    if (dc->text_dim != tc->dim) {
        err = wanc_error(WANC_ESHAPE, "text encoder %s gives %lld-wide embeddings but DiT %s takes text_dim %d",
                         t5, (long long)tc->dim, dit, dc->text_dim);
        goto fail;
    }
    if (dc->in_dim != wanc_vae21_config_of(p->vae)->z_dim) {
        err = wanc_error(WANC_ESHAPE, "VAE %s has %d latent channels but DiT %s takes in_dim %d", vae,
                         wanc_vae21_config_of(p->vae)->z_dim, dit, dc->in_dim);
        goto fail;
    }
    snprintf(p->description, sizeof p->description,
             "Wan2.1 T2V DiT dim %d x %d layers (%d heads), UMT5 %lld layers, VAE 2.1 (base %d), %s compute",
             dc->dim, dc->num_layers, dc->num_heads, (long long)tc->num_layers, wanc_vae21_config_of(p->vae)->dim,
             bf16 ? "bf16" : "fp32");
    *out = p;
    return NULL;
fail:
    wanc_pipeline_free(p);
    return err;
}

void wanc_pipeline_free(wanc_pipeline *p)
{
    if (!p) return;
    wanc_tokenizer_free(p->tok);
    wanc_umt5_free(p->t5);
    wanc_dit_free(p->dit);
    wanc_vae21_free(p->vae);
    free(p);
}

const char *wanc_pipeline_describe(const wanc_pipeline *p) { return p->description; }

/* ---- the units ---------------------------------------------------------------- */

static void observe(const wanc_gen_params *prm, const char *name, const float *x, int64_t n)
{
    if (prm->observe) prm->observe(prm->observe_user, name, x, n);
}

static void round_if(bool bf16, float *x, int64_t n)
{
    if (bf16) wanc_round_bf16_inplace(x, (size_t)n);
}

/* PromptEmbedder: emb[512, dim], rows at and beyond the valid length zero. */
static wanc_err encode_prompt(wanc_pipeline *p, const char *prompt, float *emb)
{
    int64_t ids[WANC_WAN_TEXT_LEN], mask[WANC_WAN_TEXT_LEN];
    uint8_t mask8[WANC_WAN_TEXT_LEN];
    TRY(wanc_wan_prompt_ids(p->tok, prompt, ids, mask8, NULL));
    for (int i = 0; i < WANC_WAN_TEXT_LEN; i++) mask[i] = mask8[i];
    wanc_umt5_opts o = {.bf16 = p->precision == WANC_PRECISION_BF16};
    return wanc_umt5_encode(p->t5, emb, ids, mask, WANC_WAN_TEXT_LEN, &o);
}

/* InputVideoEmbedder (inference): x = (1 − σ₀)·x₀ + σ₀·ε (the scheduler's add_noise). */
static wanc_err embed_input_video(wanc_pipeline *p, const wanc_gen_params *prm, const wanc_flow_sched *s,
                                  const wanc_vae_opts *vo, float *latents, const float *noise, int64_t n)
{
    bool bf16 = p->precision == WANC_PRECISION_BF16;
    int T = prm->num_frames, H = prm->height, W = prm->width;
    if (prm->input_video_frames < T)
        WANC_FAIL(WANC_EINVAL, "input video has %d frames, the run needs %d (num_frames)", prm->input_video_frames, T);
    size_t plane = (size_t)H * W;
    uint8_t *frame = malloc(plane * 3);
    float *video = malloc(sizeof(float) * 3 * (size_t)T * plane);
    float *x0 = malloc(sizeof(float) * (size_t)n);
    wanc_err err = NULL;
    if (!frame || !video || !x0) {
        err = wanc_error(WANC_ENOMEM, "input video buffers (%d frames of %dx%d)", T, H, W);
        goto done;
    }
    /* VideoData(height, width): centre crop to the aspect, PIL bicubic resize;
     * then preprocess_video: v·(2/255) − 1, [T, H, W, 3] → [3, T, H, W]. */
    size_t in_frame = (size_t)prm->input_video_height * prm->input_video_width * 3;
    for (int t = 0; t < T; t++) {
        TRY_GOTO(err, done, wanc_crop_and_resize(frame, H, W, prm->input_video + in_frame * (size_t)t,
                                                 prm->input_video_height, prm->input_video_width));
        for (size_t i = 0; i < plane; i++)
            for (int c = 0; c < 3; c++)
                video[((size_t)c * T + t) * plane + i] = wanc_pixel_to_float(frame[i * 3 + c], bf16);
    }
    TRY_GOTO(err, done, wanc_vae21_encode(p->vae, x0, video, T, H, W, vo));
    TRY_GOTO(err, done, wanc_flow_sched_add_noise(s, latents, x0, noise, n, s->timesteps[0], bf16));
done:
    free(frame);
    free(video);
    free(x0);
    return err;
}

static uint64_t random_seed(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    uint64_t x = (uint64_t)ts.tv_nsec ^ ((uint64_t)ts.tv_sec << 20) ^ (uint64_t)clock();
    x ^= x >> 33;
    x *= 0xff51afd7ed558ccdull;
    x ^= x >> 33;
    return x % 4294967296ull; /* a seed a user can type back */
}

wanc_err wanc_generate(wanc_pipeline *p, const wanc_gen_params *params, wanc_video *out)
{
    memset(out, 0, sizeof *out);
    wanc_gen_params prm = *params;
    char notices[3][128];
    int n_notices;
    TRY(wanc_gen_params_check(&prm, notices, &n_notices));
    const bool bf16 = p->precision == WANC_PRECISION_BF16;
    const bool cfg = prm.cfg_scale != 1.0f;
    const wanc_dit_config *dc = wanc_dit_get_config(p->dit);
    const int64_t C = dc->in_dim, F = (prm.num_frames - 1) / 4 + 1, h = prm.height / VAE_FACTOR,
                  w = prm.width / VAE_FACTOR, n = C * F * h * w;
    const int64_t ctx_n = (int64_t)WANC_WAN_TEXT_LEN * dc->text_dim;
    out->seed = prm.seed >= 0 ? (uint64_t)prm.seed : random_seed();

    wanc_flow_sched sched = {0};
    float *noise = malloc(sizeof(float) * (size_t)n), *latents = malloc(sizeof(float) * (size_t)n);
    float *posi = malloc(sizeof(float) * (size_t)n), *nega = malloc(sizeof(float) * (size_t)n);
    float *ctx_posi = malloc(sizeof(float) * (size_t)ctx_n), *ctx_nega = malloc(sizeof(float) * (size_t)ctx_n);
    float *video = NULL;
    wanc_err err = NULL;
    if (!noise || !latents || !posi || !nega || !ctx_posi || !ctx_nega) {
        err = wanc_error(WANC_ENOMEM, "latent buffers (%lld values)", (long long)n);
        goto done;
    }
    TRY_GOTO(err, done, wanc_flow_sched_init(&sched, prm.num_inference_steps, prm.denoising_strength,
                                             prm.sigma_shift));

    /* NoiseInitializer: torch.randn on the CPU generator, float32, then the cast. */
    TRY_GOTO(err, done, wanc_torch_randn(noise, n, out->seed, WANC_RANDN_AVX2));
    round_if(bf16, noise, n);
    observe(&prm, "noise", noise, n);

    double t0 = now_seconds();
    if (prm.progress && prm.progress(prm.progress_user, "text", 0, cfg ? 2 : 1, 0)) goto cancelled;
    TRY_GOTO(err, done, wanc_error_context(encode_prompt(p, prm.prompt, ctx_posi), "prompt"));
    observe(&prm, "context_posi", ctx_posi, ctx_n);
    if (cfg) {
        TRY_GOTO(err, done, wanc_error_context(encode_prompt(p, prm.negative_prompt, ctx_nega), "negative prompt"));
        observe(&prm, "context_nega", ctx_nega, ctx_n);
    }
    out->seconds_text = now_seconds() - t0;

    wanc_vae_opts vo;
    wanc_vae_opts_default(&vo);
    vo.tiled = prm.tiled;
    memcpy(vo.tile_size, prm.tile_size, sizeof vo.tile_size);
    memcpy(vo.tile_stride, prm.tile_stride, sizeof vo.tile_stride);
    vo.bf16 = bf16;
    if (prm.input_video) TRY_GOTO(err, done, embed_input_video(p, &prm, &sched, &vo, latents, noise, n));
    else memcpy(latents, noise, sizeof(float) * (size_t)n);

    /* The denoising loop. */
    t0 = now_seconds();
    wanc_dit_inputs in = {.latents = latents, .lat_c = C, .F = F, .H = h, .W = w, .ctx_len = WANC_WAN_TEXT_LEN};
    for (int k = 0; k < sched.num_steps; k++) {
        double ts = now_seconds();
        char name[64];
        const float t = sched.timesteps[k];
        in.timestep = bf16 ? wanc_round_bf16(t) : t; /* timestep.to(torch_dtype) */
        snprintf(name, sizeof name, "step%d.latents_in", k);
        observe(&prm, name, latents, n);
        snprintf(name, sizeof name, "step%d.timestep_dit", k);
        observe(&prm, name, &in.timestep, 1);

        in.context = ctx_posi;
        TRY_GOTO(err, done, wanc_dit_forward(p->dit, &in, posi));
        snprintf(name, sizeof name, "step%d.noise_pred_posi", k);
        observe(&prm, name, posi, n);
        if (cfg) {
            in.context = ctx_nega;
            TRY_GOTO(err, done, wanc_dit_forward(p->dit, &in, nega));
            snprintf(name, sizeof name, "step%d.noise_pred_nega", k);
            observe(&prm, name, nega, n);
            /* noise_pred = nega + cfg·(posi − nega), each op in the pipeline dtype */
            for (int64_t i = 0; i < n; i++) {
                float d = posi[i] - nega[i];
                if (bf16) d = wanc_round_bf16(d);
                float m = prm.cfg_scale * d;
                if (bf16) m = wanc_round_bf16(m);
                posi[i] = bf16 ? wanc_round_bf16(nega[i] + m) : nega[i] + m;
            }
        }
        snprintf(name, sizeof name, "step%d.noise_pred", k);
        observe(&prm, name, posi, n);
        TRY_GOTO(err, done, wanc_flow_sched_step(&sched, latents, posi, n, t, bf16));
        snprintf(name, sizeof name, "step%d.latents_out", k);
        observe(&prm, name, latents, n);
        if (prm.progress && prm.progress(prm.progress_user, "denoise", k + 1, sched.num_steps, now_seconds() - ts))
            goto cancelled;
    }
    out->seconds_denoise = now_seconds() - t0;
    observe(&prm, "final_latents", latents, n);

    /* Decode and convert. */
    t0 = now_seconds();
    const int64_t T = prm.num_frames, H = prm.height, W = prm.width, video_n = 3 * T * H * W;
    video = malloc(sizeof(float) * (size_t)video_n);
    out->frames = malloc((size_t)video_n);
    if (!video || !out->frames) {
        err = wanc_error(WANC_ENOMEM, "video buffers (%lld frames of %lldx%lld)", (long long)T, (long long)H,
                         (long long)W);
        goto done;
    }
    if (prm.progress && prm.progress(prm.progress_user, "decode", 0, 1, 0)) goto cancelled;
    TRY_GOTO(err, done, wanc_vae21_decode(p->vae, video, latents, C, F, h, w, &vo));
    observe(&prm, "video", video, video_n);
    TRY_GOTO(err, done, wanc_video_to_u8(out->frames, video, 1, 3, (int)T, (int)H, (int)W, bf16));
    out->T = (int)T;
    out->H = (int)H;
    out->W = (int)W;
    out->seconds_decode = now_seconds() - t0;
    if (prm.progress) prm.progress(prm.progress_user, "decode", 1, 1, out->seconds_decode);
    goto done;
cancelled:
    err = wanc_error(WANC_ECANCELLED, "generation cancelled");
done:
    if (err) wanc_video_free(out);
    wanc_flow_sched_free(&sched);
    free(noise);
    free(latents);
    free(posi);
    free(nega);
    free(ctx_posi);
    free(ctx_nega);
    free(video);
    return err;
}

void wanc_video_free(wanc_video *v)
{
    if (!v) return;
    free(v->frames);
    v->frames = NULL;
    v->T = v->H = v->W = 0;
}

static bool ends_with(const char *s, const char *suffix)
{
    size_t a = strlen(s), b = strlen(suffix);
    return a >= b && strcmp(s + a - b, suffix) == 0;
}

wanc_err wanc_video_save(const wanc_video *v, const char *path, double fps, int quality)
{
    if (!v->frames) WANC_FAIL(WANC_EINVAL, "%s: no frames to save", path);
    if (ends_with(path, "/")) return wanc_video_write_pngs(path, v->frames, v->T, v->H, v->W);
    if (ends_with(path, ".safetensors")) return wanc_video_write_safetensors(path, v->frames, v->T, v->H, v->W, fps);
    if (ends_with(path, ".mp4")) return wanc_video_write_mp4(path, v->frames, v->T, v->H, v->W, fps, quality);
    WANC_FAIL(WANC_EINVAL, "%s: unknown output kind (expected *.mp4, *.safetensors, or a folder ending in /)", path);
}

wanc_err wanc_video_load(const char *path, uint8_t **frames, int *T, int *H, int *W)
{
    return wanc_video_read(path, frames, T, H, W, 0);
}
