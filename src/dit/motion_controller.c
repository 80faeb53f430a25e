/* Speed control (WanMotionControllerModel): an MLP on the sinusoid of
 * 10 · motion_bucket_id whose output is added to the DiT's t_mod. */
#include <stdlib.h>
#include <string.h>

#include "dit/wan_dit.h"

struct wanc_motion_controller {
    const wanc_backend *be;
    bool bf16, bf16_weights; /* bf16 compute; f32 weights rounded to bf16 at load */
    int freq_dim, dim;
    const wanc_tensor *w[3], *b[3]; /* linear.{0,2,4}: [dim,freq], [dim,dim], [6dim,dim] */
    wanc_tensor conv[6];            /* bf16 copies of f32 weights in bf16 mode */
    int nconv;
};

void wanc_motion_controller_free(wanc_motion_controller *m)
{
    if (!m) return;
    for (int i = 0; i < m->nconv; i++) wanc_tensor_free(&m->conv[i]);
    free(m);
}

static wanc_err get(wanc_motion_controller *m, const wanc_weights *w, const wanc_tensor **out, int ndim,
                    const int64_t *shape, const char *name)
{
    TRY(wanc_weights_get(w, name, out, ndim, shape));
    if (m->bf16_weights && (*out)->dtype != WANC_BF16) {
        TRYC(wanc_tensor_convert(&m->conv[m->nconv], *out, WANC_BF16), "converting %s to bf16", name);
        *out = &m->conv[m->nconv++];
    }
    return NULL;
}

static wanc_err load(wanc_motion_controller *m, const wanc_weights *w)
{
    const wanc_tensor *t = wanc_weights_find(w, "linear.0.weight");
    if (!t || t->ndim != 2)
        WANC_FAIL(WANC_EFORMAT, "%s: not a motion controller: no 2-D linear.0.weight", wanc_weights_describe(w));
    m->dim = (int)t->shape[0];
    m->freq_dim = (int)t->shape[1];
    int64_t D = m->dim;
    static const char *const names[3][2] = {{"linear.0.weight", "linear.0.bias"},
                                            {"linear.2.weight", "linear.2.bias"},
                                            {"linear.4.weight", "linear.4.bias"}};
    const int64_t shapes[3][2] = {{D, m->freq_dim}, {D, D}, {6 * D, D}};
    for (int i = 0; i < 3; i++) {
        TRY(get(m, w, &m->w[i], 2, shapes[i], names[i][0]));
        TRY(get(m, w, &m->b[i], 1, shapes[i], names[i][1]));
    }
    return NULL;
}

wanc_err wanc_motion_controller_load(wanc_motion_controller **out, const wanc_backend *be, const wanc_weights *w,
                                     const wanc_dit_options *opt)
{
    *out = NULL;
    wanc_motion_controller *m = calloc(1, sizeof *m);
    if (!m) WANC_FAIL(WANC_ENOMEM, "motion controller: out of memory");
    m->be = be;
    m->bf16 = opt && opt->precision == WANC_DIT_BF16;
    m->bf16_weights = m->bf16 || (opt && opt->bf16_weights);
    wanc_err err = load(m, w);
    if (err) {
        wanc_motion_controller_free(m);
        return wanc_error_context(err, "loading motion controller");
    }
    *out = m;
    return NULL;
}

int wanc_motion_controller_out_dim(const wanc_motion_controller *m) { return 6 * m->dim; }

static wanc_err rnd(const wanc_motion_controller *m, float *x, int64_t n)
{
    return m->bf16 ? m->be->round_bf16(m->be, x, n) : NULL;
}

wanc_err wanc_motion_controller_forward(const wanc_motion_controller *m, float motion_bucket_id, float *out)
{
    const wanc_backend *be = m->be;
    int64_t D = m->dim;
    /* a few KB of host scratch; the result is the same every step, so callers compute it once */
    float *a = malloc(sizeof(float) * (size_t)(m->freq_dim + 2 * D));
    double *s = malloc(sizeof(double) * (size_t)m->freq_dim);
    wanc_err err = NULL;
    if (!a || !s) {
        err = wanc_error(WANC_ENOMEM, "motion controller: out of memory");
        goto done;
    }
    float *h1 = a + m->freq_dim, *h2 = h1 + D;
    /* the id is a bf16 tensor in the bf16 pipeline, and ×10 is a bf16 op */
    float id = m->bf16 ? wanc_round_bf16(wanc_round_bf16(motion_bucket_id) * 10.0f) : motion_bucket_id * 10.0f;
    wanc_dit_sinusoid(s, m->freq_dim, id);
    for (int i = 0; i < m->freq_dim; i++) a[i] = (float)s[i];
    TRY_GOTO(err, done, rnd(m, a, m->freq_dim));
    TRY_GOTO(err, done, be->linear(be, h1, a, m->w[0], m->b[0], 1));
    TRY_GOTO(err, done, rnd(m, h1, D));
    TRY_GOTO(err, done, be->silu(be, h1, h1, D));
    TRY_GOTO(err, done, rnd(m, h1, D));
    TRY_GOTO(err, done, be->linear(be, h2, h1, m->w[1], m->b[1], 1));
    TRY_GOTO(err, done, rnd(m, h2, D));
    TRY_GOTO(err, done, be->silu(be, h2, h2, D));
    TRY_GOTO(err, done, rnd(m, h2, D));
    TRY_GOTO(err, done, be->linear(be, out, h2, m->w[2], m->b[2], 1));
    TRY_GOTO(err, done, rnd(m, out, 6 * D));
done:
    free(a);
    free(s);
    return err;
}
