/* DiffSynth's FlowMatchSFTLoss for the Wan DiT: one training sample's loss
 * and, on request, its gradients.
 *
 *   x_t = (1 - sigma)·x0 + sigma·eps,  target = eps - x0
 *   TI2V (first_frame given): x_t[:, 0] = first_frame, the DiT sees t = 0 on
 *   frame 0's tokens, and frame 0 is left out of the mean
 *   mse = mean((pred - target)²) (float32 result),  loss = mse · w
 * with t, sigma and w from the training tables at the sample's id (the bf16
 * lookup of a default bfloat16 run when asked). The backward adds
 * d loss / d parameter into the trainer's gradients (gradient accumulation:
 * call again before the optimizer step, no rescaling, as DiffSynth's
 * accumulation of 1).
 */
#ifndef WANC_TRAIN_FLOW_LOSS_H
#define WANC_TRAIN_FLOW_LOSS_H

#include <stdbool.h>
#include <stdint.h>

#include "dit/dit_train.h"
#include "train/train_sched.h"

typedef struct wanc_sft_inputs {
    const float *x0, *noise;   /* [C, F, H, W] (the latents and eps) */
    int64_t C, F, H, W;
    const float *context;      /* [ctx_len, text_dim] */
    int64_t ctx_len;
    int timestep_id;           /* 0..999 */
    bool bf16_timestep;        /* a bfloat16 run: t rounded to bf16 before the lookup */
    const float *first_frame;  /* TI2V: [C, 1, H, W], or NULL */
    const float *y;            /* I2V / FLF2V: [y_c, F, H, W] (mask + VAE latents), or NULL */
    int64_t y_c;
    const float *clip;         /* I2V / FLF2V: CLIP tokens [clip_len, clip_dim], or NULL */
    int64_t clip_len;
    wanc_dit_observe_fn observe; /* passed to the DiT (see dit_train.h) */
    void *observe_user;
} wanc_sft_inputs;

typedef struct wanc_sft_outputs {
    wanc_train_timestep ts;    /* t, sigma, weight used */
    float mse, loss;
    /* optional, [C, F, H, W] each */
    float *x_t, *target, *pred;
    /* optional gradients (backward only): d loss / d x_t, d x0 (through x_t and
     * the target), d context [ctx_len, text_dim], d first_frame [C, 1, H, W] */
    float *d_x_t, *d_x0, *d_context, *d_first_frame;
} wanc_sft_outputs;

/* Loss of one sample; backward != 0 also runs the DiT backward. */
wanc_err wanc_sft_step(wanc_dit_trainer *tr, const wanc_train_sched *ts, const wanc_sft_inputs *in,
                       wanc_sft_outputs *out, bool backward);

#endif
