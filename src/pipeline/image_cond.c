/* I2V / FLF2V conditioning assembly (see image_cond.h). */
#include "pipeline/image_cond.h"

#include <stdlib.h>
#include <string.h>

#include "vision/resample.h"

wanc_err wanc_i2v_image_tensor(float *out, const uint8_t *rgb, int h0, int w0, int H, int W, bool bf16)
{
    if (H <= 0 || W <= 0) WANC_FAIL(WANC_EINVAL, "image tensor: size %dx%d", H, W);
    uint8_t *rs = malloc((size_t)H * W * 3);
    if (!rs) WANC_FAIL(WANC_ENOMEM, "image tensor: out of memory for a %dx%d image", H, W);
    wanc_err err = wanc_resize_pil_bicubic(rs, H, W, rgb, h0, w0, (int64_t)w0 * 3);
    if (!err) {
        float lut[256];
        for (int v = 0; v < 256; v++) lut[v] = wanc_pixel_to_float((uint8_t)v, bf16);
        size_t plane = (size_t)H * W;
        for (size_t i = 0; i < plane; i++)
            for (int c = 0; c < 3; c++) out[c * plane + i] = lut[rs[3 * i + c]];
    }
    free(rs);
    return err;
}

wanc_err wanc_i2v_clip_feature(float *feature, const wanc_clip *m, const wanc_backend *be, const uint8_t *rgb,
                               int h0, int w0, int H, int W, bool bf16)
{
    const wanc_clip_config *c = wanc_clip_get_config(m);
    size_t S = (size_t)c->image_size;
    float *img = malloc((size_t)3 * H * W * sizeof(float)), *x = malloc(3 * S * S * sizeof(float));
    wanc_err err = img && x ? NULL : wanc_error(WANC_ENOMEM, "clip feature: out of memory");
    if (!err) err = wanc_i2v_image_tensor(img, rgb, h0, w0, H, W, bf16);
    if (!err) err = wanc_clip_prepare_input(x, NULL, img, H, W, c->image_size, bf16);
    if (!err) err = wanc_clip_encode(m, be, feature, x, NULL, NULL);
    free(img);
    free(x);
    return err ? wanc_error_context(err, "clip feature") : NULL;
}

int wanc_i2v_latent_frames(int num_frames) { return (num_frames + 3) / 4; }

wanc_err wanc_i2v_mask(float *out, int num_frames, int height, int width, bool with_end)
{
    if (num_frames < 1 || (num_frames - 1) % 4 || height < 8 || width < 8 || (with_end && num_frames < 2))
        WANC_FAIL(WANC_EINVAL, "i2v mask: num_frames %d (must be 4k+1%s), size %dx%d (at least 8x8)", num_frames,
                  with_end ? ", >= 5 with an end image" : "", height, width);
    int T = wanc_i2v_latent_frames(num_frames);
    size_t plane = (size_t)(height / 8) * (width / 8);
    for (int c = 0; c < 4; c++)
        for (int t = 0; t < T; t++) {
            /* position in the extended sequence [frame 0 x4, frames 1..F-1] */
            int e = 4 * t + c, frame = e < 4 ? 0 : e - 3;
            float v = frame == 0 || (with_end && frame == num_frames - 1) ? 1.0f : 0.0f;
            float *p = out + ((size_t)c * T + t) * plane;
            for (size_t i = 0; i < plane; i++) p[i] = v;
        }
    return NULL;
}

wanc_err wanc_i2v_vae_input(float *out, const float *image, const float *end, int num_frames, int H, int W)
{
    if (num_frames < (end ? 2 : 1) || H <= 0 || W <= 0)
        WANC_FAIL(WANC_EINVAL, "i2v vae input: %d frames of %dx%d%s", num_frames, H, W, end ? " with an end image" : "");
    size_t plane = (size_t)H * W;
    for (int c = 0; c < 3; c++) {
        float *ch = out + (size_t)c * num_frames * plane;
        memcpy(ch, image + c * plane, plane * sizeof(float));
        memset(ch + plane, 0, (size_t)(num_frames - 1) * plane * sizeof(float));
        if (end) memcpy(ch + (size_t)(num_frames - 1) * plane, end + c * plane, plane * sizeof(float));
    }
    return NULL;
}

void wanc_i2v_concat_y(float *y, const float *mask, const float *latents, int z, int T, int h, int w)
{
    size_t n = (size_t)T * h * w;
    memcpy(y, mask, 4 * n * sizeof(float));
    memcpy(y + 4 * n, latents, (size_t)z * n * sizeof(float));
}

wanc_err wanc_i2v_encode_y(float *y, wanc_vae21 *vae, const float *image, const float *end, int num_frames, int H,
                           int W, const wanc_vae_opts *o)
{
    if (H % 8 || W % 8) WANC_FAIL(WANC_EINVAL, "i2v y: size %dx%d is not a multiple of 8", H, W);
    int T = wanc_i2v_latent_frames(num_frames);
    size_t n = (size_t)T * (H / 8) * (W / 8);
    TRY(wanc_i2v_mask(y, num_frames, H, W, end != NULL));
    float *video = malloc((size_t)3 * num_frames * H * W * sizeof(float));
    if (!video) WANC_FAIL(WANC_ENOMEM, "i2v y: out of memory for a %d-frame %dx%d video", num_frames, H, W);
    wanc_err err = wanc_i2v_vae_input(video, image, end, num_frames, H, W);
    /* the latents go straight after the 4 mask channels */
    if (!err) err = wanc_vae21_encode(vae, y + 4 * n, video, num_frames, H, W, o);
    free(video);
    return err ? wanc_error_context(err, "i2v y: encoding the conditioning video") : NULL;
}
