/* LoRA as DiffSynth sets it up for training (peft's defaults): targets, and
 * the initial A and B.
 *
 * Targets: the module names ending in one of the comma-separated target
 * names (`--lora_target_modules`, default "q,k,v,o,ffn.0,ffn.2"): in the
 * Wan DiT per block self_attn.{q,k,v,o}, cross_attn.{q,k,v,o}, ffn.0, ffn.2.
 * Layer: y = W x + b + (alpha / rank) · B (A x), A [rank, in], B [out, rank];
 * DiffSynth passes alpha = rank (scaling 1) and dropout 0.
 * Init: A ~ kaiming_uniform(a = √5) = U(-1/√in, 1/√in), drawn with torch's
 * float32 uniform_ on the given generator; B = 0.
 */
#ifndef WANC_TRAIN_LORA_SETUP_H
#define WANC_TRAIN_LORA_SETUP_H

#include <stdbool.h>
#include <stdint.h>

#include "core/error.h"
#include "core/rng_torch.h"
#include "core/tensor.h"

#define WANC_LORA_DEFAULT_TARGETS "q,k,v,o,ffn.0,ffn.2"

/* Does module `name` (e.g. "blocks.3.self_attn.q") end in ".<target>" (or
 * equal it) for one of the comma-separated `targets`? */
bool wanc_lora_is_target(const char *name, const char *targets);

/* tensor.uniform_(lo, hi) for float32 on a CPU generator: per element one
 * 32-bit draw, u = (draw & (2^24-1))·2^-24, value = u·(hi - lo) + lo in float32. */
void wanc_torch_uniform_f32(wanc_torch_gen *g, float *out, int64_t n, float lo, float hi);

/* A[rank, in] ~ kaiming_uniform(a = √5) (bound 1/√in), B[out, rank] = 0. */
void wanc_lora_init(wanc_torch_gen *g, float *A, float *B, int64_t rank, int64_t in, int64_t out);

/* Write a LoRA the way DiffSynth's ModelLogger saves it: only the given
 * tensors (keys like "blocks.0.self_attn.q.lora_A.default.weight"),
 * metadata {"format": "pt"}, every tensor converted from float32 to `dtype`
 * (F32, or BF16 round-to-nearest-even as a bfloat16 run writes). 2-D
 * tensors: shapes[i] = {rows, cols}. */
wanc_err wanc_lora_save(const char *path, int n, const char *const *names, const float *const *data,
                        const int64_t (*shapes)[2], wanc_dtype dtype);

#endif
