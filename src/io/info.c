/* `wanc info`: list a checkpoint's tensors, one `name<TAB>dtype<TAB>shape` line each;
 * a LoRA file also gets the LoRA reader's summary (the one place io reaches up
 * to src/lora: this is the CLI's inspection tool, not a loader). */
#include <stdio.h>

#include "io/weights.h"
#include "lora/lora.h"
#include "wanc.h"

wanc_err wanc_info_print(FILE *out, const char *path)
{
    wanc_weights *w;
    TRY(wanc_weights_open(&w, path));
    int n = wanc_weights_count(w); /* already sorted by name (byte order) */
    for (int i = 0; i < n; i++) {
        const wanc_tensor *t = wanc_weights_tensor(w, i);
        char s[160];
        fprintf(out, "%s\t%s\t%s\n", wanc_weights_name(w, i), wanc_dtype_name(t->dtype),
                wanc_shape_str(s, sizeof s, t->ndim, t->shape));
    }
    fprintf(out, "tensors: %d\n", n);
    bool is_lora = wanc_lora_is_lora(w);
    wanc_weights_close(w);
    if (is_lora) {
        wanc_lora *l;
        TRY(wanc_lora_open(&l, path));
        wanc_lora_describe(out, l);
        wanc_lora_close(l);
    }
    if (ferror(out)) WANC_FAIL(WANC_EIO, "%s: writing the listing failed", path);
    return NULL;
}
