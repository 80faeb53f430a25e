/* The VAE- and CLIP-dependent units of WanVideoPipeline, one function each,
 * shared by wanc_generate and the `pipeline_units` fixture runner:
 *
 *   InputVideoEmbedder   latents = (1 − σ₀)·VAE(video) + σ₀·noise      (V2V)
 *   ImageEmbedderVAE     y = cat(mask[4], VAE(image, zeros.., end))    (I2V, FLF2V, Fun-InP)
 *   ImageEmbedderCLIP    clip = CLIP(image) [, CLIP(end)]              (I2V, FLF2V, Fun-InP)
 *   ImageEmbedderFused   latents[:, 0] = VAE(image)                    (TI2V-5B)
 *
 * Every unit reads the run's parameters (already checked and rounded by
 * wanc_gen_params_check). bf16 is DiffSynth's torch_dtype=bfloat16: the
 * images are preprocessed in bf16 and each unit's result is cast to bf16.
 */
#ifndef WANC_PIPELINE_UNITS_H
#define WANC_PIPELINE_UNITS_H

#include <stdbool.h>
#include <stdint.h>

#include "wanc.h"
#include "backend/backend.h"
#include "sched/flow_match.h"
#include "vae/wan_vae.h"
#include "vision/clip.h"

/* Observers see the output of every VAE encode call the units make, in call
 * order, as "vae_encode.<i>" (*n_encodes counts them; NULL: not observed). */
void wanc_unit_observe_encode(const wanc_gen_params *prm, int *n_encodes, const float *x, int64_t n);

/* latents[n] (n = z·F·h·w) from prm->input_video (its first num_frames
 * frames, centre-cropped and resized to height x width) and noise[n], at
 * the schedule's first timestep. */
wanc_err wanc_unit_input_video(wanc_vae *vae, bool bf16, const wanc_gen_params *prm, const wanc_flow_sched *s,
                               const wanc_vae_opts *vo, float *latents, const float *noise, int64_t n, int *n_encodes);

/* y[4 + z, F, height/8, width/8] from prm->input_image (and prm->end_image
 * when given), both resized to height x width. The mask's 8 is DiffSynth's
 * constant: the unit needs the Wan2.1 VAE (a named error with another). */
wanc_err wanc_unit_image_vae(wanc_vae *vae, bool bf16, const wanc_gen_params *prm, const wanc_vae_opts *vo,
                             float *y, int *n_encodes);

/* first[z, 1, height/s, width/s] = VAE(prm->input_image resized to height x
 * width) and frame 0 of latents[z, T, height/s, width/s] replaced by it
 * (s = the VAE's scale; the Wan2.2 VAE, TI2V-5B). */
wanc_err wanc_unit_image_fused(wanc_vae *vae, bool bf16, const wanc_gen_params *prm, const wanc_vae_opts *vo,
                               float *latents, int64_t T, float *first);

/* Tokens the CLIP unit yields: 257 per image; the end image's are appended
 * only for a DiT with image position embeddings (FLF2V). */
int64_t wanc_unit_clip_tokens(const wanc_clip *clip, const wanc_gen_params *prm, bool has_image_pos_emb);

/* feature[wanc_unit_clip_tokens, width]: the CLIP tokens of prm->input_image
 * (then of prm->end_image when has_image_pos_emb), each image resized to
 * height x width first. */
wanc_err wanc_unit_image_clip(const wanc_clip *clip, const wanc_backend *be, bool bf16, bool has_image_pos_emb,
                              const wanc_gen_params *prm, float *feature);

#endif
