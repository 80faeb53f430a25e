/* wanc — command-line interface (thin layer over include/wanc.h). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "commands.h"
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

static int report(const char *cmd, wanc_err err)
{
    if (!err) return 0;
    fprintf(stderr, "wanc %s: %s\n", cmd, wanc_error_message(err));
    wanc_error_free(err);
    return 1;
}

/* wanc random-model --arch A --out PATH [--layers N] [--dtype bf16|f32] [--seed N] [--width N]:
 * each arch maps to the library function that writes that component. */
typedef struct {
    const char *arch, *out, *dtype;
    int layers, width;
    unsigned long long seed;
} random_model_args;

static wanc_err random_dit(const random_model_args *a)
{
    return wanc_random_model_dit(a->arch, a->out, a->layers, a->dtype, a->seed);
}

static wanc_err random_vae21(const random_model_args *a)
{
    return wanc_random_vae21(a->out, a->dtype ? a->dtype : "f32", a->seed, a->width);
}

static wanc_err random_clip(const random_model_args *a)
{
    return wanc_random_clip(a->out, a->dtype ? a->dtype : "f32", a->seed, a->width, a->layers);
}

static const struct {
    const char *arch;
    wanc_err (*fn)(const random_model_args *a);
    const char *what;
} random_models[] = {
    {"wan2.1-t2v-1.3b", random_dit, "DiT, DIR/diffusion_pytorch_model.safetensors"},
    {"wan2.1-t2v-14b", random_dit, "DiT, DIR/diffusion_pytorch_model.safetensors"},
    {"wan2.1-i2v-14b", random_dit, "DiT, DIR/diffusion_pytorch_model.safetensors"},
    {"wan2.1-vae", random_vae21, "VAE, one .safetensors file"},
    {"clip-vit-h-14", random_clip, "CLIP image tower, one .safetensors file"},
};

static int cmd_random_model(int argc, char **argv)
{
    random_model_args a = {0};
    for (int i = 0; i + 1 < argc; i += 2) {
        if (!strcmp(argv[i], "--arch")) a.arch = argv[i + 1];
        else if (!strcmp(argv[i], "--out")) a.out = argv[i + 1];
        else if (!strcmp(argv[i], "--dtype")) a.dtype = argv[i + 1];
        else if (!strcmp(argv[i], "--layers")) a.layers = atoi(argv[i + 1]);
        else if (!strcmp(argv[i], "--width")) a.width = atoi(argv[i + 1]);
        else if (!strcmp(argv[i], "--seed")) a.seed = strtoull(argv[i + 1], NULL, 10);
        else {
            fprintf(stderr, "wanc random-model: unknown option %s\n", argv[i]);
            return 2;
        }
    }
    if (!a.arch || !a.out || argc % 2) {
        fprintf(stderr, "wanc random-model: usage: --arch ARCH --out PATH [--layers N] [--dtype bf16|f32] [--seed N]\n");
        return 2;
    }
    for (size_t i = 0; i < sizeof random_models / sizeof random_models[0]; i++)
        if (!strcmp(random_models[i].arch, a.arch)) return report("random-model", random_models[i].fn(&a));
    fprintf(stderr, "wanc random-model: unknown arch '%s'\n", a.arch);
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
            "  wanc generate --prompt TEXT --model-dir DIR [options]\n"
            "                         text-to-video (or video-to-video); wanc generate --help lists every option\n"
            "  wanc demo              build a tiny untrained model and run the whole pipeline on it\n"
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
    if (!strcmp(argv[1], "generate")) return wanc_cmd_generate(argc - 2, argv + 2);
    if (!strcmp(argv[1], "demo")) return wanc_cmd_demo(argc - 2, argv + 2);
    if (!strcmp(argv[1], "info")) return cmd_info(argc - 2, argv + 2);
    if (!strcmp(argv[1], "random-model")) return cmd_random_model(argc - 2, argv + 2);
    if (!strcmp(argv[1], "bench")) return cmd_bench(argc - 2, argv + 2);
    fprintf(stderr, "wanc: unknown command '%s'\n", argv[1]);
    return usage(stderr);
}
