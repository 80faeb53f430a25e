/* Random-weight Wan VAEs with the real key names and shapes
 * (`wanc random-model --arch wan2.1-vae | wan2.2-vae`), for benchmarks and
 * smoke tests.
 *
 * The layouts are the releases' state dicts: dim_mult (1, 2, 4, 4), 2
 * residual blocks per encoder stage (3 per decoder stage), temporal
 * downsampling after stages 1 and 2. Wan2.1 (VideoVAE_): z 16, `dim` 96 is
 * the release. Wan2.2 (VideoVAE38_): z 48, nested stages, 12 patchified
 * pixel channels, encoder/decoder widths 160/256 in the release.
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
    bool zero; /* every value 0 (a rule fills them in afterwards) */
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
        float v = l->zero ? 0.0f : rnd_normal(l) * sd + (kind == 'g' ? 1.0f : 0.0f);
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

/* The name of block k of stage s in net.group ("encoder.downsamples"):
 * Wan2.1 numbers the blocks of all stages in one list (`idx`), Wan2.2 nests
 * them per stage ("encoder.downsamples.s.downsamples.k"). */
static void blk_name(char *out, size_t cap, bool grouped, const char *group, int s, int k, int idx)
{
    const char *leaf = strrchr(group, '.') + 1;
    if (grouped) snprintf(out, cap, "%s.%d.%s.%d", group, s, leaf, k);
    else snprintf(out, cap, "%s.%d", group, idx);
}

/* Wan2.1 (grouped = false): dim = dec_dim, z 16, 3 pixel channels, upsamplers
 * halve the channels. Wan2.2 (grouped): z 48, 12 (patchified) pixel channels,
 * separate decoder width, upsamplers keep the channels. */
static wanc_err rnd_build(rnd_list *l, int64_t dim, int64_t dec_dim, bool grouped)
{
    const int64_t z = grouped ? 48 : 16, pix = grouped ? 12 : 3, mult[4] = {1, 2, 4, 4};
    const int nres = 2;
    const bool tdown[3] = {false, true, true};
    char p[160], q[192];
    /* encoder */
    TRY(rnd_conv(l, "encoder.conv1", dim, pix, 3, 3, 3));
    int64_t dims[5] = {dim, dim * mult[0], dim * mult[1], dim * mult[2], dim * mult[3]};
    int idx = 0;
    int64_t C = dim;
    for (int s = 0; s < 4; s++) {
        for (int r = 0; r < nres; r++) {
            blk_name(p, sizeof p, grouped, "encoder.downsamples", s, r, idx++);
            TRY(rnd_res(l, p, C, dims[s + 1]));
            C = dims[s + 1];
        }
        if (s != 3) {
            blk_name(p, sizeof p, grouped, "encoder.downsamples", s, nres, idx++);
            snprintf(q, sizeof q, "%s.resample.1", p);
            TRY(rnd_conv(l, q, C, C, 0, 3, 3));
            if (tdown[s]) {
                snprintf(q, sizeof q, "%s.time_conv", p);
                TRY(rnd_conv(l, q, C, C, 3, 1, 1));
            }
        }
    }
    TRY(rnd_res(l, "encoder.middle.0", C, C));
    TRY(rnd_attn(l, "encoder.middle.1", C));
    TRY(rnd_res(l, "encoder.middle.2", C, C));
    TRY(rnd_add(l, 'g', 4, (int64_t[]){C, 1, 1, 1}, "encoder.head.0.gamma"));
    TRY(rnd_conv(l, "encoder.head.2", 2 * z, C, 3, 3, 3));
    TRY(rnd_conv(l, "conv1", 2 * z, 2 * z, 1, 1, 1));
    TRY(rnd_conv(l, "conv2", z, z, 1, 1, 1));
    /* decoder: widths dec_dim * (4, 4, 4, 2, 1); temporal upsampling reversed (T, T, F) */
    const int64_t d = dec_dim;
    const int64_t ddims[5] = {d * mult[3], d * mult[3], d * mult[2], d * mult[1], d * mult[0]};
    C = ddims[0];
    TRY(rnd_conv(l, "decoder.conv1", C, z, 3, 3, 3));
    TRY(rnd_res(l, "decoder.middle.0", C, C));
    TRY(rnd_attn(l, "decoder.middle.1", C));
    TRY(rnd_res(l, "decoder.middle.2", C, C));
    idx = 0;
    for (int s = 0; s < 4; s++) {
        for (int r = 0; r < nres + 1; r++) {
            blk_name(p, sizeof p, grouped, "decoder.upsamples", s, r, idx++);
            TRY(rnd_res(l, p, C, ddims[s + 1]));
            C = ddims[s + 1];
        }
        if (s != 3) {
            blk_name(p, sizeof p, grouped, "decoder.upsamples", s, nres + 1, idx++);
            snprintf(q, sizeof q, "%s.resample.1", p);
            const int64_t cout = grouped ? C : C / 2; /* Wan2.1's upsamplers halve the channels */
            TRY(rnd_conv(l, q, cout, C, 0, 3, 3));
            if (tdown[2 - s]) {
                snprintf(q, sizeof q, "%s.time_conv", p);
                TRY(rnd_conv(l, q, 2 * C, C, 3, 1, 1));
            }
            C = cout;
        }
    }
    TRY(rnd_add(l, 'g', 4, (int64_t[]){C, 1, 1, 1}, "decoder.head.0.gamma"));
    return rnd_conv(l, "decoder.head.2", pix, C, 3, 3, 3);
}

static wanc_err write_random(const char *path, const char *family, const char *arch, int dim, int dec_dim,
                             bool grouped, wanc_dtype dt, unsigned long long seed, vae_fill_fn fill, void *user)
{
    if (dt != WANC_F32 && dt != WANC_BF16) WANC_FAIL(WANC_EINVAL, "random %s: dtype must be F32 or BF16", family);
    rnd_list l = {.dt = dt, .state = seed * 0x2545f4914f6cdd1dull + 1, .zero = fill != NULL};
    wanc_err err = rnd_build(&l, dim, dec_dim, grouped);
    for (int i = 0; !err && fill && i < l.n; i++) err = fill(user, l.names[i], &l.t[i]);
    const char **names = NULL;
    if (!err) {
        names = malloc((size_t)(l.n ? l.n : 1) * sizeof *names);
        if (!names) err = wanc_error(WANC_ENOMEM, "random VAE names");
    }
    if (!err) {
        for (int i = 0; i < l.n; i++) names[i] = l.names[i];
        const char *meta[] = {"format", "pt", "wanc_arch", arch, NULL};
        err = wanc_safetensors_write(path, l.n, names, l.t, meta);
    }
    free(names);
    for (int i = 0; i < l.n; i++) wanc_tensor_free(&l.t[i]);
    free(l.t);
    free(l.names);
    return err ? wanc_error_context(err, "writing a %s %s to %s", fill ? "constructed" : "random", family, path) : NULL;
}

wanc_err wanc_vae21_write_random(const char *path, int dim, wanc_dtype dt, unsigned long long seed)
{
    if (dim <= 0 || dim % 2) WANC_FAIL(WANC_EINVAL, "random Wan2.1 VAE: dim %d must be even and positive", dim);
    return write_random(path, "Wan2.1 VAE", "wan2.1-vae", dim, dim, false, dt, seed, NULL, NULL);
}

wanc_err wanc_vae21_write_filled(const char *path, int dim, vae_fill_fn fill, void *user)
{
    if (dim <= 0 || dim % 2) WANC_FAIL(WANC_EINVAL, "Wan2.1 VAE: dim %d must be even and positive", dim);
    return write_random(path, "Wan2.1 VAE", "wan2.1-vae", dim, dim, false, WANC_F32, 0, fill, user);
}

wanc_err wanc_vae22_write_random(const char *path, int dim, int dec_dim, wanc_dtype dt, unsigned long long seed)
{
    if (dim <= 0 || dec_dim <= 0)
        WANC_FAIL(WANC_EINVAL, "random Wan2.2 VAE: widths %d / %d must be positive", dim, dec_dim);
    return write_random(path, "Wan2.2 VAE", "wan2.2-vae", dim, dec_dim, true, dt, seed, NULL, NULL);
}

static wanc_err parse_dtype(wanc_dtype *dt, const char *dtype, const char *family)
{
    if (!dtype || !strcmp(dtype, "f32")) *dt = WANC_F32;
    else if (!strcmp(dtype, "bf16")) *dt = WANC_BF16;
    else WANC_FAIL(WANC_EINVAL, "random %s: dtype '%s' (use f32 or bf16)", family, dtype);
    return NULL;
}

wanc_err wanc_random_vae21(const char *path, const char *dtype, unsigned long long seed, int width)
{
    wanc_dtype dt;
    TRY(parse_dtype(&dt, dtype, "Wan2.1 VAE"));
    return wanc_vae21_write_random(path, width > 0 ? width : 96, dt, seed);
}

wanc_err wanc_random_vae22(const char *path, const char *dtype, unsigned long long seed, int width)
{
    wanc_dtype dt;
    TRY(parse_dtype(&dt, dtype, "Wan2.2 VAE"));
    /* the release's decoder is 256 / 160 = 1.6 times wider than its encoder */
    const int dim = width > 0 ? width : 160, dec_dim = width > 0 ? (width * 8 + 4) / 5 : 256;
    return wanc_vae22_write_random(path, dim, dec_dim, dt, seed);
}
