/* Internal: the causal VAE engine shared by the Wan2.1 and Wan2.2 VAEs
 * (src/vae/wan_vae_core.c). Each model file supplies its variant (latent
 * statistics, patch size, family name for messages) and wraps the engine in
 * its public type; everything else (blocks, caches, chunking, tiling) is here.
 */
#ifndef WANC_VAE_WAN_VAE_CORE_H
#define WANC_VAE_WAN_VAE_CORE_H

#include "vae/wan_vae.h"

#define WANC_VAE_MAX_Z 64

typedef struct vae_variant {
    const char *family; /* "Wan2.1 VAE": prefixes errors */
    int z_dim;          /* the only latent width this variant accepts */
    const float *mean;  /* [z_dim] latent mean */
    const float *std;   /* [z_dim] latent std */
    int patch;          /* 1, or 2: 2x2 pixel patches folded into 12 channels */
    bool grouped;       /* stages stored as `downsamples.i.downsamples.j` groups with shortcuts */
} vae_variant;

typedef struct vae_model vae_model;

/* Build the engine over an open store (kept referenced, not owned); checks
 * that the store has the variant's layout. */
wanc_err vae_model_new(vae_model **out, const wanc_weights *w, const wanc_backend *be, const vae_variant *v);
/* Open a checkpoint and build the engine over it; the model owns the store. */
wanc_err vae_model_open(vae_model **out, const char *path, const wanc_backend *be, const vae_variant *v);
void vae_model_free(vae_model *m);
/* The store the engine reads (for page hints). */
const wanc_weights *vae_model_store(const vae_model *m);
const wanc_vae_config *vae_model_config(const vae_model *m);
double vae_model_flops(const vae_model *m);
/* Pixels per latent pixel in space: 8 (Wan2.1), 16 (Wan2.2). */
int vae_model_scale(const vae_model *m);
/* "Wan2.1 VAE" / "Wan2.2 VAE". */
const char *vae_model_family(const vae_model *m);

/* latents[z, 1+(F-1)/4, H/sf, W/sf] = encode(video[3, F, H, W]); sf = 8 * patch. */
wanc_err vae_model_encode(vae_model *m, float *latents, const float *video, int64_t F, int64_t H, int64_t W,
                          const wanc_vae_opts *o);
/* video[3, 1+4(T-1), sf*h, sf*w] = decode(latents[C, T, h, w]), clamped to [-1, 1]. */
wanc_err vae_model_decode(vae_model *m, float *video, const float *latents, int64_t C, int64_t T, int64_t h,
                          int64_t w, const wanc_vae_opts *o);

#endif
