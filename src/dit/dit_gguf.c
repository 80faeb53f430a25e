/* `wanc quantize`: a Wan DiT checkpoint (any layout wanc reads) → a GGUF file
 * laid out as city96's published Wan GGUFs (ComfyUI-GGUF's convert.py, its
 * patched llama-quantize with arch "wan", fix_5d_tensors.py), so ComfyUI-GGUF
 * and stable-diffusion.cpp read it:
 *
 *   - names: the original Wan names (no prefix; diffusers names mapped back),
 *     in byte order; shapes stored with their own dims (3-D modulation, 5-D
 *     patch_embedding.weight);
 *   - the 16-bit base: 1-D tensors, tensors of <= 1024 values, `*.modulation`
 *     and the 5-D patch embedding are F32, everything else F16 (BF16 when the
 *     source is BF16);
 *   - quantized: only 2-D `*weight` tensors whose names contain none of
 *     modulation., patch_embedding., text_embedding., time_projection.,
 *     time_embedding., img_emb., head. — the blocks' attention and FFN
 *     matrices — from their base-type values; the mixes' exceptions for
 *     `.v.weight` and `.ffn.2.weight`; a K-quant on rows that are not whole
 *     256-value blocks falls back to F16;
 *   - key/values general.architecture "wan", general.quantization_version 2,
 *     general.file_type (llama.cpp's file-type number).
 */
#include <stdlib.h>
#include <string.h>

#include "core/quant.h"
#include "dit/wan_dit.h"
#include "io/gguf.h"
#include "wanc.h"

typedef struct {
    const char *name;  /* as given on the command line */
    int ftype;         /* llama.cpp file type */
    wanc_dtype main;   /* the quantizable tensors' type */
    wanc_dtype v, v_first4; /* `.v.weight` (v_first4: the first 4 of them, in file order) */
    wanc_dtype ffn2;   /* `.ffn.2.weight` */
} mix;

#define NONE WANC_DTYPE_COUNT /* no exception: the main type */

static const mix mixes[] = {
    {"F16", 1, WANC_F16, NONE, NONE, NONE},
    {"Q8_0", 7, WANC_Q8_0, NONE, NONE, NONE},
    {"Q6_K", 18, WANC_Q6_K, NONE, NONE, NONE},
    {"Q5_K_S", 16, WANC_Q5_K, NONE, NONE, NONE},
    {"Q5_K_M", 17, WANC_Q5_K, WANC_Q6_K, NONE, WANC_Q6_K},
    {"Q5_K", 17, WANC_Q5_K, WANC_Q6_K, NONE, WANC_Q6_K}, /* llama-quantize's alias of Q5_K_M */
    {"Q4_K_S", 14, WANC_Q4_K, NONE, WANC_Q5_K, WANC_Q5_K},
    {"Q4_K_M", 15, WANC_Q4_K, WANC_Q6_K, NONE, WANC_Q6_K},
    {"Q4_K", 15, WANC_Q4_K, WANC_Q6_K, NONE, WANC_Q6_K}, /* alias of Q4_K_M */
    {"Q5_0", 8, WANC_Q5_0, NONE, NONE, WANC_Q5_1},
    {"Q4_0", 2, WANC_Q4_0, NONE, NONE, WANC_Q4_1},
};

static bool has(const char *s, const char *part) { return strstr(s, part) != NULL; }
static bool ends_with(const char *s, const char *suf)
{
    size_t a = strlen(s), b = strlen(suf);
    return a >= b && !strcmp(s + a - b, suf);
}

static bool is_k_quant(wanc_dtype dt) { return wanc_dtype_block_elems(dt) == 256; }

typedef struct {
    const wanc_weights *w;
    const wanc_gguf_out_tensor *out;
    const wanc_tensor **src;
    wanc_dtype *base; /* the 16/32-bit type the value passes through before quantization */
    int n;
    wanc_quantize_progress_fn progress;
    void *user;
} job;

/* Tensor i: the source as float32, rounded through its base type, then encoded. */
static wanc_err fill(void *user, int i, void *dst, size_t nbytes)
{
    job *j = user;
    const wanc_tensor *s = j->src[i];
    int64_t n = wanc_tensor_numel(s);
    float *f = malloc(sizeof(float) * (size_t)(n ? n : 1));
    if (!f) WANC_FAIL(WANC_ENOMEM, "out of memory for %lld values", (long long)n);
    wanc_err err = wanc_tensor_to_f32(f, s);
    wanc_weights_advise(j->w, s, false); /* read once: a 28 GB source need not stay resident */
    wanc_dtype base = j->base[i], dt = j->out[i].dtype;
    if (!err && base != WANC_F32) { /* round through the 16-bit base, as the base file holds it */
        void *tmp = malloc((size_t)n * 2 + 2);
        if (!tmp) err = wanc_error(WANC_ENOMEM, "out of memory");
        if (!err) err = wanc_convert(tmp, base, f, WANC_F32, (size_t)n);
        if (!err && dt == base) memcpy(dst, tmp, nbytes);
        else if (!err) err = wanc_convert(f, WANC_F32, tmp, base, (size_t)n);
        free(tmp);
    }
    if (!err && dt == WANC_F32) memcpy(dst, f, nbytes);
    else if (!err && wanc_dtype_is_quant(dt)) err = wanc_quantize(dst, dt, f, n);
    else if (!err && dt != base) err = wanc_convert(dst, dt, f, WANC_F32, (size_t)n); /* a K-quant's F16 fallback */
    free(f);
    if (!err && j->progress && j->progress(j->user, i + 1, j->n))
        err = wanc_error(WANC_ECANCELLED, "stopped by the caller");
    return err;
}

wanc_err wanc_quantize_dit(const char *in_path, const char *out_path, const char *type,
                           wanc_quantize_progress_fn progress, void *user)
{
    const mix *m = NULL;
    for (size_t i = 0; i < sizeof mixes / sizeof mixes[0]; i++)
        if (type && !strcmp(type, mixes[i].name)) m = &mixes[i];
    if (!m)
        WANC_FAIL(WANC_EINVAL, "quantize: unknown type '%s' (F16, Q8_0, Q6_K, Q5_K_S, Q5_K_M (= Q5_K), Q4_K_S, "
                  "Q4_K_M (= Q4_K), Q5_0, Q4_0)", type ? type : "");
    wanc_weights *w;
    TRY(wanc_weights_open(&w, in_path));
    wanc_err err = NULL;
    if (wanc_dit_is_diffusers(w)) err = wanc_weights_rename(w, wanc_dit_diffusers_name, NULL);
    if (!err && !wanc_weights_has(w, "blocks.0.self_attn.q.weight"))
        err = wanc_error(WANC_EFORMAT, "%s: not a Wan DiT (no blocks.0.self_attn.q.weight)", in_path);
    int n = wanc_weights_count(w), kept = 0, v_seen = 0;
    wanc_gguf_out_tensor *out = calloc((size_t)n + 1, sizeof *out);
    const wanc_tensor **src = calloc((size_t)n + 1, sizeof *src);
    wanc_dtype *base = calloc((size_t)n + 1, sizeof *base);
    if (!err && (!out || !src || !base)) err = wanc_error(WANC_ENOMEM, "quantize: out of memory");
    /* the store is sorted by stored name; the stored names here are the Wan names, maybe prefixed */
    for (int i = 0; i < n && !err; i++) {
        const char *name = wanc_weights_name(w, i);
        const wanc_tensor *t = wanc_weights_tensor(w, i);
        static const char prefix[] = "model.diffusion_model.";
        if (!strncmp(name, prefix, sizeof prefix - 1)) name += sizeof prefix - 1;
        /* ComfyUI scaled-fp8 bookkeeping: the scale is already on its weight */
        if (!strcmp(name, "scaled_fp8") || ends_with(name, ".scale_weight") || ends_with(name, ".scale_input") ||
            ends_with(name, ".weight_scale") || ends_with(name, ".input_scale"))
            continue;
        if (!wanc_dtype_is_float(t->dtype)) {
            err = wanc_error(WANC_EUNSUPPORTED, "%s: tensor %s has dtype %s", in_path, name, wanc_dtype_name(t->dtype));
            break;
        }
        wanc_gguf_out_tensor *o = &out[kept];
        o->name = name;
        o->ndim = t->ndim;
        memcpy(o->shape, t->shape, sizeof o->shape);
        int64_t numel = wanc_tensor_numel(t);
        bool f32 = t->ndim <= 1 || t->ndim >= 5 || numel <= 1024 || ends_with(name, "modulation");
        base[kept] = f32 ? WANC_F32 : t->dtype == WANC_BF16 ? WANC_BF16 : WANC_F16;
        o->dtype = base[kept];
        bool quantizable = m->main != WANC_F16 && t->ndim == 2 && ends_with(name, "weight") &&
                           !has(name, "modulation.") && !has(name, "patch_embedding.") &&
                           !has(name, "text_embedding.") && !has(name, "time_projection.") &&
                           !has(name, "time_embedding.") && !has(name, "img_emb.") && !has(name, "head.");
        if (quantizable) {
            wanc_dtype dt = m->main;
            if (has(name, ".v.weight")) {
                if (m->v != NONE) dt = m->v;
                if (m->v_first4 != NONE && v_seen < 4) dt = m->v_first4;
                v_seen++;
            } else if (has(name, ".ffn.2.weight") && m->ffn2 != NONE) {
                dt = m->ffn2;
            }
            if (is_k_quant(dt) && t->shape[1] % 256) dt = WANC_F16; /* llama-quantize's fallback */
            else if (t->shape[1] % wanc_dtype_block_elems(dt)) dt = o->dtype;
            o->dtype = dt;
        }
        src[kept++] = t;
    }
    /* names sorted in byte order, as the store already is once a prefix is gone */
    if (!err) {
        wanc_gguf_kv kv[3] = {{"general.architecture", "wan", 0},
                              {"general.quantization_version", NULL, 2},
                              {"general.file_type", NULL, (uint32_t)m->ftype}};
        job j = {w, out, src, base, kept, progress, user};
        err = wanc_gguf_write(out_path, kv, 3, out, kept, fill, &j);
    }
    free(out);
    free(src);
    free(base);
    wanc_weights_close(w);
    return err;
}
