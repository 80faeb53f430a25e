/* Tests of the checkpoint readers and the weight store. Every bad input is
 * built in a temporary folder at test time; each must give an error that
 * names the file and the problem. */
#include <ftw.h>
#include <limits.h>
#include <stdint.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>
#include <zlib.h>

#include "io/atomic_file.h"
#include "io/weights.h"
#include "test.h"
#include "wanc.h"

/* ---- scratch folder and byte buffers ---------------------------------------- */

static int rm_entry(const char *p, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)st, (void)flag, (void)ftw;
    return remove(p);
}

typedef struct {
    char dir[64];
} scratch;

static bool scratch_make(scratch *s)
{
    snprintf(s->dir, sizeof s->dir, "/tmp/wanc_test_io_XXXXXX");
    return mkdtemp(s->dir) != NULL;
}

static void scratch_drop(scratch *s) { nftw(s->dir, rm_entry, 8, FTW_DEPTH | FTW_PHYS); }

static const char *scratch_path(const scratch *s, const char *name, char *buf)
{
    snprintf(buf, PATH_MAX, "%s/%s", s->dir, name);
    return buf;
}

typedef struct {
    unsigned char *p;
    size_t n, cap;
} bytes;

static void put(bytes *b, const void *p, size_t n)
{
    if (b->n + n > b->cap) {
        b->cap = (b->n + n) * 2 + 64;
        b->p = realloc(b->p, b->cap);
    }
    memcpy(b->p + b->n, p, n);
    b->n += n;
}
static void put_u8(bytes *b, unsigned v) { unsigned char c = (unsigned char)v; put(b, &c, 1); }
static void put_u16(bytes *b, unsigned v) { put_u8(b, v & 0xff), put_u8(b, v >> 8 & 0xff); }
static void put_u32(bytes *b, uint32_t v) { put_u16(b, v & 0xffff), put_u16(b, v >> 16); }
static void put_u64(bytes *b, uint64_t v) { put_u32(b, (uint32_t)v), put_u32(b, (uint32_t)(v >> 32)); }
static void put_str(bytes *b, const char *s) { put(b, s, strlen(s)); }

static bool write_file(const char *path, const void *p, size_t n)
{
    FILE *f = fopen(path, "wb");
    if (!f) return false;
    bool ok = fwrite(p, 1, n, f) == n;
    return fclose(f) == 0 && ok;
}

/* A safetensors file from a header text and `data_len` bytes of data (value i%251). */
static bool write_st(const char *path, const char *header, size_t data_len)
{
    bytes b = {0};
    put_u64(&b, strlen(header));
    put_str(&b, header);
    for (size_t i = 0; i < data_len; i++) put_u8(&b, (unsigned)(i % 251));
    bool ok = write_file(path, b.p, b.n);
    free(b.p);
    return ok;
}

/* ---- a stored zip archive, written by hand --------------------------------------- */

typedef struct {
    const char *name;
    const void *data;
    size_t len;
} zip_member;

/* zip64: mark sizes/offsets as 0xffffffff with the values in ZIP64 extra
 * fields, and end with a ZIP64 end record + locator, as large torch files do. */
static bool write_zip_ex(const char *path, const zip_member *m, int n, bool zip64)
{
    bytes b = {0}, cd = {0};
    for (int i = 0; i < n; i++) {
        uint32_t crc = (uint32_t)crc32(0, m[i].data, (uInt)m[i].len);
        uint32_t off = (uint32_t)b.n;
        size_t nl = strlen(m[i].name);
        /* Pad the extra field so the data starts 64-byte aligned, as torch does. */
        size_t pad = (64 - (b.n + 30 + nl + 4) % 64) % 64;
        put_u32(&b, 0x04034b50), put_u16(&b, 20), put_u16(&b, 0), put_u16(&b, 0), put_u16(&b, 0), put_u16(&b, 0);
        put_u32(&b, crc), put_u32(&b, (uint32_t)m[i].len), put_u32(&b, (uint32_t)m[i].len);
        put_u16(&b, (unsigned)nl), put_u16(&b, (unsigned)(pad + 4));
        put_str(&b, m[i].name);
        put_u16(&b, 0x4646), put_u16(&b, (unsigned)pad);
        for (size_t k = 0; k < pad; k++) put_u8(&b, 'Z');
        put(&b, m[i].data, m[i].len);
        uint32_t big = 0xffffffffu;
        put_u32(&cd, 0x02014b50), put_u16(&cd, 45), put_u16(&cd, 45), put_u16(&cd, 0), put_u16(&cd, 0);
        put_u16(&cd, 0), put_u16(&cd, 0), put_u32(&cd, crc), put_u32(&cd, zip64 ? big : (uint32_t)m[i].len);
        put_u32(&cd, zip64 ? big : (uint32_t)m[i].len), put_u16(&cd, (unsigned)nl), put_u16(&cd, zip64 ? 28 : 0);
        put_u16(&cd, 0), put_u16(&cd, 0), put_u16(&cd, 0), put_u32(&cd, 0), put_u32(&cd, zip64 ? big : off);
        put_str(&cd, m[i].name);
        if (zip64) put_u16(&cd, 1), put_u16(&cd, 24), put_u64(&cd, m[i].len), put_u64(&cd, m[i].len), put_u64(&cd, off);
    }
    uint64_t cd_off = b.n;
    put(&b, cd.p, cd.n);
    if (zip64) {
        uint64_t rec = b.n;
        put_u32(&b, 0x06064b50), put_u64(&b, 44), put_u16(&b, 45), put_u16(&b, 45), put_u32(&b, 0), put_u32(&b, 0);
        put_u64(&b, (uint64_t)n), put_u64(&b, (uint64_t)n), put_u64(&b, cd.n), put_u64(&b, cd_off);
        put_u32(&b, 0x07064b50), put_u32(&b, 0), put_u64(&b, rec), put_u32(&b, 1);
    }
    put_u32(&b, 0x06054b50), put_u16(&b, 0), put_u16(&b, 0), put_u16(&b, zip64 ? 0xffff : (unsigned)n);
    put_u16(&b, zip64 ? 0xffff : (unsigned)n), put_u32(&b, zip64 ? 0xffffffffu : (uint32_t)cd.n);
    put_u32(&b, zip64 ? 0xffffffffu : (uint32_t)cd_off), put_u16(&b, 0);
    bool ok = write_file(path, b.p, b.n);
    free(b.p);
    free(cd.p);
    return ok;
}


/* ---- pickle pieces (protocol 2, as torch.save writes them) --------------------- */

static void pk_unicode(bytes *b, const char *s) { put_u8(b, 'X'), put_u32(b, (uint32_t)strlen(s)), put_str(b, s); }
static void pk_global(bytes *b, const char *mod, const char *name)
{
    put_u8(b, 'c'), put_str(b, mod), put_u8(b, '\n'), put_str(b, name), put_u8(b, '\n');
}
static void pk_int(bytes *b, int v)
{
    if (v >= 0 && v < 256) put_u8(b, 'K'), put_u8(b, (unsigned)v);
    else put_u8(b, 'J'), put_u32(b, (uint32_t)v);
}

/* _rebuild_tensor_v2((storage FloatStorage key, numel), offset, size(2), stride(2), False, OrderedDict()) */
static void pk_tensor2(bytes *b, const char *key, int numel, int offset, int s0, int s1, int st0, int st1)
{
    pk_global(b, "torch._utils", "_rebuild_tensor_v2");
    put_u8(b, '(');
    put_u8(b, '(');
    pk_unicode(b, "storage"), pk_global(b, "torch", "FloatStorage"), pk_unicode(b, key), pk_unicode(b, "cpu");
    pk_int(b, numel);
    put_u8(b, 't'), put_u8(b, 'Q');
    pk_int(b, offset);
    pk_int(b, s0), pk_int(b, s1), put_u8(b, 0x86);
    pk_int(b, st0), pk_int(b, st1), put_u8(b, 0x86);
    put_u8(b, 0x89);
    pk_global(b, "collections", "OrderedDict"), put_u8(b, ')'), put_u8(b, 'R');
    put_u8(b, 't'), put_u8(b, 'R');
}

/* A .pth with data.pkl `pkl` and float records "0" (6 floats: 0..5) unless `omit_record`. */
static bool write_pth_ex(const char *path, const bytes *pkl, bool omit_record, bool zip64)
{
    float rec[6] = {0, 1, 2, 3, 4, 5};
    zip_member m[3] = {{"arch/data.pkl", pkl->p, pkl->n}, {"arch/version", "3\n", 2}, {"arch/data/0", rec, sizeof rec}};
    return write_zip_ex(path, m, omit_record ? 2 : 3, zip64);
}
static bool write_pth(const char *path, const bytes *pkl, bool omit_record)
{
    return write_pth_ex(path, pkl, omit_record, false);
}

/* ---- safetensors: bad inputs ------------------------------------------------------ */

static wanc_err open_path(const char *p)
{
    wanc_weights *w = NULL;
    wanc_err e = wanc_weights_open(&w, p);
    wanc_weights_close(w);
    return e;
}

/* The error must name the file and contain `problem`. */
#define CHECK_BAD(path, code, problem)                                                                  \
    do {                                                                                                \
        wanc_err e_ = open_path(path);                                                                  \
        CHECK(e_ != NULL);                                                                              \
        if (e_) {                                                                                       \
            const char *m_ = wanc_error_message(e_);                                                    \
            if (!strstr(m_, path) || !strstr(m_, problem) || wanc_error_code(e_) != (code)) {          \
                fprintf(stderr, "  %s:%d: unexpected error (code %d): %s\n", __FILE__, __LINE__,       \
                        (int)wanc_error_code(e_), m_);                                                  \
                *test_failed_ = 1;                                                                      \
            }                                                                                           \
            wanc_error_free(e_);                                                                        \
        }                                                                                               \
    } while (0)

TEST(io_safetensors_truncated)
{
    scratch s;
    char p[PATH_MAX];
    CHECK(scratch_make(&s));
    CHECK(write_file(scratch_path(&s, "short.safetensors", p), "\x10\x00\x00", 3));
    CHECK_BAD(p, WANC_EFORMAT, "truncated");
    /* Header fine, data block cut short: offsets out of range. */
    CHECK(write_st(scratch_path(&s, "cut.safetensors", p),
                   "{\"a\":{\"dtype\":\"F32\",\"shape\":[4],\"data_offsets\":[0,16]}}", 10));
    CHECK_BAD(p, WANC_EFORMAT, "out of range");
    scratch_drop(&s);
}

TEST(io_safetensors_header_longer_than_file)
{
    scratch s;
    char p[PATH_MAX];
    CHECK(scratch_make(&s));
    bytes b = {0};
    put_u64(&b, 1000);
    put_str(&b, "{}");
    CHECK(write_file(scratch_path(&s, "h.safetensors", p), b.p, b.n));
    free(b.p);
    CHECK_BAD(p, WANC_EFORMAT, "header length 1000 larger than the file");
    scratch_drop(&s);
}

TEST(io_safetensors_invalid_json)
{
    scratch s;
    char p[PATH_MAX];
    CHECK(scratch_make(&s));
    CHECK(write_st(scratch_path(&s, "j.safetensors", p), "{\"a\":{\"dtype\":\"F32\",", 0));
    CHECK_BAD(p, WANC_EFORMAT, "invalid JSON header");
    CHECK(write_st(scratch_path(&s, "arr.safetensors", p), "[1,2]", 0));
    CHECK_BAD(p, WANC_EFORMAT, "invalid JSON header");
    scratch_drop(&s);
}

TEST(io_safetensors_bad_offsets)
{
    scratch s;
    char p[PATH_MAX];
    CHECK(scratch_make(&s));
    CHECK(write_st(scratch_path(&s, "ov.safetensors", p),
                   "{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]},"
                   "\"b\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[4,12]}}",
                   12));
    CHECK_BAD(p, WANC_EFORMAT, "overlap");
    CHECK(write_st(scratch_path(&s, "oor.safetensors", p),
                   "{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[8,16]}}", 12));
    CHECK_BAD(p, WANC_EFORMAT, "tensor a: data_offsets [8, 16] out of range");
    CHECK(write_st(scratch_path(&s, "rev.safetensors", p),
                   "{\"a\":{\"dtype\":\"F32\",\"shape\":[0],\"data_offsets\":[8,4]}}", 12));
    CHECK_BAD(p, WANC_EFORMAT, "out of range");
    CHECK(write_st(scratch_path(&s, "neg.safetensors", p),
                   "{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[-4,0]}}", 12));
    CHECK_BAD(p, WANC_EFORMAT, "data_offsets");
    scratch_drop(&s);
}

TEST(io_safetensors_unknown_dtype_and_size_mismatch)
{
    scratch s;
    char p[PATH_MAX];
    CHECK(scratch_make(&s));
    CHECK(write_st(scratch_path(&s, "dt.safetensors", p),
                   "{\"a\":{\"dtype\":\"F12\",\"shape\":[2],\"data_offsets\":[0,8]}}", 8));
    CHECK_BAD(p, WANC_EFORMAT, "tensor a: unknown dtype F12");
    CHECK(write_st(scratch_path(&s, "sz.safetensors", p),
                   "{\"a\":{\"dtype\":\"BF16\",\"shape\":[3,2],\"data_offsets\":[0,8]}}", 8));
    CHECK_BAD(p, WANC_EFORMAT, "tensor a: shape 3x2 of BF16 needs 12 bytes, data_offsets give 8");
    CHECK(write_st(scratch_path(&s, "sh.safetensors", p),
                   "{\"a\":{\"dtype\":\"F32\",\"shape\":[2.5],\"data_offsets\":[0,8]}}", 8));
    CHECK_BAD(p, WANC_EFORMAT, "tensor a: shape");
    scratch_drop(&s);
}

TEST(io_bad_paths)
{
    scratch s;
    char p[PATH_MAX];
    CHECK(scratch_make(&s));
    CHECK_BAD(scratch_path(&s, "missing.safetensors", p), WANC_EIO, "cannot open");
    CHECK_BAD(s.dir, WANC_EIO, "is a directory");
    CHECK(write_file(scratch_path(&s, "empty.safetensors", p), "", 0));
    CHECK_BAD(p, WANC_EFORMAT, "empty file");
    CHECK_BAD(scratch_path(&s, "none*.safetensors", p), WANC_ENOTFOUND, "no file matches");
    scratch_drop(&s);
}

/* ---- .pth: bad inputs --------------------------------------------------------------- */

TEST(io_pth_refuses_os_system)
{
    scratch s;
    char p[PATH_MAX];
    CHECK(scratch_make(&s));
    bytes b = {0};
    put_u8(&b, 0x80), put_u8(&b, 2);
    pk_global(&b, "os", "system");
    pk_unicode(&b, "touch /tmp/wanc_pwned"), put_u8(&b, 0x85), put_u8(&b, 'R'), put_u8(&b, '.');
    CHECK(write_pth(scratch_path(&s, "evil.pth", p), &b, false));
    CHECK_BAD(p, WANC_EFORMAT, "global os.system, which is not allowed");
    free(b.p);
    scratch_drop(&s);
}

TEST(io_pth_refuses_builtins_eval)
{
    scratch s;
    char p[PATH_MAX];
    CHECK(scratch_make(&s));
    /* Protocol 4 STACK_GLOBAL form. */
    bytes b = {0};
    put_u8(&b, 0x80), put_u8(&b, 4);
    put_u8(&b, 0x8c), put_u8(&b, 8), put_str(&b, "builtins");
    put_u8(&b, 0x8c), put_u8(&b, 4), put_str(&b, "eval");
    put_u8(&b, 0x93);
    put_u8(&b, 0x8c), put_u8(&b, 4), put_str(&b, "1+1"), put_u8(&b, 0x85), put_u8(&b, 'R'), put_u8(&b, '.');
    CHECK(write_pth(scratch_path(&s, "evil.pt", p), &b, false));
    CHECK_BAD(p, WANC_EFORMAT, "global builtins.eval, which is not allowed");
    free(b.p);
    scratch_drop(&s);
}

static void pk_state_dict_one(bytes *b, int s0, int s1, int st0, int st1)
{
    put_u8(b, 0x80), put_u8(b, 2);
    pk_global(b, "collections", "OrderedDict"), put_u8(b, ')'), put_u8(b, 'R');
    put_u8(b, '(');
    pk_unicode(b, "w");
    pk_tensor2(b, "0", 6, 0, s0, s1, st0, st1);
    put_u8(b, 'u');
}

TEST(io_pth_missing_record_and_legacy)
{
    scratch s;
    char p[PATH_MAX];
    CHECK(scratch_make(&s));
    bytes b = {0};
    pk_state_dict_one(&b, 2, 3, 3, 1);
    put_u8(&b, '.');
    CHECK(write_pth(scratch_path(&s, "norec.pth", p), &b, true));
    CHECK_BAD(p, WANC_EFORMAT, "record arch/data/0 named by data.pkl is missing");
    /* A legacy (torch < 1.6) file is a bare pickle stream. */
    CHECK(write_file(scratch_path(&s, "legacy.pth", p), b.p, b.n));
    CHECK_BAD(p, WANC_EUNSUPPORTED, "legacy PyTorch format is unsupported, re-save with torch >= 1.6");
    /* A view past its storage. */
    bytes c = {0};
    pk_state_dict_one(&c, 3, 3, 3, 1);
    put_u8(&c, '.');
    CHECK(write_pth(scratch_path(&s, "big.pth", p), &c, false));
    CHECK_BAD(p, WANC_EFORMAT, "outside its storage");
    /* Truncated pickle. */
    c.n -= 5;
    CHECK(write_pth(scratch_path(&s, "trunc.pth", p), &c, false));
    CHECK_BAD(p, WANC_EFORMAT, "data.pkl");
    /* Truncated archive. */
    CHECK(write_file(scratch_path(&s, "cut.pth", p), "PK\x03\x04garbage", 11));
    CHECK_BAD(p, WANC_EFORMAT, "zip");
    free(b.p);
    free(c.p);
    scratch_drop(&s);
}

/* ---- limits on hostile input (core/limits.h): named errors, bounded work ------------ */

/* Every hostile case below is refused within these (docs/architecture.md).
 * Most cost milliseconds and a few MiB; the pickle machine may hold up to
 * WANC_LIMIT_PICKLE_VALUES values of ~110-280 bytes each (a million nested
 * lists: ~280 MiB, seconds). The bounds leave room for ASan and a loaded
 * machine; a missing limit would blow through them by orders of magnitude. */
#define HOSTILE_S 60
#define HOSTILE_MIB 256
#define HOSTILE_PICKLE_MIB 1024

TEST(io_limit_safetensors_header_length)
{
    scratch s;
    char p[PATH_MAX];
    CHECK(scratch_make(&s));
    /* a header claiming 10^12 bytes (room for ~10^10 tensors) in a tiny file */
    bytes b = {0};
    put_u64(&b, 1000000000000ull);
    put_str(&b, "{}");
    CHECK(write_file(scratch_path(&s, "huge.safetensors", p), b.p, b.n));
    test_bound t = test_bound_start();
    CHECK_BAD(p, WANC_EFORMAT, "over the 100000000-byte limit");
    CHECK(test_bound_held(t, HOSTILE_S, HOSTILE_MIB, "a 10^12-byte header claim"));
    free(b.p);
    scratch_drop(&s);
}

/* A .pth whose data.pkl is `n` copies of `op`, then `tail`. */
static bool write_pth_repeat(const char *path, unsigned char op, size_t n, const char *tail)
{
    bytes b = {0};
    put_u8(&b, 0x80), put_u8(&b, 2);
    for (size_t i = 0; i < n; i++) put_u8(&b, op);
    put_str(&b, tail);
    bool ok = write_pth(path, &b, false);
    free(b.p);
    return ok;
}

TEST(io_limit_pickle_nesting_values_memo)
{
    scratch s;
    char p[PATH_MAX];
    CHECK(scratch_make(&s));
    /* a million nested MARKs: the machine is iterative, the pickle just ends */
    CHECK(write_pth_repeat(scratch_path(&s, "marks.pth", p), '(', 1000000, "N."));
    test_bound t = test_bound_start();
    CHECK_BAD(p, WANC_EFORMAT, "does not hold a state dict");
    CHECK(test_bound_held(t, HOSTILE_S, HOSTILE_PICKLE_MIB, "a million nested marks"));
    /* a list nested a million levels deep: a million empty lists, each appended into the one before */
    bytes b = {0};
    put_u8(&b, 0x80), put_u8(&b, 2);
    for (int i = 0; i < 1000000; i++) put_u8(&b, ']');
    for (int i = 0; i < 999999; i++) put_u8(&b, 'a');
    put_u8(&b, '.');
    CHECK(write_pth(scratch_path(&s, "nested.pth", p), &b, false));
    t = test_bound_start();
    CHECK_BAD(p, WANC_EFORMAT, "does not hold a state dict");
    CHECK(test_bound_held(t, HOSTILE_S, HOSTILE_PICKLE_MIB, "a list nested a million levels"));
    free(b.p);
    /* three million values: past the value limit, refused with it named */
    CHECK(write_pth_repeat(scratch_path(&s, "values.pth", p), 'N', 3000000, "."));
    t = test_bound_start();
    CHECK_BAD(p, WANC_EFORMAT, "more than 2097152 values");
    CHECK(test_bound_held(t, HOSTILE_S, HOSTILE_PICKLE_MIB, "three million pickle values"));
    /* a memo slot far past the values made: no 16 GiB memo table */
    CHECK(write_pth_repeat(scratch_path(&s, "memo.pth", p), 'N', 1, "r\xff\xff\xff\x7f."));
    CHECK_BAD(p, WANC_EFORMAT, "memo index 2147483647 out of range");
    scratch_drop(&s);
}

TEST(io_limit_view_bomb_and_compressed_zip)
{
    scratch s;
    char p[PATH_MAX];
    CHECK(scratch_make(&s));
    /* a tensor of 2^40 elements viewing one float of its storage with stride 0:
     * a 24-byte record asking for a 4 TiB copy */
    bytes b = {0};
    pk_state_dict_one(&b, 1 << 30, 1 << 10, 0, 0);
    put_u8(&b, '.');
    CHECK(write_pth(scratch_path(&s, "view.pth", p), &b, false));
    test_bound t = test_bound_start();
    CHECK_BAD(p, WANC_EFORMAT, "a view that repeats its data");
    CHECK(test_bound_held(t, HOSTILE_S, HOSTILE_MIB, "a 4 TiB view of one float"));
    free(b.p);
    /* a zip bomb: records are never inflated (torch stores them), a deflated one is refused */
    bytes z = {0};
    pk_state_dict_one(&z, 2, 3, 3, 1);
    put_u8(&z, '.');
    CHECK(write_pth(scratch_path(&s, "zip.pth", p), &z, false));
    FILE *f = fopen(p, "r+b");
    CHECK(f != NULL);
    if (f) { /* method field of the first local header and its central entry: deflate (8) */
        unsigned char *all = malloc(1 << 16);
        size_t n = fread(all, 1, 1 << 16, f);
        for (size_t i = 0; i + 12 < n; i++)
            if (!memcmp(all + i, "PK\x01\x02", 4)) {
                all[i + 10] = 8;
                break;
            }
        all[8] = 8;
        rewind(f);
        CHECK(fwrite(all, 1, n, f) == n);
        fclose(f);
        free(all);
        t = test_bound_start();
        CHECK_BAD(p, WANC_EUNSUPPORTED, "is compressed");
        CHECK(test_bound_held(t, HOSTILE_S, HOSTILE_MIB, "a deflated (zip bomb) record"));
    }
    free(z.p);
    scratch_drop(&s);
}

TEST(io_limit_index_shards)
{
    scratch s;
    char p[PATH_MAX];
    CHECK(scratch_make(&s));
    const char *outside[] = {"{\"weight_map\":{\"x\":\"/etc/passwd\"}}", "{\"weight_map\":{\"x\":\"../x.safetensors\"}}",
                             "{\"weight_map\":{\"x\":\"a/../../x\"}}", "{\"weight_map\":{\"x\":\"\"}}"};
    for (int i = 0; i < 4; i++) {
        CHECK(write_file(scratch_path(&s, "m.safetensors.index.json", p), outside[i], strlen(outside[i])));
        CHECK_BAD(p, WANC_EFORMAT, "does not name a file in the index's folder");
    }
    /* 5000 distinct shard names: refused before any is opened */
    bytes b = {0};
    put_str(&b, "{\"weight_map\":{");
    char e[64];
    for (int i = 0; i < 5000; i++) {
        snprintf(e, sizeof e, "%s\"t%d\":\"s%d.safetensors\"", i ? "," : "", i, i);
        put_str(&b, e);
    }
    put_str(&b, "}}");
    CHECK(write_file(scratch_path(&s, "many.safetensors.index.json", p), b.p, b.n));
    CHECK_BAD(p, WANC_EFORMAT, "more than the limit of 4096");
    free(b.p);
    /* a FIFO where a checkpoint should be: refused, never waited on */
    CHECK(mkfifo(scratch_path(&s, "fifo.safetensors", p), 0600) == 0);
    CHECK_BAD(p, WANC_EIO, "not a regular file");
    const char *fifo_idx = "{\"weight_map\":{\"x\":\"fifo.safetensors\"}}";
    CHECK(write_file(scratch_path(&s, "f.safetensors.index.json", p), fifo_idx, strlen(fifo_idx)));
    CHECK_BAD(p, WANC_EIO, "not a regular file");
    scratch_drop(&s);
}

/* ---- .pth: good inputs -------------------------------------------------------------- */

TEST(io_pth_state_dict_wrapped_and_strided)
{
    scratch s;
    char p[PATH_MAX];
    CHECK(scratch_make(&s));
    /* {"state_dict": OrderedDict(w = transpose of a 2x3 storage, v = contiguous)} with a BUILD state. */
    bytes b = {0};
    put_u8(&b, 0x80), put_u8(&b, 2);
    put_u8(&b, '}');
    pk_unicode(&b, "state_dict");
    pk_global(&b, "collections", "OrderedDict"), put_u8(&b, ')'), put_u8(&b, 'R');
    put_u8(&b, 'q'), put_u8(&b, 0); /* memoised dict */
    put_u8(&b, '(');
    pk_unicode(&b, "w");
    pk_tensor2(&b, "0", 6, 0, 3, 2, 1, 3);
    pk_unicode(&b, "v");
    pk_tensor2(&b, "0", 6, 2, 2, 2, 2, 1);
    put_u8(&b, 'u');
    put_u8(&b, '}'), put_u8(&b, 'b'); /* BUILD with an (ignored) state dict */
    put_u8(&b, 's');
    put_u8(&b, '.');
    CHECK(write_pth(scratch_path(&s, "ok.pth", p), &b, false));
    wanc_weights *w = NULL;
    CHECK_OK(wanc_weights_open(&w, p));
    if (w) {
        CHECK(wanc_weights_count(w) == 2);
        CHECK(strcmp(wanc_weights_name(w, 0), "v") == 0 && strcmp(wanc_weights_name(w, 1), "w") == 0);
        const wanc_tensor *t;
        CHECK_OK(wanc_weights_get(w, "w", &t, 2, (int64_t[]){3, 2}));
        if (t) {
            CHECK(t->dtype == WANC_F32 && wanc_tensor_is_contiguous(t));
            const float *f = t->data; /* w[i][j] = storage[i + 3j] */
            CHECK(f[0] == 0 && f[1] == 3 && f[2] == 1 && f[3] == 4 && f[4] == 2 && f[5] == 5);
        }
        CHECK_OK(wanc_weights_get(w, "v", &t, 2, (int64_t[]){2, 2}));
        if (t) {
            const float *f = t->data; /* offset 2, stride (2,1): 2 3 / 4 5 */
            CHECK(f[0] == 2 && f[1] == 3 && f[2] == 4 && f[3] == 5);
            CHECK(t->owned == NULL); /* a zero-copy view into the mapping */
        }
        CHECK(wanc_weights_metadata(w, "format") == NULL);
    }
    wanc_weights_close(w);
    free(b.p);
    scratch_drop(&s);
}

TEST(io_pth_zip64)
{
    scratch s;
    char p[PATH_MAX];
    CHECK(scratch_make(&s));
    bytes b = {0};
    pk_state_dict_one(&b, 2, 3, 3, 1);
    put_u8(&b, '.');
    CHECK(write_pth_ex(scratch_path(&s, "z64.pth", p), &b, false, true));
    wanc_weights *w = NULL;
    CHECK_OK(wanc_weights_open(&w, p));
    const wanc_tensor *t = NULL;
    if (w) CHECK_OK(wanc_weights_get(w, "w", &t, 2, (int64_t[]){2, 3}));
    CHECK(t && ((const float *)t->data)[5] == 5 && t->owned == NULL);
    wanc_weights_close(w);
    free(b.p);
    scratch_drop(&s);
}

static void pk_short(bytes *b, const char *s) { put_u8(b, 0x8c), put_u8(b, (unsigned)strlen(s)), put_str(b, s); }

/* Protocol 4 (MEMOIZE, STACK_GLOBAL, SHORT_BINUNICODE): memo indices count the entries set. */
TEST(io_pth_protocol4_memoize)
{
    scratch s;
    char p[PATH_MAX];
    CHECK(scratch_make(&s));
    bytes b = {0};
    put_u8(&b, 0x80), put_u8(&b, 4);
    pk_short(&b, "collections"), put_u8(&b, 0x94), pk_short(&b, "OrderedDict"), put_u8(&b, 0x94);
    put_u8(&b, 0x93), put_u8(&b, 0x94);                   /* memo 2: OrderedDict */
    put_u8(&b, ')'), put_u8(&b, 'R'), put_u8(&b, 0x94); /* memo 3: the dict */
    put_u8(&b, '(');
    pk_short(&b, "a"), put_u8(&b, 0x94);                                 /* memo 4 */
    pk_global(&b, "torch._utils", "_rebuild_tensor_v2"), put_u8(&b, 0x94); /* memo 5 */
    for (int k = 0; k < 2; k++) {
        if (k) pk_short(&b, "b"), put_u8(&b, 'h'), put_u8(&b, 5); /* the rebuild function again, by memo */
        put_u8(&b, '('), put_u8(&b, '(');
        pk_short(&b, "storage"), pk_global(&b, "torch", "FloatStorage"), pk_short(&b, "0"), pk_short(&b, "cpu");
        pk_int(&b, 6), put_u8(&b, 't'), put_u8(&b, 'Q');
        pk_int(&b, k), pk_int(&b, 5), put_u8(&b, 0x85), pk_int(&b, 1), put_u8(&b, 0x85), put_u8(&b, 0x89);
        put_u8(&b, 'h'), put_u8(&b, 2), put_u8(&b, ')'), put_u8(&b, 'R'); /* hooks = OrderedDict() by memo */
        put_u8(&b, 't'), put_u8(&b, 'R');
    }
    put_u8(&b, 'u'), put_u8(&b, '.');
    CHECK(write_pth(scratch_path(&s, "p4.pth", p), &b, false));
    wanc_weights *w = NULL;
    CHECK_OK(wanc_weights_open(&w, p));
    const wanc_tensor *t = w ? wanc_weights_find(w, "b") : NULL;
    CHECK(wanc_weights_count(w) == 2 && t && t->shape[0] == 5 && ((const float *)t->data)[0] == 1);
    wanc_weights_close(w);
    free(b.p);
    scratch_drop(&s);
}

/* Header lengths whose first byte is 'P','K' (0x4b50) or 0x80 (384) are still safetensors. */
TEST(io_safetensors_header_length_looks_like_other_formats)
{
    scratch s;
    char p[PATH_MAX];
    CHECK(scratch_make(&s));
    const size_t lens[] = {0x4b50, 0x180};
    for (int k = 0; k < 2; k++) {
        char *h = malloc(lens[k] + 1);
        const char *json = "{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]}}";
        memset(h, ' ', lens[k]);
        memcpy(h, json, strlen(json));
        h[lens[k]] = 0;
        CHECK(write_st(scratch_path(&s, "odd.safetensors", p), h, 4));
        free(h);
        wanc_weights *w = NULL;
        CHECK_OK(wanc_weights_open(&w, p));
        CHECK(wanc_weights_count(w) == 1);
        wanc_weights_close(w);
    }
    scratch_drop(&s);
}

/* ---- write / read, shards, store ------------------------------------------------------ */

TEST(io_write_read_roundtrip)
{
    scratch s;
    char p[PATH_MAX];
    CHECK(scratch_make(&s));
    wanc_tensor t[3];
    CHECK_OK(wanc_tensor_alloc(&t[0], WANC_F32, 2, (int64_t[]){2, 3}));
    CHECK_OK(wanc_tensor_alloc(&t[1], WANC_BF16, 1, (int64_t[]){5}));
    CHECK_OK(wanc_tensor_alloc(&t[2], WANC_I64, 0, NULL));
    for (int i = 0; i < 6; i++) ((float *)t[0].data)[i] = (float)i * 0.5f;
    for (int i = 0; i < 5; i++) ((uint16_t *)t[1].data)[i] = wanc_f32_to_bf16((float)-i);
    ((int64_t *)t[2].data)[0] = -7;
    const char *names[] = {"z.weight", "a.bias", "m.step"};
    const char *meta[] = {"format", "pt", "note", "wanc test", NULL};
    CHECK_OK(wanc_safetensors_write(scratch_path(&s, "rt.safetensors", p), 3, names, t, meta));
    /* Header length is a multiple of 8 and the temporary is gone. */
    FILE *f = fopen(p, "rb");
    unsigned char h[8] = {0};
    CHECK(f && fread(h, 1, 8, f) == 8);
    if (f) fclose(f);
    CHECK(h[0] % 8 == 0);
    wanc_weights *w = NULL;
    CHECK_OK(wanc_weights_open(&w, p));
    if (w) {
        CHECK(wanc_weights_count(w) == 3);
        CHECK(strcmp(wanc_weights_name(w, 0), "a.bias") == 0 && strcmp(wanc_weights_name(w, 2), "z.weight") == 0);
        CHECK(strcmp(wanc_weights_metadata(w, "note"), "wanc test") == 0);
        CHECK(strcmp(wanc_weights_file_of(w, 1), p) == 0 && strcmp(wanc_weights_describe(w), p) == 0);
        const wanc_tensor *g;
        CHECK_OK(wanc_weights_get(w, "z.weight", &g, 2, (int64_t[]){2, 3}));
        CHECK(g && memcmp(g->data, t[0].data, 24) == 0 && g->owned == NULL);
        CHECK_OK(wanc_weights_get(w, "m.step", &g, 0, NULL));
        CHECK(g && g->dtype == WANC_I64 && ((const int64_t *)g->data)[0] == -7);
        float *bf = NULL;
        CHECK_OK(wanc_weights_load_f32(w, "a.bias", &bf, 1, (int64_t[]){-1}));
        CHECK(bf && bf[0] == 0 && bf[4] == -4);
        free(bf);
        CHECK_ERR(wanc_weights_get(w, "z.weight", &g, 2, (int64_t[]){3, 2}), WANC_ESHAPE,
                  "tensor z.weight: shape 2x3, expected 3x2");
        CHECK_ERR(wanc_weights_getf(w, &g, -1, NULL, "blocks.%d.x", 4), WANC_ENOTFOUND, "no tensor blocks.4.x");
    }
    wanc_weights_close(w);
    /* A listing through wanc_info_print. */
    char out[PATH_MAX];
    FILE *o = fopen(scratch_path(&s, "info.txt", out), "w+");
    CHECK(o != NULL);
    if (o) {
        CHECK_OK(wanc_info_print(o, p));
        rewind(o);
        char txt[512] = {0};
        CHECK(fread(txt, 1, sizeof txt - 1, o) > 0);
        fclose(o);
        CHECK(strcmp(txt, "a.bias\tBF16\t5\nm.step\tI64\t[]\nz.weight\tF32\t2x3\ntensors: 3\ntensor types: F32 1 BF16 1 I64 1\n") == 0);
    }
    for (int i = 0; i < 3; i++) wanc_tensor_free(&t[i]);
    scratch_drop(&s);
}

TEST(io_misaligned_tensor_is_copied)
{
    scratch s;
    char p[PATH_MAX];
    CHECK(scratch_make(&s));
    /* Header of odd length: the F32 data starts at a 1 mod 4 address. */
    const char *hdr = "{\"a\":{\"dtype\":\"U8\",\"shape\":[1],\"data_offsets\":[0,1]},"
                      "\"b\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[1,9]}} ";
    CHECK(write_st(scratch_path(&s, "mis.safetensors", p), hdr, 9));
    wanc_weights *w = NULL;
    CHECK_OK(wanc_weights_open(&w, p));
    const wanc_tensor *b = w ? wanc_weights_find(w, "b") : NULL;
    CHECK(b && ((uintptr_t)b->data % 4) == 0);
    if (b) {
        unsigned char want[8] = {1, 2, 3, 4, 5, 6, 7, 8};
        CHECK(memcmp(b->data, want, 8) == 0);
    }
    wanc_weights_close(w);
    scratch_drop(&s);
}

static void write_shard(const scratch *s, const char *name, const char *tensor, float v)
{
    char p[PATH_MAX];
    wanc_tensor t;
    if (wanc_tensor_alloc(&t, WANC_F32, 1, (int64_t[]){2})) return;
    ((float *)t.data)[0] = v, ((float *)t.data)[1] = -v;
    wanc_err e = wanc_safetensors_write(scratch_path(s, name, p), 1, &tensor, &t, NULL);
    wanc_error_free(e);
    wanc_tensor_free(&t);
}

TEST(io_shards_index_and_glob)
{
    scratch s;
    char p[PATH_MAX];
    CHECK(scratch_make(&s));
    write_shard(&s, "diffusion_pytorch_model-00001-of-00002.safetensors", "model.blocks.0.w", 1);
    write_shard(&s, "diffusion_pytorch_model-00002-of-00002.safetensors", "model.blocks.1.w", 2);
    const char *idx = "{\"metadata\":{\"total_size\":16},\"weight_map\":{"
                      "\"model.blocks.0.w\":\"diffusion_pytorch_model-00001-of-00002.safetensors\","
                      "\"model.blocks.1.w\":\"diffusion_pytorch_model-00002-of-00002.safetensors\"}}";
    CHECK(write_file(scratch_path(&s, "diffusion_pytorch_model.safetensors.index.json", p), idx, strlen(idx)));
    wanc_weights *w = NULL;
    CHECK_OK(wanc_weights_open(&w, p));
    CHECK(wanc_weights_count(w) == 2);
    /* Prefix stripping: the stored names carry "model.". */
    const wanc_tensor *t = wanc_weights_find(w, "blocks.1.w");
    CHECK(t && ((const float *)t->data)[0] == 2);
    CHECK(wanc_weights_has(w, "model.blocks.0.w") && wanc_weights_has(w, "blocks.0.w"));
    CHECK(wanc_weights_has(w, "model.diffusion_model.blocks.0.w")); /* query prefix stripped */
    CHECK(!wanc_weights_has(w, "blocks.2.w"));
    CHECK(strstr(wanc_weights_describe(w), "2 files: "));
    CHECK(strstr(wanc_weights_file_of(w, 1), "00002-of-00002"));
    wanc_weights_close(w);
    w = NULL;
    CHECK_OK(wanc_weights_open(&w, scratch_path(&s, "diffusion_pytorch_model*.safetensors", p)));
    CHECK(wanc_weights_count(w) == 2);
    wanc_weights_close(w);
    /* The same tensor in two files is an error naming both. */
    write_shard(&s, "dup.safetensors", "model.blocks.0.w", 3);
    char a[PATH_MAX], b[PATH_MAX];
    const char *paths[] = {scratch_path(&s, "diffusion_pytorch_model-00001-of-00002.safetensors", a),
                           scratch_path(&s, "dup.safetensors", b)};
    w = NULL;
    CHECK_ERR(wanc_weights_open_files(&w, paths, 2), WANC_EFORMAT, "tensor model.blocks.0.w appears in both");
    CHECK(w == NULL);
    /* An index naming a missing shard. */
    const char *bad = "{\"weight_map\":{\"x\":\"gone.safetensors\"}}";
    CHECK(write_file(scratch_path(&s, "bad.safetensors.index.json", p), bad, strlen(bad)));
    CHECK_BAD(p, WANC_EIO, "gone.safetensors: cannot open");
    scratch_drop(&s);
}

static int map_drop_prefix(char *dst, size_t cap, const char *src, void *user)
{
    int *calls = user;
    (*calls)++;
    if (strstr(src, "drop")) return 0;
    snprintf(dst, cap, "renamed.%s", strncmp(src, "model.", 6) == 0 ? src + 6 : src);
    return 1;
}

static int map_collide(char *dst, size_t cap, const char *src, void *user)
{
    (void)src, (void)user;
    snprintf(dst, cap, "same");
    return 1;
}

TEST(io_rename)
{
    scratch s;
    char p[PATH_MAX];
    CHECK(scratch_make(&s));
    wanc_tensor t[3];
    const char *names[] = {"model.zeta", "model.alpha", "model.drop_me"};
    for (int i = 0; i < 3; i++) CHECK_OK(wanc_tensor_alloc(&t[i], WANC_F32, 1, (int64_t[]){i + 1}));
    CHECK_OK(wanc_safetensors_write(scratch_path(&s, "r.safetensors", p), 3, names, t, NULL));
    wanc_weights *w = NULL;
    CHECK_OK(wanc_weights_open(&w, p));
    int calls = 0;
    if (w) {
        CHECK_OK(wanc_weights_rename(w, map_drop_prefix, &calls));
        CHECK(calls == 3 && wanc_weights_count(w) == 2);
        CHECK(strcmp(wanc_weights_name(w, 0), "renamed.alpha") == 0);
        CHECK(strcmp(wanc_weights_name(w, 1), "renamed.zeta") == 0);
        const wanc_tensor *z = wanc_weights_find(w, "renamed.zeta");
        CHECK(z && z->shape[0] == 1);
        CHECK(!wanc_weights_has(w, "model.zeta"));
        CHECK_ERR(wanc_weights_rename(w, map_collide, NULL), WANC_EFORMAT, "tensor same appears twice");
    }
    wanc_weights_close(w);
    for (int i = 0; i < 3; i++) wanc_tensor_free(&t[i]);
    scratch_drop(&s);
}

/* ---- the CLI on a bad file ------------------------------------------------------------- */

TEST(io_info_fails_on_bad_file)
{
    scratch s;
    char p[PATH_MAX];
    CHECK(scratch_make(&s));
    CHECK(write_st(scratch_path(&s, "bad.safetensors", p), "{not json", 0));
    FILE *o = fopen("/dev/null", "w");
    CHECK_ERR(wanc_info_print(o, p), WANC_EFORMAT, "invalid JSON header");
    if (o) fclose(o);
    /* The wanc binary next to this test binary (build/ or build-asan/). */
    char exe[PATH_MAX];
    ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 16);
    if (n > 0) {
        exe[n] = 0;
        char *slash = strrchr(exe, '/');
        if (slash) strcpy(slash + 1, "wanc");
        if (access(exe, X_OK) == 0) {
            char cmd[3 * PATH_MAX];
            snprintf(cmd, sizeof cmd, "'%s' info '%s' >/dev/null 2>&1", exe, p);
            int rc = system(cmd);
            CHECK(rc != -1 && WIFEXITED(rc) && WEXITSTATUS(rc) != 0);
            snprintf(cmd, sizeof cmd, "'%s' info '%s' 2>&1 | grep -q 'bad.safetensors: invalid JSON'", exe, p);
            CHECK(system(cmd) == 0);
        }
    }
    scratch_drop(&s);
}

/* ---- the shared fixtures: .pth and .safetensors twins hold the same tensors ---------- */

static void check_same_tensors(int *test_failed_, const char *a, const char *b)
{
    wanc_weights *x = NULL, *y = NULL;
    CHECK_OK(wanc_weights_open(&x, a));
    CHECK_OK(wanc_weights_open(&y, b));
    if (x && y) {
        CHECK(wanc_weights_count(x) == wanc_weights_count(y) && wanc_weights_count(x) > 0);
        for (int i = 0; i < wanc_weights_count(x) && i < wanc_weights_count(y); i++) {
            const wanc_tensor *s = wanc_weights_tensor(x, i), *t = wanc_weights_tensor(y, i);
            bool same = strcmp(wanc_weights_name(x, i), wanc_weights_name(y, i)) == 0 && s->dtype == t->dtype &&
                        wanc_tensor_shape_is(s, t->ndim, t->shape) &&
                        memcmp(s->data, t->data, wanc_tensor_nbytes(s)) == 0;
            if (!same) fprintf(stderr, "  %s vs %s: tensor %s differs\n", a, b, wanc_weights_name(x, i));
            CHECK(same);
        }
    }
    wanc_weights_close(x);
    wanc_weights_close(y);
}

TEST(io_fixture_pth_equals_safetensors)
{
    const char *root = "../shared/fixtures";
    struct stat st;
    if (stat(root, &st) != 0) {
        printf("  (fixture tree %s absent: twin comparison not run)\n", root);
        return;
    }
    check_same_tensors(test_failed_, "../shared/fixtures/t5_umt5_encoder/models_t5_umt5-xxl-enc-bf16_tiny.pth",
                       "../shared/fixtures/t5_umt5_encoder/models_t5_umt5-xxl-enc-bf16_tiny.safetensors");
    check_same_tensors(test_failed_, "../shared/fixtures/vae21/Wan2.1_VAE.pth",
                       "../shared/fixtures/vae21/Wan2.1_VAE.safetensors");
}

/* A SIGKILL leaves "<path>.part-<pid>" (a file, or a frame folder's temporary
 * with frames in it): the next write of the same path removes those whose
 * process is gone, and leaves a live process's and other paths' alone. */
TEST(io_atomic_write_removes_a_killed_writers_temporaries)
{
    scratch s;
    CHECK(scratch_make(&s));
    pid_t child = fork();
    if (child == 0) _exit(0);
    CHECK(child > 0);
    waitpid(child, NULL, 0); /* its pid is now a process that no longer exists */
    char out[PATH_MAX], dead[PATH_MAX], dead_dir[PATH_MAX], frame[PATH_MAX], live[PATH_MAX], other[PATH_MAX],
        name[64];
    scratch_path(&s, "out.bin", out);
    snprintf(name, sizeof name, "out.bin.part-%ld", (long)child);
    scratch_path(&s, name, dead);
    snprintf(name, sizeof name, "out.bin.part-%ld", (long)getppid()); /* alive: our parent */
    scratch_path(&s, name, live);
    snprintf(name, sizeof name, "other.bin.part-%ld", (long)child);
    scratch_path(&s, name, other);
    const char *files[] = {dead, live, other};
    for (int i = 0; i < 3; i++) {
        FILE *f = fopen(files[i], "wb");
        CHECK(f && fputs("partial", f) >= 0);
        if (f) fclose(f);
    }
    wanc_atomic_file a;
    CHECK_OK(wanc_atomic_open(&a, out));
    CHECK(a.f && fputs("whole", a.f) >= 0);
    CHECK_OK(wanc_atomic_commit(&a));
    CHECK(access(out, F_OK) == 0);
    CHECK(access(dead, F_OK) != 0);
    CHECK(access(live, F_OK) == 0);
    CHECK(access(other, F_OK) == 0);
    /* a frame folder's temporary */
    scratch_path(&s, "frames", out);
    snprintf(name, sizeof name, "frames.part-%ld", (long)child);
    scratch_path(&s, name, dead_dir);
    CHECK(mkdir(dead_dir, 0755) == 0);
    snprintf(frame, sizeof frame, "%s/frame_00000.png", dead_dir);
    FILE *f = fopen(frame, "wb");
    CHECK(f != NULL);
    if (f) fclose(f);
    char tmp[PATH_MAX];
    CHECK(wanc_atomic_temp_name(tmp, sizeof tmp, out));
    CHECK(access(dead_dir, F_OK) != 0);
    scratch_drop(&s);
}
