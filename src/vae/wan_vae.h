/* The Wan video VAEs: Wan2.1 (`Wan2.1_VAE.pth`, z 16, 8x space, 4x time).
 *
 *   wanc_vae21 *vae;
 *   TRY(wanc_vae21_open(&vae, "Wan2.1_VAE.pth", wanc_backend_cpu()));
 *   wanc_vae_opts o;
 *   wanc_vae_opts_default(&o);                 // tiled, (30,52) / (15,26) like the pipeline
 *   TRY(wanc_vae21_decode(vae, video, latents, 16, T, h, w, &o));
 *   wanc_vae21_free(vae);
 *
 * Video is [3, F, H, W] float32 in [-1, 1] (batch 1, channel-first, as the
 * pipeline's tensor without its batch dim); latents are the normalised
 * latents [16, 1 + (F-1)/4, H/8, W/8] the DiT works on. Both live in host
 * memory and are owned by the caller.
 *
 * The networks run causally, chunk by chunk, exactly as DiffSynth does:
 * encode feeds frame 0 alone, then groups of 4 frames; decode feeds one
 * latent frame at a time. Each causal conv keeps the last input frames of
 * the previous chunk, so memory is bounded by one chunk's activations plus
 * those small caches, whatever the frame count.
 *
 * Config (dim, z_dim, dim_mult, num_res_blocks, temporal flags) is inferred
 * from the tensors, so the tiny fixture models and the real release load the
 * same way. A model is not re-entrant: one encode/decode at a time.
 */
#ifndef WANC_VAE_WAN_VAE_H
#define WANC_VAE_WAN_VAE_H

#include <stdbool.h>
#include <stdint.h>

#include "backend/backend.h"
#include "core/error.h"
#include "io/weights.h"

#define WANC_VAE_MAX_STAGES 8

typedef struct wanc_vae_config {
    int dim;                                /* encoder base width (96 in Wan2.1, 160 in Wan2.2) */
    int z_dim;                              /* latent channels (16) */
    int num_stages;                         /* len(dim_mult) (4) */
    int dim_mult[WANC_VAE_MAX_STAGES];      /* (1, 2, 4, 4) */
    int num_res_blocks;                     /* per encoder stage (2); the decoder has one more */
    bool temporal_down[WANC_VAE_MAX_STAGES];/* per downsampler (F, T, T) */
    int dec_dim;                            /* decoder base width (= dim in Wan2.1, 256 in Wan2.2) */
} wanc_vae_config;
typedef wanc_vae_config wanc_vae21_config;

typedef struct wanc_vae21 wanc_vae21;

/* Observer of intermediate activations (for tests and debugging). Called
 * after each stage of each chunk with that stage's output x[C, T, H, W]
 * (host memory, valid during the call only). `stage` is the module path as in
 * the weight names ("decoder.upsamples.3", "encoder.head.0", "conv2"), or
 * "latents_unnormalised" / "mu" for the latent (de)normalisation. A non-NULL
 * return stops the run with that error. In tiled runs it is called for every
 * tile in turn (chunks count from 0 again in each tile). */
typedef wanc_err (*wanc_vae_observer)(void *user, const char *stage, int chunk, const float *x, int64_t C,
                                      int64_t T, int64_t H, int64_t W);

typedef struct wanc_vae_opts {
    bool tiled;          /* split H, W into overlapping tiles blended with ramps */
    int tile_size[2];    /* (h, w) in latent pixels */
    int tile_stride[2];  /* (h, w) in latent pixels */
    bool bf16;           /* round every op's result to bf16 (the pipeline's torch_dtype) */
    wanc_vae_observer observe;
    void *observe_user;
} wanc_vae_opts;

/* The pipeline defaults: tiled, tile_size (30, 52), tile_stride (15, 26), fp32. */
void wanc_vae_opts_default(wanc_vae_opts *o);

/* Build the model over an open weight store (kept referenced, not owned). */
wanc_err wanc_vae21_load(wanc_vae21 **out, const wanc_weights *w, const wanc_backend *be);
/* Open a checkpoint (.pth / .safetensors) and build the model; the model owns the store. */
wanc_err wanc_vae21_open(wanc_vae21 **out, const char *path, const wanc_backend *be);
/* A diffusers AutoencoderKLWan state dict (vae/diffusion_pytorch_model.safetensors)
 * renamed to the Wan names the loaders read; a store already in Wan layout is
 * left alone. The *_open functions apply it. (vae_keys.c) */
wanc_err wanc_vae_adapt_names(wanc_weights *w);
void wanc_vae21_free(wanc_vae21 *m);
const wanc_weights *wanc_vae21_store(const wanc_vae21 *m); /* for page hints */
const wanc_vae21_config *wanc_vae21_config_of(const wanc_vae21 *m);
/* Floating-point operations of the last encode/decode (convs, linears, attention; 2 per MAC). */
double wanc_vae21_flops(const wanc_vae21 *m);

/* Write a random-weight Wan2.1 VAE (real key names; dim 96 = the release,
 * dim_mult 1,2,4,4, z 16) as .safetensors in F32 or BF16. src/vae/vae_random.c */
wanc_err wanc_vae21_write_random(const char *path, int dim, wanc_dtype dt, unsigned long long seed);
/* The per-channel latent statistics of Wan2.1 (DiffSynth's hard-coded
 * mean/std: latents = (mu - mean) / std). */
extern const float wanc_vae21_latent_mean[16], wanc_vae21_latent_std[16];
/* The same names and shapes (f32) with values set by `fill`, called once per
 * tensor (name, zero-filled tensor) before writing. */
typedef wanc_err (*vae_fill_fn)(void *user, const char *name, wanc_tensor *t);
wanc_err wanc_vae21_write_filled(const char *path, int dim, vae_fill_fn fill, void *user);
/* The demo's Wan2.1 VAE built by a rule instead of training (vae_constructed.c):
 * latents hold the 8x8x4 block means of the colours and their temporal slopes,
 * the decoder interpolates them back; dim >= 7. */
wanc_err wanc_vae21_write_constructed(const char *path, int dim);

/* latents[z, 1+(F-1)/4, H/8, W/8] = encode(video[3, F, H, W]).
 * F must be 4k+1, H and W multiples of 8. */
wanc_err wanc_vae21_encode(wanc_vae21 *m, float *latents, const float *video, int64_t F, int64_t H, int64_t W,
                           const wanc_vae_opts *o);
/* video[3, 1+4(T-1), 8h, 8w] = decode(latents[C, T, h, w]), clamped to [-1, 1]. C must be z_dim. */
wanc_err wanc_vae21_decode(wanc_vae21 *m, float *video, const float *latents, int64_t C, int64_t T, int64_t h,
                           int64_t w, const wanc_vae_opts *o);

/* ---- Wan2.2 (src/vae/wan_vae22.c) -------------------------------------------
 * `Wan2.2_VAE.pth`: z 48, 16x in space (2x2 patchify + 3 downsamplers), 4x in
 * time; encoder width dim (160), decoder width dec_dim (256). Same calling
 * conventions as Wan2.1 with 16 in place of 8:
 *   latents[48, 1+(F-1)/4, H/16, W/16], video[3, 1+4(T-1), 16h, 16w]. */
typedef struct wanc_vae22 wanc_vae22;

wanc_err wanc_vae22_load(wanc_vae22 **out, const wanc_weights *w, const wanc_backend *be);
wanc_err wanc_vae22_open(wanc_vae22 **out, const char *path, const wanc_backend *be);
void wanc_vae22_free(wanc_vae22 *m);
const wanc_vae_config *wanc_vae22_config_of(const wanc_vae22 *m);
double wanc_vae22_flops(const wanc_vae22 *m);
/* Write a random-weight Wan2.2 VAE (real key names; dim 160 / dec_dim 256 =
 * the release, z 48) as .safetensors in F32 or BF16. src/vae/vae_random.c */
wanc_err wanc_vae22_write_random(const char *path, int dim, int dec_dim, wanc_dtype dt, unsigned long long seed);
/* F must be 4k+1, H and W multiples of 16. */
wanc_err wanc_vae22_encode(wanc_vae22 *m, float *latents, const float *video, int64_t F, int64_t H, int64_t W,
                           const wanc_vae_opts *o);
/* C must be 48; the result is clamped to [-1, 1]. */
wanc_err wanc_vae22_decode(wanc_vae22 *m, float *video, const float *latents, int64_t C, int64_t T, int64_t h,
                           int64_t w, const wanc_vae_opts *o);
/* TI2V-5B's fused first frame (DiffSynth WanVideoUnit_ImageEmbedderFused):
 * first[48, 1, H/16, W/16] = encode(image[3, 1, H, W]) and frame 0 of
 * latents[48, T, H/16, W/16] is replaced by it (the pipeline re-imposes it
 * after every scheduler step). */
wanc_err wanc_vae22_fuse_first_frame(wanc_vae22 *m, float *latents, int64_t T, float *first, const float *image,
                                     int64_t H, int64_t W, const wanc_vae_opts *o);

/* ---- either VAE (src/vae/wan_vae_any.c) -------------------------------------
 * What the pipeline holds: a Wan2.1 or Wan2.2 VAE, told apart by its layout
 * (the Wan2.2 VAE's grouped stages), with its latent channels and spatial
 * scale read from the model rather than assumed. */
typedef struct wanc_vae wanc_vae;

/* Open a checkpoint of either VAE; the handle owns the store. */
wanc_err wanc_vae_open(wanc_vae **out, const char *path, const wanc_backend *be);
void wanc_vae_free(wanc_vae *v);
const wanc_vae_config *wanc_vae_config_of(const wanc_vae *v);
int wanc_vae_z_dim(const wanc_vae *v);     /* latent channels: 16, 48 */
int wanc_vae_scale(const wanc_vae *v);     /* pixels per latent pixel: 8, 16 */
const char *wanc_vae_family(const wanc_vae *v); /* "Wan2.1 VAE", "Wan2.2 VAE" */
const wanc_weights *wanc_vae_store(const wanc_vae *v); /* for page hints */
/* The model as its own type, or NULL when it is the other VAE. */
wanc_vae21 *wanc_vae_as21(wanc_vae *v);
wanc_vae22 *wanc_vae_as22(wanc_vae *v);
/* latents[z, 1+(F-1)/4, H/s, W/s] = encode(video[3, F, H, W]), s = wanc_vae_scale. */
wanc_err wanc_vae_encode(wanc_vae *v, float *latents, const float *video, int64_t F, int64_t H, int64_t W,
                         const wanc_vae_opts *o);
/* video[3, 1+4(T-1), s*h, s*w] = decode(latents[z, T, h, w]), clamped to [-1, 1]. */
wanc_err wanc_vae_decode(wanc_vae *v, float *video, const float *latents, int64_t T, int64_t h, int64_t w,
                         const wanc_vae_opts *o);

/* ---- tiling (src/vae/vae_tiling.c) ---------------------------------------- */

/* One tile: rows [h0, h1), columns [w0, w1), end-exclusive, cut at the border. */
typedef struct wanc_vae_tile {
    int64_t h0, h1, w0, w1;
} wanc_vae_tile;

/* The reference's tile placement over an H x W grid: starts at multiples of
 * the stride, a start skipped when the previous tile already reached the
 * border. Writes up to `cap` tiles (NULL to count) and returns the count in *n. */
wanc_err wanc_vae_tile_plan(wanc_vae_tile *tiles, int64_t cap, int64_t *n, int64_t H, int64_t W,
                            const int size[2], const int stride[2]);

/* The blend mask of one tile, mask[h, w] = min(ramp_h[h], ramp_w[w]) over a
 * tile of th x tw; ramps (i+1)/bw on each side that is not an image border
 * (near side, then the mirrored far side written over it), 1 elsewhere. */
void wanc_vae_tile_mask(float *mask, int64_t th, int64_t tw, const bool border[4], int64_t bw_h, int64_t bw_w);

#endif
