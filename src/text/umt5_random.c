/* Random-weight UMT5 encoders in the released file's layout (bf16, the key
 * names of models_t5_umt5-xxl-enc-bf16.pth), for benchmarks and load tests.
 * The scales follow the reference's init so activations stay O(1). */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>

#include "text/umt5.h"
#include "wanc.h"
#include "tools_support/random_weights.h"

static void add(wanc_random_tensor *list, int *n, const char *name, int64_t rows, int64_t cols, double std,
                float mean)
{
    wanc_random_tensor *t = &list[(*n)++];
    snprintf(t->name, sizeof t->name, "%s", name);
    t->dtype = WANC_BF16;
    t->ndim = cols ? 2 : 1;
    t->shape[0] = rows;
    t->shape[1] = cols;
    t->std = (float)std;
    t->mean = mean;
}

wanc_err wanc_umt5_write_random(const char *path, const wanc_umt5_config *c, uint64_t seed)
{
    if (c->vocab <= 0 || c->dim <= 0 || c->dim_attn <= 0 || c->dim_ffn <= 0 || c->num_layers <= 0 ||
        c->num_heads <= 0 || c->dim_attn % c->num_heads || c->num_buckets < 4 || c->num_buckets % 2 || c->num_layers > 4096)
        WANC_FAIL(WANC_EINVAL,
                  "random UMT5: invalid config (vocab %lld, dim %lld, dim_attn %lld, dim_ffn %lld, heads %lld, "
                  "layers %lld, buckets %lld)",
                  (long long)c->vocab, (long long)c->dim, (long long)c->dim_attn, (long long)c->dim_ffn,
                  (long long)c->num_heads, (long long)c->num_layers, (long long)c->num_buckets);
    int cap = 3 + 10 * (int)c->num_layers, n = 0;
    wanc_random_tensor *list = calloc((size_t)cap, sizeof *list);
    if (!list) WANC_FAIL(WANC_ENOMEM, "random UMT5: out of memory");
    double D = (double)c->dim, A = (double)c->dim_attn, F = (double)c->dim_ffn, H = (double)c->num_heads;
    char name[128];
    add(list, &n, "token_embedding.weight", c->vocab, c->dim, 1.0, 0);
    add(list, &n, "norm.weight", c->dim, 0, 0, 1.0f);
    if (c->shared_pos)
        add(list, &n, "pos_embedding.embedding.weight", c->num_buckets, c->num_heads,
            1.0 / sqrt(2 * c->num_buckets * H), 0);
    for (int i = 0; i < (int)c->num_layers; i++) {
#define NAME(fmt) (snprintf(name, sizeof name, fmt, i), name)
        add(list, &n, NAME("blocks.%d.attn.q.weight"), c->dim_attn, c->dim, 1.0 / sqrt(D * A), 0);
        add(list, &n, NAME("blocks.%d.attn.k.weight"), c->dim_attn, c->dim, 1.0 / sqrt(D), 0);
        add(list, &n, NAME("blocks.%d.attn.v.weight"), c->dim_attn, c->dim, 1.0 / sqrt(D), 0);
        add(list, &n, NAME("blocks.%d.attn.o.weight"), c->dim, c->dim_attn, 1.0 / sqrt(H * A), 0);
        add(list, &n, NAME("blocks.%d.ffn.gate.0.weight"), c->dim_ffn, c->dim, 1.0 / sqrt(D), 0);
        add(list, &n, NAME("blocks.%d.ffn.fc1.weight"), c->dim_ffn, c->dim, 1.0 / sqrt(D), 0);
        add(list, &n, NAME("blocks.%d.ffn.fc2.weight"), c->dim, c->dim_ffn, 1.0 / sqrt(F), 0);
        add(list, &n, NAME("blocks.%d.norm1.weight"), c->dim, 0, 0, 1.0f);
        add(list, &n, NAME("blocks.%d.norm2.weight"), c->dim, 0, 0, 1.0f);
        if (!c->shared_pos)
            add(list, &n, NAME("blocks.%d.pos_embedding.embedding.weight"), c->num_buckets, c->num_heads,
                1.0 / sqrt(2 * c->num_buckets * H), 0);
#undef NAME
    }
    static const char *const meta[] = {"format", "pt", "wanc_random_model", "umt5", NULL};
    wanc_err err = wanc_random_safetensors_write(path, n, list, seed, meta);
    free(list);
    return err;
}

/* The CLI entry (include/wanc.h): the XXL config, optionally shrunk. */
wanc_err wanc_random_model_umt5(const char *path, const wanc_random_model_opts *o)
{
    wanc_umt5_config c = wanc_umt5_config_xxl();
    if (o->layers) c.num_layers = o->layers;
    if (o->vocab) c.vocab = o->vocab;
    if (o->dim) c.dim = c.dim_attn = o->dim;
    if (o->dim_ffn) c.dim_ffn = o->dim_ffn;
    else if (o->dim) c.dim_ffn = o->dim * 5 / 2; /* the released 10240 / 4096 */
    if (o->heads) c.num_heads = o->heads;
    else if (o->dim) c.num_heads = o->dim >= 64 && o->dim % 64 == 0 ? o->dim / 64 : 1; /* head dim 64 */
    return wanc_umt5_write_random(path, &c, o->seed);
}
