/* Hugging Face T5EncoderModel names → Wan's UMT5 names: the layout of
 * ComfyUI's `umt5_xxl_fp16.safetensors` / `umt5_xxl_fp8_e4m3fn_scaled.safetensors`
 * and of a diffusers `text_encoder/` folder. Scaled-fp8 scales are attached to
 * their weights when the store opens, so the scale tensors and the marker are
 * dropped here with everything else that has no Wan name. */
#include <stdio.h>
#include <string.h>

#include "text/umt5.h"

/* After "encoder.block.N.". */
static const char *const block_map[][2] = {
    {"layer.0.layer_norm.weight", "norm1.weight"},
    {"layer.0.SelfAttention.q.weight", "attn.q.weight"},
    {"layer.0.SelfAttention.k.weight", "attn.k.weight"},
    {"layer.0.SelfAttention.v.weight", "attn.v.weight"},
    {"layer.0.SelfAttention.o.weight", "attn.o.weight"},
    {"layer.0.SelfAttention.relative_attention_bias.weight", "pos_embedding.embedding.weight"},
    {"layer.1.layer_norm.weight", "norm2.weight"},
    {"layer.1.DenseReluDense.wi_0.weight", "ffn.gate.0.weight"},
    {"layer.1.DenseReluDense.wi_1.weight", "ffn.fc1.weight"},
    {"layer.1.DenseReluDense.wo.weight", "ffn.fc2.weight"},
};

int wanc_umt5_hf_name(char *dst, size_t cap, const char *src, void *user)
{
    const bool *has_shared = user;
    if (!strcmp(src, "shared.weight")) return snprintf(dst, cap, "token_embedding.weight") < (int)cap;
    /* tied to shared.weight: the same table, kept only when shared.weight is absent */
    if (!strcmp(src, "encoder.embed_tokens.weight"))
        return !(has_shared && *has_shared) && snprintf(dst, cap, "token_embedding.weight") < (int)cap;
    if (!strcmp(src, "encoder.final_layer_norm.weight")) return snprintf(dst, cap, "norm.weight") < (int)cap;
    int block, used = 0;
    if (sscanf(src, "encoder.block.%d.%n", &block, &used) == 1 && used > 0 && block >= 0)
        for (size_t i = 0; i < sizeof block_map / sizeof block_map[0]; i++)
            if (!strcmp(src + used, block_map[i][0]))
                return snprintf(dst, cap, "blocks.%d.%s", block, block_map[i][1]) < (int)cap;
    return 0;
}

bool wanc_umt5_is_hf(const wanc_weights *w)
{
    return wanc_weights_has(w, "shared.weight") || wanc_weights_has(w, "encoder.block.0.layer.0.SelfAttention.q.weight");
}
