/* The Fun control units (see control_units.h). */
#include "pipeline/control_units.h"

#include <stdlib.h>
#include <string.h>

#include "core/tensor.h"
#include "pipeline/camera.h"
#include "pipeline/image_cond.h"
#include "pipeline/pipeline_units.h"
#include "vision/resample.h"

wanc_err wanc_unit_video_tensor(float *out, const wanc_media *m, int T, int H, int W, bool bf16, const char *what)
{
    if (!m->rgb || m->height < 1 || m->width < 1)
        WANC_FAIL(WANC_EINVAL, "%s: no frames (%dx%d)", what, m->width, m->height);
    if (m->frames < T) WANC_FAIL(WANC_EINVAL, "%s has %d frames, the run needs %d (num_frames)", what, m->frames, T);
    size_t plane = (size_t)H * W, in_frame = (size_t)m->height * m->width * 3;
    uint8_t *frame = malloc(plane * 3);
    if (!frame) WANC_FAIL(WANC_ENOMEM, "%s: a %dx%d frame", what, W, H);
    float lut[256];
    for (int v = 0; v < 256; v++) lut[v] = wanc_pixel_to_float((uint8_t)v, bf16);
    wanc_err err = NULL;
    for (int t = 0; t < T && !err; t++) {
        err = wanc_crop_and_resize(frame, H, W, m->rgb + in_frame * (size_t)t, m->height, m->width);
        for (size_t i = 0; !err && i < plane; i++)
            for (int c = 0; c < 3; c++) out[((size_t)c * T + t) * plane + i] = lut[frame[i * 3 + c]];
    }
    free(frame);
    return err ? wanc_error_context(err, "%s", what) : NULL;
}

/* VAE-encode video[3, T, H, W] into lat[z, F, h, w], observed, in the pipeline dtype. */
static wanc_err encode(wanc_vae21 *vae, bool bf16, const wanc_gen_params *prm, const wanc_vae_opts *vo, float *lat,
                       const float *video, int T, int H, int W, int *n_encodes)
{
    TRY(wanc_vae21_encode(vae, lat, video, T, H, W, vo));
    int64_t n = (int64_t)wanc_vae21_config_of(vae)->z_dim * wanc_i2v_latent_frames(T) * (H / 8) * (W / 8);
    wanc_unit_observe_encode(prm, n_encodes, lat, n);
    if (bf16) wanc_round_bf16_inplace(lat, (size_t)n);
    return NULL;
}

wanc_err wanc_unit_fun_control(wanc_vae21 *vae, bool bf16, const wanc_gen_params *prm, const wanc_vae_opts *vo,
                               const wanc_media *control, const float *y_i2v, int64_t y_i2v_c, int64_t y_c,
                               float *y, bool *zero_clip, int *n_encodes)
{
    const int T = prm->num_frames, H = prm->height, W = prm->width, z = wanc_vae21_config_of(vae)->z_dim;
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
static wanc_err encode_image(wanc_vae21 *vae, bool bf16, const wanc_gen_params *prm, const wanc_vae_opts *vo,
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

wanc_err wanc_unit_fun_reference(wanc_vae21 *vae, bool bf16, const wanc_gen_params *prm, const wanc_vae_opts *vo,
                                 const wanc_media *image, float *latents, int *n_encodes)
{
    return encode_image(vae, bf16, prm, vo, image->rgb, image->height, image->width, latents, n_encodes,
                        "--reference-image");
}

wanc_err wanc_unit_camera(wanc_vae21 *vae, bool bf16, const wanc_gen_params *prm, const wanc_vae_opts *vo,
                          const wanc_cond *cam, int64_t y_c, float *plucker, float *camera, float *y, int *n_encodes)
{
    const int T = prm->num_frames, H = prm->height, W = prm->width, z = wanc_vae21_config_of(vae)->z_dim;
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
