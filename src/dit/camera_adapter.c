/* Fun camera control: DiffSynth's SimpleAdapter (the DiT's `control_adapter`),
 * whose output is added to the patch embedding.
 *
 * Per latent frame: PixelUnshuffle(8) of the camera latents [C, 8H, 8W] to
 * [64·C, H, W] (channel c·64 + i·8 + j holds pixel (8y + i, 8x + j) of
 * channel c), a Conv2d to dim with kernel = stride = the DiT's spatial patch,
 * then one residual block r + conv2(relu(conv1(r))) of 3x3 convs (padding 1).
 */
#include <stdlib.h>
#include <string.h>

#include "dit/dit_internal.h"

#define U WANC_DIT_CAMERA_UNSHUFFLE

wanc_err dit_camera_infer_config(wanc_dit_config *cfg, const wanc_weights *w)
{
    const wanc_tensor *t = wanc_weights_find(w, "control_adapter.conv.weight");
    cfg->has_control_adapter = t != NULL;
    if (!t) {
        if (wanc_weights_has(w, "control_adapter.residual_blocks.0.conv1.weight"))
            WANC_FAIL(WANC_EFORMAT, "%s: unknown camera adapter layout: residual blocks without control_adapter.conv",
                      wanc_weights_describe(w));
        return NULL;
    }
    if (t->ndim != 4 || t->shape[0] != cfg->dim || t->shape[1] % (U * U) || t->shape[2] != cfg->patch[1] ||
        t->shape[3] != cfg->patch[2]) {
        char s[64];
        WANC_FAIL(WANC_ESHAPE, "%s: control_adapter.conv.weight has shape %s, expected [%d, C·%d, %d, %d]",
                  wanc_weights_describe(w), wanc_shape_str(s, sizeof s, t->ndim, t->shape), cfg->dim, U * U,
                  cfg->patch[1], cfg->patch[2]);
    }
    if (cfg->patch[0] != 1)
        WANC_FAIL(WANC_EUNSUPPORTED, "%s: a camera adapter needs a temporal patch of 1, the DiT has %d",
                  wanc_weights_describe(w), cfg->patch[0]);
    cfg->control_in_dim = (int)(t->shape[1] / (U * U));
    return NULL;
}

wanc_err dit_camera_load(wanc_dit *d)
{
    const wanc_dit_config *c = &d->cfg;
    if (!c->has_control_adapter) return NULL;
    int64_t D = c->dim, D1[1] = {D}, K3[4] = {D, D, 3, 3};
    TRY(dit_view_weight(d, &d->cam_conv.w, 4, (int64_t[]){D, (int64_t)c->control_in_dim * U * U, c->patch[1], c->patch[2]},
                        "control_adapter.conv.weight"));
    TRY(dit_view_weight(d, &d->cam_conv.b, 1, D1, "control_adapter.conv.bias"));
    TRY(dit_view_weight(d, &d->cam_res1.w, 4, K3, "control_adapter.residual_blocks.0.conv1.weight"));
    TRY(dit_view_weight(d, &d->cam_res1.b, 1, D1, "control_adapter.residual_blocks.0.conv1.bias"));
    TRY(dit_view_weight(d, &d->cam_res2.w, 4, K3, "control_adapter.residual_blocks.0.conv2.weight"));
    TRY(dit_view_weight(d, &d->cam_res2.b, 1, D1, "control_adapter.residual_blocks.0.conv2.bias"));
    if (wanc_weights_has(d->store, "control_adapter.residual_blocks.1.conv1.weight"))
        WANC_FAIL(WANC_EUNSUPPORTED, "%s: camera adapter with more than one residual block",
                  wanc_weights_describe(d->store));
    return NULL;
}

wanc_err dit_camera_forward(const fwd *f, const wanc_dit *d, wanc_arena *A, const float *camera, int64_t F,
                            int64_t H, int64_t W, float *out)
{
    const wanc_backend *be = f->be;
    const int64_t C = d->cfg.control_in_dim, D = d->cfg.dim, Cu = C * U * U;
    const int64_t Hp = H / d->cfg.patch[1], Wp = W / d->cfg.patch[2], HW = Hp * Wp;
    const int64_t H8 = H * U, W8 = W * U;
    float *un, *r, *t, *o;
    TRY(dit_alloc_f(A, &un, Cu * H * W));
    TRY(dit_alloc_f(A, &r, D * HW));
    TRY(dit_alloc_f(A, &t, D * HW));
    TRY(dit_alloc_f(A, &o, D * HW));
    const int s_patch[3] = {1, d->cfg.patch[1], d->cfg.patch[2]}, s1[3] = {1, 1, 1};
    const int p0[3] = {0, 0, 0}, p1[3] = {0, 1, 1};
    for (int64_t fi = 0; fi < F; fi++) {
        for (int64_t c = 0; c < C; c++) {
            const float *src = camera + (c * F + fi) * H8 * W8;
            for (int i = 0; i < U; i++)
                for (int j = 0; j < U; j++) {
                    float *dst = un + ((c * U + i) * U + j) * H * W;
                    for (int64_t y = 0; y < H; y++)
                        for (int64_t x = 0; x < W; x++) dst[y * W + x] = src[(y * U + i) * W8 + x * U + j];
                }
        }
        TRY(be->conv3d(be, r, un, d->cam_conv.w, d->cam_conv.b, Cu, 1, H, W, s_patch, p0));
        TRY(dit_rnd(f, r, D * HW));
        TRY(be->conv3d(be, t, r, d->cam_res1.w, d->cam_res1.b, D, 1, Hp, Wp, s1, p1));
        TRY(dit_rnd(f, t, D * HW));
        TRY(be->relu(be, t, t, D * HW)); /* exact: no rounding needed */
        TRY(be->conv3d(be, o, t, d->cam_res2.w, d->cam_res2.b, D, 1, Hp, Wp, s1, p1));
        TRY(dit_rnd(f, o, D * HW));
        TRY(be->add(be, o, o, r, D * HW));
        TRY(dit_rnd(f, o, D * HW));
        for (int64_t c = 0; c < D; c++) memcpy(out + (c * F + fi) * HW, o + c * HW, sizeof(float) * (size_t)HW);
    }
    return NULL;
}
