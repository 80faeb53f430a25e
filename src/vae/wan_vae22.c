/* The Wan2.2 video VAE (DiffSynth `WanVideoVAE38` / `VideoVAE38_`): z 48,
 * 16x in space (a 2x2 patchify, then three 2x downsamplers), 4x in time,
 * encoder width 160 and decoder width 256 in the release. The network runs
 * on the shared engine (src/vae/wan_vae_core.c: its grouped stages with
 * AvgDown3D / DupUp3D shortcuts and the patchify are the Wan2.2 parts);
 * this file holds the latent statistics and the public entry points.
 */
#include <string.h>

#include "vae/wan_vae_core.h"

/* The real per-channel latent statistics DiffSynth hard-codes for Wan2.2. */
static const float k_latent_mean[48] = {
    -0.2289f, -0.0052f, -0.1323f, -0.2339f, -0.2799f, 0.0174f, 0.1838f, 0.1557f,
    -0.1382f, 0.0542f, 0.2813f, 0.0891f, 0.1570f, -0.0098f, 0.0375f, -0.1825f,
    -0.2246f, -0.1207f, -0.0698f, 0.5109f, 0.2665f, -0.2108f, -0.2158f, 0.2502f,
    -0.2055f, -0.0322f, 0.1109f, 0.1567f, -0.0729f, 0.0899f, -0.2799f, -0.1230f,
    -0.0313f, -0.1649f, 0.0117f, 0.0723f, -0.2839f, -0.2083f, -0.0520f, 0.3748f,
    0.0152f, 0.1957f, 0.1433f, -0.2944f, 0.3573f, -0.0548f, -0.1681f, -0.0667f,
};
static const float k_latent_std[48] = {
    0.4765f, 1.0364f, 0.4514f, 1.1677f, 0.5313f, 0.4990f, 0.4818f, 0.5013f,
    0.8158f, 1.0344f, 0.5894f, 1.0901f, 0.6885f, 0.6165f, 0.8454f, 0.4978f,
    0.5759f, 0.3523f, 0.7135f, 0.6804f, 0.5833f, 1.4146f, 0.8986f, 0.5659f,
    0.7069f, 0.5338f, 0.4889f, 0.4917f, 0.4069f, 0.4999f, 0.6866f, 0.4093f,
    0.5709f, 0.6065f, 0.6415f, 0.4944f, 0.5726f, 1.2042f, 0.5458f, 1.6887f,
    0.3971f, 1.0600f, 0.3943f, 0.5537f, 0.5444f, 0.4089f, 0.7468f, 0.7744f,
};

static const vae_variant k_wan22 = {"Wan2.2 VAE", 48, k_latent_mean, k_latent_std, 2, true};

/* The public handle is the engine itself: struct wanc_vae22 is never
 * defined, a wanc_vae22 pointer is a vae_model pointer under another name. */
static vae_model *core(const wanc_vae22 *m) { return (vae_model *)m; }

wanc_err wanc_vae22_load(wanc_vae22 **out, const wanc_weights *w, const wanc_backend *be)
{
    vae_model *m = NULL;
    wanc_err err = vae_model_new(&m, w, be, &k_wan22);
    *out = (wanc_vae22 *)m;
    return err;
}

wanc_err wanc_vae22_open(wanc_vae22 **out, const char *path, const wanc_backend *be)
{
    vae_model *m = NULL;
    wanc_err err = vae_model_open(&m, path, be, &k_wan22);
    *out = (wanc_vae22 *)m;
    return err;
}

void wanc_vae22_free(wanc_vae22 *m) { vae_model_free(core(m)); }

const wanc_vae_config *wanc_vae22_config_of(const wanc_vae22 *m) { return vae_model_config(core(m)); }

double wanc_vae22_flops(const wanc_vae22 *m) { return vae_model_flops(core(m)); }

wanc_err wanc_vae22_encode(wanc_vae22 *m, float *latents, const float *video, int64_t F, int64_t H, int64_t W,
                           const wanc_vae_opts *o)
{
    return vae_model_encode(core(m), latents, video, F, H, W, o);
}

wanc_err wanc_vae22_decode(wanc_vae22 *m, float *video, const float *latents, int64_t C, int64_t T, int64_t h,
                           int64_t w, const wanc_vae_opts *o)
{
    return vae_model_decode(core(m), video, latents, C, T, h, w, o);
}

wanc_err wanc_vae22_fuse_first_frame(wanc_vae22 *m, float *latents, int64_t T, float *first, const float *image,
                                     int64_t H, int64_t W, const wanc_vae_opts *o)
{
    if (T < 1) WANC_FAIL(WANC_ESHAPE, "TI2V first frame: latents with %lld frames", (long long)T);
    TRYC(vae_model_encode(core(m), first, image, 1, H, W, o), "TI2V first frame");
    /* latents[c, 0] = first[c, 0] for each of the 48 channels */
    const int64_t z = vae_model_config(core(m))->z_dim, P = (H / 16) * (W / 16);
    for (int64_t c = 0; c < z; c++) memcpy(latents + c * T * P, first + c * P, (size_t)P * sizeof(float));
    return NULL;
}
