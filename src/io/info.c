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

/* "DiT: ..." for a Wan DiT file with its patch embedding: the family its
 * shapes say (the pipeline tells it again with the VAE and the expert count). */
static void print_dit_family(FILE *out, const wanc_weights *w)
{
    const wanc_tensor *pe = wanc_weights_find(w, "patch_embedding.weight"), *head = wanc_weights_find(w, "head.head.weight");
    if (!pe || pe->ndim != 5 || !head || head->ndim != 2) return;
    const int64_t in = pe->shape[1], out_c = head->shape[0] / (pe->shape[2] * pe->shape[3] * pe->shape[4]);
    const bool clip = wanc_weights_has(w, "img_emb.proj.0.weight"), ref = wanc_weights_has(w, "ref_conv.weight");
    int vace = 0;
    char name[48];
    for (;; vace++) {
        snprintf(name, sizeof name, "vace_blocks.%d.modulation", vace);
        if (!wanc_weights_has(w, name)) break;
    }
    const char *f = out_c == 48 ? "Wan2.2 TI2V-5B"
        : wanc_weights_has(w, "control_adapter.conv.weight")
            ? (clip ? "Wan2.1 Fun Control-Camera" : "Wan2.2 Fun-A14B-Control-Camera (one expert)")
        : in == 3 * out_c || in == 3 * out_c + 4 ? (clip ? "Wan2.1 Fun Control" : "Wan2.2 Fun-A14B-Control (one expert)")
        : vace ? "VACE (Wan2.1-VACE, or one expert of Wan2.2-VACE-Fun-A14B)"
        : in == out_c ? "T2V (Wan2.1 T2V, or one expert of Wan2.2 T2V-A14B)"
        : in == 2 * out_c + 4 ? (clip ? (wanc_weights_has(w, "img_emb.emb_pos") ? "Wan2.1 FLF2V" : "Wan2.1 I2V / Fun-InP")
                                      : "Wan2.2 I2V-A14B / Fun-A14B-InP (one expert)")
        : "unknown";
    int layers = 0;
    for (;; layers++) {
        snprintf(name, sizeof name, "blocks.%d.modulation", layers);
        if (!wanc_weights_has(w, name)) break;
    }
    fprintf(out, "DiT: %s; in_dim %lld, dim %lld, %d layers", f, (long long)in, (long long)pe->shape[0], layers);
    /* the head count is in no tensor's shape: a file may state it (wanc
     * train and the random models write num_heads); else the loader takes
     * dim/128, which every Wan release has */
    const char *heads = wanc_weights_metadata(w, "num_heads");
    const int64_t dim = pe->shape[0];
    if (heads) fprintf(out, ", %s heads", heads);
    else if (dim >= 128) fprintf(out, ", heads not stated (dim/128 = %lld)", (long long)(dim / 128));
    else fprintf(out, ", heads not stated (dim < 128: give them, e.g. --dit-heads)");
    fprintf(out, "%s%s", clip ? ", CLIP input" : "", ref ? ", ref_conv" : "");
    if (vace) fprintf(out, ", %d VACE blocks", vace);
    fprintf(out, "\n");
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
    print_dit_family(out, w);
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
