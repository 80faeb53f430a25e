/* GGUF (ggml's container): header, key/values, tensor infos, alignment, the
 * data offsets; parsed from memory, and what parses is opened through the
 * weight store as a file too. */
#include <stdlib.h>

#include "fuzz.h"
#include "fuzz_weights_common.h"
#include "io/gguf.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    wanc_gguf *g = NULL;
    wanc_err err = wanc_gguf_parse(data, size, "fuzz.gguf", &g);
    if (err) {
        fuzz_ignore(err);
        return 0;
    }
    /* every tensor lies inside the buffer */
    volatile unsigned sum = 0;
    for (int i = 0; i < g->ntensors; i++)
        if (g->tensors[i].nbytes) sum += data[g->tensors[i].offset] + data[g->tensors[i].offset + g->tensors[i].nbytes - 1];
    for (int i = 0; i < 2 * g->nkv; i++) sum += (unsigned)g->kv[i][0];
    (void)wanc_gguf_get(g, "general.architecture");
    (void)sum;
    wanc_gguf_free(g);
    const char *p = fuzz_file("in.gguf", data, size);
    if (p) fuzz_open_weights(p);
    return 0;
}
