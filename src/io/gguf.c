/* GGUF reader (see gguf.h): a bounds-checked cursor over the buffer, then
 * the tensors added to a weight store as views into the mapping. */
#include "io/gguf.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "io/atomic_file.h"
#include "io/weights_internal.h"

/* ---- types ----------------------------------------------------------------- */

static const struct {
    int ggml;
    wanc_dtype dt;
} type_map[] = {
    {0, WANC_F32},   {1, WANC_F16},   {2, WANC_Q4_0},  {3, WANC_Q4_1},  {6, WANC_Q5_0},
    {7, WANC_Q5_1},  {8, WANC_Q8_0},  {10, WANC_Q2_K}, {11, WANC_Q3_K}, {12, WANC_Q4_K},
    {13, WANC_Q5_K}, {14, WANC_Q6_K}, {26, WANC_I32},  {27, WANC_I64},  {28, WANC_F64},
    {30, WANC_BF16},
};

int wanc_gguf_type_of(wanc_dtype dt)
{
    for (size_t i = 0; i < sizeof type_map / sizeof type_map[0]; i++)
        if (type_map[i].dt == dt) return type_map[i].ggml;
    return -1;
}

const char *wanc_gguf_file_type_name(int ftype)
{
    static const char *const names[] = {
        [0] = "F32",     [1] = "F16",     [2] = "Q4_0",    [3] = "Q4_1",    [7] = "Q8_0",
        [8] = "Q5_0",    [9] = "Q5_1",    [10] = "Q2_K",   [11] = "Q3_K_S", [12] = "Q3_K_M",
        [13] = "Q3_K_L", [14] = "Q4_K_S", [15] = "Q4_K_M", [16] = "Q5_K_S", [17] = "Q5_K_M",
        [18] = "Q6_K",   [32] = "BF16",
    };
    if (ftype < 0 || ftype >= (int)(sizeof names / sizeof names[0])) return NULL;
    return names[ftype];
}

/* ---- cursor ------------------------------------------------------------------ */

typedef struct {
    const unsigned char *p;
    size_t size, pos;
    const char *what;
} cursor;

static wanc_err need(cursor *c, uint64_t n, const char *field)
{
    if (n > c->size - c->pos)
        WANC_FAIL(WANC_EFORMAT, "%s: truncated GGUF: %s needs %" PRIu64 " bytes at offset %zu, the file has %zu",
                  c->what, field, n, c->pos, c->size);
    return NULL;
}

static wanc_err rd(cursor *c, void *dst, size_t n, const char *field)
{
    TRY(need(c, n, field));
    memcpy(dst, c->p + c->pos, n);
    c->pos += n;
    return NULL;
}

static wanc_err rd_u32(cursor *c, uint32_t *v, const char *field) { return rd(c, v, 4, field); }
static wanc_err rd_u64(cursor *c, uint64_t *v, const char *field) { return rd(c, v, 8, field); }

/* A u64-length-prefixed string, returned NUL-terminated (caller frees). */
static wanc_err rd_str(cursor *c, char **out, const char *field)
{
    uint64_t len;
    *out = NULL;
    TRY(rd_u64(c, &len, field));
    TRY(need(c, len, field));
    if (memchr(c->p + c->pos, 0, (size_t)len))
        WANC_FAIL(WANC_EFORMAT, "%s: GGUF %s at offset %zu holds a NUL byte", c->what, field, c->pos);
    char *s = malloc((size_t)len + 1);
    if (!s) WANC_FAIL(WANC_ENOMEM, "%s: out of memory for a %" PRIu64 "-byte string", c->what, len);
    memcpy(s, c->p + c->pos, (size_t)len);
    s[len] = 0;
    c->pos += (size_t)len;
    *out = s;
    return NULL;
}

/* ---- key/values ------------------------------------------------------------------- */

enum { KV_U8, KV_I8, KV_U16, KV_I16, KV_U32, KV_I32, KV_F32, KV_BOOL, KV_STR, KV_ARR, KV_U64, KV_I64, KV_F64 };
static const int kv_size[] = {1, 1, 2, 2, 4, 4, 4, 1, 0, 0, 8, 8, 8};
static const char *const kv_name[] = {"u8", "i8", "u16", "i16", "u32", "i32", "f32",
                                      "bool", "string", "array", "u64", "i64", "f64"};

/* One scalar of type t as text into buf. */
static wanc_err rd_scalar(cursor *c, uint32_t t, char *buf, size_t cap)
{
    unsigned char v[8] = {0};
    TRY(rd(c, v, (size_t)kv_size[t], "a key/value"));
    int8_t i8;
    int16_t i16;
    uint16_t u16;
    int32_t i32;
    uint32_t u32;
    int64_t i64;
    uint64_t u64;
    float f;
    double d;
    switch (t) {
    case KV_U8: snprintf(buf, cap, "%u", v[0]); break;
    case KV_I8: memcpy(&i8, v, 1), snprintf(buf, cap, "%d", i8); break;
    case KV_U16: memcpy(&u16, v, 2), snprintf(buf, cap, "%u", u16); break;
    case KV_I16: memcpy(&i16, v, 2), snprintf(buf, cap, "%d", i16); break;
    case KV_U32: memcpy(&u32, v, 4), snprintf(buf, cap, "%" PRIu32, u32); break;
    case KV_I32: memcpy(&i32, v, 4), snprintf(buf, cap, "%" PRId32, i32); break;
    case KV_F32: memcpy(&f, v, 4), snprintf(buf, cap, "%.9g", f); break;
    case KV_BOOL: snprintf(buf, cap, "%s", v[0] ? "true" : "false"); break;
    case KV_U64: memcpy(&u64, v, 8), snprintf(buf, cap, "%" PRIu64, u64); break;
    case KV_I64: memcpy(&i64, v, 8), snprintf(buf, cap, "%" PRId64, i64); break;
    default: memcpy(&d, v, 8), snprintf(buf, cap, "%.17g", d); break;
    }
    return NULL;
}

static wanc_err add_kv(wanc_gguf *g, char *key, char *value)
{
    char **kv = realloc(g->kv, sizeof *kv * (size_t)(2 * g->nkv + 2));
    if (!kv) {
        free(key);
        free(value);
        WANC_FAIL(WANC_ENOMEM, "GGUF: out of memory");
    }
    g->kv = kv;
    kv[2 * g->nkv] = key;
    kv[2 * g->nkv + 1] = value;
    g->nkv++;
    return NULL;
}

static wanc_err rd_kv(cursor *c, wanc_gguf *g)
{
    char *key = NULL, *value = NULL, buf[64];
    uint32_t t;
    TRY(rd_str(c, &key, "a key"));
    wanc_err err = rd_u32(c, &t, "a value type");
    if (!err && (t > KV_F64))
        err = wanc_error(WANC_EFORMAT, "%s: GGUF key %s has unknown value type %" PRIu32, c->what, key, t);
    if (!err && !key[0]) err = wanc_error(WANC_EFORMAT, "%s: GGUF has an empty key", c->what);
    for (int i = 0; !err && i < g->nkv; i++)
        if (!strcmp(g->kv[2 * i], key)) err = wanc_error(WANC_EFORMAT, "%s: GGUF key %s appears twice", c->what, key);
    if (!err && t == KV_STR) {
        err = rd_str(c, &value, key);
    } else if (!err && t == KV_ARR) {
        uint32_t et;
        uint64_t n;
        err = rd_u32(c, &et, key);
        if (!err) err = rd_u64(c, &n, key);
        if (!err && (et > KV_F64 || et == KV_ARR))
            err = wanc_error(WANC_EFORMAT, "%s: GGUF key %s: array of unsupported element type %" PRIu32, c->what, key,
                             et);
        if (!err && et == KV_STR) {
            /* strings of their own lengths: walk them (each at least 8 bytes) */
            if (n > (c->size - c->pos) / 8)
                err = wanc_error(WANC_EFORMAT, "%s: truncated GGUF: key %s claims %" PRIu64 " strings", c->what, key, n);
            for (uint64_t i = 0; !err && i < n; i++) {
                uint64_t len;
                err = rd_u64(c, &len, key);
                if (!err) err = need(c, len, key);
                if (!err) c->pos += (size_t)len;
            }
        } else if (!err) {
            uint64_t es = (uint64_t)kv_size[et];
            if (n > (c->size - c->pos) / es)
                err = wanc_error(WANC_EFORMAT, "%s: truncated GGUF: key %s claims %" PRIu64 " values", c->what, key, n);
            else c->pos += (size_t)(n * es);
        }
        if (!err) {
            snprintf(buf, sizeof buf, "[%" PRIu64 " x %s]", n, kv_name[et]);
            value = strdup(buf);
        }
    } else if (!err) {
        err = rd_scalar(c, t, buf, sizeof buf);
        if (!err) value = strdup(buf);
    }
    if (!err && !value) err = wanc_error(WANC_ENOMEM, "GGUF: out of memory");
    if (err) {
        free(key);
        free(value);
        return err;
    }
    if (!strcmp(key, "general.alignment")) {
        uint64_t a = strtoull(value, NULL, 10);
        if (t != KV_U32 || a == 0 || (a & (a - 1)) || a > 65536) {
            err = wanc_error(WANC_EFORMAT, "%s: GGUF general.alignment must be a u32 power of two, got %s (%s)",
                             c->what, value, kv_name[t]);
            free(key);
            free(value);
            return err;
        }
        g->alignment = a;
    }
    return add_kv(g, key, value);
}

/* ---- tensor infos ---------------------------------------------------------------- */

static wanc_err rd_tensor(cursor *c, wanc_gguf_tensor *t)
{
    uint32_t nd, type;
    TRY(rd_str(c, &t->name, "a tensor name"));
    if (!t->name[0]) WANC_FAIL(WANC_EFORMAT, "%s: GGUF tensor with an empty name", c->what);
    TRY(rd_u32(c, &nd, t->name));
    if (nd < 1 || nd > WANC_MAX_DIMS)
        WANC_FAIL(WANC_EUNSUPPORTED, "%s: GGUF tensor %s has %" PRIu32 " dims (1 to %d supported)", c->what, t->name,
                  nd, WANC_MAX_DIMS);
    uint64_t ne[WANC_MAX_DIMS];
    for (uint32_t i = 0; i < nd; i++) {
        TRY(rd_u64(c, &ne[i], t->name));
        if (ne[i] > (uint64_t)INT64_MAX / 2)
            WANC_FAIL(WANC_EFORMAT, "%s: GGUF tensor %s: dimension %" PRIu32 " = %" PRIu64 " is not a size", c->what,
                      t->name, i, ne[i]);
    }
    TRY(rd_u32(c, &type, t->name));
    TRY(rd_u64(c, &t->offset, t->name));
    size_t k = 0;
    while (k < sizeof type_map / sizeof type_map[0] && type_map[k].ggml != (int)type) k++;
    if (k == sizeof type_map / sizeof type_map[0])
        WANC_FAIL(WANC_EUNSUPPORTED,
                  "%s: GGUF tensor %s has ggml type %" PRIu32 ", which wanc does not read (F32, F16, BF16, Q4_0, "
                  "Q4_1, Q5_0, Q5_1, Q8_0, Q2_K..Q6_K)",
                  c->what, t->name, type);
    t->dtype = type_map[k].dt;
    t->ndim = (int)nd;
    for (uint32_t i = 0; i < nd; i++) t->shape[nd - 1 - i] = (int64_t)ne[i];
    int64_t be = wanc_dtype_block_elems(t->dtype);
    if ((int64_t)ne[0] % be)
        WANC_FAIL(WANC_EFORMAT, "%s: GGUF tensor %s: rows of %" PRIu64 " values are not whole %s blocks of %lld",
                  c->what, t->name, ne[0], wanc_dtype_name(t->dtype), (long long)be);
    /* the element count must fit int64 too: block types hold fewer bytes than
     * elements, so the byte guard below does not imply it */
    uint64_t numel = ne[0];
    for (uint32_t i = 1; i < nd; i++) {
        if (ne[i] && numel > (uint64_t)INT64_MAX / ne[i])
            WANC_FAIL(WANC_EFORMAT, "%s: GGUF tensor %s has more than 2^63 elements", c->what, t->name);
        numel *= ne[i];
    }
    /* bytes = row bytes × rows, guarding overflow */
    uint64_t bytes = wanc_dtype_row_bytes(t->dtype, (int64_t)ne[0]);
    for (uint32_t i = 1; i < nd; i++) {
        if (ne[i] && bytes > UINT64_MAX / ne[i]) WANC_FAIL(WANC_EFORMAT, "%s: GGUF tensor %s is impossibly large", c->what, t->name);
        bytes *= ne[i];
    }
    t->nbytes = bytes;
    return NULL;
}

/* ---- the file ------------------------------------------------------------------ */

void wanc_gguf_free(wanc_gguf *g)
{
    if (!g) return;
    for (int i = 0; i < g->ntensors; i++) free(g->tensors[i].name);
    free(g->tensors);
    for (int i = 0; i < 2 * g->nkv; i++) free(g->kv[i]);
    free(g->kv);
    free(g);
}

const char *wanc_gguf_get(const wanc_gguf *g, const char *key)
{
    for (int i = 0; g && i < g->nkv; i++)
        if (!strcmp(g->kv[2 * i], key)) return g->kv[2 * i + 1];
    return NULL;
}

static wanc_err parse(cursor *c, wanc_gguf *g)
{
    unsigned char magic[4];
    uint64_t nt, nkv;
    TRY(rd(c, magic, 4, "the magic"));
    if (memcmp(magic, "GGUF", 4)) WANC_FAIL(WANC_EFORMAT, "%s: not a GGUF file (no GGUF magic)", c->what);
    TRY(rd_u32(c, &g->version, "the version"));
    if (g->version == 1) WANC_FAIL(WANC_EUNSUPPORTED, "%s: GGUF version 1 is not supported (2 and 3 are)", c->what);
    if (g->version > 0xffff)
        WANC_FAIL(WANC_EUNSUPPORTED, "%s: GGUF version %#" PRIx32 ": a big-endian file? (little-endian v2/v3 supported)",
                  c->what, g->version);
    if (g->version != 2 && g->version != 3)
        WANC_FAIL(WANC_EUNSUPPORTED, "%s: GGUF version %" PRIu32 " (2 and 3 are supported)", c->what, g->version);
    TRY(rd_u64(c, &nt, "the tensor count"));
    TRY(rd_u64(c, &nkv, "the key/value count"));
    /* every key/value takes at least 12 bytes and every tensor info 24 */
    if (nkv > (c->size - c->pos) / 12 || nt > (c->size - c->pos) / 24 || nt > INT32_MAX / 2)
        WANC_FAIL(WANC_EFORMAT, "%s: GGUF claims %" PRIu64 " tensors and %" PRIu64 " key/values, more than %zu bytes hold",
                  c->what, nt, nkv, c->size);
    g->alignment = 32;
    for (uint64_t i = 0; i < nkv; i++) TRY(rd_kv(c, g));
    g->tensors = calloc(nt ? (size_t)nt : 1, sizeof *g->tensors);
    if (!g->tensors) WANC_FAIL(WANC_ENOMEM, "%s: out of memory for %" PRIu64 " tensor infos", c->what, nt);
    for (uint64_t i = 0; i < nt; i++) {
        g->ntensors++;
        TRY(rd_tensor(c, &g->tensors[i]));
    }
    uint64_t data = (c->pos + g->alignment - 1) / g->alignment * g->alignment;
    if (nt && data > c->size) WANC_FAIL(WANC_EFORMAT, "%s: truncated GGUF: no data section", c->what);
    g->data_offset = data;
    uint64_t avail = data <= c->size ? c->size - data : 0;
    for (int i = 0; i < g->ntensors; i++) {
        wanc_gguf_tensor *t = &g->tensors[i];
        if (t->offset % g->alignment)
            WANC_FAIL(WANC_EFORMAT, "%s: GGUF tensor %s: offset %" PRIu64 " is not a multiple of the alignment %" PRIu64,
                      c->what, t->name, t->offset, g->alignment);
        if (t->offset > avail || t->nbytes > avail - t->offset)
            WANC_FAIL(WANC_EFORMAT,
                      "%s: GGUF tensor %s: %" PRIu64 " bytes at data offset %" PRIu64 " run past the end (data section is %" PRIu64 " bytes)",
                      c->what, t->name, t->nbytes, t->offset, avail);
        t->offset += data;
    }
    return NULL;
}

wanc_err wanc_gguf_parse(const unsigned char *buf, size_t size, const char *what, wanc_gguf **out)
{
    *out = NULL;
    wanc_gguf *g = calloc(1, sizeof *g);
    if (!g) WANC_FAIL(WANC_ENOMEM, "%s: out of memory", what);
    cursor c = {buf, size, 0, what};
    wanc_err err = buf || !size ? parse(&c, g) : wanc_error(WANC_EINVAL, "%s: NULL buffer", what);
    if (err) {
        wanc_gguf_free(g);
        return err;
    }
    *out = g;
    return NULL;
}

/* ---- into a weight store ------------------------------------------------------------ */

wanc_err wanc_gguf_read(wanc_weights *w, const char *path)
{
    int fi;
    TRY(wanc_store_map_file(w, path, &fi));
    wanc_gguf *g;
    TRY(wanc_gguf_parse(w->files[fi].base, w->files[fi].size, path, &g));
    wanc_err err = NULL;
    for (int i = 0; i < g->nkv && !err; i++) err = wanc_store_add_metadata(w, g->kv[2 * i], g->kv[2 * i + 1]);
    if (!err) err = wanc_store_add_metadata(w, "gguf.version", g->version == 3 ? "3" : "2");
    for (int i = 0; i < g->ntensors && !err; i++) {
        const wanc_gguf_tensor *t = &g->tensors[i];
        err = wanc_store_add(w, fi, t->name, t->dtype, t->ndim, t->shape, NULL, w->files[fi].base + t->offset);
    }
    wanc_gguf_free(g);
    return err;
}

/* ---- writing ------------------------------------------------------------------------ */

typedef struct {
    FILE *f;
    const char *path;
    uint64_t pos;
    wanc_err err;
} writer;

static void w_bytes(writer *w, const void *p, size_t n)
{
    if (w->err || !n) return;
    if (fwrite(p, 1, n, w->f) != n) w->err = wanc_error(WANC_EIO, "%s: write failed: %s", w->path, strerror(errno));
    w->pos += n;
}
static void w_u32(writer *w, uint32_t v) { w_bytes(w, &v, 4); }
static void w_u64(writer *w, uint64_t v) { w_bytes(w, &v, 8); }
static void w_str(writer *w, const char *s)
{
    w_u64(w, strlen(s));
    w_bytes(w, s, strlen(s));
}
static void w_pad(writer *w)
{
    static const unsigned char zeros[32];
    w_bytes(w, zeros, (size_t)((32 - w->pos % 32) % 32));
}

wanc_err wanc_gguf_write(const char *path, const wanc_gguf_kv *kv, int nkv, const wanc_gguf_out_tensor *t, int n,
                         wanc_gguf_fill_fn fill, void *user)
{
    for (int i = 0; i < n; i++) {
        if (wanc_gguf_type_of(t[i].dtype) < 0)
            WANC_FAIL(WANC_EUNSUPPORTED, "%s: tensor %s: GGUF has no type for %s", path, t[i].name,
                      wanc_dtype_name(t[i].dtype));
        if (t[i].ndim < 1 || t[i].ndim > WANC_MAX_DIMS || t[i].shape[t[i].ndim - 1] % wanc_dtype_block_elems(t[i].dtype))
            WANC_FAIL(WANC_ESHAPE, "%s: tensor %s: %d dims, rows not whole %s blocks", path, t[i].name, t[i].ndim,
                      wanc_dtype_name(t[i].dtype));
    }
    /* a temporary name, fsynced and renamed onto the target: never a partial file */
    wanc_atomic_file a;
    TRY(wanc_atomic_open(&a, path));
    writer w = {a.f, path, 0, NULL};
    w_bytes(&w, "GGUF", 4);
    w_u32(&w, 3);
    w_u64(&w, (uint64_t)n);
    w_u64(&w, (uint64_t)nkv);
    for (int i = 0; i < nkv; i++) {
        w_str(&w, kv[i].key);
        w_u32(&w, kv[i].str ? KV_STR : KV_U32);
        if (kv[i].str) w_str(&w, kv[i].str);
        else w_u32(&w, kv[i].u32);
    }
    uint64_t off = 0;
    for (int i = 0; i < n; i++) {
        w_str(&w, t[i].name);
        w_u32(&w, (uint32_t)t[i].ndim);
        for (int d = t[i].ndim - 1; d >= 0; d--) w_u64(&w, (uint64_t)t[i].shape[d]);
        w_u32(&w, (uint32_t)wanc_gguf_type_of(t[i].dtype));
        w_u64(&w, off);
        off += (wanc_dtype_row_bytes(t[i].dtype, wanc_numel(t[i].ndim, t[i].shape)) + 31) / 32 * 32;
    }
    w_pad(&w);
    void *buf = NULL;
    size_t cap = 0;
    for (int i = 0; i < n && !w.err; i++) {
        size_t nb = wanc_dtype_row_bytes(t[i].dtype, wanc_numel(t[i].ndim, t[i].shape));
        if (nb > cap) {
            free(buf);
            buf = malloc(nb ? nb : 1);
            cap = buf ? nb : 0;
            if (!buf) {
                w.err = wanc_error(WANC_ENOMEM, "%s: out of memory for tensor %s (%zu bytes)", path, t[i].name, nb);
                break;
            }
        }
        w.err = wanc_error_context(fill(user, i, buf, nb), "%s: tensor %s", path, t[i].name);
        w_bytes(&w, buf, nb);
        w_pad(&w);
    }
    free(buf);
    if (w.err) wanc_atomic_abort(&a);
    else w.err = wanc_atomic_commit(&a);
    return w.err;
}
