/* PyTorch zip checkpoints (torch.save since 1.6): a zip archive holding
 * `<prefix>/data.pkl` (the pickled state dict) and one record
 * `<prefix>/data/<key>` per storage. torch stores every record uncompressed
 * and 64-byte aligned, so tensors are views into the mapping.
 *
 * The pickle is read by a small stack machine that EXECUTES NOTHING: it
 * builds plain values (ints, strings, tuples, dicts, ...) and recognises a
 * fixed allow-list of globals (OrderedDict, torch's tensor-rebuild helpers,
 * storage types). Any other global is an error naming it. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/limits.h"
#include "io/weights_internal.h"

/* ---- zip ------------------------------------------------------------------- */

typedef struct {
    const char *name; /* points into the central directory (not NUL-terminated) */
    size_t name_len;
    uint64_t csize, usize, local_offset;
    uint16_t method;
} zip_entry;

typedef struct {
    const char *path;
    const unsigned char *base;
    uint64_t size;
    zip_entry *e;
    size_t n;
} zip_archive;

static uint16_t rd16(const unsigned char *p) { return (uint16_t)(p[0] | p[1] << 8); }
static uint32_t rd32(const unsigned char *p) { return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24; }
static uint64_t rd64(const unsigned char *p) { return (uint64_t)rd32(p) | (uint64_t)rd32(p + 4) << 32; }

static int cmp_zip_entry(const void *a, const void *b)
{
    const zip_entry *x = a, *y = b;
    size_t n = x->name_len < y->name_len ? x->name_len : y->name_len;
    int c = memcmp(x->name, y->name, n);
    if (c) return c;
    return x->name_len < y->name_len ? -1 : x->name_len > y->name_len;
}

/* Read the central directory (ZIP64 aware) into a sorted entry table. */
static wanc_err zip_open(zip_archive *z)
{
    const unsigned char *b = z->base;
    uint64_t size = z->size;
    if (size < 22) WANC_FAIL(WANC_EFORMAT, "%s: truncated zip archive (%llu bytes)", z->path, (unsigned long long)size);
    /* End of central directory: the last signature within 64 KiB + 22 of the end. */
    uint64_t eocd = UINT64_MAX;
    uint64_t lo = size > 65557 ? size - 65557 : 0;
    for (uint64_t p = size - 22 + 1; p-- > lo;)
        if (rd32(b + p) == 0x06054b50u) {
            eocd = p;
            break;
        }
    if (eocd == UINT64_MAX)
        WANC_FAIL(WANC_EFORMAT, "%s: not a zip archive or truncated (no end of central directory)", z->path);
    uint64_t count = rd16(b + eocd + 10), cd_size = rd32(b + eocd + 12), cd_off = rd32(b + eocd + 16);
    /* ZIP64: a locator right before the EOCD points at the ZIP64 end record. */
    if (eocd >= 20 && rd32(b + eocd - 20) == 0x07064b50u) {
        uint64_t z64 = rd64(b + eocd - 20 + 8);
        if (size < 56 || z64 > size - 56 || rd32(b + z64) != 0x06064b50u) /* (size - 56 must not wrap) */
            WANC_FAIL(WANC_EFORMAT, "%s: damaged ZIP64 end of central directory", z->path);
        count = rd64(b + z64 + 32);
        cd_size = rd64(b + z64 + 40);
        cd_off = rd64(b + z64 + 48);
    }
    if (cd_off > size || cd_size > size - cd_off)
        WANC_FAIL(WANC_EFORMAT, "%s: central directory out of range (truncated archive?)", z->path);
    if (count > cd_size / 46) WANC_FAIL(WANC_EFORMAT, "%s: central directory too small for %llu entries", z->path,
                                        (unsigned long long)count);
    z->e = calloc((size_t)(count ? count : 1), sizeof *z->e);
    if (!z->e) WANC_FAIL(WANC_ENOMEM, "%s: out of memory", z->path);
    const unsigned char *p = b + cd_off, *end = b + cd_off + cd_size;
    for (uint64_t i = 0; i < count; i++) {
        if (end - p < 46 || rd32(p) != 0x02014b50u)
            WANC_FAIL(WANC_EFORMAT, "%s: damaged central directory entry %llu", z->path, (unsigned long long)i);
        zip_entry *e = &z->e[z->n];
        e->method = rd16(p + 10);
        e->csize = rd32(p + 20);
        e->usize = rd32(p + 24);
        size_t nl = rd16(p + 28), xl = rd16(p + 30), cl = rd16(p + 32);
        e->local_offset = rd32(p + 42);
        if ((size_t)(end - p) < 46 + nl + xl + cl)
            WANC_FAIL(WANC_EFORMAT, "%s: damaged central directory entry %llu", z->path, (unsigned long long)i);
        e->name = (const char *)p + 46;
        e->name_len = nl;
        /* ZIP64 extra field (id 1): the 64-bit values of the fields that are all ones, in order. */
        const unsigned char *x = p + 46 + nl, *xe = x + xl;
        while (xe - x >= 4) {
            uint16_t id = rd16(x), len = rd16(x + 2);
            if ((size_t)(xe - x) < 4u + len) break;
            if (id == 1) {
                const unsigned char *v = x + 4, *ve = v + len;
                if (e->usize == 0xffffffffu && ve - v >= 8) e->usize = rd64(v), v += 8;
                if (e->csize == 0xffffffffu && ve - v >= 8) e->csize = rd64(v), v += 8;
                if (e->local_offset == 0xffffffffu && ve - v >= 8) e->local_offset = rd64(v), v += 8;
            }
            x += 4 + len;
        }
        z->n++;
        p += 46 + nl + xl + cl;
    }
    qsort(z->e, z->n, sizeof *z->e, cmp_zip_entry);
    return NULL;
}

static const zip_entry *zip_find(const zip_archive *z, const char *name)
{
    zip_entry key = {.name = name, .name_len = strlen(name)};
    return bsearch(&key, z->e, z->n, sizeof *z->e, cmp_zip_entry);
}

/* The stored bytes of an entry: must be uncompressed (torch never compresses). */
static wanc_err zip_data(const zip_archive *z, const zip_entry *e, const unsigned char **data, uint64_t *size)
{
    if (e->method != 0)
        WANC_FAIL(WANC_EUNSUPPORTED, "%s: record %.*s is compressed (method %u); torch.save stores records uncompressed",
                  z->path, (int)e->name_len, e->name, e->method);
    uint64_t o = e->local_offset;
    if (o > z->size || z->size - o < 30 || rd32(z->base + o) != 0x04034b50u)
        WANC_FAIL(WANC_EFORMAT, "%s: record %.*s: damaged local header", z->path, (int)e->name_len, e->name);
    uint64_t start = o + 30 + rd16(z->base + o + 26) + rd16(z->base + o + 28);
    if (start > z->size || e->usize > z->size - start)
        WANC_FAIL(WANC_EFORMAT, "%s: record %.*s: data out of range (truncated archive?)", z->path,
                  (int)e->name_len, e->name);
    *data = z->base + start;
    *size = e->usize;
    return NULL;
}

/* ---- pickle values ------------------------------------------------------------ */

typedef enum {
    PV_NONE, PV_BOOL, PV_INT, PV_FLOAT, PV_STR, PV_BYTES, PV_TUPLE, PV_LIST, PV_DICT,
    PV_GLOBAL, PV_STORAGE, PV_TENSOR,
} pv_kind;

/* The globals a state dict may name; nothing else is accepted. */
typedef enum {
    G_ORDERED_DICT, G_REBUILD_TENSOR_V2, G_REBUILD_PARAMETER, G_REBUILD_PARAMETER_STATE, G_STORAGE_TYPE,
} global_kind;

typedef struct pv {
    pv_kind kind;
    int64_t i;       /* BOOL, INT; GLOBAL: global_kind */
    double f;        /* FLOAT */
    char *s;         /* STR, BYTES (NUL-terminated copy) */
    size_t len;      /* STR, BYTES */
    struct pv **items; /* TUPLE, LIST; DICT: key, value, key, value, ... */
    size_t n, cap;
    wanc_dtype dtype; /* GLOBAL storage type, STORAGE, TENSOR */
    /* STORAGE: the record's bytes. TENSOR: storage + element offset/shape/stride. */
    const unsigned char *data;
    uint64_t nbytes;
    struct pv *storage;
    int64_t offset;
    int ndim;
    int64_t shape[WANC_MAX_DIMS], stride[WANC_MAX_DIMS];
    struct pv *next_alloc; /* every value is freed at the end, in one list */
} pv;

typedef struct {
    const char *path;
    zip_archive *zip;
    const char *prefix; /* archive prefix with its slash, e.g. "archive/" (may be empty) */
    size_t prefix_len;
    const unsigned char *p, *end, *start;
    pv **stack;
    size_t sp, scap;
    size_t *marks;
    size_t nmarks, mcap;
    pv **memo;
    size_t nmemo;  /* slots allocated */
    size_t nmemo_set; /* distinct slots set: MEMOIZE's next index, as len(memo) in Python */
    pv *all;
    size_t nvalues; /* values made so far (WANC_LIMIT_PICKLE_VALUES) */
} unpickler;

/* NULL when out of memory or past the value limit (push reports which). */
static pv *pv_new(unpickler *u, pv_kind k)
{
    if (u->nvalues >= WANC_LIMIT_PICKLE_VALUES) return NULL;
    u->nvalues++;
    pv *v = calloc(1, sizeof *v);
    if (!v) return NULL;
    v->kind = k;
    v->next_alloc = u->all;
    u->all = v;
    return v;
}

static void pv_free_all(unpickler *u)
{
    for (pv *v = u->all, *nx; v; v = nx) {
        nx = v->next_alloc;
        free(v->s);
        free(v->items);
        free(v);
    }
    u->all = NULL;
}

static bool pv_append(pv *c, pv *x)
{
    if (c->n == c->cap) {
        size_t cap = c->cap ? 2 * c->cap : 8;
        pv **it = realloc(c->items, cap * sizeof *it);
        if (!it) return false;
        c->items = it;
        c->cap = cap;
    }
    c->items[c->n++] = x;
    return true;
}

#define PK_FAIL(u, code, ...) \
    return wanc_error_context(wanc_error(code, __VA_ARGS__), "%s: data.pkl at byte %ld", (u)->path, \
                              (long)((u)->p - (u)->start))

/* The machine's limits, stated in the error. */
#define PK_LIMIT(u) PK_FAIL(u, WANC_EFORMAT, "the pickle holds more than %u values or stack entries (the limit)", \
                            WANC_LIMIT_PICKLE_VALUES)

/* pv_new returned NULL: which limit it was */
#define PK_NEW_FAILED(u)                                    \
    do {                                                    \
        if ((u)->nvalues >= WANC_LIMIT_PICKLE_VALUES) PK_LIMIT(u); \
        PK_FAIL(u, WANC_ENOMEM, "out of memory");           \
    } while (0)

static wanc_err push(unpickler *u, pv *v)
{
    if (!v) PK_NEW_FAILED(u);
    if (u->sp >= WANC_LIMIT_PICKLE_VALUES) PK_LIMIT(u);
    if (u->sp == u->scap) {
        size_t cap = u->scap ? 2 * u->scap : 64;
        pv **s = realloc(u->stack, cap * sizeof *s);
        if (!s) PK_FAIL(u, WANC_ENOMEM, "out of memory");
        u->stack = s;
        u->scap = cap;
    }
    u->stack[u->sp++] = v;
    return NULL;
}

static wanc_err pop(unpickler *u, pv **out)
{
    size_t floor = u->nmarks ? u->marks[u->nmarks - 1] : 0;
    if (u->sp <= floor) PK_FAIL(u, WANC_EFORMAT, "stack underflow (damaged pickle)");
    *out = u->stack[--u->sp];
    return NULL;
}

static wanc_err top(unpickler *u, pv **out)
{
    size_t floor = u->nmarks ? u->marks[u->nmarks - 1] : 0;
    if (u->sp <= floor) PK_FAIL(u, WANC_EFORMAT, "stack underflow (damaged pickle)");
    *out = u->stack[u->sp - 1];
    return NULL;
}

/* Pop everything above the last MARK; *first indexes the stack slot it started at. */
static wanc_err pop_mark(unpickler *u, size_t *first)
{
    if (!u->nmarks) PK_FAIL(u, WANC_EFORMAT, "no MARK on the stack (damaged pickle)");
    *first = u->marks[--u->nmarks];
    return NULL;
}

static wanc_err need(unpickler *u, size_t n)
{
    if ((size_t)(u->end - u->p) < n) PK_FAIL(u, WANC_EFORMAT, "truncated pickle");
    return NULL;
}

static wanc_err memo_put(unpickler *u, uint64_t idx, pv *v)
{
    /* picklers number memo slots 0, 1, 2, ... as they store values: a slot
     * past the values made so far is damage, and would size the memo */
    if (idx > u->nvalues) PK_FAIL(u, WANC_EFORMAT, "memo index %llu out of range", (unsigned long long)idx);
    if (idx >= u->nmemo) {
        size_t n = (size_t)idx + 1 > 2 * u->nmemo ? (size_t)idx + 1 : 2 * u->nmemo;
        pv **m = realloc(u->memo, n * sizeof *m);
        if (!m) PK_FAIL(u, WANC_ENOMEM, "out of memory");
        memset(m + u->nmemo, 0, (n - u->nmemo) * sizeof *m);
        u->memo = m;
        u->nmemo = n;
    }
    if (!u->memo[idx]) u->nmemo_set++;
    u->memo[idx] = v;
    return NULL;
}

static wanc_err memo_get(unpickler *u, uint64_t idx)
{
    if (idx >= u->nmemo || !u->memo[idx])
        PK_FAIL(u, WANC_EFORMAT, "memo entry %llu is unset (damaged pickle)", (unsigned long long)idx);
    return push(u, u->memo[idx]);
}

static wanc_err push_str(unpickler *u, pv_kind k, size_t len)
{
    TRY(need(u, len));
    pv *v = pv_new(u, k);
    if (v) {
        v->s = malloc(len + 1);
        if (!v->s) v = NULL;
        else {
            memcpy(v->s, u->p, len);
            v->s[len] = 0;
            v->len = len;
        }
    }
    u->p += len;
    return push(u, v);
}

/* A string whose little-endian length of `len_bytes` bytes precedes it. */
static wanc_err push_counted(unpickler *u, pv_kind k, size_t len_bytes)
{
    TRY(need(u, len_bytes));
    uint64_t n = len_bytes == 1 ? *u->p : len_bytes == 4 ? rd32(u->p) : rd64(u->p);
    u->p += len_bytes;
    if (n > (uint64_t)(u->end - u->p)) PK_FAIL(u, WANC_EFORMAT, "truncated pickle");
    return push_str(u, k, (size_t)n);
}

static wanc_err push_int(unpickler *u, int64_t x)
{
    pv *v = pv_new(u, PV_INT);
    if (v) v->i = x;
    return push(u, v);
}

/* LONG1/LONG4: little-endian two's complement of n bytes (must fit int64). */
static wanc_err push_long(unpickler *u, size_t n)
{
    TRY(need(u, n));
    if (n > 8) PK_FAIL(u, WANC_EUNSUPPORTED, "integer of %zu bytes is too large", n);
    uint64_t x = 0;
    for (size_t i = 0; i < n; i++) x |= (uint64_t)u->p[i] << (8 * i);
    if (n && n < 8 && (u->p[n - 1] & 0x80)) x |= ~(uint64_t)0 << (8 * n);
    u->p += n;
    return push_int(u, (int64_t)x);
}

static const struct {
    const char *module, *name;
    global_kind kind;
    wanc_dtype dtype;
} allowed_globals[] = {
    {"collections", "OrderedDict", G_ORDERED_DICT, 0},
    {"torch._utils", "_rebuild_tensor_v2", G_REBUILD_TENSOR_V2, 0},
    {"torch._utils", "_rebuild_parameter", G_REBUILD_PARAMETER, 0},
    {"torch._utils", "_rebuild_parameter_with_state", G_REBUILD_PARAMETER_STATE, 0},
    {"torch", "DoubleStorage", G_STORAGE_TYPE, WANC_F64},
    {"torch", "FloatStorage", G_STORAGE_TYPE, WANC_F32},
    {"torch", "HalfStorage", G_STORAGE_TYPE, WANC_F16},
    {"torch", "BFloat16Storage", G_STORAGE_TYPE, WANC_BF16},
    {"torch", "LongStorage", G_STORAGE_TYPE, WANC_I64},
    {"torch", "IntStorage", G_STORAGE_TYPE, WANC_I32},
    {"torch", "ByteStorage", G_STORAGE_TYPE, WANC_U8},
    {"torch", "BoolStorage", G_STORAGE_TYPE, WANC_BOOL},
    {"torch", "Float8_e4m3fnStorage", G_STORAGE_TYPE, WANC_F8_E4M3},
    {"torch", "Float8_e5m2Storage", G_STORAGE_TYPE, WANC_F8_E5M2},
};

static wanc_err push_global(unpickler *u, const char *module, const char *name)
{
    for (size_t i = 0; i < sizeof allowed_globals / sizeof *allowed_globals; i++)
        if (!strcmp(module, allowed_globals[i].module) && !strcmp(name, allowed_globals[i].name)) {
            pv *v = pv_new(u, PV_GLOBAL);
            if (v) {
                v->i = allowed_globals[i].kind;
                v->dtype = allowed_globals[i].dtype;
            }
            return push(u, v);
        }
    if (!strcmp(module, "torch") && strstr(name, "Storage"))
        PK_FAIL(u, WANC_EUNSUPPORTED, "storage type torch.%s is not supported", name);
    PK_FAIL(u, WANC_EFORMAT,
            "refers to global %s.%s, which is not allowed (only state-dict tensors are read; nothing is executed)",
            module, name);
}

/* GLOBAL: "module\nname\n". */
static wanc_err op_global(unpickler *u)
{
    char mod[256], name[256];
    for (int part = 0; part < 2; part++) {
        char *dst = part ? name : mod;
        const unsigned char *nl = memchr(u->p, '\n', (size_t)(u->end - u->p));
        if (!nl) PK_FAIL(u, WANC_EFORMAT, "truncated GLOBAL");
        size_t n = (size_t)(nl - u->p);
        if (n >= 256) PK_FAIL(u, WANC_EFORMAT, "GLOBAL name too long");
        memcpy(dst, u->p, n);
        dst[n] = 0;
        u->p = nl + 1;
    }
    return push_global(u, mod, name);
}

static bool int_tuple(const pv *t, int64_t *vals, int *n)
{
    if (t->kind != PV_TUPLE || t->n > WANC_MAX_DIMS) return false;
    for (size_t i = 0; i < t->n; i++) {
        if (t->items[i]->kind != PV_INT) return false;
        vals[i] = t->items[i]->i;
    }
    *n = (int)t->n;
    return true;
}

/* BINPERSID: ('storage', storage_type, key, location, numel) → the record's bytes. */
static wanc_err op_persid(unpickler *u)
{
    pv *pid = NULL;
    TRY(pop(u, &pid));
    if (pid->kind != PV_TUPLE || pid->n < 5 || pid->items[0]->kind != PV_STR || strcmp(pid->items[0]->s, "storage") ||
        pid->items[1]->kind != PV_GLOBAL || pid->items[1]->i != G_STORAGE_TYPE || pid->items[2]->kind != PV_STR ||
        pid->items[4]->kind != PV_INT)
        PK_FAIL(u, WANC_EFORMAT, "persistent id is not a torch storage reference");
    char rec[1024];
    snprintf(rec, sizeof rec, "%.*sdata/%s", (int)u->prefix_len, u->prefix, pid->items[2]->s);
    const zip_entry *e = zip_find(u->zip, rec);
    if (!e) PK_FAIL(u, WANC_EFORMAT, "record %s named by data.pkl is missing from the archive", rec);
    pv *s = pv_new(u, PV_STORAGE);
    if (!s) PK_NEW_FAILED(u);
    s->dtype = pid->items[1]->dtype;
    TRY(zip_data(u->zip, e, &s->data, &s->nbytes));
    int64_t numel = pid->items[4]->i;
    if (numel < 0 || (uint64_t)numel > s->nbytes / wanc_dtype_size(s->dtype))
        PK_FAIL(u, WANC_EFORMAT, "record %s holds %llu bytes, fewer than %lld %s elements", rec,
                (unsigned long long)s->nbytes, (long long)numel, wanc_dtype_name(s->dtype));
    s->nbytes = (uint64_t)numel * wanc_dtype_size(s->dtype);
    return push(u, s);
}

/* _rebuild_tensor_v2(storage, offset, size, stride, requires_grad, hooks[, metadata]). */
static wanc_err rebuild_tensor(unpickler *u, const pv *args, pv **out)
{
    if (args->n < 4 || args->items[0]->kind != PV_STORAGE || args->items[1]->kind != PV_INT)
        PK_FAIL(u, WANC_EFORMAT, "_rebuild_tensor_v2 with unexpected arguments");
    pv *t = pv_new(u, PV_TENSOR);
    if (!t) PK_NEW_FAILED(u);
    t->storage = args->items[0];
    t->dtype = t->storage->dtype;
    t->offset = args->items[1]->i;
    int nd, ns;
    if (!int_tuple(args->items[2], t->shape, &nd) || !int_tuple(args->items[3], t->stride, &ns) || nd != ns)
        PK_FAIL(u, WANC_EUNSUPPORTED, "tensor size/stride is not a tuple of at most %d ints", WANC_MAX_DIMS);
    t->ndim = nd;
    /* Every element must lie inside the storage. */
    int64_t numel_storage = (int64_t)(t->storage->nbytes / wanc_dtype_size(t->dtype));
    int64_t last = t->offset, numel = 1, step;
    bool empty = false, overflow = false;
    for (int i = 0; i < nd; i++) {
        if (t->shape[i] < 0 || t->stride[i] < 0) PK_FAIL(u, WANC_EUNSUPPORTED, "negative tensor size or stride");
        if (t->shape[i] == 0) empty = true;
        else overflow |= __builtin_mul_overflow(t->shape[i] - 1, t->stride[i], &step) ||
                         __builtin_add_overflow(last, step, &last);
        overflow |= __builtin_mul_overflow(numel, t->shape[i], &numel);
    }
    if (overflow || numel > ((int64_t)1 << 50)) PK_FAIL(u, WANC_EFORMAT, "tensor size overflows");
    if (t->offset < 0 || (!empty && last >= numel_storage))
        PK_FAIL(u, WANC_EFORMAT, "tensor view (offset %lld, last element %lld) outside its storage of %lld elements",
                (long long)t->offset, (long long)last, (long long)numel_storage);
    *out = t;
    return NULL;
}

static wanc_err op_reduce(unpickler *u)
{
    pv *args = NULL, *fn = NULL, *res = NULL;
    TRY(pop(u, &args));
    TRY(pop(u, &fn));
    if (fn->kind != PV_GLOBAL || args->kind != PV_TUPLE) PK_FAIL(u, WANC_EFORMAT, "REDUCE of a non-callable");
    switch ((global_kind)fn->i) {
    case G_ORDERED_DICT:
        /* OrderedDict(): items follow via SETITEMS. OrderedDict([(k, v), ...]) is taken as data too. */
        res = pv_new(u, PV_DICT);
        if (!res) PK_NEW_FAILED(u);
        if (args->n == 1 && args->items[0]->kind == PV_LIST) {
            const pv *l = args->items[0];
            for (size_t i = 0; i < l->n; i++) {
                const pv *kv = l->items[i];
                if (kv->kind != PV_TUPLE || kv->n != 2) PK_FAIL(u, WANC_EFORMAT, "OrderedDict item is not a pair");
                if (!pv_append(res, kv->items[0]) || !pv_append(res, kv->items[1])) PK_FAIL(u, WANC_ENOMEM, "out of memory");
            }
        } else if (args->n != 0) {
            PK_FAIL(u, WANC_EFORMAT, "OrderedDict called with unexpected arguments");
        }
        break;
    case G_REBUILD_TENSOR_V2: TRY(rebuild_tensor(u, args, &res)); break;
    case G_REBUILD_PARAMETER:
    case G_REBUILD_PARAMETER_STATE:
        if (args->n < 1 || args->items[0]->kind != PV_TENSOR) PK_FAIL(u, WANC_EFORMAT, "_rebuild_parameter without a tensor");
        res = args->items[0];
        break;
    case G_STORAGE_TYPE: PK_FAIL(u, WANC_EFORMAT, "a storage type is called");
    }
    return push(u, res);
}

static wanc_err op_setitems(unpickler *u, size_t first)
{
    if (first == 0 || (u->sp - first) % 2) PK_FAIL(u, WANC_EFORMAT, "SETITEMS with an odd number of items");
    pv *d = u->stack[first - 1];
    if (d->kind != PV_DICT) PK_FAIL(u, WANC_EFORMAT, "SETITEM(S) on something that is not a dict");
    for (size_t i = first; i < u->sp; i++)
        if (!pv_append(d, u->stack[i])) PK_FAIL(u, WANC_ENOMEM, "out of memory");
    u->sp = first;
    return NULL;
}

static wanc_err op_appends(unpickler *u, size_t first)
{
    if (first == 0) PK_FAIL(u, WANC_EFORMAT, "APPENDS without a list");
    pv *l = u->stack[first - 1];
    if (l->kind != PV_LIST) PK_FAIL(u, WANC_EFORMAT, "APPEND(S) on something that is not a list");
    for (size_t i = first; i < u->sp; i++)
        if (!pv_append(l, u->stack[i])) PK_FAIL(u, WANC_ENOMEM, "out of memory");
    u->sp = first;
    return NULL;
}

static wanc_err make_tuple(unpickler *u, size_t first)
{
    pv *t = pv_new(u, PV_TUPLE);
    if (!t) PK_NEW_FAILED(u);
    for (size_t i = first; i < u->sp; i++)
        if (!pv_append(t, u->stack[i])) PK_FAIL(u, WANC_ENOMEM, "out of memory");
    u->sp = first;
    return push(u, t);
}

static wanc_err run_pickle(unpickler *u, pv **result)
{
    while (u->p < u->end) {
        unsigned op = *u->p++;
        size_t first;
        pv *v = NULL;
        switch (op) {
        case 0x80: TRY(need(u, 1)); u->p++; break;           /* PROTO */
        case 0x95: TRY(need(u, 8)); u->p += 8; break;        /* FRAME */
        case '.':                                            /* STOP */
            TRY(pop(u, result));
            return NULL;
        case '(':                                            /* MARK */
            if (u->nmarks >= WANC_LIMIT_PICKLE_VALUES) PK_LIMIT(u);
            if (u->nmarks == u->mcap) {
                size_t cap = u->mcap ? 2 * u->mcap : 16;
                size_t *m = realloc(u->marks, cap * sizeof *m);
                if (!m) PK_FAIL(u, WANC_ENOMEM, "out of memory");
                u->marks = m;
                u->mcap = cap;
            }
            u->marks[u->nmarks++] = u->sp;
            break;
        case '}': TRY(push(u, pv_new(u, PV_DICT))); break;  /* EMPTY_DICT */
        case ']': TRY(push(u, pv_new(u, PV_LIST))); break;  /* EMPTY_LIST */
        case ')': TRY(push(u, pv_new(u, PV_TUPLE))); break; /* EMPTY_TUPLE */
        case 't': TRY(pop_mark(u, &first)); TRY(make_tuple(u, first)); break;
        case 0x85: case 0x86: case 0x87:                     /* TUPLE1..3 */
            if (u->sp - (u->nmarks ? u->marks[u->nmarks - 1] : 0) < op - 0x84u)
                PK_FAIL(u, WANC_EFORMAT, "stack underflow (damaged pickle)");
            TRY(make_tuple(u, u->sp - (op - 0x84u)));
            break;
        case 'l': TRY(pop_mark(u, &first)); TRY(push(u, pv_new(u, PV_LIST))); /* LIST */
            {
                pv *l = u->stack[u->sp - 1];
                for (size_t i = first; i < u->sp - 1; i++)
                    if (!pv_append(l, u->stack[i])) PK_FAIL(u, WANC_ENOMEM, "out of memory");
                u->stack[first] = l;
                u->sp = first + 1;
            }
            break;
        /* Strings and bytes: a 1-, 4- or 8-byte length, then the data. */
        case 'X': TRY(push_counted(u, PV_STR, 4)); break;    /* BINUNICODE */
        case 0x8c: TRY(push_counted(u, PV_STR, 1)); break;   /* SHORT_BINUNICODE */
        case 0x8d: TRY(push_counted(u, PV_STR, 8)); break;   /* BINUNICODE8 */
        case 'U': TRY(push_counted(u, PV_STR, 1)); break;    /* SHORT_BINSTRING */
        case 'T': TRY(push_counted(u, PV_STR, 4)); break;    /* BINSTRING */
        case 'C': TRY(push_counted(u, PV_BYTES, 1)); break;  /* SHORT_BINBYTES */
        case 'B': TRY(push_counted(u, PV_BYTES, 4)); break;  /* BINBYTES */
        case 'q': TRY(need(u, 1)); TRY(top(u, &v)); TRY(memo_put(u, *u->p++, v)); break;           /* BINPUT */
        case 'r': TRY(need(u, 4)); TRY(top(u, &v)); TRY(memo_put(u, rd32(u->p), v)); u->p += 4; break;
        case 0x94: TRY(top(u, &v)); TRY(memo_put(u, u->nmemo_set, v)); break;                          /* MEMOIZE */
        case 'h': TRY(need(u, 1)); TRY(memo_get(u, *u->p++)); break;                               /* BINGET */
        case 'j': TRY(need(u, 4)); { uint32_t k = rd32(u->p); u->p += 4; TRY(memo_get(u, k)); } break;
        case 'c': TRY(op_global(u)); break;
        case 0x93: {                                                                                /* STACK_GLOBAL */
            pv *name = NULL, *mod = NULL;
            TRY(pop(u, &name));
            TRY(pop(u, &mod));
            if (name->kind != PV_STR || mod->kind != PV_STR) PK_FAIL(u, WANC_EFORMAT, "STACK_GLOBAL of non-strings");
            TRY(push_global(u, mod->s, name->s));
            break;
        }
        case 'J': TRY(need(u, 4)); TRY(push_int(u, (int32_t)rd32(u->p))); u->p += 4; break;  /* BININT */
        case 'K': TRY(need(u, 1)); TRY(push_int(u, *u->p)); u->p += 1; break;               /* BININT1 */
        case 'M': TRY(need(u, 2)); TRY(push_int(u, rd16(u->p))); u->p += 2; break;          /* BININT2 */
        case 0x8a: TRY(need(u, 1)); { size_t n = *u->p++; TRY(push_long(u, n)); } break;   /* LONG1 */
        case 0x8b: TRY(need(u, 4)); { size_t n = rd32(u->p); u->p += 4; TRY(push_long(u, n)); } break;
        case 0x88: case 0x89:                                                               /* NEWTRUE/FALSE */
            v = pv_new(u, PV_BOOL);
            if (v) v->i = op == 0x88;
            TRY(push(u, v));
            break;
        case 'N': TRY(push(u, pv_new(u, PV_NONE))); break;
        case 'G': {                                                                         /* BINFLOAT */
            TRY(need(u, 8));
            uint64_t bits = 0;
            for (int i = 0; i < 8; i++) bits = bits << 8 | u->p[i];
            u->p += 8;
            v = pv_new(u, PV_FLOAT);
            if (v) memcpy(&v->f, &bits, sizeof v->f);
            TRY(push(u, v));
            break;
        }
        case 'R': TRY(op_reduce(u)); break;
        case 'Q': TRY(op_persid(u)); break;
        case 's': TRY(op_setitems(u, u->sp - 2 < u->sp ? u->sp - 2 : 0)); break;         /* SETITEM */
        case 'u': TRY(pop_mark(u, &first)); TRY(op_setitems(u, first)); break;            /* SETITEMS */
        case 'a': TRY(op_appends(u, u->sp ? u->sp - 1 : 0)); break;                        /* APPEND */
        case 'e': TRY(pop_mark(u, &first)); TRY(op_appends(u, first)); break;             /* APPENDS */
        case 'b': TRY(pop(u, &v)); TRY(top(u, &v)); break; /* BUILD: object state (e.g. _metadata) is ignored */
        case '0': TRY(pop(u, &v)); break;                                                  /* POP */
        case '1': TRY(pop_mark(u, &first)); u->sp = first; break;                         /* POP_MARK */
        case '2': TRY(top(u, &v)); TRY(push(u, v)); break;                                 /* DUP */
        default: u->p--; PK_FAIL(u, WANC_EUNSUPPORTED, "unsupported pickle opcode 0x%02x", op);
        }
    }
    PK_FAIL(u, WANC_EFORMAT, "truncated pickle (no STOP)");
}

/* ---- the state dict ------------------------------------------------------------- */

static const pv *dict_get(const pv *d, const char *key)
{
    for (size_t i = 0; i + 1 < d->n; i += 2)
        if (d->items[i]->kind == PV_STR && !strcmp(d->items[i]->s, key)) return d->items[i + 1];
    return NULL;
}

/* {"state_dict": {...}} and the like, when that is the only key. */
static const pv *unwrap(const pv *d)
{
    static const char *const wrappers[] = {"state_dict", "model_state", "module"};
    /* a few levels at most: a dict can hold itself (memo), which must not loop */
    for (int depth = 0; depth < 8 && d->kind == PV_DICT && d->n == 2; depth++) {
        const pv *inner = NULL;
        for (size_t k = 0; k < sizeof wrappers / sizeof *wrappers && !inner; k++) inner = dict_get(d, wrappers[k]);
        if (!inner || inner->kind != PV_DICT) break;
        d = inner;
    }
    return d;
}

static wanc_err add_tensors(wanc_weights *w, int fi, const char *path, const pv *d)
{
    if (d->kind != PV_DICT) WANC_FAIL(WANC_EFORMAT, "%s: data.pkl does not hold a state dict", path);
    bool any = d->n == 0;
    for (size_t i = 1; i < d->n && !any; i += 2) any = d->items[i]->kind == PV_TENSOR;
    if (!any) {
        /* e.g. {"model": {...}, "optimizer": {...}}: say which keys there are. */
        char keys[256] = "";
        size_t off = 0;
        for (size_t i = 0; i + 1 < d->n && off < sizeof keys - 1; i += 2)
            if (d->items[i]->kind == PV_STR)
                off += (size_t)snprintf(keys + off, sizeof keys - off, "%s%s", off ? ", " : "", d->items[i]->s);
        WANC_FAIL(WANC_EFORMAT, "%s: the dict in data.pkl holds no tensors (keys: %s)", path, keys);
    }
    for (size_t i = 0; i + 1 < d->n; i += 2) {
        const pv *k = d->items[i], *t = d->items[i + 1];
        if (t->kind != PV_TENSOR) continue; /* non-tensor entries (epoch counters, config) are not weights */
        if (k->kind != PV_STR) WANC_FAIL(WANC_EFORMAT, "%s: a tensor is keyed by a non-string", path);
        const unsigned char *data = t->storage->data + (size_t)t->offset * wanc_dtype_size(t->dtype);
        TRY(wanc_store_add(w, fi, k->s, t->dtype, t->ndim, t->shape, t->stride, data));
    }
    return NULL;
}

wanc_err wanc_pth_read(wanc_weights *w, const char *path)
{
    int fi;
    TRY(wanc_store_map_file(w, path, &fi));
    zip_archive z = {.path = path, .base = w->files[fi].base, .size = w->files[fi].size};
    unpickler u = {.path = path, .zip = &z};
    wanc_err err = zip_open(&z);
    /* data.pkl under any single archive prefix. */
    const zip_entry *pkl = NULL;
    for (size_t i = 0; !err && i < z.n && !pkl; i++) {
        const zip_entry *e = &z.e[i];
        if ((e->name_len == 8 && !memcmp(e->name, "data.pkl", 8)) ||
            (e->name_len > 9 && !memcmp(e->name + e->name_len - 9, "/data.pkl", 9)))
            pkl = e;
    }
    if (!err && !pkl) err = wanc_error(WANC_EFORMAT, "%s: zip archive without */data.pkl: not a PyTorch checkpoint", path);
    if (!err) {
        u.prefix = pkl->name;
        u.prefix_len = pkl->name_len - 8; /* keeps the slash: records are <prefix>data/<key> */
        uint64_t n;
        err = zip_data(&z, pkl, &u.start, &n);
        if (!err && n > WANC_LIMIT_PICKLE_BYTES)
            err = wanc_error(WANC_EFORMAT, "%s: data.pkl is %llu bytes, over the limit of %llu", path,
                             (unsigned long long)n, (unsigned long long)WANC_LIMIT_PICKLE_BYTES);
        if (!err) {
            u.p = u.start;
            u.end = u.start + n;
        }
    }
    pv *root = NULL;
    if (!err) err = run_pickle(&u, &root);
    if (!err) err = add_tensors(w, fi, path, unwrap(root));
    pv_free_all(&u);
    free(u.stack);
    free(u.marks);
    free(u.memo);
    free(z.e);
    return err;
}
