/* Fusing LoRAs into a model's weights.
 *
 * One merge per target weight: its rows are taken in chunks (a few MB of
 * float32), every LoRA term on it is added in float32 (W + Σ strength·ΔW, the
 * low-rank ones as one GEMM with beta = 1), and the chunk is rounded once to
 * the stored dtype into a new owned tensor that replaces the stored one. The
 * chunk's source pages are released as soon as they are read, so resident
 * memory grows by the merged copies only, never by a float32 weight.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "lora/lora.h"

typedef struct {
    const wanc_lora_layer *layer;
    float strength;
    int order;
} fuse_item;

static int cmp_item(const void *a, const void *b)
{
    const fuse_item *x = a, *y = b;
    int c = strcmp(x->layer->target, y->layer->target);
    return c ? c : x->order - y->order;
}

#define CHUNK_FLOATS (1 << 20) /* 4 MB of float32 per chunk */

typedef struct {
    float *a, *b; /* low-rank: A [rank, cols], B [rows, rank] in float32 */
} term_f32;

static wanc_err to_f32(float **out, const wanc_tensor *t)
{
    *out = malloc(sizeof(float) * (size_t)(wanc_tensor_numel(t) ? wanc_tensor_numel(t) : 1));
    if (!*out) WANC_FAIL(WANC_ENOMEM, "LoRA fuse: out of memory");
    return wanc_tensor_to_f32(*out, t);
}

/* Merge items[0..n) (one target) into a new tensor replacing the stored one. */
static wanc_err merge_one(wanc_weights *model, const fuse_item *items, int n)
{
    const char *name = items[0].layer->target;
    const wanc_tensor *w = wanc_weights_find(model, name);
    if (!w) WANC_FAIL(WANC_ENOTFOUND, "LoRA fuse: %s: no tensor %s", wanc_weights_describe(model), name);
    if (!wanc_dtype_is_float(w->dtype) || !wanc_tensor_is_contiguous(w))
        WANC_FAIL(WANC_EUNSUPPORTED, "LoRA fuse: %s is %s; LoRAs fuse into contiguous float weights", name,
                  wanc_dtype_name(w->dtype));
    const wanc_backend *be = wanc_backend_cpu();
    int64_t rows = w->ndim ? w->shape[0] : 1, cols = rows ? wanc_tensor_numel(w) / rows : 0;
    int64_t chunk = cols > 0 && cols < CHUNK_FLOATS ? CHUNK_FLOATS / cols : 1;
    if (chunk > rows) chunk = rows > 0 ? rows : 1; /* a small tensor needs no 4 MB buffers */
    size_t es = wanc_dtype_size(w->dtype);
    wanc_tensor merged = {0};
    term_f32 *terms = calloc((size_t)n, sizeof *terms);
    float *buf = malloc(sizeof(float) * (size_t)(chunk * cols + 1));
    float *dbuf = malloc(sizeof(float) * (size_t)(chunk * cols + 1));
    wanc_err err = NULL;
    if (!terms || !buf || !dbuf) TRY_GOTO(err, done, wanc_error(WANC_ENOMEM, "LoRA fuse: out of memory"));
    TRY_GOTO(err, done, wanc_tensor_alloc(&merged, w->dtype, w->ndim, w->shape));
    for (int i = 0; i < n; i++)
        if (items[i].layer->kind == WANC_LORA_LOWRANK) {
            TRY_GOTO(err, done, to_f32(&terms[i].a, items[i].layer->a));
            TRY_GOTO(err, done, to_f32(&terms[i].b, items[i].layer->b));
        }
    /* the source as [rows, cols] (a 0-d or 1-d tensor is one row or column) */
    wanc_tensor src2 = wanc_tensor_wrap(w->data, w->dtype, 2, (int64_t[]){rows, cols});
    for (int64_t r0 = 0; r0 < rows; r0 += chunk) {
        int64_t h = rows - r0 < chunk ? rows - r0 : chunk;
        wanc_tensor part = wanc_tensor_narrow(&src2, 0, r0, h);
        TRY_GOTO(err, done, wanc_tensor_to_f32(buf, &part));
        wanc_weights_release_pages(model, name, (size_t)(r0 * cols) * es, (size_t)(h * cols) * es);
        for (int i = 0; i < n; i++) {
            const wanc_lora_layer *ly = items[i].layer;
            if (ly->kind == WANC_LORA_LOWRANK) {
                /* buf[h, cols] += s·scale · B[r0:r0+h, rank] · A[rank, cols] */
                float alpha = (float)(items[i].strength * ly->scale);
                TRY_GOTO(err, done, be->gemm(be, buf, terms[i].b + r0 * ly->rank, terms[i].a, h, cols, ly->rank, 0, 0,
                                             alpha, 1.0f, ly->rank, cols, cols));
            } else {
                wanc_tensor d2 = wanc_tensor_wrap(ly->a->data, ly->a->dtype, 2, (int64_t[]){rows, cols});
                wanc_tensor dpart = wanc_tensor_narrow(&d2, 0, r0, h);
                TRY_GOTO(err, done, wanc_tensor_to_f32(dbuf, &dpart));
                for (int64_t k = 0; k < h * cols; k++) buf[k] += items[i].strength * dbuf[k];
            }
        }
        TRY_GOTO(err, done, wanc_convert((char *)merged.data + (size_t)(r0 * cols) * es, w->dtype, buf, WANC_F32,
                                         (size_t)(h * cols)));
    }
    err = wanc_weights_replace(model, name, &merged);
done:
    if (terms)
        for (int i = 0; i < n; i++) free(terms[i].a), free(terms[i].b);
    free(terms);
    free(buf);
    free(dbuf);
    wanc_tensor_free(&merged);
    return err ? wanc_error_context(err, "fusing LoRA into %s", name) : NULL;
}

wanc_err wanc_lora_fuse(wanc_weights *model, const wanc_lora_use *uses, int n, wanc_lora_fuse_what what, int *fused)
{
    if (fused) *fused = 0;
    int total = 0;
    for (int u = 0; u < n; u++) total += uses[u].lora->nlayers;
    fuse_item *items = calloc((size_t)(total ? total : 1), sizeof *items);
    if (!items) WANC_FAIL(WANC_ENOMEM, "LoRA fuse: out of memory");
    int m = 0;
    for (int u = 0; u < n; u++)
        for (int i = 0; i < uses[u].lora->nlayers; i++) {
            const wanc_lora_layer *ly = &uses[u].lora->layers[i];
            if (!ly->target) continue; /* unmatched (allowed) */
            if (what == WANC_LORA_FUSE_ALL_BUT_LINEAR && wanc_lora_layer_is_runtime(ly, model)) continue;
            items[m] = (fuse_item){ly, uses[u].strength, m};
            m++;
        }
    qsort(items, (size_t)m, sizeof *items, cmp_item);
    wanc_err err = NULL;
    int groups = 0;
    for (int i = 0; i < m && !err;) {
        int j = i + 1;
        while (j < m && !strcmp(items[j].layer->target, items[i].layer->target)) j++;
        err = merge_one(model, items + i, j - i);
        groups++;
        i = j;
    }
    free(items);
    if (!err && fused) *fused = groups;
    return err;
}
