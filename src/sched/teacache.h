/* TeaCache: skip the DiT blocks on steps whose timestep modulation barely
 * changed, re-using the residual the blocks added last time.
 *
 * One cache per CFG branch (the positive and negative predictions keep
 * separate state). Per DiT call, on t_mod ([1, 6, dim], the time projection):
 *   - calls 0 and N-1 of each N-call pass always compute and reset the
 *     accumulator;
 *   - otherwise acc += poly(rel_l1), rel_l1 = mean|t_mod - prev| / mean|prev|,
 *     poly a 4th-order polynomial fitted per model (highest power first);
 *     acc < threshold -> skip (x += stored residual), else compute, acc = 0;
 *   - prev = t_mod every call; the call counter wraps after N calls.
 * When computing, the caller hands the tokens entering block 0 to check()
 * and the tokens leaving the last block to store(); the residual is their
 * difference.
 */
#ifndef WANC_SCHED_TEACACHE_H
#define WANC_SCHED_TEACACHE_H

#include <stdbool.h>
#include <stdint.h>

#include "core/error.h"

typedef struct wanc_teacache {
    int num_steps;       /* N */
    int step;            /* call counter in [0, N) */
    double threshold;    /* rel_l1_thresh */
    double coef[5];      /* polynomial, highest power first */
    double accumulated;  /* accumulated rescaled distance */
    bool bf16;           /* hidden states are bf16: residual/update round to bf16 */
    float *prev_mod;     /* [mod_n] previous t_mod, NULL before the first call */
    int64_t mod_n;
    float *prev_hidden;  /* [hidden_n] tokens entering the blocks on a computed call */
    float *residual;     /* [hidden_n] blocks' output minus input, NULL until stored */
    int64_t hidden_n;
    /* what the last check() saw (for logs and tests) */
    double last_rel_l1, last_rescaled; /* NAN on calls that always compute */
} wanc_teacache;

/* Known model ids: "Wan2.1-T2V-1.3B", "Wan2.1-T2V-14B", "Wan2.1-I2V-14B-480P",
 * "Wan2.1-I2V-14B-720P"; any other is a named error listing them. */
wanc_err wanc_teacache_init(wanc_teacache *tc, int num_steps, double rel_l1_thresh, const char *model_id, bool bf16);
void wanc_teacache_free(wanc_teacache *tc);
/* The coefficients of a model id, or NULL. */
const double *wanc_teacache_coefficients(const char *model_id);

/* Decide this call. t_mod[mod_n]; x[hidden_n] the tokens entering block 0
 * (kept when the call computes; may be NULL to only decide). *skip = true:
 * bypass the blocks and call update(). */
wanc_err wanc_teacache_check(wanc_teacache *tc, const float *t_mod, int64_t mod_n, const float *x, int64_t hidden_n,
                             bool *skip);
/* After a computed call: residual = x_out - (x given to check). x_out[hidden_n]. */
wanc_err wanc_teacache_store(wanc_teacache *tc, const float *x_out, int64_t hidden_n);
/* On a skipped call: x[hidden_n] += residual. */
wanc_err wanc_teacache_update(const wanc_teacache *tc, float *x, int64_t hidden_n);

/* torch's float32 sum of a contiguous tensor on CPU (AVX2 build): 8-lane
 * vectors, 4 interleaved accumulators with a 4-level cascade, lanes added
 * last. Exact for n <= 32768 (above that torch splits over threads). */
float wanc_torch_sum_f32(const float *x, int64_t n);

#endif
