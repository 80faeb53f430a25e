/* Loading a DiT with LoRAs (fused or at run time): used by the pipeline and `wanc bench dit`. */
#ifndef WANC_DIT_DIT_LORA_H
#define WANC_DIT_DIT_LORA_H

#include "dit/wan_dit.h"
#include "lora/lora.h"
#include "wanc.h"

/* A DiT and what it keeps alive: its store (fused weights live there) and the
 * run-time LoRA terms attached to its linears. */
typedef struct {
    wanc_dit *dit;
    wanc_weights *store;
    wanc_lora_runtime *lora_rt;
} dit_with_lora;

/* Open the DiT at `path` as expert `expert` of `nexperts` (1: Wan2.1 / TI2V;
 * 2: Wan2.2 A14B, 0 = high-noise, 1 = low-noise) with every LoRA of `specs`
 * whose target includes this expert, applied as `mode` says. A LoRA targeting
 * one expert of a one-expert model is a named error. Appends one line per
 * LoRA to summary (cap bytes; NULL: none). */
wanc_err dit_lora_open(dit_with_lora *out, const wanc_backend *be, const char *path, const wanc_dit_options *opt,
                       const wanc_lora_spec *specs, int n, wanc_lora_mode mode, bool allow_unmatched, int expert,
                       int nexperts, char *summary, size_t cap);
/* The same, but the LoRAs are only bound (a key that fits nothing is still
 * an error, the summary line is still written), not applied: the base DiT,
 * for reading an expert's config before its steps come. */
wanc_err dit_lora_probe(dit_with_lora *out, const wanc_backend *be, const char *path, const wanc_dit_options *opt,
                        const wanc_lora_spec *specs, int n, wanc_lora_mode mode, bool allow_unmatched, int expert,
                        int nexperts, char *summary, size_t cap);
void dit_lora_free(dit_with_lora *d);

#endif
