/* The UMT5 text encoder of Wan (`models_t5_umt5-xxl-enc-bf16.pth`).
 *
 * Prompt ids → per-token embeddings, as DiffSynth's WanTextEncoder and
 * WanVideoUnit_PromptEmbedder compute them:
 *
 *   x = token_embedding[ids]
 *   per layer: x += O(attn(norm1 x)); x += fc2(fc1(h) * gelu_tanh(gate(h))), h = norm2 x
 *   x = norm(x); the pipeline then zeroes rows >= mask.sum().
 *
 * Attention logits are q·kᵀ without 1/√d, plus a relative-position bias
 * looked up per layer from a [num_buckets, num_heads] table (bidirectional
 * T5 buckets, max distance 128); padded keys get finfo.min. Norms are
 * RMS-style (no mean, no bias, eps 1e-6, float32 statistics).
 *
 * The configuration is read from the tensor shapes, so the released XXL
 * file and tiny test files load through the same code:
 *   token_embedding.weight                 [vocab, dim]
 *   blocks.N.attn.{q,k,v}.weight           [dim_attn, dim]
 *   blocks.N.attn.o.weight                 [dim, dim_attn]
 *   blocks.N.ffn.{gate.0,fc1}.weight       [dim_ffn, dim]
 *   blocks.N.ffn.fc2.weight                [dim, dim_ffn]
 *   blocks.N.norm{1,2}.weight, norm.weight [dim]
 *   blocks.N.pos_embedding.embedding.weight [num_buckets, num_heads]
 *     (or one shared `pos_embedding.embedding.weight`)
 */
#ifndef WANC_TEXT_UMT5_H
#define WANC_TEXT_UMT5_H

#include <stdbool.h>
#include <stdint.h>

#include "backend/backend.h"
#include "core/error.h"
#include "io/weights.h"

#define WANC_UMT5_MAX_DISTANCE 128
#define WANC_UMT5_EPS 1e-6f

typedef struct wanc_umt5_config {
    int64_t vocab, dim, dim_attn, dim_ffn, num_heads, num_layers, num_buckets;
    bool shared_pos; /* one bias table for every layer (not used by Wan) */
} wanc_umt5_config;

/* The released UMT5-XXL encoder's configuration. */
wanc_umt5_config wanc_umt5_config_xxl(void);

/* Bidirectional T5 relative-position bucket of rel_pos = key_pos - query_pos:
 * half the buckets per sign (positive offsets in the upper half), exact
 * below num_buckets/4, log-spaced up to max_distance, capped at the last
 * bucket of the half. Evaluated in float32 as torch does. */
int wanc_umt5_bucket(int64_t rel_pos, int num_buckets, int max_distance);

/* Infer the configuration from the tensor shapes of a store and check every
 * tensor the encoder needs. A file whose shapes fit no UMT5 config gives a
 * WANC_ESHAPE / WANC_ENOTFOUND error naming the file and the tensor. */
wanc_err wanc_umt5_config_infer(wanc_umt5_config *cfg, const wanc_weights *w);

typedef struct wanc_umt5 wanc_umt5;

/* Build the encoder on `w` (borrowed: must outlive the model). */
wanc_err wanc_umt5_load(wanc_umt5 **out, const wanc_weights *w, const wanc_backend *be);
/* Open a checkpoint file and build the encoder on it (the model owns the store). */
/* Hugging Face T5EncoderModel names (ComfyUI's umt5_xxl files, diffusers'
 * text_encoder/) → Wan names, for wanc_weights_rename (user: a bool *, true
 * when the store has shared.weight, so a tied embed_tokens copy is dropped);
 * wanc_umt5_open applies it when
 * wanc_umt5_is_hf. (umt5_keys.c) */
int wanc_umt5_hf_name(char *dst, size_t cap, const char *src, void *user);
bool wanc_umt5_is_hf(const wanc_weights *w);

wanc_err wanc_umt5_open(wanc_umt5 **out, const char *path, const wanc_backend *be);
void wanc_umt5_free(wanc_umt5 *m);
/* The weight store the encoder reads (for page hints). */
const wanc_weights *wanc_umt5_store(const wanc_umt5 *m);
const wanc_umt5_config *wanc_umt5_get_config(const wanc_umt5 *m);

/* Called with intermediate activations: name "embed" or "block.J",
 * x [rows, dim] in backend memory (rows = tokens computed). */
typedef wanc_err (*wanc_umt5_probe_fn)(void *user, const wanc_backend *be, const char *name, const float *x,
                                       int64_t rows, int64_t dim);

typedef struct wanc_umt5_opts {
    /* false: float32 everywhere. true: DiffSynth's torch_dtype=bf16 run: every
     * op's result rounded to bf16, norms' statistics and softmax in float32. */
    bool bf16;
    /* false (the pipeline's path): compute only the valid prefix of the
     * tokens; the rows >= mask.sum() of the result are zero (= prompt_emb).
     * Valid rows never see padded rows (their keys are masked), so this is
     * the same as computing everything and zeroing.
     * true: compute every row, giving the raw last_hidden_state. */
    bool all_rows;
    wanc_umt5_probe_fn probe; /* may be NULL */
    void *probe_user;
} wanc_umt5_opts;

/* out[L, dim] (host memory) ← ids[L], mask[L] (1 = token, 0 = padding).
 * opts NULL = float32, valid rows only. */
wanc_err wanc_umt5_encode(const wanc_umt5 *m, float *out, const int64_t *ids, const int64_t *mask, int64_t L,
                          const wanc_umt5_opts *opts);

/* The pipeline's zeroing: emb[L, dim] rows >= mask.sum() set to 0. */
void wanc_umt5_zero_padding(float *emb, const int64_t *mask, int64_t L, int64_t dim);

/* Write a UMT5 encoder with random weights (bf16, the real key names and
 * layout) as safetensors, tensor by tensor (never more than a few MB held).
 * Deterministic in `seed`, independent of the thread count. */
wanc_err wanc_umt5_write_random(const char *path, const wanc_umt5_config *cfg, uint64_t seed);

#endif
