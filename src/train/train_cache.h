/* The split-training cache (`--task sft:data_process` writes it, `sft:train`
 * reads it), DiffSynth's launch_data_process_task in wanc's file format:
 *
 *   OUTPUT/0/N.safetensors   item N of the dataset (0 .. rows·repeat − 1):
 *     input_latents  [z, F, h, w]   the VAE latents of the clip (x0)
 *     context        [512, dim]     the UMT5 prompt embedding
 *   and with --extra_inputs (the image units' outputs, DiffSynth's names):
 *     y                    [4 + z, F, h, w]  mask + VAE latents (Wan2.1 I2V / FLF2V, Wan2.2 A14B I2V)
 *     clip_feature         [257·k, width]    CLIP tokens (DiTs with img_emb)
 *     first_frame_latents  [z, 1, h, w]      the first frame's latents (TI2V-5B)
 *   all in the pipeline dtype (BF16 for a default run, else F32), metadata
 *   {"format": "wanc-train-cache", "prompt", "source" (data file), "row",
 *    "height", "width", "num_frames"}.
 *
 * DiffSynth stores torch pickles (N.pth) of the same inputs; sft:train here
 * finds N.safetensors files of this format under dataset_base_path.
 */
#ifndef WANC_TRAIN_TRAIN_CACHE_H
#define WANC_TRAIN_TRAIN_CACHE_H

#include <stdbool.h>
#include <stdint.h>

#include "core/error.h"

#define WANC_TRAIN_CACHE_FORMAT "wanc-train-cache"

typedef struct wanc_train_sample {
    float *x0;         /* [z, F, h, w] */
    int64_t z, F, h, w;
    float *context;    /* [ctx_len, ctx_dim] */
    int64_t ctx_len, ctx_dim;
    float *y;          /* [y_c, F, h, w] or NULL */
    int64_t y_c;
    float *clip;       /* [clip_len, clip_dim] or NULL */
    int64_t clip_len, clip_dim;
    float *first;      /* [z, 1, h, w] or NULL */
} wanc_train_sample;

void wanc_train_sample_free(wanc_train_sample *s);

/* Write one cache file (atomic). bf16: stored as BF16 (the values are
 * already bf16-rounded), else F32. */
wanc_err wanc_train_cache_write(const char *path, const wanc_train_sample *s, bool bf16, const char *prompt,
                                const char *source, int row, int height, int width, int num_frames);
/* Read one cache file (named errors for a file of another format or shape). */
wanc_err wanc_train_cache_read(const char *path, wanc_train_sample *s);

/* The cache files under dir (recursively, *.safetensors with the cache
 * format), sorted by folder then item number. *paths malloc'd. */
wanc_err wanc_train_cache_list(const char *dir, char ***paths, int *n);
void wanc_train_cache_list_free(char **paths, int n);

#endif
