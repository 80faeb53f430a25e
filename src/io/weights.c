/* The weight store: opens checkpoint files of any supported format, keeps
 * their tensors sorted by name (byte order) for binary-search lookup, and
 * owns the read-only mappings the tensors point into. */
#include <cjson/cJSON.h>
#include <errno.h>
#include <fcntl.h>
#include <glob.h>
#include <libgen.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "io/read_file.h"
#include "io/weights_internal.h"

/* ---- files --------------------------------------------------------------- */

wanc_err wanc_store_map_file(wanc_weights *w, const char *path, int *index)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) WANC_FAIL(WANC_EIO, "%s: cannot open: %s", path, strerror(errno));
    struct stat st;
    if (fstat(fd, &st) != 0) {
        int e = errno;
        close(fd);
        WANC_FAIL(WANC_EIO, "%s: cannot stat: %s", path, strerror(e));
    }
    if (S_ISDIR(st.st_mode)) {
        close(fd);
        WANC_FAIL(WANC_EIO, "%s: is a directory, not a checkpoint file", path);
    }
    if (!S_ISREG(st.st_mode)) {
        close(fd);
        WANC_FAIL(WANC_EIO, "%s: not a regular file", path);
    }
    if (st.st_size == 0) {
        close(fd);
        WANC_FAIL(WANC_EFORMAT, "%s: empty file", path);
    }
    void *base = mmap(NULL, (size_t)st.st_size, PROT_READ, MAP_PRIVATE, fd, 0);
    int e = errno;
    close(fd); /* the mapping keeps the file alive */
    if (base == MAP_FAILED) WANC_FAIL(WANC_EIO, "%s: cannot map %lld bytes: %s", path, (long long)st.st_size, strerror(e));
    if (w->nfiles == w->files_cap) {
        int cap = w->files_cap ? 2 * w->files_cap : 4;
        wanc_mapped_file *f = realloc(w->files, (size_t)cap * sizeof *f);
        if (!f) {
            munmap(base, (size_t)st.st_size);
            WANC_FAIL(WANC_ENOMEM, "%s: out of memory", path);
        }
        w->files = f;
        w->files_cap = cap;
    }
    char *p = strdup(path);
    if (!p) {
        munmap(base, (size_t)st.st_size);
        WANC_FAIL(WANC_ENOMEM, "%s: out of memory", path);
    }
    w->files[w->nfiles] = (wanc_mapped_file){p, base, (size_t)st.st_size};
    *index = w->nfiles++;
    return NULL;
}

/* ---- entries ------------------------------------------------------------- */

void wanc_store_copy_contiguous(void *dst, const wanc_tensor *src)
{
    size_t es = wanc_dtype_size(src->dtype), n = (size_t)wanc_tensor_numel(src);
    if (wanc_tensor_is_contiguous(src) || !es) { /* block types are always stored contiguous */
        memcpy(dst, src->data, wanc_tensor_nbytes(src));
        return;
    }
    /* Walk the index space, innermost dim fastest; bytes are copied, so any dtype works. */
    int64_t idx[WANC_MAX_DIMS] = {0};
    for (size_t k = 0; k < n; k++) {
        int64_t off = 0;
        for (int d = 0; d < src->ndim; d++) off += idx[d] * src->stride[d];
        memcpy((char *)dst + k * es, (const char *)src->data + (size_t)off * es, es);
        for (int d = src->ndim - 1; d >= 0; d--) {
            if (++idx[d] < src->shape[d]) break;
            idx[d] = 0;
        }
    }
}

wanc_err wanc_store_add(wanc_weights *w, int file, const char *name, wanc_dtype dt, int ndim, const int64_t *shape,
                        const int64_t *stride, const void *data)
{
    const char *path = w->files[file].path;
    if (ndim < 0 || ndim > WANC_MAX_DIMS)
        WANC_FAIL(WANC_EUNSUPPORTED, "%s: tensor %s has %d dims (at most %d supported)", path, name, ndim,
                  WANC_MAX_DIMS);
    if (w->n == w->cap) {
        int cap = w->cap ? 2 * w->cap : 64;
        wanc_weight_entry *e = realloc(w->entries, (size_t)cap * sizeof *e);
        if (!e) WANC_FAIL(WANC_ENOMEM, "%s: out of memory", path);
        w->entries = e;
        w->cap = cap;
    }
    wanc_weight_entry *e = &w->entries[w->n];
    memset(e, 0, sizeof *e);
    e->file = file;
    e->t = wanc_tensor_wrap((void *)data, dt, ndim, shape);
    if (stride)
        for (int i = 0; i < ndim; i++) e->t.stride[i] = stride[i];
    size_t es = wanc_dtype_size(dt);
    bool aligned = !es || ((uintptr_t)data % es) == 0; /* block types are read bytewise */
    if (!aligned || !wanc_tensor_is_contiguous(&e->t)) {
        /* The layout does not allow a view: one contiguous copy in the stored dtype. */
        wanc_tensor src = e->t, dst;
        TRYC(wanc_tensor_alloc(&dst, dt, ndim, shape), "%s: tensor %s", path, name);
        wanc_store_copy_contiguous(dst.data, &src);
        e->t = dst;
    }
    e->name = strdup(name);
    if (!e->name) {
        wanc_tensor_free(&e->t);
        WANC_FAIL(WANC_ENOMEM, "%s: out of memory", path);
    }
    w->n++;
    return NULL;
}

wanc_err wanc_store_add_metadata(wanc_weights *w, const char *key, const char *value)
{
    for (int i = 0; i < w->nmeta; i++)
        if (strcmp(w->meta[2 * i], key) == 0) return NULL;
    char **m = realloc(w->meta, (size_t)(w->nmeta + 1) * 2 * sizeof *m);
    if (!m) WANC_FAIL(WANC_ENOMEM, "metadata: out of memory");
    w->meta = m;
    m[2 * w->nmeta] = strdup(key);
    m[2 * w->nmeta + 1] = strdup(value);
    w->nmeta++;
    if (!m[2 * w->nmeta - 2] || !m[2 * w->nmeta - 1]) WANC_FAIL(WANC_ENOMEM, "metadata: out of memory");
    return NULL;
}

static int cmp_entry(const void *a, const void *b)
{
    return strcmp(((const wanc_weight_entry *)a)->name, ((const wanc_weight_entry *)b)->name);
}

/* Sort by name and reject duplicates (naming both files). */
static wanc_err store_finish(wanc_weights *w)
{
    if (w->n > 1) qsort(w->entries, (size_t)w->n, sizeof *w->entries, cmp_entry);
    for (int i = 1; i < w->n; i++)
        if (strcmp(w->entries[i - 1].name, w->entries[i].name) == 0) {
            const char *a = w->files[w->entries[i - 1].file].path, *b = w->files[w->entries[i].file].path;
            if (strcmp(a, b) == 0)
                WANC_FAIL(WANC_EFORMAT, "%s: tensor %s appears twice", a, w->entries[i].name);
            WANC_FAIL(WANC_EFORMAT, "tensor %s appears in both %s and %s", w->entries[i].name, a, b);
        }
    /* Description: the path, or "N files: first, ...". */
    free(w->description);
    w->description = NULL;
    if (w->nfiles == 1) {
        w->description = strdup(w->files[0].path);
    } else {
        size_t len = 32;
        for (int i = 0; i < w->nfiles; i++) len += strlen(w->files[i].path) + 2;
        w->description = malloc(len);
        if (w->description) {
            int off = snprintf(w->description, len, "%d files: ", w->nfiles);
            for (int i = 0; i < w->nfiles; i++)
                off += snprintf(w->description + off, len - (size_t)off, "%s%s", i ? ", " : "", w->files[i].path);
        }
    }
    if (!w->description) WANC_FAIL(WANC_ENOMEM, "out of memory");
    return NULL;
}

/* ---- opening --------------------------------------------------------------- */

static bool has_suffix(const char *s, const char *suf)
{
    size_t a = strlen(s), b = strlen(suf);
    return a >= b && strcmp(s + a - b, suf) == 0;
}

/* Read the first bytes of a file to tell the formats apart. */
static wanc_err sniff(const char *path, unsigned char *magic, size_t cap, size_t *got)
{
    struct stat st;
    if (stat(path, &st) != 0) WANC_FAIL(WANC_EIO, "%s: cannot open: %s", path, strerror(errno));
    if (S_ISDIR(st.st_mode)) WANC_FAIL(WANC_EIO, "%s: is a directory, not a checkpoint file", path);
    FILE *f = fopen(path, "rb");
    if (!f) WANC_FAIL(WANC_EIO, "%s: cannot open: %s", path, strerror(errno));
    *got = fread(magic, 1, cap, f);
    fclose(f);
    return NULL;
}

static wanc_err read_index_json(wanc_weights *w, const char *path);

/* One concrete file (no glob) into the store. */
static wanc_err add_file(wanc_weights *w, const char *path)
{
    if (has_suffix(path, ".json")) return read_index_json(w, path);
    /* A safetensors header length can begin with the bytes "PK" or 0x80, so
     * the JSON brace after it decides first. */
    unsigned char m[9] = {0};
    size_t got = 0;
    TRY(sniff(path, m, sizeof m, &got));
    if (got == 9 && m[8] == '{') return wanc_safetensors_read(w, path);
    if (got >= 4 && !memcmp(m, "GGUF", 4)) return wanc_gguf_read(w, path);
    if (got >= 4 && m[0] == 'P' && m[1] == 'K' && (m[2] == 3 || m[2] == 5) && (m[3] == 4 || m[3] == 6))
        return wanc_pth_read(w, path);
    if (got >= 2 && m[0] == 0x80 && m[1] >= 2 && m[1] <= 5) /* pickle PROTO: torch < 1.6 wrote bare pickles */
        WANC_FAIL(WANC_EUNSUPPORTED, "%s: legacy PyTorch format is unsupported, re-save with torch >= 1.6", path);
    return wanc_safetensors_read(w, path);
}

/* `*.safetensors.index.json`: open every shard named in weight_map (relative to the index). */
static wanc_err read_index_json(wanc_weights *w, const char *path)
{
    char *buf;
    size_t len;
    TRY(wanc_read_file(path, (size_t)1 << 30, "not a safetensors index", &buf, &len));
    cJSON *j = cJSON_ParseWithLength(buf, len);
    free(buf);
    const cJSON *map = j ? cJSON_GetObjectItemCaseSensitive(j, "weight_map") : NULL;
    if (!cJSON_IsObject(map)) {
        cJSON_Delete(j);
        WANC_FAIL(WANC_EFORMAT, "%s: %s", path, j ? "no weight_map object" : "invalid JSON");
    }
    char dirbuf[PATH_MAX];
    snprintf(dirbuf, sizeof dirbuf, "%s", path);
    const char *dir = dirname(dirbuf);
    /* Unique shard names, in first-seen order. */
    const char **shards = NULL;
    int nshards = 0;
    wanc_err err = NULL;
    const cJSON *it;
    cJSON_ArrayForEach(it, map)
    {
        if (!cJSON_IsString(it)) {
            err = wanc_error(WANC_EFORMAT, "%s: weight_map entry %s is not a file name", path,
                             it->string ? it->string : "?");
            break;
        }
        bool seen = false;
        for (int i = 0; i < nshards && !seen; i++) seen = strcmp(shards[i], it->valuestring) == 0;
        if (seen) continue;
        const char **s = realloc(shards, (size_t)(nshards + 1) * sizeof *s);
        if (!s) {
            err = wanc_error(WANC_ENOMEM, "%s: out of memory", path);
            break;
        }
        shards = s;
        shards[nshards++] = it->valuestring;
    }
    for (int i = 0; i < nshards && !err; i++) {
        char p[PATH_MAX];
        if (shards[i][0] == '/') snprintf(p, sizeof p, "%s", shards[i]);
        else snprintf(p, sizeof p, "%s/%s", dir, shards[i]);
        err = wanc_safetensors_read(w, p);
        if (err) wanc_error_context(err, "%s", path);
    }
    free(shards);
    cJSON_Delete(j);
    return err;
}

static wanc_err add_path(wanc_weights *w, const char *path)
{
    struct stat st;
    if (!strpbrk(path, "*?[") || stat(path, &st) == 0) return add_file(w, path); /* an existing name is literal */
    glob_t g;
    int rc = glob(path, 0, NULL, &g);
    if (rc == GLOB_NOMATCH) WANC_FAIL(WANC_ENOTFOUND, "%s: no file matches", path);
    if (rc != 0) WANC_FAIL(WANC_EIO, "%s: glob failed", path);
    wanc_err err = NULL;
    for (size_t i = 0; i < g.gl_pathc && !err; i++) err = add_file(w, g.gl_pathv[i]); /* glob sorts */
    globfree(&g);
    return err;
}

static int find_exact(const wanc_weights *w, const char *prefix, const char *name);

/* ComfyUI "scaled fp8": `<layer>.weight` (fp8) holds w / s and the 0-d
 * `<layer>.scale_weight` (newer ComfyUI: `.weight_scale`) holds s. The scale
 * is attached to the weight's tensor, which stays fp8 in memory; every
 * conversion to float32 multiplies by it. */
static wanc_err attach_fp8_scales(wanc_weights *w)
{
    static const char *const suffixes[] = {".scale_weight", ".weight_scale"};
    for (int i = 0; i < w->n; i++) {
        const char *name = w->entries[i].name;
        for (size_t k = 0; k < sizeof suffixes / sizeof *suffixes; k++) {
            size_t nl = strlen(name), sl = strlen(suffixes[k]);
            if (nl <= sl || strcmp(name + nl - sl, suffixes[k])) continue;
            char wname[1024];
            if (nl - sl + 8 > sizeof wname) continue;
            snprintf(wname, sizeof wname, "%.*s.weight", (int)(nl - sl), name);
            int j = find_exact(w, "", wname);
            if (j < 0) continue;
            wanc_tensor *t = &w->entries[j].t;
            const wanc_tensor *s = &w->entries[i].t;
            if (t->dtype != WANC_F8_E4M3 && t->dtype != WANC_F8_E5M2) continue; /* only fp8 weights are scaled */
            float v;
            if (wanc_tensor_numel(s) != 1 || !wanc_dtype_is_float(s->dtype) || wanc_dtype_is_quant(s->dtype))
                WANC_FAIL(WANC_EFORMAT, "%s: %s must hold one float (the scale of %s), it is %s with %lld values",
                          w->files[w->entries[i].file].path, name, wname, wanc_dtype_name(s->dtype),
                          (long long)wanc_tensor_numel(s));
            TRY(wanc_tensor_to_f32(&v, s));
            if (!(v != 0.0f) || v != v)
                WANC_FAIL(WANC_EFORMAT, "%s: %s is %g, not a usable scale for %s", w->files[w->entries[i].file].path,
                          name, (double)v, wname);
            t->scale = v;
        }
    }
    return NULL;
}

wanc_err wanc_weights_open_files(wanc_weights **out, const char *const *paths, int npaths)
{
    *out = NULL;
    if (npaths <= 0) WANC_FAIL(WANC_EINVAL, "no checkpoint files given");
    wanc_weights *w = calloc(1, sizeof *w);
    if (!w) WANC_FAIL(WANC_ENOMEM, "out of memory");
    wanc_err err = NULL;
    for (int i = 0; i < npaths && !err; i++) err = add_path(w, paths[i]);
    if (!err) err = store_finish(w);
    if (!err) err = attach_fp8_scales(w);
    if (err) {
        wanc_weights_close(w);
        return err;
    }
    *out = w;
    return NULL;
}

wanc_err wanc_weights_open(wanc_weights **out, const char *path)
{
    return wanc_weights_open_files(out, &path, 1);
}

void wanc_weights_close(wanc_weights *w)
{
    if (!w) return;
    for (int i = 0; i < w->n; i++) {
        free(w->entries[i].name);
        wanc_tensor_free(&w->entries[i].t);
    }
    free(w->entries);
    for (int i = 0; i < w->nfiles; i++) {
        munmap((void *)w->files[i].base, w->files[i].size);
        free(w->files[i].path);
    }
    free(w->files);
    for (int i = 0; i < 2 * w->nmeta; i++) free(w->meta[i]);
    free(w->meta);
    free(w->description);
    free(w);
}

/* ---- queries --------------------------------------------------------------- */

int wanc_weights_count(const wanc_weights *w) { return w ? w->n : 0; }

const char *wanc_weights_name(const wanc_weights *w, int i)
{
    return w && i >= 0 && i < w->n ? w->entries[i].name : NULL;
}

const wanc_tensor *wanc_weights_tensor(const wanc_weights *w, int i)
{
    return w && i >= 0 && i < w->n ? &w->entries[i].t : NULL;
}

const char *wanc_weights_file_of(const wanc_weights *w, int i)
{
    return w && i >= 0 && i < w->n ? w->files[w->entries[i].file].path : NULL;
}

const char *wanc_weights_describe(const wanc_weights *w) { return w && w->description ? w->description : ""; }

/* Binary search for an exact name, optionally as prefix + name; -1 when absent. */
static int find_exact(const wanc_weights *w, const char *prefix, const char *name)
{
    size_t pl = strlen(prefix);
    int lo = 0, hi = w->n - 1;
    while (lo <= hi) {
        int mid = lo + (hi - lo) / 2;
        const char *s = w->entries[mid].name;
        int c = strncmp(s, prefix, pl);
        if (c == 0) c = strcmp(s + pl, name);
        if (c == 0) return mid;
        if (c < 0) lo = mid + 1;
        else hi = mid - 1;
    }
    return -1;
}

static const char *const wrapper_prefixes[] = {"model.", "diffusion_model.", "model.diffusion_model."};

/* Index of `name`: exact first, then with the query's own wrapper prefix
 * stripped and/or a wrapper prefix added on the stored side, so
 * "blocks.0.x", "model.blocks.0.x" and "model.diffusion_model.blocks.0.x"
 * all find any of them. */
static int find_index(const wanc_weights *w, const char *name)
{
    if (!w || !name) return -1;
    enum { NP = sizeof wrapper_prefixes / sizeof *wrapper_prefixes };
    const char *bare[NP + 1];
    int nb = 0;
    bare[nb++] = name;
    for (int p = NP - 1; p >= 0; p--) { /* longest prefix first */
        size_t pl = strlen(wrapper_prefixes[p]);
        if (strncmp(name, wrapper_prefixes[p], pl) == 0) bare[nb++] = name + pl;
    }
    for (int q = 0; q < nb; q++) {
        int i = find_exact(w, "", bare[q]);
        if (i >= 0) return i;
        for (int p = 0; p < NP; p++)
            if ((i = find_exact(w, wrapper_prefixes[p], bare[q])) >= 0) return i;
    }
    return -1;
}

const wanc_tensor *wanc_weights_find(const wanc_weights *w, const char *name)
{
    int i = find_index(w, name);
    return i >= 0 ? &w->entries[i].t : NULL;
}

bool wanc_weights_has(const wanc_weights *w, const char *name) { return find_index(w, name) >= 0; }

wanc_err wanc_weights_get(const wanc_weights *w, const char *name, const wanc_tensor **out, int ndim,
                          const int64_t *shape)
{
    *out = NULL;
    int i = find_index(w, name);
    if (i < 0) WANC_FAIL(WANC_ENOTFOUND, "%s: no tensor %s", wanc_weights_describe(w), name);
    const wanc_tensor *t = &w->entries[i].t;
    if (ndim >= 0 && !wanc_tensor_shape_is(t, ndim, shape)) {
        char a[128], b[128];
        WANC_FAIL(WANC_ESHAPE, "%s: tensor %s: shape %s, expected %s", w->files[w->entries[i].file].path,
                  w->entries[i].name, wanc_shape_str(a, sizeof a, t->ndim, t->shape),
                  wanc_shape_str(b, sizeof b, ndim, shape));
    }
    *out = t;
    return NULL;
}

wanc_err wanc_weights_getf(const wanc_weights *w, const wanc_tensor **out, int ndim, const int64_t *shape,
                           const char *fmt, ...)
{
    char name[512];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(name, sizeof name, fmt, ap);
    va_end(ap);
    if (n < 0 || (size_t)n >= sizeof name) {
        *out = NULL;
        WANC_FAIL(WANC_EINVAL, "tensor name too long (%d bytes)", n);
    }
    return wanc_weights_get(w, name, out, ndim, shape);
}

wanc_err wanc_weights_load_f32(const wanc_weights *w, const char *name, float **out, int ndim, const int64_t *shape)
{
    *out = NULL;
    const wanc_tensor *t;
    TRY(wanc_weights_get(w, name, &t, ndim, shape));
    size_t n = (size_t)wanc_tensor_numel(t);
    float *buf = malloc((n ? n : 1) * sizeof *buf);
    if (!buf) WANC_FAIL(WANC_ENOMEM, "%s: tensor %s: cannot allocate %zu floats", wanc_weights_describe(w), name, n);
    wanc_err err = wanc_tensor_to_f32(buf, t);
    if (err) {
        free(buf);
        return wanc_error_context(err, "%s: tensor %s", wanc_weights_describe(w), name);
    }
    *out = buf;
    return NULL;
}

void wanc_weights_release_pages(wanc_weights *w, const char *name, size_t offset, size_t nbytes)
{
    int i = find_index(w, name);
    if (i < 0) return;
    const wanc_weight_entry *e = &w->entries[i];
    const wanc_mapped_file *f = &w->files[e->file];
    const unsigned char *p = e->t.data;
    if (e->t.owned || p < f->base || p >= f->base + f->size) return;
    /* whole pages inside the tensor's bytes; neighbours' pages stay */
    size_t size = wanc_tensor_nbytes(&e->t);
    if (offset >= size) return;
    if (nbytes > size - offset) nbytes = size - offset;
    uintptr_t page = (uintptr_t)sysconf(_SC_PAGESIZE);
    uintptr_t lo = ((uintptr_t)p + offset + page - 1) & ~(page - 1), hi = ((uintptr_t)p + offset + nbytes) & ~(page - 1);
    if (hi > lo) madvise((void *)lo, hi - lo, MADV_DONTNEED);
}

wanc_err wanc_weights_replace(wanc_weights *w, const char *name, wanc_tensor *t)
{
    int i = find_index(w, name);
    if (i < 0) WANC_FAIL(WANC_ENOTFOUND, "%s: no tensor %s to replace", wanc_weights_describe(w), name);
    wanc_weight_entry *e = &w->entries[i];
    if (!t->owned || !wanc_tensor_shape_is(&e->t, t->ndim, t->shape) || t->ndim != e->t.ndim) {
        char a[64], b[64];
        WANC_FAIL(WANC_ESHAPE, "%s: replacing %s %s by %s%s", wanc_weights_describe(w), name,
                  wanc_shape_str(a, sizeof a, e->t.ndim, e->t.shape), wanc_shape_str(b, sizeof b, t->ndim, t->shape),
                  t->owned ? "" : " (not an owned tensor)");
    }
    wanc_weights_release_pages(w, name, 0, SIZE_MAX);
    wanc_tensor_free(&e->t);
    e->t = *t;
    memset(t, 0, sizeof *t);
    return NULL;
}

const char *wanc_weights_metadata(const wanc_weights *w, const char *key)
{
    if (!w || !key) return NULL;
    for (int i = 0; i < w->nmeta; i++)
        if (strcmp(w->meta[2 * i], key) == 0) return w->meta[2 * i + 1];
    return NULL;
}

wanc_err wanc_weights_rename(wanc_weights *w, wanc_name_map_fn map, void *user)
{
    char buf[1024];
    int kept = 0;
    wanc_err err = NULL;
    for (int i = 0; i < w->n; i++) {
        wanc_weight_entry *e = &w->entries[i];
        buf[0] = 0;
        int keep = err ? 1 : map(buf, sizeof buf, e->name, user);
        if (!err && keep && (strnlen(buf, sizeof buf) == sizeof buf || !buf[0]))
            err = wanc_error(WANC_EINVAL, "%s: renaming tensor %s gave an empty or overlong name",
                             w->files[e->file].path, e->name);
        if (!err && keep) {
            char *s = strdup(buf);
            if (!s) err = wanc_error(WANC_ENOMEM, "rename: out of memory");
            else {
                free(e->name);
                e->name = s;
            }
        }
        if (keep || err) w->entries[kept++] = *e;
        else {
            free(e->name);
            wanc_tensor_free(&e->t);
        }
    }
    w->n = kept;
    /* Rebuild the sorted index; two names mapped to one is a duplicate error. */
    wanc_err fin = store_finish(w);
    if (err) {
        wanc_error_free(fin);
        return err;
    }
    return fin;
}

/* ---- memory ------------------------------------------------------------------ */

void wanc_weights_advise(const wanc_weights *w, const wanc_tensor *t, bool need)
{
    if (!w || !t || !t->data) return;
    const unsigned char *p = t->data;
    size_t n = wanc_tensor_nbytes(t);
    for (int i = 0; i < w->nfiles; i++) {
        const wanc_mapped_file *f = &w->files[i];
        if (p < f->base || p >= f->base + f->size) continue;
        if (n > (size_t)(f->base + f->size - p)) n = (size_t)(f->base + f->size - p);
        size_t page = (size_t)sysconf(_SC_PAGESIZE);
        uintptr_t a = (uintptr_t)p / page * page, b = ((uintptr_t)p + n + page - 1) / page * page;
        /* file-backed and never written: dropped pages are re-read, never lost */
        (void)madvise((void *)a, b - a, need ? MADV_WILLNEED : MADV_DONTNEED);
        return;
    }
}

void wanc_weights_release_all(const wanc_weights *w)
{
    for (int i = 0; w && i < w->nfiles; i++)
        (void)madvise((void *)w->files[i].base, w->files[i].size, MADV_DONTNEED);
}

size_t wanc_weights_bytes(const wanc_weights *w)
{
    size_t n = 0;
    for (int i = 0; w && i < w->n; i++) n += wanc_tensor_nbytes(&w->entries[i].t);
    return n;
}
