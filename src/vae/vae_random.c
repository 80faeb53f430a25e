/* A random-weight Wan2.1 VAE with the real key names and shapes
 * (`wanc random-model --arch wan2.1-vae`), for benchmarks and smoke tests.
 *
 * The layout is the release's VideoVAE_ state dict: dim_mult (1, 2, 4, 4),
 * 2 residual blocks per encoder stage (3 per decoder stage), temporal
 * downsampling after stages 1 and 2, z_dim 16; `dim` 96 is the release.
 * Values: conv weights ~ N(0, 1/fan_in), biases ~ N(0, 0.05), norm gains
 * ~ 1 + N(0, 0.1), from a fixed-seed generator (same file for the same seed).
 */
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "vae/wan_vae.h"
#include "wanc.h"

typedef struct rnd_list {
    char (*names)[96];
    wanc_tensor *t;
    int n, cap;
    wanc_dtype dt;
    uint64_t state;
} rnd_list;

static double rnd_uniform(rnd_list *l)
{
    /* splitmix64 */
    uint64_t z = (l->state += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    z ^= z >> 31;
    return ((double)(z >> 11) + 0.5) / 9007199254740992.0;
}

static float rnd_normal(rnd_list *l)
{
    double u = rnd_uniform(l), v = rnd_uniform(l);
    return (float)(sqrt(-2.0 * log(u)) * cos(6.283185307179586 * v));
}

/* kind: 'w' conv weight, 'b' bias, 'g' norm gain. */
static wanc_err rnd_add(rnd_list *l, char kind, int ndim, const int64_t *shape, const char *fmt, ...)
    __attribute__((format(printf, 5, 6)));
static wanc_err rnd_add(rnd_list *l, char kind, int ndim, const int64_t *shape, const char *fmt, ...)
{
    if (l->n == l->cap) {
        int cap = l->cap ? 2 * l->cap : 256;
        void *nn = realloc(l->names, (size_t)cap * sizeof *l->names);
        if (!nn) WANC_FAIL(WANC_ENOMEM, "random VAE names");
        l->names = nn;
        void *nt = realloc(l->t, (size_t)cap * sizeof *l->t);
        if (!nt) WANC_FAIL(WANC_ENOMEM, "random VAE tensors");
        l->t = nt;
        l->cap = cap;
    }
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(l->names[l->n], sizeof l->names[0], fmt, ap);
    va_end(ap);
    wanc_tensor *t = &l->t[l->n];
    TRY(wanc_tensor_alloc(t, l->dt, ndim, shape));
    l->n++;
    int64_t n = wanc_tensor_numel(t), fan_in = n / shape[0];
    float sd = kind == 'w' ? (float)(1.0 / sqrt((double)fan_in)) : kind == 'b' ? 0.05f : 0.1f;
    for (int64_t i = 0; i < n; i++) {
        float v = rnd_normal(l) * sd + (kind == 'g' ? 1.0f : 0.0f);
        if (l->dt == WANC_BF16) ((uint16_t *)t->data)[i] = wanc_f32_to_bf16(v);
        else ((float *)t->data)[i] = v;
    }
    return NULL;
}

static wanc_err rnd_conv(rnd_list *l, const char *prefix, int64_t co, int64_t ci, int kt, int kh, int kw)
{
    if (kt > 0) TRY(rnd_add(l, 'w', 5, (int64_t[]){co, ci, kt, kh, kw}, "%s.weight", prefix));
    else TRY(rnd_add(l, 'w', 4, (int64_t[]){co, ci, kh, kw}, "%s.weight", prefix));
    return rnd_add(l, 'b', 1, (int64_t[]){co}, "%s.bias", prefix);
}

static wanc_err rnd_res(rnd_list *l, const char *p, int64_t in, int64_t out)
{
    char n[128];
    TRY(rnd_add(l, 'g', 4, (int64_t[]){in, 1, 1, 1}, "%s.residual.0.gamma", p));
    snprintf(n, sizeof n, "%s.residual.2", p);
    TRY(rnd_conv(l, n, out, in, 3, 3, 3));
    TRY(rnd_add(l, 'g', 4, (int64_t[]){out, 1, 1, 1}, "%s.residual.3.gamma", p));
    snprintf(n, sizeof n, "%s.residual.6", p);
    TRY(rnd_conv(l, n, out, out, 3, 3, 3));
    if (in != out) {
        snprintf(n, sizeof n, "%s.shortcut", p);
        TRY(rnd_conv(l, n, out, in, 1, 1, 1));
    }
    return NULL;
}

static wanc_err rnd_attn(rnd_list *l, const char *p, int64_t C)
{
    char n[128];
    TRY(rnd_add(l, 'g', 3, (int64_t[]){C, 1, 1}, "%s.norm.gamma", p));
    snprintf(n, sizeof n, "%s.to_qkv", p);
    TRY(rnd_conv(l, n, 3 * C, C, 0, 1, 1));
    snprintf(n, sizeof n, "%s.proj", p);
    return rnd_conv(l, n, C, C, 0, 1, 1);
}

static wanc_err rnd_build(rnd_list *l, int64_t dim)
{
    const int64_t z = 16, mult[4] = {1, 2, 4, 4};
    const int nres = 2;
    const bool tdown[3] = {false, true, true};
    char p[128];
    /* encoder */
    TRY(rnd_conv(l, "encoder.conv1", dim, 3, 3, 3, 3));
    int64_t dims[5] = {dim, dim * mult[0], dim * mult[1], dim * mult[2], dim * mult[3]};
    int idx = 0;
    int64_t C = dim;
    for (int s = 0; s < 4; s++) {
        for (int r = 0; r < nres; r++) {
            snprintf(p, sizeof p, "encoder.downsamples.%d", idx++);
            TRY(rnd_res(l, p, C, dims[s + 1]));
            C = dims[s + 1];
        }
        if (s != 3) {
            snprintf(p, sizeof p, "encoder.downsamples.%d.resample.1", idx);
            TRY(rnd_conv(l, p, C, C, 0, 3, 3));
            if (tdown[s]) {
                snprintf(p, sizeof p, "encoder.downsamples.%d.time_conv", idx);
                TRY(rnd_conv(l, p, C, C, 3, 1, 1));
            }
            idx++;
        }
    }
    TRY(rnd_res(l, "encoder.middle.0", C, C));
    TRY(rnd_attn(l, "encoder.middle.1", C));
    TRY(rnd_res(l, "encoder.middle.2", C, C));
    TRY(rnd_add(l, 'g', 4, (int64_t[]){C, 1, 1, 1}, "encoder.head.0.gamma"));
    TRY(rnd_conv(l, "encoder.head.2", 2 * z, C, 3, 3, 3));
    TRY(rnd_conv(l, "conv1", 2 * z, 2 * z, 1, 1, 1));
    TRY(rnd_conv(l, "conv2", z, z, 1, 1, 1));
    /* decoder: widths dim * (4, 4, 4, 2, 1); temporal upsampling reversed (T, T, F) */
    const int64_t ddims[5] = {dim * mult[3], dim * mult[3], dim * mult[2], dim * mult[1], dim * mult[0]};
    C = ddims[0];
    TRY(rnd_conv(l, "decoder.conv1", C, z, 3, 3, 3));
    TRY(rnd_res(l, "decoder.middle.0", C, C));
    TRY(rnd_attn(l, "decoder.middle.1", C));
    TRY(rnd_res(l, "decoder.middle.2", C, C));
    idx = 0;
    for (int s = 0; s < 4; s++) {
        if (s > 0) C = ddims[s] / 2; /* the previous upsampler halved the channels */
        for (int r = 0; r < nres + 1; r++) {
            snprintf(p, sizeof p, "decoder.upsamples.%d", idx++);
            TRY(rnd_res(l, p, C, ddims[s + 1]));
            C = ddims[s + 1];
        }
        if (s != 3) {
            snprintf(p, sizeof p, "decoder.upsamples.%d.resample.1", idx);
            TRY(rnd_conv(l, p, C / 2, C, 0, 3, 3));
            if (tdown[2 - s]) {
                snprintf(p, sizeof p, "decoder.upsamples.%d.time_conv", idx);
                TRY(rnd_conv(l, p, 2 * C, C, 3, 1, 1));
            }
            idx++;
        }
    }
    TRY(rnd_add(l, 'g', 4, (int64_t[]){C, 1, 1, 1}, "decoder.head.0.gamma"));
    return rnd_conv(l, "decoder.head.2", 3, C, 3, 3, 3);
}

wanc_err wanc_vae21_write_random(const char *path, int dim, wanc_dtype dt, unsigned long long seed)
{
    if (dim <= 0 || dim % 2) WANC_FAIL(WANC_EINVAL, "random Wan2.1 VAE: dim %d must be even and positive", dim);
    if (dt != WANC_F32 && dt != WANC_BF16) WANC_FAIL(WANC_EINVAL, "random Wan2.1 VAE: dtype must be F32 or BF16");
    rnd_list l = {.dt = dt, .state = seed * 0x2545f4914f6cdd1dull + 1};
    wanc_err err = rnd_build(&l, dim);
    const char **names = NULL;
    if (!err) {
        names = malloc((size_t)(l.n ? l.n : 1) * sizeof *names);
        if (!names) err = wanc_error(WANC_ENOMEM, "random VAE names");
    }
    if (!err) {
        for (int i = 0; i < l.n; i++) names[i] = l.names[i];
        const char *meta[] = {"format", "pt", "wanc_arch", "wan2.1-vae", NULL};
        err = wanc_safetensors_write(path, l.n, names, l.t, meta);
    }
    free(names);
    for (int i = 0; i < l.n; i++) wanc_tensor_free(&l.t[i]);
    free(l.t);
    free(l.names);
    return err ? wanc_error_context(err, "writing a random Wan2.1 VAE to %s", path) : NULL;
}

wanc_err wanc_random_vae21(const char *path, const char *dtype, unsigned long long seed, int width)
{
    wanc_dtype dt;
    if (!dtype || !strcmp(dtype, "f32")) dt = WANC_F32;
    else if (!strcmp(dtype, "bf16")) dt = WANC_BF16;
    else WANC_FAIL(WANC_EINVAL, "random Wan2.1 VAE: dtype '%s' (use f32 or bf16)", dtype);
    return wanc_vae21_write_random(path, width > 0 ? width : 96, dt, seed);
}
