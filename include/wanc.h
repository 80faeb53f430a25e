/* wanc — the Wan video-generation models in C.
 *
 * Usage: text-to-video (and image-to-video) with the released Wan2.1 files, as DiffSynth's
 * WanVideoPipeline would run it (same parameters, same defaults, same seed →
 * same video). The CLI `wanc` is a thin layer over this header.
 *
 *   #include <wanc.h>
 *
 *   wanc_pipeline *pipe;
 *   wanc_pipeline_files files = {.model_dir = "Wan2.1-T2V-1.3B"};
 *   wanc_pipeline_options opt;
 *   wanc_pipeline_options_default(&opt);              // bf16 compute, as DiffSynth
 *   wanc_err err = wanc_pipeline_load(&pipe, &files, &opt);
 *
 *   wanc_gen_params p;
 *   wanc_gen_params_default(&p);                       // 480x832, 81 frames, 50 steps, cfg 5
 *   p.prompt = "a corgi running on the beach";
 *   p.seed = 42;
 *   wanc_video video = {0};
 *   // image-to-video (an I2V / FLF2V / Fun-InP model, its CLIP file in the folder):
 *   //   p.input_image = rgb; p.input_image_height = h; p.input_image_width = w;
 *   if (!err) err = wanc_generate(pipe, &p, &video);  // video.frames: uint8 [T, H, W, 3]
 *   if (!err) err = wanc_video_save(&video, "out.mp4", 15, 5);
 *   if (err) { fprintf(stderr, "%s\n", wanc_error_message(err)); wanc_error_free(err); }
 *   wanc_video_free(&video);
 *   wanc_pipeline_free(pipe);
 */
#ifndef WANC_H
#define WANC_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "../src/core/error.h"

#define WANC_VERSION "0.1.0"

/* ---- the generation pipeline --------------------------------------------- */

typedef struct wanc_pipeline wanc_pipeline;

/* A LoRA applied to the DiT (DiffSynth's `pipe.load_lora(pipe.dit, path, alpha)`):
 * the diffsynth/peft, kohya/ComfyUI and diffusers key dialects, low-rank
 * layers with or without `alpha`, and `.diff` / `.diff_b` full differences. */
typedef enum wanc_lora_target {
    WANC_LORA_ALL_EXPERTS = 0, /* the DiT; on a Wan2.2 A14B model both experts */
    WANC_LORA_HIGH_NOISE = 1,  /* Wan2.2 A14B: the high-noise expert only (DiffSynth's `dit`) */
    WANC_LORA_LOW_NOISE = 2,   /* Wan2.2 A14B: the low-noise expert only (`dit2`) */
} wanc_lora_target;

typedef struct wanc_lora_spec {
    const char *path;        /* .safetensors (or .pth) */
    float strength;          /* the multiplier of the LoRA's change (DiffSynth's alpha; 1.0 usual) */
    wanc_lora_target target;
} wanc_lora_spec;

typedef enum wanc_lora_mode {
    WANC_LORA_FUSED = 0,   /* merged into the weights at load (float32 merge, rounded once to the
                              checkpoint's dtype; only the touched weights are copied) */
    WANC_LORA_RUNTIME = 1, /* y += s·B(A x) next to each frozen linear; base weights stay mmapped
                              (`.diff` / `.diff_b` and non-linear targets are still fused) */
} wanc_lora_mode;

/* Where the model files are: either `model_dir` (a release folder: files are
 * found by their released names) or each file explicitly (an explicit file
 * wins over the folder). */
typedef struct wanc_pipeline_files {
    const char *model_dir; /* diffusion_pytorch_model*.safetensors, models_t5_umt5-xxl-enc-bf16.pth,
                              Wan2.1_VAE.pth, google/umt5-xxl/ (image models also
                              models_clip_open-clip-xlm-roberta-large-vit-huge-14.pth) */
    const char *dit;       /* file, *.safetensors.index.json or glob */
    const char *t5;        /* .pth or .safetensors */
    const char *vae;       /* .pth or .safetensors */
    const char *tokenizer; /* folder with spiece.model / tokenizer.json, or one of those files */
    const char *clip;      /* image-to-video models: models_clip_open-clip-xlm-roberta-large-vit-huge-14
                              (.pth or .safetensors); unused by a text-to-video DiT */
    const char *motion_controller; /* speed control: WanMotionControllerModel (DiffSynth-Studio/
                              Wan2.1-1.3b-speedcontrol-v1's model.safetensors, keys linear.{0,2,4}.*);
                              else found in model_dir as Wan2.1-1.3b-speedcontrol-v1/model.safetensors */
    const char *dit2;      /* Wan2.2 A14B: the low-noise expert (DiffSynth's dit2); `dit` is then the
                              high-noise one. A model_dir with high_noise_model/ and low_noise_model/
                              gives both. */
    const wanc_lora_spec *loras; /* applied in order (several may touch one weight: they add up) */
    int n_loras;
} wanc_pipeline_files;

typedef enum wanc_precision {
    WANC_PRECISION_BF16 = 0, /* DiffSynth's default torch_dtype=bfloat16 */
    WANC_PRECISION_FP32 = 1, /* torch_dtype=float32 */
} wanc_precision;

/* How the DiT's GGUF Q8_0 weights are multiplied on the CPU. */
typedef enum wanc_q8_matmul {
    WANC_Q8_MATMUL_INT8 = 0, /* default: int8 dot products (activations quantized per 32-value block, as
                                llama.cpp / stable-diffusion.cpp do; AVX-512 VNNI, AVX-VNNI or AVX2);
                                off the decoded path by the activation rounding, ~3e-3 relative */
    WANC_Q8_MATMUL_FP = 1,   /* decode the weights for the float GEMM (ComfyUI-GGUF's numerics; the
                                reference the gguf_dit fixtures check) */
} wanc_q8_matmul;

typedef struct wanc_pipeline_options {
    wanc_precision precision; /* default bf16 */
    int dit_heads;            /* 0: from the checkpoint's metadata, else dim/128 */
    int threads;              /* 0: $WANC_THREADS, else every CPU */
    int clip_heads;           /* CLIP image encoder heads: 0 = width / 80 (the released 16) */
    wanc_lora_mode lora_mode; /* default fused */
    bool lora_allow_unmatched; /* LoRA keys that match no DiT parameter: ignored and counted in
                                  wanc_pipeline_lora_summary, instead of a named error */
    /* What a DiT checkpoint cannot carry, stated with DiffSynth's config field
     * names (`--dit-config FILE.json`): num_heads, VACE's vace_layers when not
     * a released pattern ({"vace_layers": [0, 1, 3]}); flat or as
     * {"dit": {WanModel kwargs}, "vace": {VaceWanModel kwargs}}. Stated fields
     * the tensors determine (dim, num_layers, in_dim, ...) must agree with
     * them. dit_config: a JSON file; dit_config_json: the same as text (not
     * both). dit_heads above wins over a stated num_heads. */
    const char *dit_config;
    const char *dit_config_json;
    /* Memory limit in GB (DiffSynth's vram_limit; `--max-memory`), 0 = none.
     * A DiT larger than 60 % of the limit is streamed block by block with
     * read-ahead. With or without a limit each component's weight pages are
     * dropped once its stage is done (UMT5 after encoding, CLIP after
     * conditioning, the DiT before VAE decoding) and UMT5's after each of its
     * blocks; the weights stay mapped: a later wanc_generate reads them again
     * from the page cache or disk. */
    double vram_limit;
    wanc_q8_matmul q8_matmul; /* `--q8-matmul int8|fp`; default int8 */
} wanc_pipeline_options;

void wanc_pipeline_options_default(wanc_pipeline_options *o);
/* Load tokenizer, text encoder, DiT(s) and VAE (Wan2.1 or Wan2.2, told apart by
 * its layout), and the CLIP image encoder when the DiT takes CLIP tokens
 * (Wan2.1 I2V, FLF2V, Fun-InP: has_image_input). The family is detected from
 * the weights: Wan2.1 T2V / I2V / FLF2V, Wan2.2 A14B T2V / I2V (two experts,
 * in_dim 36 without CLIP for I2V), Wan2.2 TI2V-5B (Wan2.2 VAE). A missing
 * file is named with the pattern that was looked for; a file that is the
 * wrong model for its slot (a VAE given as the DiT) or a pairing that cannot
 * work (a TI2V-5B DiT with the Wan2.1 VAE, experts of different shapes) is a
 * named error before any compute. Of two experts only the one in use is
 * kept open: the other's weights are unmapped. */
wanc_err wanc_pipeline_load(wanc_pipeline **out, const wanc_pipeline_files *files, const wanc_pipeline_options *o);
void wanc_pipeline_free(wanc_pipeline *p);
/* One line, the detected family first: "Wan2.2 A14B T2V, 2 experts, boundary
 * 0.875: DiT dim 5120 x 40 layers (40 heads), UMT5 24 layers, Wan2.1 VAE (z 16,
 * 8x), bf16 compute"; "Wan2.2 TI2V-5B: ..."; "Wan2.1 T2V: ...". */
const char *wanc_pipeline_describe(const wanc_pipeline *p);
/* One line per LoRA loaded ("" without LoRAs): file, dialect, layers, strength, mode, and a
 * "warning: N keys matched no DiT parameter" when lora_allow_unmatched let some through. */
const char *wanc_pipeline_lora_summary(const wanc_pipeline *p);

/* Progress: called after every denoising step; return non-zero to cancel
 * (wanc_generate then returns WANC_ECANCELLED). */
typedef int (*wanc_progress_fn)(void *user, const char *stage, int step, int total, double seconds);
/* Intermediate tensors of a run (for tests and debugging): "noise",
 * "context_posi", "context_nega", "step<k>.latents_in", "step<k>.timestep_dit",
 * "y" (image-to-video: [4 + z, F, h, w]), "clip_feature" ([257 or 514, 1280]),
 * "step<k>.noise_pred_posi", "step<k>.noise_pred_nega", "step<k>.noise_pred",
 * "step<k>.latents_out", "final_latents", "video"; "step<k>.expert" (the
 * expert of the step: 0 high-noise / the only DiT, 1 low-noise);
 * "first_frame_latents" (TI2V-5B image-to-video). Float32, n values. */
typedef void (*wanc_observe_fn)(void *user, const char *name, const float *data, int64_t n);

/* One model evaluation of the denoising loop, as the DiT would receive it
 * (the test hook wanc_gen_params.velocity_override sees this). */
typedef struct wanc_dit_call {
    const float *latents;     /* [lat_c, F, H, W] */
    int64_t lat_c, F, H, W;
    const float *y;           /* [y_c, F, H, W] image conditioning (mask + VAE latents), or NULL */
    int64_t y_c;
    const float *clip;        /* [clip_len, 1280] CLIP tokens, or NULL */
    int64_t clip_len;
    float timestep;           /* as the DiT gets it (bf16-rounded in bf16 runs) */
    int negative;             /* 0: the prompt's branch, 1: the negative prompt's */
    int expert;               /* 0: the high-noise expert (or the only DiT), 1: the low-noise one */
    bool zero_first_frame;    /* TI2V-5B image-to-video: latent frame 0 is the image's, timestep 0 there */
} wanc_dit_call;
/* Writes velocity[lat_c, F, H, W]; an error stops the run. */
typedef wanc_err (*wanc_velocity_fn)(void *user, const wanc_dit_call *call, float *velocity);

/* Conditioning inputs beyond the prompt, as a tagged list (wanc_gen_params.conds):
 * each entry names the WanVideoPipeline.__call__ argument it stands for and
 * carries a value, a text, and/or media. A new model family adds a kind, not
 * a struct field. An entry whose model is not loaded is a named error. */
typedef enum wanc_cond_kind {
    WANC_COND_MOTION_BUCKET_ID = 1, /* value: speed control (needs the motion controller file) */
    WANC_COND_CONTROL_VIDEO,        /* media (video): Fun control */
    WANC_COND_REFERENCE_IMAGE,      /* media (image): Fun V1.1 reference (ref_conv) */
    WANC_COND_CAMERA,               /* text: camera_control_direction (Left, Right, Up, Down, LeftUp,
                                       LeftDown, RightUp, RightDown); value: camera_control_speed (0:
                                       DiffSynth's 1/54); values[19]: camera_control_origin or NULL
                                       (DiffSynth's default). Fun Control-Camera, with input_image */
    WANC_COND_VACE_VIDEO,           /* media (video): VACE control video */
    WANC_COND_VACE_MASK,            /* media (video): VACE mask (white: generate, black: keep) */
    WANC_COND_VACE_REFERENCE_IMAGE, /* media (image), repeatable: VACE reference images */
    WANC_COND_VACE_SCALE,           /* value: vace_scale (default 1.0) */
} wanc_cond_kind;

/* uint8 RGB [frames, height, width, 3]; an image has frames = 1. */
typedef struct wanc_media {
    const uint8_t *rgb;
    int frames, height, width;
} wanc_media;

typedef struct wanc_cond {
    wanc_cond_kind kind;
    float value;
    const char *text;
    const float *values;
    int n_values;
    wanc_media media;
} wanc_cond;

/* The parameters of WanVideoPipeline.__call__ that wanc supports, with its
 * defaults (wanc_gen_params_default). */
typedef struct wanc_gen_params {
    const char *prompt;          /* "" */
    const char *negative_prompt; /* "" */
    float cfg_scale;             /* 5.0; 1.0 runs no negative branch */
    int64_t seed;                /* -1: a random seed (reported in wanc_video.seed) */
    int height, width;           /* 480, 832: rounded up to multiples of 16 */
    int num_frames;              /* 81: rounded up to 4k+1 */
    int num_inference_steps;     /* 50 */
    float sigma_shift;           /* 5.0 */
    float denoising_strength;    /* 1.0; < 1 needs input_video */
    /* video-to-video: uint8 RGB frames [T, H, W, 3] (any size: centre-cropped
     * and resized to height × width as DiffSynth's VideoData does) */
    const uint8_t *input_video;
    int input_video_frames, input_video_height, input_video_width;
    bool tiled;                  /* true */
    int tile_size[2];            /* (30, 52) latent pixels */
    int tile_stride[2];          /* (15, 26) */
    wanc_progress_fn progress;   /* may be NULL */
    void *progress_user;
    wanc_observe_fn observe;     /* may be NULL */
    void *observe_user;
    /* Memory per stage (may be NULL): stage "text", "image", "denoise",
     * "decode" with the resident set at its end and its peak (bytes), then
     * "<stage> released" after its weights were dropped. */
    void (*memory)(void *user, const char *stage, size_t rss, size_t peak);
    void *memory_user;
    /* image-to-video (a DiT with has_image_input: I2V, FLF2V, Fun-InP): uint8
     * RGB [H, W, 3] of any size, resized to height x width (PIL bicubic) as
     * DiffSynth's `input_image.resize((width, height))`. The DiT's `y` is
     * [mask, VAE(image, zeros.., end_image)], its `clip` the CLIP tokens of
     * the image (and of end_image when the DiT has image position embeddings,
     * FLF2V, which requires it). */
    const uint8_t *input_image;
    int input_image_height, input_image_width;
    const uint8_t *end_image;    /* optional for I2V / Fun-InP; required for FLF2V */
    int end_image_height, end_image_width;
    /* Test hook: when set, called instead of the DiT for every model
     * evaluation (the rest of the pipeline unchanged). NULL in normal use. */
    wanc_velocity_fn velocity_override;
    void *velocity_user;
    /* TeaCache (DiffSynth's tea_cache_l1_thresh / tea_cache_model_id): 0 = off
     * (DiffSynth's None). With a threshold (e.g. 0.05..0.3; higher skips more)
     * each CFG branch keeps its own cache: on steps whose time modulation barely
     * changed the DiT blocks are skipped and their last residual reused. The
     * model id picks the fitted coefficients and is required with a threshold:
     * "Wan2.1-T2V-1.3B", "Wan2.1-T2V-14B", "Wan2.1-I2V-14B-480P",
     * "Wan2.1-I2V-14B-720P" (default "", as DiffSynth). Observers see
     * "step<k>.tea_cache_posi" / "_nega" = {rel_l1, rescaled, accumulated,
     * skipped} per call (rel_l1, rescaled NaN on calls that always compute). */
    float tea_cache_l1_thresh;
    const char *tea_cache_model_id;
    /* Sliding windows (DiffSynth's sliding_window_size / _stride, in latent
     * frames; 0 = off, both or neither): the DiT runs on overlapping temporal
     * windows of the latents, blended with linear ramps over the overlap, so
     * its memory is bounded by the window. Observers see
     * "step<k>.<posi|nega>.window<w>.latents_in" / ".noise_pred". Unlike
     * DiffSynth, every per-frame input (y, the camera input, VACE context) is
     * sliced per window and TI2V's fused first frame keeps timestep 0 in the
     * window that holds it; TeaCache is not combined with windows. */
    int sliding_window_size, sliding_window_stride;
    /* Conditioning inputs of the control models (see wanc_cond_kind); NULL/0: none. */
    const wanc_cond *conds;
    int n_conds;
    /* Wan2.2 A14B (two experts): the high-noise expert runs while the step's
     * timestep >= switch_dit_boundary * 1000, the low-noise one from the first
     * step below (DiffSynth's switch_DiT_boundary). NAN (the default) = the
     * model's: 0.875 for T2V-A14B (DiffSynth's default), 0.9 for I2V-A14B (its
     * I2V example, the release's value). Ignored with one DiT. */
    float switch_dit_boundary;
    /* CFG scale while each expert runs; NAN (the default) = cfg_scale.
     * (DiffSynth has one scale; the official Wan2.2 code uses 4.0 / 3.0 for
     * T2V-A14B and 3.5 / 3.5 for I2V-A14B.) */
    float cfg_scale_high, cfg_scale_low;
} wanc_gen_params;

void wanc_gen_params_default(wanc_gen_params *p);

/* Check and round the shape as DiffSynth's ShapeChecker does, before any model
 * loads: writes the rounded height/width/num_frames back into p and up to 3
 * one-line notices ("height 481 is not a multiple of 16: rounded up to 496").
 * Nonsense (0, negative, more than the machine could hold) is a named error. */
wanc_err wanc_gen_params_check(wanc_gen_params *p, char notices[3][128], int *n_notices);
/* The same once the models are known: height and width rounded to multiples of
 * 2 x the VAE's scale (16 with the Wan2.1 VAE, 32 with the Wan2.2 VAE), and
 * what the model needs from the run (an image for I2V, none for T2V). */
wanc_err wanc_pipeline_check_params(const wanc_pipeline *pipe, wanc_gen_params *p, char notices[3][128],
                                    int *n_notices);

typedef struct wanc_video {
    uint8_t *frames; /* [T, H, W, 3] RGB */
    int T, H, W;
    uint64_t seed;   /* the seed used */
    double seconds_text, seconds_denoise, seconds_decode;
    double seconds_image; /* image-to-video conditioning (VAE encode + CLIP) */
} wanc_video;

wanc_err wanc_generate(wanc_pipeline *p, const wanc_gen_params *params, wanc_video *out);
void wanc_video_free(wanc_video *v);

/* Save frames by the path's form: "*.mp4" (H.264 yuv420p, fps, quality 0..10
 * as DiffSynth's save_video), "*.safetensors" (the raw uint8 frames), or a
 * folder path ending in "/" (frame_00000.png, ...). Written to a temporary name
 * and renamed when complete. */
wanc_err wanc_video_save(const wanc_video *v, const char *path, double fps, int quality);

/* Read a video (or image) file to uint8 RGB frames [T, H, W, 3] (malloc'd). */
wanc_err wanc_video_load(const char *path, uint8_t **frames, int *T, int *H, int *W);

/* The built-in demo: a tiny Wan2.1 text-to-video model in the released file
 * formats (src/pipeline/demo.c): a tokenizer that knows the demo dataset's
 * words, a random frozen UMT5 (dim 32), a DiT (dim 192, WANC_DEMO_DIT_LAYERS
 * layers, 4 heads) and the constructed VAE (width 8). wanc_demo_write_models
 * writes the DiT's random f32 starting point (the one `wanc train` starts
 * from); wanc_demo_write_trained copies a trained DiT file (models/demo/) in.
 * Both return the paths in files (strings owned by a static buffer of the call)
 * and the heads to give wanc_pipeline_options.dit_heads: 4 for the start, 0
 * (the file's num_heads metadata) for a trained DiT that states its heads.
 * The model makes WANC_DEMO_SIZE-square clips of WANC_DEMO_FRAMES frames. */
#define WANC_DEMO_DIT_LAYERS 4
#define WANC_DEMO_SIZE 96
#define WANC_DEMO_FRAMES 17
wanc_err wanc_demo_write_models(const char *dir, wanc_pipeline_files *files, int *dit_heads);
wanc_err wanc_demo_write_trained(const char *dir, const char *trained_dit, wanc_pipeline_files *files, int *dit_heads);
/* The demo's run: WANC_DEMO_PROMPT, seed 42, WANC_DEMO_SIZE square, WANC_DEMO_FRAMES
 * frames, 20 steps, cfg 1 (no negative branch); fp32 compute, 4 DiT heads. */
#define WANC_DEMO_PROMPT "a red circle moving right on a black background"
void wanc_demo_gen_params(wanc_gen_params *p);
void wanc_demo_pipeline_options(wanc_pipeline_options *o);
/* A PNG contact sheet: one row per video (all of one size), `columns` evenly
 * spaced frames each, first and last included. */
wanc_err wanc_demo_sheet(const char *path, const wanc_video *videos, int n, int columns);
/* The same with an image-to-video DiT (has_image_input, in_dim 36; with
 * flf2v also img_emb.emb_pos) and a tiny CLIP tower (width 1280, 257 tokens,
 * no transformer block run) as models_clip_open-clip-xlm-roberta-large-vit-huge-14.safetensors. */
wanc_err wanc_demo_write_i2v_models(const char *dir, bool flf2v, wanc_pipeline_files *files, int *dit_heads);
/* The demo's input picture, rgb[H, W, 3]: a colour gradient with a bright disc
 * (second = true: the disc on the other side, the FLF2V end frame). */
void wanc_demo_image(uint8_t *rgb, int H, int W, bool second);

/* ---- the demo's procedural dataset (`wanc make-dataset`) ------------------ */

/* A scene: one shape of one colour doing one motion over one background; the
 * indices name the entries of wanc_toy_name. */
enum { WANC_TOY_SHAPES = 3, WANC_TOY_COLOURS = 5, WANC_TOY_MOTIONS = 7, WANC_TOY_BACKGROUNDS = 3 };
#define WANC_TOY_SCENES (WANC_TOY_SHAPES * WANC_TOY_COLOURS * WANC_TOY_MOTIONS * WANC_TOY_BACKGROUNDS)
typedef enum { WANC_TOY_ATTR_SHAPE, WANC_TOY_ATTR_COLOUR, WANC_TOY_ATTR_MOTION, WANC_TOY_ATTR_BACKGROUND } wanc_toy_attr;
typedef struct wanc_toy_scene {
    int shape, colour, motion, background;
} wanc_toy_scene;

/* "circle" / "red" / "moving left" / "sky-blue gradient" ...; NULL out of range. */
const char *wanc_toy_name(wanc_toy_attr attr, int index);
/* The (shape, colour) pairs kept out of the dataset: yellow triangle, red
 * square, blue circle, green triangle, white square (every motion, every background). */
bool wanc_toy_held_out(const wanc_toy_scene *s);
/* Every scene that is held out (held_out) or in the dataset (!held_out), in
 * index order, into out[WANC_TOY_SCENES]; returns how many (105 / 210). */
int wanc_toy_list(wanc_toy_scene *out, bool held_out);
/* The caption: variant < 0 the canonical "a red circle moving left on a black
 * background"; variant >= 0 picks synonyms and word order (as in the dataset). */
void wanc_toy_caption(char *buf, size_t cap, const wanc_toy_scene *s, int variant);
/* Render a clip, frames[T, H, W, 3]; seed picks position, size and speed. */
void wanc_toy_render(uint8_t *frames, int T, int H, int W, const wanc_toy_scene *s, uint64_t seed);
/* Write out_dir/metadata.csv (columns video, prompt: DiffSynth's layout) and
 * out_dir/train/NNNNNN.mp4: `count` clips of size x size, `frames` frames, of
 * the scenes not held out (every combination equally often). progress may be
 * NULL; returning non-zero stops with WANC_ECANCELLED. */
wanc_err wanc_make_dataset(const char *out_dir, int count, uint64_t seed, int size, int frames,
                           int (*progress)(void *user, int done, int total), void *user);

/* What wanc_toy_measure reads from frames: the pixels differing from the
 * (known) background are the object; its mean colour, hue and saturation, the
 * palette colour nearest, the shift of its centroid from the first to the last
 * quarter of the clip (fractions of the frame; +x right, +y down), the ratio
 * of its areas, and the motion these imply (wanc_toy_name indices; -1 when no
 * object was found). */
typedef struct wanc_toy_measurement {
    bool found;
    float rgb[3], hue, saturation;
    float dx, dy, growth;
    int colour, motion;
} wanc_toy_measurement;
wanc_err wanc_toy_measure(const uint8_t *frames, int T, int H, int W, int background, wanc_toy_measurement *m);
/* Generate each scene's canonical caption with the demo's run (seed + i) on a
 * loaded demo pipeline and measure the frames into out[i]. */
wanc_err wanc_demo_measure_scenes(wanc_pipeline *pipe, const wanc_toy_scene *scenes, int n, int64_t seed,
                                  wanc_toy_measurement *out);

/* ---- inspection and tools ---------------------------------------------- */

/* Print every tensor of a checkpoint as `name<TAB>dtype<TAB>shape`, sorted by
 * name, then `tensors: N`, the container/quantization (`format: GGUF v3, ...,
 * file type Q4_K_S` / `format: ComfyUI scaled fp8 ...`), the count per tensor
 * type and the detected key layout (`layout: ...`); for a LoRA file also
 * `lora:` lines naming its dialect, rank(s), alpha(s), the modules it touches
 * and its layer count. */
wanc_err wanc_info_print(FILE *out, const char *path);

/* Called after each tensor written; non-zero stops (WANC_ECANCELLED). */
typedef int (*wanc_quantize_progress_fn)(void *user, int done, int total);
/* Write a Wan DiT checkpoint (any layout and dtype wanc reads) as a GGUF file
 * with the layout and tensor-type rules of city96's published Wan GGUFs
 * (ComfyUI-GGUF, stable-diffusion.cpp). type: F16, Q8_0, Q6_K, Q5_K_S,
 * Q5_K_M (= Q5_K), Q4_K_S, Q4_K_M (= Q4_K), Q5_0, Q4_0. Streams tensor by
 * tensor; written under a temporary name and renamed when complete. */
wanc_err wanc_quantize_dit(const char *in_path, const char *out_path, const char *type,
                           wanc_quantize_progress_fn progress, void *user);

/* Write a random Wan2.1 DiT (released key names and shapes, `num_heads` in
 * __metadata__) to DIR/diffusion_pytorch_model.safetensors, streamed tensor by
 * tensor. arch: wan2.1-t2v-1.3b, wan2.1-t2v-14b, wan2.1-i2v-14b; layers 0 = all;
 * dtype "bf16" (default when NULL) or "f32". */
wanc_err wanc_random_model_dit(const char *arch, const char *out_dir, int layers, const char *dtype,
                               unsigned long long seed);

/* Write a random LoRA for the DiT checkpoint `base` (`wanc random-model --arch lora
 * --base FILE`): a low-rank pair on every 2-D weight of the blocks, in the
 * diffsynth dialect (`<module>.lora_A.default.weight`), dtype "bf16" or "f32". */
wanc_err wanc_random_lora(const char *base, const char *path, int rank, const char *dtype, unsigned long long seed);

/* The CPU backend's instruction-set path, detected once at first use:
 * "avx2", "avx512" or "avx512bf16" (bf16 GEMMs on vdpbf16ps). The
 * environment variable WANC_CPU=avx2|avx512|avx512bf16 forces one; an
 * unknown name or a path this CPU lacks is an error here (and from
 * wanc_pipeline_open), never a crash later. name may be NULL. */
wanc_err wanc_cpu_path(const char **name);

/* `wanc bench dit [options]` (argv after "dit"); results printed to out, last line
 * `dit forward_s=... gflop=... gflops=... sgemm_gflops=... ratio=... peak_rss_mb=...`. */
wanc_err wanc_bench_dit(FILE *out, int argc, char **argv);
/* `wanc bench train [options]` (argv after "train"): one training step (loss, backward with
 * per-block checkpointing, AdamW; --mode lora|full); last line
 * `train step_s=... gflop=... gflops=... sgemm_gflops=... ratio=... peak_rss_mb=...`. */
wanc_err wanc_bench_train(FILE *out, int argc, char **argv);
/* Write a random-weight CLIP image tower (`wanc random-model --arch clip-vit-h-14`):
 * the visual.* keys of models_clip_open-clip-xlm-roberta-large-vit-huge-14 with
 * their real names and shapes, as .safetensors. width/layers 0 = the real 1280 / 32
 * (patch 14, 224 px); dtype "f32" or "bf16". */
wanc_err wanc_random_clip(const char *path, const char *dtype, unsigned long long seed, int width, int layers);

/* Write a random-weight Wan2.1 VAE (`wanc random-model --arch wan2.1-vae`): the
 * release's key names and shapes as .safetensors; width 0 = the real 96;
 * dtype "f32" or "bf16". */
wanc_err wanc_random_vae21(const char *path, const char *dtype, unsigned long long seed, int width);
/* The same for the Wan2.2 VAE (`--arch wan2.2-vae`): width 0 = the real encoder
 * width 160 (decoder 256); width N gives an N-wide encoder and a 1.6x decoder. */
wanc_err wanc_random_vae22(const char *path, const char *dtype, unsigned long long seed, int width);
/* ---- UMT5 text encoder (src/text) ------------------------------------------ */

#include <stdint.h>

/* `wanc encode-prompt`: tokenize a prompt (Wan's cleaning, 512 ids) and, unless
 * ids_only, run the UMT5 encoder with the pipeline's zeroing of padded rows. */
typedef struct wanc_encode_prompt_params {
    const char *t5_path;       /* models_t5_umt5-xxl-enc-bf16.pth or a safetensors re-save */
    const char *tokenizer_dir; /* google/umt5-xxl folder (spiece.model / tokenizer.json) or the file */
    const char *prompt;
    const char *out_path;      /* .safetensors receiving `prompt_emb` [1, 512, dim] F32; NULL: none */
    int bf16;                  /* 1: DiffSynth's default bf16 run, 0: float32 */
    int print_ids;             /* print `ids: ...` and `tokens: N` to out */
    int threads;               /* 0: default */
} wanc_encode_prompt_params;
wanc_err wanc_encode_prompt(FILE *out, const wanc_encode_prompt_params *p);

/* `wanc random-model`: random-weight checkpoints in a released layout.
 * Sizes 0 mean the released model's; the others shrink it for tests. */
typedef struct wanc_random_model_opts {
    uint64_t seed;
    int64_t layers, vocab, dim, dim_ffn, heads;
    int64_t width;     /* VAE / CLIP base width (0: the release's) */
    const char *dtype; /* "bf16" / "f32"; NULL: the release's */
} wanc_random_model_opts;
/* --arch wan2.2-t2v-a14b | wan2.2-i2v-a14b | wan2.2-fun-a14b-control |
 * wan2.2-fun-a14b-control-camera | wan2.2-vace-fun-a14b | wan2.2-ti2v-5b: a release
 * folder out_dir that `wanc generate --model-dir` runs: the DiT(s) with the
 * release's shapes (o->layers, 0 = all; o->dim, o->dim_ffn, o->heads shrink
 * them for tests, 0 = the release's) and shards + index (A14B: high_noise_model/ and
 * low_noise_model/, 6 each; TI2V-5B: 3), bf16 unless o->dtype is "f32"; the VAE
 * (Wan2.1 for A14B, Wan2.2 for TI2V-5B) at width o->width (0 = the release's);
 * and a small stand-in text encoder (width 4096, 2 layers) with the demo's
 * tokenizer, since the real UMT5 (11 GB) and tokenizer cannot be made up. */
wanc_err wanc_random_model_release(const char *arch, const char *out_dir, const wanc_random_model_opts *o);
/* --arch umt5-xxl: models_t5_umt5-xxl-enc-bf16 (bf16, ~5.7B parameters at full size). */
wanc_err wanc_random_model_umt5(const char *path, const wanc_random_model_opts *o);

/* ---- training (`wanc train`, src/train) ------------------------------------ */

/* The arguments of DiffSynth's examples/wanvideo/model_training/train.py, by
 * its names and with its defaults (wanc_train_options_default). */
typedef struct wanc_train_options {
    /* dataset */
    const char *dataset_base_path;     /* folder the metadata's file names are relative to; with
                                          task "sft:train", the cache folder data_process wrote */
    const char *dataset_metadata_path; /* .csv / .json / .jsonl (columns video or image, prompt) */
    int dataset_repeat;                /* 1 */
    const char *data_file_keys;        /* "image,video" */
    int height, width;                 /* 0: dynamic resolution under max_pixels */
    long long max_pixels;              /* 1024*1024 */
    int num_frames;                    /* 81 (shorter videos: their largest 4k+1) */
    /* models */
    const char *model_paths;           /* JSON list of files (DiffSynth's --model_paths) */
    const char *model_dir;             /* or a release folder, as `wanc generate --model-dir` */
    const char *tokenizer_path;        /* google/umt5-xxl folder; NULL: the model folder's */
    int dit_heads;                     /* 0: the checkpoint's metadata, else dim/128 */
    wanc_precision precision;          /* bf16 (DiffSynth trains in bfloat16) */
    /* training */
    const char *task;                  /* "sft" | "sft:data_process" | "sft:train" */
    double learning_rate;              /* 1e-4 */
    double weight_decay;               /* 0.01 */
    int num_epochs;                    /* 1 */
    const char *trainable_models;      /* "dit" for full fine-tuning, NULL otherwise */
    const char *lora_base_model;       /* "dit" for LoRA */
    const char *lora_target_modules;   /* "q,k,v,o,ffn.0,ffn.2" */
    int lora_rank;                     /* 32 */
    const char *lora_checkpoint;       /* continue this LoRA */
    const char *preset_lora_path;      /* fused into the base model first (strength 1) */
    const char *preset_lora_model;     /* the model it is fused into: "dit" (NULL: dit) */
    int gradient_accumulation_steps;   /* 1 */
    const char *extra_inputs;          /* "input_image" (each clip's first frame), "input_image,end_image"
                                          (and its last: FLF2V) or NULL; see wanc_train */
    double max_timestep_boundary;      /* 1.0 */
    double min_timestep_boundary;      /* 0.0 */
    long long seed;                    /* 0 */
    int threads;                       /* 0: $WANC_THREADS, else every CPU */
    /* output */
    const char *output_path;           /* "./models" */
    const char *remove_prefix_in_ckpt; /* "pipe.dit." */
    int save_steps;                    /* 0: once per epoch */
    const char *resume_from_checkpoint;
} wanc_train_options;

void wanc_train_options_default(wanc_train_options *o);

/* What a progress callback sees: stage "data" (data_process: item done of
 * total) or "train" (step done of total, with the loss). */
typedef struct wanc_train_status {
    const char *stage;
    long long step, total;
    int epoch;
    double loss, loss_smoothed, lr, seconds_per_step;
} wanc_train_status;
/* Return non-zero to stop: training saves a checkpoint and returns WANC_ECANCELLED. */
typedef int (*wanc_train_progress_fn)(void *user, const wanc_train_status *s);

/* Run a training task. "sft:data_process" encodes every item (UMT5 prompt
 * embedding, VAE latents of the clip and, with extra_inputs, the image
 * units' outputs the DiT takes: y, CLIP tokens, TI2V-5B's first-frame
 * latents) once into output_path/0/N.safetensors;
 * "sft:train" trains from such a folder (dataset_base_path, no metadata)
 * without loading UMT5 or the VAE; "sft" does both in one run. Bad data is a
 * named error (metadata file, row, data file) before anything is written. */
wanc_err wanc_train(const wanc_train_options *o, wanc_train_progress_fn progress, void *user);

#endif
