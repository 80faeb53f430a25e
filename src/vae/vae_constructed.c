/* The demo's Wan2.1 VAE, built by a rule instead of trained.
 *
 * wanc has no VAE backward, so the demo VAE is written down: the released
 * Wan2.1 architecture and key names (src/vae/vae_random.c lists them) at width
 * `dim`, with values chosen so that the network computes a known linear map.
 *
 *  - Every residual branch and both attention projections are zero, so each
 *    residual block is its shortcut (identity, or the 1x1x1 shortcut conv set
 *    to identity on the channels used) and each attention block the identity.
 *  - Four channels carry the signal: 0..2 hold colour + OFFSET (colour in
 *    [-1, 1]), 3 holds the constant KEEP. The first conv puts them there.
 *  - Encoder downsamplers average 2x2 pixels (taps at (0,0)..(1,1) of the
 *    stride-2 3x3 conv, never the zero pad) and, in time, the two new frames
 *    of each (3,1,1) stride-2 window: a latent frame is the mean of an 8x8
 *    block over its 4 frames (frame 0 alone for latent 0).
 *  - Decoder upsamplers repeat frames (time_conv: the current frame in both
 *    halves) and interpolate in space: nearest x2 then a [1 2 1]/4 x [1 2 1]/4
 *    kernel is bilinear x2, three times.
 *  - The two heads are RMS_norm, SiLU, conv: the norm divides by the pixel's
 *    channel length, which the constant channel dominates (KEEP >> colour), so
 *    it is a division by that channel; its gain puts the colour channels at
 *    colour + OFFSET where SiLU(x) ~ x (OFFSET 8: within 0.007 for colour -1), and the conv
 *    removes the offset. Because every conv before the norm is linear in
 *    (colour + OFFSET, KEEP), the zero padding at frame borders scales both
 *    alike and the division undoes it: the decoder's smoothing is a normalised
 *    convolution, with no dark rim.
 *  - The encoder head writes latent channel c < 3 as mean_c + 3 std_c colour_c
 *    (Wan2.1's latent statistics), so the pipeline's normalised latents are 3x
 *    the block-mean colours, in [-3, 3] (the decoder divides by 3: noise a
 *    sampler leaves in the latents shows a third as strong); channels 3..15
 *    are 0 after normalisation.
 *
 * decode(encode(video)) is therefore the video at 1/8 resolution (4-frame
 * means), interpolated back: see the demo model's README for measured errors.
 */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "vae/wan_vae.h"
#include "wanc.h"

#define OFFSET 8.0f
#define LATENT_SCALE 3.0f /* normalised latent = 3 x colour: leftover sampling noise is 1/3 as visible */
#define KEEP 1000.0f
#define SIGNAL 4 /* channels carrying colour + offset (3) and the constant (1) */

static bool ends_with(const char *s, const char *suffix)
{
    size_t n = strlen(s), m = strlen(suffix);
    return n >= m && !strcmp(s + n - m, suffix);
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
        for (int c = 0; c < 3; c++) v[c] = OFFSET;
        v[3] = KEEP;
        if (dec)
            for (int c = 0; c < 3; c++) v[c] -= wanc_vae21_latent_mean[c] / (wanc_vae21_latent_std[c] * LATENT_SCALE);
    } else if (!strcmp(name, "decoder.conv1.weight")) {
        for (int c = 0; c < 3; c++) *tap(t, c, c, centre3) = 1.0f / (wanc_vae21_latent_std[c] * LATENT_SCALE);
    } else if (ends_with(name, ".shortcut.weight") || !strcmp(name, "conv1.weight") ||
               !strcmp(name, "conv2.weight")) {
        for (int64_t c = 0; c < n0 && c < t->shape[1]; c++) *tap(t, c, c, 0) = 1.0f;
    } else if (enc && ends_with(name, ".resample.1.weight")) {
        for (int c = 0; c < SIGNAL; c++)
            for (int a = 0; a < 2; a++)
                for (int b = 0; b < 2; b++) *tap(t, c, c, a * 3 + b) = 0.25f;
    } else if (enc && ends_with(name, ".time_conv.weight")) {
        for (int c = 0; c < SIGNAL; c++) *tap(t, c, c, 1) = *tap(t, c, c, 2) = 0.5f;
    } else if (dec && ends_with(name, ".resample.1.weight")) {
        static const float k[3] = {0.25f, 0.5f, 0.25f};
        for (int c = 0; c < SIGNAL; c++)
            for (int a = 0; a < 3; a++)
                for (int b = 0; b < 3; b++) *tap(t, c, c, a * 3 + b) = k[a] * k[b];
    } else if (dec && ends_with(name, ".time_conv.weight")) {
        const int64_t C = t->shape[1];
        for (int c = 0; c < SIGNAL; c++) *tap(t, c, c, 2) = *tap(t, C + c, c, 2) = 1.0f;
    } else if (ends_with(name, ".head.0.gamma")) {
        /* RMS_norm: x / |x| * sqrt(C) * gamma; |x| ~ KEEP, so gamma = KEEP / sqrt(C) keeps the scale */
        for (int c = 0; c < 3; c++) v[c] = KEEP / sqrtf((float)n0);
    } else if (!strcmp(name, "encoder.head.2.weight")) {
        for (int c = 0; c < 3; c++) *tap(t, c, c, centre3) = wanc_vae21_latent_std[c] * LATENT_SCALE;
    } else if (!strcmp(name, "encoder.head.2.bias")) {
        for (int c = 0; c < 16; c++) v[c] = wanc_vae21_latent_mean[c];
        for (int c = 0; c < 3; c++) v[c] -= wanc_vae21_latent_std[c] * LATENT_SCALE * OFFSET;
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
