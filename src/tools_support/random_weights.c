/* Streaming random-weight safetensors writer (see random_weights.h). */
#include "tools_support/random_weights.h"

#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/threads.h"
#include "io/atomic_file.h"

/* Values are generated in blocks of this many elements, each block from its
 * own generator state: the block, not the thread, fixes the numbers. */
#define RW_BLOCK 4096
/* Elements converted and written per fwrite (bounded memory). */
#define RW_CHUNK ((int64_t)1 << 20)

static uint64_t splitmix64(uint64_t *s)
{
    uint64_t z = (*s += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

static uint64_t hash_name(const char *s, uint64_t seed)
{
    uint64_t h = 1469598103934665603ull ^ seed; /* FNV-1a, then mixed */
    for (; *s; s++) h = (h ^ (unsigned char)*s) * 1099511628211ull;
    return splitmix64(&h);
}

typedef struct {
    float *buf;          /* [count] */
    int64_t first;       /* element index of buf[0] within the tensor (a multiple of RW_BLOCK) */
    int64_t count;
    uint64_t tensor_key;
    float mean, std;
} fill_job;

static void fill_range(void *ctx, int64_t begin, int64_t end)
{
    const fill_job *j = ctx;
    for (int64_t b = begin; b < end; b++) {
        uint64_t s = j->tensor_key ^ (uint64_t)((j->first / RW_BLOCK + b) * 0xd1b54a32d192ed03ull);
        int64_t lo = b * RW_BLOCK, hi = lo + RW_BLOCK < j->count ? lo + RW_BLOCK : j->count;
        for (int64_t i = lo; i < hi; i += 2) {
            /* Box–Muller on two 53-bit uniforms (u1 in (0, 1]). */
            double u1 = ((double)(splitmix64(&s) >> 11) + 1.0) * 0x1p-53;
            double u2 = (double)(splitmix64(&s) >> 11) * 0x1p-53;
            double r = sqrt(-2.0 * log(u1)), a = 2.0 * M_PI * u2;
            j->buf[i] = j->mean + j->std * (float)(r * cos(a));
            if (i + 1 < hi) j->buf[i + 1] = j->mean + j->std * (float)(r * sin(a));
        }
    }
}

static int cmp_by_name(const void *a, const void *b)
{
    return strcmp((*(const wanc_random_tensor *const *)a)->name, (*(const wanc_random_tensor *const *)b)->name);
}

/* Append printf output to a growing string. */
static wanc_err sb_printf(char **s, size_t *len, size_t *cap, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
static wanc_err sb_printf(char **s, size_t *len, size_t *cap, const char *fmt, ...)
{
    for (;;) {
        va_list ap;
        va_start(ap, fmt);
        int k = vsnprintf(*s ? *s + *len : NULL, *s ? *cap - *len : 0, fmt, ap);
        va_end(ap);
        if (k < 0) WANC_FAIL(WANC_EINTERNAL, "header formatting failed");
        if (*s && *len + (size_t)k < *cap) {
            *len += (size_t)k;
            return NULL;
        }
        size_t ncap = (*cap ? *cap * 2 : 4096) + (size_t)k;
        char *p = realloc(*s, ncap);
        if (!p) WANC_FAIL(WANC_ENOMEM, "out of memory for the safetensors header");
        *s = p;
        *cap = ncap;
    }
}

static wanc_err build_header(char **out, size_t *out_len, int n, const wanc_random_tensor *const *sorted,
                             const char *const *metadata)
{
    char *s = NULL;
    size_t len = 0, cap = 0;
    wanc_err err = sb_printf(&s, &len, &cap, "{\"__metadata__\":{");
    if (!metadata) err = err ? err : sb_printf(&s, &len, &cap, "\"format\":\"pt\"");
    for (int i = 0; metadata && metadata[i] && metadata[i + 1] && !err; i += 2)
        err = sb_printf(&s, &len, &cap, "%s\"%s\":\"%s\"", i ? "," : "", metadata[i], metadata[i + 1]);
    if (!err) err = sb_printf(&s, &len, &cap, "}");
    uint64_t off = 0;
    for (int i = 0; i < n && !err; i++) {
        const wanc_random_tensor *t = sorted[i];
        uint64_t bytes = (uint64_t)wanc_numel(t->ndim, t->shape) * wanc_dtype_size(t->dtype);
        err = sb_printf(&s, &len, &cap, ",\"%s\":{\"dtype\":\"%s\",\"shape\":[", t->name, wanc_dtype_name(t->dtype));
        for (int d = 0; d < t->ndim && !err; d++)
            err = sb_printf(&s, &len, &cap, "%s%lld", d ? "," : "", (long long)t->shape[d]);
        if (!err)
            err = sb_printf(&s, &len, &cap, "],\"data_offsets\":[%llu,%llu]}", (unsigned long long)off,
                            (unsigned long long)(off + bytes));
        off += bytes;
    }
    if (!err) err = sb_printf(&s, &len, &cap, "}");
    while (!err && len % 8) err = sb_printf(&s, &len, &cap, " "); /* header padded to 8 bytes */
    if (err) {
        free(s);
        return err;
    }
    *out = s;
    *out_len = len;
    return NULL;
}

static wanc_err check_specs(int n, const wanc_random_tensor *t)
{
    for (int i = 0; i < n; i++) {
        if (t[i].dtype != WANC_BF16 && t[i].dtype != WANC_F16 && t[i].dtype != WANC_F32)
            WANC_FAIL(WANC_EINVAL, "random tensor %s: dtype %s (BF16, F16 or F32 only)", t[i].name,
                      wanc_dtype_name(t[i].dtype));
        if (t[i].ndim < 0 || t[i].ndim > WANC_MAX_DIMS)
            WANC_FAIL(WANC_EINVAL, "random tensor %s: %d dims", t[i].name, t[i].ndim);
        for (int d = 0; d < t[i].ndim; d++)
            if (t[i].shape[d] < 0) WANC_FAIL(WANC_EINVAL, "random tensor %s: negative dimension", t[i].name);
        if (strpbrk(t[i].name, "\"\\")) WANC_FAIL(WANC_EINVAL, "random tensor name %s needs escaping", t[i].name);
    }
    return NULL;
}

static wanc_err write_tensor(FILE *f, const wanc_random_tensor *t, uint64_t seed, float *fbuf, void *obuf,
                             const char *tmp)
{
    int64_t numel = wanc_numel(t->ndim, t->shape);
    fill_job j = {.buf = fbuf, .tensor_key = hash_name(t->name, seed), .mean = t->mean, .std = t->std};
    for (int64_t at = 0; at < numel; at += RW_CHUNK) {
        j.first = at;
        j.count = numel - at < RW_CHUNK ? numel - at : RW_CHUNK;
        if (t->std == 0)
            for (int64_t i = 0; i < j.count; i++) fbuf[i] = t->mean;
        else wanc_parallel_for((j.count + RW_BLOCK - 1) / RW_BLOCK, 1, fill_range, &j);
        TRY(wanc_convert(obuf, t->dtype, fbuf, WANC_F32, (size_t)j.count));
        size_t bytes = (size_t)j.count * wanc_dtype_size(t->dtype);
        if (fwrite(obuf, 1, bytes, f) != bytes)
            WANC_FAIL(WANC_EIO, "%s: write failed (tensor %s): %s", tmp, t->name, strerror(errno));
    }
    return NULL;
}

wanc_err wanc_random_safetensors_write(const char *path, int n, const wanc_random_tensor *tensors, uint64_t seed,
                                       const char *const *metadata)
{
    TRY(check_specs(n, tensors));
    const wanc_random_tensor **sorted = malloc((size_t)(n ? n : 1) * sizeof *sorted);
    float *fbuf = malloc((size_t)RW_CHUNK * sizeof(float));
    void *obuf = malloc((size_t)RW_CHUNK * sizeof(float));
    char *header = NULL;
    const char *tmp = path; /* for messages */
    size_t hlen = 0;
    wanc_atomic_file a = {0};
    FILE *f = NULL;
    wanc_err err = NULL;
    if (!sorted || !fbuf || !obuf) {
        err = wanc_error(WANC_ENOMEM, "out of memory for the random-model writer");
        goto done;
    }
    for (int i = 0; i < n; i++) sorted[i] = &tensors[i];
    qsort(sorted, (size_t)n, sizeof *sorted, cmp_by_name);
    for (int i = 1; i < n; i++)
        if (!strcmp(sorted[i]->name, sorted[i - 1]->name)) {
            err = wanc_error(WANC_EINVAL, "random model: tensor %s listed twice", sorted[i]->name);
            goto done;
        }
    TRY_GOTO(err, done, build_header(&header, &hlen, n, sorted, metadata));
    TRY_GOTO(err, done, wanc_atomic_open(&a, path));
    f = a.f;
    uint8_t len8[8];
    for (int b = 0; b < 8; b++) len8[b] = (uint8_t)((uint64_t)hlen >> (8 * b)); /* little endian */
    if (fwrite(len8, 1, 8, f) != 8 || fwrite(header, 1, hlen, f) != hlen) {
        err = wanc_error(WANC_EIO, "%s: write failed: %s", tmp, strerror(errno));
        goto done;
    }
    for (int i = 0; i < n && !err; i++) err = write_tensor(f, sorted[i], seed, fbuf, obuf, tmp);
    if (!err) err = wanc_atomic_commit(&a);
done:
    if (err) wanc_atomic_abort(&a);
    free(sorted);
    free(fbuf);
    free(obuf);
    free(header);
    return err;
}
