/* Internal: what a loaded pipeline holds, shared by its files.
 *
 *   pipeline.c   loading, the run (units, then the sampler loop, then decode)
 *   recipe.c     which family the loaded models are and what that family
 *                needs (the units it runs, its default expert boundary)
 *   experts.c    the DiT experts: one or two (Wan2.2 A14B: high-noise, then
 *                low-noise), only the one in use open
 */
#ifndef WANC_PIPELINE_PIPELINE_INTERNAL_H
#define WANC_PIPELINE_PIPELINE_INTERNAL_H

#include <limits.h>
#include <stdbool.h>

#include "wanc.h"
#include "backend/backend.h"
#include "dit/dit_lora.h"
#include "dit/wan_dit.h"
#include "text/tokenizer.h"
#include "text/umt5.h"
#include "vae/wan_vae.h"
#include "vision/clip.h"

#define WANC_MAX_EXPERTS 2

/* ---- recipes (recipe.c) --------------------------------------------------- */

typedef enum pipeline_family {
    FAMILY_WAN21_T2V,
    FAMILY_WAN21_I2V,      /* also Wan2.1 Fun-InP: y + CLIP */
    FAMILY_WAN21_FLF2V,
    FAMILY_WAN22_A14B_T2V, /* two experts */
    FAMILY_WAN22_A14B_I2V, /* two experts, y without CLIP (also Wan2.2 Fun-A14B-InP) */
    FAMILY_WAN22_TI2V_5B,  /* Wan2.2 VAE, fused first frame */
    FAMILY_FUN_CONTROL,    /* Wan2.1-Fun(-V1.1) Control: y = cat(control, image or 0) */
    FAMILY_FUN_CAMERA,     /* Wan2.1-Fun-V1.1 Control-Camera: control_adapter, y from the first frame */
    FAMILY_WAN21_VACE,     /* a T2V DiT with vace_blocks (VACE 1.3B / 14B) */
    /* the same units with two experts (each expert alone where its shape tells) */
    FAMILY_WAN22_FUN_A14B_CONTROL, /* in_dim 52: y = cat(control, mask + image or 0), ref_conv, no CLIP */
    FAMILY_WAN22_FUN_A14B_CAMERA,  /* in_dim 36 + control_adapter: y = the I2V y, no CLIP */
    FAMILY_WAN22_VACE_FUN_A14B,    /* two VACE-14B-shaped experts, each with its vace_blocks */
} pipeline_family;

/* What a family runs: the conditioning units and the expert rule. */
typedef struct pipeline_recipe {
    pipeline_family family;
    const char *name;        /* "Wan2.2 A14B T2V" */
    bool image_y;            /* ImageEmbedderVAE: y = cat(mask, VAE(image, zeros..)) joins the DiT input */
    bool image_clip;         /* ImageEmbedderCLIP: CLIP tokens join the context */
    bool fused_first_frame;  /* ImageEmbedderFused: the image's latents are frame 0 (TI2V-5B) */
    bool image_required;     /* --input-image must be given */
    bool image_allowed;      /* --input-image may be given */
    bool end_image_required; /* FLF2V */
    int experts;             /* 1, or 2 (high-noise, low-noise): how many this run has */
    float default_boundary;  /* switch_DiT_boundary when the run gives none; > 0 only for the
                              * families released as two experts */
} pipeline_recipe;

/* The family of a DiT config (the high-noise expert's, as DiffSynth's units
 * look only at `dit`) with `experts` DiTs and this VAE; a named error for a
 * pairing that cannot work. dit_path / vae_path name the files in messages. */
wanc_err pipeline_recipe_detect(pipeline_recipe *r, const wanc_dit_config *dc, int experts, const wanc_vae *vae,
                                const char *dit_path, const char *vae_path);

/* ---- experts (experts.c) -------------------------------------------------- */

/* Called each time an expert is opened (LoRA fusion, per-expert adapters):
 * `expert` 0 = high-noise / the only DiT, 1 = low-noise. */
typedef wanc_err (*pipeline_expert_hook)(void *user, int expert, wanc_dit *dit);

typedef struct pipeline_expert {
    char path[PATH_MAX];
    wanc_dit *dit; /* NULL while released (= dl.dit) */
    dit_with_lora dl; /* the DiT with its store (fused LoRAs live there) and run-time LoRA terms */
    bool summarized;  /* its LoRA lines are in the summary */
} pipeline_expert;

typedef struct pipeline_experts {
    const wanc_backend *be;
    wanc_dit_options opt;
    pipeline_expert e[WANC_MAX_EXPERTS];
    int n;
    wanc_dit_config cfg; /* expert 0's (every expert has the same shapes) */
    pipeline_expert_hook hook;
    void *hook_user;
    int opens;           /* how many times an expert was opened (for tests) */
    /* LoRAs (pipeline_experts_set_loras): each expert is opened with those that target it */
    wanc_lora_spec *loras; /* owned copies (paths included): experts reopen after the call */
    int n_loras;
    wanc_lora_mode lora_mode;
    bool lora_allow_unmatched;
    char *lora_summary;    /* one line per LoRA per expert, the first time it opens */
    size_t lora_summary_cap;
} pipeline_experts;

/* Before pipeline_experts_open: the LoRAs every expert opens with (copied). */
wanc_err pipeline_experts_set_loras(pipeline_experts *x, const wanc_lora_spec *specs, int n, wanc_lora_mode mode,
                                    bool allow_unmatched, char *summary, size_t cap);

/* Open each path once to read and compare the configs, keep expert 0 open. */
wanc_err pipeline_experts_open(pipeline_experts *x, const wanc_backend *be, const wanc_dit_options *opt,
                               const char *const *paths, int n);
void pipeline_experts_free(pipeline_experts *x);
/* The expert k, open; every other expert is released (unmapped) first, so
 * only one expert's weights are ever resident. */
wanc_err pipeline_experts_acquire(pipeline_experts *x, int k, wanc_dit **out);
/* DiffSynth's rule, checked before a step's DiT calls: once the float32
 * timestep t is below boundary * 1000 (compared in double) the low-noise
 * expert takes over and keeps the remaining steps. `current` is the expert
 * of the previous step (0 at the first). */
int pipeline_expert_for_step(int n_experts, int current, float t, double boundary);

/* ---- the demo's pieces (demo.c), shared with random_release.c --------------- */

/* The demo's tokenizer.json: specials, byte fallback, printable ASCII. */
wanc_err wanc_demo_write_tokenizer(const char *path);
/* mkdir that accepts an existing folder. */
wanc_err wanc_make_dir(const char *dir);

/* ---- the pipeline ------------------------------------------------------- */

struct wanc_pipeline {
    const wanc_backend *be;
    wanc_precision precision;
    wanc_tokenizer *tok;
    wanc_umt5 *t5;
    pipeline_experts experts;
    wanc_vae *vae;
    wanc_weights *clip_w; /* CLIP image models only */
    wanc_clip *clip;
    wanc_weights *motion_w; /* speed control, when its file is given or found */
    wanc_motion_controller *motion;
    pipeline_recipe recipe;
    char *dit_config;     /* the stated DiT config (JSON), or NULL; every expert opens with it */
    char description[384];
    char lora_summary[2048];
};

#endif
