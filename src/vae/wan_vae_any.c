/* Either Wan VAE behind one handle (see wan_vae.h): the pipeline opens
 * whatever VAE file it is given and asks it for its latent width and scale.
 * Both public VAE types are the shared engine under another name, so the
 * handle keeps the engine and which family it is. */
#include <stdlib.h>

#include "vae/wan_vae_core.h"

struct wanc_vae {
    wanc_weights *w; /* owned */
    vae_model *m;
    bool v22;
};

wanc_err wanc_vae_open(wanc_vae **out, const char *path, const wanc_backend *be)
{
    *out = NULL;
    wanc_vae *v = calloc(1, sizeof *v);
    if (!v) WANC_FAIL(WANC_ENOMEM, "VAE %s", path);
    wanc_err err = wanc_weights_open(&v->w, path);
    if (!err) err = wanc_vae_adapt_names(v->w); /* diffusers AutoencoderKLWan names */
    if (!err) {
        /* the Wan2.2 VAE stores its stages as groups with shortcuts */
        v->v22 = wanc_weights_has(v->w, "encoder.downsamples.0.downsamples.0.residual.0.gamma") ||
                 wanc_weights_has(v->w, "decoder.upsamples.0.upsamples.0.residual.0.gamma");
        err = v->v22 ? wanc_vae22_load((wanc_vae22 **)&v->m, v->w, be) : wanc_vae21_load((wanc_vae21 **)&v->m, v->w, be);
    }
    if (err) {
        wanc_vae_free(v);
        return err;
    }
    *out = v;
    return NULL;
}

void wanc_vae_free(wanc_vae *v)
{
    if (!v) return;
    vae_model_free(v->m);
    wanc_weights_close(v->w);
    free(v);
}

const wanc_vae_config *wanc_vae_config_of(const wanc_vae *v) { return vae_model_config(v->m); }
int wanc_vae_z_dim(const wanc_vae *v) { return vae_model_config(v->m)->z_dim; }
int wanc_vae_scale(const wanc_vae *v) { return vae_model_scale(v->m); }
const char *wanc_vae_family(const wanc_vae *v) { return vae_model_family(v->m); }
const wanc_weights *wanc_vae_store(const wanc_vae *v) { return v ? v->w : NULL; }
wanc_vae21 *wanc_vae_as21(wanc_vae *v) { return v->v22 ? NULL : (wanc_vae21 *)v->m; }
wanc_vae22 *wanc_vae_as22(wanc_vae *v) { return v->v22 ? (wanc_vae22 *)v->m : NULL; }

wanc_err wanc_vae_encode(wanc_vae *v, float *latents, const float *video, int64_t F, int64_t H, int64_t W,
                         const wanc_vae_opts *o)
{
    return vae_model_encode(v->m, latents, video, F, H, W, o);
}

wanc_err wanc_vae_decode(wanc_vae *v, float *video, const float *latents, int64_t T, int64_t h, int64_t w,
                         const wanc_vae_opts *o)
{
    return vae_model_decode(v->m, video, latents, wanc_vae_z_dim(v), T, h, w, o);
}
