/* Hugging Face CLIP vision-tower names (ComfyUI's clip_vision_h.safetensors)
 * → open-clip's `visual.*` names, the layout Wan's CLIP checkpoint uses. */
#include <stdio.h>
#include <string.h>

#include "vision/clip.h"

static const char *const top_map[][2] = {
    {"vision_model.embeddings.patch_embedding.weight", "visual.patch_embedding.weight"},
    {"vision_model.embeddings.class_embedding", "visual.cls_embedding"},
    {"vision_model.embeddings.position_embedding.weight", "visual.pos_embedding"},
    {"vision_model.pre_layrnorm.weight", "visual.pre_norm.weight"}, /* sic: HF's spelling */
    {"vision_model.pre_layrnorm.bias", "visual.pre_norm.bias"},
    {"vision_model.post_layernorm.weight", "visual.post_norm.weight"},
    {"vision_model.post_layernorm.bias", "visual.post_norm.bias"},
};

/* After "vision_model.encoder.layers.N." (the suffix .weight/.bias is kept). */
static const char *const layer_map[][2] = {
    {"layer_norm1.", "norm1."},         {"layer_norm2.", "norm2."},
    {"self_attn.q_proj.", "attn.q."},   {"self_attn.k_proj.", "attn.k."},
    {"self_attn.v_proj.", "attn.v."},   {"self_attn.out_proj.", "attn.proj."},
    {"mlp.fc1.", "mlp.0."},             {"mlp.fc2.", "mlp.2."},
};

static int hf_name(char *dst, size_t cap, const char *src, void *user)
{
    (void)user;
    for (size_t i = 0; i < sizeof top_map / sizeof top_map[0]; i++)
        if (!strcmp(src, top_map[i][0])) return snprintf(dst, cap, "%s", top_map[i][1]) < (int)cap;
    int layer, used = 0;
    if (sscanf(src, "vision_model.encoder.layers.%d.%n", &layer, &used) == 1 && used > 0 && layer >= 0)
        for (size_t i = 0; i < sizeof layer_map / sizeof layer_map[0]; i++) {
            size_t n = strlen(layer_map[i][0]);
            const char *rest = src + used + n;
            if (!strncmp(src + used, layer_map[i][0], n) && (!strcmp(rest, "weight") || !strcmp(rest, "bias")))
                return snprintf(dst, cap, "visual.transformer.%d.%s%s", layer, layer_map[i][1], rest) < (int)cap;
        }
    return 0; /* visual_projection (the embedding head) and anything else: unused */
}

wanc_err wanc_clip_adapt_names(wanc_weights *w)
{
    if (!wanc_weights_has(w, "vision_model.embeddings.patch_embedding.weight")) return NULL;
    return wanc_error_context(wanc_weights_rename(w, hf_name, NULL), "Hugging Face CLIP names");
}
