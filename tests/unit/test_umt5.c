/* UMT5 encoder: bucket function, config inference and its named errors,
 * random-model writer round trip, thread-count independence. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "backend/backend.h"
#include "core/threads.h"
#include "io/weights.h"
#include "test.h"
#include "text/umt5.h"

TEST(umt5_bucket_function)
{
    /* Exact region: |rel| < 8; negative offsets (key before query) in the lower half. */
    CHECK(wanc_umt5_bucket(0, 32, 128) == 0);
    CHECK(wanc_umt5_bucket(-1, 32, 128) == 1);
    CHECK(wanc_umt5_bucket(-7, 32, 128) == 7);
    CHECK(wanc_umt5_bucket(1, 32, 128) == 17);
    CHECK(wanc_umt5_bucket(7, 32, 128) == 23);
    /* Log region: 8 + trunc(log(|rel|/8) / log(16) * 8). */
    CHECK(wanc_umt5_bucket(-8, 32, 128) == 8);
    CHECK(wanc_umt5_bucket(8, 32, 128) == 24);
    CHECK(wanc_umt5_bucket(-12, 32, 128) == 9);   /* 1.17 */
    CHECK(wanc_umt5_bucket(-127, 32, 128) == 15); /* 7.98 */
    CHECK(wanc_umt5_bucket(100, 32, 128) == 16 + 15);
    /* Capped at the last bucket of each half beyond max_distance. */
    CHECK(wanc_umt5_bucket(-128, 32, 128) == 15);
    CHECK(wanc_umt5_bucket(-100000, 32, 128) == 15);
    CHECK(wanc_umt5_bucket(100000, 32, 128) == 31);
    /* Monotone in |rel| within each sign. */
    int prev_neg = 0, prev_pos = 16;
    for (int r = 1; r < 600; r++) {
        int bn = wanc_umt5_bucket(-r, 32, 128), bp = wanc_umt5_bucket(r, 32, 128);
        CHECK(bn >= prev_neg && bn <= 15);
        CHECK(bp >= prev_pos && bp <= 31);
        prev_neg = bn;
        prev_pos = bp;
    }
}

static wanc_umt5_config tiny_config(void)
{
    return (wanc_umt5_config){.vocab = 64, .dim = 16, .dim_attn = 16, .dim_ffn = 32, .num_heads = 4,
                              .num_layers = 2, .num_buckets = 32};
}

static void temp_path(char *buf, size_t cap, const char *tag)
{
    snprintf(buf, cap, "/tmp/wanc_test_umt5_%s_%d.safetensors", tag, (int)getpid());
}

/* Rewrite a random model with one tensor given a different shape. */
static wanc_err write_with_tensor_shape(const char *path, const char *name, int64_t r, int64_t c)
{
    char src[256];
    temp_path(src, sizeof src, "src");
    wanc_umt5_config cfg = tiny_config();
    TRY(wanc_umt5_write_random(src, &cfg, 1));
    wanc_weights *w;
    TRY(wanc_weights_open(&w, src));
    int n = wanc_weights_count(w);
    const char **names = calloc((size_t)n, sizeof *names);
    wanc_tensor *ts = calloc((size_t)n, sizeof *ts);
    wanc_tensor repl = {0};
    wanc_err err = names && ts ? NULL : wanc_error(WANC_ENOMEM, "oom");
    for (int i = 0; i < n && !err; i++) {
        names[i] = wanc_weights_name(w, i);
        ts[i] = *wanc_weights_tensor(w, i);
        if (!strcmp(names[i], name)) {
            err = wanc_tensor_alloc(&repl, WANC_BF16, 2, (int64_t[]){r, c});
            ts[i] = repl;
        }
    }
    if (!err) err = wanc_safetensors_write(path, n, names, ts, NULL);
    wanc_tensor_free(&repl);
    free(names);
    free(ts);
    wanc_weights_close(w);
    remove(src);
    return err;
}

TEST(umt5_bad_files_give_named_errors)
{
    const wanc_backend *be = wanc_backend_cpu();
    char p[256];
    wanc_umt5 *m = NULL;
    temp_path(p, sizeof p, "bad");
    /* q projection whose input width is not the embedding's dim. */
    CHECK_OK(write_with_tensor_shape(p, "blocks.0.attn.q.weight", 16, 12));
    CHECK_ERR(wanc_umt5_open(&m, p, be), WANC_ESHAPE, "blocks.0.attn.q.weight");
    CHECK(m == NULL);
    /* 5 heads cannot split dim_attn 16. */
    CHECK_OK(write_with_tensor_shape(p, "blocks.0.pos_embedding.embedding.weight", 32, 5));
    CHECK_ERR(wanc_umt5_open(&m, p, be), WANC_ESHAPE, "fits no UMT5 config");
    /* A later layer with a wrong FFN width. */
    CHECK_OK(write_with_tensor_shape(p, "blocks.1.ffn.fc2.weight", 16, 30));
    CHECK_ERR(wanc_umt5_open(&m, p, be), WANC_ESHAPE, "blocks.1.ffn.fc2.weight");
    /* Some other model entirely. */
    CHECK_OK(write_with_tensor_shape(p, "token_embedding.weight", 64, 16));
    wanc_tensor t;
    CHECK_OK(wanc_tensor_alloc(&t, WANC_F32, 2, (int64_t[]){4, 4}));
    CHECK_OK(wanc_safetensors_write(p, 1, (const char *[]){"conv1.weight"}, &t, NULL));
    wanc_tensor_free(&t);
    CHECK_ERR(wanc_umt5_open(&m, p, be), WANC_ENOTFOUND, "not a UMT5 encoder");
    remove(p);
}

TEST(umt5_random_model_roundtrip_and_threads)
{
    const wanc_backend *be = wanc_backend_cpu();
    char p[256], q[256];
    temp_path(p, sizeof p, "rand1");
    temp_path(q, sizeof q, "rand2");
    wanc_umt5_config cfg = tiny_config();
    int threads = wanc_threads_get();
    wanc_threads_set(1);
    CHECK_OK(wanc_umt5_write_random(p, &cfg, 7));
    wanc_threads_set(2);
    CHECK_OK(wanc_umt5_write_random(q, &cfg, 7));
    /* Same bytes at any thread count. */
    FILE *a = fopen(p, "rb"), *b = fopen(q, "rb");
    CHECK(a && b);
    int same = a && b, ca, cb;
    while (same && (ca = fgetc(a)) != EOF) same = (cb = fgetc(b)) == ca;
    if (same && b) same = fgetc(b) == EOF;
    CHECK(same);
    if (a) fclose(a);
    if (b) fclose(b);

    wanc_umt5 *m = NULL;
    CHECK_OK(wanc_umt5_open(&m, p, be));
    if (m) {
        const wanc_umt5_config *c = wanc_umt5_get_config(m);
        CHECK(c->vocab == 64 && c->dim == 16 && c->dim_attn == 16 && c->dim_ffn == 32 && c->num_heads == 4 &&
              c->num_layers == 2 && c->num_buckets == 32 && !c->shared_pos);
        enum { L = 24 };
        int64_t ids[L] = {0}, mask[L] = {0};
        for (int i = 0; i < 9; i++) {
            ids[i] = (i * 7 + 3) % 64;
            mask[i] = 1;
        }
        ids[9] = 1;
        mask[9] = 1;
        for (int bf16 = 0; bf16 < 2; bf16++) {
            float full[L * 16], fast[L * 16], fast1[L * 16];
            wanc_umt5_opts all = {.bf16 = bf16, .all_rows = true}, pipe = {.bf16 = bf16};
            CHECK_OK(wanc_umt5_encode(m, full, ids, mask, L, &all));
            CHECK_OK(wanc_umt5_encode(m, fast, ids, mask, L, &pipe));
            wanc_threads_set(1);
            CHECK_OK(wanc_umt5_encode(m, fast1, ids, mask, L, &pipe));
            wanc_threads_set(2);
            CHECK(memcmp(fast, fast1, sizeof fast) == 0);
            wanc_umt5_zero_padding(full, mask, L, 16);
            double worst = 0;
            int finite = 1;
            for (int i = 0; i < L * 16; i++) {
                finite &= isfinite(full[i]);
                double d = fabs((double)full[i] - fast[i]);
                if (d > worst) worst = d;
            }
            CHECK(finite);
            CHECK(worst <= (bf16 ? 0.05 : 1e-5)); /* the same rows, a different tile split */
            for (int i = 10 * 16; i < L * 16; i++) CHECK(fast[i] == 0.0f);
        }
        /* A token id outside the vocabulary is an error, not a read out of bounds. */
        ids[3] = 64;
        float out[L * 16];
        CHECK_ERR(wanc_umt5_encode(m, out, ids, mask, L, NULL), WANC_EINVAL, "outside the vocabulary");
        wanc_umt5_free(m);
    }
    wanc_threads_set(threads);
    remove(p);
    remove(q);
}

/* The fused epilogues (GELU, residual sums) give the encoder the separate
 * ops' bits: a backend table without linear_fused runs those. */
TEST(umt5_fused_ops_give_the_unfused_bits)
{
    char p[256];
    temp_path(p, sizeof p, "fused");
    wanc_umt5_config cfg = tiny_config();
    CHECK_OK(wanc_umt5_write_random(p, &cfg, 11));
    wanc_backend unfused = *wanc_backend_cpu();
    unfused.linear_fused = NULL;
    const wanc_backend *tables[2] = {wanc_backend_cpu(), &unfused};
    enum { L = 12 };
    int64_t ids[L] = {0}, mask[L] = {0};
    for (int i = 0; i < 8; i++) ids[i] = (i * 5 + 2) % 64, mask[i] = 1;
    for (int bf16 = 0; bf16 < 2; bf16++) {
        float out[2][L * 16];
        for (int t = 0; t < 2; t++) {
            wanc_umt5 *m = NULL;
            CHECK_OK(wanc_umt5_open(&m, p, tables[t]));
            if (!m) return;
            wanc_umt5_opts o = {.bf16 = bf16};
            CHECK_OK(wanc_umt5_encode(m, out[t], ids, mask, L, &o));
            wanc_umt5_free(m);
        }
        CHECK(memcmp(out[0], out[1], sizeof out[0]) == 0);
    }
    remove(p);
}
