/* The engine shared by the Wan video VAEs: Wan2.1 (DiffSynth `WanVideoVAE` /
 * `VideoVAE_`, src/vae/wan_vae21.c) and Wan2.2 (`WanVideoVAE38` /
 * `VideoVAE38_`, src/vae/wan_vae22.c). The layout below is Wan2.1's; Wan2.2
 * differs in four places, all told apart by the stored tensors:
 *  - pixels go through a 2x2 patchify (3 -> 12 channels) before the encoder
 *    and the decoder's 12 channels are unpatchified (the `patch` variant);
 *  - its encoder/decoder stages are groups (`downsamples.i.downsamples.j`)
 *    whose input also takes a parameter-free shortcut: AvgDown3D (mean over
 *    space-time patches folded into channels) or DupUp3D (the inverse,
 *    channels repeated and unfolded), added to the group's output;
 *  - its upsamplers keep the channel count (the residual blocks change it);
 *  - z is 48 and the encoder/decoder widths differ (dim 160, dec_dim 256).
 * The stage shortcuts are strided gathers, adds and a scale (backend ops).
 *
 * Encoder: causal conv 3->dim, stages of residual blocks with spatial (and,
 * after stages 1 and 2, temporal) downsamplers, middle (residual, per-frame
 * single-head attention, residual), head (RMS, SiLU, conv -> 2z), then a
 * 1x1x1 conv whose first z channels are the mean. Decoder: 1x1x1 conv, conv
 * z->4dim, middle, stages of residual blocks with upsamplers (time conv to 2C
 * whose halves become interleaved frames; nearest x2 + 3x3 conv halving C),
 * head -> 3 channels (12 with the patchify).
 *
 * Everything runs chunk by chunk as the reference does (encode: frame 0, then
 * 4-frame groups; decode: one latent frame per call). A causal conv with a
 * time kernel of 3 keeps the last two input frames it has seen (zeros before
 * the first), which stand in for its left padding on the next chunk.
 *
 * Activations are channel-first float32 [C, T, H, W] in backend memory.
 * Every step inside the network is a backend op: the channel RMS norm
 * (fused with the SiLU that follows it in fp32 mode), nearest x2
 * upsampling, and one strided copy for each concatenation with cached
 * frames, padding, frame interleave, (un)patchify and attention transpose. Only the
 * boundary (latent/pixel normalisation, tile extraction and blending)
 * reads and writes the caller's host buffers, so the model still needs a
 * host-addressable backend ("cpu").
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "vae/wan_vae_core.h"

/* An activation [C, T, H, W] in backend (host-addressable) memory. */
typedef struct act {
    float *d;
    int64_t C, T, H, W;
} act;

typedef struct vae_conv {
    char name[96];
    wanc_tensor w; /* [Cout, Cin, kt, kh, kw]; 2-D conv weights viewed with kt = 1 */
    const wanc_tensor *b;
    int cin, cout, kt, kh, kw;
    /* Causal history of a kt = 3 conv: its last 2 input frames [cin, 2, H, W],
     * zeros where fewer frames were seen. Allocated on first use in a run. */
    float *cache;
} vae_conv;

typedef struct vae_norm {
    float *gamma; /* [C] host float32 */
    int C;
} vae_norm;

/* GROUP_BEGIN / GROUP_END bracket a Wan2.2 stage: the begin keeps the
 * stage input, the end adds its shortcut (if any) to the stage output. */
typedef enum { BLK_RES, BLK_ATTN, BLK_DOWN2D, BLK_DOWN3D, BLK_UP2D, BLK_UP3D, BLK_GROUP_BEGIN, BLK_GROUP_END } blk_kind;

typedef enum { SHORTCUT_NONE, SHORTCUT_AVG_DOWN, SHORTCUT_DUP_UP } shortcut_kind;

typedef struct vae_block {
    blk_kind kind;
    char name[64];
    int cin, cout;
    /* residual block */
    vae_norm n1, n2;
    vae_conv c1, c2, shortcut;
    bool has_shortcut;
    /* attention block */
    vae_norm an;
    vae_conv qkv, proj;
    /* resample: spatial conv, optional time conv; `started` once the first chunk went through */
    vae_conv spatial, time;
    bool started;
    float *prev_frame; /* downsample3d: last spatially resampled frame [C, 1, H, W] */
    /* group end: the shortcut from the group input (cin channels) to cout,
     * folding/unfolding factor_t frames and factor_s x factor_s pixels */
    shortcut_kind sc;
    int factor_t, factor_s;
} vae_block;

typedef struct vae_net {
    vae_conv conv_in;
    vae_block *blocks;
    int nblocks;
    vae_norm head_norm;
    vae_conv head_conv;
    char prefix[16];
    act group_in; /* the input of the Wan2.2 stage being run */
} vae_net;

struct vae_model {
    const wanc_backend *be;
    wanc_weights *owned;
    const wanc_weights *w;
    wanc_vae_config cfg;
    vae_variant var;
    int sf;              /* pixels per latent pixel in space (8, or 16 with the patchify) */
    vae_net enc, dec;
    vae_conv quant;      /* model conv1: [2z, 2z, 1, 1, 1] after the encoder */
    vae_conv post_quant; /* model conv2: [z, z, 1, 1, 1] before the decoder */
    float inv_std[WANC_VAE_MAX_Z]; /* 1/std in float32, as DiffSynth stores it */
    /* bf16 copies of one conv's float32 weight and bias (conv_params) */
    uint16_t *cast;
    size_t cast_cap;
    /* run state */
    bool bf16;
    double flops;
    wanc_vae_observer observe;
    void *observe_user;
    int chunk;
};

/* ---- small helpers --------------------------------------------------------- */

static void count_flops(const vae_model *m, double f) { ((vae_model *)m)->flops += f; }

static wanc_err act_new(const vae_model *m, act *a, int64_t C, int64_t T, int64_t H, int64_t W)
{
    *a = (act){NULL, C, T, H, W};
    size_t n = (size_t)(C * T * H * W);
    TRYC(m->be->alloc(m->be, (void **)&a->d, (n ? n : 1) * sizeof(float)), "VAE activation %lldx%lldx%lldx%lld",
         (long long)C, (long long)T, (long long)H, (long long)W);
    return NULL;
}

static void act_free(const vae_model *m, act *a)
{
    if (a->d) m->be->free(m->be, a->d);
    a->d = NULL;
}

static int64_t act_numel(const act *a) { return a->C * a->T * a->H * a->W; }

/* bf16 mode: round an op's result as torch would store it. */
static wanc_err maybe_round(const vae_model *m, float *x, int64_t n)
{
    return m->bf16 ? m->be->round_bf16(m->be, x, n) : NULL;
}

static wanc_err emit(vae_model *m, const char *stage, const act *a)
{
    if (!m->observe) return NULL;
    return m->observe(m->observe_user, stage, m->chunk, a->d, a->C, a->T, a->H, a->W);
}

/* ---- layout helpers ----------------------------------------------------------- */

/* out[c, 0:n] (row stride out_cs) = x[c, 0:n] (row stride x_cs) for c < C: the
 * per-channel slab copy behind every concatenation/slice along time. */
static wanc_err copy_slabs(const vae_model *m, float *out, int64_t out_cs, const float *x, int64_t x_cs, int64_t C,
                           int64_t n)
{
    return m->be->copy_strided(m->be, out, (int64_t[]){out_cs, 1}, x, (int64_t[]){x_cs, 1}, (int64_t[]){C, n}, 2);
}

/* out[C, T, H, W] = RMS_norm(x) (out may be x), then SiLU when `silu`
 * (fused in fp32; bf16 mode rounds in between as torch does). */
static wanc_err norm_fwd(const vae_model *m, const vae_norm *nm, const act *x, act *out, bool silu)
{
    if (x->C != nm->C)
        WANC_FAIL(WANC_EINTERNAL, "VAE norm over %lld channels, gamma has %d", (long long)x->C, nm->C);
    if (out->d != x->d) TRY(act_new(m, out, x->C, x->T, x->H, x->W));
    const wanc_backend *be = m->be;
    const int64_t P = x->T * x->H * x->W;
    TRY(be->channel_rms_norm(be, out->d, x->d, nm->gamma, x->C, P, 1e-12f, silu && !m->bf16));
    TRY(maybe_round(m, out->d, act_numel(out)));
    if (silu && m->bf16) {
        TRY(be->silu(be, out->d, out->d, act_numel(out)));
        TRY(maybe_round(m, out->d, act_numel(out)));
    }
    return NULL;
}

/* ---- convolutions ------------------------------------------------------------ */

/* The weight and bias a conv hands the op. bf16 mode with float32
 * parameters (the released .pth): torch runs the VAE cast to bf16 (the
 * pipeline's torch_dtype), so the op gets bf16-rounded copies (round to
 * nearest even, as .to(bfloat16)); with them and the bf16 activations the
 * CPU backend can run its bf16 GEMM kernels. One conv's copies at a time,
 * in the model's buffer (<= 8 MB for Wan's VAEs). */
static wanc_err conv_params(const vae_model *cm, const wanc_tensor *w, const wanc_tensor *b, wanc_tensor *wv,
                            wanc_tensor *bv, const wanc_tensor **wo, const wanc_tensor **bo)
{
    vae_model *m = (vae_model *)cm; /* the cast buffer only */
    *wo = w;
    *bo = b;
    if (!m->bf16 || w->dtype != WANC_F32 || w->scale != 0.0f || (b && (b->dtype != WANC_F32 || b->scale != 0.0f)))
        return NULL;
    size_t nw = (size_t)wanc_tensor_numel(w), nb = b ? (size_t)wanc_tensor_numel(b) : 0;
    if (m->cast_cap < nw + nb) {
        uint16_t *p = realloc(m->cast, (nw + nb) * sizeof(uint16_t));
        if (!p) WANC_FAIL(WANC_ENOMEM, "VAE: out of memory casting a conv weight of %zu values to bf16", nw);
        m->cast = p;
        m->cast_cap = nw + nb;
    }
    TRY(wanc_convert(m->cast, WANC_BF16, w->data, WANC_F32, nw));
    *wv = *w;
    wv->dtype = WANC_BF16;
    wv->data = m->cast;
    wv->owned = NULL;
    *wo = wv;
    if (b) {
        TRY(wanc_convert(m->cast + nw, WANC_BF16, b->data, WANC_F32, nb));
        *bv = *b;
        bv->dtype = WANC_BF16;
        bv->data = m->cast + nw;
        bv->owned = NULL;
        *bo = bv;
    }
    return NULL;
}

/* out = conv(x). Time kernel 1: plain conv (spatial zero padding k/2).
 * Time kernel 3: causal, the conv's 2-frame history stands in for the left
 * padding and is then replaced by the last 2 frames of (history ++ x). */
static wanc_err conv_fwd(const vae_model *m, vae_conv *c, const act *x, act *out)
{
    const wanc_backend *be = m->be;
    if (x->C != c->cin)
        WANC_FAIL(WANC_EINTERNAL, "VAE %s: input has %lld channels, expected %d", c->name, (long long)x->C, c->cin);
    const int stride[3] = {1, 1, 1}, pad[3] = {0, c->kh / 2, c->kw / 2};
    int64_t HW = x->H * x->W;
    TRY(act_new(m, out, c->cout, x->T, x->H, x->W));
    wanc_err err = NULL;
    int64_t taps = c->kt * x->T; /* (output frame, time tap) pairs computed */
    wanc_tensor wv, bv;
    const wanc_tensor *cw, *cb;
    err = conv_params(m, &c->w, c->b, &wv, &bv, &cw, &cb);
    if (err) goto fail;
    if (c->kt == 1) {
        err = be->conv3d(be, out->d, x->d, cw, cb, x->C, x->T, x->H, x->W, stride, pad);
    } else {
        const int64_t hist = c->kt - 1; /* 2 */
        const bool fresh = !c->cache; /* first chunk: the history is zeros */
        if (fresh) {
            err = be->alloc(be, (void **)&c->cache, (size_t)(c->cin * hist * HW) * sizeof(float));
            if (err) goto fail;
            /* zeros only where the new history keeps some (a chunk shorter than it) */
            if (x->T < hist) err = be->fill(be, c->cache, 0.0f, c->cin * hist * HW);
            if (err) goto fail;
        }
        /* conv over history ++ x (not materialised); a zero history is passed
         * as NULL so the conv skips its taps */
        err = be->conv3d_hist(be, out->d, fresh ? NULL : c->cache, hist, x->d, cw, cb, x->C, x->T, x->H, x->W,
                              stride, pad);
        if (fresh) /* output frame i reads frames i .. i+hist of (zeros ++ x): min(i+1, kt) are real */
            for (int64_t i = taps = 0; i < x->T; i++) taps += i + 1 < c->kt ? i + 1 : c->kt;
        /* New history: the last `hist` frames of history ++ x. */
        if (!err && x->T >= hist) {
            err = copy_slabs(m, c->cache, hist * HW, x->d + (x->T - hist) * HW, x->T * HW, x->C, hist * HW);
        } else if (!err) { /* keep the newest old frames (one by one: the moves never overlap), then x */
            const int64_t keep = hist - x->T;
            for (int64_t f = 0; f < keep && !err; f++)
                err = copy_slabs(m, c->cache + f * HW, hist * HW, c->cache + (x->T + f) * HW, hist * HW, x->C, HW);
            if (!err) err = copy_slabs(m, c->cache + keep * HW, hist * HW, x->d, x->T * HW, x->C, x->T * HW);
        }
    }
    if (err) goto fail;
    /* the multiply-adds actually done: 2 · Cout · Cin · kh · kw per (output position, live time tap) */
    count_flops(m, 2.0 * c->cout * c->cin * c->kh * c->kw * (double)taps * (double)(x->H * x->W));
    TRY(maybe_round(m, out->d, act_numel(out)));
    return NULL;
fail:
    act_free(m, out);
    return wanc_error_context(err, "VAE %s", c->name);
}

static void conv_reset(const vae_model *m, vae_conv *c)
{
    if (c->cache) m->be->free(m->be, c->cache);
    c->cache = NULL;
}

/* ---- blocks -------------------------------------------------------------------- */

/* out = residual(x) + shortcut(x): RMS, SiLU, conv3, RMS, SiLU, conv3. */
static wanc_err res_fwd(vae_model *m, vae_block *b, const act *x, act *out)
{
    act h = *x, t1 = {0}, t2 = {0};
    wanc_err err = NULL;
    if (b->has_shortcut) TRY(conv_fwd(m, &b->shortcut, x, &h));
    TRY_GOTO(err, done, norm_fwd(m, &b->n1, x, &t1, true));
    TRY_GOTO(err, done, conv_fwd(m, &b->c1, &t1, &t2));
    act_free(m, &t1);
    TRY_GOTO(err, done, norm_fwd(m, &b->n2, &t2, &t2, true));
    TRY_GOTO(err, done, conv_fwd(m, &b->c2, &t2, &t1));
    TRY_GOTO(err, done, m->be->add(m->be, t1.d, t1.d, h.d, act_numel(&t1)));
    TRY_GOTO(err, done, maybe_round(m, t1.d, act_numel(&t1)));
    *out = t1;
    t1.d = NULL;
done:
    act_free(m, &t1);
    act_free(m, &t2);
    if (b->has_shortcut) act_free(m, &h);
    return err;
}

/* Per-frame single-head self-attention over the H*W positions, plus identity. */
static wanc_err attn_fwd(vae_model *m, vae_block *b, const act *x, act *out)
{
    const wanc_backend *be = m->be;
    const int64_t C = x->C, T = x->T, P = x->H * x->W;
    act n = {0};
    float *buf = NULL;
    wanc_err err = NULL;
    TRY(act_new(m, out, C, T, x->H, x->W));
    TRY_GOTO(err, done, norm_fwd(m, &b->an, x, &n, false));
    /* xt[P, C] | qkv[P, 3C] | q, k, v, o[P, C] each */
    TRY_GOTO(err, done, be->alloc(be, (void **)&buf, (size_t)(P * C * 8) * sizeof(float)));
    float *xt = buf, *qkv = xt + P * C, *q = qkv + 3 * P * C, *k = q + P * C, *v = k + P * C, *o = v + P * C;
    for (int64_t t = 0; t < T; t++) {
        /* xt[p, c] = n[c, t, p] */
        TRY_GOTO(err, done, be->copy_strided(be, xt, (int64_t[]){C, 1}, n.d + t * P, (int64_t[]){1, T * P},
                                             (int64_t[]){P, C}, 2));
        TRY_GOTO(err, done, be->linear(be, qkv, xt, &b->qkv.w, b->qkv.b, P));
        TRY_GOTO(err, done, maybe_round(m, qkv, 3 * P * C));
        /* q, k, v [P, C] (consecutive) = the three column blocks of qkv[P, 3C] */
        TRY_GOTO(err, done, be->copy_strided(be, q, (int64_t[]){P * C, C, 1}, qkv, (int64_t[]){C, 3 * C, 1},
                                             (int64_t[]){3, P, C}, 3));
        TRY_GOTO(err, done, be->attention(be, o, q, k, v, P, P, 1, C, 1.0f / sqrtf((float)C), NULL, NULL));
        TRY_GOTO(err, done, maybe_round(m, o, P * C));
        TRY_GOTO(err, done, be->linear(be, xt, o, &b->proj.w, b->proj.b, P));
        TRY_GOTO(err, done, maybe_round(m, xt, P * C));
        count_flops(m, 8.0 * P * C * C + 4.0 * P * P * C);
        /* out[c, t, p] = xt[p, c]; the identity is added once all frames are in */
        TRY_GOTO(err, done, be->copy_strided(be, out->d + t * P, (int64_t[]){T * P, 1}, xt, (int64_t[]){1, C},
                                             (int64_t[]){C, P}, 2));
    }
    TRY_GOTO(err, done, be->add(be, out->d, out->d, x->d, act_numel(out)));
    err = maybe_round(m, out->d, act_numel(out));
done:
    if (buf) be->free(be, buf);
    act_free(m, &n);
    if (err) act_free(m, out);
    return err ? wanc_error_context(err, "VAE %s", b->name) : NULL;
}

/* Spatial downsample: zero-pad right/bottom by 1, 3x3 conv with stride 2;
 * downsample3d then (after the first chunk) a (3,1,1) stride-2 time conv
 * over [previous chunk's last frame, this chunk]. */
static wanc_err down_fwd(vae_model *m, vae_block *b, const act *x, act *out)
{
    const wanc_backend *be = m->be;
    act xp = {0}, y = {0};
    wanc_err err = NULL;
    const int64_t C = x->C, T = x->T, H = x->H, W = x->W;
    TRY(act_new(m, &xp, C, T, H + 1, W + 1));
    /* xp[f, 0:H, 0:W] = x[f] in a zero frame one row and column larger */
    TRY_GOTO(err, done, be->fill(be, xp.d, 0.0f, act_numel(&xp)));
    TRY_GOTO(err, done, be->copy_strided(be, xp.d, (int64_t[]){(H + 1) * (W + 1), W + 1, 1}, x->d,
                                         (int64_t[]){H * W, W, 1}, (int64_t[]){C * T, H, W}, 3));
    const int64_t Ho = (H + 1 - 3) / 2 + 1, Wo = (W + 1 - 3) / 2 + 1;
    const int s2[3] = {1, 2, 2}, st[3] = {2, 1, 1}, p0[3] = {0, 0, 0};
    TRY_GOTO(err, done, act_new(m, &y, b->spatial.cout, T, Ho, Wo));
    wanc_tensor wv, bv;
    const wanc_tensor *cw, *cb;
    TRY_GOTO(err, done, conv_params(m, &b->spatial.w, b->spatial.b, &wv, &bv, &cw, &cb));
    TRY_GOTO(err, done, be->conv3d(be, y.d, xp.d, cw, cb, C, T, H + 1, W + 1, s2, p0));
    TRY_GOTO(err, done, maybe_round(m, y.d, act_numel(&y)));
    count_flops(m, 2.0 * 9 * C * (double)act_numel(&y));
    act_free(m, &xp);
    if (b->kind == BLK_DOWN2D) {
        *out = y;
        return NULL;
    }
    const int64_t HW = Ho * Wo, Cy = y.C;
    if (!b->prev_frame) TRY_GOTO(err, done, be->alloc(be, (void **)&b->prev_frame, (size_t)(Cy * HW) * sizeof(float)));
    if (!b->started) {
        /* First chunk: frame 0 passes through; remember its last frame. */
        b->started = true;
        TRY_GOTO(err, done, copy_slabs(m, b->prev_frame, HW, y.d + (T - 1) * HW, T * HW, Cy, HW));
        *out = y;
        return NULL;
    }
    if (T + 1 < 3) {
        err = wanc_error(WANC_EINTERNAL, "VAE %s: a %lld-frame chunk is too short for the stride-2 time conv",
                         b->name, (long long)T);
        goto done;
    }
    /* the time conv over previous last frame ++ y; then remember y's last frame */
    const int64_t To = (T + 1 - 3) / 2 + 1;
    TRY_GOTO(err, done, act_new(m, out, b->time.cout, To, Ho, Wo));
    err = conv_params(m, &b->time.w, b->time.b, &wv, &bv, &cw, &cb);
    if (!err) err = be->conv3d_hist(be, out->d, b->prev_frame, 1, y.d, cw, cb, Cy, T, Ho, Wo, st, p0);
    if (!err) err = copy_slabs(m, b->prev_frame, HW, y.d + (T - 1) * HW, T * HW, Cy, HW);
    count_flops(m, 2.0 * 3 * Cy * (double)act_numel(out));
    if (!err) err = maybe_round(m, out->d, act_numel(out));
    if (err) act_free(m, out);
done:
    act_free(m, &xp);
    act_free(m, &y);
    return err ? wanc_error_context(err, "VAE %s", b->name) : NULL;
}

/* upsample3d: (after the first chunk) a causal (3,1,1) time conv to 2C whose
 * two halves become two interleaved frames; then, every chunk, nearest x2 in
 * space (float32) and a 3x3 conv halving C. */
static wanc_err up_fwd(vae_model *m, vae_block *b, const act *x, act *out)
{
    act tc = {0}, xi = {0}, u = {0};
    const act *src = x;
    wanc_err err = NULL;
    if (b->kind == BLK_UP3D) {
        if (!b->started) {
            b->started = true; /* the first chunk stays one frame */
        } else {
            TRY(conv_fwd(m, &b->time, x, &tc));
            const int64_t C = x->C, T = x->T, HW = x->H * x->W;
            TRY_GOTO(err, done, act_new(m, &xi, C, 2 * T, x->H, x->W));
            /* xi[c, 2t + s] = tc[s*C + c, t], as [s, c, t, HW] index order */
            TRY_GOTO(err, done, m->be->copy_strided(m->be, xi.d, (int64_t[]){HW, 2 * T * HW, 2 * HW, 1}, tc.d,
                                                    (int64_t[]){C * T * HW, T * HW, HW, 1},
                                                    (int64_t[]){2, C, T, HW}, 4));
            act_free(m, &tc);
            src = &xi;
        }
    }
    const int64_t C = src->C, T = src->T, H = src->H, W = src->W;
    TRY_GOTO(err, done, act_new(m, &u, C, T, 2 * H, 2 * W));
    /* nearest-exact with scale 2: output (i, j) reads input (i/2, j/2). */
    TRY_GOTO(err, done, m->be->upsample_nearest2x(m->be, u.d, src->d, C * T, H, W));
    act_free(m, &xi);
    err = conv_fwd(m, &b->spatial, &u, out);
done:
    act_free(m, &tc);
    act_free(m, &xi);
    act_free(m, &u);
    return err ? wanc_error_context(err, "VAE %s", b->name) : NULL;
}

/* ---- Wan2.2 stage shortcuts ------------------------------------------------------ */

/* AvgDown3D: out[Cout, T', H/fs, W/fs] from x[Cin, T, H, W] (time zero-padded
 * at the front to a multiple of ft, so T' = ceil(T/ft)). The ft*fs*fs patch
 * of each channel is folded into channels k = ((c*ft + a)*fs + p)*fs + q and
 * every g = Cin*ft*fs*fs/Cout consecutive k are averaged into one output. */
static wanc_err avg_down_fwd(const vae_model *m, const vae_block *b, const act *x, act *out)
{
    const wanc_backend *be = m->be;
    const int ft = b->factor_t, fs = b->factor_s, factor = ft * fs * fs;
    const int64_t Cin = x->C, Cout = b->cout, r_n = Cout / Cin, g = Cin * factor / Cout;
    act xp = *x, s = {0};
    wanc_err err = NULL;
    const int64_t pad = (ft - x->T % ft) % ft;
    if (pad) { /* only the first chunk's odd frame count: zeros in front */
        TRY(act_new(m, &xp, Cin, x->T + pad, x->H, x->W));
        const int64_t HW = x->H * x->W;
        TRY_GOTO(err, done, be->fill(be, xp.d, 0.0f, act_numel(&xp)));
        TRY_GOTO(err, done, copy_slabs(m, xp.d + pad * HW, xp.T * HW, x->d, x->T * HW, Cin, x->T * HW));
    }
    const int64_t T = xp.T, H = xp.H, W = xp.W, To = T / ft, Ho = H / fs, Wo = W / fs, P = To * Ho * Wo;
    TRY_GOTO(err, done, act_new(m, out, Cout, To, Ho, Wo));
    TRY_GOTO(err, done, act_new(m, &s, Cout, To, Ho, Wo));
    /* k = o*g + j with o = c*r_n + r (Cout a multiple of Cin, checked at load), so
     * idx = k - c*factor = r*g + j: one strided gather per (j, r), summed over j. */
    for (int64_t j = 0; j < g; j++) {
        float *dst = j == 0 ? out->d : s.d;
        for (int64_t r = 0; r < r_n; r++) {
            const int64_t idx = r * g + j, a = idx / (fs * fs), p = idx / fs % fs, q = idx % fs;
            TRY_GOTO(err, done, be->copy_strided(be, dst + r * P, (int64_t[]){r_n * P, Ho * Wo, Wo, 1},
                                                 xp.d + (a * H + p) * W + q,
                                                 (int64_t[]){T * H * W, ft * H * W, fs * W, fs},
                                                 (int64_t[]){Cin, To, Ho, Wo}, 4));
        }
        if (j) TRY_GOTO(err, done, be->add(be, out->d, out->d, s.d, act_numel(out)));
    }
    TRY_GOTO(err, done, be->scale(be, out->d, out->d, 1.0f / (float)g, 0.0f, act_numel(out)));
    err = maybe_round(m, out->d, act_numel(out));
done:
    if (pad) act_free(m, &xp);
    act_free(m, &s);
    if (err) act_free(m, out);
    return err;
}

/* DupUp3D: out[Cout, T*ft, H*fs, W*fs][o, t*ft + a, h*fs + p, w*fs + q] =
 * x[(o*factor + idx) / repeats, t, h, w] with idx = (a*fs + p)*fs + q and
 * repeats = Cout*factor/Cin; the first chunk drops its first ft-1 frames. */
static wanc_err dup_up_fwd(const vae_model *m, const vae_block *b, const act *x, act *out, bool first)
{
    const wanc_backend *be = m->be;
    const int ft = b->factor_t, fs = b->factor_s, factor = ft * fs * fs;
    const int64_t Cout = b->cout, repeats = Cout * factor / x->C, step = factor / repeats;
    const int64_t T = x->T, H = x->H, W = x->W, To = T * ft, Ho = H * fs, Wo = W * fs;
    act full = {0};
    wanc_err err = NULL;
    TRY(act_new(m, &full, Cout, To, Ho, Wo));
    /* factor a multiple of repeats (checked at load): the source channel is o*step + idx/repeats */
    for (int64_t idx = 0; idx < factor; idx++) {
        const int64_t a = idx / (fs * fs), p = idx / fs % fs, q = idx % fs;
        TRY_GOTO(err, done, be->copy_strided(be, full.d + (a * Ho + p) * Wo + q,
                                             (int64_t[]){To * Ho * Wo, ft * Ho * Wo, fs * Wo, fs},
                                             x->d + idx / repeats * T * H * W,
                                             (int64_t[]){step * T * H * W, H * W, W, 1},
                                             (int64_t[]){Cout, T, H, W}, 4));
    }
    if (!first || ft == 1) {
        *out = full;
        return NULL;
    }
    const int64_t drop = ft - 1, HW = Ho * Wo;
    TRY_GOTO(err, done, act_new(m, out, Cout, To - drop, Ho, Wo));
    err = copy_slabs(m, out->d, out->T * HW, full.d + drop * HW, To * HW, Cout, out->T * HW);
    if (err) act_free(m, out);
done:
    act_free(m, &full);
    return err;
}

/* The end of a Wan2.2 stage: out = x + shortcut(the stage input), the
 * shortcut observed as "<stage>.avg_shortcut" (the reference's module name). */
static wanc_err group_end_fwd(vae_model *m, vae_block *b, const act *in, const act *x, act *out)
{
    act s = {0};
    char stage[96];
    const bool first = !b->started;
    b->started = true;
    if (b->sc == SHORTCUT_AVG_DOWN) TRY(avg_down_fwd(m, b, in, &s));
    else TRY(dup_up_fwd(m, b, in, &s, first));
    wanc_err err = NULL;
    if (s.C != x->C || s.T != x->T || s.H != x->H || s.W != x->W) {
        err = wanc_error(WANC_EINTERNAL, "VAE %s: shortcut %lldx%lldx%lldx%lld, main path %lldx%lldx%lldx%lld",
                         b->name, (long long)s.C, (long long)s.T, (long long)s.H, (long long)s.W, (long long)x->C,
                         (long long)x->T, (long long)x->H, (long long)x->W);
        goto done;
    }
    snprintf(stage, sizeof stage, "%s.avg_shortcut", b->name);
    TRY_GOTO(err, done, emit(m, stage, &s));
    TRY_GOTO(err, done, m->be->add(m->be, s.d, s.d, x->d, act_numel(&s)));
    TRY_GOTO(err, done, maybe_round(m, s.d, act_numel(&s)));
    *out = s;
    s.d = NULL;
done:
    act_free(m, &s);
    return err ? wanc_error_context(err, "VAE %s", b->name) : NULL;
}

static wanc_err block_fwd(vae_model *m, vae_block *b, const act *x, act *out)
{
    switch (b->kind) {
    case BLK_RES: {
        wanc_err err = res_fwd(m, b, x, out);
        return err ? wanc_error_context(err, "VAE %s", b->name) : NULL;
    }
    case BLK_ATTN: return attn_fwd(m, b, x, out);
    case BLK_DOWN2D:
    case BLK_DOWN3D: return down_fwd(m, b, x, out);
    case BLK_UP2D:
    case BLK_UP3D: return up_fwd(m, b, x, out);
    case BLK_GROUP_BEGIN:
    case BLK_GROUP_END: break; /* run by net_fwd, which holds the stage input */
    }
    return wanc_error(WANC_EINTERNAL, "VAE %s: unknown block kind", b->name);
}

/* ---- networks -------------------------------------------------------------- */

static void net_reset(const vae_model *m, vae_net *n)
{
    conv_reset(m, &n->conv_in);
    conv_reset(m, &n->head_conv);
    for (int i = 0; i < n->nblocks; i++) {
        vae_block *b = &n->blocks[i];
        conv_reset(m, &b->c1);
        conv_reset(m, &b->c2);
        conv_reset(m, &b->time);
        if (b->prev_frame) m->be->free(m->be, b->prev_frame);
        b->prev_frame = NULL;
        b->started = false;
    }
    act_free(m, &n->group_in);
}

/* One chunk through conv_in, the blocks and the head: out = net(x). */
static wanc_err net_fwd(vae_model *m, vae_net *n, const act *x, act *out)
{
    act a = {0}, b = {0};
    char stage[96];
    wanc_err err = NULL;
    TRY(conv_fwd(m, &n->conv_in, x, &a));
    snprintf(stage, sizeof stage, "%s.conv1", n->prefix);
    TRY_GOTO(err, done, emit(m, stage, &a));
    for (int i = 0; i < n->nblocks; i++) {
        vae_block *blk = &n->blocks[i];
        if (blk->kind == BLK_GROUP_BEGIN) { /* keep the stage input for its shortcut */
            n->group_in = a;
            continue;
        }
        if (blk->kind == BLK_GROUP_END && blk->sc == SHORTCUT_NONE) {
            act_free(m, &n->group_in);
        } else {
            if (blk->kind == BLK_GROUP_END) TRY_GOTO(err, done, group_end_fwd(m, blk, &n->group_in, &a, &b));
            else TRY_GOTO(err, done, block_fwd(m, blk, &a, &b));
            if (a.d != n->group_in.d) act_free(m, &a);
            if (blk->kind == BLK_GROUP_END) act_free(m, &n->group_in);
            a = b;
            b.d = NULL;
        }
        TRY_GOTO(err, done, emit(m, blk->name, &a));
    }
    /* The observer sees the norm's output alone, so the fused form only runs unobserved. */
    const bool fuse = !m->observe;
    TRY_GOTO(err, done, norm_fwd(m, &n->head_norm, &a, &a, fuse));
    snprintf(stage, sizeof stage, "%s.head.0", n->prefix);
    if (!fuse) {
        TRY_GOTO(err, done, emit(m, stage, &a));
        TRY_GOTO(err, done, m->be->silu(m->be, a.d, a.d, act_numel(&a)));
        TRY_GOTO(err, done, maybe_round(m, a.d, act_numel(&a)));
    }
    snprintf(stage, sizeof stage, "%s.head.1", n->prefix);
    TRY_GOTO(err, done, emit(m, stage, &a));
    TRY_GOTO(err, done, conv_fwd(m, &n->head_conv, &a, out));
    snprintf(stage, sizeof stage, "%s.head.2", n->prefix);
    err = emit(m, stage, out);
    if (err) act_free(m, out);
done:
    if (a.d != n->group_in.d) act_free(m, &a);
    act_free(m, &n->group_in);
    act_free(m, &b);
    return err;
}

/* ---- loading ----------------------------------------------------------------- */

/* Conv weight `<prefix>.weight` [cout, cin, kt, k, k] (kt = 0: a 2-D conv
 * [cout, cin, k, k], viewed as kt = 1) and `<prefix>.bias` [cout].
 * cout < 0 takes it from the file. */
static wanc_err load_conv(vae_conv *c, const wanc_weights *w, const char *prefix, int cout, int cin, int kt, int kh,
                          int kw)
{
    memset(c, 0, sizeof *c);
    snprintf(c->name, sizeof c->name, "%s", prefix);
    const wanc_tensor *t;
    if (kt > 0) {
        int64_t shp[5] = {cout, cin, kt, kh, kw};
        TRY(wanc_weights_getf(w, &t, 5, shp, "%s.weight", prefix));
    } else {
        int64_t shp[4] = {cout, cin, kh, kw};
        TRY(wanc_weights_getf(w, &t, 4, shp, "%s.weight", prefix));
    }
    if (!wanc_tensor_is_contiguous(t))
        WANC_FAIL(WANC_EFORMAT, "%s: tensor %s.weight is not contiguous", wanc_weights_describe(w), prefix);
    c->cout = (int)t->shape[0];
    c->cin = cin;
    c->kt = kt > 0 ? kt : 1;
    c->kh = kh;
    c->kw = kw;
    c->w = *t;
    c->w.owned = NULL;
    c->w.ndim = 5;
    int64_t shape[5] = {c->cout, cin, c->kt, kh, kw};
    int64_t stride = 1;
    for (int d = 4; d >= 0; d--) {
        c->w.shape[d] = shape[d];
        c->w.stride[d] = stride;
        stride *= shape[d];
    }
    TRY(wanc_weights_getf(w, &c->b, 1, (int64_t[]){c->cout}, "%s.bias", prefix));
    return NULL;
}

static wanc_err load_norm(vae_norm *n, const wanc_weights *w, const char *name, int C, int ndim)
{
    int64_t shp[4] = {C, 1, 1, 1};
    n->C = C;
    return wanc_weights_load_f32(w, name, &n->gamma, ndim, shp);
}

static bool hasf(const wanc_weights *w, const char *fmt, const char *prefix, const char *suffix)
{
    char name[160];
    snprintf(name, sizeof name, fmt, prefix, suffix);
    return wanc_weights_has(w, name);
}

/* Load the block at `prefix` (its kind told by which tensors exist) taking C
 * channels in; *C becomes its output channels. Returns false in *found when
 * nothing is stored under prefix. `down`: encoder (downsamplers) or decoder. */
static wanc_err load_block(vae_block *b, const wanc_weights *w, const char *prefix, int *C, bool down, bool *found)
{
    char name[160];
    memset(b, 0, sizeof *b);
    snprintf(b->name, sizeof b->name, "%s", prefix);
    b->cin = *C;
    *found = true;
    if (hasf(w, "%s.%s", prefix, "residual.0.gamma")) {
        b->kind = BLK_RES;
        snprintf(name, sizeof name, "%s.residual.0.gamma", prefix);
        TRY(load_norm(&b->n1, w, name, *C, 4));
        snprintf(name, sizeof name, "%s.residual.2", prefix);
        TRY(load_conv(&b->c1, w, name, -1, *C, 3, 3, 3));
        b->cout = b->c1.cout;
        snprintf(name, sizeof name, "%s.residual.3.gamma", prefix);
        TRY(load_norm(&b->n2, w, name, b->cout, 4));
        snprintf(name, sizeof name, "%s.residual.6", prefix);
        TRY(load_conv(&b->c2, w, name, b->cout, b->cout, 3, 3, 3));
        b->has_shortcut = hasf(w, "%s.%s", prefix, "shortcut.weight");
        if (b->has_shortcut) {
            snprintf(name, sizeof name, "%s.shortcut", prefix);
            TRY(load_conv(&b->shortcut, w, name, b->cout, *C, 1, 1, 1));
        } else if (b->cout != *C) {
            WANC_FAIL(WANC_ENOTFOUND, "%s: no tensor named %s.shortcut.weight (block %d -> %d channels)",
                      wanc_weights_describe(w), prefix, *C, b->cout);
        }
    } else if (hasf(w, "%s.%s", prefix, "to_qkv.weight")) {
        b->kind = BLK_ATTN;
        b->cout = *C;
        snprintf(name, sizeof name, "%s.norm.gamma", prefix);
        TRY(load_norm(&b->an, w, name, *C, 3));
        snprintf(name, sizeof name, "%s.to_qkv", prefix);
        TRY(load_conv(&b->qkv, w, name, 3 * *C, *C, 0, 1, 1));
        snprintf(name, sizeof name, "%s.proj", prefix);
        TRY(load_conv(&b->proj, w, name, *C, *C, 0, 1, 1));
    } else if (hasf(w, "%s.%s", prefix, "resample.1.weight")) {
        bool temporal = hasf(w, "%s.%s", prefix, "time_conv.weight");
        snprintf(name, sizeof name, "%s.resample.1", prefix);
        if (down) {
            b->kind = temporal ? BLK_DOWN3D : BLK_DOWN2D;
            TRY(load_conv(&b->spatial, w, name, *C, *C, 0, 3, 3));
            if (temporal) {
                snprintf(name, sizeof name, "%s.time_conv", prefix);
                TRY(load_conv(&b->time, w, name, *C, *C, 3, 1, 1));
            }
            b->cout = *C;
        } else {
            b->kind = temporal ? BLK_UP3D : BLK_UP2D;
            /* Wan2.1 halves the channels here, Wan2.2 keeps them: read from the file */
            TRY(load_conv(&b->spatial, w, name, -1, *C, 0, 3, 3));
            if (b->spatial.cout != *C && 2 * b->spatial.cout != *C)
                WANC_FAIL(WANC_ESHAPE, "%s: tensor %s.weight has %d output channels, expected %d or %d",
                          wanc_weights_describe(w), name, b->spatial.cout, *C, *C / 2);
            if (temporal) {
                snprintf(name, sizeof name, "%s.time_conv", prefix);
                TRY(load_conv(&b->time, w, name, 2 * *C, *C, 3, 1, 1));
            }
            b->cout = b->spatial.cout;
        }
    } else {
        *found = false;
        return NULL;
    }
    *C = b->cout;
    return NULL;
}

static wanc_err load_net(vae_model *m, vae_net *n, const char *prefix, int cin, int cout_head, bool down)
{
    const wanc_weights *w = m->w;
    char name[160];
    snprintf(n->prefix, sizeof n->prefix, "%s", prefix);
    snprintf(name, sizeof name, "%s.conv1", prefix);
    TRY(load_conv(&n->conv_in, w, name, -1, cin, 3, 3, 3));
    int C = n->conv_in.cout;
    int cap = 64;
    n->blocks = calloc((size_t)cap, sizeof *n->blocks);
    if (!n->blocks) WANC_FAIL(WANC_ENOMEM, "VAE blocks");
    /* Encoder: downsamples.* then middle.*; decoder: middle.* then upsamples.* */
    const char *groups[2] = {down ? "downsamples" : "middle", down ? "middle" : "upsamples"};
    const char *sampling = groups[down ? 0 : 1];
    for (int g = 0; g < 2; g++) {
        const bool grouped = m->var.grouped && groups[g] == sampling;
        for (int i = 0;; i++) {
            if (n->nblocks + 2 >= cap) WANC_FAIL(WANC_EFORMAT, "%s: more than %d VAE blocks", prefix, cap);
            snprintf(name, sizeof name, "%s.%s.%d", prefix, groups[g], i);
            bool found;
            if (!grouped) {
                /* Counted before loading so that net_free releases a half-loaded block. */
                n->nblocks++;
                TRY(load_block(&n->blocks[n->nblocks - 1], w, name, &C, down, &found));
                if (!found) {
                    n->nblocks--;
                    break;
                }
                continue;
            }
            /* A Wan2.2 stage: GROUP_BEGIN, name.<sampling>.j ..., GROUP_END */
            char group[160];
            snprintf(group, sizeof group, "%s", name);
            const int cin_group = C;
            const int begin = n->nblocks++;
            n->blocks[begin].kind = BLK_GROUP_BEGIN;
            snprintf(n->blocks[begin].name, sizeof n->blocks[begin].name, "%s", group);
            bool temporal = false, spatial = false;
            for (int j = 0;; j++) {
                if (n->nblocks + 2 >= cap) WANC_FAIL(WANC_EFORMAT, "%s: more than %d VAE blocks", prefix, cap);
                snprintf(name, sizeof name, "%s.%s.%d", group, sampling, j);
                vae_block *b = &n->blocks[n->nblocks++];
                TRY(load_block(b, w, name, &C, down, &found));
                if (!found) {
                    n->nblocks--;
                    break;
                }
                spatial |= b->kind != BLK_RES && b->kind != BLK_ATTN;
                temporal |= b->kind == BLK_DOWN3D || b->kind == BLK_UP3D;
            }
            if (n->nblocks == begin + 1) { /* no stage i: the groups ended */
                n->nblocks--;
                break;
            }
            vae_block *e = &n->blocks[n->nblocks++];
            memset(e, 0, sizeof *e);
            e->kind = BLK_GROUP_END;
            snprintf(e->name, sizeof e->name, "%s", group);
            e->cin = cin_group;
            e->cout = C;
            e->factor_t = temporal ? 2 : 1;
            e->factor_s = spatial ? 2 : 1;
            /* the encoder's stages all average; the decoder's duplicate where they upsample */
            e->sc = down ? SHORTCUT_AVG_DOWN : spatial ? SHORTCUT_DUP_UP : SHORTCUT_NONE;
            const int factor = e->factor_t * e->factor_s * e->factor_s;
            const bool ok = e->sc == SHORTCUT_NONE ||
                            (down ? C % cin_group == 0 && (cin_group * factor) % C == 0
                                  : (C * factor) % cin_group == 0 && factor % ((C * factor) / cin_group) == 0);
            if (!ok)
                WANC_FAIL(WANC_EUNSUPPORTED, "%s: stage %s maps %d to %d channels, which its %s shortcut cannot",
                          wanc_weights_describe(w), group, cin_group, C, down ? "AvgDown3D" : "DupUp3D");
        }
    }
    snprintf(name, sizeof name, "%s.middle.1", prefix);
    bool has_middle = false;
    for (int i = 0; i < n->nblocks; i++) has_middle |= !strcmp(n->blocks[i].name, name);
    if (!has_middle)
        WANC_FAIL(WANC_ENOTFOUND, "%s: no tensor named %s.to_qkv.weight (the middle attention block)",
                  wanc_weights_describe(w), name);
    snprintf(name, sizeof name, "%s.head.0.gamma", prefix);
    TRY(load_norm(&n->head_norm, w, name, C, 4));
    snprintf(name, sizeof name, "%s.head.2", prefix);
    TRY(load_conv(&n->head_conv, w, name, cout_head, C, 3, 3, 3));
    return NULL;
}

static void net_free(vae_model *m, vae_net *n)
{
    net_reset(m, n);
    free(n->head_norm.gamma);
    for (int i = 0; i < n->nblocks; i++) {
        free(n->blocks[i].n1.gamma);
        free(n->blocks[i].n2.gamma);
        free(n->blocks[i].an.gamma);
    }
    free(n->blocks);
    memset(n, 0, sizeof *n);
}

static wanc_err infer_config(vae_model *m)
{
    wanc_vae_config *c = &m->cfg;
    c->dim = m->enc.conv_in.cout;
    c->z_dim = m->post_quant.cout;
    int stage = 0, res_in_stage0 = 0, C = c->dim;
    for (int i = 0; i < m->enc.nblocks; i++) {
        const vae_block *b = &m->enc.blocks[i];
        if (strncmp(b->name, "encoder.downsamples.", 20)) break;
        if (b->kind == BLK_RES) {
            C = b->cout;
            if (stage == 0) res_in_stage0++;
        } else if (b->kind == BLK_DOWN2D || b->kind == BLK_DOWN3D) {
            if (stage + 1 >= WANC_VAE_MAX_STAGES) WANC_FAIL(WANC_EUNSUPPORTED, "VAE: too many stages");
            c->dim_mult[stage] = C / c->dim;
            c->temporal_down[stage] = b->kind == BLK_DOWN3D;
            stage++;
        }
    }
    c->dim_mult[stage] = C / c->dim;
    c->num_stages = stage + 1;
    c->num_res_blocks = res_in_stage0;
    const int last = c->dim_mult[stage];
    c->dec_dim = last > 0 ? m->dec.conv_in.cout / last : 0;
    if (last <= 0 || c->dec_dim * last != m->dec.conv_in.cout)
        WANC_FAIL(WANC_ESHAPE, "%s: decoder.conv1 has %d channels, not a multiple of the last width factor %d",
                  m->var.family, m->dec.conv_in.cout, last);
    return NULL;
}

wanc_err vae_model_new(vae_model **out, const wanc_weights *w, const wanc_backend *be, const vae_variant *v)
{
    *out = NULL;
    if (strncmp(be->name, "cpu", 3) != 0)
        WANC_FAIL(WANC_EUNSUPPORTED, "%s: backend %s is not supported (needs host-addressable memory)", v->family,
                  be->name);
    const bool grouped = wanc_weights_has(w, "encoder.downsamples.0.downsamples.0.residual.0.gamma") ||
                         wanc_weights_has(w, "decoder.upsamples.0.upsamples.0.residual.0.gamma");
    if (grouped != v->grouped)
        WANC_FAIL(WANC_EUNSUPPORTED, "%s: this is a %s, not the %s", wanc_weights_describe(w),
                  grouped ? "Wan2.2 VAE (VideoVAE38 layout)" : "Wan2.1 VAE (VideoVAE layout)", v->family);
    if (v->z_dim > WANC_VAE_MAX_Z) WANC_FAIL(WANC_EINTERNAL, "%s: z_dim %d", v->family, v->z_dim);
    vae_model *m = calloc(1, sizeof *m);
    if (!m) WANC_FAIL(WANC_ENOMEM, "%s", v->family);
    m->be = be;
    m->w = w;
    m->var = *v;
    wanc_err err = NULL;
    const wanc_tensor *t = wanc_weights_find(w, "conv2.weight");
    if (!t || t->ndim != 5) {
        err = wanc_error(WANC_ENOTFOUND, "%s: no 5-D tensor named conv2.weight (not a %s?)",
                         wanc_weights_describe(w), v->family);
        goto fail;
    }
    int z = (int)t->shape[0];
    if (z != v->z_dim) {
        err = wanc_error(WANC_EUNSUPPORTED, "%s: conv2.weight has z_dim %d; the %s has %d",
                         wanc_weights_describe(w), z, v->family, v->z_dim);
        goto fail;
    }
    const int pix = 3 * v->patch * v->patch; /* pixel channels the networks see */
    TRY_GOTO(err, fail, load_conv(&m->post_quant, w, "conv2", z, z, 1, 1, 1));
    TRY_GOTO(err, fail, load_conv(&m->quant, w, "conv1", 2 * z, 2 * z, 1, 1, 1));
    TRY_GOTO(err, fail, load_net(m, &m->enc, "encoder", pix, 2 * z, true));
    TRY_GOTO(err, fail, load_net(m, &m->dec, "decoder", z, pix, false));
    TRY_GOTO(err, fail, infer_config(m));
    m->sf = v->patch << (m->cfg.num_stages - 1);
    for (int c = 0; c < z; c++) m->inv_std[c] = 1.0f / v->std[c];
    *out = m;
    return NULL;
fail:
    vae_model_free(m);
    return wanc_error_context(err, "loading the %s", v->family);
}

wanc_err vae_model_open(vae_model **out, const char *path, const wanc_backend *be, const vae_variant *v)
{
    wanc_weights *w;
    *out = NULL;
    TRY(wanc_weights_open(&w, path));
    wanc_err err = wanc_vae_adapt_names(w);
    if (!err) err = vae_model_new(out, w, be, v);
    if (err) {
        wanc_weights_close(w);
        return err;
    }
    (*out)->owned = w;
    return NULL;
}

void vae_model_free(vae_model *m)
{
    if (!m) return;
    net_free(m, &m->enc);
    net_free(m, &m->dec);
    if (m->owned) wanc_weights_close(m->owned);
    free(m->cast);
    free(m);
}

const wanc_vae_config *vae_model_config(const vae_model *m) { return &m->cfg; }

const wanc_weights *vae_model_store(const vae_model *m) { return m ? m->w : NULL; }

int vae_model_scale(const vae_model *m) { return m->sf; }

const char *vae_model_family(const vae_model *m) { return m->var.family; }

double vae_model_flops(const vae_model *m) { return m->flops; }

/* ---- encode / decode ---------------------------------------------------------- */

static void run_begin(vae_model *m, const wanc_vae_opts *o)
{
    m->bf16 = o->bf16;
    m->flops = 0;
    m->observe = o->observe;
    m->observe_user = o->observe_user;
    m->chunk = 0;
}

static void run_end(vae_model *m)
{
    net_reset(m, &m->enc);
    net_reset(m, &m->dec);
    m->observe = NULL;
}

/* How a tile's result lands in the output: untiled copies, tiled accumulates
 * result*mask (the weights are summed once per tile by the caller). */
typedef struct tile_sink {
    float *out;          /* [C, T, H, W] */
    int64_t C, T, H, W;  /* output extent */
    int64_t h0, w0;      /* tile origin in output pixels */
    const float *mask;   /* [th, tw] or NULL (untiled) */
    bool bf16;           /* accumulate in bf16, as the reference's bf16 blend buffers */
} tile_sink;

/* y[C, Ty, th, tw] goes to output frames [t0, t0 + Ty). */
static void sink_write(const tile_sink *s, const float *y, int64_t Ty, int64_t th, int64_t tw, int64_t t0)
{
    for (int64_t c = 0; c < s->C; c++)
        for (int64_t t = 0; t < Ty; t++)
            for (int64_t i = 0; i < th; i++) {
                const float *src = y + ((c * Ty + t) * th + i) * tw;
                float *dst = s->out + ((c * s->T + t0 + t) * s->H + s->h0 + i) * s->W + s->w0;
                if (s->mask) {
                    const float *mr = s->mask + i * tw;
                    if (s->bf16)
                        for (int64_t j = 0; j < tw; j++) dst[j] = wanc_round_bf16(dst[j] + wanc_round_bf16(src[j] * mr[j]));
                    else
                        for (int64_t j = 0; j < tw; j++) dst[j] += src[j] * mr[j];
                } else {
                    memcpy(dst, src, (size_t)tw * sizeof(float));
                }
            }
}

/* Wan2.2's patchify, out[(c*p + r)*p + q, f, h, w] = x[c, f, h*p + q, w*p + r]
 * (einops `b c f (h q) (w r) -> b (c r q) f h w`); x is [3, T, H, W]. */
static wanc_err patchify(const vae_model *m, const act *x, act *out)
{
    const int64_t p = m->var.patch, T = x->T, H = x->H / p, W = x->W / p;
    TRY(act_new(m, out, x->C * p * p, T, H, W));
    const int64_t P = T * H * W;
    /* index order (c, f, h, q, w, r) */
    wanc_err err = m->be->copy_strided(m->be, out->d, (int64_t[]){p * p * P, H * W, W, P, 1, p * P}, x->d,
                                       (int64_t[]){T * x->H * x->W, x->H * x->W, p * x->W, x->W, p, 1},
                                       (int64_t[]){x->C, T, H, p, W, p}, 6);
    if (err) act_free(m, out);
    return err;
}

/* The inverse: out[c, f, h*p + q, w*p + r] = y[(c*p + r)*p + q, f, h, w]. */
static wanc_err unpatchify(const vae_model *m, const act *y, act *out)
{
    const int64_t p = m->var.patch, T = y->T, H = y->H, W = y->W, P = T * H * W;
    TRY(act_new(m, out, y->C / (p * p), T, H * p, W * p));
    const int64_t Ho = H * p, Wo = W * p;
    wanc_err err = m->be->copy_strided(m->be, out->d, (int64_t[]){T * Ho * Wo, Ho * Wo, p * Wo, Wo, p, 1}, y->d,
                                       (int64_t[]){p * p * P, H * W, W, P, 1, p * P},
                                       (int64_t[]){out->C, T, H, p, W, p}, 6);
    if (err) act_free(m, out);
    return err;
}

/* Encode the pixel rectangle [ph0, ph0+th) x [pw0, pw0+tw) of video[3, F, H, W]. */
static wanc_err encode_tile(vae_model *m, const tile_sink *sink, const float *video, int64_t F, int64_t H,
                            int64_t W, int64_t ph0, int64_t pw0, int64_t th, int64_t tw)
{
    const int z = m->cfg.z_dim;
    const int64_t nchunks = 1 + (F - 1) / 4;
    wanc_err err = NULL;
    act x = {0}, h = {0}, q = {0};
    net_reset(m, &m->enc);
    for (int64_t i = 0; i < nchunks && !err; i++) {
        const int64_t f0 = i == 0 ? 0 : 1 + 4 * (i - 1), nf = i == 0 ? 1 : 4;
        m->chunk = (int)i;
        TRY_GOTO(err, done, act_new(m, &x, 3, nf, th, tw));
        for (int64_t c = 0; c < 3; c++)
            for (int64_t f = 0; f < nf; f++)
                for (int64_t r = 0; r < th; r++)
                    memcpy(x.d + ((c * nf + f) * th + r) * tw, video + ((c * F + f0 + f) * H + ph0 + r) * W + pw0,
                           (size_t)tw * sizeof(float));
        TRY_GOTO(err, done, maybe_round(m, x.d, act_numel(&x)));
        if (m->var.patch > 1) {
            TRY_GOTO(err, done, patchify(m, &x, &h));
            act_free(m, &x);
            x = h;
            h.d = NULL;
            TRY_GOTO(err, done, emit(m, "patchified", &x));
        }
        TRY_GOTO(err, done, net_fwd(m, &m->enc, &x, &h));
        act_free(m, &x);
        TRY_GOTO(err, done, conv_fwd(m, &m->quant, &h, &q));
        act_free(m, &h);
        TRY_GOTO(err, done, emit(m, "conv1", &q));
        /* mu = the first z channels (channel-major, so a prefix of the buffer). */
        act mu = {q.d, z, q.T, q.H, q.W};
        TRY_GOTO(err, done, emit(m, "mu", &mu));
        const int64_t P = mu.T * mu.H * mu.W;
        for (int64_t c = 0; c < z; c++)
        {
            /* bf16 mode: the constants are cast to bf16 and each op rounds, as in torch. */
            float mean = m->bf16 ? wanc_round_bf16(m->var.mean[c]) : m->var.mean[c];
            float s = m->bf16 ? wanc_round_bf16(m->inv_std[c]) : m->inv_std[c];
            float *v = mu.d + c * P;
            if (m->bf16)
                for (int64_t p = 0; p < P; p++) v[p] = wanc_round_bf16(wanc_round_bf16(v[p] - mean) * s);
            else
                for (int64_t p = 0; p < P; p++) v[p] = (v[p] - mean) * s;
        }
        sink_write(sink, mu.d, mu.T, mu.H, mu.W, i);
        act_free(m, &q);
    }
done:
    act_free(m, &x);
    act_free(m, &h);
    act_free(m, &q);
    return err;
}

/* Decode the latent rectangle [h0, h0+th) x [w0, w0+tw) of latents[z, T, Hl, Wl]. */
static wanc_err decode_tile(vae_model *m, const tile_sink *sink, const float *lat, int64_t T, int64_t Hl,
                            int64_t Wl, int64_t h0, int64_t w0, int64_t th, int64_t tw)
{
    const int z = m->cfg.z_dim;
    wanc_err err = NULL;
    act x = {0}, x2 = {0}, y = {0};
    net_reset(m, &m->dec);
    for (int64_t i = 0; i < T; i++) {
        m->chunk = (int)i;
        TRY_GOTO(err, done, act_new(m, &x, z, 1, th, tw));
        for (int64_t c = 0; c < z; c++)
            for (int64_t r = 0; r < th; r++) {
                const float *src = lat + ((c * T + i) * Hl + h0 + r) * Wl + w0;
                float *dst = x.d + (c * th + r) * tw;
                /* DiffSynth divides by the stored float32 reciprocal. */
                float s = m->bf16 ? wanc_round_bf16(m->inv_std[c]) : m->inv_std[c];
                float mean = m->bf16 ? wanc_round_bf16(m->var.mean[c]) : m->var.mean[c];
                if (m->bf16)
                    for (int64_t j = 0; j < tw; j++) dst[j] = wanc_round_bf16(wanc_round_bf16(src[j] / s) + mean);
                else
                    for (int64_t j = 0; j < tw; j++) dst[j] = src[j] / s + mean;
            }
        TRY_GOTO(err, done, emit(m, "latents_unnormalised", &x));
        TRY_GOTO(err, done, conv_fwd(m, &m->post_quant, &x, &x2));
        act_free(m, &x);
        TRY_GOTO(err, done, emit(m, "conv2", &x2));
        TRY_GOTO(err, done, net_fwd(m, &m->dec, &x2, &y));
        act_free(m, &x2);
        if (m->var.patch > 1) {
            TRY_GOTO(err, done, unpatchify(m, &y, &x2));
            act_free(m, &y);
            y = x2;
            x2.d = NULL;
            TRY_GOTO(err, done, emit(m, "unpatchified", &y));
        }
        const int64_t t0 = i == 0 ? 0 : 1 + 4 * (i - 1);
        if (t0 + y.T > sink->T || y.H != th * m->sf || y.W != tw * m->sf) {
            err = wanc_error(WANC_EINTERNAL, "VAE decode: chunk %lld gave %lldx%lldx%lld frames", (long long)i,
                             (long long)y.T, (long long)y.H, (long long)y.W);
            goto done;
        }
        if (!sink->mask) /* untiled: clamp as the frames are written */
            for (int64_t k = 0; k < act_numel(&y); k++) y.d[k] = y.d[k] < -1.0f ? -1.0f : y.d[k] > 1.0f ? 1.0f : y.d[k];
        sink_write(sink, y.d, y.T, y.H, y.W, t0);
        act_free(m, &y);
    }
done:
    act_free(m, &x);
    act_free(m, &x2);
    act_free(m, &y);
    return err;
}

typedef wanc_err (*tile_fn)(vae_model *m, const tile_sink *sink, const float *in, int64_t T, int64_t H, int64_t W,
                            int64_t h0, int64_t w0, int64_t th, int64_t tw);

/* Run `fn` over the tiles of the input grid [H, W] and blend into out[C, To, H*f_out, W*f_out]
 * (f_out = sf for decode; for encode the grid is pixels and f_out = 1/sf, given as num/den). */
static wanc_err run_tiled(vae_model *m, tile_fn fn, float *out, int64_t Cout, int64_t Tout, const float *in,
                          int64_t Tin, int64_t H, int64_t W, int64_t num, int64_t den, const int size[2],
                          const int stride[2], int64_t bw_h, int64_t bw_w)
{
    const int64_t Ho = H * num / den, Wo = W * num / den;
    int64_t n;
    TRY(wanc_vae_tile_plan(NULL, 0, &n, H, W, size, stride));
    wanc_vae_tile *tiles = calloc((size_t)n, sizeof *tiles);
    float *weight = calloc((size_t)(Ho * Wo), sizeof(float));
    float *mask = NULL;
    wanc_err err = NULL;
    if (!tiles || !weight) {
        err = wanc_error(WANC_ENOMEM, "VAE tiling buffers");
        goto done;
    }
    TRY_GOTO(err, done, wanc_vae_tile_plan(tiles, n, &n, H, W, size, stride));
    memset(out, 0, (size_t)(Cout * Tout * Ho * Wo) * sizeof(float));
    for (int64_t k = 0; k < n; k++) {
        const wanc_vae_tile *t = &tiles[k];
        const int64_t th = (t->h1 - t->h0) * num / den, tw = (t->w1 - t->w0) * num / den;
        free(mask);
        mask = malloc((size_t)(th * tw) * sizeof(float));
        if (!mask) {
            err = wanc_error(WANC_ENOMEM, "VAE tile mask");
            goto done;
        }
        const bool border[4] = {t->h0 == 0, t->h1 >= H, t->w0 == 0, t->w1 >= W};
        wanc_vae_tile_mask(mask, th, tw, border, bw_h, bw_w);
        if (m->bf16) wanc_round_bf16_inplace(mask, (size_t)(th * tw));
        tile_sink sink = {out, Cout, Tout, Ho, Wo, t->h0 * num / den, t->w0 * num / den, mask, m->bf16};
        err = fn(m, &sink, in, Tin, H, W, t->h0, t->w0, t->h1 - t->h0, t->w1 - t->w0);
        if (err) {
            err = wanc_error_context(err, "tile %lld of %lld [%lld:%lld, %lld:%lld]", (long long)k + 1, (long long)n,
                                     (long long)t->h0, (long long)t->h1, (long long)t->w0, (long long)t->w1);
            goto done;
        }
        for (int64_t i = 0; i < th; i++)
            for (int64_t j = 0; j < tw; j++) {
                float *wt = &weight[(sink.h0 + i) * Wo + sink.w0 + j];
                *wt = m->bf16 ? wanc_round_bf16(*wt + mask[i * tw + j]) : *wt + mask[i * tw + j];
            }
    }
    for (int64_t c = 0; c < Cout * Tout; c++)
        for (int64_t p = 0; p < Ho * Wo; p++)
            out[c * Ho * Wo + p] = m->bf16 ? wanc_round_bf16(out[c * Ho * Wo + p] / weight[p])
                                           : out[c * Ho * Wo + p] / weight[p];
done:
    free(tiles);
    free(weight);
    free(mask);
    return err;
}

wanc_err vae_model_encode(vae_model *m, float *latents, const float *video, int64_t F, int64_t H, int64_t W,
                          const wanc_vae_opts *o)
{
    if (F < 1 || (F - 1) % 4)
        WANC_FAIL(WANC_EINVAL, "VAE encode: %lld frames; the %s needs 4k+1 (1, 5, 9, ...)", (long long)F,
                  m->var.family);
    const int sf = m->sf;
    if (H <= 0 || W <= 0 || H % sf || W % sf)
        WANC_FAIL(WANC_EINVAL, "VAE encode: frame size %lldx%lld is not a multiple of %d (the %s)", (long long)H,
                  (long long)W, sf, m->var.family);
    const int64_t T = 1 + (F - 1) / 4, z = m->cfg.z_dim;
    wanc_err err = NULL;
    run_begin(m, o);
    if (!o->tiled) {
        tile_sink sink = {latents, z, T, H / sf, W / sf, 0, 0, NULL, false};
        err = encode_tile(m, &sink, video, F, H, W, 0, 0, H, W);
    } else {
        /* Sizes in latent units; the split runs in pixels, the ramps in latents. */
        const int size[2] = {o->tile_size[0] * sf, o->tile_size[1] * sf};
        const int stride[2] = {o->tile_stride[0] * sf, o->tile_stride[1] * sf};
        err = run_tiled(m, encode_tile, latents, z, T, video, F, H, W, 1, sf, size, stride,
                        (size[0] - stride[0]) / sf, (size[1] - stride[1]) / sf);
    }
    run_end(m);
    return err ? wanc_error_context(err, "VAE encode of %lldx%lldx%lld", (long long)F, (long long)H, (long long)W)
               : NULL;
}

wanc_err vae_model_decode(vae_model *m, float *video, const float *latents, int64_t C, int64_t T, int64_t h,
                          int64_t w, const wanc_vae_opts *o)
{
    if (C != m->cfg.z_dim)
        WANC_FAIL(WANC_ESHAPE, "VAE decode: latents have %lld channels, expected %d", (long long)C, m->cfg.z_dim);
    if (T < 1 || h < 1 || w < 1)
        WANC_FAIL(WANC_ESHAPE, "VAE decode: empty latents %lldx%lldx%lldx%lld", (long long)C, (long long)T,
                  (long long)h, (long long)w);
    const int64_t F = 1 + 4 * (T - 1), sf = m->sf;
    wanc_err err = NULL;
    run_begin(m, o);
    if (!o->tiled) {
        tile_sink sink = {video, 3, F, sf * h, sf * w, 0, 0, NULL, false};
        err = decode_tile(m, &sink, latents, T, h, w, 0, 0, h, w);
    } else {
        err = run_tiled(m, decode_tile, video, 3, F, latents, T, h, w, sf, 1, o->tile_size, o->tile_stride,
                        (int64_t)(o->tile_size[0] - o->tile_stride[0]) * sf,
                        (int64_t)(o->tile_size[1] - o->tile_stride[1]) * sf);
        if (!err)
            for (int64_t k = 0; k < 3 * F * sf * sf * h * w; k++)
                video[k] = video[k] < -1.0f ? -1.0f : video[k] > 1.0f ? 1.0f : video[k];
    }
    run_end(m);
    return err ? wanc_error_context(err, "VAE decode of %lldx%lldx%lld latents", (long long)T, (long long)h,
                                    (long long)w)
               : NULL;
}
