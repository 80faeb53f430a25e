/* Image resamplers matching Pillow and torch bit for bit (see resample.h).
 *
 * Pillow's algorithm (Resample.c, "convolution" resampling): for each output
 * position along one axis the source centre is (o + 0.5)·scale, the filter
 * support (2 source pixels for bicubic, 1 for bilinear) is scaled by
 * max(scale, 1) (that scaling is the antialiasing when shrinking), the taps
 * are the source pixels whose centres fall within it, the weights are the
 * filter (bicubic a = −0.5, or the triangle) of the distance divided by the
 * support scale, normalised to sum 1 in double and then converted to
 * 22-bit fixed point. The horizontal pass runs first (only over the source
 * rows the vertical pass will read) into a uint8 image, then the vertical
 * pass; each sum starts at one half and is shifted and clipped to 0..255.
 */
#include "vision/resample.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "core/tensor.h"

#define PIL_PRECISION_BITS (32 - 8 - 2)

static double pil_bicubic(double x)
{
    const double a = -0.5;
    if (x < 0.0) x = -x;
    if (x < 1.0) return ((a + 2.0) * x - (a + 3.0)) * x * x + 1.0;
    if (x < 2.0) return (((x - 5.0) * x + 8.0) * x - 4.0) * a;
    return 0.0;
}

static double pil_triangle(double x)
{
    if (x < 0.0) x = -x;
    return x < 1.0 ? 1.0 - x : 0.0;
}

/* Fixed-point taps of one axis: for output o, source pixels
 * bounds[2o] .. bounds[2o] + bounds[2o+1] - 1 with weights k[o·ksize + j]. */
typedef struct {
    int ksize;
    int *bounds;
    int32_t *k;
} pil_taps;

static void pil_taps_free(pil_taps *t)
{
    free(t->bounds);
    free(t->k);
}

static wanc_err pil_taps_make(pil_taps *t, int in_size, int out_size, bool bilinear)
{
    const double filter_support = bilinear ? 1.0 : 2.0;
    double scale = (double)in_size / out_size, filterscale = scale < 1.0 ? 1.0 : scale;
    double support = filter_support * filterscale;
    int ksize = (int)ceil(support) * 2 + 1;
    t->ksize = ksize;
    t->bounds = malloc(sizeof(int) * 2 * (size_t)out_size);
    t->k = calloc((size_t)out_size * (size_t)ksize, sizeof(int32_t));
    double *w = malloc(sizeof(double) * (size_t)ksize);
    if (!t->bounds || !t->k || !w) {
        free(w);
        pil_taps_free(t);
        WANC_FAIL(WANC_ENOMEM, "resize: out of memory for %d x %d filter taps", out_size, ksize);
    }
    for (int o = 0; o < out_size; o++) {
        double center = (o + 0.5) * scale, ss = 1.0 / filterscale, sum = 0.0;
        int xmin = (int)(center - support + 0.5), xmax = (int)(center + support + 0.5);
        if (xmin < 0) xmin = 0;
        if (xmax > in_size) xmax = in_size;
        xmax -= xmin;
        for (int j = 0; j < xmax; j++) {
            double d = (j + xmin - center + 0.5) * ss;
            w[j] = bilinear ? pil_triangle(d) : pil_bicubic(d);
            sum += w[j];
        }
        for (int j = 0; j < xmax; j++) {
            double v = sum != 0.0 ? w[j] / sum : w[j];
            /* round half away from zero, as Pillow's normalize_coeffs_8bpc */
            t->k[(size_t)o * ksize + j] = v < 0 ? (int32_t)(-0.5 + v * (1 << PIL_PRECISION_BITS))
                                                : (int32_t)(0.5 + v * (1 << PIL_PRECISION_BITS));
        }
        t->bounds[2 * o] = xmin;
        t->bounds[2 * o + 1] = xmax;
    }
    free(w);
    return NULL;
}

static inline uint8_t pil_clip8(int64_t v)
{
    if (v >= ((int64_t)1 << PIL_PRECISION_BITS << 8)) return 255;
    if (v <= 0) return 0;
    return (uint8_t)(v >> PIL_PRECISION_BITS);
}

static wanc_err resize_pil(uint8_t *out, int out_h, int out_w, const uint8_t *in, int in_h, int in_w,
                           int64_t in_row_stride, bool bilinear)
{
    if (out_h <= 0 || out_w <= 0 || in_h <= 0 || in_w <= 0 || in_row_stride < 3 * (int64_t)in_w)
        WANC_FAIL(WANC_EINVAL, "resize: bad sizes %dx%d -> %dx%d (row stride %lld)", in_h, in_w, out_h, out_w,
                  (long long)in_row_stride);
    bool need_h = out_w != in_w, need_v = out_h != in_h;
    if (!need_h && !need_v) {
        for (int y = 0; y < in_h; y++) memcpy(out + (size_t)y * 3 * out_w, in + y * in_row_stride, 3 * (size_t)in_w);
        return NULL;
    }
    pil_taps th = {0}, tv = {0};
    wanc_err err = NULL;
    uint8_t *tmp = NULL;
    TRY_GOTO(err, done, pil_taps_make(&th, in_w, out_w, bilinear));
    TRY_GOTO(err, done, pil_taps_make(&tv, in_h, out_h, bilinear));

    /* horizontal pass over the source rows the vertical pass reads */
    const uint8_t *src = in;
    int64_t src_stride = in_row_stride;
    int row0 = 0;
    if (need_h) {
        int first = tv.bounds[0], last = tv.bounds[2 * out_h - 2] + tv.bounds[2 * out_h - 1];
        if (!need_v) first = 0, last = in_h;
        int rows = last - first;
        tmp = malloc((size_t)rows * out_w * 3);
        if (!tmp) {
            err = wanc_error(WANC_ENOMEM, "resize: out of memory for a %dx%d intermediate", rows, out_w);
            goto done;
        }
        for (int y = 0; y < rows; y++) {
            const uint8_t *row = in + (int64_t)(y + first) * in_row_stride;
            uint8_t *dst = tmp + (size_t)y * out_w * 3;
            for (int x = 0; x < out_w; x++) {
                int xmin = th.bounds[2 * x], n = th.bounds[2 * x + 1];
                const int32_t *k = th.k + (size_t)x * th.ksize;
                int64_t s0 = 1 << (PIL_PRECISION_BITS - 1), s1 = s0, s2 = s0;
                for (int j = 0; j < n; j++) {
                    const uint8_t *p = row + (size_t)(xmin + j) * 3;
                    s0 += p[0] * (int64_t)k[j];
                    s1 += p[1] * (int64_t)k[j];
                    s2 += p[2] * (int64_t)k[j];
                }
                dst[3 * x] = pil_clip8(s0);
                dst[3 * x + 1] = pil_clip8(s1);
                dst[3 * x + 2] = pil_clip8(s2);
            }
        }
        if (!need_v) {
            memcpy(out, tmp, (size_t)rows * out_w * 3);
            goto done;
        }
        src = tmp;
        src_stride = (int64_t)out_w * 3;
        row0 = first;
    }
    /* vertical pass */
    for (int y = 0; y < out_h; y++) {
        int ymin = tv.bounds[2 * y] - row0, n = tv.bounds[2 * y + 1];
        const int32_t *k = tv.k + (size_t)y * tv.ksize;
        uint8_t *dst = out + (size_t)y * out_w * 3;
        for (int x = 0; x < 3 * out_w; x++) {
            int64_t s = 1 << (PIL_PRECISION_BITS - 1);
            for (int j = 0; j < n; j++) s += src[(int64_t)(ymin + j) * src_stride + x] * (int64_t)k[j];
            dst[x] = pil_clip8(s);
        }
    }
done:
    free(tmp);
    pil_taps_free(&th);
    pil_taps_free(&tv);
    return err;
}

wanc_err wanc_resize_pil_bicubic(uint8_t *out, int out_h, int out_w, const uint8_t *in, int in_h, int in_w,
                                 int64_t in_row_stride)
{
    return resize_pil(out, out_h, out_w, in, in_h, in_w, in_row_stride, false);
}

wanc_err wanc_resize_pil_bilinear(uint8_t *out, int out_h, int out_w, const uint8_t *in, int in_h, int in_w,
                                  int64_t in_row_stride)
{
    return resize_pil(out, out_h, out_w, in, in_h, in_w, in_row_stride, true);
}

void wanc_crop_for_aspect(int *y0, int *x0, int *ch, int *cw, int in_h, int in_w, int h, int w)
{
    /* DiffSynth compares the aspect ratios in double and truncates the crop size */
    if ((double)in_h / in_w < (double)h / w) {
        *ch = in_h;
        *cw = (int)((double)in_h / h * w);
        *y0 = 0;
        *x0 = (in_w - *cw) / 2;
    } else {
        *cw = in_w;
        *ch = (int)((double)in_w / w * h);
        *x0 = 0;
        *y0 = (in_h - *ch) / 2;
    }
}

wanc_err wanc_crop_and_resize(uint8_t *out, int h, int w, const uint8_t *in, int in_h, int in_w)
{
    if (h <= 0 || w <= 0 || in_h <= 0 || in_w <= 0)
        WANC_FAIL(WANC_EINVAL, "crop_and_resize: bad sizes %dx%d -> %dx%d", in_h, in_w, h, w);
    int y0, x0, ch, cw;
    wanc_crop_for_aspect(&y0, &x0, &ch, &cw, in_h, in_w, h, w);
    if (ch <= 0 || cw <= 0)
        WANC_FAIL(WANC_EINVAL, "crop_and_resize: %dx%d image is too small to crop to aspect %d:%d", in_h, in_w, w,
                  h);
    return wanc_resize_pil_bicubic(out, h, w, in + ((int64_t)y0 * in_w + x0) * 3, ch, cw, (int64_t)in_w * 3);
}

void wanc_cover_size(int *rh, int *rw, int in_h, int in_w, int h, int w)
{
    /* scale = max(w / W0, h / H0) in double; Python's round() (half to even) */
    double scale = fmax((double)w / in_w, (double)h / in_h);
    *rh = (int)nearbyint(in_h * scale);
    *rw = (int)nearbyint(in_w * scale);
}

wanc_err wanc_cover_resize_center_crop(uint8_t *out, int h, int w, const uint8_t *in, int in_h, int in_w)
{
    if (h <= 0 || w <= 0 || in_h <= 0 || in_w <= 0)
        WANC_FAIL(WANC_EINVAL, "cover resize: bad sizes %dx%d -> %dx%d", in_h, in_w, h, w);
    int rh, rw;
    wanc_cover_size(&rh, &rw, in_h, in_w, h, w);
    if (rh < h || rw < w)
        WANC_FAIL(WANC_EINTERNAL, "cover resize: %dx%d scaled to %dx%d does not cover %dx%d", in_h, in_w, rh, rw, h, w);
    uint8_t *mid = malloc((size_t)rh * rw * 3);
    if (!mid) WANC_FAIL(WANC_ENOMEM, "cover resize: out of memory for a %dx%d image", rh, rw);
    wanc_err err = wanc_resize_pil_bilinear(mid, rh, rw, in, in_h, in_w, (int64_t)in_w * 3);
    if (!err) {
        /* center_crop: top = int(round((H - h) / 2)), left likewise (half to even) */
        int top = (int)nearbyint((rh - h) / 2.0), left = (int)nearbyint((rw - w) / 2.0);
        for (int y = 0; y < h; y++)
            memcpy(out + (size_t)y * w * 3, mid + ((size_t)(y + top) * rw + left) * 3, (size_t)w * 3);
    }
    free(mid);
    return err;
}

float wanc_pixel_to_float(uint8_t v, bool bf16)
{
    const float two_255 = (float)(2.0 / 255.0);
    float x = (float)v * two_255;
    if (bf16) x = wanc_round_bf16(x);
    x = x - 1.0f;
    if (bf16) x = wanc_round_bf16(x);
    return x;
}

void wanc_image_to_tensor(float *out, const uint8_t *in, int H, int W)
{
    float lut[256];
    for (int v = 0; v < 256; v++) lut[v] = wanc_pixel_to_float((uint8_t)v, false);
    size_t plane = (size_t)H * W;
    for (size_t i = 0; i < plane; i++)
        for (int c = 0; c < 3; c++) out[c * plane + i] = lut[in[3 * i + c]];
}

/* Keys cubic convolution with A = -0.75 (torch's upsample_bicubic2d). */
static void torch_cubic_weights(float w[4], double t)
{
    const double A = -0.75;
    double x;
    x = t + 1.0;
    w[0] = (float)(((A * x - 5.0 * A) * x + 8.0 * A) * x - 4.0 * A);
    x = t;
    w[1] = (float)(((A + 2.0) * x - (A + 3.0)) * x * x + 1.0);
    x = 1.0 - t;
    w[2] = (float)(((A + 2.0) * x - (A + 3.0)) * x * x + 1.0);
    x = 2.0 - t;
    w[3] = (float)(((A * x - 5.0 * A) * x + 8.0 * A) * x - 4.0 * A);
}

/* Tap indices (clamped) and weights for each output position of one axis. */
static void torch_cubic_axis(int *idx, float *wts, int in_size, int out_size)
{
    float scale = (float)in_size / (float)out_size;
    for (int o = 0; o < out_size; o++) {
        double src = (double)scale * (o + 0.5) - 0.5;
        double f = floor(src);
        int i0 = (int)f;
        torch_cubic_weights(wts + 4 * o, src - f);
        for (int j = 0; j < 4; j++) {
            int i = i0 - 1 + j;
            idx[4 * o + j] = i < 0 ? 0 : i >= in_size ? in_size - 1 : i;
        }
    }
}

wanc_err wanc_interpolate_bicubic(float *out, int out_h, int out_w, const float *in, int C, int in_h, int in_w)
{
    if (out_h <= 0 || out_w <= 0 || in_h <= 0 || in_w <= 0 || C <= 0)
        WANC_FAIL(WANC_EINVAL, "interpolate: bad sizes %dx%dx%d -> %dx%d", C, in_h, in_w, out_h, out_w);
    int *iy = malloc(sizeof(int) * 4 * (size_t)out_h), *ix = malloc(sizeof(int) * 4 * (size_t)out_w);
    float *wy = malloc(sizeof(float) * 4 * (size_t)out_h), *wx = malloc(sizeof(float) * 4 * (size_t)out_w);
    if (!iy || !ix || !wy || !wx) {
        free(iy), free(ix), free(wy), free(wx);
        WANC_FAIL(WANC_ENOMEM, "interpolate: out of memory");
    }
    torch_cubic_axis(iy, wy, in_h, out_h);
    torch_cubic_axis(ix, wx, in_w, out_w);
    for (int c = 0; c < C; c++) {
        const float *plane = in + (size_t)c * in_h * in_w;
        for (int y = 0; y < out_h; y++)
            for (int x = 0; x < out_w; x++) {
                /* rows outer, columns inner, as torch's generic N-d kernel sums */
                float acc = 0.0f;
                for (int i = 0; i < 4; i++) {
                    const float *row = plane + (size_t)iy[4 * y + i] * in_w;
                    const int *jx = ix + 4 * x;
                    const float *w = wx + 4 * x;
                    float r = row[jx[0]] * w[0];
                    r += row[jx[1]] * w[1];
                    r += row[jx[2]] * w[2];
                    r += row[jx[3]] * w[3];
                    acc = i == 0 ? r * wy[4 * y] : acc + r * wy[4 * y + i];
                }
                out[((size_t)c * out_h + y) * out_w + x] = acc;
            }
    }
    free(iy), free(ix), free(wy), free(wx);
    return NULL;
}
