/* The flow-matching scheduler of the Wan pipelines (DiffSynth's
 * FlowMatchScheduler with the "Wan" template).
 *
 * Inference schedule for N steps, shift s, denoising strength d:
 *     sigma_k    = linspace(d, 0, N+1)[k]            k = 0..N-1 (float32)
 *     sigma_k   <- s·sigma_k / (1 + (s-1)·sigma_k)   (float32)
 *     timestep_k = 1000·sigma_k                      (float32)
 * A step moves the latents along the predicted velocity v:
 *     x <- x + v·(sigma_{k+1} - sigma_k),  sigma_N = 0.
 * Every value is computed with the float32 operations torch performs, in its
 * order, so the schedule is bit-identical to the reference.
 *
 * Training (N = 1000) adds a weight per timestep:
 *     w = exp(-2·((1000·sigma - 500)/1000)²),  w <- (w - min w)·1000/Σ(w - min w).
 */
#ifndef WANC_SCHED_FLOW_MATCH_H
#define WANC_SCHED_FLOW_MATCH_H

#include <stdbool.h>
#include <stdint.h>

#include "core/error.h"

#define WANC_FLOW_DEFAULT_SHIFT 5.0
#define WANC_FLOW_TRAIN_STEPS 1000

typedef struct wanc_flow_sched {
    int num_steps;          /* N */
    double shift;           /* s */
    double strength;        /* d, in (0, 1] */
    float *sigmas;          /* [N] */
    float *timesteps;       /* [N] = 1000·sigmas */
    float *train_weights;   /* [N] when made for training, else NULL */
} wanc_flow_sched;

/* Build the inference schedule. num_steps >= 1, shift > 0, 0 < strength <= 1. */
wanc_err wanc_flow_sched_init(wanc_flow_sched *s, int num_steps, double denoising_strength, double shift);
/* Build the training schedule (N = 1000, strength 1) with its weights. */
wanc_err wanc_flow_sched_init_training(wanc_flow_sched *s, double shift);
void wanc_flow_sched_free(wanc_flow_sched *s);

/* Index of the schedule timestep nearest to t (the first one on a tie). */
int wanc_flow_sched_index(const wanc_flow_sched *s, float timestep);

/* One denoising step in place: x[n] += v[n]·(sigma_next - sigma) at the
 * timestep nearest to `timestep`. Both buffers float32; with bf16 = true they
 * hold bf16-representable values and the result is rounded to bf16, as torch
 * computes a bf16 step (the factor is cast to bf16, each op rounds to bf16). */
wanc_err wanc_flow_sched_step(const wanc_flow_sched *s, float *x, const float *v, int64_t n, float timestep,
                              bool bf16);

/* out[n] = (1 - sigma)·x0[n] + sigma·noise[n] at the nearest timestep (out may
 * alias either input). bf16: as step(), the factors are cast to bf16 and
 * each op rounds to bf16. */
wanc_err wanc_flow_sched_add_noise(const wanc_flow_sched *s, float *out, const float *x0, const float *noise,
                                   int64_t n, float timestep, bool bf16);

/* The training weight at the nearest timestep (0 when the schedule has no weights). */
float wanc_flow_sched_training_weight(const wanc_flow_sched *s, float timestep);

/* torch.linspace(start, end, steps) in float32, as torch's CPU kernel computes it:
 * start + step·i for the first half, end - step·(steps-1-i) for the rest. out[steps]. */
void wanc_linspace_f32(float *out, double start, double end, int64_t steps);

#endif
