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
} wanc_random_model_opts;
/* --arch umt5-xxl: models_t5_umt5-xxl-enc-bf16 (bf16, ~5.7B parameters at full size). */
wanc_err wanc_random_model_umt5(const char *path, const wanc_random_model_opts *o);

#endif
