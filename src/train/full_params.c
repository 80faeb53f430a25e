/* Full fine-tuning's parameter set (see full_params.h). */
#include "train/full_params.h"

#include <cjson/cJSON.h>
#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dit/dit_params.h"
#include "io/atomic_file.h"

void wanc_full_params_free(wanc_full_params *s)
{
    for (int i = 0; i < s->n; i++) {
        free(s->p[i].m);
        free(s->p[i].v);
    }
    free(s->p);
    free(s->scratch);
    memset(s, 0, sizeof *s);
}

/* The DiT's tensor for p made an owned tensor of the pipeline dtype. A store
 * entry (a view into the mapped file, or another dtype) is replaced in the
 * store by a converted copy; the DiT keeps pointing at the entry. */
static wanc_err own_tensor(wanc_full_param *p, const wanc_tensor *t, wanc_weights *store, wanc_dtype want)
{
    if (t->dtype != WANC_F32 && t->dtype != WANC_BF16 && t->dtype != WANC_F16)
        WANC_FAIL(WANC_EUNSUPPORTED, "full fine-tuning: %s is %s; it trains float weights (F32, BF16, F16), not "
                  "quantized ones", p->name, wanc_dtype_name(t->dtype));
    if (!wanc_tensor_is_contiguous(t))
        WANC_FAIL(WANC_EUNSUPPORTED, "full fine-tuning: %s is not contiguous", p->name);
    const wanc_tensor *entry = wanc_weights_find(store, p->name);
    if (t->owned && t->dtype == want) {
        p->t = (wanc_tensor *)t; /* owned memory (the store's copy or the DiT's converted one): writable */
        if (entry && entry != t) wanc_weights_release_pages(store, p->name, 0, SIZE_MAX); /* the file's copy */
        return NULL;
    }
    if (entry != t)
        WANC_FAIL(WANC_EINTERNAL, "full fine-tuning: %s is neither an owned %s tensor nor a store entry", p->name,
                  wanc_dtype_name(want));
    wanc_tensor copy;
    TRY(wanc_tensor_convert(&copy, t, want));
    wanc_err err = wanc_weights_replace(store, p->name, &copy);
    if (err) {
        wanc_tensor_free(&copy);
        return err;
    }
    p->t = (wanc_tensor *)entry; /* the same entry, now owning a buffer of the pipeline dtype */
    return NULL;
}

wanc_err wanc_full_params_init(wanc_full_params *s, wanc_dit *dit, wanc_weights *store, wanc_dit_trainer *tr,
                               bool bf16)
{
    memset(s, 0, sizeof *s);
    s->bf16 = bf16;
    s->num_heads = wanc_dit_get_config(dit)->num_heads;
    const int n = wanc_dit_trainer_param_count(tr);
    if (n <= 0) WANC_FAIL(WANC_EINTERNAL, "full fine-tuning: the trainer keeps no parameter gradients");
    s->p = calloc((size_t)n, sizeof *s->p);
    if (!s->p) WANC_FAIL(WANC_ENOMEM, "full fine-tuning: %d parameters", n);
    s->n = n;
    const wanc_dtype want = bf16 ? WANC_BF16 : WANC_F32;
    int64_t biggest = 1;
    wanc_err err = NULL;
    for (int i = 0; i < n && !err; i++) {
        wanc_full_param *p = &s->p[i];
        snprintf(p->name, sizeof p->name, "%s", wanc_dit_trainer_param_name(tr, i));
        wanc_dit_param dp;
        int64_t ng = 0;
        TRY_GOTO(err, done, wanc_dit_param_find(dit, p->name, &dp));
        p->grad = wanc_dit_trainer_grad(tr, p->name, &ng);
        p->n = dp.numel;
        if (!p->grad || ng != p->n) {
            err = wanc_error(WANC_EINTERNAL, "full fine-tuning: %s has %lld values but a gradient of %lld", p->name,
                             (long long)p->n, (long long)ng);
            goto done;
        }
        const wanc_tensor *released = wanc_weights_find(store, p->name);
        if (released) {
            p->ndim = released->ndim;
            memcpy(p->shape, released->shape, sizeof p->shape);
        } else p->ndim = 1, p->shape[0] = p->n;
        if (dp.vec) {
            p->vec = dp.vec;
            if (bf16) wanc_round_bf16_inplace(p->vec, (size_t)p->n); /* the pipeline's cast */
        } else TRY_GOTO(err, done, own_tensor(p, dp.tensor, store, want));
        p->m = calloc((size_t)p->n, sizeof(float));
        p->v = calloc((size_t)p->n, sizeof(float));
        if (!p->m || !p->v) {
            err = wanc_error(WANC_ENOMEM, "full fine-tuning: AdamW moments of %s (%lld values)", p->name,
                             (long long)p->n);
            goto done;
        }
        if (p->t && p->t->dtype != WANC_F32 && p->n > biggest) biggest = p->n;
    }
    s->scratch = malloc((size_t)biggest * sizeof(float));
    if (!s->scratch) err = wanc_error(WANC_ENOMEM, "full fine-tuning: scratch of %lld values", (long long)biggest);
done:
    if (err) wanc_full_params_free(s);
    return err;
}

void wanc_full_params_step(wanc_full_params *s, const wanc_adamw *opt, int64_t pending)
{
    const float inv = 1.0f / (float)pending;
    for (int i = 0; i < s->n; i++) {
        wanc_full_param *p = &s->p[i];
        if (pending > 1)
            for (int64_t k = 0; k < p->n; k++) p->grad[k] *= inv;
        if (p->vec) {
            wanc_adamw_update(opt, p->vec, p->grad, p->m, p->v, p->n);
            if (s->bf16) wanc_round_bf16_inplace(p->vec, (size_t)p->n);
        } else if (p->t->dtype == WANC_F32) {
            wanc_adamw_update(opt, p->t->data, p->grad, p->m, p->v, p->n);
        } else { /* BF16: the value in float32, updated, rounded back (round to nearest even) */
            uint16_t *h = p->t->data;
            for (int64_t k = 0; k < p->n; k++) s->scratch[k] = wanc_bf16_to_f32(h[k]);
            wanc_adamw_update(opt, s->scratch, p->grad, p->m, p->v, p->n);
            for (int64_t k = 0; k < p->n; k++) h[k] = wanc_f32_to_bf16(s->scratch[k]);
        }
        memset(p->grad, 0, (size_t)p->n * sizeof(float));
    }
}

/* ---- the DiT file ------------------------------------------------------------------------ */

static wanc_err write_index(const char *path, const char *const *names, const int *shard_of,
                            char (*shard_files)[PATH_MAX], int n, int64_t total)
{
    cJSON *root = cJSON_CreateObject(), *meta = cJSON_AddObjectToObject(root, "metadata");
    cJSON *map = cJSON_AddObjectToObject(root, "weight_map");
    wanc_err err = NULL;
    if (!root || !meta || !map || !cJSON_AddNumberToObject(meta, "total_size", (double)total))
        err = wanc_error(WANC_ENOMEM, "%s", path);
    for (int i = 0; i < n && !err; i++) {
        const char *base = strrchr(shard_files[shard_of[i]], '/');
        if (!cJSON_AddStringToObject(map, names[i], base ? base + 1 : shard_files[shard_of[i]]))
            err = wanc_error(WANC_ENOMEM, "%s", path);
    }
    char *text = err ? NULL : cJSON_Print(root);
    cJSON_Delete(root);
    if (!err && !text) err = wanc_error(WANC_ENOMEM, "%s", path);
    if (!err) {
        wanc_atomic_file a;
        err = wanc_atomic_open(&a, path);
        if (!err) {
            if (fputs(text, a.f) < 0 || fputc('\n', a.f) < 0) {
                wanc_atomic_abort(&a);
                err = wanc_error(WANC_EIO, "%s: write failed", path);
            } else err = wanc_atomic_commit(&a);
        }
    }
    free(text);
    return err;
}

wanc_err wanc_full_params_save(const wanc_full_params *s, const char *dir, const char *file,
                               const char *remove_prefix, int64_t max_shard_bytes)
{
    const int n = s->n;
    char **names = calloc((size_t)n, sizeof *names);
    wanc_tensor *t = calloc((size_t)n, sizeof *t);
    int *shard_of = calloc((size_t)n, sizeof *shard_of);
    char(*files)[PATH_MAX] = NULL;
    const char **sub_names = NULL;
    wanc_tensor *sub = NULL;
    wanc_err err = names && t && shard_of ? NULL : wanc_error(WANC_ENOMEM, "saving the DiT");
    int64_t total = 0, in_shard = 0;
    int shards = 1;
    const wanc_dtype dt = s->bf16 ? WANC_BF16 : WANC_F32;
    const size_t pl = remove_prefix ? strlen(remove_prefix) : 0;
    for (int i = 0; i < n && !err; i++) {
        const wanc_full_param *p = &s->p[i];
        char full[160];
        snprintf(full, sizeof full, "pipe.dit.%s", p->name); /* DiffSynth's name in its training module */
        if (!(names[i] = strdup(pl && !strncmp(full, remove_prefix, pl) ? full + pl : full))) {
            err = wanc_error(WANC_ENOMEM, "saving the DiT");
            break;
        }
        if (p->t) t[i] = wanc_tensor_wrap(p->t->data, p->t->dtype, p->ndim, p->shape);
        else {
            TRY_GOTO(err, done, wanc_tensor_alloc(&t[i], dt, p->ndim, p->shape));
            if (s->bf16)
                for (int64_t k = 0; k < p->n; k++) ((uint16_t *)t[i].data)[k] = wanc_f32_to_bf16(p->vec[k]);
            else memcpy(t[i].data, p->vec, (size_t)p->n * sizeof(float));
        }
        int64_t b = (int64_t)wanc_tensor_nbytes(&t[i]);
        if (in_shard > 0 && in_shard + b > max_shard_bytes) shards++, in_shard = 0;
        shard_of[i] = shards - 1;
        in_shard += b;
        total += b;
    }
    char heads[32], stem[PATH_MAX];
    snprintf(heads, sizeof heads, "%d", s->num_heads);
    const char *meta[] = {"format", "pt", "num_heads", heads, NULL};
    if (err) goto done;
    if (shards == 1) {
        char path[PATH_MAX];
        snprintf(path, sizeof path, "%s/%s", dir, file);
        err = wanc_safetensors_write(path, n, (const char *const *)names, t, meta);
        goto done;
    }
    snprintf(stem, sizeof stem, "%s", file);
    size_t sl = strlen(stem);
    if (sl > 12 && !strcmp(stem + sl - 12, ".safetensors")) stem[sl - 12] = 0;
    files = calloc((size_t)shards, sizeof *files);
    sub_names = calloc((size_t)n, sizeof *sub_names);
    sub = calloc((size_t)n, sizeof *sub);
    if (!files || !sub_names || !sub) {
        err = wanc_error(WANC_ENOMEM, "saving the DiT");
        goto done;
    }
    for (int k = 0; k < shards && !err; k++) {
        snprintf(files[k], PATH_MAX, "%s/%s-%05d-of-%05d.safetensors", dir, stem, k + 1, shards);
        int m = 0;
        for (int i = 0; i < n; i++)
            if (shard_of[i] == k) sub_names[m] = names[i], sub[m++] = t[i];
        err = wanc_safetensors_write(files[k], m, sub_names, sub, meta);
    }
    if (!err) {
        char index[PATH_MAX + 16];
        snprintf(index, sizeof index, "%s/%s.index.json", dir, file);
        err = write_index(index, (const char *const *)names, shard_of, files, n, total);
    }
done:
    for (int i = 0; i < n && t; i++) wanc_tensor_free(&t[i]); /* frees only the converted copies */
    for (int i = 0; i < n && names; i++) free(names[i]);
    free(names), free(t), free(shard_of), free(files), free(sub_names), free(sub);
    return err ? wanc_error_context(err, "saving the DiT to %s/%s", dir, file) : NULL;
}

/* ---- checkpoints --------------------------------------------------------------------------- */

static const char *const ckpt_kind[4] = {"param", "exp_avg", "exp_avg_sq", "grad"};

wanc_err wanc_full_params_ckpt_views(const wanc_full_params *s, bool grads, int *count, char ***names_out,
                                     wanc_tensor **views_out)
{
    const int per = grads ? 4 : 3, n = per * s->n;
    char **names = calloc((size_t)n, sizeof *names);
    wanc_tensor *v = calloc((size_t)n, sizeof *v);
    if (!names || !v) {
        free(names), free(v);
        WANC_FAIL(WANC_ENOMEM, "checkpoint of %d parameters", s->n);
    }
    for (int i = 0; i < s->n; i++) {
        const wanc_full_param *p = &s->p[i];
        const int64_t flat[1] = {p->n};
        v[per * i] = p->t ? wanc_tensor_wrap(p->t->data, p->t->dtype, 1, flat)
                          : wanc_tensor_wrap(p->vec, WANC_F32, 1, flat);
        v[per * i + 1] = wanc_tensor_wrap(p->m, WANC_F32, 1, flat);
        v[per * i + 2] = wanc_tensor_wrap(p->v, WANC_F32, 1, flat);
        if (grads) v[per * i + 3] = wanc_tensor_wrap(p->grad, WANC_F32, 1, flat);
        for (int k = 0; k < per; k++)
            if (asprintf(&names[per * i + k], "%s/%s", ckpt_kind[k], p->name) < 0) {
                names[per * i + k] = NULL;
                for (int j = 0; j < n; j++) free(names[j]);
                free(names), free(v);
                WANC_FAIL(WANC_ENOMEM, "checkpoint names");
            }
    }
    *count = n, *names_out = names, *views_out = v;
    return NULL;
}

wanc_err wanc_full_params_ckpt_load(wanc_full_params *s, const wanc_weights *w, const char *path, bool grads)
{
    for (int i = 0; i < s->n; i++) {
        wanc_full_param *p = &s->p[i];
        void *dst[4] = {p->t ? p->t->data : (void *)p->vec, p->m, p->v, p->grad};
        wanc_dtype want[4] = {p->t ? p->t->dtype : WANC_F32, WANC_F32, WANC_F32, WANC_F32};
        for (int k = 0; k < (grads ? 4 : 3); k++) {
            char name[160];
            const wanc_tensor *t;
            snprintf(name, sizeof name, "%s/%s", ckpt_kind[k], p->name);
            TRY(wanc_weights_get(w, name, &t, 1, (int64_t[]){p->n}));
            if (t->dtype != want[k])
                WANC_FAIL(WANC_EFORMAT, "checkpoint %s: %s is %s, this run trains it as %s", path, name,
                          wanc_dtype_name(t->dtype), wanc_dtype_name(want[k]));
            memcpy(dst[k], t->data, wanc_tensor_nbytes(t));
        }
    }
    return NULL;
}
