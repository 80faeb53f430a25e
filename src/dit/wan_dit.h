/* The Wan diffusion transformer (DiT): Wan2.1 T2V, I2V, FLF2V, speed control,
 * the Wan2.2 TI2V-5B per-token-timestep call, VACE, Fun control (reference
 * tokens) and Fun camera control.
 *
 * One forward = DiffSynth's `model_fn_wan_video` standard path: time
 * embedding, text embedding, optional CLIP image embedding, patch embedding
 * (+ the camera adapter; reference tokens prepended), `num_layers` DiT blocks
 * with 3-D RoPE self-attention and cross-attention (+ VACE hints after the
 * mapped blocks, or a step cache's stored residual instead of the blocks),
 * the modulated head and unpatchify. The optional modules live in their own
 * files (vace.c, camera_adapter.c) and are found by their tensor names.
 *
 * Config is inferred from the checkpoint's tensor names and shapes; the head
 * count (not visible in the shapes) is dim/128 unless the safetensors
 * `__metadata__` has `num_heads` or the caller overrides it.
 *
 *   wanc_dit *dit;
 *   TRY(wanc_dit_load(&dit, be, store, &(wanc_dit_options){0}));
 *   TRY(wanc_dit_forward(dit, &in, out));        // out[out_dim, F, H, W]
 *   wanc_dit_free(dit);
 *
 * Activations come from the model's own arena, whose memory is the backend's
 * (be->alloc): after the first forward of a given size nothing is allocated
 * per call. Inputs and the output are host memory (uploaded / downloaded);
 * an observer sees backend memory (host memory on the CPU backend).
 */
#ifndef WANC_DIT_WAN_DIT_H
#define WANC_DIT_WAN_DIT_H

#include <stdbool.h>
#include <stdint.h>

#include "backend/backend.h"
#include "core/error.h"
#include "io/weights.h"

#define WANC_DIT_CLIP_DIM 1280     /* the released CLIP ViT-H feature width (img_emb input; see clip_dim) */
#define WANC_DIT_CLIP_TOKENS 257   /* image tokens per frame; cross-attn splits here */
#define WANC_DIT_MAX_VACE 64       /* VACE blocks (released: 15 and 8) */
#define WANC_DIT_CAMERA_UNSHUFFLE 8 /* the camera adapter's PixelUnshuffle factor */

typedef struct wanc_dit_config {
    int dim, in_dim, out_dim, ffn_dim, text_dim, freq_dim;
    int num_heads, num_layers;
    int patch[3];             /* (1, 2, 2) */
    float eps;                /* 1e-6 for every DiT norm */
    bool has_image_input;     /* I2V/FLF2V: img_emb + k_img/v_img */
    bool has_image_pos_emb;   /* FLF2V: img_emb.emb_pos [1, 514, clip_dim] */
    int clip_dim;             /* img_emb's CLIP feature width (img_emb.proj.0.weight): 1280 released */
    /* VACE (vace_* tensors in the same store): vace_num_blocks blocks; block j's
     * hint is added after DiT block vace_layers[j] */
    int vace_num_blocks, vace_in_dim;
    int vace_layers[WANC_DIT_MAX_VACE];
    bool has_ref_conv;        /* Fun control: ref_conv [dim, ref_in_dim, ph, pw] */
    int ref_in_dim;
    bool has_control_adapter; /* Fun camera: control_adapter.* (SimpleAdapter) */
    int control_in_dim;       /* camera channels (24) before PixelUnshuffle(8) */
} wanc_dit_config;

typedef enum wanc_dit_precision {
    WANC_DIT_FP32 = 0, /* float32 activations; weights read as stored */
    WANC_DIT_BF16 = 1, /* torch bf16 semantics: each op's result rounded to bf16 */
} wanc_dit_precision;

typedef struct wanc_dit_options {
    int num_heads;                /* 0: `num_heads` metadata, else dim/128 */
    wanc_dit_precision precision; /* bf16 also converts f32 weights to bf16 at load */
    bool bf16_weights;            /* round f32 weights to bf16 at load (fp32 compute on bf16 data) */
    /* A stated config (JSON text, DiffSynth's field names, flat or as
     * {"dit": {WanModel kwargs}, "vace": {VaceWanModel kwargs}}): sets what the
     * tensors cannot carry (num_heads unless num_heads above is set,
     * vace_layers) and must agree with what they do (dim, num_layers, ...).
     * NULL: none. See dit_config.c. */
    const char *config_json;
    /* Stream the blocks' weights: read block i+1 ahead while block i computes
     * and drop block i's pages after it (the weights stay mapped, so the
     * next forward reads them again from the page cache or disk). For a DiT
     * larger than the memory it may use. */
    bool stream_blocks;
} wanc_dit_options;

/* Called at each named point of the forward (see the fixture README's
 * names: t_freq, t, t_mod, context_emb, clip_emb, context, patch_conv,
 * camera_adapter, ref_conv, x_tokens, rope_freqs, vace.patch_conv,
 * vace.block.<i>, vace.hint.<j>, block.<i> (before any hint), head_in,
 * head_out). data is float32,
 * shape as PyTorch would have it (batch 1 included). */
typedef void (*wanc_dit_observe_fn)(void *user, const char *name, const float *data, int ndim,
                                    const int64_t *shape);

/* A step cache (TeaCache) consulted by the forward: after the patch
 * embedding, check() sees t_mod[mod_n] ([6, dim]) and the tokens entering
 * block 0 x[n] and decides; on skip the blocks do not run and update() adds
 * the stored residual to x; otherwise the blocks run and store() gets their
 * output. The head always runs. */
typedef struct wanc_dit_cache {
    wanc_err (*check)(void *user, const float *t_mod, int64_t mod_n, const float *x, int64_t n, bool *skip);
    wanc_err (*store)(void *user, const float *x_out, int64_t n);
    wanc_err (*update)(void *user, float *x, int64_t n);
    void *user;
} wanc_dit_cache;

typedef struct wanc_dit_inputs {
    const float *latents;  /* [lat_c, F, H, W] */
    int64_t lat_c, F, H, W;
    const float *y;        /* [y_c, F, H, W] concatenated after latents, or NULL */
    int64_t y_c;
    float timestep;        /* as the pipeline passes it (bf16 mode rounds it) */
    const float *context;  /* [ctx_len, text_dim] text encoder output */
    int64_t ctx_len;
    const float *clip;     /* [clip_len, clip_dim] CLIP tokens (257 or 514), or NULL */
    int64_t clip_len;
    const float *t_mod_add;  /* [6, dim] added to t_mod (speed control's motion_emb), or NULL */
    bool zero_first_frame;   /* TI2V image-to-video (fuse_vae_embedding_in_latents on a
                                separated-timestep model): latent frame 0's tokens get timestep 0 */
    /* VACE: vace_context [vace_c, F, H, W] (needs the vace_* tensors); hints ×
     * vace_scale (DiffSynth's default is 1.0; a zeroed struct gives 0) */
    const float *vace_context;
    int64_t vace_c;
    float vace_scale;
    /* Fun control: reference latents [ref_c, H, W] (one frame), tokens prepended */
    const float *reference;
    int64_t ref_c;
    /* Fun camera: control_camera_latents_input [camera_c, F, 8H, 8W] */
    const float *camera;
    int64_t camera_c;
    const wanc_dit_cache *cache;  /* optional step cache (TeaCache) */
    wanc_dit_observe_fn observe; /* optional */
    void *observe_user;
} wanc_dit_inputs;

typedef struct wanc_dit wanc_dit;

/* Infer the config from a store (after any renaming); named error on an
 * unknown layout. num_heads_override 0 = metadata, else dim/128. */
wanc_err wanc_dit_infer_config(wanc_dit_config *cfg, const wanc_weights *w, int num_heads_override);

/* Build the model over `w` (the store must outlive the model; diffusers
 * names are renamed to native ones in place). */
wanc_err wanc_dit_load(wanc_dit **out, const wanc_backend *be, wanc_weights *w, const wanc_dit_options *opt);
/* Open `path` (file, index.json or glob) and load; the model owns the store. */
wanc_err wanc_dit_open(wanc_dit **out, const wanc_backend *be, const char *path, const wanc_dit_options *opt);
void wanc_dit_free(wanc_dit *dit);
/* The weight store the DiT reads (for page hints and sizes). */
const wanc_weights *wanc_dit_store(const wanc_dit *dit);
/* Turn block streaming (wanc_dit_options.stream_blocks) on or off. */
void wanc_dit_set_streaming(wanc_dit *dit, bool on);
/* Attach run-time LoRA terms (src/lora) to the linears they name, replacing
 * any attached before; NULL detaches all. The runtime must outlive its use.
 * Named error when a term targets a weight that is no linear of this DiT. */
struct wanc_lora_runtime;
wanc_err wanc_dit_set_lora(wanc_dit *dit, const struct wanc_lora_runtime *rt);
const wanc_dit_config *wanc_dit_get_config(const wanc_dit *dit);

/* out[out_dim, F, H, W] = model_fn_wan_video(latents, timestep, context, clip, y,
 * vace_context, reference_latents, control_camera_latents_input).
 * F, H, W: latent frames/rows/cols (H, W divisible by the patch). */
wanc_err wanc_dit_forward(wanc_dit *dit, const wanc_dit_inputs *in, float *out);
/* Both branches of classifier-free guidance: the same as wanc_dit_forward of
 * posi and then of nega, bit for bit. Inputs that differ only in `context`
 * on a streamed DiT run block by block, both branches per block, so the
 * weights are read once per step instead of twice. */
wanc_err wanc_dit_forward_cfg_pair(wanc_dit *dit, const wanc_dit_inputs *posi, const wanc_dit_inputs *nega,
                                   float *out_posi, float *out_nega);

/* FLOPs of one forward at these sizes (2·M·N·K per GEMM + 4·L²·D per head
 * of attention), for benchmarks. */
double wanc_dit_flops(const wanc_dit_config *cfg, int64_t F, int64_t H, int64_t W, int64_t ctx_len,
                      int64_t clip_len);

/* ---- speed control: WanMotionControllerModel -------------------------------
 * motion_emb[6·dim] = MLP(sinusoid_256(10 · motion_bucket_id)), MLP = Linear,
 * SiLU, Linear, SiLU, Linear (keys linear.{0,2,4}.*); the pipeline adds it to
 * t_mod (wanc_dit_inputs.t_mod_add). */
typedef struct wanc_motion_controller wanc_motion_controller;
/* opt: precision and bf16_weights as for the DiT (num_heads unused). */
wanc_err wanc_motion_controller_load(wanc_motion_controller **out, const wanc_backend *be, const wanc_weights *w,
                                     const wanc_dit_options *opt);
void wanc_motion_controller_free(wanc_motion_controller *m);
int wanc_motion_controller_out_dim(const wanc_motion_controller *m); /* 6·dim */
/* out[6·dim]; bf16 mode rounds the id and id·10 as the bf16 pipeline does. */
wanc_err wanc_motion_controller_forward(const wanc_motion_controller *m, float motion_bucket_id, float *out);

/* ---- pieces exposed for tests -------------------------------------------- */

/* out[dim] = [cos(t·ω_i), sin(t·ω_i)], ω_i = 10000^(-i/(dim/2)), in float64. */
void wanc_dit_sinusoid(double *out, int dim, double t);
/* cos_sin[F·H·W, head_dim/2, 2]: the 3-D RoPE table (frame/row/col parts of
 * head_dim - 2·(head_dim/3), head_dim/3, head_dim/3 channels), float64.
 * Error when head_dim does not split into three even parts. */
wanc_err wanc_dit_rope_table(double *cos_sin, int64_t F, int64_t H, int64_t W, int head_dim);

/* Map one diffusers DiT name to its native Wan name (1), or drop it (0). */
int wanc_dit_diffusers_name(char *dst, size_t cap, const char *src, void *user);
/* The inverse: native → diffusers (0 for names diffusers has no slot for). */
int wanc_dit_native_to_diffusers_name(char *dst, size_t cap, const char *src, void *user);
/* Does the store use diffusers names? */
bool wanc_dit_is_diffusers(const wanc_weights *w);

#endif
