/* wanc — the Wan video-generation models in C.
 *
 * Usage (the whole public API grows here; the CLI `wanc` is a thin layer on it):
 *
 *   #include <wanc.h>
 *
 *   wanc_err err = wanc_info_print(stdout, "Wan2.1_VAE.pth");   // list a checkpoint
 *   if (err) { fprintf(stderr, "%s\n", wanc_error_message(err)); wanc_error_free(err); }
 */
#ifndef WANC_H
#define WANC_H

#include <stdio.h>

#include "../src/core/error.h"

#define WANC_VERSION "0.1.0"

/* Print every tensor of a checkpoint as `name<TAB>dtype<TAB>shape`, sorted by
 * name, then `tensors: N`. */
wanc_err wanc_info_print(FILE *out, const char *path);

/* Write a random-weight CLIP image tower (`wanc random-model --arch clip-vit-h-14`):
 * the visual.* keys of models_clip_open-clip-xlm-roberta-large-vit-huge-14 with
 * their real names and shapes, as .safetensors. width/layers 0 = the real 1280 / 32
 * (patch 14, 224 px); dtype "f32" or "bf16". */
wanc_err wanc_random_clip(const char *path, const char *dtype, unsigned long long seed, int width, int layers);

/* Write a random-weight Wan2.1 VAE (`wanc random-model --arch wan2.1-vae`): the
 * release's key names and shapes as .safetensors; width 0 = the real 96;
 * dtype "f32" or "bf16". */
wanc_err wanc_random_vae21(const char *path, const char *dtype, unsigned long long seed, int width);

#endif
