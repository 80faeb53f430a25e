/* diffusers AutoencoderKLWan names → the Wan2.1 VAE's own names (the layout of
 * Wan2.1_VAE.pth and of ComfyUI's wan_2.1_vae.safetensors). */
#include <stdio.h>
#include <string.h>

#include "vae/wan_vae.h"

/* Inside a residual block ("resnets.J." / "down_blocks.N." / "mid_block.resnets.J."). */
static const char *const res_map[][2] = {
    {"norm1.", "residual.0."}, {"conv1.", "residual.2."}, {"norm2.", "residual.3."},
    {"conv2.", "residual.6."}, {"conv_shortcut.", "shortcut."},
};

/* dst = prefix + rest with a residual sub-name renamed (others kept: resample.*, time_conv.*). */
static int put_res(char *dst, size_t cap, const char *prefix, const char *rest)
{
    for (size_t i = 0; i < sizeof res_map / sizeof res_map[0]; i++) {
        size_t n = strlen(res_map[i][0]);
        if (!strncmp(rest, res_map[i][0], n)) return snprintf(dst, cap, "%s%s%s", prefix, res_map[i][1], rest + n) < (int)cap;
    }
    return snprintf(dst, cap, "%s%s", prefix, rest) < (int)cap;
}

static int diffusers_name(char *dst, size_t cap, const char *src, void *user)
{
    const int per_block = *(const int *)user; /* decoder upsamples per up block: resnets + 1 upsampler */
    static const char *const top[][2] = {
        {"quant_conv.", "conv1."},          {"post_quant_conv.", "conv2."},
        {"encoder.conv_in.", "encoder.conv1."}, {"decoder.conv_in.", "decoder.conv1."},
        {"encoder.norm_out.", "encoder.head.0."}, {"encoder.conv_out.", "encoder.head.2."},
        {"decoder.norm_out.", "decoder.head.0."}, {"decoder.conv_out.", "decoder.head.2."},
        {"encoder.mid_block.attentions.0.", "encoder.middle.1."},
        {"decoder.mid_block.attentions.0.", "decoder.middle.1."},
    };
    for (size_t i = 0; i < sizeof top / sizeof top[0]; i++) {
        size_t n = strlen(top[i][0]);
        if (!strncmp(src, top[i][0], n)) return snprintf(dst, cap, "%s%s", top[i][1], src + n) < (int)cap;
    }
    char prefix[96];
    int a, b, used = 0;
    for (int e = 0; e < 2; e++) { /* mid-block resnets 0/1 are middle.0/2 (middle.1 is the attention) */
        const char *fmt = e ? "decoder.mid_block.resnets.%d.%n" : "encoder.mid_block.resnets.%d.%n";
        used = 0;
        if (sscanf(src, fmt, &a, &used) == 1 && used && a >= 0 && a < 2) {
            snprintf(prefix, sizeof prefix, "%s.middle.%d.", e ? "decoder" : "encoder", 2 * a);
            return put_res(dst, cap, prefix, src + used);
        }
    }
    used = 0;
    if (sscanf(src, "encoder.down_blocks.%d.%n", &a, &used) == 1 && used && a >= 0) {
        snprintf(prefix, sizeof prefix, "encoder.downsamples.%d.", a);
        return put_res(dst, cap, prefix, src + used);
    }
    used = 0;
    if (sscanf(src, "decoder.up_blocks.%d.resnets.%d.%n", &a, &b, &used) == 2 && used && a >= 0 && b >= 0) {
        snprintf(prefix, sizeof prefix, "decoder.upsamples.%d.", a * per_block + b);
        return put_res(dst, cap, prefix, src + used);
    }
    used = 0;
    if (sscanf(src, "decoder.up_blocks.%d.upsamplers.0.%n", &a, &used) == 1 && used && a >= 0)
        return snprintf(dst, cap, "decoder.upsamples.%d.%s", a * per_block + per_block - 1, src + used) < (int)cap;
    return 0;
}

wanc_err wanc_vae_adapt_names(wanc_weights *w)
{
    if (!wanc_weights_has(w, "decoder.conv_in.weight") && !wanc_weights_has(w, "quant_conv.weight")) return NULL;
    /* resnets per up block: one more than the highest index in up block 0 */
    int resnets = 0;
    char name[96];
    while (snprintf(name, sizeof name, "decoder.up_blocks.0.resnets.%d.conv1.weight", resnets),
           wanc_weights_has(w, name))
        resnets++;
    int per_block = resnets + 1;
    return wanc_error_context(wanc_weights_rename(w, diffusers_name, &per_block), "diffusers VAE names");
}
