/* Diffusers → native Wan DiT tensor names (the map DiffSynth applies to
 * diffusers-format Wan checkpoints). Unmapped names are dropped, as there. */
#include <stdio.h>
#include <string.h>

#include "dit/wan_dit.h"

/* Per-block names (after "blocks.N."). */
static const char *const block_map[][2] = {
    {"attn1.to_q.", "self_attn.q."},         {"attn1.to_k.", "self_attn.k."},
    {"attn1.to_v.", "self_attn.v."},         {"attn1.to_out.0.", "self_attn.o."},
    {"attn1.norm_q.", "self_attn.norm_q."},  {"attn1.norm_k.", "self_attn.norm_k."},
    {"attn2.to_q.", "cross_attn.q."},        {"attn2.to_k.", "cross_attn.k."},
    {"attn2.to_v.", "cross_attn.v."},        {"attn2.to_out.0.", "cross_attn.o."},
    {"attn2.norm_q.", "cross_attn.norm_q."}, {"attn2.norm_k.", "cross_attn.norm_k."},
    {"attn2.add_k_proj.", "cross_attn.k_img."}, {"attn2.add_v_proj.", "cross_attn.v_img."},
    {"attn2.norm_added_k.", "cross_attn.norm_k_img."},
    {"ffn.net.0.proj.", "ffn.0."},           {"ffn.net.2.", "ffn.2."},
    {"norm2.", "norm3."}, /* diffusers' affine cross-attention norm is Wan's norm3 */
};

/* Whole names outside the blocks (prefix match, the rest kept: ".weight"/".bias"). */
static const char *const top_map[][2] = {
    {"condition_embedder.text_embedder.linear_1.", "text_embedding.0."},
    {"condition_embedder.text_embedder.linear_2.", "text_embedding.2."},
    {"condition_embedder.time_embedder.linear_1.", "time_embedding.0."},
    {"condition_embedder.time_embedder.linear_2.", "time_embedding.2."},
    {"condition_embedder.time_proj.", "time_projection.1."},
    {"condition_embedder.image_embedder.norm1.", "img_emb.proj.0."},
    {"condition_embedder.image_embedder.ff.net.0.proj.", "img_emb.proj.1."},
    {"condition_embedder.image_embedder.ff.net.2.", "img_emb.proj.3."},
    {"condition_embedder.image_embedder.norm2.", "img_emb.proj.4."},
    {"patch_embedding.", "patch_embedding."},
    {"proj_out.", "head.head."},
};

static int suffix_ok(const char *s) { return !strcmp(s, "weight") || !strcmp(s, "bias"); }

int wanc_dit_diffusers_name(char *dst, size_t cap, const char *src, void *user)
{
    (void)user;
    if (!strcmp(src, "scale_shift_table")) return snprintf(dst, cap, "head.modulation") < (int)cap;
    for (size_t i = 0; i < sizeof top_map / sizeof top_map[0]; i++) {
        size_t n = strlen(top_map[i][0]);
        if (!strncmp(src, top_map[i][0], n) && suffix_ok(src + n))
            return snprintf(dst, cap, "%s%s", top_map[i][1], src + n) < (int)cap;
    }
    int block, used = 0;
    if (sscanf(src, "blocks.%d.%n", &block, &used) == 1 && used > 0 && block >= 0) {
        const char *rest = src + used;
        if (!strcmp(rest, "scale_shift_table"))
            return snprintf(dst, cap, "blocks.%d.modulation", block) < (int)cap;
        for (size_t i = 0; i < sizeof block_map / sizeof block_map[0]; i++) {
            size_t n = strlen(block_map[i][0]);
            if (!strncmp(rest, block_map[i][0], n) && suffix_ok(rest + n))
                return snprintf(dst, cap, "blocks.%d.%s%s", block, block_map[i][1], rest + n) < (int)cap;
        }
    }
    return 0;
}

bool wanc_dit_is_diffusers(const wanc_weights *w)
{
    return wanc_weights_has(w, "condition_embedder.time_proj.weight") || wanc_weights_has(w, "proj_out.weight") ||
           wanc_weights_has(w, "blocks.0.attn1.to_q.weight");
}

/* The inverse map (native → diffusers), for writing diffusers-named copies. */
int wanc_dit_native_to_diffusers_name(char *dst, size_t cap, const char *src, void *user)
{
    (void)user;
    static const char *const m[][2] = {
        {"self_attn.q.", "attn1.to_q."}, {"self_attn.k.", "attn1.to_k."}, {"self_attn.v.", "attn1.to_v."},
        {"self_attn.o.", "attn1.to_out.0."}, {"self_attn.norm_q.", "attn1.norm_q."},
        {"self_attn.norm_k.", "attn1.norm_k."}, {"cross_attn.q.", "attn2.to_q."}, {"cross_attn.k.", "attn2.to_k."},
        {"cross_attn.v.", "attn2.to_v."}, {"cross_attn.o.", "attn2.to_out.0."},
        {"cross_attn.norm_q.", "attn2.norm_q."}, {"cross_attn.norm_k.", "attn2.norm_k."},
        {"cross_attn.k_img.", "attn2.add_k_proj."}, {"cross_attn.v_img.", "attn2.add_v_proj."},
        {"cross_attn.norm_k_img.", "attn2.norm_added_k."}, {"ffn.0.", "ffn.net.0.proj."},
        {"ffn.2.", "ffn.net.2."}, {"norm3.", "norm2."}, {"modulation", "scale_shift_table"},
        {"text_embedding.0.", "condition_embedder.text_embedder.linear_1."},
        {"text_embedding.2.", "condition_embedder.text_embedder.linear_2."},
        {"time_embedding.0.", "condition_embedder.time_embedder.linear_1."},
        {"time_embedding.2.", "condition_embedder.time_embedder.linear_2."},
        {"time_projection.1.", "condition_embedder.time_proj."},
        {"img_emb.proj.0.", "condition_embedder.image_embedder.norm1."},
        {"img_emb.proj.1.", "condition_embedder.image_embedder.ff.net.0.proj."},
        {"img_emb.proj.3.", "condition_embedder.image_embedder.ff.net.2."},
        {"img_emb.proj.4.", "condition_embedder.image_embedder.norm2."},
        {"head.head.", "proj_out."}, {"head.modulation", "scale_shift_table"},
    };
    const char *rest = src, *blk = strstr(src, "blocks.") == src ? strchr(src + 7, '.') : NULL;
    if (blk) rest = blk + 1;
    for (size_t i = 0; i < sizeof m / sizeof m[0]; i++) {
        size_t n = strlen(m[i][0]);
        if (!strncmp(rest, m[i][0], n)) {
            return snprintf(dst, cap, "%.*s%s%s", (int)(rest - src), src, m[i][1], rest + n) < (int)cap;
        }
    }
    if (!strncmp(src, "patch_embedding.", 16)) return snprintf(dst, cap, "%s", src) < (int)cap;
    return 0; /* no diffusers name (e.g. img_emb.emb_pos) */
}
