/* The flow-matching scheduler of the Wan pipelines (see flow_match.h).
 *
 * Compiled as ISO C11 (no FMA contraction): every float expression below is
 * rounded once per operation, as torch's float32 tensor ops are.
 */
#include "sched/flow_match.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "core/tensor.h"

/* One linspace element by torch's rule: the first half counts up from
 * start, the second half down from end, so both ends are exact. torch's
 * AVX2 build compiles this with FMA contraction, so the product and the sum
 * round once (fmaf). (A torch forced to ATEN_CPU_CAPABILITY=default rounds
 * twice and differs by an ulp here and there.) */
static inline float linspace_at(float s, float e, float step, int64_t i, int64_t steps)
{
    return i < steps / 2 ? fmaf(step, (float)i, s) : fmaf(-step, (float)(steps - i - 1), e);
}

void wanc_linspace_f32(float *out, double start, double end, int64_t steps)
{
    if (steps <= 0) return;
    const float s = (float)start, e = (float)end;
    if (steps == 1) {
        out[0] = s;
        return;
    }
    const float step = (e - s) / (float)(steps - 1);
    /* torch 1.x's CPU kernel is vectorised: while 16 or more elements remain
     * it fills two 8-lane vectors at a time; a vector's first lane follows the
     * scalar rule (which also picks the half for all its lanes) and lane k is
     * first + k·step, rounded twice. The remaining elements are scalar.
     * (torch 2.x dropped the vector path; its values differ by a few ulp.) */
    int64_t i = 0;
    for (; i + 16 <= steps; i += 16) {
        for (int64_t v = i; v < i + 16; v += 8) {
            const float base = linspace_at(s, e, step, v, steps);
            out[v] = base;
            for (int k = 1; k < 8; k++) out[v + k] = base + (float)k * step;
        }
    }
    for (; i < steps; i++) out[i] = linspace_at(s, e, step, i, steps);
}

static wanc_err sched_alloc(wanc_flow_sched *s, int n, double strength, double shift)
{
    memset(s, 0, sizeof *s);
    if (n < 1) WANC_FAIL(WANC_EINVAL, "scheduler: num_inference_steps must be >= 1, got %d", n);
    if (!(strength > 0 && strength <= 1))
        WANC_FAIL(WANC_EINVAL, "scheduler: denoising_strength must be in (0, 1], got %g", strength);
    if (!(shift > 0) || !isfinite(shift)) WANC_FAIL(WANC_EINVAL, "scheduler: shift must be > 0, got %g", shift);
    s->num_steps = n;
    s->shift = shift;
    s->strength = strength;
    s->sigmas = malloc((size_t)n * sizeof(float));
    s->timesteps = malloc((size_t)n * sizeof(float));
    if (!s->sigmas || !s->timesteps) {
        wanc_flow_sched_free(s);
        WANC_FAIL(WANC_ENOMEM, "scheduler: out of memory for %d steps", n);
    }
    return NULL;
}

wanc_err wanc_flow_sched_init(wanc_flow_sched *s, int num_steps, double denoising_strength, double shift)
{
    TRY(sched_alloc(s, num_steps, denoising_strength, shift));
    int n = num_steps;
    float *lin = malloc((size_t)(n + 1) * sizeof(float));
    if (!lin) {
        wanc_flow_sched_free(s);
        WANC_FAIL(WANC_ENOMEM, "scheduler: out of memory");
    }
    /* sigma_start = sigma_min + (sigma_max - sigma_min)·d with min 0, max 1 (in double, as Python does) */
    wanc_linspace_f32(lin, 0.0 + (1.0 - 0.0) * denoising_strength, 0.0, n + 1);
    /* Python scalars enter float32 tensor ops as float: s and (s - 1) */
    const float sf = (float)shift, sm1 = (float)(shift - 1.0);
    for (int k = 0; k < n; k++) {
        float sig = lin[k];
        float num = sf * sig;
        float den = 1.0f + sm1 * sig;
        s->sigmas[k] = num / den;
        s->timesteps[k] = s->sigmas[k] * 1000.0f;
    }
    free(lin);
    return NULL;
}

wanc_err wanc_flow_sched_init_training(wanc_flow_sched *s, double shift)
{
    TRY(wanc_flow_sched_init(s, WANC_FLOW_TRAIN_STEPS, 1.0, shift));
    const int n = s->num_steps;
    s->train_weights = malloc((size_t)n * sizeof(float));
    if (!s->train_weights) {
        wanc_flow_sched_free(s);
        WANC_FAIL(WANC_ENOMEM, "scheduler: out of memory for training weights");
    }
    float *w = s->train_weights;
    const float steps = (float)WANC_FLOW_TRAIN_STEPS;
    float wmin = INFINITY;
    for (int k = 0; k < n; k++) {
        float x = s->sigmas[k] * 1000.0f; /* sigmas · num_train_timesteps */
        float u = (x - steps / 2) / steps;
        w[k] = expf(-2.0f * (u * u));
        if (w[k] < wmin) wmin = w[k];
    }
    double sum = 0;
    for (int k = 0; k < n; k++) {
        w[k] = w[k] - wmin;
        sum += w[k];
    }
    /* steps / sum(...) is evaluated by torch as reciprocal(sum) · steps, in float */
    float scale = (1.0f / (float)sum) * steps;
    for (int k = 0; k < n; k++) w[k] = w[k] * scale;
    /* With len(timesteps) == 1000 the reference applies no further rescale. */
    return NULL;
}

void wanc_flow_sched_free(wanc_flow_sched *s)
{
    if (!s) return;
    free(s->sigmas);
    free(s->timesteps);
    free(s->train_weights);
    s->sigmas = s->timesteps = s->train_weights = NULL;
    s->num_steps = 0;
}

int wanc_flow_sched_index(const wanc_flow_sched *s, float timestep)
{
    int best = 0;
    float best_d = INFINITY;
    for (int k = 0; k < s->num_steps; k++) {
        float d = fabsf(s->timesteps[k] - timestep);
        if (d < best_d) { /* strict: argmin keeps the first minimum */
            best_d = d;
            best = k;
        }
    }
    return best;
}

static wanc_err check_sched(const wanc_flow_sched *s, const char *what)
{
    if (!s || !s->sigmas || s->num_steps < 1) WANC_FAIL(WANC_EINVAL, "scheduler %s: schedule not initialised", what);
    return NULL;
}

wanc_err wanc_flow_sched_step(const wanc_flow_sched *s, float *x, const float *v, int64_t n, float timestep,
                              bool bf16)
{
    TRY(check_sched(s, "step"));
    if (!isfinite(timestep)) WANC_FAIL(WANC_EINVAL, "scheduler step: timestep is not finite");
    int k = wanc_flow_sched_index(s, timestep);
    float sigma = s->sigmas[k];
    float sigma_next = k + 1 < s->num_steps ? s->sigmas[k + 1] : 0.0f;
    float d = sigma_next - sigma; /* a float32 0-d tensor in the reference */
    if (bf16) {
        /* bf16 tensors times a float32 0-d tensor stay bf16: torch (1.x)
         * casts the 0-d factor to bf16 first, then each op is done in float
         * and rounded to bf16 once. */
        for (int64_t i = 0; i < n; i++) {
            float prod = wanc_round_bf16(v[i] * wanc_round_bf16(d));
            x[i] = wanc_round_bf16(x[i] + prod);
        }
    } else {
        for (int64_t i = 0; i < n; i++) x[i] = x[i] + v[i] * d;
    }
    return NULL;
}

wanc_err wanc_flow_sched_add_noise(const wanc_flow_sched *s, float *out, const float *x0, const float *noise,
                                   int64_t n, float timestep, bool bf16)
{
    TRY(check_sched(s, "add_noise"));
    if (!isfinite(timestep)) WANC_FAIL(WANC_EINVAL, "scheduler add_noise: timestep is not finite");
    float sigma = s->sigmas[wanc_flow_sched_index(s, timestep)];
    float keep = 1.0f - sigma;
    if (bf16) {
        /* As in step(): the float32 0-d factors are cast to bf16, each op is
         * evaluated in float and rounded to bf16 once. */
        float kb = wanc_round_bf16(keep), sb = wanc_round_bf16(sigma);
        for (int64_t i = 0; i < n; i++) {
            float a = wanc_round_bf16(kb * x0[i]), b = wanc_round_bf16(sb * noise[i]);
            out[i] = wanc_round_bf16(a + b);
        }
        return NULL;
    }
    for (int64_t i = 0; i < n; i++) {
        float a = keep * x0[i];
        float b = sigma * noise[i];
        out[i] = a + b;
    }
    return NULL;
}

float wanc_flow_sched_training_weight(const wanc_flow_sched *s, float timestep)
{
    if (!s || !s->train_weights) return 0.0f;
    return s->train_weights[wanc_flow_sched_index(s, timestep)];
}
