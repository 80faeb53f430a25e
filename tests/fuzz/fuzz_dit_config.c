/* The stated DiT config (`--dit-config FILE.json`): parsed, then checked
 * against a checkpoint's config as the loader does. */
#include <stdlib.h>
#include <string.h>

#include "dit/dit_internal.h"
#include "fuzz.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *json = malloc(size + 1);
    if (!json) return 0;
    memcpy(json, data, size);
    json[size] = 0;
    dit_stated s;
    fuzz_ignore(dit_config_parse(&s, json));
    wanc_dit_config cfg = {.dim = 64, .in_dim = 16, .out_dim = 16, .ffn_dim = 160, .text_dim = 48, .freq_dim = 256,
                           .num_layers = 2, .num_heads = 2, .eps = 1e-6, .patch = {1, 2, 2}, .vace_num_blocks = 1,
                           .vace_in_dim = 96};
    fuzz_ignore(dit_config_check(&cfg, json));
    free(json);
    return 0;
}
