/* `wanc random-model --arch lora --base DIT`: a random LoRA for a DiT
 * checkpoint, for tests and memory measurements (not a trained adapter). */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "io/weights.h"
#include "wanc.h"

static float uniform(uint64_t *s) /* [-1, 1) */
{
    *s = *s * 6364136223846793005ull + 1442695040888963407ull;
    return (float)(*s >> 40) * (2.0f / 16777216.0f) - 1.0f;
}

wanc_err wanc_random_lora(const char *base, const char *path, int rank, const char *dtype, unsigned long long seed)
{
    wanc_dtype dt = !dtype || !strcmp(dtype, "bf16") ? WANC_BF16 : !strcmp(dtype, "f32") ? WANC_F32 : WANC_DTYPE_COUNT;
    if (dt == WANC_DTYPE_COUNT) WANC_FAIL(WANC_EINVAL, "random LoRA: dtype must be bf16 or f32, not '%s'", dtype);
    if (rank <= 0) WANC_FAIL(WANC_EINVAL, "random LoRA: rank must be positive (--rank N)");
    wanc_weights *w;
    TRY(wanc_weights_open(&w, base));
    int n = wanc_weights_count(w), m = 0;
    char **names = calloc((size_t)(2 * n + 1), sizeof *names);
    wanc_tensor *ts = calloc((size_t)(2 * n + 1), sizeof *ts);
    uint64_t s = seed * 2654435761ull + 1;
    wanc_err err = names && ts ? NULL : wanc_error(WANC_ENOMEM, "random LoRA: out of memory");
    for (int i = 0; i < n && !err; i++) {
        const char *name = wanc_weights_name(w, i);
        const wanc_tensor *t = wanc_weights_tensor(w, i);
        size_t len = strlen(name);
        if (t->ndim != 2 || strncmp(name, "blocks.", 7) || len < 7 || strcmp(name + len - 7, ".weight")) continue;
        int64_t out = t->shape[0], in = t->shape[1];
        for (int k = 0; k < 2 && !err; k++) { /* A [rank, in] ~ U/√in, B [out, rank] ~ 0.01·U */
            int64_t shape[2] = {k ? out : rank, k ? rank : in};
            names[m] = malloc(len + 32);
            if (!names[m]) {
                err = wanc_error(WANC_ENOMEM, "random LoRA: out of memory");
                break;
            }
            snprintf(names[m], len + 32, "%.*s.lora_%c.default.weight", (int)(len - 7), name, k ? 'B' : 'A');
            float *v = malloc(sizeof(float) * (size_t)(shape[0] * shape[1]));
            err = v ? wanc_tensor_alloc(&ts[m], dt, 2, shape) : wanc_error(WANC_ENOMEM, "random LoRA: out of memory");
            float amp = k ? 0.01f : 1.0f / sqrtf((float)in);
            for (int64_t j = 0; v && j < shape[0] * shape[1]; j++) v[j] = amp * uniform(&s);
            if (!err) err = wanc_convert(ts[m].data, dt, v, WANC_F32, (size_t)(shape[0] * shape[1]));
            free(v);
            m++;
        }
    }
    if (!err && !m) err = wanc_error(WANC_EFORMAT, "random LoRA: %s has no 2-D blocks.*.weight tensors", base);
    if (!err) err = wanc_safetensors_write(path, m, (const char *const *)names, ts, NULL);
    for (int i = 0; i < m; i++) {
        free(names[i]);
        wanc_tensor_free(&ts[i]);
    }
    free(names);
    free(ts);
    wanc_weights_close(w);
    return err;
}
