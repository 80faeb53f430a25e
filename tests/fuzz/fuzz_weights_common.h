/* Reading every tensor of an opened store: a view outside its file's mapping
 * faults here (mappings are not ASan-tracked, so each byte is touched). */
#ifndef WANC_FUZZ_WEIGHTS_COMMON_H
#define WANC_FUZZ_WEIGHTS_COMMON_H

#include "io/weights.h"

static inline unsigned fuzz_touch_weights(const wanc_weights *w)
{
    unsigned sum = 0;
    for (int i = 0; i < wanc_weights_count(w); i++) {
        const wanc_tensor *t = wanc_weights_tensor(w, i);
        size_t n = wanc_tensor_nbytes(t);
        const unsigned char *p = t->data;
        for (size_t k = 0; k < n && k < (1u << 20); k++) sum += p[k];
        if (n) sum += p[n - 1];
        (void)wanc_weights_name(w, i);
    }
    return sum;
}

/* Open one file as a weight store and read it all. */
static inline void fuzz_open_weights(const char *path)
{
    wanc_weights *w = NULL;
    wanc_err err = wanc_weights_open(&w, path);
    if (err) {
        wanc_error_free(err);
        return;
    }
    volatile unsigned s = fuzz_touch_weights(w);
    (void)s;
    float *f = NULL;
    /* the dtype conversion of the first tensor */
    if (wanc_weights_count(w) && wanc_tensor_numel(wanc_weights_tensor(w, 0)) <= (1 << 16))
        wanc_error_free(wanc_weights_load_f32(w, wanc_weights_name(w, 0), &f, -1, NULL));
    free(f);
    wanc_weights_close(w);
}

#endif
