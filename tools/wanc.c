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

/* wanc random-model --arch ARCH --out FILE [--dtype f32|bf16] [--seed N] [--width N] [--layers N] */
typedef int (*random_model_fn)(const char *out, const char *dtype, unsigned long long seed, int width, int layers);

static int random_vae21(const char *out, const char *dtype, unsigned long long seed, int width, int layers)
{
    (void)layers;
    wanc_err err = wanc_random_vae21(out, dtype, seed, width);
    if (!err) return 0;
    fprintf(stderr, "wanc random-model: %s\n", wanc_error_message(err));
    wanc_error_free(err);
    return 1;
}

static const struct {
    const char *arch;
    random_model_fn fn;
} random_models[] = {
    {"wan2.1-vae", random_vae21},
};

static int cmd_random_model(int argc, char **argv)
{
    const char *arch = NULL, *out = NULL, *dtype = "f32";
    unsigned long long seed = 0;
    int width = 0, layers = 0;
    for (int i = 0; i + 1 < argc; i += 2) {
        if (!strcmp(argv[i], "--arch")) arch = argv[i + 1];
        else if (!strcmp(argv[i], "--out")) out = argv[i + 1];
        else if (!strcmp(argv[i], "--dtype")) dtype = argv[i + 1];
        else if (!strcmp(argv[i], "--seed")) seed = strtoull(argv[i + 1], NULL, 10);
        else if (!strcmp(argv[i], "--width")) width = atoi(argv[i + 1]);
        else if (!strcmp(argv[i], "--layers")) layers = atoi(argv[i + 1]);
        else {
            fprintf(stderr, "wanc random-model: unknown option '%s'\n", argv[i]);
            return 2;
        }
    }
    if (argc % 2 || !arch || !out) {
        fprintf(stderr, "wanc random-model: need --arch ARCH --out FILE\n");
        return 2;
    }
    for (size_t i = 0; i < sizeof random_models / sizeof random_models[0]; i++)
        if (!strcmp(arch, random_models[i].arch)) return random_models[i].fn(out, dtype, seed, width, layers);
    fprintf(stderr, "wanc random-model: unknown arch '%s'\n", arch);
    return 2;
}

static int usage(FILE *f)
{
    fprintf(f,
            "wanc %s — Wan video models in C\n\n"
            "usage:\n"
            "  wanc info FILE...      list every tensor of checkpoint files (name, dtype, shape)\n"
            "  wanc random-model --arch ARCH --out FILE [--dtype f32|bf16] [--seed N] [--width N] [--layers N]\n"
            "                         write a random-weight checkpoint (ARCH: wan2.1-vae)\n",
            WANC_VERSION);
    return f == stdout ? 0 : 2;
}

int main(int argc, char **argv)
{
    if (argc < 2) return usage(stderr);
    if (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h") || !strcmp(argv[1], "help")) return usage(stdout);
    if (!strcmp(argv[1], "info")) return cmd_info(argc - 2, argv + 2);
    if (!strcmp(argv[1], "random-model")) return cmd_random_model(argc - 2, argv + 2);
    fprintf(stderr, "wanc: unknown command '%s'\n", argv[1]);
    return usage(stderr);
}
