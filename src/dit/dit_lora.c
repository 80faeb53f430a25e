/* A DiT with LoRAs: open the store, map each LoRA onto the DiT's names,
 * fuse (all, or all but the linears in run-time mode), load the DiT over the
 * store, attach the run-time terms. */
#include <stdlib.h>
#include <string.h>

#include "dit/dit_lora.h"

static const char *target_name(wanc_lora_target t)
{
    return t == WANC_LORA_HIGH_NOISE ? "high-noise expert" : t == WANC_LORA_LOW_NOISE ? "low-noise expert"
                                                                                        : "every expert";
}

static bool applies(const wanc_lora_spec *s, int expert, int nexperts)
{
    if (s->target == WANC_LORA_ALL_EXPERTS) return true;
    return nexperts == 2 && expert == (s->target == WANC_LORA_HIGH_NOISE ? 0 : 1);
}

/* bind_only: every LoRA is opened and bound (its keys checked, its summary
 * line written) but neither fused nor attached: the DiT is the base one. */
static wanc_err open_with(dit_with_lora *out, const wanc_backend *be, const char *path, const wanc_dit_options *opt,
                          const wanc_lora_spec *specs, int n, wanc_lora_mode mode, bool allow_unmatched, int expert,
                          int nexperts, char *summary, size_t cap, bool bind_only)
{
    memset(out, 0, sizeof *out);
    for (int i = 0; i < n; i++)
        if (specs[i].target != WANC_LORA_ALL_EXPERTS && nexperts != 2)
            WANC_FAIL(WANC_EINVAL, "LoRA %s targets the %s, but this model has one DiT (a Wan2.2 A14B model has "
                      "two experts); apply it to the DiT (--lora)", specs[i].path, target_name(specs[i].target));
    wanc_lora **loras = calloc((size_t)(n ? n : 1), sizeof *loras);
    wanc_lora_use *uses = calloc((size_t)(n ? n : 1), sizeof *uses);
    int nuse = 0;
    wanc_err err = NULL;
    if (!loras || !uses) TRY_GOTO(err, done, wanc_error(WANC_ENOMEM, "LoRA: out of memory"));
    TRY_GOTO(err, done, wanc_weights_open(&out->store, path));
    /* the LoRAs bind to native names: rename a diffusers DiT first (wanc_dit_load would) */
    if (wanc_dit_is_diffusers(out->store))
        TRY_GOTO(err, done, wanc_weights_rename(out->store, wanc_dit_diffusers_name, NULL));
    for (int i = 0; i < n; i++) {
        if (!applies(&specs[i], expert, nexperts)) continue;
        wanc_lora *l;
        TRY_GOTO(err, done, wanc_lora_open(&l, specs[i].path));
        loras[nuse] = l;
        uses[nuse++] = (wanc_lora_use){l, specs[i].strength};
        int unmatched = 0;
        TRY_GOTO(err, done, wanc_lora_bind(l, out->store, wanc_dit_diffusers_name, NULL, allow_unmatched, &unmatched));
        if (!summary) continue;
        size_t used = strlen(summary);
        if (used < cap)
            snprintf(summary + used, cap - used, "%sLoRA %s: %s dialect, %d layers, strength %g, %s%s%s", used ? "\n" : "",
                     specs[i].path, wanc_lora_dialect_name(l->dialect), l->nlayers, (double)specs[i].strength,
                     mode == WANC_LORA_RUNTIME ? "run time" : "fused", nexperts == 2 ? ", " : "",
                     nexperts == 2 ? (expert ? "low-noise expert" : "high-noise expert") : "");
        used = strlen(summary);
        if (unmatched && used < cap)
            snprintf(summary + used, cap - used, "; warning: %d keys matched no DiT parameter and were ignored",
                     unmatched);
    }
    const int napply = bind_only ? 0 : nuse;
    TRY_GOTO(err, done, wanc_lora_fuse(out->store, uses, napply,
                                       mode == WANC_LORA_RUNTIME ? WANC_LORA_FUSE_ALL_BUT_LINEAR : WANC_LORA_FUSE_ALL,
                                       NULL));
    if (mode == WANC_LORA_RUNTIME && napply)
        TRY_GOTO(err, done, wanc_lora_runtime_build(&out->lora_rt, be, out->store, uses, napply));
    TRY_GOTO(err, done, wanc_dit_load(&out->dit, be, out->store, opt));
    if (out->lora_rt) TRY_GOTO(err, done, wanc_dit_set_lora(out->dit, out->lora_rt));
done:
    for (int i = 0; i < nuse; i++) wanc_lora_close(loras[i]);
    free(loras);
    free(uses);
    if (err) dit_lora_free(out);
    return err;
}

wanc_err dit_lora_open(dit_with_lora *out, const wanc_backend *be, const char *path, const wanc_dit_options *opt,
                       const wanc_lora_spec *specs, int n, wanc_lora_mode mode, bool allow_unmatched, int expert,
                       int nexperts, char *summary, size_t cap)
{
    return open_with(out, be, path, opt, specs, n, mode, allow_unmatched, expert, nexperts, summary, cap, false);
}

wanc_err dit_lora_probe(dit_with_lora *out, const wanc_backend *be, const char *path, const wanc_dit_options *opt,
                        const wanc_lora_spec *specs, int n, wanc_lora_mode mode, bool allow_unmatched, int expert,
                        int nexperts, char *summary, size_t cap)
{
    return open_with(out, be, path, opt, specs, n, mode, allow_unmatched, expert, nexperts, summary, cap, true);
}

void dit_lora_free(dit_with_lora *d)
{
    wanc_dit_free(d->dit);
    wanc_lora_runtime_free(d->lora_rt);
    wanc_weights_close(d->store);
    memset(d, 0, sizeof *d);
}
