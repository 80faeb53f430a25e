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

/* The DiT of one folder: an index (sharded release) wins over a glob of the shards. */
static wanc_err find_dit(char *out, size_t cap, const char *dir)
{
    static const char *const dit_index[] = {"diffusion_pytorch_model.safetensors.index.json", NULL};
    if (find_first(out, cap, dir, dit_index, false)) return NULL;
    snprintf(out, cap, "%s/diffusion_pytorch_model*.safetensors", dir);
    glob_t g;
    int found = glob(out, 0, NULL, &g) == 0 && g.gl_pathc > 0;
    globfree(&g);
    if (!found)
        WANC_FAIL(WANC_ENOTFOUND, "%s: no DiT found (looked for diffusion_pytorch_model*.safetensors); "
                  "give it with --dit", dir);
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
    static const char *const t5[] = {"models_t5_umt5-xxl-enc-bf16.pth", "models_t5_umt5-xxl-enc-bf16.safetensors",
                                     NULL};
    if (!find_first(out->t5, sizeof out->t5, dir, t5, false))
        WANC_FAIL(WANC_ENOTFOUND, "%s: no text encoder found (looked for models_t5_umt5-xxl-enc-bf16.pth "
                  "or .safetensors); give it with --t5", dir);
    static const char *const vae[] = {"Wan2.1_VAE.pth", "Wan2.1_VAE.safetensors", "Wan2.2_VAE.pth",
                                      "Wan2.2_VAE.safetensors", NULL};
    if (!find_first(out->vae, sizeof out->vae, dir, vae, false))
        WANC_FAIL(WANC_ENOTFOUND, "%s: no VAE found (looked for Wan2.1_VAE.pth, Wan2.2_VAE.pth or their "
                  ".safetensors); give it with --vae", dir);
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
