/* The CLIP image encoder of Wan I2V / FLF2V: the visual tower of open-clip's
 * XLM-RoBERTa ViT-H/14 (file models_clip_open-clip-xlm-roberta-large-vit-huge-14.pth).
 *
 *   image [3, H, W] in [-1, 1]  --wanc_clip_prepare_input-->  [3, S, S] (S = 224)
 *   --wanc_clip_encode-->  clip_feature [L = 1 + (S/p)², D]
 *
 * The tower: patch conv (p x p, stride p, no bias) → cls token + patches →
 * + position embedding → pre_norm LayerNorm → all transformer blocks but the
 * last (DiffSynth's use_31_block) → output, with no post_norm and no head.
 * Each block is pre-norm: x += proj(attn(norm1(x))); x += fc2(gelu_erf(fc1(norm2(x)))),
 * q | k | v taken from one to_qkv projection. LayerNorm eps 1e-5.
 *
 * The configuration is inferred from the tensor shapes (`visual.*` keys;
 * `textual.*`, `log_scale`, `visual.post_norm.*`, `visual.head` are not
 * used), so the tiny fixture model and the real 1280-wide, 32-layer one load
 * through the same code. Only the number of heads is not in the shapes: the
 * real model uses head_dim 80 (16 heads of 80 for width 1280).
 */
#ifndef WANC_VISION_CLIP_H
#define WANC_VISION_CLIP_H

#include <stdbool.h>
#include <stdint.h>

#include "backend/backend.h"
#include "core/error.h"
#include "io/weights.h"

/* CLIP's pixel normalisation (torchvision Normalize after x·0.5 + 0.5). */
extern const float wanc_clip_mean[3], wanc_clip_std[3];

typedef struct wanc_clip_config {
    int width;      /* D: 1280 real */
    int layers;     /* blocks stored: 32 real (layers − 1 run) */
    int heads;      /* 16 real */
    int head_dim;   /* width / heads: 80 real */
    int mlp;        /* hidden size of the MLP: 4·width */
    int patch;      /* 14 */
    int grid;       /* patches per side: image_size / patch = 16 */
    int image_size; /* 224 */
    int tokens;     /* 1 + grid² = 257 */
    float eps;      /* LayerNorm eps: 1e-5 */
} wanc_clip_config;

typedef struct wanc_clip wanc_clip;

/* Build the model over an open weight store (which must outlive it).
 * heads = 0 takes head_dim 80 (the real model); the tiny fixture passes its
 * own head count. Errors name the tensor and the expected shape. */
wanc_err wanc_clip_load(wanc_clip **out, const wanc_weights *w, int heads);
/* ComfyUI's clip_vision_h.safetensors (Hugging Face CLIPVisionModelWithProjection
 * names) → the open-clip `visual.*` names the loader reads, with q/k/v_proj as
 * `attn.q/k/v` (the loader takes them instead of `to_qkv`); the text-free
 * projection and post-norm stay unused. Renames when the store is in HF
 * layout, else does nothing. (clip_keys.c) */
wanc_err wanc_clip_adapt_names(wanc_weights *w);
void wanc_clip_free(wanc_clip *m);
const wanc_clip_config *wanc_clip_get_config(const wanc_clip *m);

/* out[3, S, S] = Normalize(interpolate_bicubic(image[3, H, W], (S, S)) · 0.5 + 0.5)
 * with S = image_size. interpolated[3, S, S] (may be NULL) receives the
 * resized image before normalisation. bf16: every op's result is rounded to
 * bf16, and so are mean and std (torchvision makes them tensors of the
 * input's dtype), as a bf16 pipeline does. */
wanc_err wanc_clip_prepare_input(float *out, float *interpolated, const float *image, int H, int W,
                                 int image_size, bool bf16);

/* bf16 mode (the pipeline's default torch_dtype): the result of every op is
 * rounded to bf16, as torch does on a bf16 model; the small float parameters
 * are rounded too. Matrix weights are used as stored, so this matches torch
 * when the checkpoint itself is bf16. Off by default (float32). */
void wanc_clip_set_bf16(wanc_clip *m, bool bf16);

/* Called (when set) with each stage's activations on the host:
 * "00_patch_embedding" [D, grid, grid], "01_embeddings" [L, D], "02_pre_norm"
 * [L, D], then "NN_transformer.i" [L, D] after each block that runs. */
typedef void (*wanc_clip_trace_fn)(void *user, const char *stage, const float *data, int ndim,
                                   const int64_t *shape);

/* out[L, D] (host memory) = the tower on x[3, S, S] (host memory, already
 * prepared). Activations live in the backend's memory. */
wanc_err wanc_clip_encode(const wanc_clip *m, const wanc_backend *be, float *out, const float *x,
                          wanc_clip_trace_fn trace, void *trace_user);

/* Number of floating-point operations of one wanc_clip_encode (for benchmarks). */
double wanc_clip_flops(const wanc_clip_config *cfg);

/* Write a random-weight CLIP checkpoint (.safetensors) with the real key names
 * and shapes of the visual tower: width, layers, heads, patch, image_size as
 * given (the real model: 1280, 32, 16, 14, 224), dtype F32 or BF16, weights
 * ~ N(0, 1/fan_in) from `seed`. */
wanc_err wanc_clip_write_random(const char *path, int width, int layers, int patch, int image_size, wanc_dtype dt,
                                uint64_t seed);

#endif
