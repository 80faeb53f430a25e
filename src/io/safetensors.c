/* safetensors: an 8-byte little-endian header length, a JSON header
 * {name: {dtype, shape, data_offsets: [begin, end]}, "__metadata__": {...}},
 * then the data block the offsets index into. The reader validates every
 * field before a tensor view is made; the writer produces the same layout. */
#include <cjson/cJSON.h>
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/limits.h"
#include "io/atomic_file.h"
#include "io/weights_internal.h"

typedef struct {
    const char *name;
    wanc_dtype dt;
    int ndim;
    int64_t shape[WANC_MAX_DIMS];
    uint64_t begin, end;
} st_entry;

static int cmp_begin(const void *a, const void *b)
{
    const st_entry *x = a, *y = b;
    if (x->begin != y->begin) return x->begin < y->begin ? -1 : 1;
    return x->end < y->end ? -1 : x->end > y->end;
}

/* A JSON number that is a non-negative integer below 2^53 (exact in a double). */
static bool json_u64(const cJSON *n, uint64_t *out)
{
    if (!cJSON_IsNumber(n)) return false;
    double v = n->valuedouble;
    if (!(v >= 0 && v <= 9007199254740992.0) || v != (double)(uint64_t)v) return false;
    *out = (uint64_t)v;
    return true;
}

/* Parse and validate one header entry. */
static wanc_err parse_entry(const char *path, const cJSON *it, uint64_t data_size, st_entry *e)
{
    const char *name = it->string;
    e->name = name;
    if (!cJSON_IsObject(it)) WANC_FAIL(WANC_EFORMAT, "%s: tensor %s: header entry is not an object", path, name);
    const cJSON *dt = cJSON_GetObjectItemCaseSensitive(it, "dtype");
    const cJSON *sh = cJSON_GetObjectItemCaseSensitive(it, "shape");
    const cJSON *off = cJSON_GetObjectItemCaseSensitive(it, "data_offsets");
    if (!cJSON_IsString(dt)) WANC_FAIL(WANC_EFORMAT, "%s: tensor %s: no dtype", path, name);
    if (!wanc_dtype_parse(dt->valuestring, &e->dt))
        WANC_FAIL(WANC_EFORMAT, "%s: tensor %s: unknown dtype %s", path, name, dt->valuestring);
    if (!cJSON_IsArray(sh)) WANC_FAIL(WANC_EFORMAT, "%s: tensor %s: no shape", path, name);
    int nd = cJSON_GetArraySize(sh);
    if (nd > WANC_MAX_DIMS)
        WANC_FAIL(WANC_EUNSUPPORTED, "%s: tensor %s: %d dims (at most %d supported)", path, name, nd, WANC_MAX_DIMS);
    e->ndim = 0;
    const cJSON *d;
    cJSON_ArrayForEach(d, sh)
    {
        uint64_t v;
        if (!json_u64(d, &v) || v > (uint64_t)INT64_MAX / 2)
            WANC_FAIL(WANC_EFORMAT, "%s: tensor %s: shape holds a value that is not a size", path, name);
        e->shape[e->ndim++] = (int64_t)v;
    }
    if (!cJSON_IsArray(off) || cJSON_GetArraySize(off) != 2 || !json_u64(cJSON_GetArrayItem(off, 0), &e->begin) ||
        !json_u64(cJSON_GetArrayItem(off, 1), &e->end))
        WANC_FAIL(WANC_EFORMAT, "%s: tensor %s: data_offsets is not a pair of offsets", path, name);
    if (e->begin > e->end || e->end > data_size)
        WANC_FAIL(WANC_EFORMAT, "%s: tensor %s: data_offsets [%llu, %llu] out of range (data block is %llu bytes)",
                  path, name, (unsigned long long)e->begin, (unsigned long long)e->end,
                  (unsigned long long)data_size);
    /* numel * size, guarding against overflow. */
    uint64_t bytes = wanc_dtype_size(e->dt);
    for (int i = 0; i < e->ndim; i++) {
        if (e->shape[i] && bytes > UINT64_MAX / (uint64_t)e->shape[i]) {
            bytes = UINT64_MAX;
            break;
        }
        bytes *= (uint64_t)e->shape[i];
    }
    if (bytes != e->end - e->begin) {
        char s[128];
        WANC_FAIL(WANC_EFORMAT, "%s: tensor %s: shape %s of %s needs %llu bytes, data_offsets give %llu", path, name,
                  wanc_shape_str(s, sizeof s, e->ndim, e->shape), dt->valuestring, (unsigned long long)bytes,
                  (unsigned long long)(e->end - e->begin));
    }
    return NULL;
}

wanc_err wanc_safetensors_read(wanc_weights *w, const char *path)
{
    int fi;
    TRY(wanc_store_map_file(w, path, &fi));
    const unsigned char *base = w->files[fi].base;
    uint64_t size = w->files[fi].size;
    if (size < 8)
        WANC_FAIL(WANC_EFORMAT, "%s: truncated: %llu bytes, too short for a safetensors header", path,
                  (unsigned long long)size);
    uint64_t hlen = 0;
    for (int i = 7; i >= 0; i--) hlen = hlen << 8 | base[i];
    if (hlen > WANC_LIMIT_SAFETENSORS_HEADER)
        WANC_FAIL(WANC_EFORMAT, "%s: header length %llu is over the %llu-byte limit of the safetensors format", path,
                  (unsigned long long)hlen, WANC_LIMIT_SAFETENSORS_HEADER);
    if (hlen > size - 8)
        WANC_FAIL(WANC_EFORMAT, "%s: header length %llu larger than the file (%llu bytes): truncated or not safetensors",
                  path, (unsigned long long)hlen, (unsigned long long)size);
    /* Parse a NUL-terminated copy: the mapping has no terminator after the header. */
    char *text = malloc((size_t)hlen + 1);
    if (!text) WANC_FAIL(WANC_ENOMEM, "%s: cannot allocate a %llu-byte header", path, (unsigned long long)hlen);
    memcpy(text, base + 8, (size_t)hlen);
    text[hlen] = 0;
    const char *end = NULL;
    cJSON *j = cJSON_ParseWithLengthOpts(text, (size_t)hlen, &end, false);
    long at = j || !end ? -1 : (long)(end - text); /* where parsing stopped */
    free(text);
    if (!cJSON_IsObject(j)) {
        cJSON_Delete(j);
        if (at >= 0)
            WANC_FAIL(WANC_EFORMAT, "%s: invalid JSON header (%llu bytes; error near byte %ld)", path,
                      (unsigned long long)hlen, at + 8);
        WANC_FAIL(WANC_EFORMAT, "%s: invalid JSON header (%llu bytes; not an object)", path, (unsigned long long)hlen);
    }
    const unsigned char *data = base + 8 + hlen;
    uint64_t data_size = size - 8 - hlen;
    int n = cJSON_GetArraySize(j);
    st_entry *es = calloc((size_t)(n ? n : 1), sizeof *es);
    wanc_err err = es ? NULL : wanc_error(WANC_ENOMEM, "%s: out of memory", path);
    int ne = 0;
    const cJSON *it;
    cJSON_ArrayForEach(it, j)
    {
        if (err) break;
        if (it->string && strcmp(it->string, "__metadata__") == 0) {
            if (!cJSON_IsObject(it) && !cJSON_IsNull(it)) {
                err = wanc_error(WANC_EFORMAT, "%s: __metadata__ is not an object", path);
                break;
            }
            const cJSON *kv;
            cJSON_ArrayForEach(kv, it)
            {
                if (!cJSON_IsString(kv)) {
                    err = wanc_error(WANC_EFORMAT, "%s: __metadata__ value %s is not a string", path, kv->string);
                    break;
                }
                if ((err = wanc_store_add_metadata(w, kv->string, kv->valuestring))) break;
            }
            continue;
        }
        err = parse_entry(path, it, data_size, &es[ne]);
        if (!err) ne++;
    }
    if (!err && ne > 1) {
        /* Byte ranges must not overlap (empty tensors overlap nothing). */
        qsort(es, (size_t)ne, sizeof *es, cmp_begin);
        const st_entry *prev = NULL;
        for (int i = 0; i < ne && !err; i++) {
            if (es[i].begin == es[i].end) continue;
            if (prev && es[i].begin < prev->end)
                err = wanc_error(WANC_EFORMAT, "%s: tensors %s [%llu, %llu] and %s [%llu, %llu] overlap", path,
                                 prev->name, (unsigned long long)prev->begin, (unsigned long long)prev->end,
                                 es[i].name, (unsigned long long)es[i].begin, (unsigned long long)es[i].end);
            prev = &es[i];
        }
    }
    for (int i = 0; i < ne && !err; i++)
        err = wanc_store_add(w, fi, es[i].name, es[i].dt, es[i].ndim, es[i].shape, NULL, data + es[i].begin);
    free(es);
    cJSON_Delete(j);
    return err;
}

/* ---- writing ----------------------------------------------------------------- */

typedef struct {
    const char *const *names;
    const wanc_tensor *tensors;
} write_order_ctx;

static int cmp_index_by_name(const void *a, const void *b, void *ctx)
{
    const write_order_ctx *c = ctx;
    return strcmp(c->names[*(const int *)a], c->names[*(const int *)b]);
}

/* Data order: larger elements first, then by name, so every tensor starts
 * aligned for its dtype (the data block itself starts 8-byte aligned). */
static int cmp_index_by_alignment(const void *a, const void *b, void *ctx)
{
    const write_order_ctx *c = ctx;
    int i = *(const int *)a, j = *(const int *)b;
    size_t si = wanc_dtype_size(c->tensors[i].dtype), sj = wanc_dtype_size(c->tensors[j].dtype);
    if (si != sj) return si > sj ? -1 : 1;
    return strcmp(c->names[i], c->names[j]);
}

static wanc_err write_all(FILE *f, const void *p, size_t n, const char *tmp)
{
    if (n && fwrite(p, 1, n, f) != n) WANC_FAIL(WANC_EIO, "%s: write failed: %s", tmp, strerror(errno));
    return NULL;
}

/* Header JSON: tensors in sorted name order with consecutive offsets. */
static char *build_header(int n, const char *const *names, const wanc_tensor *tensors, const int *order,
                          const uint64_t *offsets, const char *const *metadata, wanc_err *err)
{
    cJSON *root = cJSON_CreateObject();
    if (!root) goto oom;
    if (metadata && metadata[0]) {
        cJSON *m = cJSON_AddObjectToObject(root, "__metadata__");
        if (!m) goto oom;
        for (int i = 0; metadata[i] && metadata[i + 1]; i += 2)
            if (!cJSON_AddStringToObject(m, metadata[i], metadata[i + 1])) goto oom;
    }
    for (int k = 0; k < n; k++) {
        const wanc_tensor *t = &tensors[order[k]];
        cJSON *e = cJSON_AddObjectToObject(root, names[order[k]]);
        if (!e || !cJSON_AddStringToObject(e, "dtype", wanc_dtype_name(t->dtype))) goto oom;
        cJSON *sh = cJSON_AddArrayToObject(e, "shape");
        if (!sh) goto oom;
        for (int d = 0; d < t->ndim; d++) cJSON_AddItemToArray(sh, cJSON_CreateNumber((double)t->shape[d]));
        uint64_t off = offsets[order[k]], nb = wanc_tensor_nbytes(t);
        cJSON *o = cJSON_AddArrayToObject(e, "data_offsets");
        if (!o) goto oom;
        cJSON_AddItemToArray(o, cJSON_CreateNumber((double)off));
        cJSON_AddItemToArray(o, cJSON_CreateNumber((double)(off + nb)));
    }
    char *s = cJSON_PrintUnformatted(root);
    cJSON_Delete(root);
    if (!s) goto oom;
    return s;
oom:
    cJSON_Delete(root);
    *err = wanc_error(WANC_ENOMEM, "safetensors header: out of memory");
    return NULL;
}

wanc_err wanc_safetensors_write(const char *path, int n, const char *const *names, const wanc_tensor *tensors,
                                const char *const *metadata)
{
    if (n < 0) WANC_FAIL(WANC_EINVAL, "%s: negative tensor count", path);
    size_t cnt = (size_t)(n ? n : 1);
    int *order = malloc(cnt * sizeof *order), *data_order = malloc(cnt * sizeof *data_order);
    uint64_t *offsets = malloc(cnt * sizeof *offsets);
    wanc_err err = NULL;
    char *hdr = NULL;
    wanc_atomic_file a = {0};
    FILE *f = NULL;
    const char *tmp = path; /* for messages */
    if (!order || !data_order || !offsets) {
        err = wanc_error(WANC_ENOMEM, "%s: out of memory", path);
        goto done;
    }
    write_order_ctx ctx = {names, tensors};
    for (int i = 0; i < n; i++) order[i] = data_order[i] = i;
    qsort_r(order, (size_t)n, sizeof *order, cmp_index_by_name, &ctx);
    qsort_r(data_order, (size_t)n, sizeof *data_order, cmp_index_by_alignment, &ctx);
    for (int k = 1; k < n; k++)
        if (strcmp(names[order[k - 1]], names[order[k]]) == 0) {
            err = wanc_error(WANC_EINVAL, "%s: tensor %s given twice", path, names[order[k]]);
            goto done;
        }
    uint64_t off = 0;
    for (int k = 0; k < n; k++) {
        offsets[data_order[k]] = off;
        off += wanc_tensor_nbytes(&tensors[data_order[k]]);
    }
    hdr = build_header(n, names, tensors, order, offsets, metadata, &err);
    if (!hdr) {
        err = wanc_error_context(err, "%s", path);
        goto done;
    }
    /* Pad with spaces so the data block starts 8-byte aligned. */
    size_t hl = strlen(hdr), padded = (hl + 7) & ~(size_t)7;
    TRY_GOTO(err, done, wanc_atomic_open(&a, path));
    f = a.f;
    unsigned char len8[8];
    for (int i = 0; i < 8; i++) len8[i] = (unsigned char)((uint64_t)padded >> (8 * i));
    TRY_GOTO(err, done, write_all(f, len8, 8, tmp));
    TRY_GOTO(err, done, write_all(f, hdr, hl, tmp));
    TRY_GOTO(err, done, write_all(f, "        ", padded - hl, tmp));
    for (int k = 0; k < n; k++) {
        const wanc_tensor *t = &tensors[data_order[k]];
        if (wanc_tensor_is_contiguous(t)) {
            TRY_GOTO(err, done, write_all(f, t->data, wanc_tensor_nbytes(t), tmp));
        } else {
            void *c = malloc(wanc_tensor_nbytes(t) + 1);
            if (!c) {
                err = wanc_error(WANC_ENOMEM, "%s: tensor %s: out of memory", path, names[data_order[k]]);
                goto done;
            }
            wanc_store_copy_contiguous(c, t);
            err = write_all(f, c, wanc_tensor_nbytes(t), tmp);
            free(c);
            if (err) goto done;
        }
    }
    err = wanc_atomic_commit(&a);
done:
    if (err) wanc_atomic_abort(&a);
    free(hdr);
    free(order);
    free(data_order);
    free(offsets);
    return err;
}
