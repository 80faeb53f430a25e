/* LoRA at run time: y += s · B (A x) next to a frozen linear.
 *
 * The base weight stays as loaded (mmapped, any dtype); each LoRA term is two
 * thin GEMMs on the layer's input, added to the layer's output before any
 * bf16 rounding. Switching LoRAs means building another wanc_lora_runtime and
 * attaching it; nothing of the model is reloaded.
 */
#include <stdlib.h>
#include <string.h>

#include "lora/lora.h"

wanc_err wanc_lora_delta_apply(const wanc_backend *be, float *out, const float *x, int64_t M,
                               const wanc_lora_delta *d)
{
    for (; d; d = d->next) {
        float *tmp;
        TRY(be->alloc(be, (void **)&tmp, sizeof(float) * (size_t)(M * d->rank)));
        /* tmp[M, rank] = x[M, in] · aᵀ; out[M, out] += scale · tmp · bᵀ */
        wanc_err err = be->gemm(be, tmp, x, d->a, M, d->rank, d->in, 0, 1, 1.0f, 0.0f, d->in, d->in, d->rank);
        if (!err) err = be->gemm(be, out, tmp, d->b, M, d->out, d->rank, 0, 1, d->scale, 1.0f, d->rank, d->rank, d->out);
        be->free(be, tmp);
        if (err) return wanc_error_context(err, "LoRA term (rank %lld)", (long long)d->rank);
    }
    return NULL;
}

typedef struct {
    char *target;
    wanc_lora_delta *head;
} rt_entry;

struct wanc_lora_runtime {
    const wanc_backend *be;
    rt_entry *e;
    int n;
};

static wanc_err upload_f32(const wanc_backend *be, float **out, const wanc_tensor *t)
{
    int64_t n = wanc_tensor_numel(t);
    float *host = malloc(sizeof(float) * (size_t)(n ? n : 1));
    if (!host) WANC_FAIL(WANC_ENOMEM, "LoRA: out of memory");
    wanc_err err = wanc_tensor_to_f32(host, t);
    if (!err) err = be->alloc(be, (void **)out, sizeof(float) * (size_t)n);
    if (!err) err = be->upload(be, *out, host, sizeof(float) * (size_t)n);
    free(host);
    return err;
}

static wanc_err add_term(wanc_lora_runtime *rt, const wanc_lora_layer *ly, float strength)
{
    int i = 0;
    while (i < rt->n && strcmp(rt->e[i].target, ly->target)) i++;
    if (i == rt->n) {
        rt_entry *ne = realloc(rt->e, sizeof *ne * (size_t)(rt->n + 1));
        if (!ne) WANC_FAIL(WANC_ENOMEM, "LoRA: out of memory");
        rt->e = ne;
        rt->e[i] = (rt_entry){strdup(ly->target), NULL};
        if (!rt->e[i].target) WANC_FAIL(WANC_ENOMEM, "LoRA: out of memory");
        rt->n++;
    }
    wanc_lora_delta *d = calloc(1, sizeof *d);
    if (!d) WANC_FAIL(WANC_ENOMEM, "LoRA: out of memory");
    d->rank = ly->rank;
    d->in = wanc_tensor_numel(ly->a) / ly->rank;
    d->out = ly->b->shape[0];
    d->scale = (float)(strength * ly->scale);
    /* append: terms run in the order the LoRAs were given */
    wanc_lora_delta **tail = &rt->e[i].head;
    while (*tail) tail = (wanc_lora_delta **)&(*tail)->next;
    *tail = d;
    TRY(upload_f32(rt->be, &d->a, ly->a));
    TRY(upload_f32(rt->be, &d->b, ly->b));
    return NULL;
}

wanc_err wanc_lora_runtime_build(wanc_lora_runtime **out, const wanc_backend *be, const wanc_weights *model,
                                 const wanc_lora_use *uses, int n)
{
    *out = NULL;
    wanc_lora_runtime *rt = calloc(1, sizeof *rt);
    if (!rt) WANC_FAIL(WANC_ENOMEM, "LoRA: out of memory");
    rt->be = be;
    wanc_err err = NULL;
    for (int u = 0; u < n && !err; u++)
        for (int i = 0; i < uses[u].lora->nlayers && !err; i++) {
            const wanc_lora_layer *ly = &uses[u].lora->layers[i];
            if (wanc_lora_layer_is_runtime(ly, model)) err = add_term(rt, ly, uses[u].strength);
        }
    if (err) {
        wanc_lora_runtime_free(rt);
        return err;
    }
    *out = rt;
    return NULL;
}

void wanc_lora_runtime_free(wanc_lora_runtime *rt)
{
    if (!rt) return;
    for (int i = 0; i < rt->n; i++) {
        const wanc_lora_delta *d = rt->e[i].head;
        while (d) {
            const wanc_lora_delta *next = d->next;
            if (d->a) rt->be->free(rt->be, d->a);
            if (d->b) rt->be->free(rt->be, d->b);
            free((void *)d);
            d = next;
        }
        free(rt->e[i].target);
    }
    free(rt->e);
    free(rt);
}

int wanc_lora_runtime_count(const wanc_lora_runtime *rt) { return rt ? rt->n : 0; }

const char *wanc_lora_runtime_target(const wanc_lora_runtime *rt, int i)
{
    return rt && i >= 0 && i < rt->n ? rt->e[i].target : NULL;
}

const wanc_lora_delta *wanc_lora_runtime_find(const wanc_lora_runtime *rt, const char *weight_name)
{
    for (int i = 0; rt && i < rt->n; i++)
        if (!strcmp(rt->e[i].target, weight_name)) return rt->e[i].head;
    return NULL;
}
