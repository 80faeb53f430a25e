/* Spatial tiling for the VAEs: where the tiles go and how they are blended.
 *
 * DiffSynth splits H x W into overlapping tiles, runs each independently
 * (fresh caches, full time axis) and blends them: out = sum(tile * mask) /
 * sum(mask). The placement and the masks here follow its arithmetic exactly
 * (float32 ramps, near ramp written before the mirrored far one), so tiled
 * outputs match bit for bit in the blend.
 */
#include "vae/wan_vae.h"

void wanc_vae_opts_default(wanc_vae_opts *o)
{
    *o = (wanc_vae_opts){
        .tiled = true,
        .tile_size = {30, 52},
        .tile_stride = {15, 26},
    };
}

wanc_err wanc_vae_tile_plan(wanc_vae_tile *tiles, int64_t cap, int64_t *n, int64_t H, int64_t W,
                            const int size[2], const int stride[2])
{
    if (size[0] <= 0 || size[1] <= 0 || stride[0] <= 0 || stride[1] <= 0)
        WANC_FAIL(WANC_EINVAL, "VAE tiling: tile_size (%d, %d) and tile_stride (%d, %d) must be positive", size[0],
                  size[1], stride[0], stride[1]);
    if (H <= 0 || W <= 0) WANC_FAIL(WANC_EINVAL, "VAE tiling: empty %lldx%lld grid", (long long)H, (long long)W);
    int64_t count = 0;
    for (int64_t h = 0; h < H; h += stride[0]) {
        /* The previous row of tiles already reached the bottom: nothing new here. */
        if (h - stride[0] >= 0 && h - stride[0] + size[0] >= H) continue;
        for (int64_t w = 0; w < W; w += stride[1]) {
            if (w - stride[1] >= 0 && w - stride[1] + size[1] >= W) continue;
            if (tiles && count < cap) {
                int64_t h1 = h + size[0], w1 = w + size[1];
                tiles[count] = (wanc_vae_tile){h, h1 < H ? h1 : H, w, w1 < W ? w1 : W};
            }
            count++;
        }
    }
    *n = count;
    return NULL;
}

/* ramp[0..len): 1, with (i+1)/bw over the first bw entries unless `near_border`,
 * then the mirror (bw-j)/bw over the last bw unless `far_border` (written second,
 * so it wins where the two overlap, as in the reference). */
static void ramp_1d(float *r, int64_t len, bool near_border, bool far_border, int64_t bw)
{
    for (int64_t i = 0; i < len; i++) r[i] = 1.0f;
    if (bw <= 0) return;
    if (!near_border)
        for (int64_t i = 0; i < bw && i < len; i++) r[i] = (float)(i + 1) / (float)bw;
    if (!far_border)
        for (int64_t j = 0; j < bw; j++) {
            int64_t i = len - bw + j;
            if (i >= 0) r[i] = (float)(bw - j) / (float)bw;
        }
}

void wanc_vae_tile_mask(float *mask, int64_t th, int64_t tw, const bool border[4], int64_t bw_h, int64_t bw_w)
{
    /* Tiles are at most an image wide, so the two ramps fit on the stack. */
    float rw[tw > 0 ? tw : 1];
    ramp_1d(rw, tw, border[2], border[3], bw_w);
    float rh[th > 0 ? th : 1];
    ramp_1d(rh, th, border[0], border[1], bw_h);
    for (int64_t i = 0; i < th; i++)
        for (int64_t j = 0; j < tw; j++) mask[i * tw + j] = rh[i] < rw[j] ? rh[i] : rw[j];
}
