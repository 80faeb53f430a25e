/* The DiT experts of a pipeline (see pipeline_internal.h).
 *
 * Wan2.2 A14B ships two 14B experts, 2 x 28 GB in bf16: the high-noise one
 * for the early steps, the low-noise one after the switch. Holding both would
 * double the memory, so an expert is opened (mmapped; bf16 weights are read in
 * place) when its steps begin and closed, which unmaps its pages, before the
 * other is opened. Opening a safetensors DiT costs its headers, not its data:
 * the pages are only read by the forward that uses them.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pipeline/pipeline_internal.h"

wanc_err pipeline_experts_set_loras(pipeline_experts *x, const wanc_lora_spec *specs, int n, wanc_lora_mode mode,
                                    bool allow_unmatched, char *summary, size_t cap)
{
    x->loras = n > 0 ? calloc((size_t)n, sizeof *x->loras) : NULL;
    if (n > 0 && !x->loras) WANC_FAIL(WANC_ENOMEM, "LoRA list");
    for (int i = 0; i < n; i++) {
        x->loras[i] = specs[i];
        x->loras[i].path = strdup(specs[i].path ? specs[i].path : "");
        x->n_loras = i + 1;
        if (!x->loras[i].path) WANC_FAIL(WANC_ENOMEM, "LoRA list");
    }
    x->lora_mode = mode;
    x->lora_allow_unmatched = allow_unmatched;
    x->lora_summary = summary;
    x->lora_summary_cap = cap;
    return NULL;
}

/* Open expert k with the LoRAs that target it (fused into its weights or
 * attached to its linears), as DiffSynth fuses them into each DiT at load.
 * probe: only to read its config and check its LoRAs bind (it is closed
 * again at once), so they are not applied: fusing a LoRA into a 14B expert
 * is a pass over its weights, done when its steps come. */
static wanc_err open_one(pipeline_experts *x, int k, bool probe)
{
    pipeline_expert *e = &x->e[k];
    char *summary = e->summarized ? NULL : x->lora_summary;
    TRYC((probe ? dit_lora_probe : dit_lora_open)(&e->dl, x->be, e->path, &x->opt, x->loras, x->n_loras, x->lora_mode,
                                                 x->lora_allow_unmatched, k, x->n, summary, x->lora_summary_cap),
         "%s DiT %s", x->n == 1 ? "the" : k == 0 ? "the high-noise" : "the low-noise", e->path);
    e->dit = e->dl.dit;
    e->summarized = true;
    x->opens++;
    if (x->hook) {
        wanc_err err = x->hook(x->hook_user, k, e->dit);
        if (err) {
            dit_lora_free(&e->dl);
            e->dit = NULL;
            return err;
        }
    }
    return NULL;
}

static void release(pipeline_experts *x, int k)
{
    dit_lora_free(&x->e[k].dl); /* the DiT, its store (fused copies) and its run-time terms */
    x->e[k].dit = NULL;
}

/* Shapes two experts must share to take turns on the same latents. */
static wanc_err same_shapes(const wanc_dit_config *a, const wanc_dit_config *b, const char *pa, const char *pb)
{
    if (a->dim != b->dim || a->in_dim != b->in_dim || a->out_dim != b->out_dim || a->text_dim != b->text_dim ||
        a->num_heads != b->num_heads || a->has_image_input != b->has_image_input ||
        memcmp(a->patch, b->patch, sizeof a->patch) != 0)
        WANC_FAIL(WANC_ESHAPE, "the two experts do not fit together: high-noise %s has dim %d, in_dim %d, "
                  "out_dim %d, text_dim %d, %d heads%s; low-noise %s has dim %d, in_dim %d, out_dim %d, "
                  "text_dim %d, %d heads%s", pa, a->dim, a->in_dim, a->out_dim, a->text_dim, a->num_heads,
                  a->has_image_input ? ", CLIP input" : "", pb, b->dim, b->in_dim, b->out_dim, b->text_dim,
                  b->num_heads, b->has_image_input ? ", CLIP input" : "");
    return NULL;
}

wanc_err pipeline_experts_open(pipeline_experts *x, const wanc_backend *be, const wanc_dit_options *opt,
                               const char *const *paths, int n)
{
    if (n < 1 || n > WANC_MAX_EXPERTS) WANC_FAIL(WANC_EINVAL, "%d DiT experts: expected 1 or 2", n);
    x->be = be;
    x->opt = *opt;
    x->n = n;
    for (int k = 0; k < n; k++) snprintf(x->e[k].path, sizeof x->e[k].path, "%s", paths[k]);
    /* Read every expert's config; only expert 0 stays open. */
    for (int k = n - 1; k >= 0; k--) {
        TRY(open_one(x, k, k != 0));
        const wanc_dit_config *c = wanc_dit_get_config(x->e[k].dit);
        if (k == n - 1) x->cfg = *c;
        else TRY(same_shapes(c, &x->cfg, x->e[k].path, x->e[n - 1].path));
        if (k == 0) x->cfg = *c;
        else release(x, k);
    }
    return NULL;
}

void pipeline_experts_free(pipeline_experts *x)
{
    for (int k = 0; k < WANC_MAX_EXPERTS; k++) release(x, k);
    for (int i = 0; i < x->n_loras; i++) free((char *)x->loras[i].path);
    free(x->loras);
    x->loras = NULL;
    x->n_loras = 0;
}

wanc_err pipeline_experts_acquire(pipeline_experts *x, int k, wanc_dit **out)
{
    *out = NULL;
    if (k < 0 || k >= x->n) WANC_FAIL(WANC_EINTERNAL, "expert %d of %d", k, x->n);
    for (int j = 0; j < x->n; j++)
        if (j != k) release(x, j); /* its pages go before the next expert's come in */
    if (!x->e[k].dit) TRY(open_one(x, k, false));
    *out = x->e[k].dit;
    return NULL;
}

int pipeline_expert_for_step(int n_experts, int current, float t, double boundary)
{
    if (n_experts < 2 || current == 1) return current;
    return (double)t < boundary * 1000.0 ? 1 : 0;
}
