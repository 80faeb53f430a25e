/* Finding a release's model files by their released names.
 *
 * A Wan2.1 release folder (e.g. Wan2.1-T2V-1.3B/) holds
 *   diffusion_pytorch_model*.safetensors   the DiT (one file or shards + index)
 *   models_t5_umt5-xxl-enc-bf16.pth        the UMT5 text encoder
 *   Wan2.1_VAE.pth                         the VAE
 *   google/umt5-xxl/                       the tokenizer
 *   models_clip_open-clip-xlm-roberta-large-vit-huge-14.pth
 *                                          the CLIP image encoder (I2V / FLF2V releases)
 * DiffSynth also accepts same-named .safetensors re-saves of the .pth files,
 * so those are looked for too. */
#include "pipeline/model_files.h"

#include <glob.h>
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

wanc_err wanc_find_model_files(wanc_model_paths *out, const char *dir)
{
    memset(out, 0, sizeof *out);
    if (!exists(dir, true)) WANC_FAIL(WANC_EIO, "model folder %s does not exist or is not a folder", dir);

    /* DiT: an index (sharded release) wins over a glob of the shards. */
    static const char *const dit_index[] = {"diffusion_pytorch_model.safetensors.index.json", NULL};
    if (!find_first(out->dit, sizeof out->dit, dir, dit_index, false)) {
        snprintf(out->dit, sizeof out->dit, "%s/diffusion_pytorch_model*.safetensors", dir);
        glob_t g;
        int found = glob(out->dit, 0, NULL, &g) == 0 && g.gl_pathc > 0;
        globfree(&g);
        if (!found)
            WANC_FAIL(WANC_ENOTFOUND, "%s: no DiT found (looked for diffusion_pytorch_model*.safetensors); "
                      "give it with --dit", dir);
    }
    static const char *const t5[] = {"models_t5_umt5-xxl-enc-bf16.pth", "models_t5_umt5-xxl-enc-bf16.safetensors",
                                     NULL};
    if (!find_first(out->t5, sizeof out->t5, dir, t5, false))
        WANC_FAIL(WANC_ENOTFOUND, "%s: no text encoder found (looked for models_t5_umt5-xxl-enc-bf16.pth "
                  "or .safetensors); give it with --t5", dir);
    static const char *const vae[] = {"Wan2.1_VAE.pth", "Wan2.1_VAE.safetensors", NULL};
    if (!find_first(out->vae, sizeof out->vae, dir, vae, false))
        WANC_FAIL(WANC_ENOTFOUND, "%s: no VAE found (looked for Wan2.1_VAE.pth or .safetensors); give it with --vae",
                  dir);
    static const char *const tok[] = {"google/umt5-xxl", NULL};
    if (!find_first(out->tokenizer, sizeof out->tokenizer, dir, tok, true))
        WANC_FAIL(WANC_ENOTFOUND, "%s: no tokenizer found (looked for the folder google/umt5-xxl/); "
                  "give it with --tokenizer", dir);
    static const char *const clip[] = {WANC_CLIP_RELEASE_NAME ".pth", WANC_CLIP_RELEASE_NAME ".safetensors", NULL};
    if (!find_first(out->clip, sizeof out->clip, dir, clip, false)) out->clip[0] = 0;
    static const char *const motion[] = {WANC_MOTION_CONTROLLER_RELEASE_NAME, NULL};
    if (!find_first(out->motion_controller, sizeof out->motion_controller, dir, motion, false))
        out->motion_controller[0] = 0;
    return NULL;
}
