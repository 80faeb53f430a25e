/* The split-training cache files (see train_cache.h). */
#include "train/train_cache.h"

#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "core/tensor.h"
#include "io/weights.h"

#define CACHE_MAX_FILES 10000000

void wanc_train_sample_free(wanc_train_sample *s)
{
    free(s->x0);
    free(s->context);
    free(s->y);
    free(s->clip);
    free(s->first);
    memset(s, 0, sizeof *s);
}

static wanc_err to_tensor(wanc_tensor *t, const float *x, int ndim, const int64_t *shape, bool bf16)
{
    TRY(wanc_tensor_alloc(t, bf16 ? WANC_BF16 : WANC_F32, ndim, shape));
    int64_t n = 1;
    for (int i = 0; i < ndim; i++) n *= shape[i];
    if (bf16)
        for (int64_t i = 0; i < n; i++) ((uint16_t *)t->data)[i] = wanc_f32_to_bf16(x[i]);
    else memcpy(t->data, x, (size_t)n * sizeof(float));
    return NULL;
}

wanc_err wanc_train_cache_write(const char *path, const wanc_train_sample *s, bool bf16, const char *prompt,
                                const char *source, int row, int height, int width, int num_frames)
{
    wanc_tensor t[5] = {0};
    const char *names[5] = {"input_latents", "context"};
    int n = 2;
    wanc_err err = to_tensor(&t[0], s->x0, 4, (int64_t[]){s->z, s->F, s->h, s->w}, bf16);
    if (!err) err = to_tensor(&t[1], s->context, 2, (int64_t[]){s->ctx_len, s->ctx_dim}, bf16);
    if (!err && s->y) names[n] = "y", err = to_tensor(&t[n++], s->y, 4, (int64_t[]){s->y_c, s->F, s->h, s->w}, bf16);
    if (!err && s->clip)
        names[n] = "clip_feature", err = to_tensor(&t[n++], s->clip, 2, (int64_t[]){s->clip_len, s->clip_dim}, bf16);
    if (!err && s->first)
        names[n] = "first_frame_latents", err = to_tensor(&t[n++], s->first, 4, (int64_t[]){s->z, 1, s->h, s->w}, bf16);
    char row_s[32], h_s[32], w_s[32], n_s[32];
    snprintf(row_s, sizeof row_s, "%d", row);
    snprintf(h_s, sizeof h_s, "%d", height);
    snprintf(w_s, sizeof w_s, "%d", width);
    snprintf(n_s, sizeof n_s, "%d", num_frames);
    const char *meta[] = {"format", WANC_TRAIN_CACHE_FORMAT, "prompt", prompt, "source", source, "row", row_s,
                          "height", h_s, "width", w_s, "num_frames", n_s, NULL};
    if (!err) err = wanc_safetensors_write(path, n, names, t, meta);
    for (int i = 0; i < 5; i++) wanc_tensor_free(&t[i]);
    return err;
}

wanc_err wanc_train_cache_read(const char *path, wanc_train_sample *s)
{
    memset(s, 0, sizeof *s);
    wanc_weights *w;
    TRY(wanc_weights_open(&w, path));
    wanc_err err = NULL;
    const char *fmt = wanc_weights_metadata(w, "format");
    const wanc_tensor *x0, *ctx;
    if (!fmt || strcmp(fmt, WANC_TRAIN_CACHE_FORMAT)) {
        err = wanc_error(WANC_EFORMAT, "%s: not a wanc training cache file (metadata format '%s', expected '%s'); "
                         "make one with --task sft:data_process", path, fmt ? fmt : "", WANC_TRAIN_CACHE_FORMAT);
        goto done;
    }
    TRY_GOTO(err, done, wanc_weights_get(w, "input_latents", &x0, 4, (int64_t[]){-1, -1, -1, -1}));
    TRY_GOTO(err, done, wanc_weights_get(w, "context", &ctx, 2, (int64_t[]){-1, -1}));
    s->z = x0->shape[0], s->F = x0->shape[1], s->h = x0->shape[2], s->w = x0->shape[3];
    s->ctx_len = ctx->shape[0], s->ctx_dim = ctx->shape[1];
    s->x0 = malloc(sizeof(float) * (size_t)(s->z * s->F * s->h * s->w));
    s->context = malloc(sizeof(float) * (size_t)(s->ctx_len * s->ctx_dim));
    if (!s->x0 || !s->context) {
        err = wanc_error(WANC_ENOMEM, "%s: out of memory", path);
        goto done;
    }
    TRY_GOTO(err, done, wanc_tensor_to_f32(s->x0, x0));
    TRY_GOTO(err, done, wanc_tensor_to_f32(s->context, ctx));
    /* the image units' outputs, when the cache has them */
    const wanc_tensor *y = wanc_weights_find(w, "y"), *clip = wanc_weights_find(w, "clip_feature"),
                      *first = wanc_weights_find(w, "first_frame_latents");
    if (y) {
        TRY_GOTO(err, done, wanc_weights_get(w, "y", &y, 4, (int64_t[]){-1, s->F, s->h, s->w}));
        s->y_c = y->shape[0];
        if (!(s->y = malloc(sizeof(float) * (size_t)wanc_tensor_numel(y)))) goto oom;
        TRY_GOTO(err, done, wanc_tensor_to_f32(s->y, y));
    }
    if (clip) {
        TRY_GOTO(err, done, wanc_weights_get(w, "clip_feature", &clip, 2, (int64_t[]){-1, -1}));
        s->clip_len = clip->shape[0], s->clip_dim = clip->shape[1];
        if (!(s->clip = malloc(sizeof(float) * (size_t)wanc_tensor_numel(clip)))) goto oom;
        TRY_GOTO(err, done, wanc_tensor_to_f32(s->clip, clip));
    }
    if (first) {
        TRY_GOTO(err, done, wanc_weights_get(w, "first_frame_latents", &first, 4, (int64_t[]){s->z, 1, s->h, s->w}));
        if (!(s->first = malloc(sizeof(float) * (size_t)wanc_tensor_numel(first)))) goto oom;
        TRY_GOTO(err, done, wanc_tensor_to_f32(s->first, first));
    }
    goto done;
oom:
    err = wanc_error(WANC_ENOMEM, "%s: out of memory", path);
done:
    wanc_weights_close(w);
    if (err) {
        wanc_train_sample_free(s);
        return wanc_error_context(err, "training cache");
    }
    return NULL;
}

typedef struct {
    char **paths;
    int n, cap;
} path_list;

static bool is_number_name(const char *name, long *num)
{
    char *end;
    if (!(name[0] >= '0' && name[0] <= '9')) return false;
    *num = strtol(name, &end, 10);
    return !strcmp(end, ".safetensors");
}

static int cmp_cache_path(const void *a, const void *b)
{
    const char *x = *(const char *const *)a, *y = *(const char *const *)b;
    const char *sx = strrchr(x, '/'), *sy = strrchr(y, '/');
    size_t dx = sx ? (size_t)(sx - x) : 0, dy = sy ? (size_t)(sy - y) : 0;
    int c = strncmp(x, y, dx < dy ? dx : dy);
    if (c || dx != dy) return c ? c : (dx < dy ? -1 : 1);
    long nx = strtol(sx ? sx + 1 : x, NULL, 10), ny = strtol(sy ? sy + 1 : y, NULL, 10);
    return (nx > ny) - (nx < ny);
}

static wanc_err scan(const char *dir, path_list *l, int depth)
{
    if (depth > 8) return NULL;
    DIR *d = opendir(dir);
    if (!d) WANC_FAIL(WANC_EIO, "training cache folder %s cannot be read", dir);
    wanc_err err = NULL;
    struct dirent *e;
    while (!err && (e = readdir(d))) {
        if (e->d_name[0] == '.') continue; /* also skips unfinished temporary folders */
        size_t len = strlen(dir) + strlen(e->d_name) + 2;
        char *p = malloc(len);
        if (!p) {
            err = wanc_error(WANC_ENOMEM, "training cache: out of memory");
            break;
        }
        snprintf(p, len, "%s/%s", dir, e->d_name);
        struct stat st;
        long num;
        if (stat(p, &st) == 0 && S_ISDIR(st.st_mode)) {
            err = scan(p, l, depth + 1);
            free(p);
        } else if (stat(p, &st) == 0 && S_ISREG(st.st_mode) && is_number_name(e->d_name, &num)) {
            if (l->n >= CACHE_MAX_FILES) err = wanc_error(WANC_EFORMAT, "%s: too many cache files", dir);
            else if (l->n == l->cap) {
                int cap = l->cap ? 2 * l->cap : 64;
                char **np = realloc(l->paths, sizeof *np * (size_t)cap);
                if (!np) err = wanc_error(WANC_ENOMEM, "training cache: out of memory");
                else l->paths = np, l->cap = cap;
            }
            if (err) free(p);
            else l->paths[l->n++] = p;
        } else free(p);
    }
    closedir(d);
    return err;
}

wanc_err wanc_train_cache_list(const char *dir, char ***paths, int *n)
{
    path_list l = {0};
    wanc_err err = scan(dir, &l, 0);
    if (!err && l.n == 0)
        err = wanc_error(WANC_ENOTFOUND, "%s: no cache files (N.safetensors) found; make them with --task "
                         "sft:data_process, or give --dataset_metadata_path", dir);
    if (err) {
        wanc_train_cache_list_free(l.paths, l.n);
        return err;
    }
    qsort(l.paths, (size_t)l.n, sizeof *l.paths, cmp_cache_path);
    *paths = l.paths;
    *n = l.n;
    return NULL;
}

void wanc_train_cache_list_free(char **paths, int n)
{
    for (int i = 0; i < n; i++) free(paths[i]);
    free(paths);
}
