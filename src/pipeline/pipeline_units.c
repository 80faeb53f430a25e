/* The VAE- and CLIP-dependent pipeline units (see pipeline_units.h). */
#include "pipeline/pipeline_units.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/tensor.h"
#include "pipeline/image_cond.h"
#include "vision/resample.h"

void wanc_unit_observe_encode(const wanc_gen_params *prm, int *n_encodes, const float *x, int64_t n)
{
    if (!n_encodes) return;
    char name[32];
    snprintf(name, sizeof name, "vae_encode.%d", (*n_encodes)++);
    if (prm->observe) prm->observe(prm->observe_user, name, x, n);
}

wanc_err wanc_unit_input_video(wanc_vae *vae, bool bf16, const wanc_gen_params *prm, const wanc_flow_sched *s,
                               const wanc_vae_opts *vo, float *latents, const float *noise, int64_t n, int *n_encodes)
{
    int T = prm->num_frames, H = prm->height, W = prm->width;
    if (!prm->input_video || prm->input_video_height <= 0 || prm->input_video_width <= 0)
        WANC_FAIL(WANC_EINVAL, "input video: no frames (%dx%d)", prm->input_video_height, prm->input_video_width);
    if (prm->input_video_frames < T)
        WANC_FAIL(WANC_EINVAL, "input video has %d frames, the run needs %d (num_frames)", prm->input_video_frames, T);
    size_t plane = (size_t)H * W;
    uint8_t *frame = malloc(plane * 3);
    float *video = malloc(sizeof(float) * 3 * (size_t)T * plane);
    float *x0 = malloc(sizeof(float) * (size_t)n);
    wanc_err err = NULL;
    if (!frame || !video || !x0) {
        err = wanc_error(WANC_ENOMEM, "input video buffers (%d frames of %dx%d)", T, H, W);
        goto done;
    }
    /* VideoData(height, width): centre crop to the aspect, PIL bicubic resize;
     * then preprocess_video: v·(2/255) − 1, [T, H, W, 3] → [3, T, H, W]. */
    size_t in_frame = (size_t)prm->input_video_height * prm->input_video_width * 3;
    for (int t = 0; t < T; t++) {
        TRY_GOTO(err, done, wanc_crop_and_resize(frame, H, W, prm->input_video + in_frame * (size_t)t,
                                                 prm->input_video_height, prm->input_video_width));
        for (size_t i = 0; i < plane; i++)
            for (int c = 0; c < 3; c++)
                video[((size_t)c * T + t) * plane + i] = wanc_pixel_to_float(frame[i * 3 + c], bf16);
    }
    TRY_GOTO(err, done, wanc_vae_encode(vae, x0, video, T, H, W, vo));
    wanc_unit_observe_encode(prm, n_encodes, x0, n);
    if (bf16) wanc_round_bf16_inplace(x0, (size_t)n); /* input_latents in the pipeline dtype */
    TRY_GOTO(err, done, wanc_flow_sched_add_noise(s, latents, x0, noise, n, s->timesteps[0], bf16));
done:
    free(frame);
    free(video);
    free(x0);
    return err ? wanc_error_context(err, "input video") : NULL;
}

static wanc_err check_image(const uint8_t *rgb, int h, int w, const char *flag)
{
    if (!rgb || h <= 0 || w <= 0 || (int64_t)h * w > (int64_t)1 << 28)
        WANC_FAIL(WANC_EINVAL, "%s: image of %dx%d pixels: expected a non-empty RGB image", flag, w, h);
    return NULL;
}

wanc_err wanc_unit_image_vae(wanc_vae *any_vae, bool bf16, const wanc_gen_params *prm, const wanc_vae_opts *vo,
                             float *y, int *n_encodes)
{
    int H = prm->height, W = prm->width, T = prm->num_frames;
    wanc_vae21 *vae = wanc_vae_as21(any_vae);
    if (!vae)
        WANC_FAIL(WANC_EUNSUPPORTED, "image conditioning y (mask + VAE latents) needs the Wan2.1 VAE, not the %s",
                  wanc_vae_family(any_vae));
    TRY(check_image(prm->input_image, prm->input_image_height, prm->input_image_width, "--input-image"));
    if (prm->end_image)
        TRY(check_image(prm->end_image, prm->end_image_height, prm->end_image_width, "--end-image"));
    size_t plane = (size_t)H * W;
    float *img = malloc(3 * plane * sizeof(float)), *end = prm->end_image ? malloc(3 * plane * sizeof(float)) : NULL;
    wanc_err err = img && (end || !prm->end_image) ? NULL : wanc_error(WANC_ENOMEM, "image buffers (%dx%d)", W, H);
    /* input_image.resize((width, height)) then preprocess_image in the pipeline dtype */
    if (!err)
        err = wanc_i2v_image_tensor(img, prm->input_image, prm->input_image_height, prm->input_image_width, H, W,
                                    bf16);
    if (!err && end)
        err = wanc_i2v_image_tensor(end, prm->end_image, prm->end_image_height, prm->end_image_width, H, W, bf16);
    if (!err) err = wanc_i2v_encode_y(y, vae, img, end, T, H, W, vo);
    if (!err) { /* the latents after the 4 mask channels are the encode call's output */
        int64_t lat = (int64_t)wanc_i2v_latent_frames(T) * (H / 8) * (W / 8);
        wanc_unit_observe_encode(prm, n_encodes, y + 4 * lat, wanc_vae21_config_of(vae)->z_dim * lat);
    }
    /* y.to(torch_dtype): the mask is 0/1, the latents are rounded */
    if (!err && bf16) {
        int z = wanc_vae21_config_of(vae)->z_dim;
        wanc_round_bf16_inplace(y, (size_t)(4 + z) * wanc_i2v_latent_frames(T) * (H / 8) * (W / 8));
    }
    free(img);
    free(end);
    return err ? wanc_error_context(err, "image conditioning (VAE)") : NULL;
}

wanc_err wanc_unit_image_fused(wanc_vae *vae, bool bf16, const wanc_gen_params *prm, const wanc_vae_opts *vo,
                               float *latents, int64_t T, float *first)
{
    const int H = prm->height, W = prm->width;
    wanc_vae22 *v22 = wanc_vae_as22(vae);
    if (!v22)
        WANC_FAIL(WANC_EUNSUPPORTED, "first-frame conditioning (TI2V-5B) needs the Wan2.2 VAE, not the %s",
                  wanc_vae_family(vae));
    TRY(check_image(prm->input_image, prm->input_image_height, prm->input_image_width, "--input-image"));
    float *img = malloc(3 * (size_t)H * W * sizeof(float));
    if (!img) WANC_FAIL(WANC_ENOMEM, "image buffer (%dx%d)", W, H);
    /* input_image.resize((width, height)) then preprocess_image, as one frame */
    wanc_err err = wanc_i2v_image_tensor(img, prm->input_image, prm->input_image_height, prm->input_image_width, H,
                                         W, bf16);
    if (!err) err = wanc_vae22_fuse_first_frame(v22, latents, T, first, img, H, W, vo);
    free(img);
    return err ? wanc_error_context(err, "first-frame conditioning (VAE)") : NULL;
}

int64_t wanc_unit_clip_tokens(const wanc_clip *clip, const wanc_gen_params *prm, bool has_image_pos_emb)
{
    int64_t per = wanc_clip_get_config(clip)->tokens;
    return prm->end_image && has_image_pos_emb ? 2 * per : per;
}

wanc_err wanc_unit_image_clip(const wanc_clip *clip, const wanc_backend *be, bool bf16, bool has_image_pos_emb,
                              const wanc_gen_params *prm, float *feature)
{
    const wanc_clip_config *c = wanc_clip_get_config(clip);
    int64_t per = (int64_t)c->tokens * c->width;
    TRY(check_image(prm->input_image, prm->input_image_height, prm->input_image_width, "--input-image"));
    TRYC(wanc_i2v_clip_feature(feature, clip, be, prm->input_image, prm->input_image_height, prm->input_image_width,
                               prm->height, prm->width, bf16),
         "image conditioning (CLIP): --input-image");
    if (prm->end_image && has_image_pos_emb) {
        TRY(check_image(prm->end_image, prm->end_image_height, prm->end_image_width, "--end-image"));
        TRYC(wanc_i2v_clip_feature(feature + per, clip, be, prm->end_image, prm->end_image_height,
                                   prm->end_image_width, prm->height, prm->width, bf16),
             "image conditioning (CLIP): --end-image");
    }
    /* clip_context.to(torch_dtype) */
    if (bf16) wanc_round_bf16_inplace(feature, (size_t)wanc_unit_clip_tokens(clip, prm, has_image_pos_emb) * c->width);
    return NULL;
}
