/* `wanc info`: list a checkpoint's tensors, one `name<TAB>dtype<TAB>shape` line each,
 * then what the file is: its container, quantization and tensor-type mix; a LoRA
 * file also gets the LoRA reader's summary (the one place io reaches up to
 * src/lora: this is the CLI's inspection tool, not a loader). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "io/gguf.h"
#include "io/weights.h"
#include "lora/lora.h"
#include "wanc.h"

/* Which model and key layout the names say (a probe name → a description). */
static void print_layout(FILE *out, const wanc_weights *w)
{
    static const char *const probes[][2] = {
        {"condition_embedder.time_proj.weight", "Wan DiT, diffusers names (WanTransformer3DModel)"},
        {"blocks.0.self_attn.q.weight", "Wan DiT, original names"},
        {"encoder.block.0.layer.0.SelfAttention.q.weight", "UMT5 encoder, Hugging Face T5 names (ComfyUI umt5_xxl / diffusers text_encoder)"},
        {"blocks.0.attn.q.weight", "UMT5 encoder, Wan names"},
        {"decoder.conv_in.weight", "Wan VAE, diffusers names (AutoencoderKLWan)"},
        {"decoder.conv1.weight", "Wan VAE, original names (Wan2.1_VAE.pth / ComfyUI wan_2.1_vae)"},
        {"vision_model.embeddings.patch_embedding.weight", "CLIP vision tower, Hugging Face names (ComfyUI clip_vision_h)"},
        {"visual.patch_embedding.weight", "CLIP image encoder, open-clip names"},
    };
    for (size_t i = 0; i < sizeof probes / sizeof probes[0]; i++) {
        const char *name = probes[i][0];
        if (!wanc_weights_has(w, name)) continue;
        /* the stored name tells whether a wrapper prefix was stripped */
        bool prefixed = false;
        for (int k = 0; k < wanc_weights_count(w) && !prefixed; k++)
            prefixed = !strncmp(wanc_weights_name(w, k), "model.diffusion_model.", 22);
        fprintf(out, "layout: %s%s\n", probes[i][1], prefixed ? " under ComfyUI's model.diffusion_model. prefix" : "");
        return;
    }
}

/* "format: GGUF v3, ..., file type Q4_K_S" / "format: ComfyUI scaled fp8 ..." (nothing
 * for plain files), then the count of tensors per stored type. */
static void print_format(FILE *out, const wanc_weights *w)
{
    const char *gv = wanc_weights_metadata(w, "gguf.version");
    const wanc_tensor *m;
    if (gv) {
        const char *ft = wanc_weights_metadata(w, "general.file_type");
        const char *arch = wanc_weights_metadata(w, "general.architecture");
        const char *ftn = ft ? wanc_gguf_file_type_name(atoi(ft)) : NULL;
        fprintf(out, "format: GGUF v%s, architecture %s, file type %s\n", gv, arch ? arch : "?",
                ftn ? ftn : (ft ? ft : "?"));
    } else if ((m = wanc_weights_find(w, "scaled_fp8"))) {
        fprintf(out, "format: ComfyUI scaled fp8 (%s, per-tensor scale_weight)\n",
                m->dtype == WANC_F8_E5M2 ? "e5m2" : "e4m3fn");
    }
    int count[WANC_DTYPE_COUNT] = {0};
    for (int i = 0; i < wanc_weights_count(w); i++) count[wanc_weights_tensor(w, i)->dtype]++;
    fprintf(out, "tensor types:");
    for (int d = 0; d < WANC_DTYPE_COUNT; d++)
        if (count[d]) fprintf(out, " %s %d", wanc_dtype_name((wanc_dtype)d), count[d]);
    fprintf(out, "\n");
}

wanc_err wanc_info_print(FILE *out, const char *path)
{
    wanc_weights *w;
    TRY(wanc_weights_open(&w, path));
    int n = wanc_weights_count(w); /* already sorted by name (byte order) */
    for (int i = 0; i < n; i++) {
        const wanc_tensor *t = wanc_weights_tensor(w, i);
        char s[160];
        fprintf(out, "%s\t%s\t%s\n", wanc_weights_name(w, i), wanc_dtype_name(t->dtype),
                wanc_shape_str(s, sizeof s, t->ndim, t->shape));
    }
    fprintf(out, "tensors: %d\n", n);
    print_format(out, w);
    print_layout(out, w);
    bool is_lora = wanc_lora_is_lora(w);
    wanc_weights_close(w);
    if (is_lora) {
        wanc_lora *l;
        TRY(wanc_lora_open(&l, path));
        wanc_lora_describe(out, l);
        wanc_lora_close(l);
    }
    if (ferror(out)) WANC_FAIL(WANC_EIO, "%s: writing the listing failed", path);
    return NULL;
}
