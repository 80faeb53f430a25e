/* Which Wan family the loaded files are, and what it runs (pipeline_internal.h).
 *
 * Told from the weights, as DiffSynth tells them from its per-checkpoint
 * configs:
 *   out_dim        must be the VAE's latent channels (16: Wan2.1 VAE, 48: Wan2.2 VAE)
 *   in_dim = z     text-to-video; with the Wan2.2 VAE it is TI2V-5B, whose
 *                  optional image becomes latent frame 0
 *   in_dim = 2z+4  image-to-video with y = cat(mask[4], VAE(image, zeros..)):
 *                  with img_emb (CLIP tokens) Wan2.1 I2V / FLF2V / Fun-InP,
 *                  without it Wan2.2 I2V-A14B / Fun-A14B-InP (no CLIP)
 *   in_dim = 3z(+4)   Fun control: y = cat(control latents, image y or zeros);
 *                  3z+4 without CLIP is Wan2.2 Fun-A14B-Control
 *   control_adapter   Fun camera (in_dim 2z, or 2z+4 without CLIP: Wan2.2
 *                  Fun-A14B-Control-Camera)
 *   vace_blocks.*     VACE on a T2V DiT (Wan2.2 VACE-Fun-A14B: two of them)
 * Two experts make a Wan2.2 A14B model. The control families run the same
 * units with one expert or two: the units read the DiT's shapes, never the
 * family, and each expert carries its own adapters (control_adapter,
 * ref_conv, vace_blocks), so the switch swaps them with the DiT as
 * DiffSynth swaps vace for vace2.
 */
#include <stdio.h>
#include <string.h>

#include "pipeline/pipeline_internal.h"

/* DiffSynth's __call__ default; its Wan2.2-I2V-A14B example (and the
 * release's own config) switch at 0.9. */
#define BOUNDARY_T2V_A14B 0.875f
#define BOUNDARY_I2V_A14B 0.9f
/* The Wan2.2 Fun / VACE-Fun A14B examples pass no switch_DiT_boundary, so
 * __call__'s default holds. */
#define BOUNDARY_CONTROL_A14B 0.875f

static const pipeline_recipe k_recipes[] = {
    {FAMILY_WAN21_T2V, "Wan2.1 T2V", false, false, false, false, false, false, 1, 0},
    {FAMILY_WAN21_I2V, "Wan2.1 I2V", true, true, false, true, true, false, 1, 0},
    {FAMILY_WAN21_FLF2V, "Wan2.1 FLF2V", true, true, false, true, true, true, 1, 0},
    {FAMILY_WAN22_A14B_T2V, "Wan2.2 A14B T2V", false, false, false, false, false, false, 2, BOUNDARY_T2V_A14B},
    {FAMILY_WAN22_A14B_I2V, "Wan2.2 A14B I2V", true, false, false, true, true, false, 2, BOUNDARY_I2V_A14B},
    {FAMILY_WAN22_TI2V_5B, "Wan2.2 TI2V-5B", false, false, true, false, true, false, 1, 0},
    /* y and the CLIP tokens come from the Fun units (control_units.c); image_clip is set from img_emb */
    {FAMILY_FUN_CONTROL, "Wan2.1 Fun Control", false, false, false, false, true, false, 1, 0},
    {FAMILY_FUN_CAMERA, "Wan2.1 Fun Control-Camera", false, false, false, true, true, false, 1, 0},
    {FAMILY_WAN21_VACE, "Wan2.1 VACE", false, false, false, false, false, false, 1, 0},
    {FAMILY_WAN22_FUN_A14B_CONTROL, "Wan2.2 Fun-A14B Control", false, false, false, false, true, false, 2,
     BOUNDARY_CONTROL_A14B},
    {FAMILY_WAN22_FUN_A14B_CAMERA, "Wan2.2 Fun-A14B Control-Camera", false, false, false, true, true, false, 2,
     BOUNDARY_CONTROL_A14B},
    {FAMILY_WAN22_VACE_FUN_A14B, "Wan2.2 VACE-Fun-A14B", false, false, false, false, false, false, 2,
     BOUNDARY_CONTROL_A14B},
};

static const pipeline_recipe *recipe_of(pipeline_family f)
{
    for (size_t i = 0; i < sizeof k_recipes / sizeof k_recipes[0]; i++)
        if (k_recipes[i].family == f) return &k_recipes[i];
    return &k_recipes[0];
}

wanc_err pipeline_recipe_detect(pipeline_recipe *r, const wanc_dit_config *dc, int experts, const wanc_vae *vae,
                                const char *dit_path, const char *vae_path)
{
    const int z = wanc_vae_z_dim(vae);
    const bool vae22 = z == 48;
    if (dc->out_dim != z)
        WANC_FAIL(WANC_ESHAPE, "DiT %s predicts %d latent channels (out_dim) but VAE %s is the %s with %d: %s", dit_path,
                  dc->out_dim, vae_path, wanc_vae_family(vae), z,
                  dc->out_dim == 48 ? "a Wan2.2 TI2V-5B DiT needs the Wan2.2 VAE (Wan2.2_VAE.pth)"
                                    : "this DiT needs the Wan2.1 VAE (Wan2.1_VAE.pth); only TI2V-5B uses the Wan2.2 VAE");
    /* a control model is the Wan2.2 A14B one when it comes as two experts, or
     * alone when its shape is only released there (y with the mask, no CLIP) */
    const bool a14b_shaped = experts == 2 || (!dc->has_image_input && dc->in_dim % z == 4);
    pipeline_family f;
    if (dc->has_control_adapter && !vae22 && (dc->in_dim == 2 * z || dc->in_dim == 2 * z + 4)) {
        /* y: the first frame's latent (or the I2V y), the camera input beside it */
        f = a14b_shaped ? FAMILY_WAN22_FUN_A14B_CAMERA : FAMILY_FUN_CAMERA;
    } else if (!vae22 && (dc->in_dim == 3 * z || dc->in_dim == 3 * z + 4)) {
        f = a14b_shaped ? FAMILY_WAN22_FUN_A14B_CONTROL : FAMILY_FUN_CONTROL; /* y: control latents + the image's (or zeros) */
    } else if (dc->in_dim == z && !dc->has_image_input && dc->vace_num_blocks && !vae22) {
        f = experts == 2 ? FAMILY_WAN22_VACE_FUN_A14B : FAMILY_WAN21_VACE;
    } else if (dc->in_dim == z && !dc->has_image_input) {
        f = vae22 ? FAMILY_WAN22_TI2V_5B : experts == 2 ? FAMILY_WAN22_A14B_T2V : FAMILY_WAN21_T2V;
    } else if (dc->in_dim == 2 * z + 4 && !vae22) {
        if (dc->has_image_input) f = dc->has_image_pos_emb ? FAMILY_WAN21_FLF2V : FAMILY_WAN21_I2V;
        else f = FAMILY_WAN22_A14B_I2V; /* also one expert of it given alone */
    } else {
        WANC_FAIL(WANC_ESHAPE, "VAE %s has %d latent channels but DiT %s (%s CLIP input) takes in_dim %d: wanc runs "
                  "in_dim %d (T2V, TI2V-5B, VACE), %d (I2V, FLF2V, Fun-InP), %d or %d (Fun control) and, with a "
                  "camera adapter, %d or %d (Fun camera)", vae_path, z, dit_path,
                  dc->has_image_input ? "with" : "no", dc->in_dim, z, 2 * z + 4, 3 * z, 3 * z + 4, 2 * z, 2 * z + 4);
    }
    *r = *recipe_of(f);
    if (f == FAMILY_FUN_CONTROL || f == FAMILY_FUN_CAMERA || f == FAMILY_WAN22_FUN_A14B_CONTROL ||
        f == FAMILY_WAN22_FUN_A14B_CAMERA)
        r->image_clip = dc->has_image_input;
    if (experts == 2 && r->experts != 2)
        WANC_FAIL(WANC_EINVAL, "two DiTs given (--dit2 / low_noise_model/) but %s is a %s model, which has one",
                  dit_path, r->name);
    r->experts = experts; /* an A14B expert may run alone */
    return NULL;
}
