/* wanc quantize --type T IN OUT.gguf: a Wan DiT as a city96-style GGUF. */
#include <stdio.h>
#include <string.h>

#include "commands.h"
#include "wanc.h"

static int progress(void *user, int done, int total)
{
    (void)user;
    fprintf(stderr, "\r  %d/%d tensors", done, total);
    if (done == total) fputc('\n', stderr);
    return 0;
}

int wanc_cmd_quantize(int argc, char **argv)
{
    const char *type = NULL, *in = NULL, *out = NULL;
    int quiet = 0;
    for (int i = 0; i < argc; i++) {
        if (!strcmp(argv[i], "--type") && i + 1 < argc) type = argv[++i];
        else if (!strcmp(argv[i], "--quiet")) quiet = 1;
        else if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
            printf("usage: wanc quantize --type T [--quiet] IN OUT.gguf\n\n"
                   "Write a Wan DiT (safetensors/pth/GGUF, any layout wanc reads) as a GGUF file laid out as\n"
                   "city96's Wan GGUFs (ComfyUI-GGUF, stable-diffusion.cpp read it). T: F16, Q8_0, Q6_K,\n"
                   "Q5_K_S, Q5_K_M (= Q5_K), Q4_K_S, Q4_K_M (= Q4_K), Q5_0, Q4_0. Only the blocks' attention\n"
                   "and FFN matrices are quantized; small tensors stay F32, the rest F16 (BF16 from a bf16 source).\n");
            return 0;
        } else if (argv[i][0] == '-') {
            fprintf(stderr, "wanc quantize: unknown option %s\n", argv[i]);
            return 2;
        } else if (!in) in = argv[i];
        else if (!out) out = argv[i];
        else {
            fprintf(stderr, "wanc quantize: unexpected argument %s\n", argv[i]);
            return 2;
        }
    }
    if (!type || !in || !out) {
        fprintf(stderr, "usage: wanc quantize --type T IN OUT.gguf (wanc quantize --help)\n");
        return 2;
    }
    wanc_err err = wanc_quantize_dit(in, out, type, quiet ? NULL : progress, NULL);
    if (err) {
        fprintf(stderr, "wanc quantize: %s\n", wanc_error_message(err));
        wanc_error_free(err);
        return 1;
    }
    if (!quiet) fprintf(stderr, "wrote %s (%s)\n", out, type);
    return 0;
}
