/* Weight formats: the GGUF parser on hand-built files (good and broken), the
 * block decoders against hand-computed values, and the linear op on
 * compact weights (block types, scaled fp8) against the same weights
 * decoded up front. */
#include <stdlib.h>
#include <string.h>

#include "backend/backend.h"
#include "core/quant.h"
#include "io/gguf.h"
#include "io/weights.h"
#include "test.h"

/* ---- a tiny GGUF builder ----------------------------------------------------- */

typedef struct {
    unsigned char b[4096];
    size_t n;
} buf;

static void put(buf *b, const void *p, size_t n)
{
    memcpy(b->b + b->n, p, n);
    b->n += n;
}
static void put_u32(buf *b, uint32_t v) { put(b, &v, 4); }
static void put_u64(buf *b, uint64_t v) { put(b, &v, 8); }
static void put_str(buf *b, const char *s)
{
    put_u64(b, strlen(s));
    put(b, s, strlen(s));
}

/* Two tensors: "a" F32 ne [4, 1, 1] (3-D, torch [1,1,4]) and "q" Q8_0 ne [32, 2];
 * key/values general.architecture = "wan", general.file_type = 7. */
static size_t build(buf *b, uint32_t version, uint32_t ndims_q, uint32_t type_q, uint64_t off_q)
{
    memset(b, 0, sizeof *b);
    put(b, "GGUF", 4);
    put_u32(b, version);
    put_u64(b, 2);
    put_u64(b, 2);
    put_str(b, "general.architecture");
    put_u32(b, 8);
    put_str(b, "wan");
    put_str(b, "general.file_type");
    put_u32(b, 4);
    put_u32(b, 7);
    put_str(b, "a");
    put_u32(b, 3);
    put_u64(b, 4), put_u64(b, 1), put_u64(b, 1);
    put_u32(b, 0);
    put_u64(b, 0);
    put_str(b, "q");
    put_u32(b, ndims_q);
    put_u64(b, 32);
    for (uint32_t i = 1; i < ndims_q; i++) put_u64(b, 2);
    put_u32(b, type_q);
    put_u64(b, off_q);
    b->n = (b->n + 31) / 32 * 32;
    size_t data = b->n;
    float a[4] = {1, -2, 0.5f, 3};
    memcpy(b->b + data, a, sizeof a);
    /* two Q8_0 blocks at data + 32: d = 0.5 (half 0x3800), q = i - 16 */
    for (int blk = 0; blk < 2; blk++) {
        unsigned char *p = b->b + data + 32 + 34 * blk;
        p[0] = 0x00, p[1] = 0x38;
        for (int i = 0; i < 32; i++) p[2 + i] = (unsigned char)(int8_t)(i - 16 + blk);
    }
    b->n = data + 32 + 68;
    return data;
}

TEST(gguf_parses_and_decodes)
{
    buf b;
    size_t data = build(&b, 3, 2, 8, 32);
    wanc_gguf *g = NULL;
    CHECK_OK(wanc_gguf_parse(b.b, b.n, "mem", &g));
    if (!g) return;
    CHECK(g->version == 3 && g->ntensors == 2 && g->data_offset == data);
    CHECK(!strcmp(wanc_gguf_get(g, "general.architecture"), "wan"));
    CHECK(!strcmp(wanc_gguf_get(g, "general.file_type"), "7"));
    CHECK(!strcmp(wanc_gguf_file_type_name(7), "Q8_0"));
    const wanc_gguf_tensor *a = &g->tensors[0], *q = &g->tensors[1];
    CHECK(a->ndim == 3 && a->shape[0] == 1 && a->shape[2] == 4 && a->dtype == WANC_F32);
    CHECK(q->ndim == 2 && q->shape[0] == 2 && q->shape[1] == 32 && q->dtype == WANC_Q8_0 && q->nbytes == 68);
    float v[64];
    CHECK_OK(wanc_dequantize(v, b.b + q->offset, WANC_Q8_0, 64));
    CHECK(v[0] == -8.0f && v[31] == 7.5f && v[32] == -7.5f);
    wanc_gguf_free(g);
    build(&b, 2, 2, 8, 32);
    CHECK_OK(wanc_gguf_parse(b.b, b.n, "mem", &g));
    wanc_gguf_free(g);
    /* 5 dims are legal (city96's patch_embedding.weight) */
    build(&b, 3, 5, 0, 32);
    b.n = sizeof b.b; /* room for the 2048 bytes of a 32x2x2x2x2 F32 tensor */
    CHECK_OK(wanc_gguf_parse(b.b, b.n, "mem", &g));
    wanc_gguf_free(g);
}

TEST(gguf_rejects_bad_files)
{
    buf b;
    wanc_gguf *g = NULL;
    build(&b, 1, 2, 8, 32);
    CHECK_ERR(wanc_gguf_parse(b.b, b.n, "mem", &g), WANC_EUNSUPPORTED, "version 1");
    build(&b, 0x03000000u, 2, 8, 32);
    CHECK_ERR(wanc_gguf_parse(b.b, b.n, "mem", &g), WANC_EUNSUPPORTED, "big-endian");
    build(&b, 3, 6, 8, 32);
    CHECK_ERR(wanc_gguf_parse(b.b, b.n, "mem", &g), WANC_EUNSUPPORTED, "6 dims");
    build(&b, 3, 2, 19, 32); /* IQ2_XXS */
    CHECK_ERR(wanc_gguf_parse(b.b, b.n, "mem", &g), WANC_EUNSUPPORTED, "ggml type 19");
    build(&b, 3, 2, 8, 40);
    CHECK_ERR(wanc_gguf_parse(b.b, b.n, "mem", &g), WANC_EFORMAT, "not a multiple of the alignment");
    build(&b, 3, 2, 8, 64);
    CHECK_ERR(wanc_gguf_parse(b.b, b.n, "mem", &g), WANC_EFORMAT, "run past the end");
    build(&b, 3, 2, 12, 32); /* Q4_K needs rows of 256 */
    CHECK_ERR(wanc_gguf_parse(b.b, b.n, "mem", &g), WANC_EFORMAT, "not whole Q4_K blocks");
    build(&b, 3, 2, 8, 32);
    b.b[0] = 'X';
    CHECK_ERR(wanc_gguf_parse(b.b, b.n, "mem", &g), WANC_EFORMAT, "magic");
    /* every truncation is an error, never a crash */
    size_t full = build(&b, 3, 2, 8, 32);
    for (size_t n = 0; n < full; n++) {
        wanc_err e = wanc_gguf_parse(b.b, n, "mem", &g);
        CHECK(e != NULL);
        wanc_error_free(e);
    }
    /* a huge string length */
    build(&b, 3, 2, 8, 32);
    uint64_t huge = UINT64_MAX - 3;
    memcpy(b.b + 24, &huge, 8);
    CHECK_ERR(wanc_gguf_parse(b.b, b.n, "mem", &g), WANC_EFORMAT, "truncated");
    CHECK(g == NULL);
    /* a header claiming 10^12 tensors (and as many key/values) in a few hundred
     * bytes: refused by what the bytes can hold, before any table is made */
    const uint64_t claims[2][2] = {{1000000000000ull, 2}, {2, 1000000000000ull}};
    for (int i = 0; i < 2; i++) {
        build(&b, 3, 2, 8, 32);
        memcpy(b.b + 8, &claims[i][0], 8);
        memcpy(b.b + 16, &claims[i][1], 8);
        test_bound t = test_bound_start();
        CHECK_ERR(wanc_gguf_parse(b.b, b.n, "mem", &g), WANC_EFORMAT, "more than");
        CHECK(test_bound_held(t, 60, 256, "a GGUF claiming 10^12 tensors"));
        CHECK(g == NULL);
    }
}

/* Q4_K by hand: d = 1, dmin = 0.5; sub-block 0 has scale 2, min 1; q = 3. */
TEST(q4_k_decodes_by_formula)
{
    unsigned char blk[144] = {0};
    blk[0] = 0x00, blk[1] = 0x3c; /* d = 1 */
    blk[2] = 0x00, blk[3] = 0x38; /* dmin = 0.5 */
    blk[4] = 2;                   /* scale of sub-block 0 */
    blk[8] = 1;                   /* min of sub-block 0 */
    for (int i = 0; i < 128; i++) blk[16 + i] = 0x33;
    float v[256];
    CHECK_OK(wanc_dequantize(v, blk, WANC_Q4_K, 256));
    CHECK(v[0] == 2.0f * 3 - 0.5f && v[31] == 5.5f);
    CHECK(v[32] == 0.0f); /* sub-block 1: scale 0, min 0 */
    CHECK_ERR(wanc_dequantize(v, blk, WANC_Q4_K, 100), WANC_EINVAL, "whole number");
}

/* linear on a compact weight = linear on the same weight decoded up front, bit for bit. */
static void linear_matches(int *test_failed_, const wanc_tensor *w)
{
    const wanc_backend *be = wanc_backend_cpu();
    int64_t N = w->shape[0], K = w->shape[1], M = 5;
    float *x = malloc(sizeof(float) * (size_t)(M * K)), *wf = malloc(sizeof(float) * (size_t)(N * K));
    float *a = malloc(sizeof(float) * (size_t)(M * N)), *b = malloc(sizeof(float) * (size_t)(M * N));
    for (int64_t i = 0; i < M * K; i++) x[i] = (float)((i * 37) % 19) / 7.0f - 1.0f;
    CHECK_OK(wanc_weight_rows_to_f32(wf, w, 0, N));
    wanc_tensor dense = wanc_tensor_wrap(wf, WANC_F32, 2, (int64_t[]){N, K});
    CHECK_OK(be->linear(be, a, x, w, NULL, M));
    CHECK_OK(be->linear(be, b, x, &dense, NULL, M));
    CHECK(!memcmp(a, b, sizeof(float) * (size_t)(M * N)));
    free(x), free(wf), free(a), free(b);
}

TEST(linear_reads_compact_weights)
{
    int64_t N = 3, K = 256;
    unsigned char raw[3 * 210];
    for (size_t i = 0; i < sizeof raw; i++) raw[i] = (unsigned char)(i * 73 + 11);
    for (int r = 0; r < 3; r++) raw[r * 210 + 208] = 0x00, raw[r * 210 + 209] = 0x2c; /* d = 1/16 */
    wanc_tensor q6 = wanc_tensor_wrap(raw, WANC_Q6_K, 2, (int64_t[]){N, K});
    linear_matches(test_failed_, &q6);
    unsigned char f8[3 * 256];
    for (size_t i = 0; i < sizeof f8; i++) f8[i] = (unsigned char)((i * 29) & 0x7e); /* no NaN codes */
    wanc_tensor s = wanc_tensor_wrap(f8, WANC_F8_E4M3, 2, (int64_t[]){N, K});
    s.scale = 0.0123f;
    linear_matches(test_failed_, &s);
    float first;
    CHECK_ERR(wanc_weight_rows_to_f32(&first, &(wanc_tensor){0}, 0, 0), WANC_EINVAL, "no weight");
    /* a row that is not whole blocks is refused */
    wanc_tensor bad = wanc_tensor_wrap(raw, WANC_Q6_K, 2, (int64_t[]){2, 128});
    float out[10], x[256] = {0};
    const wanc_backend *be = wanc_backend_cpu();
    CHECK_ERR(be->linear(be, out, x, &bad, NULL, 1), WANC_ESHAPE, "not whole");
}

/* A ComfyUI scaled-fp8 layer: the weight stays fp8 and carries its scale. */
TEST(scaled_fp8_scale_attaches)
{
    char dir[256], path[300];
    CHECK(test_make_tmpdir(dir, sizeof dir, "fp8"));
    snprintf(path, sizeof path, "%s/s.safetensors", dir);
    uint8_t codes[4] = {0x38, 0x40, 0xb8, 0x00}; /* 1, 2, -1, 0 */
    float sc = 0.25f, bad = 0.0f;
    const char *names[] = {"l.weight", "l.scale_weight", "scaled_fp8"};
    wanc_tensor ts[3] = {wanc_tensor_wrap(codes, WANC_F8_E4M3, 2, (int64_t[]){2, 2}),
                         wanc_tensor_wrap(&sc, WANC_F32, 0, NULL),
                         wanc_tensor_wrap(codes, WANC_F8_E4M3, 1, (int64_t[]){0})};
    CHECK_OK(wanc_safetensors_write(path, 3, names, ts, NULL));
    wanc_weights *w = NULL;
    CHECK_OK(wanc_weights_open(&w, path));
    if (w) {
        const wanc_tensor *t = wanc_weights_find(w, "l.weight");
        CHECK(t && t->dtype == WANC_F8_E4M3 && t->scale == 0.25f);
        float *v = NULL;
        CHECK_OK(wanc_weights_load_f32(w, "l.weight", &v, 2, (int64_t[]){2, 2}));
        CHECK(v && v[0] == 0.25f && v[1] == 0.5f && v[2] == -0.25f && v[3] == 0.0f);
        free(v);
        wanc_weights_close(w);
    }
    ts[1] = wanc_tensor_wrap(&bad, WANC_F32, 0, NULL);
    CHECK_OK(wanc_safetensors_write(path, 3, names, ts, NULL));
    CHECK_ERR(wanc_weights_open(&w, path), WANC_EFORMAT, "not a usable scale");
    test_rm_tree(dir);
}
