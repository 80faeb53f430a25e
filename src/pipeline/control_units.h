/* The units of WanVideoPipeline for the Fun control models, one function
 * each, shared by wanc_generate and the `pipeline_units` fixture runner
 * (as pipeline_units.h; every VAE encode call is observed as vae_encode.<i>):
 *
 *   FunControl        y = cat(VAE(control video), I2V y's last y_c − z channels or zeros)
 *   FunReference      reference latents = VAE(reference image, untiled)
 *   FunCameraControl  Plücker → control_camera_latents_input; y = image latent in frame 0
 *
 * Media are uint8 RGB of any size: videos centre-cropped and resized as
 * DiffSynth's VideoData, images resized (PIL bicubic) to height x width.
 */
#ifndef WANC_PIPELINE_CONTROL_UNITS_H
#define WANC_PIPELINE_CONTROL_UNITS_H

#include <stdbool.h>
#include <stdint.h>

#include "wanc.h"
#include "vae/wan_vae.h"

/* out[3, T, H, W] = preprocess_video of the first T frames of m (VideoData's
 * centre crop and resize to H x W); `what` names the input in errors. */
wanc_err wanc_unit_video_tensor(float *out, const wanc_media *m, int T, int H, int W, bool bf16, const char *what);

/* FunControl: y[y_c, F, h, w] = cat(VAE(control)[z], tail[y_c − z]) where tail
 * is the last y_c − z channels of y_i2v[y_i2v_c, F, h, w] (ImageEmbedderVAE's
 * y, when an input image gave one) or zeros (then DiffSynth also zeroes the
 * CLIP feature: *zero_clip = true). */
wanc_err wanc_unit_fun_control(wanc_vae *vae, bool bf16, const wanc_gen_params *prm, const wanc_vae_opts *vo,
                               const wanc_media *control, const float *y_i2v, int64_t y_i2v_c, int64_t y_c,
                               float *y, bool *zero_clip, int *n_encodes);

/* FunReference: latents[z, 1, h, w] = VAE(image resized to width x height), untiled. */
wanc_err wanc_unit_fun_reference(wanc_vae *vae, bool bf16, const wanc_gen_params *prm, const wanc_vae_opts *vo,
                                 const wanc_media *image, float *latents, int *n_encodes);

/* FunCameraControl for cam (WANC_COND_CAMERA) and prm->input_image:
 * plucker[T, H, W, 6] (float32 in both precisions), camera[24, F, H, W]
 * (control_camera_latents_input), y[y_c, F, h, w]: y_c = z: zeros with latent
 * frame 0 = VAE(image, untiled); y_c = 4 + z: the I2V y (mask + VAE(image,
 * zeros..), tiled). */
wanc_err wanc_unit_camera(wanc_vae *vae, bool bf16, const wanc_gen_params *prm, const wanc_vae_opts *vo,
                          const wanc_cond *cam, int64_t y_c, float *plucker, float *camera, float *y, int *n_encodes);

/* VACE: ctx[96, n_refs + F, h, w] = cat(VAE(video·(1−mask)), VAE(video·mask),
 * mask channel 0 unshuffled 8x8 into 64 channels, its time axis resampled
 * nearest-exact to F frames); each reference image (resized to width x
 * height) prepended as a frame of its latent, 16 zero channels and a zero
 * mask. video NULL: zeros; mask NULL: all ones. The encodes are observed in
 * DiffSynth's order: inactive, reactive, then each reference. */
#define WANC_VACE_CHANNELS 96
wanc_err wanc_unit_vace(wanc_vae *vae, bool bf16, const wanc_gen_params *prm, const wanc_vae_opts *vo,
                        const wanc_media *video, const wanc_media *mask, const wanc_media *const *refs, int n_refs,
                        float *ctx, int *n_encodes);

#endif
