/* torch.optim.AdamW with ConstantLR, as DiffSynth's launch_training_task
 * runs it (betas 0.9/0.999, eps 1e-8, no amsgrad; ConstantLR's defaults:
 * factor 1/3 for the first 5 scheduler steps).
 *
 * Step k (1-based), each scalar factor rounded to float32 as torch's float32
 * kernels take a Python scalar, each tensor op evaluated in float32:
 *     p *= 1 - lr·wd
 *     m  = m·b1 + g·(1 - b1)
 *     v  = v·b2 + (g·g)·(1 - b2)
 *     p += -(lr / (1 - b1^k)) · m / (sqrt(v) / sqrt(1 - b2^k) + eps)
 *
 *   wanc_adamw opt;
 *   wanc_adamw_init(&opt, 1e-4, 0.01);
 *   for each step: wanc_adamw_begin_step(&opt);
 *                  for each tensor: wanc_adamw_update(&opt, p, g, m, v, n);
 *                  wanc_adamw_end_step(&opt);   // ConstantLR.step()
 */
#ifndef WANC_TRAIN_ADAMW_H
#define WANC_TRAIN_ADAMW_H

#include <stdint.h>

#include "core/error.h"

#define WANC_CONSTANT_LR_FACTOR (1.0 / 3.0)
#define WANC_CONSTANT_LR_ITERS 5

typedef struct wanc_adamw {
    double base_lr, lr;          /* lr: the group's current lr, formed as torch forms it */
    double weight_decay, beta1, beta2, eps;
    int step;                    /* optimizer steps taken (k of the current step after begin) */
    int sched_steps;             /* ConstantLR steps taken */
} wanc_adamw;

/* torch.optim.AdamW(lr, weight_decay) then ConstantLR(optimizer): the
 * group's lr starts at lr·(1/3). */
void wanc_adamw_init(wanc_adamw *o, double lr, double weight_decay);
/* The lr the next step uses. */
double wanc_adamw_lr(const wanc_adamw *o);
/* Starts optimizer step k = step + 1. */
void wanc_adamw_begin_step(wanc_adamw *o);
/* One tensor's update at the current step: p, m (exp_avg), v (exp_avg_sq)
 * [n] float32 in place, g [n] its gradient. m and v start zeroed. */
void wanc_adamw_update(const wanc_adamw *o, float *p, const float *g, float *m, float *v, int64_t n);
/* ConstantLR.step(): at the end of its iterations the lr is multiplied back by 1/factor. */
void wanc_adamw_end_step(wanc_adamw *o);

#endif
