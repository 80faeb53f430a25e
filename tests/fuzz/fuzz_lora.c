/* LoRA files: key dialects (DiffSynth/peft, kohya, diffusers), layer grouping,
 * alpha/rank, binding to a model's parameters (names and shapes) and fusing.
 * The model is the small DiT of tests/data/fixtures/lora_dit (run from the
 * repository root, as make does); seeds are that case's LoRA files. */
#include <stdlib.h>

#include "dit/wan_dit.h"
#include "fuzz.h"
#include "lora/lora.h"

#define MODEL "tests/data/fixtures/lora_dit/diffusion_pytorch_model.safetensors"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *p = fuzz_file("lora.safetensors", data, size);
    if (!p) return 0;
    wanc_lora *l = NULL;
    wanc_err err = wanc_lora_open(&l, p);
    if (err) {
        fuzz_ignore(err);
        return 0;
    }
    wanc_weights *model = NULL;
    if (!(err = wanc_weights_open(&model, MODEL))) {
        int unmatched = 0;
        err = wanc_lora_bind(l, model, wanc_dit_diffusers_name, NULL, true, &unmatched);
        wanc_lora_use use = {l, 0.5f};
        if (!err) err = wanc_lora_fuse(model, &use, 1, WANC_LORA_FUSE_ALL, NULL);
    }
    fuzz_ignore(err);
    wanc_weights_close(model);
    wanc_lora_close(l);
    return 0;
}
