/* The Fun control units (see control_units.h). */
#include "pipeline/control_units.h"

#include <stdlib.h>
#include <string.h>

#include "core/tensor.h"
#include "pipeline/camera.h"
#include "pipeline/image_cond.h"
#include "pipeline/pipeline_units.h"
#include "vision/resample.h"

/* preprocess_video with (min, max) = (-1, 1), or (0, 1) for a mask. */
static wanc_err media_tensor(float *out, const wanc_media *m, int T, int H, int W, bool bf16, bool unit_range,
                             const char *what)
{
    if (!m->rgb || m->height < 1 || m->width < 1)
        WANC_FAIL(WANC_EINVAL, "%s: no frames (%dx%d)", what, m->width, m->height);
    if (m->frames < T) WANC_FAIL(WANC_EINVAL, "%s has %d frames, the run needs %d (num_frames)", what, m->frames, T);
    size_t plane = (size_t)H * W, in_frame = (size_t)m->height * m->width * 3;
    uint8_t *frame = malloc(plane * 3);
    if (!frame) WANC_FAIL(WANC_ENOMEM, "%s: a %dx%d frame", what, W, H);
    float lut[256];
    for (int v = 0; v < 256; v++) {
        float u = (float)v * (float)(1.0 / 255.0); /* v · (max − min)/255 + min, min = 0 */
        lut[v] = unit_range ? (bf16 ? wanc_round_bf16(u) : u) : wanc_pixel_to_float((uint8_t)v, bf16);
    }
    wanc_err err = NULL;
    for (int t = 0; t < T && !err; t++) {
        err = wanc_crop_and_resize(frame, H, W, m->rgb + in_frame * (size_t)t, m->height, m->width);
        for (size_t i = 0; !err && i < plane; i++)
            for (int c = 0; c < 3; c++) out[((size_t)c * T + t) * plane + i] = lut[frame[i * 3 + c]];
    }
    free(frame);
    return err ? wanc_error_context(err, "%s", what) : NULL;
}

wanc_err wanc_unit_video_tensor(float *out, const wanc_media *m, int T, int H, int W, bool bf16, const char *what)
{
    return media_tensor(out, m, T, H, W, bf16, false, what);
}

/* VAE-encode video[3, T, H, W] into lat[z, F, h, w], observed, in the pipeline dtype. */
static wanc_err encode(wanc_vae *vae, bool bf16, const wanc_gen_params *prm, const wanc_vae_opts *vo, float *lat,
                       const float *video, int T, int H, int W, int *n_encodes)
{
    TRY(wanc_vae_encode(vae, lat, video, T, H, W, vo));
    int64_t n = (int64_t)wanc_vae_z_dim(vae) * wanc_i2v_latent_frames(T) * (H / 8) * (W / 8);
    wanc_unit_observe_encode(prm, n_encodes, lat, n);
    if (bf16) wanc_round_bf16_inplace(lat, (size_t)n);
    return NULL;
}

wanc_err wanc_unit_fun_control(wanc_vae *vae, bool bf16, const wanc_gen_params *prm, const wanc_vae_opts *vo,
                               const wanc_media *control, const float *y_i2v, int64_t y_i2v_c, int64_t y_c,
                               float *y, bool *zero_clip, int *n_encodes)
{
    const int T = prm->num_frames, H = prm->height, W = prm->width, z = wanc_vae_z_dim(vae);
    const int64_t lat = (int64_t)wanc_i2v_latent_frames(T) * (H / 8) * (W / 8), tail = y_c - z;
    if (tail < 0 || (y_i2v && tail > y_i2v_c))
        WANC_FAIL(WANC_EINVAL, "Fun control: y has %lld channels, the control latents %d and the image's %lld",
                  (long long)y_c, z, (long long)y_i2v_c);
    float *video = malloc(sizeof(float) * 3 * (size_t)T * H * W);
    if (!video) WANC_FAIL(WANC_ENOMEM, "control video (%d frames of %dx%d)", T, W, H);
    wanc_err err = wanc_unit_video_tensor(video, control, T, H, W, bf16, "--control-video");
    if (!err) err = encode(vae, bf16, prm, vo, y, video, T, H, W, n_encodes);
    free(video);
    if (err) return wanc_error_context(err, "Fun control");
    /* without an image's y DiffSynth substitutes zeros for y and the CLIP feature */
    if (y_i2v) memcpy(y + z * lat, y_i2v + (y_i2v_c - tail) * lat, sizeof(float) * (size_t)(tail * lat));
    else memset(y + z * lat, 0, sizeof(float) * (size_t)(tail * lat));
    *zero_clip = !y_i2v;
    return NULL;
}

/* The image resized to width x height as a 1-frame video, VAE-encoded untiled. */
static wanc_err encode_image(wanc_vae *vae, bool bf16, const wanc_gen_params *prm, const wanc_vae_opts *vo,
                             const uint8_t *rgb, int h0, int w0, float *lat, int *n_encodes, const char *what)
{
    const int H = prm->height, W = prm->width;
    float *img = malloc(sizeof(float) * 3 * (size_t)H * W);
    if (!img) WANC_FAIL(WANC_ENOMEM, "%s (%dx%d)", what, W, H);
    wanc_vae_opts untiled = *vo;
    untiled.tiled = false;
    wanc_err err = wanc_i2v_image_tensor(img, rgb, h0, w0, H, W, bf16);
    if (!err) err = encode(vae, bf16, prm, &untiled, lat, img, 1, H, W, n_encodes);
    free(img);
    return err ? wanc_error_context(err, "%s", what) : NULL;
}

wanc_err wanc_unit_fun_reference(wanc_vae *vae, bool bf16, const wanc_gen_params *prm, const wanc_vae_opts *vo,
                                 const wanc_media *image, float *latents, int *n_encodes)
{
    return encode_image(vae, bf16, prm, vo, image->rgb, image->height, image->width, latents, n_encodes,
                        "--reference-image");
}

wanc_err wanc_unit_camera(wanc_vae *vae, bool bf16, const wanc_gen_params *prm, const wanc_vae_opts *vo,
                          const wanc_cond *cam, int64_t y_c, float *plucker, float *camera, float *y, int *n_encodes)
{
    const int T = prm->num_frames, H = prm->height, W = prm->width, z = wanc_vae_z_dim(vae);
    const int64_t lat = (int64_t)wanc_i2v_latent_frames(T) * (H / 8) * (W / 8);
    if (cam->n_values && cam->n_values != WANC_CAMERA_ORIGIN_LEN)
        WANC_FAIL(WANC_EINVAL, "--camera-origin: %d values, expected %d", cam->n_values, WANC_CAMERA_ORIGIN_LEN);
    if (!prm->input_image) WANC_FAIL(WANC_EINVAL, "--camera-direction needs --input-image (the first frame)");
    double origin[WANC_CAMERA_ORIGIN_LEN];
    for (int i = 0; i < cam->n_values; i++) origin[i] = cam->values[i];
    double speed = cam->value != 0 ? cam->value : WANC_CAMERA_SPEED_DEFAULT;
    TRY(wanc_camera_plucker(plucker, cam->text, T, H, W, speed, cam->n_values ? origin : NULL));
    wanc_camera_fold(camera, plucker, T, H, W);
    if (bf16) wanc_round_bf16_inplace(camera, (size_t)24 * lat * 64); /* control_camera_latents_input.to(dtype) */
    if (y_c == z) { /* zeros, latent frame 0 = the image's latent */
        memset(y, 0, sizeof(float) * (size_t)(z * lat));
        float *first = malloc(sizeof(float) * (size_t)z * (H / 8) * (W / 8));
        if (!first) WANC_FAIL(WANC_ENOMEM, "camera y");
        wanc_err err = encode_image(vae, bf16, prm, vo, prm->input_image, prm->input_image_height,
                                    prm->input_image_width, first, n_encodes, "--input-image (camera y)");
        const int64_t plane = (int64_t)(H / 8) * (W / 8), F = wanc_i2v_latent_frames(T);
        for (int c = 0; !err && c < z; c++) memcpy(y + c * F * plane, first + c * plane, sizeof(float) * (size_t)plane);
        free(first);
        return err;
    }
    if (y_c == 4 + z) { /* the I2V y of the start image alone (no end image) */
        wanc_gen_params start = *prm;
        start.end_image = NULL;
        return wanc_unit_image_vae(vae, bf16, &start, vo, y, n_encodes);
    }
    WANC_FAIL(WANC_EINVAL, "Fun camera: the DiT takes %lld y channels, expected %d or %d", (long long)y_c, z, 4 + z);
}

wanc_err wanc_unit_vace(wanc_vae *vae, bool bf16, const wanc_gen_params *prm, const wanc_vae_opts *vo,
                        const wanc_media *video, const wanc_media *mask, const wanc_media *const *refs, int n_refs,
                        float *ctx, int *n_encodes)
{
    const int T = prm->num_frames, H = prm->height, W = prm->width, z = wanc_vae_z_dim(vae);
    const int F = wanc_i2v_latent_frames(T), h = H / 8, w = W / 8, Fc = n_refs + F;
    const size_t pix = (size_t)T * H * W, plane = (size_t)h * w;
    if (z * 2 + 64 != WANC_VACE_CHANNELS)
        WANC_FAIL(WANC_EINVAL, "VACE: a VAE of %d latent channels gives %d context channels, VACE takes %d", z,
                  2 * z + 64, WANC_VACE_CHANNELS);
    float *v = calloc(3 * pix, sizeof(float)), *k = malloc(sizeof(float) * 3 * pix), *x = malloc(sizeof(float) * 3 * pix);
    float *lat = malloc(sizeof(float) * (size_t)z * F * plane), *img = malloc(sizeof(float) * 3 * (size_t)H * W);
    wanc_err err = v && k && x && lat && img ? NULL : wanc_error(WANC_ENOMEM, "VACE buffers (%d frames of %dx%d)", T, W, H);
    if (!err && video) err = media_tensor(v, video, T, H, W, bf16, false, "--vace-video");
    if (!err && mask) err = media_tensor(k, mask, T, H, W, bf16, true, "--vace-mask");
    else if (!err) for (size_t i = 0; i < 3 * pix; i++) k[i] = 1.0f;
    memset(ctx, 0, sizeof(float) * WANC_VACE_CHANNELS * Fc * plane);
    /* inactive = V·(1 − K) (+ 0·K), reactive = V·K (+ 0·(1 − K)), each op in the pipeline dtype */
    for (int part = 0; part < 2 && !err; part++) {
        for (size_t i = 0; i < 3 * pix; i++) {
            float m = part ? k[i] : 1.0f - k[i];
            if (bf16) m = wanc_round_bf16(m);
            float y = v[i] * m;
            x[i] = bf16 ? wanc_round_bf16(y) : y;
        }
        err = encode(vae, bf16, prm, vo, lat, x, T, H, W, n_encodes);
        for (int c = 0; !err && c < z; c++)
            memcpy(ctx + ((size_t)(part * z + c) * Fc + n_refs) * plane, lat + (size_t)c * F * plane,
                   sizeof(float) * F * plane);
    }
    /* mask latents: channel 0 of K, 8x8 blocks unfolded (channel 8·row + col), time nearest-exact */
    for (int f = 0; !err && f < F; f++) {
        int src = (int)((f + 0.5) * ((double)T / F));
        if (src > T - 1) src = T - 1;
        const float *k0 = k + (size_t)src * H * W;
        for (int p = 0; p < 8; p++)
            for (int q = 0; q < 8; q++) {
                float *o = ctx + ((size_t)(2 * z + 8 * p + q) * Fc + n_refs + f) * plane;
                for (int r = 0; r < h; r++)
                    for (int c = 0; c < w; c++) o[r * w + c] = k0[(size_t)(8 * r + p) * W + 8 * c + q];
            }
    }
    /* reference images: a prepended frame each (their mask and reactive channels zero) */
    for (int j = 0; !err && j < n_refs; j++) {
        wanc_vae_opts ro = *vo;
        /* DiffSynth's encode loop multiplies the tile size by 8 again for each further video of one call */
        for (int e = 0; e < j && ro.tile_size[0] < (1 << 20); e++)
            for (int a = 0; a < 2; a++) ro.tile_size[a] *= 8, ro.tile_stride[a] *= 8;
        err = wanc_i2v_image_tensor(img, refs[j]->rgb, refs[j]->height, refs[j]->width, H, W, bf16);
        if (!err) err = encode(vae, bf16, prm, &ro, lat, img, 1, H, W, n_encodes);
        for (int c = 0; !err && c < z; c++)
            memcpy(ctx + ((size_t)c * Fc + j) * plane, lat + (size_t)c * plane, sizeof(float) * plane);
    }
    free(v), free(k), free(x), free(lat), free(img);
    return err ? wanc_error_context(err, "VACE") : NULL;
}
