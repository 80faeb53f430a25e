/* Training timestep tables, the bf16 lookup and the sample draw. */
#include "train/train_sched.h"

#include <math.h>
#include <stdlib.h>

#include "core/tensor.h"

wanc_err wanc_train_sched_init(wanc_train_sched *ts, double shift)
{
    *ts = (wanc_train_sched){0};
    TRY(wanc_flow_sched_init_training(&ts->s, shift));
    int n = ts->s.num_steps;
    ts->timesteps_bf16 = malloc((size_t)n * sizeof(float));
    ts->bf16_lookup_id = malloc((size_t)n * sizeof(int));
    if (!ts->timesteps_bf16 || !ts->bf16_lookup_id) {
        wanc_train_sched_free(ts);
        WANC_FAIL(WANC_ENOMEM, "training schedule: out of memory");
    }
    for (int i = 0; i < n; i++) {
        ts->timesteps_bf16[i] = wanc_round_bf16(ts->s.timesteps[i]);
        /* (timesteps - t).abs().argmin(): the bf16 t promoted to float32 */
        ts->bf16_lookup_id[i] = wanc_flow_sched_index(&ts->s, ts->timesteps_bf16[i]);
    }
    return NULL;
}

void wanc_train_sched_free(wanc_train_sched *ts)
{
    wanc_flow_sched_free(&ts->s);
    free(ts->timesteps_bf16);
    free(ts->bf16_lookup_id);
    *ts = (wanc_train_sched){0};
}

wanc_err wanc_train_timestep_at(const wanc_train_sched *ts, int id, bool bf16, wanc_train_timestep *out)
{
    if (!ts->s.train_weights) WANC_FAIL(WANC_EINVAL, "training timestep: schedule not initialised");
    if (id < 0 || id >= ts->s.num_steps)
        WANC_FAIL(WANC_EINVAL, "training timestep: id %d outside [0, %d)", id, ts->s.num_steps);
    int j = bf16 ? ts->bf16_lookup_id[id] : id;
    *out = (wanc_train_timestep){
        .id = id,
        .lookup_id = j,
        .t = bf16 ? ts->timesteps_bf16[id] : ts->s.timesteps[id],
        .sigma = ts->s.sigmas[j],
        .weight = ts->s.train_weights[j],
    };
    return NULL;
}

wanc_err wanc_train_id_range(double min_boundary, double max_boundary, int *lo, int *hi)
{
    if (!(min_boundary >= 0 && max_boundary <= 1 && min_boundary < max_boundary))
        WANC_FAIL(WANC_EINVAL, "timestep boundaries %g..%g: need 0 <= min < max <= 1", min_boundary, max_boundary);
    *lo = (int)(min_boundary * WANC_FLOW_TRAIN_STEPS); /* Python int(): truncation */
    *hi = (int)(max_boundary * WANC_FLOW_TRAIN_STEPS);
    if (*hi <= *lo)
        WANC_FAIL(WANC_EINVAL, "timestep boundaries %g..%g select no timestep id", min_boundary, max_boundary);
    return NULL;
}

int64_t wanc_torch_randint(wanc_torch_gen *g, int64_t lo, int64_t hi)
{
    /* torch's random_from_to: (draw % range) + base, a 32-bit draw unless
     * the range needs 64 bits */
    uint64_t range = (uint64_t)(hi - lo);
    uint64_t v = range >= (1ULL << 32) ? wanc_torch_gen_u64(g) : (uint64_t)wanc_torch_gen_u32(g);
    return (int64_t)(v % range) + lo;
}

void wanc_train_noisy_and_target(float *x_t, float *target, const float *x0, const float *eps, float sigma,
                                 int64_t n)
{
    float keep = 1.0f - sigma; /* (1 - sigma): a float32 0-d tensor op */
    for (int64_t i = 0; i < n; i++) {
        if (x_t) x_t[i] = keep * x0[i] + sigma * eps[i];
        if (target) target[i] = eps[i] - x0[i];
    }
}
