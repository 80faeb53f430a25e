/* `wanc random-model --arch wan2.2-t2v-a14b|wan2.2-i2v-a14b|wan2.2-fun-a14b-control|
 * wan2.2-fun-a14b-control-camera|wan2.2-vace-fun-a14b|wan2.2-ti2v-5b --out DIR`:
 * a Wan2.2 release folder with random weights, laid out as the release is, so
 * `wanc generate --model-dir DIR` finds it the way it finds the real one:
 *
 *   A14B    high_noise_model/ and low_noise_model/, each 6 shards + index, Wan2.1_VAE.safetensors
 *   TI2V-5B diffusion_pytorch_model-0000k-of-00003.safetensors + index, Wan2.2_VAE.safetensors
 *   both    models_t5_umt5-xxl-enc-bf16.safetensors, google/umt5-xxl/tokenizer.json
 *
 * The DiTs have the release's shapes (layers: o->layers, 0 = all; --dim,
 * --ffn, --heads shrink them to a test model of the same family). The VAE has
 * the release's layout at width o->width (0 = the release's). The text encoder
 * and tokenizer are the demo's small stand-ins (the release's 4096 width, 2
 * layers, a 512-piece vocabulary): the real UMT5 is 11 GB and its tokenizer
 * cannot be made up; put the released files in their place to use them.
 */
#include <stdio.h>
#include <string.h>

#include "wanc.h"
#include "dit/dit_random.h"
#include "pipeline/pipeline_internal.h"
#include "text/umt5.h"
#include "vae/wan_vae.h"

#define A14B_SHARDS 6   /* per expert, as Wan2.2-T2V-A14B / I2V-A14B ship them */
#define TI2V5B_SHARDS 3 /* as Wan2.2-TI2V-5B ships it */

static wanc_err write_dit(const char *dir, const wanc_dit_config *c, wanc_dtype dt, uint64_t seed, int shards)
{
    TRY(wanc_make_dir(dir));
    return wanc_error_context(wanc_dit_random_write_shards(dir, c, dt, seed, shards), "random DiT in %s", dir);
}

wanc_err wanc_random_model_release(const char *arch, const char *out_dir, const wanc_random_model_opts *o)
{
    static const char *const a14b_archs[] = {"wan2.2-t2v-a14b", "wan2.2-i2v-a14b", "wan2.2-fun-a14b-control",
                                             "wan2.2-fun-a14b-control-camera", "wan2.2-vace-fun-a14b"};
    bool a14b = false;
    for (size_t i = 0; i < sizeof a14b_archs / sizeof a14b_archs[0]; i++) a14b |= !strcmp(arch, a14b_archs[i]);
    if (!a14b && strcmp(arch, "wan2.2-ti2v-5b"))
        WANC_FAIL(WANC_EINVAL, "random release: unknown arch '%s' (wan2.2-t2v-a14b, wan2.2-i2v-a14b, "
                  "wan2.2-fun-a14b-control, wan2.2-fun-a14b-control-camera, wan2.2-vace-fun-a14b, wan2.2-ti2v-5b)",
                  arch);
    wanc_dit_config c;
    TRY(wanc_dit_arch_config(&c, arch));
    wanc_dit_config_set_layers(&c, o->layers > 0 && o->layers < 1000 ? (int)o->layers : 0);
    if (o->dim > 0 || o->dim_ffn > 0 || o->heads > 0) { /* a small stand-in of the same family, for tests */
        if (o->dim > 0) c.dim = (int)o->dim;
        if (o->dim_ffn > 0) c.ffn_dim = (int)o->dim_ffn;
        if (o->heads > 0) c.num_heads = (int)o->heads;
        if (c.dim > 65536 || c.ffn_dim > 262144 || c.num_heads < 1 || c.dim % c.num_heads || (c.dim / c.num_heads) % 2)
            WANC_FAIL(WANC_EINVAL, "random release: dim %d with %d heads (ffn %d): expected dim a multiple of "
                      "2 x heads", c.dim, c.num_heads, c.ffn_dim);
    }
    const wanc_dtype dt = o->dtype && !strcmp(o->dtype, "f32") ? WANC_F32 : WANC_BF16; /* the release's bf16 */
    char path[4096];
    TRY(wanc_make_dir(out_dir));
    if (a14b) {
        snprintf(path, sizeof path, "%s/high_noise_model", out_dir);
        TRY(write_dit(path, &c, dt, o->seed, A14B_SHARDS));
        snprintf(path, sizeof path, "%s/low_noise_model", out_dir);
        TRY(write_dit(path, &c, dt, o->seed + 1, A14B_SHARDS));
        snprintf(path, sizeof path, "%s/Wan2.1_VAE.safetensors", out_dir);
        TRY(wanc_vae21_write_random(path, o->width > 0 ? (int)o->width : 96, WANC_F32, o->seed + 2));
    } else {
        TRY(write_dit(out_dir, &c, dt, o->seed, TI2V5B_SHARDS));
        snprintf(path, sizeof path, "%s/Wan2.2_VAE.safetensors", out_dir);
        int w = o->width > 0 ? (int)o->width : 160;
        TRY(wanc_vae22_write_random(path, w, w * 8 / 5, WANC_F32, o->seed + 2));
    }
    /* the text stand-ins: the release's width, few layers, the demo's vocabulary */
    wanc_umt5_config tc = {.vocab = 512, .dim = c.text_dim, .dim_attn = 64, .dim_ffn = 64, .num_heads = 4,
                           .num_layers = 2, .num_buckets = 32};
    snprintf(path, sizeof path, "%s/models_t5_umt5-xxl-enc-bf16.safetensors", out_dir);
    TRY(wanc_umt5_write_random(path, &tc, o->seed + 3));
    snprintf(path, sizeof path, "%s/google", out_dir);
    TRY(wanc_make_dir(path));
    snprintf(path, sizeof path, "%s/google/umt5-xxl", out_dir);
    TRY(wanc_make_dir(path));
    snprintf(path, sizeof path, "%s/google/umt5-xxl/tokenizer.json", out_dir);
    return wanc_demo_write_tokenizer(path);
}
