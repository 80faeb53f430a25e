/* LoRA files: reading, dialect detection, binding to a model's parameters,
 * fusing into the weights (lora_fuse.c) and the run-time low-rank term next to
 * a frozen linear (lora_runtime.c).
 *
 * A LoRA file is a list of layers. Each layer is one of
 *   - low-rank: A [rank, in] (lora_A / lora_down) and B [out, rank] (lora_B /
 *     lora_up), optionally an `alpha` (0-d): ΔW = B · A · (alpha / rank), or
 *     B · A without alpha (DiffSynth's rule);
 *   - a full difference of a weight (`<module>.diff`), a bias (`<module>.diff_b`)
 *     or a modulation table (`<block>.diff_m` → `<block>.modulation`), as
 *     step-distillation LoRAs (lightx2v) carry for norms, biases and
 *     modulation: ΔW = diff.
 * Fusing adds strength · ΔW to the target parameter.
 *
 * Dialects (detected from the key names; every one maps to the model's own
 * parameter names when the file is bound):
 *   diffsynth  `blocks.0.self_attn.q.lora_A.default.weight` / `.lora_B.…`, with
 *              or without the adapter name (`default`), lora_down / lora_up,
 *              a `diffusion_model.` (or `model.`, `base_model.model.`) prefix,
 *              `<prefix><module>.alpha` tensors (the peft / DiffSynth / ComfyUI
 *              dotted form);
 *   kohya      `lora_unet_blocks_0_self_attn_q.lora_down.weight` / `.lora_up.…`
 *              / `.alpha` (kohya, ComfyUI, musubi-tuner): the underscore name is
 *              matched against the model's names with '.' read as '_';
 *   diffusers  `transformer.blocks.0.attn1.to_q.lora_A.weight` (attn1/attn2,
 *              to_q/k/v, to_out.0, ffn.net.0.proj, ffn.net.2, condition_embedder.*,
 *              proj_out): mapped through the model's diffusers name map.
 *
 *   wanc_lora *l;
 *   TRY(wanc_lora_open(&l, "style.safetensors"));
 *   TRY(wanc_lora_bind(l, dit_store, wanc_dit_diffusers_name, NULL, false, &unmatched));
 *   wanc_lora_use use = {l, 0.8f};
 *   TRY(wanc_lora_fuse(dit_store, &use, 1, WANC_LORA_FUSE_ALL));
 *   wanc_lora_close(l);
 */
#ifndef WANC_LORA_LORA_H
#define WANC_LORA_LORA_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "backend/backend.h"
#include "core/error.h"
#include "io/weights.h"

typedef enum wanc_lora_dialect {
    WANC_LORA_DIFFSYNTH = 0, /* dotted module names (peft / DiffSynth / ComfyUI) */
    WANC_LORA_KOHYA,         /* lora_unet_<module with _> */
    WANC_LORA_DIFFUSERS,     /* transformer.blocks.N.attn1.to_q */
} wanc_lora_dialect;

const char *wanc_lora_dialect_name(wanc_lora_dialect d);

typedef enum wanc_lora_kind {
    WANC_LORA_LOWRANK, /* B · A (· alpha/rank) */
    WANC_LORA_DIFF,    /* full difference of `<module>.weight` */
    WANC_LORA_DIFF_B,  /* full difference of `<module>.bias` */
    WANC_LORA_DIFF_M,  /* full difference of `<module>.modulation` (lightx2v's `.diff_m`) */
} wanc_lora_kind;

typedef struct wanc_lora_layer {
    char *module;              /* as named in the file, prefixes and suffixes removed */
    char *target;              /* the model parameter it changes (set by wanc_lora_bind), or NULL */
    wanc_lora_kind kind;
    const wanc_tensor *a, *b;  /* low-rank: A [rank, in…], B [out, rank…]; diff: a = the difference */
    const char *key_a, *key_b; /* their names in the file (key_b NULL for a diff) */
    const wanc_tensor *alpha;  /* 0-d or 1-element, or NULL */
    int64_t rank;              /* A.shape[0]; 0 for a diff */
    double scale;              /* alpha / rank, or 1 */
} wanc_lora_layer;

typedef struct wanc_lora {
    wanc_weights *file;
    wanc_lora_dialect dialect;
    bool prefixed;             /* keys carried a wrapper prefix (diffusion_model., transformer., …) */
    char adapter[64];          /* peft adapter segment ("default") or "" */
    wanc_lora_layer *layers;
    int nlayers;
    const char **stray;        /* keys that are no part of a layer (unknown suffix): unmatched */
    int nstray;
} wanc_lora;

/* Read a LoRA file (.safetensors or .pth) and group its keys into layers.
 * Named errors: a B without its A (or the reverse), A/B rank mismatch, a
 * file with no LoRA keys at all. */
wanc_err wanc_lora_open(wanc_lora **out, const char *path);
void wanc_lora_close(wanc_lora *l);
const char *wanc_lora_path(const wanc_lora *l);

/* Does this store look like a LoRA file (any lora_A/B/up/down or diff key)? */
bool wanc_lora_is_lora(const wanc_weights *w);

/* Map every layer onto a parameter of `model`: by its own name, else through
 * `alt_map` (a diffusers → native name map, may be NULL), else (kohya) by the
 * underscore form. Shapes are checked (B·A or the diff must have the target's
 * shape; named error otherwise). Layers that match nothing, and stray keys,
 * are a named error listing the first few, unless allow_unmatched: then they
 * are left unbound (target NULL) and *unmatched (may be NULL) counts their
 * keys. */
wanc_err wanc_lora_bind(wanc_lora *l, const wanc_weights *model, wanc_name_map_fn alt_map, void *alt_user,
                        bool allow_unmatched, int *unmatched);

/* One LoRA applied with a strength (DiffSynth's load_lora alpha). */
typedef struct wanc_lora_use {
    const wanc_lora *lora;
    float strength;
} wanc_lora_use;

typedef enum wanc_lora_fuse_what {
    WANC_LORA_FUSE_ALL,            /* every bound layer */
    WANC_LORA_FUSE_ALL_BUT_LINEAR, /* all but low-rank layers on 2-D weights (those run at run time) */
} wanc_lora_fuse_what;

/* Does the run-time path take this layer (a bound low-rank layer on a 2-D weight)? */
bool wanc_lora_layer_is_runtime(const wanc_lora_layer *ly, const wanc_weights *model);

/* Fuse the bound layers of several LoRAs, in order, into `model`: one merge
 * per target weight, in float32 (W + Σ strength · ΔW), rounded once to the
 * stored dtype; the merged tensor replaces the stored one (only touched
 * weights are copied; the others stay mmapped). *fused (may be NULL) gets
 * the number of weights changed. */
wanc_err wanc_lora_fuse(wanc_weights *model, const wanc_lora_use *uses, int n, wanc_lora_fuse_what what,
                        int *fused);

/* `wanc info` on a LoRA: dialect, rank(s), alpha(s), the modules touched
 * (block index folded to N) and the layer count. */
void wanc_lora_describe(FILE *out, const wanc_lora *l);

/* ---- run time: y += s · B (A x) next to a frozen linear (lora_runtime.c) -- */

/* One low-rank term on one linear; terms on the same linear are chained. */
typedef struct wanc_lora_delta {
    const struct wanc_lora_delta *next;
    float *a, *b;              /* backend memory, float32: a [rank, in], b [out, rank] */
    int64_t rank, in, out;
    float scale;               /* strength · alpha/rank */
} wanc_lora_delta;

/* out[M, out] += Σ scale · (x[M, in] · aᵀ) · bᵀ over the chain (NULL: nothing).
 * The hook a linear layer calls after its own GEMM, before any rounding. */
wanc_err wanc_lora_delta_apply(const wanc_backend *be, float *out, const float *x, int64_t M,
                               const wanc_lora_delta *d);

/* The run-time terms of several LoRAs, by target weight name. */
typedef struct wanc_lora_runtime wanc_lora_runtime;
/* Build from the run-time layers (wanc_lora_layer_is_runtime) of `uses`,
 * copied to float32 in `be`'s memory (the LoRA files may be closed after). */
wanc_err wanc_lora_runtime_build(wanc_lora_runtime **out, const wanc_backend *be, const wanc_weights *model,
                                 const wanc_lora_use *uses, int n);
void wanc_lora_runtime_free(wanc_lora_runtime *rt);
int wanc_lora_runtime_count(const wanc_lora_runtime *rt);           /* distinct target weights */
const char *wanc_lora_runtime_target(const wanc_lora_runtime *rt, int i);
/* The chain for a weight name ("blocks.0.self_attn.q.weight"), or NULL. */
const wanc_lora_delta *wanc_lora_runtime_find(const wanc_lora_runtime *rt, const char *weight_name);

#endif
