/* Finding the model files of a release folder by their released names. */
#ifndef WANC_PIPELINE_MODEL_FILES_H
#define WANC_PIPELINE_MODEL_FILES_H

#include <limits.h>
#include <stdbool.h>

#include "core/error.h"

/* The released CLIP file's name without its extension. */
#define WANC_CLIP_RELEASE_NAME "models_clip_open-clip-xlm-roberta-large-vit-huge-14"

/* Speed control's WanMotionControllerModel as DiffSynth downloads it. */
#define WANC_MOTION_CONTROLLER_RELEASE_NAME "Wan2.1-1.3b-speedcontrol-v1/model.safetensors"

typedef struct wanc_model_paths {
    char dit[PATH_MAX];       /* a file, an index.json or a glob pattern; the high-noise expert of a
                                 Wan2.2 A14B release (high_noise_model/) */
    char dit2[PATH_MAX];      /* the low-noise expert (low_noise_model/), "" for a one-DiT release */
    char t5[PATH_MAX];
    char vae[PATH_MAX];
    char tokenizer[PATH_MAX]; /* a folder */
    char clip[PATH_MAX];      /* the CLIP image encoder, "" when the folder has none */
    char motion_controller[PATH_MAX]; /* speed control, "" when the folder has none */
    int dit_heads;            /* diffusers transformer/config.json num_attention_heads, else 0 */
} wanc_model_paths;

/* Official release names first (a Wan2.2 A14B release keeps its two experts
 * in high_noise_model/ and low_noise_model/, each sharded with an index; a
 * Wan2.2 TI2V-5B release has Wan2.2_VAE.pth in place of Wan2.1_VAE.pth),
 * then the diffusers and ComfyUI layouts (see model_files.c). A missing DiT,
 * text encoder or VAE is a WANC_ENOTFOUND error naming the patterns looked
 * for. The tokenizer ("" when absent: ComfyUI folders have none) and the CLIP
 * file (a T2V release has none) are optional here; the pipeline asks for them
 * when it needs them. */
wanc_err wanc_find_model_files(wanc_model_paths *out, const char *dir);

#endif
