/* 3-D convolution (conv2d is kt = 1, T = 1), two paths:
 *
 * - spatial stride 1 (every VAE 3×3×3 conv, the causal time convs): per
 *   kernel offset one sgemm over a zero-padded slab of input rows, summed in
 *   place (conv_shift_range). No column matrix: about 0.85 of the sgemm rate
 *   at 384 channels, 60×104, against 0.5 for im2col, whose K = Cin·27 column
 *   slabs make OpenBLAS repack the whole weight for every few hundred
 *   output positions.
 * - other strides (the encoder's downsampling): im2col. out[Cout, P] =
 *   W[Cout, Kc] · col[Kc, P] with Kc = Cin·kt·kh·kw in the weight's own
 *   order (ci, dt, dh, dw), P = To·Ho·Wo, cut into slabs whose column block
 *   stays under COL_BYTES per thread.
 *
 * On the avx512bf16 path, with a BF16 weight and an input that is all bf16
 * (bf16 compute), the stride-1 path runs each offset's product on the
 * packed vdpbf16ps kernels instead (the slab kept as bf16 channel pairs,
 * each offset's product one packed GEMM with the pair-row stride as B's
 * leading dimension): the same float32
 * products, summed in another fixed order.
 *
 * Either way a task is one slab of output positions with its own sgemm
 * calls; slab sizes come from the shapes only, so the bits do not depend on
 * the thread count. BF16/F16 weights are converted to float32 once per call
 * (conv weights are small: 384·384·27 floats = 16 MB at most in Wan's VAEs).
 * Per-thread scratch: the padded row slab and its output (a few MB), or a
 * column block (<= 16 MB). */
#include <cblas.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "backend/cpu/cpu_internal.h"
#include "core/threads.h"

#define COL_BYTES (16u << 20)

/* Benchmarks and tests switch the stride-1 path off to compare the two. */
int cpu_conv3d_force_im2col;

typedef struct {
    float *out;
    const float *x, *w, *bias;
    /* the input is hist[Cin, Th] ++ x[Cin, T - Th] along time (Th = 0: x alone;
     * hist NULL: Th zero frames) */
    const float *hist;
    int64_t Th;
    int64_t Cin, T, H, W, Cout, kt, kh, kw, To, Ho, Wo, P, Kc, ps;
    int st, sh, sw, pt, ph, pw;
    /* shifted-gemm path: per-offset weights wk[kt·kh·kw][Cout][Cin], slabs of nh output rows */
    const float *wk;
    /* the AVX-512 BF16 kernels (a BF16 weight, an input all bf16): per offset
     * the weight's A panels (wp_stride u32 apart), the input as channel pairs */
    const uint32_t *wp;
    int64_t wp_stride;
    const void *wsrc; /* the stored weight, read by the re-layout in its own dtype */
    wanc_dtype wdt;
    int64_t Wp, nh, hslabs;
    atomic_int failed;
} conv_job;

/* Is input frame t all zeros (time padding, or a NULL history)? */
static inline int zero_frame(const conv_job *j, int64_t t) { return t < 0 || t >= j->T || (t < j->Th && !j->hist); }

/* Frame t (of the T = Th + x frames) of input channel ci: [H, W]; not for zero frames. */
static inline const float *in_frame(const conv_job *j, int64_t ci, int64_t t)
{
    const int64_t HW = j->H * j->W;
    return t < j->Th ? j->hist + (ci * j->Th + t) * HW : j->x + (ci * (j->T - j->Th) + t - j->Th) * HW;
}

/* col[Kc, n] for output positions p0 .. p0+n-1 (row stride n). */
static void im2col(const conv_job *j, float *col, int64_t p0, int64_t n)
{
    const int64_t HoWo = j->Ho * j->Wo;
    int64_t row = 0;
    for (int64_t ci = 0; ci < j->Cin; ci++)
        for (int64_t dt = 0; dt < j->kt; dt++)
            for (int64_t dh = 0; dh < j->kh; dh++)
                for (int64_t dw = 0; dw < j->kw; dw++, row++) {
                    float *c = col + row * n;
                    int64_t p = p0;
                    int64_t to = p / HoWo, ho = (p % HoWo) / j->Wo, wo = p % j->Wo;
                    for (int64_t i = 0; i < n; i++) {
                        int64_t t = to * j->st - j->pt + dt, h = ho * j->sh - j->ph + dh, w = wo * j->sw - j->pw + dw;
                        c[i] = (!zero_frame(j, t) && h >= 0 && h < j->H && w >= 0 && w < j->W)
                                   ? in_frame(j, ci, t)[h * j->W + w]
                                   : 0.0f;
                        if (++wo == j->Wo) {
                            wo = 0;
                            if (++ho == j->Ho) {
                                ho = 0;
                                to++;
                            }
                        }
                    }
                }
}

static void conv_range(void *ctx, int64_t begin, int64_t end)
{
    conv_job *j = ctx;
    float *col = cpu_scratch(CPU_SCRATCH_WORK, sizeof(float) * (size_t)(j->Kc * j->ps));
    if (!col) {
        atomic_store(&j->failed, 1);
        return;
    }
    for (int64_t s = begin; s < end; s++) {
        int64_t p0 = s * j->ps, n = j->P - p0 < j->ps ? j->P - p0 : j->ps;
        im2col(j, col, p0, n);
        float *o = j->out + p0;
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, (int)j->Cout, (int)n, (int)j->Kc, 1.0f, j->w,
                    (int)j->Kc, col, (int)n, 0.0f, o, (int)j->P);
        if (j->bias)
            for (int64_t c = 0; c < j->Cout; c++)
                for (int64_t i = 0; i < n; i++) o[c * j->P + i] += j->bias[c];
    }
}

/* The valid columns of an extended output slab oe[Cout][nh·Wp] (output
 * frame `to`, rows h0..h0+nh-1) into out, with the bias. */
static void shift_store(const conv_job *j, const float *oe, int64_t to, int64_t h0, int64_t nh)
{
    for (int64_t co = 0; co < j->Cout; co++) {
        float b = j->bias ? j->bias[co] : 0.0f;
        for (int64_t r = 0; r < nh; r++) {
            float *o = j->out + ((co * j->To + to) * j->Ho + h0 + r) * j->Wo;
            const float *e = oe + co * j->nh * j->Wp + r * j->Wp;
            for (int64_t w = 0; w < j->Wo; w++) o[w] = e[w] + b;
        }
    }
}

/* Path without im2col, for spatial stride 1 (any time stride). For an
 * output slab of nh rows of frame `to`, copy the input rows it reads (frames
 * to·st - pt + dt) into a zero-padded slab xs[Cin][kt][nh+kh-1][Wp] with
 * Wp = W + 2·pw. Output row h, column w, offset (dt, dh, dw) reads
 * xs[ci][dt][h + dh][w + dw], i.e. flat position (h·Wp + w) + (dh·Wp + dw) of
 * plane dt: so over an "extended" output of nh·Wp columns (the last kw-1 of
 * each row are junk) every offset is one plain sgemm
 *   oe[Cout, nh·Wp] += wk[dt,dh,dw][Cout, Cin] · xs[:, dt, dh·Wp+dw ...]
 * with the channel stride as the leading dimension. The valid columns are
 * then copied out with the bias. Offsets whose input frame is all zeros
 * (time padding, a causal conv's empty history) are skipped: they would
 * add exact zeros, and for a 1-frame chunk of a causal 3x3x3 conv they
 * are two thirds of the work. */
/* The padded input slab of output rows h0.. of frame `to`, rows 0..rin-1
 * (rows beyond stay unused; planes of zero frames unread): xs[Cin][kt][rows][Wp] float32. */
static void fill_slab(const conv_job *j, float *xs, int64_t chan, int64_t plane, int64_t to, int64_t h0, int64_t rin)
{
    for (int64_t ci = 0; ci < j->Cin; ci++)
        for (int64_t dt = 0; dt < j->kt; dt++) {
            int64_t t = to * j->st - j->pt + dt;
            if (zero_frame(j, t)) continue;
            for (int64_t r = 0; r < rin; r++) {
                float *dst = xs + ci * chan + dt * plane + r * j->Wp;
                int64_t h = h0 - j->ph + r;
                if (h < 0 || h >= j->H) {
                    memset(dst, 0, sizeof(float) * (size_t)j->Wp);
                    continue;
                }
                memset(dst, 0, sizeof(float) * (size_t)j->pw);
                memcpy(dst + j->pw, in_frame(j, ci, t) + h * j->W, sizeof(float) * (size_t)j->W);
                memset(dst + j->pw + j->W, 0, sizeof(float) * (size_t)(j->Wp - j->pw - j->W));
            }
        }
}

/* The same slab for the bf16 kernels (the input is all bf16, checked by
 * the caller): channel pairs xs2[Cin/2][kt][rows][Wp], low half the even channel. */
static void fill_slab_pairs(const conv_job *j, uint32_t *xs, int64_t chan, int64_t plane, int64_t to, int64_t h0,
                            int64_t rin)
{
    for (int64_t c2 = 0; c2 < (j->Cin + 1) / 2; c2++)
        for (int64_t dt = 0; dt < j->kt; dt++) {
            int64_t t = to * j->st - j->pt + dt;
            if (zero_frame(j, t)) continue;
            for (int64_t r = 0; r < rin; r++) {
                uint32_t *dst = xs + c2 * chan + dt * plane + r * j->Wp;
                int64_t h = h0 - j->ph + r;
                memset(dst, 0, sizeof(uint32_t) * (size_t)j->Wp);
                if (h < 0 || h >= j->H) continue;
                const uint32_t *lo = (const uint32_t *)(const void *)(in_frame(j, 2 * c2, t) + h * j->W);
                if (2 * c2 + 1 < j->Cin) {
                    const uint32_t *hi = (const uint32_t *)(const void *)(in_frame(j, 2 * c2 + 1, t) + h * j->W);
                    for (int64_t w = 0; w < j->W; w++) dst[j->pw + w] = lo[w] >> 16 | (hi[w] & 0xffff0000u);
                } else {
                    for (int64_t w = 0; w < j->W; w++) dst[j->pw + w] = lo[w] >> 16;
                }
            }
        }
}

static void conv_shift_range(void *ctx, int64_t begin, int64_t end)
{
    conv_job *j = ctx;
    const int64_t rows_in = j->nh + j->kh - 1, plane = rows_in * j->Wp, chan = j->kt * plane;
    const int64_t Cin2 = (j->Cin + 1) / 2;
    /* float32 channels, or (bf16 kernels) uint32 channel pairs */
    void *xs = cpu_scratch(CPU_SCRATCH_WORK, sizeof(float) * (size_t)((j->wp ? Cin2 : j->Cin) * chan));
    float *oe = cpu_scratch(CPU_SCRATCH_WORK2, sizeof(float) * (size_t)(j->Cout * j->nh * j->Wp));
    if (!xs || !oe) {
        atomic_store(&j->failed, 1);
        return;
    }
    for (int64_t task = begin; task < end; task++) {
        int64_t to = task / j->hslabs, h0 = (task % j->hslabs) * j->nh;
        int64_t nh = j->Ho - h0 < j->nh ? j->Ho - h0 : j->nh;
        int64_t rin = nh + j->kh - 1;
        if (j->wp) fill_slab_pairs(j, xs, chan, plane, to, h0, rin);
        else fill_slab(j, xs, chan, plane, to, h0, rin);
        int64_t ncols = nh * j->Wp - (j->kw - 1); /* stays inside each plane */
        int64_t k = 0;
        int first = 1;
        for (int64_t dt = 0; dt < j->kt; dt++) {
            if (zero_frame(j, to * j->st - j->pt + dt)) {
                k += j->kh * j->kw;
                continue;
            }
            for (int64_t dh = 0; dh < j->kh; dh++)
                for (int64_t dw = 0; dw < j->kw; dw++, k++, first = 0) {
                    int64_t off = dt * plane + dh * j->Wp + dw;
                    if (j->wp) /* B: the pair rows of the slab, chan apart */
                        cpu_bf16_gemm_block(oe, j->nh * j->Wp, j->wp + k * j->wp_stride, Cin2 * BF16_MR,
                                            (const uint32_t *)xs + off, chan, BF16_NR, j->Cout, ncols, Cin2, !first,
                                            NULL);
                    else
                        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, (int)j->Cout, (int)ncols, (int)j->Cin,
                                    1.0f, j->wk + k * j->Cout * j->Cin, (int)j->Cin, (const float *)xs + off,
                                    (int)chan, first ? 0.0f : 1.0f, oe, (int)(j->nh * j->Wp));
                }
        }
        if (first) memset(oe, 0, sizeof(float) * (size_t)(j->Cout * j->nh * j->Wp)); /* every frame was zero */
        shift_store(j, oe, to, h0, nh);
    }
}

/* The weight's A panels for each kernel offset k: wp[k] packs the
 * [Cout, Cin] matrix w[:, :, k] (stored bf16, read in place). */
static void pack_offsets_range(void *ctx, int64_t begin, int64_t end)
{
    conv_job *j = ctx;
    const int64_t nk = j->kt * j->kh * j->kw;
    for (int64_t k = begin; k < end; k++)
        cpu_bf16_pack_a_bf16((uint32_t *)j->wp + k * j->wp_stride, (const uint16_t *)j->wsrc + k, j->Cin * nk, nk,
                             j->Cout, j->Cin);
}

/* wk[k][co][ci] = w[co][ci][k] for the output channels of this range. One
 * source row w[co] (Cin·nk floats, cache-resident) feeds nk contiguous
 * destination runs: writing one run at a time instead of scattering nk
 * streams made this several times faster (it was ~6% of a VAE decode). */
static void relayout_range(void *ctx, int64_t begin, int64_t end)
{
    conv_job *j = ctx;
    const int64_t nk = j->kt * j->kh * j->kw, Cin = j->Cin;
    float *wk = (float *)j->wk;
    float *row = NULL;
    if (j->wdt != WANC_F32 && !(row = cpu_scratch(CPU_SCRATCH_WORK, sizeof(float) * (size_t)(Cin * nk)))) {
        atomic_store(&j->failed, 1);
        return;
    }
    for (int64_t co = begin; co < end; co++) {
        const float *src = (const float *)j->wsrc + co * Cin * nk;
        if (row) { /* BF16/F16: convert this output channel's row first */
            cpu_to_f32(row, (const uint16_t *)j->wsrc + co * Cin * nk, j->wdt, (size_t)(Cin * nk));
            src = row;
        }
        for (int64_t k = 0; k < nk; k++) {
            float *dst = wk + (k * j->Cout + co) * Cin;
            for (int64_t ci = 0; ci < Cin; ci++) dst[ci] = src[ci * nk + k];
        }
    }
}

/* out[Cout, To, Ho, Wo] = conv3d(hist[Cin, Th, H, W] ++ x[Cin, T - Th, H, W], w[Cout, Cin, kt, kh, kw]) + bias[Cout];
 * zero padding pad[] on both sides, stride[]; w may also be [Cout, Cin, kh, kw] (kt = 1). */
static wanc_err conv3d_run(float *out, const float *hist, int64_t Th, const float *x, const wanc_tensor *w,
                           const wanc_tensor *bias, int64_t Cin, int64_t T, int64_t H, int64_t W, const int stride[3],
                           const int pad[3])
{
    if (!w || !w->data || (w->ndim != 5 && w->ndim != 4))
        WANC_FAIL(WANC_ESHAPE, "conv3d: weight must be [Cout, Cin, kt, kh, kw]");
    if (!cpu_weight_dtype_ok(w->dtype) || !wanc_tensor_is_contiguous(w))
        WANC_FAIL(WANC_ESHAPE, "conv3d: weight must be contiguous and of a float dtype, got %s", wanc_dtype_name(w->dtype));
    if (!stride || !pad) WANC_FAIL(WANC_EINVAL, "conv3d: NULL stride or pad");
    int off = w->ndim == 5 ? 0 : 1;
    conv_job j = {.x = x, .hist = hist, .Th = Th, .out = out, .Cin = Cin, .T = T, .H = H, .W = W, .Cout = w->shape[0],
                  .kt = off ? 1 : w->shape[2], .kh = w->shape[3 - off], .kw = w->shape[4 - off],
                  .st = stride[0], .sh = stride[1], .sw = stride[2], .pt = pad[0], .ph = pad[1], .pw = pad[2]};
    if (w->shape[1] != Cin)
        WANC_FAIL(WANC_ESHAPE, "conv3d: weight has %lld input channels, input has %lld", (long long)w->shape[1],
                  (long long)Cin);
    if (Cin <= 0 || T <= 0 || H <= 0 || W <= 0 || j.st <= 0 || j.sh <= 0 || j.sw <= 0 || j.pt < 0 || j.ph < 0 ||
        j.pw < 0)
        WANC_FAIL(WANC_EINVAL, "conv3d: bad sizes Cin=%lld T=%lld H=%lld W=%lld or stride/pad", (long long)Cin,
                  (long long)T, (long long)H, (long long)W);
    j.To = (T + 2 * j.pt - j.kt) / j.st + 1;
    j.Ho = (H + 2 * j.ph - j.kh) / j.sh + 1;
    j.Wo = (W + 2 * j.pw - j.kw) / j.sw + 1;
    if (T + 2 * j.pt < j.kt || H + 2 * j.ph < j.kh || W + 2 * j.pw < j.kw || j.To <= 0 || j.Ho <= 0 || j.Wo <= 0)
        WANC_FAIL(WANC_ESHAPE, "conv3d: kernel %lldx%lldx%lld larger than padded input %lldx%lldx%lld",
                  (long long)j.kt, (long long)j.kh, (long long)j.kw, (long long)(T + 2 * j.pt),
                  (long long)(H + 2 * j.ph), (long long)(W + 2 * j.pw));
    j.P = j.To * j.Ho * j.Wo;
    j.Kc = Cin * j.kt * j.kh * j.kw;
    if (bias && (!bias->data || wanc_tensor_numel(bias) != j.Cout || !cpu_weight_dtype_ok(bias->dtype)))
        WANC_FAIL(WANC_ESHAPE, "conv3d: bias must have %lld float values", (long long)j.Cout);
    if (j.P > INT32_MAX || j.Kc > INT32_MAX) WANC_FAIL(WANC_EUNSUPPORTED, "conv3d: sizes exceed BLAS int");
    if (!out || !x) WANC_FAIL(WANC_EINVAL, "conv3d: NULL input or output");
    cpu_blas_init();

    const int shifted = j.sh == 1 && j.sw == 1 && !cpu_conv3d_force_im2col; /* any time stride */
    /* bf16 compute with a bf16 weight: the input is all bf16 (a scan costs
     * one read of it, against 2·Cout·kt·kh·kw flops per value) */
    const int bf16 = shifted && cpu_isa_get() >= CPU_ISA_AVX512BF16 && w->dtype == WANC_BF16 && w->scale == 0.0f &&
                     cpu_bf16_exact(x, Cin * (T - Th) * H * W) && (!hist || cpu_bf16_exact(hist, Cin * Th * H * W));
    float *wf = NULL, *bf = NULL;
    j.wsrc = w->data;
    j.wdt = w->dtype;
    if (bf16) {
        /* the weight is read in place by the packing below */
    } else if (w->scale != 0.0f || (w->dtype != WANC_F32 && w->dtype != WANC_BF16 && w->dtype != WANC_F16)) {
        /* fp8 / block types / scaled: decode once, then it is an F32 weight */
        if (j.Kc % wanc_dtype_block_elems(w->dtype))
            WANC_FAIL(WANC_ESHAPE, "conv3d: %s weight rows of %lld values are not whole blocks",
                      wanc_dtype_name(w->dtype), (long long)j.Kc);
        wf = malloc(sizeof(float) * (size_t)(j.Cout * j.Kc));
        if (!wf) WANC_FAIL(WANC_ENOMEM, "conv3d: out of memory converting the weight");
        cpu_weight_rows(wf, w, 0, j.Cout, j.Kc);
        j.w = wf;
        j.wsrc = wf;
        j.wdt = WANC_F32;
    } else if (w->dtype != WANC_F32 && !(shifted && j.Kc != Cin)) { /* the re-layout converts on its own */
        wf = malloc(sizeof(float) * (size_t)(j.Cout * j.Kc));
        if (!wf) WANC_FAIL(WANC_ENOMEM, "conv3d: out of memory converting the weight");
        cpu_to_f32(wf, w->data, w->dtype, (size_t)(j.Cout * j.Kc));
        j.w = wf;
    } else {
        j.w = w->data;
    }
    if (bias) {
        bf = malloc(sizeof(float) * (size_t)j.Cout);
        if (!bf) {
            free(wf);
            WANC_FAIL(WANC_ENOMEM, "conv3d: out of memory for the bias");
        }
        wanc_err e = wanc_tensor_to_f32(bf, bias);
        if (e) {
            free(wf);
            free(bf);
            return e;
        }
        j.bias = bf;
    }
    atomic_init(&j.failed, 0);
    if (bf16) {
        const int64_t nk = j.kt * j.kh * j.kw;
        j.wp_stride = (j.Cout + BF16_MR - 1) / BF16_MR * BF16_MR * ((Cin + 1) / 2);
        uint32_t *wp = cpu_scratch(CPU_SCRATCH_WEIGHT, sizeof(uint32_t) * (size_t)(nk * j.wp_stride));
        if (!wp) {
            free(bf);
            WANC_FAIL(WANC_ENOMEM, "conv3d: out of memory packing the weight");
        }
        j.wp = wp;
        wanc_parallel_for(nk, 1, pack_offsets_range, &j);
    }
    if (shifted) {
        /* offsets-major weights wk[k][Cout][Cin] from w[Cout][Cin][k] (a 1x1x1
         * kernel already is). The buffer is the calling thread's scratch, kept
         * between calls: a fresh 16 MB block per conv cost its page faults
         * every time. */
        if (bf16) {
            /* packed above */
        } else if (j.Kc == Cin) {
            j.wk = j.w;
        } else {
            float *wk = cpu_scratch(CPU_SCRATCH_WEIGHT, sizeof(float) * (size_t)(j.Cout * j.Kc));
            if (!wk) {
                free(wf);
                free(bf);
                WANC_FAIL(WANC_ENOMEM, "conv3d: out of memory re-laying the weight");
            }
            j.wk = wk;
            wanc_parallel_for(j.Cout, 16, relayout_range, &j);
        }
        j.Wp = W + 2 * j.pw;
        /* at most about 1024 extended columns per sgemm, and at least ~16
         * slabs per frame while a slab keeps >= 256 columns, for balance */
        int64_t nh = 1024 / j.Wp > 1 ? 1024 / j.Wp : 1;
        int64_t balanced = (j.Ho + 15) / 16, min_rows = (256 + j.Wp - 1) / j.Wp;
        if (balanced < min_rows) balanced = min_rows;
        if (balanced < nh) nh = balanced;
        j.nh = nh > j.Ho ? j.Ho : nh;
        j.hslabs = (j.Ho + j.nh - 1) / j.nh;
        if (!atomic_load(&j.failed))
            wanc_parallel_for(j.To * j.hslabs, 1, conv_shift_range, &j);
    } else {
        int64_t ps = (int64_t)(COL_BYTES / sizeof(float)) / j.Kc;
        if (ps < 64) ps = 64;
        ps = ps / 16 * 16;
        j.ps = ps < j.P ? ps : j.P;
        wanc_parallel_for((j.P + j.ps - 1) / j.ps, 1, conv_range, &j);
    }
    free(wf);
    free(bf);
    if (atomic_load(&j.failed)) WANC_FAIL(WANC_ENOMEM, "conv3d: out of memory for the column buffer");
    return NULL;
}

/* out = conv3d(x[Cin, T, H, W]) (see backend.h) */
wanc_err cpu_conv3d(const wanc_backend *be, float *out, const float *x, const wanc_tensor *w,
                    const wanc_tensor *bias, int64_t Cin, int64_t T, int64_t H, int64_t W, const int stride[3],
                    const int pad[3])
{
    (void)be;
    return conv3d_run(out, NULL, 0, x, w, bias, Cin, T, H, W, stride, pad);
}

/* out = conv3d(hist[Cin, Th, H, W] ++ x[Cin, T, H, W] along time), without building the
 * concatenation; hist NULL: Th zero frames. */
wanc_err cpu_conv3d_hist(const wanc_backend *be, float *out, const float *hist, int64_t Th, const float *x,
                         const wanc_tensor *w, const wanc_tensor *bias, int64_t Cin, int64_t T, int64_t H, int64_t W,
                         const int stride[3], const int pad[3])
{
    (void)be;
    if (Th < 0 || T < 0)
        WANC_FAIL(WANC_EINVAL, "conv3d_hist: %lld history frames, %lld frames", (long long)Th, (long long)T);
    if (T == 0 && hist && Th > 0) { /* history alone: x is the history */
        x = hist;
        T = Th;
        Th = 0;
    }
    return conv3d_run(out, Th ? hist : NULL, Th, x, w, bias, Cin, Th + T, H, W, stride, pad);
}
