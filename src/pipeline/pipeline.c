/* The Wan text-to-video / video-to-video / image-to-video pipeline:
 * WanVideoPipeline.__call__, for every family recipe.c knows (Wan2.1 T2V /
 * I2V / FLF2V, Wan2.2 A14B T2V / I2V with two experts, Wan2.2 TI2V-5B).
 *
 * Units in DiffSynth's order (the recipe says which run):
 *   ShapeChecker → NoiseInitializer → PromptEmbedder (posi, nega when cfg ≠ 1)
 *   → InputVideoEmbedder (V2V: VAE-encode, (1−σ₀)x₀ + σ₀ε)
 *   → ImageEmbedderVAE (y), ImageEmbedderCLIP (clip), ImageEmbedderFused
 *     (TI2V-5B: the image's latents become frame 0), FunControl, FunReference,
 *     FunCameraControl (control_units.c), SpeedControl, VACE (its reference
 *     images add latent frames in front, dropped before decoding); shared by
 *     both CFG branches; the conditioning inputs come as a tagged list (conds.c)
 *   → the sampler: for each timestep pick the expert (the boundary rule),
 *     pred = nega + cfg·(posi − nega) (the DiT whole or on sliding windows);
 *     x = step(pred, t, x); re-impose a fused first frame
 *   → VAE decode (tiled by default) → uint8 frames.
 * Latent channels and the spatial scale come from the VAE.
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
#include "core/clock.h"
#include "core/memstat.h"
#include "core/rng_torch.h"
#include "core/tensor.h"
#include "core/threads.h"
#include "dit/wan_dit.h"
#include "io/read_file.h"
#include "io/video_out.h"
#include "pipeline/conds.h"
#include "pipeline/control_units.h"
#include "pipeline/image_cond.h"
#include "pipeline/model_files.h"
#include "pipeline/pipeline_internal.h"
#include "pipeline/pipeline_units.h"
#include "pipeline/shape_check.h"
#include "sched/flow_match.h"
#include "sched/teacache.h"
#include "text/tokenizer.h"
#include "text/umt5.h"
#include "vae/wan_vae.h"
#include "vision/clip.h"

#define VAE21_SCALE 8       /* the Wan2.1 VAE: the Fun and VACE units are built on it */
#define DEFAULT_VAE_SCALE 8 /* before the models are known: the Wan2.1 VAE's 8x (ShapeChecker: 16) */
/* The largest DiT token count wanc accepts (≈ 720P × 161 frames): beyond it
 * the activations alone exceed any machine this runs on. */
#define MAX_DIT_TOKENS (1 << 20)

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
    p->tea_cache_l1_thresh = 0;   /* off */
    p->tea_cache_model_id = "";
    p->switch_dit_boundary = NAN; /* the model's */
    p->cfg_scale_high = NAN;      /* cfg_scale */
    p->cfg_scale_low = NAN;
}

/* The checks of wanc_gen_params_check for a VAE of spatial scale vae_scale. */
static wanc_err check_params(wanc_gen_params *p, char notices[3][128], int *n_notices, int vae_scale)
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
    if ((p->sliding_window_size > 0) != (p->sliding_window_stride > 0) || p->sliding_window_size < 0 ||
        p->sliding_window_stride < 0 || p->sliding_window_stride > p->sliding_window_size)
        WANC_FAIL(WANC_EINVAL, "sliding_window_size %d / sliding_window_stride %d: expected both (latent frames, "
                  "1 <= stride <= size) or neither", p->sliding_window_size, p->sliding_window_stride);
    if (p->sliding_window_size > 0 && p->tea_cache_l1_thresh > 0)
        WANC_FAIL(WANC_EINVAL, "sliding windows with TeaCache are not supported (DiffSynth shares one cache across "
                  "the windows)");
    if (!(p->tea_cache_l1_thresh >= 0) || !isfinite(p->tea_cache_l1_thresh))
        WANC_FAIL(WANC_EINVAL, "tea_cache_l1_thresh %g: expected 0 (off) or a positive threshold",
                  p->tea_cache_l1_thresh);
    if (p->tea_cache_l1_thresh > 0) {
        const char *id = p->tea_cache_model_id ? p->tea_cache_model_id : "";
        if (!wanc_teacache_coefficients(id))
            WANC_FAIL(WANC_EINVAL, "tea_cache_model_id '%s' is not a supported TeaCache model id (Wan2.1-T2V-1.3B, "
                      "Wan2.1-T2V-14B, Wan2.1-I2V-14B-480P, Wan2.1-I2V-14B-720P)", id);
    }
    if (!isnan(p->switch_dit_boundary) && !(p->switch_dit_boundary >= 0 && p->switch_dit_boundary <= 1))
        WANC_FAIL(WANC_EINVAL, "switch_dit_boundary %g: expected a value in [0, 1] (timestep / 1000)",
                  p->switch_dit_boundary);
    if (isinf(p->cfg_scale_high) || isinf(p->cfg_scale_low))
        WANC_FAIL(WANC_EINVAL, "cfg_scale_high %g / cfg_scale_low %g: expected finite scales", p->cfg_scale_high,
                  p->cfg_scale_low);
    wanc_video_shape shape;
    /* ShapeChecker: multiples of 2 x the VAE's scale (the DiT's 2x2 patches) */
    TRY(wanc_check_resize_hwt(&shape, p->height, p->width, p->num_frames, 2 * vae_scale));
    const int cell = 2 * vae_scale; /* pixels per DiT token side */
    int64_t tokens = (int64_t)((shape.num_frames - 1) / 4 + 1) * (shape.height / cell) * (shape.width / cell);
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

wanc_err wanc_gen_params_check(wanc_gen_params *p, char notices[3][128], int *n_notices)
{
    return check_params(p, notices, n_notices, DEFAULT_VAE_SCALE);
}

/* ---- loading --------------------------------------------------------------- */

/* The description line: family first, then the components. */
static void describe(wanc_pipeline *p, const wanc_umt5_config *tc, const char *clip_desc)
{
    const pipeline_recipe *r = &p->recipe;
    const wanc_dit_config *dc = &p->experts.cfg;
    char family[96];
    if (r->experts == 2)
        snprintf(family, sizeof family, "%s, 2 experts, boundary %g", r->name, r->default_boundary);
    else if (r->default_boundary > 0) /* one expert of a two-expert release */
        snprintf(family, sizeof family, "%s, 1 expert", r->name);
    else snprintf(family, sizeof family, "%s", r->name);
    const wanc_vae_config *vc = wanc_vae_config_of(p->vae);
    snprintf(p->description, sizeof p->description,
             "%s: DiT dim %d x %d layers (%d heads), UMT5 %lld layers, %s (z %d, %dx, base %d)%s, %s compute",
             family, dc->dim, dc->num_layers, dc->num_heads, (long long)tc->num_layers, wanc_vae_family(p->vae),
             vc->z_dim, wanc_vae_scale(p->vae), vc->dim, clip_desc,
             p->precision == WANC_PRECISION_BF16 ? "bf16" : "fp32");
}

/* A stage is done: report its memory and drop its weights' pages from the
 * resident set. Each component runs once per call, so its pages are not
 * needed again until the next wanc_generate, which faults them back in from
 * the page cache (they stay mapped): the next stage's peak then does not
 * carry the last one's weights, with or without a limit. */
static void stage_done(const wanc_gen_params *prm, const char *stage, const wanc_weights *w)
{
    if (prm->memory) prm->memory(prm->memory_user, stage, wanc_rss_bytes(), wanc_peak_rss_bytes());
    if (w) {
        wanc_weights_release_all(w);
        char name[48];
        snprintf(name, sizeof name, "%s released", stage);
        if (prm->memory) prm->memory(prm->memory_user, name, wanc_rss_bytes(), wanc_peak_rss_bytes());
    }
    wanc_peak_rss_reset();
}

/* ImageEmbedderCLIP's model, for the families that use it. */
static wanc_err load_clip(wanc_pipeline *p, const char *clip, const char *dit, int heads, char *desc, size_t cap)
{
    if (!clip[0])
        WANC_FAIL(WANC_EINVAL, "DiT %s is an image-to-video model with CLIP input (img_emb): it needs the CLIP "
                  "image encoder " WANC_CLIP_RELEASE_NAME ".pth: give it with --clip, or --model-dir with a folder "
                  "that has it", dit);
    TRYC(wanc_weights_open(&p->clip_w, clip), "CLIP image encoder");
    TRY(wanc_clip_adapt_names(p->clip_w));
    TRYC(wanc_clip_load(&p->clip, p->clip_w, heads), "CLIP image encoder %s", clip);
    wanc_clip_set_bf16(p->clip, p->precision == WANC_PRECISION_BF16);
    const wanc_clip_config *cc = wanc_clip_get_config(p->clip);
    if (cc->width != p->experts.cfg.clip_dim || cc->tokens != WANC_DIT_CLIP_TOKENS)
        WANC_FAIL(WANC_ESHAPE, "CLIP image encoder %s gives %d tokens of width %d but DiT %s takes %d tokens of "
                  "width %d (img_emb)", clip, cc->tokens, cc->width, dit, WANC_DIT_CLIP_TOKENS,
                  p->experts.cfg.clip_dim);
    snprintf(desc, cap, ", CLIP ViT %d x %d blocks", cc->width, cc->layers - 1);
    return NULL;
}

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
    /* an explicit --dit is one model unless --dit2 joins it */
    const char *dit2 = files->dit2 ? files->dit2 : files->dit ? "" : found.dit2;
    const char *t5 = files->t5 ? files->t5 : found.t5;
    const char *vae = files->vae ? files->vae : found.vae;
    const char *tok = files->tokenizer ? files->tokenizer : found.tokenizer;
    const char *missing = !dit[0] ? "the DiT (--dit)" : !t5[0] ? "the text encoder (--t5)"
                        : !vae[0] ? "the VAE (--vae)" : !tok[0] ? "the tokenizer (--tokenizer)" : NULL;
    if (missing) WANC_FAIL(WANC_EINVAL, "no file for %s: give it, or --model-dir with a release folder (official, "
                           "diffusers or ComfyUI layout)", missing);

    TRY(wanc_cpu_path(NULL)); /* a WANC_CPU path this CPU lacks */
    wanc_pipeline *p = calloc(1, sizeof *p);
    if (!p) WANC_FAIL(WANC_ENOMEM, "pipeline");
    p->be = wanc_backend_cpu();
    p->precision = o->precision;
    bool bf16 = o->precision == WANC_PRECISION_BF16;
    wanc_err err = NULL;
    TRY_GOTO(err, fail, wanc_error_context(wanc_tokenizer_load(&p->tok, tok), "tokenizer"));
    TRY_GOTO(err, fail, wanc_error_context(wanc_umt5_open(&p->t5, t5, p->be), "text encoder"));
    size_t dit_config_len;
    if (o->dit_config && o->dit_config_json) {
        err = wanc_error(WANC_EINVAL, "a DiT config given both as a file (%s) and as text", o->dit_config);
        goto fail;
    }
    /* kept for the pipeline's life: an expert is opened again at each switch */
    if (o->dit_config) TRY_GOTO(err, fail, wanc_error_context(wanc_read_file(o->dit_config, 1 << 20,
                                                             "not a DiT config (JSON)", &p->dit_config,
                                                             &dit_config_len), "DiT config %s", o->dit_config));
    else if (o->dit_config_json && !(p->dit_config = strdup(o->dit_config_json))) {
        err = wanc_error(WANC_ENOMEM, "DiT config");
        goto fail;
    }
    wanc_dit_options dopt = {.num_heads = o->dit_heads ? o->dit_heads : found.dit_heads, .precision = bf16 ? WANC_DIT_BF16 : WANC_DIT_FP32,
                             .config_json = p->dit_config};
    const char *dits[2] = {dit, dit2};
    TRY_GOTO(err, fail, pipeline_experts_set_loras(&p->experts, files->loras, files->n_loras, o->lora_mode,
                                                   o->lora_allow_unmatched, p->lora_summary, sizeof p->lora_summary));
    /* the DiT's Q8_0 weights on the int8 kernels unless the decoded float path is asked for */
    const wanc_backend *dit_be = o->q8_matmul == WANC_Q8_MATMUL_FP ? p->be : wanc_backend_cpu_q8_int8();
    TRY_GOTO(err, fail, pipeline_experts_open(&p->experts, dit_be, &dopt, dits, dit2[0] ? 2 : 1));
    /* a DiT that takes most of the limit streams its blocks (every expert, as each opens) */
    if (o->vram_limit > 0 && (double)wanc_weights_bytes(wanc_dit_store(p->experts.e[0].dit)) > 0.6 * o->vram_limit * 1e9) {
        p->experts.opt.stream_blocks = true;
        wanc_dit_set_streaming(p->experts.e[0].dit, true);
    }
    TRY_GOTO(err, fail, wanc_error_context(wanc_vae_open(&p->vae, vae, p->be), "VAE"));

    const wanc_dit_config *dc = &p->experts.cfg;
    const wanc_umt5_config *tc = wanc_umt5_get_config(p->t5);
    if (dc->text_dim != tc->dim) {
        err = wanc_error(WANC_ESHAPE, "text encoder %s gives %lld-wide embeddings but DiT %s takes text_dim %d",
                         t5, (long long)tc->dim, dit, dc->text_dim);
        goto fail;
    }
    TRY_GOTO(err, fail, pipeline_recipe_detect(&p->recipe, dc, p->experts.n, p->vae, dit, vae));
    char clip_desc[96] = "";
    if (p->recipe.image_clip)
        TRY_GOTO(err, fail, load_clip(p, files->clip ? files->clip : found.clip, dit, o->clip_heads, clip_desc,
                                      sizeof clip_desc));
    const char *motion = files->motion_controller ? files->motion_controller : found.motion_controller;
    if (motion[0]) { /* speed control: WanMotionControllerModel, used when a motion_bucket_id is given */
        TRY_GOTO(err, fail, wanc_error_context(wanc_weights_open(&p->motion_w, motion), "motion controller"));
        TRY_GOTO(err, fail, wanc_error_context(wanc_motion_controller_load(&p->motion, p->be, p->motion_w, &dopt),
                                               "motion controller %s", motion));
        if (wanc_motion_controller_out_dim(p->motion) != 6 * dc->dim) {
            err = wanc_error(WANC_ESHAPE, "motion controller %s gives %d values, DiT %s takes 6 x dim = %d", motion,
                             wanc_motion_controller_out_dim(p->motion), dit, 6 * dc->dim);
            goto fail;
        }
        strncat(clip_desc, ", speed control", sizeof clip_desc - strlen(clip_desc) - 1);
    }
    describe(p, tc, clip_desc);
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
    pipeline_experts_free(&p->experts);
    wanc_vae_free(p->vae);
    wanc_clip_free(p->clip);
    wanc_weights_close(p->clip_w);
    wanc_motion_controller_free(p->motion);
    wanc_weights_close(p->motion_w);
    free(p->dit_config);
    free(p);
}

const char *wanc_pipeline_describe(const wanc_pipeline *p) { return p->description; }
const char *wanc_pipeline_lora_summary(const wanc_pipeline *p) { return p->lora_summary; }

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

/* What the model family needs from the run's images: named errors before
 * any work, naming the flag to give or drop. */
static wanc_err check_images(const wanc_pipeline *p, const wanc_gen_params *prm)
{
    const pipeline_recipe *r = &p->recipe;
    const int in_dim = p->experts.cfg.in_dim;
    if (!r->image_allowed && (prm->input_image || prm->end_image))
        WANC_FAIL(WANC_EINVAL, "%s given, but the model (%s, in_dim %d) is a text-to-video model: use an "
                  "image-to-video model (I2V, FLF2V, Fun-InP, TI2V-5B) or drop the image",
                  prm->input_image ? "--input-image" : "--end-image", r->name, in_dim);
    if (prm->end_image && !r->image_y)
        WANC_FAIL(WANC_EINVAL, "--end-image given, but the model (%s) takes only a first frame", r->name);
    if (r->image_required && !prm->input_image)
        WANC_FAIL(WANC_EINVAL, "the model (%s, in_dim %d) is an image-to-video model: it needs --input-image",
                  r->name, in_dim);
    if (r->end_image_required && !prm->end_image)
        WANC_FAIL(WANC_EINVAL, "the DiT is a first-last-frame model (FLF2V, img_emb.emb_pos): it needs --end-image "
                  "as well as --input-image");
    return NULL;
}

/* What the models need from the run's conditioning inputs (the tagged list):
 * named errors before any work, naming the flag to give or drop. The DiT's y
 * channels (in_dim − z) say which units make its y. */
static wanc_err check_conds(const wanc_pipeline *p, const wanc_gen_params *prm, const wanc_run_conds *rc)
{
    const wanc_dit_config *dc = &p->experts.cfg;
    const int z = wanc_vae_z_dim(p->vae), y_c = dc->in_dim - z;
    const bool camera_model = dc->has_control_adapter, control_model = !camera_model && (y_c == 2 * z || y_c == 2 * z + 4);
    if (rc->motion_bucket_id && !p->motion)
        WANC_FAIL(WANC_EINVAL, "--motion-bucket-id needs the speed-control motion controller: give it with "
                  "--motion-controller, or put it in --model-dir as " WANC_MOTION_CONTROLLER_RELEASE_NAME);
    if (control_model && !rc->control_video)
        WANC_FAIL(WANC_EINVAL, "the DiT is a Fun control model (in_dim %d): it needs --control-video", dc->in_dim);
    if (rc->control_video && !control_model)
        WANC_FAIL(WANC_EINVAL, "--control-video given, but the DiT is not a Fun control model (in_dim %d, expected "
                  "%d or %d without a camera adapter)", dc->in_dim, 3 * z, 3 * z + 4);
    if (rc->reference_image && !dc->has_ref_conv)
        WANC_FAIL(WANC_EINVAL, "--reference-image given, but the DiT has no ref_conv (a Fun V1.1 control model has)");
    if (camera_model && !rc->camera)
        WANC_FAIL(WANC_EINVAL, "the DiT is a Fun camera model (control_adapter): it needs --camera-direction");
    if (rc->camera && !camera_model)
        WANC_FAIL(WANC_EINVAL, "--camera-direction given, but the DiT has no camera adapter (control_adapter.*)");
    const wanc_cond *vace = rc->vace_video ? rc->vace_video : rc->vace_mask ? rc->vace_mask
                          : rc->n_vace_refs ? rc->vace_refs[0] : rc->vace_scale;
    if (vace && !dc->vace_num_blocks)
        WANC_FAIL(WANC_EINVAL, "%s given, but the DiT has no VACE blocks (vace_blocks.*: a Wan2.1-VACE model has)",
                  wanc_cond_flag(vace->kind));
    if (rc->n_vace_refs && (prm->input_video || y_c))
        WANC_FAIL(WANC_EINVAL, "--vace-reference-image with %s is not supported by wanc yet",
                  prm->input_video ? "--input-video" : "an image-conditioned DiT");
    return NULL;
}

/* The DiT inputs the image and control units make (ImageEmbedderVAE,
 * ImageEmbedderCLIP, FunControl, FunReference, FunCameraControl in
 * DiffSynth's order); NULL where the run has none. */
typedef struct {
    float *y, *clip, *reference, *camera;
    int64_t y_c, clip_len;
} cond_tensors;

static void cond_tensors_free(cond_tensors *t)
{
    free(t->y), free(t->clip), free(t->reference), free(t->camera);
}

static wanc_err observe_clip(const wanc_gen_params *prm, int *n_clip, const float *x, int64_t n)
{
    char name[32];
    snprintf(name, sizeof name, "clip_encode.%d", (*n_clip)++);
    observe(prm, name, x, n);
    return NULL;
}

static wanc_err build_conds(wanc_pipeline *p, const wanc_gen_params *prm, const wanc_run_conds *rc,
                            const wanc_vae_opts *vo, bool bf16, int *n_encodes, cond_tensors *t)
{
    const wanc_dit_config *dc = &p->experts.cfg;
    const int z = wanc_vae_z_dim(p->vae);
    const int64_t T = prm->num_frames, F = (T - 1) / 4 + 1, h = prm->height / VAE21_SCALE, w = prm->width / VAE21_SCALE,
                  lat = F * h * w, cd = dc->clip_dim;
    t->y_c = dc->in_dim - z;
    t->clip_len = p->clip ? wanc_unit_clip_tokens(p->clip, prm, dc->has_image_pos_emb) : 0;
    if (wanc_vae_scale(p->vae) != VAE21_SCALE && (t->y_c || t->clip_len))
        WANC_FAIL(WANC_EUNSUPPORTED, "image and control conditioning need the Wan2.1 VAE, not the %s",
                  wanc_vae_family(p->vae));
    if (!t->y_c && !t->clip_len) return NULL;
    float *y_i2v = NULL, *plucker = NULL;
    t->y = t->y_c ? calloc((size_t)(t->y_c * lat), sizeof(float)) : NULL;
    t->clip = t->clip_len ? calloc((size_t)(t->clip_len * cd), sizeof(float)) : NULL; /* zeros unless encoded */
    if ((t->y_c && !t->y) || (t->clip_len && !t->clip)) WANC_FAIL(WANC_ENOMEM, "conditioning buffers");
    wanc_err err = NULL;
    int n_clip = 0;
    if (prm->input_image && !p->recipe.fused_first_frame && t->y_c) { /* ImageEmbedderVAE: y, or kept for FunControl */
        const bool direct = t->y_c == 4 + z;
        if (!direct && !(y_i2v = malloc(sizeof(float) * (size_t)((4 + z) * lat))))
            TRY_GOTO(err, done, wanc_error(WANC_ENOMEM, "image y"));
        TRY_GOTO(err, done, wanc_unit_image_vae(p->vae, bf16, prm, vo, direct ? t->y : y_i2v, n_encodes));
    }
    if (prm->input_image && p->clip) { /* ImageEmbedderCLIP */
        TRY_GOTO(err, done, wanc_unit_image_clip(p->clip, p->be, bf16, dc->has_image_pos_emb, prm, t->clip));
        for (int64_t k = 0; k < t->clip_len / WANC_DIT_CLIP_TOKENS; k++)
            observe_clip(prm, &n_clip, t->clip + k * WANC_DIT_CLIP_TOKENS * cd, WANC_DIT_CLIP_TOKENS * cd);
    }
    if (rc->control_video) { /* FunControl */
        bool zero_clip;
        TRY_GOTO(err, done, wanc_unit_fun_control(p->vae, bf16, prm, vo, &rc->control_video->media, y_i2v, 4 + z,
                                                  t->y_c, t->y, &zero_clip, n_encodes));
        /* DiffSynth's zero placeholder is hard-coded 1280 wide; wanc sizes it to img_emb (clip_dim) */
        if (zero_clip && t->clip) memset(t->clip, 0, sizeof(float) * (size_t)(t->clip_len * cd));
    }
    if (rc->reference_image) { /* FunReference: reference latents, and the CLIP tokens of the reference */
        if (!(t->reference = malloc(sizeof(float) * (size_t)(z * h * w))))
            TRY_GOTO(err, done, wanc_error(WANC_ENOMEM, "reference latents"));
        const wanc_media *m = &rc->reference_image->media;
        TRY_GOTO(err, done, wanc_unit_fun_reference(p->vae, bf16, prm, vo, m, t->reference, n_encodes));
        observe(prm, "dit_in.reference_latents", t->reference, z * h * w);
        if (p->clip) {
            TRY_GOTO(err, done, wanc_i2v_clip_feature(t->clip, p->clip, p->be, m->rgb, m->height, m->width,
                                                      prm->height, prm->width, bf16));
            round_if(bf16, t->clip, t->clip_len * cd);
            observe_clip(prm, &n_clip, t->clip, WANC_DIT_CLIP_TOKENS * cd);
        }
    }
    if (rc->camera) { /* FunCameraControl: the Plücker input and its own y */
        const int64_t pix = T * prm->height * prm->width;
        plucker = malloc(sizeof(float) * (size_t)(6 * pix));
        if (!plucker || !(t->camera = malloc(sizeof(float) * (size_t)(24 * F * prm->height * prm->width))))
            TRY_GOTO(err, done, wanc_error(WANC_ENOMEM, "camera buffers"));
        TRY_GOTO(err, done, wanc_unit_camera(p->vae, bf16, prm, vo, rc->camera, t->y_c, plucker, t->camera, t->y,
                                             n_encodes));
        observe(prm, "camera.plucker", plucker, 6 * pix);
        observe(prm, "dit_in.control_camera_latents_input", t->camera, 24 * F * prm->height * prm->width);
    }
    if (t->y) {
        observe(prm, "y", t->y, t->y_c * lat);
        observe(prm, "dit_in.y", t->y, t->y_c * lat);
    }
    if (t->clip) {
        observe(prm, "clip_feature", t->clip, t->clip_len * cd);
        observe(prm, "dit_in.clip_feature", t->clip, t->clip_len * cd);
    }
done:
    free(y_i2v);
    free(plucker);
    return err;
}

wanc_err wanc_pipeline_check_params(const wanc_pipeline *pipe, wanc_gen_params *p, char notices[3][128],
                                    int *n_notices)
{
    TRY(check_params(p, notices, n_notices, wanc_vae_scale(pipe->vae)));
    TRY(check_images(pipe, p));
    wanc_run_conds rc;
    TRY(wanc_conds_gather(&rc, p));
    return check_conds(pipe, p, &rc);
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

/* One CFG branch's TeaCache behind the DiT's step-cache hook. */
typedef struct {
    wanc_teacache tc;
    bool skipped; /* what the last check() decided */
    wanc_dit_cache hook;
} tea_branch;

static wanc_err tea_check(void *user, const float *t_mod, int64_t mod_n, const float *x, int64_t n, bool *skip)
{
    tea_branch *b = user;
    TRY(wanc_teacache_check(&b->tc, t_mod, mod_n, x, n, skip));
    b->skipped = *skip;
    return NULL;
}
static wanc_err tea_store(void *user, const float *x_out, int64_t n)
{
    return wanc_teacache_store(&((tea_branch *)user)->tc, x_out, n);
}
static wanc_err tea_update(void *user, float *x, int64_t n)
{
    return wanc_teacache_update(&((tea_branch *)user)->tc, x, n);
}

static wanc_err tea_init(tea_branch *b, const wanc_gen_params *prm, bool bf16)
{
    TRY(wanc_teacache_init(&b->tc, prm->num_inference_steps, prm->tea_cache_l1_thresh, prm->tea_cache_model_id, bf16));
    b->hook = (wanc_dit_cache){.check = tea_check, .store = tea_store, .update = tea_update, .user = b};
    return NULL;
}

/* After a DiT call with TeaCache: "step<k>.tea_cache_<branch>" = {rel_l1,
 * rescaled, accumulated, skipped}. */
static void observe_tea(const wanc_gen_params *prm, const tea_branch *b, int k, const char *branch)
{
    if (!prm->observe) return;
    char name[64];
    snprintf(name, sizeof name, "step%d.tea_cache_%s", k, branch);
    float v[4] = {(float)b->tc.last_rel_l1, (float)b->tc.last_rescaled, (float)b->tc.accumulated,
                  b->skipped ? 1.0f : 0.0f};
    prm->observe(prm->observe_user, name, v, 4);
}

/* One model evaluation: the expert's DiT, or the caller's test hook in its place. */
static wanc_err model_call(wanc_dit *dit, const wanc_gen_params *prm, const wanc_dit_inputs *in, int negative,
                           int expert, float *out)
{
    if (!prm->velocity_override) return wanc_dit_forward(dit, in, out);
    wanc_dit_call call = {.latents = in->latents, .lat_c = in->lat_c, .F = in->F, .H = in->H, .W = in->W,
                          .y = in->y, .y_c = in->y_c, .clip = in->clip, .clip_len = in->clip_len,
                          .timestep = in->timestep, .negative = negative, .expert = expert,
                          .zero_first_frame = in->zero_first_frame};
    return wanc_error_context(prm->velocity_override(prm->velocity_user, &call, out), "velocity override");
}

/* noise_pred = nega + cfg·(posi − nega) into posi, each op in the pipeline dtype. */
static void cfg_combine(float *posi, const float *nega, int64_t n, float cfg, bool bf16)
{
    for (int64_t i = 0; i < n; i++) {
        float d = posi[i] - nega[i];
        if (bf16) d = wanc_round_bf16(d);
        float m = cfg * d;
        if (bf16) m = wanc_round_bf16(m);
        posi[i] = bf16 ? wanc_round_bf16(nega[i] + m) : nega[i] + m;
    }
}

/* latents[:, 0] = first[:, 0]: the fused first frame, held fixed (TI2V-5B). */
static void impose_first_frame(float *latents, const float *first, int64_t z, int64_t F, int64_t plane)
{
    for (int64_t c = 0; c < z; c++) memcpy(latents + c * F * plane, first + c * plane, sizeof(float) * (size_t)plane);
}

static float or_default(float v, float dflt) { return isnan(v) ? dflt : v; }

/* Sliding windows (DiffSynth's TemporalTiler_BCTHW in model_fn_wan_video):
 * the DiT on latents[:, t:t'] for t = 0, stride, ... (a window whose
 * predecessor already reached the end is skipped), each output weighted by a
 * ramp (j + 0.5)/(size − stride) on its inner edges (the falling ramp written
 * last), summed, and divided by the summed weights; in the pipeline dtype.
 * Per-frame inputs are sliced with the latents. */
typedef struct {
    int size, stride;
    float *lat, *y, *camera, *vace, *out, *value, *weight;
} windows;

static void windows_free(windows *w)
{
    free(w->lat), free(w->y), free(w->camera), free(w->vace), free(w->out), free(w->value), free(w->weight);
}

static wanc_err windows_init(windows *w, const wanc_gen_params *prm, const wanc_dit_inputs *in)
{
    w->size = prm->sliding_window_size;
    w->stride = prm->sliding_window_stride;
    if (!w->size) return NULL;
    const size_t hw = (size_t)in->H * in->W, n = (size_t)(w->size < in->F ? w->size : in->F);
    w->lat = malloc(sizeof(float) * (size_t)in->lat_c * n * hw);
    w->out = malloc(sizeof(float) * (size_t)in->lat_c * n * hw);
    w->value = malloc(sizeof(float) * (size_t)in->lat_c * (size_t)in->F * hw);
    w->weight = malloc(sizeof(float) * (size_t)in->F);
    w->y = in->y ? malloc(sizeof(float) * (size_t)in->y_c * n * hw) : NULL;
    w->camera = in->camera ? malloc(sizeof(float) * (size_t)in->camera_c * n * hw * 64) : NULL;
    w->vace = in->vace_context ? malloc(sizeof(float) * (size_t)in->vace_c * n * hw) : NULL;
    if (!w->lat || !w->out || !w->value || !w->weight || (in->y && !w->y) || (in->camera && !w->camera) ||
        (in->vace_context && !w->vace))
        WANC_FAIL(WANC_ENOMEM, "sliding-window buffers (window %d of %lld frames)", w->size, (long long)in->F);
    return NULL;
}

/* dst[C, n, plane] = src[C, F, plane][:, t:t + n] */
static void slice_frames(float *dst, const float *src, int64_t C, int64_t F, int64_t t, int64_t n, size_t plane)
{
    for (int64_t c = 0; c < C; c++)
        memcpy(dst + (size_t)(c * n) * plane, src + (size_t)(c * F + t) * plane, sizeof(float) * (size_t)n * plane);
}

/* One DiT evaluation of the sampler: on the whole latents, or window by window. */
static wanc_err model_eval(wanc_dit *dit, const wanc_gen_params *prm, const wanc_dit_inputs *in, int negative,
                           int expert, windows *win, int k, bool bf16, float *out)
{
    if (!win->size) return model_call(dit, prm, in, negative, expert, out);
    const int64_t T = in->F, C = in->lat_c, border = win->size - win->stride;
    const size_t hw = (size_t)in->H * in->W;
    memset(win->value, 0, sizeof(float) * (size_t)C * T * hw);
    memset(win->weight, 0, sizeof(float) * (size_t)T);
    for (int64_t t = 0, wi = 0; t < T; t += win->stride) {
        if (t - win->stride >= 0 && t - win->stride + win->size >= T) continue;
        const int64_t t2 = t + win->size < T ? t + win->size : T, n = t2 - t;
        wanc_dit_inputs sub = *in;
        sub.F = n;
        sub.zero_first_frame = in->zero_first_frame && t == 0; /* TI2V: only the window holding frame 0 */
        slice_frames(win->lat, in->latents, C, T, t, n, hw);
        sub.latents = win->lat;
        if (in->y) slice_frames(win->y, in->y, in->y_c, T, t, n, hw), sub.y = win->y;
        if (in->camera) slice_frames(win->camera, in->camera, in->camera_c, T, t, n, hw * 64), sub.camera = win->camera;
        if (in->vace_context) slice_frames(win->vace, in->vace_context, in->vace_c, T, t, n, hw), sub.vace_context = win->vace;
        TRY(model_call(dit, prm, &sub, negative, expert, win->out));
        char name[96];
        snprintf(name, sizeof name, "step%d.%s.window%lld.latents_in", k, negative ? "nega" : "posi", (long long)wi);
        observe(prm, name, win->lat, C * n * (int64_t)hw);
        snprintf(name, sizeof name, "step%d.%s.window%lld.noise_pred", k, negative ? "nega" : "posi", (long long)wi);
        observe(prm, name, win->out, C * n * (int64_t)hw);
        wi++;
        for (int64_t j = 0; j < n; j++) {
            float m = 1.0f; /* the rising ramp on the left edge, then the falling one on the right */
            if (border > 0 && t != 0 && j < border) m = ((float)j + 0.5f) / (float)border;
            if (border > 0 && t2 != T && j >= n - border) m = ((float)(n - 1 - j) + 0.5f) / (float)border;
            if (bf16) m = wanc_round_bf16(m);
            float wsum = win->weight[t + j] + m;
            win->weight[t + j] = bf16 ? wanc_round_bf16(wsum) : wsum;
            for (int64_t c = 0; c < C; c++) {
                float *v = win->value + ((size_t)(c * T + t + j)) * hw;
                const float *o = win->out + ((size_t)(c * n + j)) * hw;
                for (size_t i = 0; i < hw; i++) {
                    float x = o[i] * m;
                    if (bf16) x = wanc_round_bf16(x);
                    v[i] = bf16 ? wanc_round_bf16(v[i] + x) : v[i] + x;
                }
            }
        }
    }
    for (int64_t c = 0; c < C; c++)
        for (int64_t f = 0; f < T; f++) {
            const float *v = win->value + ((size_t)(c * T + f)) * hw;
            float *o = out + ((size_t)(c * T + f)) * hw;
            for (size_t i = 0; i < hw; i++) o[i] = bf16 ? wanc_round_bf16(v[i] / win->weight[f]) : v[i] / win->weight[f];
        }
    return NULL;
}

wanc_err wanc_generate(wanc_pipeline *p, const wanc_gen_params *params, wanc_video *out)
{
    memset(out, 0, sizeof *out);
    wanc_gen_params prm = *params;
    char notices[3][128];
    int n_notices;
    TRY(wanc_pipeline_check_params(p, &prm, notices, &n_notices));
    wanc_run_conds rc;
    TRY(wanc_conds_gather(&rc, &prm));
    const pipeline_recipe *r = &p->recipe;
    const bool bf16 = p->precision == WANC_PRECISION_BF16;
    const wanc_dit_config *dc = &p->experts.cfg;
    /* Latent channels and scale from the VAE: z 16 / 8x (Wan2.1), z 48 / 16x (Wan2.2). */
    const int64_t z = wanc_vae_z_dim(p->vae), scale = wanc_vae_scale(p->vae);
    const int64_t F = (prm.num_frames - 1) / 4 + 1, h = prm.height / scale, w = prm.width / scale, plane = h * w;
    /* VACE reference images: one extra latent frame each, in front, dropped before decoding */
    const int64_t f_ref = rc.n_vace_refs, Fd = F + f_ref;
    const int64_t lat_n = z * Fd * plane, ctx_n = (int64_t)WANC_WAN_TEXT_LEN * dc->text_dim;
    const bool fused = r->fused_first_frame && prm.input_image;
    cond_tensors ct = {0}; /* y, CLIP tokens, reference latents, camera input */
    const int n_experts = p->experts.n;
    const double boundary = or_default(prm.switch_dit_boundary, r->default_boundary);
    const float cfg_of[2] = {n_experts == 2 ? or_default(prm.cfg_scale_high, prm.cfg_scale) : prm.cfg_scale,
                             n_experts == 2 ? or_default(prm.cfg_scale_low, prm.cfg_scale) : prm.cfg_scale};
    const bool any_cfg = cfg_of[0] != 1.0f || cfg_of[1] != 1.0f;
    out->seed = prm.seed >= 0 ? (uint64_t)prm.seed : random_seed();

    wanc_flow_sched sched = {0};
    /* WanVideoUnit_TeaCache: one cache per CFG branch */
    const bool tea = prm.tea_cache_l1_thresh > 0 && !prm.velocity_override;
    tea_branch tea_posi = {0}, tea_nega = {0};
    float *noise = malloc(sizeof(float) * (size_t)lat_n), *latents = malloc(sizeof(float) * (size_t)lat_n);
    float *posi = malloc(sizeof(float) * (size_t)lat_n), *nega = malloc(sizeof(float) * (size_t)lat_n);
    float *ctx_posi = malloc(sizeof(float) * (size_t)ctx_n), *ctx_nega = malloc(sizeof(float) * (size_t)ctx_n);
    float *first = fused ? malloc(sizeof(float) * (size_t)(z * plane)) : NULL;
    float *video = NULL, *motion_emb = NULL, *vace_ctx = NULL;
    windows win = {0};
    wanc_err err = NULL;
    if (!noise || !latents || !posi || !nega || !ctx_posi || !ctx_nega || (fused && !first)) {
        err = wanc_error(WANC_ENOMEM, "latent buffers (%lld values)", (long long)lat_n);
        goto done;
    }
    TRY_GOTO(err, done, wanc_flow_sched_init(&sched, prm.num_inference_steps, prm.denoising_strength,
                                             prm.sigma_shift));
    if (tea) {
        TRY_GOTO(err, done, tea_init(&tea_posi, &prm, bf16));
        TRY_GOTO(err, done, tea_init(&tea_nega, &prm, bf16));
    }

    /* NoiseInitializer: torch.randn on the CPU generator, float32, then the cast. */
    TRY_GOTO(err, done, wanc_torch_randn(noise, lat_n, out->seed, WANC_RANDN_AVX2));
    round_if(bf16, noise, lat_n);
    observe(&prm, "noise", noise, lat_n);
    if (f_ref) /* NoiseInitializer with VACE references: the last f_ref frames move to the front */
        for (int64_t c = 0; c < z; c++) {
            float *ch = noise + c * Fd * plane;
            memcpy(posi, ch + F * plane, sizeof(float) * (size_t)(f_ref * plane));
            memmove(ch + f_ref * plane, ch, sizeof(float) * (size_t)(F * plane));
            memcpy(ch, posi, sizeof(float) * (size_t)(f_ref * plane));
        }

    wanc_peak_rss_reset();
    double t0 = wanc_now_seconds();
    if (prm.progress && prm.progress(prm.progress_user, "text", 0, any_cfg ? 2 : 1, 0)) goto cancelled;
    TRY_GOTO(err, done, wanc_error_context(encode_prompt(p, prm.prompt, ctx_posi), "prompt"));
    observe(&prm, "context_posi", ctx_posi, ctx_n);
    if (any_cfg) {
        TRY_GOTO(err, done, wanc_error_context(encode_prompt(p, prm.negative_prompt, ctx_nega), "negative prompt"));
        observe(&prm, "context_nega", ctx_nega, ctx_n);
    }
    out->seconds_text = wanc_now_seconds() - t0;
    stage_done(&prm, "text", wanc_umt5_store(p->t5));

    wanc_vae_opts vo;
    wanc_vae_opts_default(&vo);
    vo.tiled = prm.tiled;
    memcpy(vo.tile_size, prm.tile_size, sizeof vo.tile_size);
    memcpy(vo.tile_stride, prm.tile_stride, sizeof vo.tile_stride);
    vo.bf16 = bf16;
    int n_encodes = 0; /* VAE encode calls of the units, in DiffSynth's unit order */
    if (prm.input_video)
        TRY_GOTO(err, done, wanc_unit_input_video(p->vae, bf16, &prm, &sched, &vo, latents, noise, lat_n, &n_encodes));
    else memcpy(latents, noise, sizeof(float) * (size_t)lat_n);

    if (dc->in_dim != z || p->clip || fused) {
        /* ImageEmbedderVAE, ImageEmbedderCLIP, FunControl, FunReference, FunCameraControl; ImageEmbedderFused */
        t0 = wanc_now_seconds();
        if (prm.progress && prm.progress(prm.progress_user, "image", 0, 1, 0)) goto cancelled;
        TRY_GOTO(err, done, build_conds(p, &prm, &rc, &vo, bf16, &n_encodes, &ct));
        if (fused) {
            TRY_GOTO(err, done, wanc_unit_image_fused(p->vae, bf16, &prm, &vo, latents, F, first));
            observe(&prm, "first_frame_latents", first, z * plane);
        }
        out->seconds_image = wanc_now_seconds() - t0;
        stage_done(&prm, "image", p->clip_w);
    }

    if (rc.motion_bucket_id) { /* SpeedControl: motion_bucket_id in the pipeline dtype; its embedding joins t_mod */
        float id = bf16 ? wanc_round_bf16(rc.motion_bucket_id->value) : rc.motion_bucket_id->value;
        observe(&prm, "dit_in.motion_bucket_id", &id, 1);
        motion_emb = malloc(sizeof(float) * (size_t)wanc_motion_controller_out_dim(p->motion));
        if (!motion_emb) TRY_GOTO(err, done, wanc_error(WANC_ENOMEM, "motion embedding"));
        TRY_GOTO(err, done, wanc_motion_controller_forward(p->motion, id, motion_emb));
    }
    if (rc.vace_video || rc.vace_mask || f_ref) { /* VACE */
        const wanc_media *refs[WANC_MAX_VACE_REFS];
        for (int j = 0; j < f_ref; j++) refs[j] = &rc.vace_refs[j]->media;
        if (!(vace_ctx = malloc(sizeof(float) * (size_t)(WANC_VACE_CHANNELS * Fd * plane))))
            TRY_GOTO(err, done, wanc_error(WANC_ENOMEM, "vace_context"));
        TRY_GOTO(err, done, wanc_unit_vace(p->vae, bf16, &prm, &vo, rc.vace_video ? &rc.vace_video->media : NULL,
                                           rc.vace_mask ? &rc.vace_mask->media : NULL, refs, (int)f_ref, vace_ctx,
                                           &n_encodes));
        observe(&prm, "dit_in.vace_context", vace_ctx, WANC_VACE_CHANNELS * Fd * plane);
    }

    /* The sampler. */
    t0 = wanc_now_seconds();
    wanc_dit_inputs in = {.latents = latents, .lat_c = z, .F = Fd, .H = h, .W = w, .ctx_len = WANC_WAN_TEXT_LEN,
                          .y = ct.y, .y_c = ct.y_c, .clip = ct.clip, .clip_len = ct.clip_len,
                          .zero_first_frame = fused, .t_mod_add = motion_emb, .reference = ct.reference,
                          .ref_c = ct.reference ? z : 0, .camera = ct.camera, .camera_c = ct.camera ? 24 : 0,
                          .vace_context = vace_ctx, .vace_c = vace_ctx ? WANC_VACE_CHANNELS : 0,
                          .vace_scale = rc.vace_scale ? rc.vace_scale->value : 1.0f /* DiffSynth's default */};
    TRY_GOTO(err, done, windows_init(&win, &prm, &in));
    int expert = 0;
    wanc_dit *dit = NULL;
    for (int k = 0; k < sched.num_steps; k++) {
        double ts = wanc_now_seconds();
        char name[64];
        const float t = sched.timesteps[k];
        /* the expert, chosen on the float32 timestep before the step's calls */
        const int e = pipeline_expert_for_step(n_experts, expert, t, boundary);
        if (!dit || e != expert) TRY_GOTO(err, done, pipeline_experts_acquire(&p->experts, e, &dit));
        expert = e;
        const float cfg_scale = cfg_of[e];
        const float expert_f = (float)e;
        snprintf(name, sizeof name, "step%d.expert", k);
        observe(&prm, name, &expert_f, 1);
        in.timestep = bf16 ? wanc_round_bf16(t) : t; /* timestep.to(torch_dtype) */
        snprintf(name, sizeof name, "step%d.latents_in", k);
        observe(&prm, name, latents, lat_n);
        snprintf(name, sizeof name, "step%d.timestep_dit", k);
        observe(&prm, name, &in.timestep, 1);

        in.context = ctx_posi;
        in.cache = tea ? &tea_posi.hook : NULL;
        /* both branches in one pass over the weights: a streamed DiT reads them once per step */
        const bool paired = cfg_scale != 1.0f && !win.size && !tea && !prm.velocity_override;
        if (paired) {
            wanc_dit_inputs in_nega = in;
            in_nega.context = ctx_nega;
            TRY_GOTO(err, done, wanc_dit_forward_cfg_pair(dit, &in, &in_nega, posi, nega));
        } else {
            TRY_GOTO(err, done, model_eval(dit, &prm, &in, 0, e, &win, k, bf16, posi));
        }
        if (tea) observe_tea(&prm, &tea_posi, k, "posi");
        snprintf(name, sizeof name, "step%d.noise_pred_posi", k);
        observe(&prm, name, posi, lat_n);
        if (cfg_scale != 1.0f) {
            in.context = ctx_nega;
            in.cache = tea ? &tea_nega.hook : NULL;
            if (!paired) TRY_GOTO(err, done, model_eval(dit, &prm, &in, 1, e, &win, k, bf16, nega));
            if (tea) observe_tea(&prm, &tea_nega, k, "nega");
            snprintf(name, sizeof name, "step%d.noise_pred_nega", k);
            observe(&prm, name, nega, lat_n);
            cfg_combine(posi, nega, lat_n, cfg_scale, bf16);
        }
        snprintf(name, sizeof name, "step%d.noise_pred", k);
        observe(&prm, name, posi, lat_n);
        TRY_GOTO(err, done, wanc_flow_sched_step(&sched, latents, posi, lat_n, t, bf16));
        snprintf(name, sizeof name, "step%d.latents_out", k);
        observe(&prm, name, latents, lat_n);
        if (fused) impose_first_frame(latents, first, z, F, plane);
        if (prm.progress && prm.progress(prm.progress_user, "denoise", k + 1, sched.num_steps, wanc_now_seconds() - ts))
            goto cancelled;
    }
    out->seconds_denoise = wanc_now_seconds() - t0;
    if (f_ref) /* drop the reference frames: latents[:, :, f_ref:] */
        for (int64_t c = 0; c < z; c++)
            memmove(latents + c * F * plane, latents + (c * Fd + f_ref) * plane, sizeof(float) * (size_t)(F * plane));
    stage_done(&prm, "denoise", dit ? wanc_dit_store(dit) : NULL);
    observe(&prm, "final_latents", latents, z * F * plane);

    /* Decode and convert. */
    t0 = wanc_now_seconds();
    const int64_t T = prm.num_frames, H = prm.height, W = prm.width, video_n = 3 * T * H * W;
    video = malloc(sizeof(float) * (size_t)video_n);
    out->frames = malloc((size_t)video_n);
    if (!video || !out->frames) {
        err = wanc_error(WANC_ENOMEM, "video buffers (%lld frames of %lldx%lld)", (long long)T, (long long)H,
                         (long long)W);
        goto done;
    }
    if (prm.progress && prm.progress(prm.progress_user, "decode", 0, 1, 0)) goto cancelled;
    TRY_GOTO(err, done, wanc_vae_decode(p->vae, video, latents, F, h, w, &vo));
    observe(&prm, "video", video, video_n);
    TRY_GOTO(err, done, wanc_video_to_u8(out->frames, video, 1, 3, (int)T, (int)H, (int)W, bf16));
    out->T = (int)T;
    out->H = (int)H;
    out->W = (int)W;
    out->seconds_decode = wanc_now_seconds() - t0;
    stage_done(&prm, "decode", wanc_vae_store(p->vae));
    if (prm.progress) prm.progress(prm.progress_user, "decode", 1, 1, out->seconds_decode);
    goto done;
cancelled:
    err = wanc_error(WANC_ECANCELLED, "generation cancelled");
done:
    if (err) wanc_video_free(out);
    wanc_flow_sched_free(&sched);
    wanc_teacache_free(&tea_posi.tc);
    wanc_teacache_free(&tea_nega.tc);
    free(noise);
    free(latents);
    free(posi);
    free(nega);
    free(ctx_posi);
    free(ctx_nega);
    cond_tensors_free(&ct);
    free(first);
    free(video);
    free(motion_emb);
    free(vace_ctx);
    windows_free(&win);
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
