/* Full fine-tuning's parameter set (src/train/full_params.c): every DiT
 * parameter becomes writable in the pipeline dtype, an update reaches what
 * the DiT computes with, the DiT file (one or sharded) holds the trained
 * values under the release's names, and a checkpoint restores them exactly. */
#include <stdlib.h>
#include <unistd.h>

#include "backend/backend.h"
#include "dit/dit_params.h"
#include "dit/dit_random.h"
#include "test.h"
#include "train/full_params.h"

static void set_grads(wanc_full_params *s, float g)
{
    for (int i = 0; i < s->n; i++)
        for (int64_t k = 0; k < s->p[i].n; k++) s->p[i].grad[k] = g * (float)((k % 7) - 3);
}

static bool same_files(const char *a, const char *b, int *count)
{
    wanc_weights *x = NULL, *y = NULL;
    wanc_err e1 = wanc_weights_open(&x, a), e2 = wanc_weights_open(&y, b);
    bool same = !e1 && !e2 && wanc_weights_count(x) == wanc_weights_count(y);
    for (int i = 0; same && i < wanc_weights_count(x); i++) {
        const wanc_tensor *t = wanc_weights_tensor(x, i), *u = wanc_weights_find(y, wanc_weights_name(x, i));
        same = u && t->dtype == u->dtype && t->ndim == u->ndim && wanc_tensor_nbytes(t) == wanc_tensor_nbytes(u) &&
               !memcmp(t->shape, u->shape, sizeof t->shape) && !memcmp(t->data, u->data, wanc_tensor_nbytes(t));
    }
    if (count) *count = x ? wanc_weights_count(x) : 0;
    wanc_error_free(e1), wanc_error_free(e2);
    wanc_weights_close(x), wanc_weights_close(y);
    return same;
}

static void run_case(int *test_failed_, wanc_dtype file_dtype, bool bf16)
{
    wanc_dit_config cfg = {.dim = 32, .in_dim = 16, .out_dim = 16, .ffn_dim = 64, .text_dim = 24, .freq_dim = 16,
                           .num_heads = 2, .num_layers = 2, .patch = {1, 2, 2}, .eps = 1e-6f};
    char dir[512], path[600], idx[700], one[700], ck[700];
    if (!test_make_tmpdir(dir, sizeof dir, "train-full")) {
        CHECK(0);
        return;
    }
    snprintf(path, sizeof path, "%s/dit.safetensors", dir);
    CHECK_OK(wanc_dit_random_write(path, &cfg, file_dtype, 5));
    wanc_weights *store = NULL;
    wanc_dit *dit = NULL;
    wanc_dit_trainer *tr = NULL;
    wanc_full_params s = {0}, s2 = {0};
    CHECK_OK(wanc_weights_open(&store, path));
    if (store)
        CHECK_OK(wanc_dit_load(&dit, wanc_backend_cpu(), store,
                               &(wanc_dit_options){.num_heads = 2, .bf16_weights = bf16}));
    if (dit) CHECK_OK(wanc_dit_trainer_new(&tr, dit, true));
    if (tr) CHECK_OK(wanc_full_params_init(&s, dit, store, tr, bf16));
    CHECK(s.n == 15 + 2 * 27); /* every parameter of a T2V DiT of 2 blocks */
    if (!s.n) goto done;
    for (int i = 0; i < s.n; i++) {
        const wanc_full_param *p = &s.p[i];
        CHECK(p->vec || (p->t && p->t->owned && p->t->dtype == (bf16 ? WANC_BF16 : WANC_F32)));
    }
    /* an update reaches the tensors the DiT reads */
    wanc_dit_param q;
    CHECK_OK(wanc_dit_param_find(dit, "blocks.1.ffn.0.weight", &q));
    CHECK(q.tensor && q.numel == 64 * 32);
    float moved = 0;
    float *w0 = malloc(sizeof(float) * 64 * 32), *w1 = malloc(sizeof(float) * 64 * 32);
    CHECK_OK(wanc_tensor_to_f32(w0, q.tensor));
    wanc_adamw opt;
    wanc_adamw_init(&opt, 1e-2, 0.01);
    set_grads(&s, 0.5f);
    wanc_adamw_begin_step(&opt);
    wanc_full_params_step(&s, &opt, 2);
    wanc_adamw_end_step(&opt);
    CHECK_OK(wanc_tensor_to_f32(w1, q.tensor));
    for (int k = 0; k < 64 * 32; k++) moved += fabsf(w1[k] - w0[k]);
    CHECK(moved > 0);
    CHECK(s.p[0].grad[1] == 0); /* zeroed after the update */
    /* the DiT file: one file, and the same tensors sharded with an index */
    CHECK_OK(wanc_full_params_save(&s, dir, "one.safetensors", "pipe.dit.", WANC_FULL_SHARD_BYTES));
    CHECK_OK(wanc_full_params_save(&s, dir, "split.safetensors", "pipe.dit.", 4000));
    snprintf(one, sizeof one, "%s/one.safetensors", dir);
    snprintf(idx, sizeof idx, "%s/split.safetensors.index.json", dir);
    int count = 0;
    CHECK(same_files(one, idx, &count));
    CHECK(count == s.n);
    snprintf(ck, sizeof ck, "%s/split-00001-of-00002.safetensors", dir);
    CHECK(access(ck, F_OK) != 0); /* more than two shards at 4000 bytes each */
    snprintf(ck, sizeof ck, "%s/split.safetensors", dir);
    CHECK(access(ck, F_OK) != 0); /* sharded: only the index under the file's name */
    {
        wanc_weights *o = NULL;
        CHECK_OK(wanc_weights_open(&o, one));
        CHECK(o && wanc_weights_has(o, "blocks.0.self_attn.q.weight") && wanc_weights_has(o, "head.modulation"));
        const char *h = o ? wanc_weights_metadata(o, "format") : NULL;
        CHECK(h && !strcmp(h, "pt"));
        wanc_weights_close(o);
    }
    /* a kept prefix: DiffSynth's "pipe.dit." stays on the names */
    CHECK_OK(wanc_full_params_save(&s, dir, "prefixed.safetensors", "", WANC_FULL_SHARD_BYTES));
    {
        char pre[700];
        snprintf(pre, sizeof pre, "%s/prefixed.safetensors", dir);
        wanc_weights *o = NULL;
        CHECK_OK(wanc_weights_open(&o, pre));
        CHECK(o && wanc_weights_find(o, "pipe.dit.blocks.1.norm3.bias") &&
              !strcmp(wanc_weights_name(o, 0), "pipe.dit.blocks.0.cross_attn.k.bias"));
        wanc_weights_close(o);
    }
    /* checkpoint views, written and read back into a second set over another DiT */
    int n = 0;
    char **names = NULL;
    wanc_tensor *views = NULL;
    set_grads(&s, 0.25f);
    CHECK_OK(wanc_full_params_ckpt_views(&s, true, &n, &names, &views));
    snprintf(ck, sizeof ck, "%s/ck.safetensors", dir);
    if (names) CHECK_OK(wanc_safetensors_write(ck, n, (const char *const *)names, views, NULL));
    for (int i = 0; i < n; i++) free(names[i]);
    free(names), free(views);
    {
        wanc_weights *st2 = NULL, *ckw = NULL;
        wanc_dit *d2 = NULL;
        wanc_dit_trainer *t2 = NULL;
        CHECK_OK(wanc_weights_open(&st2, path));
        if (st2)
            CHECK_OK(wanc_dit_load(&d2, wanc_backend_cpu(), st2,
                                   &(wanc_dit_options){.num_heads = 2, .bf16_weights = bf16}));
        if (d2) CHECK_OK(wanc_dit_trainer_new(&t2, d2, true));
        if (t2) CHECK_OK(wanc_full_params_init(&s2, d2, st2, t2, bf16));
        CHECK_OK(wanc_weights_open(&ckw, ck));
        if (ckw && s2.n) CHECK_OK(wanc_full_params_ckpt_load(&s2, ckw, ck, true));
        for (int i = 0; i < s2.n && i < s.n; i++) {
            const wanc_full_param *a = &s.p[i], *b = &s2.p[i];
            size_t bytes = a->t ? wanc_tensor_nbytes(a->t) : (size_t)a->n * sizeof(float);
            CHECK(!memcmp(a->t ? a->t->data : (void *)a->vec, b->t ? b->t->data : (void *)b->vec, bytes));
            CHECK(!memcmp(a->m, b->m, (size_t)a->n * sizeof(float)) && !memcmp(a->v, b->v, (size_t)a->n * sizeof(float)));
            CHECK(!memcmp(a->grad, b->grad, (size_t)a->n * sizeof(float)));
        }
        wanc_weights_close(ckw);
        wanc_full_params_free(&s2);
        wanc_dit_trainer_free(t2);
        wanc_dit_free(d2);
        wanc_weights_close(st2);
    }
    free(w0), free(w1);
done:
    wanc_full_params_free(&s);
    wanc_dit_trainer_free(tr);
    wanc_dit_free(dit);
    wanc_weights_close(store);
    test_rm_tree(dir);
}

TEST(train_full_params_bf16_from_f32_file) { run_case(test_failed_, WANC_F32, true); }
TEST(train_full_params_bf16_from_bf16_file) { run_case(test_failed_, WANC_BF16, true); }
TEST(train_full_params_fp32_from_bf16_file) { run_case(test_failed_, WANC_BF16, false); }
