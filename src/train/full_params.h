/* Full fine-tuning of the DiT (`--trainable_models dit`): every parameter of
 * the DiT trained, as DiffSynth's freeze_except(["dit"]) leaves them.
 *
 * The parameters live where the DiT computes with them (dit/dit_params.h),
 * in the pipeline dtype as DiffSynth loads the pipeline with torch_dtype:
 * a weight or bias becomes an owned tensor of that dtype in the DiT's store
 * (BF16 for a default run, F32 for --precision fp32); a small parameter
 * (norm weights, modulations) is the DiT's float32 copy, rounded to bf16 in a
 * bf16 run. The training core adds float32 gradients (dit/dit_train.h); the
 * AdamW moments are float32 (as the LoRA loop keeps them); each update runs
 * in float32 on the parameter's value and is rounded back to the pipeline
 * dtype.
 *
 * Output: the DiT in the release's key names (`blocks.0.self_attn.q.weight`,
 * after DiffSynth's "pipe.dit." prefix and --remove_prefix_in_ckpt), the
 * pipeline dtype, metadata {"format": "pt", "num_heads": N}; one file, or
 * over max_shard_bytes (WANC_FULL_SHARD_BYTES, the hub's 5 GB) shards
 * `<stem>-0000i-of-0000K.safetensors` with `<file>.index.json` (what
 * `wanc generate --dit` opens), each written atomically, the index last.
 */
#ifndef WANC_TRAIN_FULL_PARAMS_H
#define WANC_TRAIN_FULL_PARAMS_H

#include <stdbool.h>
#include <stdint.h>

#include "core/tensor.h"
#include "dit/dit_train.h"
#include "dit/wan_dit.h"
#include "io/weights.h"
#include "train/adamw.h"

#define WANC_FULL_SHARD_BYTES 5000000000LL

typedef struct wanc_full_param {
    char name[96];                  /* checkpoint name: "blocks.0.ffn.0.weight" */
    int ndim;
    int64_t shape[WANC_MAX_DIMS];   /* as released */
    int64_t n;
    float *grad;                    /* the trainer's float32 gradient */
    float *m, *v;                   /* AdamW moments, float32, owned */
    float *vec;                     /* the DiT's float32 copy (small parameters), or NULL */
    wanc_tensor *t;                 /* the tensor the DiT reads (owned, pipeline dtype), or NULL */
} wanc_full_param;

typedef struct wanc_full_params {
    wanc_full_param *p;
    int n;
    bool bf16;
    float *scratch;                 /* the largest parameter in float32 */
    int num_heads;
} wanc_full_params;

/* Every parameter the trainer (made with full grads) keeps a gradient for,
 * made updatable in place in the pipeline dtype. */
wanc_err wanc_full_params_init(wanc_full_params *s, wanc_dit *dit, wanc_weights *store, wanc_dit_trainer *tr,
                               bool bf16);
void wanc_full_params_free(wanc_full_params *s);
/* One AdamW update of every parameter from gradients summed over `pending`
 * items (divided by it first); the gradients are zeroed after. The caller
 * brackets it with wanc_adamw_begin_step / end_step. */
void wanc_full_params_step(wanc_full_params *s, const wanc_adamw *opt, int64_t pending);
/* The DiT to dir/file (sharded past max_shard_bytes, see above). */
wanc_err wanc_full_params_save(const wanc_full_params *s, const char *dir, const char *file,
                               const char *remove_prefix, int64_t max_shard_bytes);

/* Checkpoint tensors: "param/<name>" (as trained), "exp_avg/<name>",
 * "exp_avg_sq/<name>" and, with grads, "grad/<name>" (float32). Views onto
 * the live buffers: *names[i] malloc'd, to free with the views. */
wanc_err wanc_full_params_ckpt_views(const wanc_full_params *s, bool grads, int *n, char ***names,
                                     wanc_tensor **views);
wanc_err wanc_full_params_ckpt_load(wanc_full_params *s, const wanc_weights *w, const char *path, bool grads);

#endif
