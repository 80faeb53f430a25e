/* The demo's Wan2.1 VAE, built by a rule instead of trained.
 *
 * wanc has no VAE backward, so the demo VAE is written down: the released
 * Wan2.1 architecture and key names (src/vae/vae_random.c lists them) at width
 * `dim`, with values chosen so that the network computes a known linear map.
 *
 *  - Every residual branch and both attention projections are zero, so each
 *    residual block is its shortcut (identity, or the 1x1x1 shortcut conv set
 *    to identity on the channels used) and each attention block the identity.
 *  - Seven channels carry the signal: 0..2 hold colour + OFFSET (colour in
 *    [-1, 1]), 3 holds the constant KEEP, 4..6 the temporal slope of colours
 *    0..2 + OFFSET. The first conv puts them there (slope 0).
 *  - Encoder downsamplers average 2x2 pixels (taps at (0,0)..(1,1) of the
 *    stride-2 3x3 conv, never the zero pad) and, in time, the two new frames
 *    of each (3,1,1) stride-2 window: a latent frame is the mean of an 8x8
 *    block over its 4 frames (frame 0 alone for latent 0). The second
 *    temporal downsampler also writes the slope: the mean of the window's
 *    later pair of frames minus the earlier pair's, (f2 + f3 - f0 - f1) / 2.
 *    A latent frame therefore keeps the motion inside its 4 frames (a clip's
 *    object moves about 0.7 of a DiT token in them), where the mean alone is
 *    the same for an object moving left or right.
 *  - Decoder upsamplers interpolate in space (nearest x2 then a [1 2 1]/4 x
 *    [1 2 1]/4 kernel is bilinear x2, three times) and, in time, turn a frame
 *    into two (time_conv's two halves): mean -/+ slope / 2, then -/+ slope / 4,
 *    so frame k of a latent frame is mean + (k - 1.5) slope / 2, the linear
 *    motion with those means and slope. Latent 0 is one frame, slope 0.
 *  - The two heads are RMS_norm, SiLU, conv: the norm divides by the pixel's
 *    channel length, which the constant channel dominates (KEEP >> colour), so
 *    it is a division by that channel; its gain puts the colour and slope
 *    channels at value + OFFSET where SiLU(x) ~ x (OFFSET 8: within 0.007 for
 *    colour -1), and the conv removes the offset. Because every conv before
 *    the norm is linear in (colour + OFFSET, KEEP, slope + OFFSET), the zero
 *    padding at frame borders scales them alike and the division undoes it:
 *    the decoder's smoothing is a normalised convolution, with no dark rim.
 *  - The encoder head writes latent channel c < 3 as mean_c + 3 std_c colour_c
 *    and 3 + c as mean + 9 std slope_c (Wan2.1's latent statistics), so the
 *    pipeline's normalised latents are 3x the block-mean colours, in [-3, 3],
 *    and 9x their slopes (the decoder divides by 3 and 9: noise a sampler
 *    leaves in the latents shows a third / a ninth as strong); the slope's
 *    larger scale makes it as visible to the DiT under noise as the colours
 *    it belongs to. Channels 6..15 are 0 after normalisation.
 *
 * decode(encode(video)) is therefore the video at 1/8 resolution, linear in
 * time within each latent frame, interpolated back: see the demo model's
 * README for measured errors. Needs dim >= 7 (the demo uses 8).
 */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "vae/wan_vae.h"
#include "wanc.h"

#define OFFSET 8.0f
#define LATENT_SCALE 3.0f /* normalised latent = 3 x colour: leftover sampling noise is 1/3 as visible */
#define SLOPE_SCALE 9.0f  /* normalised latent = 9 x slope (see the header) */
#define KEEP 1000.0f
#define KEEP_CH 3 /* the constant channel */
#define SLOPE 4   /* channels 4..6: the temporal slope of colour 0..2, + OFFSET */
#define SIGNAL 7  /* channels carrying colour + offset (3), the constant (1) and the slopes + offset (3) */

static bool ends_with(const char *s, const char *suffix)
{
    size_t n = strlen(s), m = strlen(suffix);
    return n >= m && !strcmp(s + n - m, suffix);
}

/* The temporal resamplers of Wan2.1's layout (2 residual blocks a stage):
 * the encoder's downsamples.5 takes frames in pairs and downsamples.8 pairs of
 * pairs; the decoder's upsamples.3 splits a latent frame into two pairs and
 * upsamples.7 a pair into frames. "Coarse" is the step between a latent frame
 * and its two pairs. */
static bool coarse_time(const char *name)
{
    return strstr(name, "encoder.downsamples.8.") || strstr(name, "decoder.upsamples.3.");
}

/* w[o, i, taps...] of a conv weight with `taps` values per (o, i) pair */
static float *tap(wanc_tensor *t, int64_t o, int64_t i, int64_t k)
{
    int64_t per = wanc_tensor_numel(t) / (t->shape[0] * t->shape[1]);
    return (float *)t->data + (o * t->shape[1] + i) * per + k;
}

static wanc_err fill(void *user, const char *name, wanc_tensor *t)
{
    (void)user;
    float *v = t->data;
    const int64_t n0 = t->shape[0];
    const bool enc = !strncmp(name, "encoder.", 8), dec = !strncmp(name, "decoder.", 8);
    /* the current frame / centre pixel of a causal 3x3x3 conv */
    const int64_t centre3 = 2 * 9 + 1 * 3 + 1;
    if (strstr(name, ".residual.") || strstr(name, ".middle.1.")) return NULL; /* zero: identity blocks */
    if (!strcmp(name, "encoder.conv1.weight")) {
        for (int c = 0; c < 3; c++) *tap(t, c, c, centre3) = 1.0f;
    } else if (!strcmp(name, "encoder.conv1.bias") || !strcmp(name, "decoder.conv1.bias")) {
        for (int c = 0; c < 3; c++) v[c] = v[SLOPE + c] = OFFSET;
        v[KEEP_CH] = KEEP;
        if (dec)
            for (int c = 0; c < 3; c++) {
                v[c] -= wanc_vae21_latent_mean[c] / (wanc_vae21_latent_std[c] * LATENT_SCALE);
                v[SLOPE + c] -= wanc_vae21_latent_mean[3 + c] / (wanc_vae21_latent_std[3 + c] * SLOPE_SCALE);
            }
    } else if (!strcmp(name, "decoder.conv1.weight")) {
        for (int c = 0; c < 3; c++) {
            *tap(t, c, c, centre3) = 1.0f / (wanc_vae21_latent_std[c] * LATENT_SCALE);
            *tap(t, SLOPE + c, 3 + c, centre3) = 1.0f / (wanc_vae21_latent_std[3 + c] * SLOPE_SCALE);
        }
    } else if (ends_with(name, ".shortcut.weight") || !strcmp(name, "conv1.weight") ||
               !strcmp(name, "conv2.weight")) {
        for (int64_t c = 0; c < n0 && c < t->shape[1]; c++) *tap(t, c, c, 0) = 1.0f;
    } else if (enc && ends_with(name, ".resample.1.weight")) {
        for (int c = 0; c < SIGNAL; c++)
            for (int a = 0; a < 2; a++)
                for (int b = 0; b < 2; b++) *tap(t, c, c, a * 3 + b) = 0.25f;
    } else if (enc && ends_with(name, ".time_conv.weight")) {
        /* taps 1, 2: the window's two new frames (tap 0 is the previous window's last) */
        for (int c = 0; c < SIGNAL; c++) *tap(t, c, c, 1) = *tap(t, c, c, 2) = 0.5f;
        if (coarse_time(name))
            for (int c = 0; c < 3; c++) {
                *tap(t, SLOPE + c, c, 1) = -1.0f; /* the later pair's mean minus the earlier's */
                *tap(t, SLOPE + c, c, 2) = 1.0f;
            }
    } else if (dec && ends_with(name, ".resample.1.weight")) {
        static const float k[3] = {0.25f, 0.5f, 0.25f};
        for (int c = 0; c < SIGNAL; c++)
            for (int a = 0; a < 3; a++)
                for (int b = 0; b < 3; b++) *tap(t, c, c, a * 3 + b) = k[a] * k[b];
    } else if (dec && ends_with(name, ".time_conv.weight")) {
        /* output channels [0, C) are the earlier frame, [C, 2C) the later: the
         * current frame's mean -/+ k x its slope (without the slope's offset,
         * taken from the constant channel), the slope itself in both */
        const int64_t C = t->shape[1];
        const float k = coarse_time(name) ? 0.5f : 0.25f;
        for (int c = 0; c < SIGNAL; c++) *tap(t, c, c, 2) = *tap(t, C + c, c, 2) = 1.0f;
        for (int c = 0; c < 3; c++) {
            *tap(t, c, SLOPE + c, 2) = -k, *tap(t, C + c, SLOPE + c, 2) = k;
            *tap(t, c, KEEP_CH, 2) = k * OFFSET / KEEP, *tap(t, C + c, KEEP_CH, 2) = -k * OFFSET / KEEP;
        }
    } else if (ends_with(name, ".head.0.gamma")) {
        /* RMS_norm: x / |x| * sqrt(C) * gamma; |x| ~ KEEP, so gamma = KEEP / sqrt(C) keeps the scale */
        for (int c = 0; c < 3; c++) v[c] = KEEP / sqrtf((float)n0);
        if (enc)
            for (int c = 0; c < 3; c++) v[SLOPE + c] = KEEP / sqrtf((float)n0);
    } else if (!strcmp(name, "encoder.head.2.weight")) {
        for (int c = 0; c < 3; c++) {
            *tap(t, c, c, centre3) = wanc_vae21_latent_std[c] * LATENT_SCALE;
            *tap(t, 3 + c, SLOPE + c, centre3) = wanc_vae21_latent_std[3 + c] * SLOPE_SCALE;
        }
    } else if (!strcmp(name, "encoder.head.2.bias")) {
        for (int c = 0; c < 16; c++) v[c] = wanc_vae21_latent_mean[c];
        for (int c = 0; c < 3; c++) {
            v[c] -= wanc_vae21_latent_std[c] * LATENT_SCALE * OFFSET;
            v[3 + c] -= wanc_vae21_latent_std[3 + c] * SLOPE_SCALE * OFFSET;
        }
    } else if (!strcmp(name, "decoder.head.2.weight")) {
        for (int c = 0; c < 3; c++) *tap(t, c, c, centre3) = 1.0f;
    } else if (!strcmp(name, "decoder.head.2.bias")) {
        for (int c = 0; c < 3; c++) v[c] = -OFFSET;
    }
    return NULL;
}

wanc_err wanc_vae21_write_constructed(const char *path, int dim)
{
    if (dim < SIGNAL) WANC_FAIL(WANC_EINVAL, "constructed Wan2.1 VAE: dim %d < %d signal channels", dim, SIGNAL);
    return wanc_vae21_write_filled(path, dim, fill, NULL);
}
