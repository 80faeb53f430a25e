/* I2V / FLF2V conditioning `y`, the pipeline's ImageEmbedderVAE unit:
 *
 *   y[4 + z, T_lat, H/8, W/8] = cat(mask, vae.encode(vae_input))
 *
 * mask: ones on frame 0 (and, FLF2V, the last frame), zeros elsewhere, frame
 * 0 repeated 4 times so num_frames + 3 frames group by 4 into the channel
 * axis (num_frames = 4k + 1). The 8 in H/8 is fixed by the pipeline.
 * vae_input: [3, num_frames, H, W] = the start image, zeros (mid grey in
 * [-1, 1]) and, FLF2V, the end image as the last frame.
 */
#ifndef WANC_PIPELINE_IMAGE_COND_H
#define WANC_PIPELINE_IMAGE_COND_H

#include <stdbool.h>
#include <stdint.h>

#include "core/error.h"
#include "vae/wan_vae.h"
#include "vision/clip.h"

/* The pipeline's image path: out[3, H, W] = preprocess_image(PIL resize of
 * rgb[h0, w0, 3] to (W, H)); bf16 rounds as a bf16 pipeline (lut_bf16_torch2). */
wanc_err wanc_i2v_image_tensor(float *out, const uint8_t *rgb, int h0, int w0, int H, int W, bool bf16);

/* The ImageEmbedderCLIP unit for one image: feature[tokens, width] of the
 * CLIP tower on rgb[h0, w0, 3] resized to the pipeline size (H, W) first.
 * bf16 rounds the image path (tensor, 224² input) as a bf16 pipeline; the
 * tower's own mode is wanc_clip_set_bf16. (FLF2V concatenates the start and
 * end features along tokens.) */
wanc_err wanc_i2v_clip_feature(float *feature, const wanc_clip *m, const wanc_backend *be, const uint8_t *rgb,
                               int h0, int w0, int H, int W, bool bf16);

/* Latent frames of num_frames video frames: (num_frames + 3) / 4. */
int wanc_i2v_latent_frames(int num_frames);

/* out[4, T_lat, height/8, width/8]; with_end sets the last frame too. */
wanc_err wanc_i2v_mask(float *out, int num_frames, int height, int width, bool with_end);

/* out[3, num_frames, H, W] from image[3, H, W] and end[3, H, W] (NULL for I2V). */
wanc_err wanc_i2v_vae_input(float *out, const float *image, const float *end, int num_frames, int H, int W);

/* y[4 + z, T, h, w] = cat(mask[4, T, h, w], latents[z, T, h, w]) along channels. */
void wanc_i2v_concat_y(float *y, const float *mask, const float *latents, int z, int T, int h, int w);

/* The whole unit: y[4 + z, T_lat, H/8, W/8] from the preprocessed start
 * image[3, H, W] (and end[3, H, W], NULL for I2V) through vae.encode with
 * opts o (the pipeline passes tiled = true by default). */
wanc_err wanc_i2v_encode_y(float *y, wanc_vae21 *vae, const float *image, const float *end, int num_frames, int H,
                           int W, const wanc_vae_opts *o);

#endif
