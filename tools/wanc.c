/* wanc — command-line interface (thin layer over include/wanc.h). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "wanc.h"

/* wanc info FILE...: every file is listed; any failure makes the exit status 1. */
static int cmd_info(int argc, char **argv)
{
    if (argc < 1) {
        fprintf(stderr, "wanc info: no file given\n");
        return 2;
    }
    int status = 0;
    for (int i = 0; i < argc; i++) {
        if (argc > 1) printf("%s# %s\n", i ? "\n" : "", argv[i]);
        wanc_err err = wanc_info_print(stdout, argv[i]);
        if (err) {
            fflush(stdout);
            fprintf(stderr, "wanc info: %s\n", wanc_error_message(err));
            wanc_error_free(err);
            status = 1;
        }
    }
    return status;
}

static int report(const char *cmd, wanc_err err)
{
    if (!err) return 0;
    fprintf(stderr, "wanc %s: %s\n", cmd, wanc_error_message(err));
    wanc_error_free(err);
    return 1;
}

/* wanc random-model --arch A --out DIR [--layers N] [--dtype bf16|f32] [--seed N]:
 * each arch maps to the library function that writes that component. */
typedef wanc_err (*random_model_fn)(const char *arch, const char *out_dir, int layers, const char *dtype,
                                    unsigned long long seed);
static const struct {
    const char *arch;
    random_model_fn fn;
} random_models[] = {
    {"wan2.1-t2v-1.3b", wanc_random_model_dit},
    {"wan2.1-t2v-14b", wanc_random_model_dit},
    {"wan2.1-i2v-14b", wanc_random_model_dit},
};

static int cmd_random_model(int argc, char **argv)
{
    const char *arch = NULL, *out = NULL, *dtype = NULL;
    int layers = 0;
    unsigned long long seed = 0;
    for (int i = 0; i + 1 < argc; i += 2) {
        if (!strcmp(argv[i], "--arch")) arch = argv[i + 1];
        else if (!strcmp(argv[i], "--out")) out = argv[i + 1];
        else if (!strcmp(argv[i], "--dtype")) dtype = argv[i + 1];
        else if (!strcmp(argv[i], "--layers")) layers = atoi(argv[i + 1]);
        else if (!strcmp(argv[i], "--seed")) seed = strtoull(argv[i + 1], NULL, 10);
        else {
            fprintf(stderr, "wanc random-model: unknown option %s\n", argv[i]);
            return 2;
        }
    }
    if (!arch || !out || argc % 2) {
        fprintf(stderr, "wanc random-model: usage: --arch ARCH --out DIR [--layers N] [--dtype bf16|f32] [--seed N]\n");
        return 2;
    }
    for (size_t i = 0; i < sizeof random_models / sizeof random_models[0]; i++)
        if (!strcmp(random_models[i].arch, arch))
            return report("random-model", random_models[i].fn(arch, out, layers, dtype, seed));
    fprintf(stderr, "wanc random-model: unknown arch '%s'\n", arch);
    return 2;
}

/* wanc bench COMPONENT [options] */
static const struct {
    const char *name;
    wanc_err (*fn)(FILE *out, int argc, char **argv);
} benches[] = {
    {"dit", wanc_bench_dit},
};

static int cmd_bench(int argc, char **argv)
{
    for (size_t i = 0; argc > 0 && i < sizeof benches / sizeof benches[0]; i++)
        if (!strcmp(benches[i].name, argv[0])) return report("bench", benches[i].fn(stdout, argc - 1, argv + 1));
    fprintf(stderr, "wanc bench: unknown or missing component (known: dit)\n");
    return 2;
}

static int usage(FILE *f)
{
    fprintf(f,
            "wanc %s — Wan video models in C\n\n"
            "usage:\n"
            "  wanc info FILE...      list every tensor of checkpoint files (name, dtype, shape)\n"
            "  wanc random-model --arch ARCH --out DIR [--layers N] [--dtype bf16|f32] [--seed N]\n"
            "                         write a random checkpoint with the released names and shapes\n"
            "  wanc bench dit [--arch A] [--layers N] [--latent CxFxHxW] [--context L] [--dtype f32|bf16]\n"
            "                 [--compute fp32|bf16] [--threads N]   time one DiT forward\n",
            WANC_VERSION);
    return f == stdout ? 0 : 2;
}

int main(int argc, char **argv)
{
    if (argc < 2) return usage(stderr);
    if (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h") || !strcmp(argv[1], "help")) return usage(stdout);
    if (!strcmp(argv[1], "info")) return cmd_info(argc - 2, argv + 2);
    if (!strcmp(argv[1], "random-model")) return cmd_random_model(argc - 2, argv + 2);
    if (!strcmp(argv[1], "bench")) return cmd_bench(argc - 2, argv + 2);
    fprintf(stderr, "wanc: unknown command '%s'\n", argv[1]);
    return usage(stderr);
}
