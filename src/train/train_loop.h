/* The training loop of `wanc train` (DiffSynth's launch_training_task) around
 * the training core's step (train/flow_loss.h): LoRA on the DiT, or full
 * fine-tuning of every DiT parameter (--trainable_models dit; the parameter
 * set, its DiT file and checkpoint tensors: train/full_params.h).
 *
 * Per epoch the items are visited in a shuffled order (a Fisher-Yates
 * permutation drawn from a generator seeded, at the epoch's start, by one
 * 64-bit draw of the run's generator, as a DataLoader's RandomSampler seeds
 * itself from torch's global one). Per item: eps = randn (the pipeline's
 * NoiseInitializer, cast to the pipeline dtype), then the timestep id =
 * randint(min_boundary·1000, max_boundary·1000), both from the run's torch
 * generator (seeded with --seed; the LoRA A matrices are drawn from it
 * first), then FlowMatchSFTLoss forward + backward. Every
 * gradient_accumulation_steps items (and at the end of an epoch) the summed
 * gradients are divided by the number of items and AdamW + ConstantLR step.
 * A step in the counts below is one item, as DiffSynth's ModelLogger counts.
 *
 * Outputs in output_path: step-N.safetensors every save_steps steps (and
 * at the end when the last step is not one), else epoch-E.safetensors after
 * each epoch: the LoRA with DiffSynth's keys (blocks.N.<module>.lora_A.default.weight,
 * remove_prefix_in_ckpt taken off "pipe.dit.<key>"), pipeline dtype, metadata
 * {"format": "pt"}; loss.csv (step,epoch,loss,lr); and checkpoint.safetensors
 * next to each save: LoRA (float32), AdamW moments, pending gradients, the
 * step / epoch / position, optimizer step and lr, the generator state and
 * the epoch's order, so --resume_from_checkpoint continues bit-identically.
 * A stop requested by the progress callback saves both and returns
 * WANC_ECANCELLED. Every file is written under a temporary name and renamed.
 *
 * Full fine-tuning writes the DiT instead of the LoRA (release key names) and
 * checkpoints the parameters, moments and pending gradients the same way.
 *
 * Parameters stay in the pipeline dtype as DiffSynth casts them: in a bf16
 * run A and B are rounded to bf16 at init and after every update (the
 * optimizer's moments stay float32); the step computes in float32.
 */
#ifndef WANC_TRAIN_TRAIN_LOOP_H
#define WANC_TRAIN_TRAIN_LOOP_H

#include "wanc.h"
#include "train/train_cache.h"

/* Item `index` (0 <= index < len) of an epoch's dataset as training inputs. */
typedef wanc_err (*wanc_train_get_fn)(void *user, int64_t index, wanc_train_sample *s);

typedef struct wanc_train_loop_args {
    const wanc_train_options *o;
    const char *dit_path;
    int64_t len;                 /* items per epoch */
    wanc_train_get_fn get;
    void *get_user;
    wanc_train_progress_fn progress;
    void *progress_user;
} wanc_train_loop_args;

wanc_err wanc_train_loop(const wanc_train_loop_args *a);

#define WANC_TRAIN_CHECKPOINT_FORMAT "wanc-train-checkpoint"
#define WANC_TRAIN_CHECKPOINT_NAME "checkpoint.safetensors"

#endif
