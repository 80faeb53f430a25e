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

/* ---- UMT5 text encoder (src/text) ------------------------------------------ */

#include <stdint.h>

/* `wanc random-model`: random-weight checkpoints in a released layout.
 * Sizes 0 mean the released model's; the others shrink it for tests. */
typedef struct wanc_random_model_opts {
    uint64_t seed;
    int64_t layers, vocab, dim, dim_ffn, heads;
} wanc_random_model_opts;
/* --arch umt5-xxl: models_t5_umt5-xxl-enc-bf16 (bf16, ~5.7B parameters at full size). */
wanc_err wanc_random_model_umt5(const char *path, const wanc_random_model_opts *o);

#endif
