/* `*.safetensors.index.json`: the weight_map naming the shards. The folder
 * holds two valid shards, a.safetensors and b.safetensors, the index may name. */
#include <stdio.h>
#include <stdlib.h>

#include "fuzz.h"
#include "fuzz_weights_common.h"

static void write_shards(void)
{
    static int done;
    if (done) return;
    done = 1;
    float x[6] = {1, 2, 3, 4, 5, 6};
    const char *names[2] = {"x", "y"};
    wanc_tensor t[2] = {wanc_tensor_wrap(x, WANC_F32, 2, (int64_t[]){2, 3}),
                        wanc_tensor_wrap(x, WANC_F32, 1, (int64_t[]){4})};
    char p[512];
    snprintf(p, sizeof p, "%s/a.safetensors", fuzz_dir());
    fuzz_ignore(wanc_safetensors_write(p, 1, names, t, NULL));
    snprintf(p, sizeof p, "%s/b.safetensors", fuzz_dir());
    fuzz_ignore(wanc_safetensors_write(p, 1, names + 1, t + 1, NULL));
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    write_shards();
    const char *p = fuzz_file("model.safetensors.index.json", data, size);
    if (p) fuzz_open_weights(p);
    return 0;
}
