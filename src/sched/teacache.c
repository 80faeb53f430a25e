/* TeaCache (see teacache.h). */
#include "sched/teacache.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "core/tensor.h"

static const struct {
    const char *id;
    double coef[5];
} TEACACHE_MODELS[] = {
    {"Wan2.1-T2V-1.3B", {-5.21862437e+04, 9.23041404e+03, -5.28275948e+02, 1.36987616e+01, -4.99875664e-02}},
    {"Wan2.1-T2V-14B", {-3.03318725e+05, 4.90537029e+04, -2.65530556e+03, 5.87365115e+01, -3.15583525e-01}},
    {"Wan2.1-I2V-14B-480P", {2.57151496e+05, -3.54229917e+04, 1.40286849e+03, -1.35890334e+01, 1.32517977e-01}},
    {"Wan2.1-I2V-14B-720P", {8.10705460e+03, 2.13393892e+03, -3.72934672e+02, 1.66203073e+01, -4.17769401e-02}},
};
#define N_MODELS ((int)(sizeof TEACACHE_MODELS / sizeof TEACACHE_MODELS[0]))

const double *wanc_teacache_coefficients(const char *model_id)
{
    for (int i = 0; model_id && i < N_MODELS; i++)
        if (!strcmp(TEACACHE_MODELS[i].id, model_id)) return TEACACHE_MODELS[i].coef;
    return NULL;
}

wanc_err wanc_teacache_init(wanc_teacache *tc, int num_steps, double rel_l1_thresh, const char *model_id, bool bf16)
{
    memset(tc, 0, sizeof *tc);
    const double *coef = wanc_teacache_coefficients(model_id);
    if (!coef)
        WANC_FAIL(WANC_EINVAL,
                  "TeaCache: '%s' is not a supported model id (choose Wan2.1-T2V-1.3B, Wan2.1-T2V-14B, "
                  "Wan2.1-I2V-14B-480P or Wan2.1-I2V-14B-720P)",
                  model_id ? model_id : "(null)");
    if (num_steps < 1) WANC_FAIL(WANC_EINVAL, "TeaCache: num_inference_steps must be >= 1, got %d", num_steps);
    if (!isfinite(rel_l1_thresh)) WANC_FAIL(WANC_EINVAL, "TeaCache: threshold is not finite");
    tc->num_steps = num_steps;
    tc->threshold = rel_l1_thresh;
    memcpy(tc->coef, coef, sizeof tc->coef);
    tc->bf16 = bf16;
    tc->last_rel_l1 = tc->last_rescaled = NAN;
    return NULL;
}

void wanc_teacache_free(wanc_teacache *tc)
{
    if (!tc) return;
    free(tc->prev_mod);
    free(tc->prev_hidden);
    free(tc->residual);
    tc->prev_mod = tc->prev_hidden = tc->residual = NULL;
}

/* Lane-wise v += w on 8-lane vectors. */
static inline void vadd8(float *v, const float *w)
{
    for (int l = 0; l < 8; l++) v[l] = v[l] + w[l];
}

float wanc_torch_sum_f32(const float *x, int64_t n)
{
    if (n < 8) { /* too short for a vector: a plain loop */
        float s = 0;
        for (int64_t i = 0; i < n; i++) s = s + x[i];
        return s;
    }
    const int64_t nvec = n / 8;       /* whole 8-float vectors */
    const int64_t rows = nvec / 4;    /* rows of 4 vectors, one per accumulator */
    int64_t ceil_log2 = 1;
    if (rows > 2) {
        ceil_log2 = 0;
        while ((INT64_C(1) << ceil_log2) < rows) ceil_log2++;
    }
    const int64_t level_power = ceil_log2 / 4 > 4 ? ceil_log2 / 4 : 4;
    const int64_t level_step = INT64_C(1) << level_power, level_mask = level_step - 1;
    float acc[4][4][8] = {{{0}}}; /* [level][accumulator][lane] */

    int64_t i = 0;
    while (i + level_step <= rows) {
        for (int64_t j = 0; j < level_step; j++, i++)
            for (int k = 0; k < 4; k++) vadd8(acc[0][k], x + (i * 4 + k) * 8);
        /* carry the finished block up the cascade */
        for (int j = 1; j < 4; j++) {
            for (int k = 0; k < 4; k++) {
                vadd8(acc[j][k], acc[j - 1][k]);
                memset(acc[j - 1][k], 0, sizeof acc[j - 1][k]);
            }
            if (i & (level_mask << (j * level_power))) break;
        }
    }
    for (; i < rows; i++)
        for (int k = 0; k < 4; k++) vadd8(acc[0][k], x + (i * 4 + k) * 8);
    for (int j = 1; j < 4; j++)
        for (int k = 0; k < 4; k++) vadd8(acc[0][k], acc[j][k]);
    /* vectors left over after the rows go to accumulator 0, then 1..3 join it */
    for (int64_t v = rows * 4; v < nvec; v++) vadd8(acc[0][0], x + v * 8);
    for (int k = 1; k < 4; k++) vadd8(acc[0][0], acc[0][k]);
    /* the scalar tail first, then the 8 lanes in order */
    float s = 0;
    for (int64_t e = nvec * 8; e < n; e++) s = s + x[e];
    for (int l = 0; l < 8; l++) s = s + acc[0][0][l];
    return s;
}

/* mean|a - b| / mean|b| in float32 as torch evaluates it (abs, sum, /n, ratio). */
static wanc_err rel_l1(const float *a, const float *b, int64_t n, double *out)
{
    float *tmp = malloc((size_t)n * sizeof(float));
    if (!tmp) WANC_FAIL(WANC_ENOMEM, "TeaCache: out of memory (%lld values)", (long long)n);
    for (int64_t i = 0; i < n; i++) tmp[i] = fabsf(a[i] - b[i]);
    float num = wanc_torch_sum_f32(tmp, n) / (float)n;
    for (int64_t i = 0; i < n; i++) tmp[i] = fabsf(b[i]);
    float den = wanc_torch_sum_f32(tmp, n) / (float)n;
    free(tmp);
    *out = (double)(num / den); /* .item() of a float32 0-d tensor */
    return NULL;
}

wanc_err wanc_teacache_check(wanc_teacache *tc, const float *t_mod, int64_t mod_n, const float *x, int64_t hidden_n,
                             bool *skip)
{
    if (!tc || !tc->num_steps) WANC_FAIL(WANC_EINVAL, "TeaCache: not initialised");
    if (!t_mod || mod_n <= 0) WANC_FAIL(WANC_EINVAL, "TeaCache: empty t_mod");
    if (tc->prev_mod && mod_n != tc->mod_n)
        WANC_FAIL(WANC_ESHAPE, "TeaCache: t_mod has %lld values, previous call had %lld", (long long)mod_n,
                  (long long)tc->mod_n);
    bool calc;
    tc->last_rel_l1 = tc->last_rescaled = NAN;
    if (tc->step == 0 || tc->step == tc->num_steps - 1 || !tc->prev_mod) {
        calc = true;
        tc->accumulated = 0;
    } else {
        double r = 0;
        TRY(rel_l1(t_mod, tc->prev_mod, mod_n, &r));
        /* numpy poly1d: Horner in float64, highest power first */
        double p = 0;
        for (int i = 0; i < 5; i++) p = p * r + tc->coef[i];
        tc->last_rel_l1 = r;
        tc->last_rescaled = p;
        tc->accumulated += p;
        if (tc->accumulated < tc->threshold) calc = false;
        else {
            calc = true;
            tc->accumulated = 0;
        }
    }
    if (!calc && x && !tc->residual) { /* nothing stored yet (the reference would fail): compute */
        calc = true;
        tc->accumulated = 0;
    }
    if (!tc->prev_mod) {
        tc->prev_mod = malloc((size_t)mod_n * sizeof(float));
        if (!tc->prev_mod) WANC_FAIL(WANC_ENOMEM, "TeaCache: out of memory");
        tc->mod_n = mod_n;
    }
    memcpy(tc->prev_mod, t_mod, (size_t)mod_n * sizeof(float));
    if (++tc->step == tc->num_steps) tc->step = 0;
    if (calc && x) {
        if (tc->prev_hidden && hidden_n != tc->hidden_n) {
            free(tc->prev_hidden);
            free(tc->residual);
            tc->prev_hidden = tc->residual = NULL;
        }
        if (!tc->prev_hidden) {
            tc->prev_hidden = malloc((size_t)hidden_n * sizeof(float));
            if (!tc->prev_hidden) WANC_FAIL(WANC_ENOMEM, "TeaCache: out of memory for %lld tokens", (long long)hidden_n);
            tc->hidden_n = hidden_n;
        }
        memcpy(tc->prev_hidden, x, (size_t)hidden_n * sizeof(float));
    }
    *skip = !calc;
    return NULL;
}

wanc_err wanc_teacache_store(wanc_teacache *tc, const float *x_out, int64_t hidden_n)
{
    if (!tc->prev_hidden) WANC_FAIL(WANC_EINVAL, "TeaCache store: no computed call to store");
    if (hidden_n != tc->hidden_n)
        WANC_FAIL(WANC_ESHAPE, "TeaCache store: %lld values, check() saw %lld", (long long)hidden_n,
                  (long long)tc->hidden_n);
    if (!tc->residual) {
        tc->residual = malloc((size_t)hidden_n * sizeof(float));
        if (!tc->residual) WANC_FAIL(WANC_ENOMEM, "TeaCache: out of memory");
    }
    for (int64_t i = 0; i < hidden_n; i++) {
        float d = x_out[i] - tc->prev_hidden[i];
        tc->residual[i] = tc->bf16 ? wanc_round_bf16(d) : d;
    }
    return NULL;
}

wanc_err wanc_teacache_update(const wanc_teacache *tc, float *x, int64_t hidden_n)
{
    if (!tc->residual) WANC_FAIL(WANC_EINVAL, "TeaCache update: no residual stored");
    if (hidden_n != tc->hidden_n)
        WANC_FAIL(WANC_ESHAPE, "TeaCache update: %lld values, residual has %lld", (long long)hidden_n,
                  (long long)tc->hidden_n);
    for (int64_t i = 0; i < hidden_n; i++) {
        float s = x[i] + tc->residual[i];
        x[i] = tc->bf16 ? wanc_round_bf16(s) : s;
    }
    return NULL;
}
