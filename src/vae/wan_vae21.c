/* The Wan2.1 video VAE (DiffSynth `WanVideoVAE` / `VideoVAE_`): z 16, 8x in
 * space, 4x in time. The network itself is the shared engine in
 * src/vae/wan_vae_core.c; this file holds what is Wan2.1's own: the latent
 * statistics and the layout it accepts (no patchify, plain stage lists).
 */

#include "vae/wan_vae_core.h"

/* The real per-channel latent statistics DiffSynth hard-codes for Wan2.1. */
const float wanc_vae21_latent_mean[16] = {-0.7571f, -0.7089f, -0.9113f, 0.1075f,  -0.1745f, 0.9653f,
                                        -0.1517f, 1.5508f,  0.4134f,  -0.0715f, 0.5517f,  -0.3632f,
                                        -0.1922f, -0.9497f, 0.2503f,  -0.2921f};
const float wanc_vae21_latent_std[16] = {2.8184f, 1.4541f, 2.3275f, 2.6558f, 1.2196f, 1.7708f, 2.6052f, 2.0743f,
                                       3.2687f, 2.1526f, 2.8652f, 1.5579f, 1.6382f, 1.1253f, 2.8251f, 1.9160f};

static const vae_variant k_wan21 = {"Wan2.1 VAE", 16, wanc_vae21_latent_mean, wanc_vae21_latent_std, 1, false};

/* The public handle is the engine itself: struct wanc_vae21 is never
 * defined, a wanc_vae21 pointer is a vae_model pointer under another name. */
static vae_model *core(const wanc_vae21 *m) { return (vae_model *)m; }

wanc_err wanc_vae21_load(wanc_vae21 **out, const wanc_weights *w, const wanc_backend *be)
{
    vae_model *m = NULL;
    wanc_err err = vae_model_new(&m, w, be, &k_wan21);
    *out = (wanc_vae21 *)m;
    return err;
}

wanc_err wanc_vae21_open(wanc_vae21 **out, const char *path, const wanc_backend *be)
{
    vae_model *m = NULL;
    wanc_err err = vae_model_open(&m, path, be, &k_wan21);
    *out = (wanc_vae21 *)m;
    return err;
}

void wanc_vae21_free(wanc_vae21 *m) { vae_model_free(core(m)); }

const wanc_weights *wanc_vae21_store(const wanc_vae21 *m) { return vae_model_store(core(m)); }

const wanc_vae21_config *wanc_vae21_config_of(const wanc_vae21 *m) { return vae_model_config(core(m)); }

double wanc_vae21_flops(const wanc_vae21 *m) { return vae_model_flops(core(m)); }

wanc_err wanc_vae21_encode(wanc_vae21 *m, float *latents, const float *video, int64_t F, int64_t H, int64_t W,
                           const wanc_vae_opts *o)
{
    return vae_model_encode(core(m), latents, video, F, H, W, o);
}

wanc_err wanc_vae21_decode(wanc_vae21 *m, float *video, const float *latents, int64_t C, int64_t T, int64_t h,
                           int64_t w, const wanc_vae_opts *o)
{
    return vae_model_decode(core(m), video, latents, C, T, h, w, o);
}
