/* Finding a release's model files by their released names.
 *
 * A Wan2.1 release folder (e.g. Wan2.1-T2V-1.3B/) holds
 *   diffusion_pytorch_model*.safetensors   the DiT (one file or shards + index)
 *   models_t5_umt5-xxl-enc-bf16.pth        the UMT5 text encoder
 *   Wan2.1_VAE.pth                         the VAE
 *   google/umt5-xxl/                       the tokenizer
 *   models_clip_open-clip-xlm-roberta-large-vit-huge-14.pth
 *                                          the CLIP image encoder (I2V / FLF2V releases)
 * Wan2.2 releases: A14B (T2V, I2V) keep the two DiT experts in
 * high_noise_model/ and low_noise_model/ (sharded, with an index each) next
 * to Wan2.1_VAE.pth; TI2V-5B has one DiT and Wan2.2_VAE.pth.
 * DiffSynth also accepts same-named .safetensors re-saves of the .pth files,
 * so those are looked for too. Then, per component, the other layouts:
 *   diffusers   transformer/, text_encoder/, vae/, tokenizer/ (+ the DiT's
 *               head count from transformer/config.json)
 *   ComfyUI     diffusion_models/ (or unet/, ComfyUI-GGUF's), text_encoders/,
 *               vae/, clip_vision/ folders, or the repackaged files loose in
 *               the folder: *.gguf, umt5_xxl*.safetensors, wan_2.1_vae*.safetensors,
 *               clip_vision_h*.safetensors
 * A pattern that matches more than one file is an error asking for the flag. */
#include "pipeline/model_files.h"

#include "io/read_file.h"

#include <cjson/cJSON.h>
#include <glob.h>
#include <stdlib.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

static bool exists(const char *path, bool want_dir)
{
    struct stat st;
    return stat(path, &st) == 0 && (want_dir ? S_ISDIR(st.st_mode) : S_ISREG(st.st_mode));
}

/* First of `names` (relative to dir) that exists; the joined path in out. */
static bool find_first(char *out, size_t cap, const char *dir, const char *const *names, bool want_dir)
{
    for (int i = 0; names[i]; i++) {
        snprintf(out, cap, "%s/%s", dir, names[i]);
        if (exists(out, want_dir)) return true;
    }
    return false;
}

/* The one file matching dir/pattern: true and its path in out; false when
 * none; an error when several (naming the flag that chooses). */
static wanc_err find_one(char *out, size_t cap, const char *dir, const char *pattern, const char *flag, bool *found)
{
    char pat[PATH_MAX];
    snprintf(pat, sizeof pat, "%s/%s", dir, pattern);
    glob_t g;
    int rc = glob(pat, 0, NULL, &g);
    size_t n = rc == 0 ? g.gl_pathc : 0;
    if (n == 1) snprintf(out, cap, "%s", g.gl_pathv[0]);
    wanc_err err = n > 1 ? wanc_error(WANC_EINVAL, "%s: %zu files match %s (%s, %s, ...); choose one with %s", dir, n,
                                      pattern, g.gl_pathv[0], g.gl_pathv[1], flag)
                         : NULL;
    globfree(&g);
    *found = n == 1;
    return err;
}

/* The first of `patterns` that matches exactly one file (a pattern matching
 * several is an error). */
static wanc_err find_any(char *out, size_t cap, const char *dir, const char *const *patterns, const char *flag,
                         bool *found)
{
    *found = false;
    for (int i = 0; patterns[i] && !*found; i++) TRY(find_one(out, cap, dir, patterns[i], flag, found));
    return NULL;
}

/* diffusers: num_attention_heads of transformer/config.json (0 when absent). */
static int diffusers_heads(const char *dir)
{
    char p[PATH_MAX], *text = NULL;
    size_t len;
    snprintf(p, sizeof p, "%s/transformer/config.json", dir);
    if (!exists(p, false)) return 0;
    wanc_err e = wanc_read_file(p, 1 << 20, "not a config.json", &text, &len);
    if (e) {
        wanc_error_free(e);
        return 0;
    }
    cJSON *j = cJSON_ParseWithLength(text, len);
    free(text);
    const cJSON *h = j ? cJSON_GetObjectItemCaseSensitive(j, "num_attention_heads") : NULL;
    int heads = cJSON_IsNumber(h) && h->valuedouble > 0 && h->valuedouble < 4096 ? (int)h->valuedouble : 0;
    cJSON_Delete(j);
    return heads;
}

/* The DiT of one folder: an index (sharded release) wins over a glob of the shards. */
static wanc_err find_dit(char *out, size_t cap, const char *dir)
{
    static const char *const dit_index[] = {"diffusion_pytorch_model.safetensors.index.json",
                                            "transformer/diffusion_pytorch_model.safetensors.index.json", NULL};
    static const char *const dit_shards[] = {"diffusion_pytorch_model*.safetensors",
                                             "transformer/diffusion_pytorch_model*.safetensors", NULL};
    static const char *const dit_other[] = {"diffusion_models/*.safetensors", "diffusion_models/*.gguf",
                                            "unet/*.gguf", "*.gguf", NULL};
    if (find_first(out, cap, dir, dit_index, false)) return NULL;
    for (int i = 0; dit_shards[i]; i++) { /* shards: the pattern itself is the path */
        snprintf(out, cap, "%s/%s", dir, dit_shards[i]);
        glob_t g;
        int found = glob(out, 0, NULL, &g) == 0 && g.gl_pathc > 0;
        globfree(&g);
        if (found) return NULL;
    }
    bool found;
    TRY(find_any(out, cap, dir, dit_other, "--dit", &found));
    if (!found)
        WANC_FAIL(WANC_ENOTFOUND, "%s: no DiT found (looked for diffusion_pytorch_model*.safetensors, "
                  "transformer/, diffusion_models/, unet/*.gguf, *.gguf); give it with --dit", dir);
    return NULL;
}

wanc_err wanc_find_model_files(wanc_model_paths *out, const char *dir)
{
    memset(out, 0, sizeof *out);
    if (!exists(dir, true)) WANC_FAIL(WANC_EIO, "model folder %s does not exist or is not a folder", dir);

    /* DiT: the two experts of an A14B release, else the folder's own DiT */
    char sub[PATH_MAX];
    snprintf(sub, sizeof sub, "%s/high_noise_model", dir);
    if (exists(sub, true)) {
        TRY(find_dit(out->dit, sizeof out->dit, sub));
        snprintf(sub, sizeof sub, "%s/low_noise_model", dir);
        if (!exists(sub, true))
            WANC_FAIL(WANC_ENOTFOUND, "%s: high_noise_model/ but no low_noise_model/: a Wan2.2 A14B release has "
                      "both experts; give them with --dit and --dit2", dir);
        TRY(find_dit(out->dit2, sizeof out->dit2, sub));
    } else {
        TRY(find_dit(out->dit, sizeof out->dit, dir));
    }
    out->dit_heads = diffusers_heads(dir);
    bool found;
    static const char *const t5[] = {"models_t5_umt5-xxl-enc-bf16.pth", "models_t5_umt5-xxl-enc-bf16.safetensors",
                                     "text_encoder/model.safetensors.index.json", "text_encoder/model.safetensors",
                                     NULL};
    static const char *const t5_other[] = {"text_encoders/umt5*.safetensors", "umt5*.safetensors",
                                           "text_encoders/umt5*.gguf", NULL};
    if (!find_first(out->t5, sizeof out->t5, dir, t5, false)) {
        TRY(find_any(out->t5, sizeof out->t5, dir, t5_other, "--t5", &found));
        if (!found)
            WANC_FAIL(WANC_ENOTFOUND, "%s: no text encoder found (looked for models_t5_umt5-xxl-enc-bf16.pth "
                      "or .safetensors, text_encoder/, text_encoders/umt5*, umt5*.safetensors); give it with --t5",
                      dir);
    }
    static const char *const vae[] = {"Wan2.1_VAE.pth", "Wan2.1_VAE.safetensors", "Wan2.2_VAE.pth",
                                      "Wan2.2_VAE.safetensors", "vae/diffusion_pytorch_model.safetensors", NULL};
    static const char *const vae_other[] = {"vae/wan_2.1_vae*.safetensors", "wan_2.1_vae*.safetensors", NULL};
    if (!find_first(out->vae, sizeof out->vae, dir, vae, false)) {
        TRY(find_any(out->vae, sizeof out->vae, dir, vae_other, "--vae", &found));
        if (!found)
            WANC_FAIL(WANC_ENOTFOUND, "%s: no VAE found (looked for Wan2.1_VAE.pth, Wan2.2_VAE.pth or their "
                      ".safetensors, vae/, wan_2.1_vae*.safetensors); give it with --vae", dir);
    }
    /* ComfyUI folders carry no tokenizer: leave it to --tokenizer */
    static const char *const tok[] = {"google/umt5-xxl", "tokenizer", NULL};
    if (!find_first(out->tokenizer, sizeof out->tokenizer, dir, tok, true)) out->tokenizer[0] = 0;
    static const char *const clip[] = {WANC_CLIP_RELEASE_NAME ".pth", WANC_CLIP_RELEASE_NAME ".safetensors", NULL};
    static const char *const clip_other[] = {"clip_vision/clip_vision_h*.safetensors", "clip_vision_h*.safetensors",
                                             NULL};
    if (!find_first(out->clip, sizeof out->clip, dir, clip, false)) {
        TRY(find_any(out->clip, sizeof out->clip, dir, clip_other, "--clip", &found));
        if (!found) out->clip[0] = 0;
    }
    static const char *const motion[] = {WANC_MOTION_CONTROLLER_RELEASE_NAME, NULL};
    if (!find_first(out->motion_controller, sizeof out->motion_controller, dir, motion, false))
        out->motion_controller[0] = 0;
    return NULL;
}
