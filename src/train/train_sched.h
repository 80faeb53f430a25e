/* The training side of DiffSynth's flow-matching scheduler and the draw of
 * one training sample (FlowMatchSFTLoss).
 *
 * Tables (FlowMatchScheduler("Wan").set_timesteps(1000, training=True), shift
 * 5 in every DiffSynth Wan run): sigmas, timesteps = 1000·sigmas and the
 * loss weights come from wanc_flow_sched_init_training; this module adds the
 * bf16 view of a default (bfloat16) run: the DiT sees t rounded to bf16, and
 * sigma / weight are looked up at the index nearest that rounded t.
 *
 * One sample: id = torch.randint(lo, hi) on torch's CPU generator, with
 * lo = int(min_boundary·1000), hi = int(max_boundary·1000);
 * eps = randn_like(x0); x_t = (1 - sigma)·x0 + sigma·eps; target = eps - x0.
 */
#ifndef WANC_TRAIN_TRAIN_SCHED_H
#define WANC_TRAIN_TRAIN_SCHED_H

#include <stdbool.h>
#include <stdint.h>

#include "core/error.h"
#include "core/rng_torch.h"
#include "sched/flow_match.h"

typedef struct wanc_train_sched {
    wanc_flow_sched s;        /* sigmas, timesteps, train_weights [1000] */
    float *timesteps_bf16;    /* [1000] timesteps rounded to bf16 (kept as float) */
    int *bf16_lookup_id;      /* [1000] index the bf16 t finds (argmin, first on ties) */
} wanc_train_sched;

wanc_err wanc_train_sched_init(wanc_train_sched *ts, double shift);
void wanc_train_sched_free(wanc_train_sched *ts);

/* What one training sample uses at timestep index `id`: the t the DiT sees,
 * and the sigma and loss weight of the table index that t finds. In bf16
 * (a default DiffSynth run) t is rounded first; in float32 the index is id. */
typedef struct wanc_train_timestep {
    int id, lookup_id;
    float t, sigma, weight;
} wanc_train_timestep;
wanc_err wanc_train_timestep_at(const wanc_train_sched *ts, int id, bool bf16, wanc_train_timestep *out);

/* The id range [lo, hi) of the boundaries (DiffSynth's defaults 0 and 1;
 * Python's int() truncation of boundary·1000). Named error when empty or
 * outside [0, 1000]. */
wanc_err wanc_train_id_range(double min_boundary, double max_boundary, int *lo, int *hi);

/* torch.randint(lo, hi, (1,)) on a CPU generator: one 32-bit draw modulo the
 * range (a 64-bit draw when the range needs more than 32 bits). hi > lo. */
int64_t wanc_torch_randint(wanc_torch_gen *g, int64_t lo, int64_t hi);

/* x_t[n] = (1 - sigma)·x0 + sigma·eps and target[n] = eps - x0, in float32
 * as torch computes them (either output may be NULL). */
void wanc_train_noisy_and_target(float *x_t, float *target, const float *x0, const float *eps, float sigma,
                                 int64_t n);

#endif
