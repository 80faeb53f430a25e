/* wanc — command-line interface (thin layer over include/wanc.h). */
#include <stdint.h>
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

/* Parse a non-negative integer option value; false (with a message) when invalid. */
static int parse_i64(const char *cmd, const char *flag, const char *v, int64_t *out)
{
    char *end;
    long long x = v ? strtoll(v, &end, 10) : -1;
    if (!v || *end || x < 0) {
        fprintf(stderr, "wanc %s: %s needs a non-negative integer\n", cmd, flag);
        return 0;
    }
    *out = x;
    return 1;
}

static int report(const char *cmd, wanc_err err)
{
    if (!err) return 0;
    fprintf(stderr, "wanc %s: %s\n", cmd, wanc_error_message(err));
    wanc_error_free(err);
    return 1;
}

/* wanc random-model --arch A --out FILE [--seed N] [--layers N --vocab N --dim N --ffn N --heads N] */
typedef wanc_err (*random_model_fn)(const char *path, const wanc_random_model_opts *o);
static const struct {
    const char *arch;
    random_model_fn fn;
} random_models[] = {
    {"umt5-xxl", wanc_random_model_umt5},
};

static int cmd_random_model(int argc, char **argv)
{
    const char *arch = NULL, *out = NULL;
    wanc_random_model_opts o = {0};
    int64_t seed = 0;
    for (int i = 0; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        int ok = 1;
        if (!strcmp(a, "--arch")) arch = v;
        else if (!strcmp(a, "--out")) out = v;
        else if (!strcmp(a, "--seed")) ok = parse_i64("random-model", a, v, &seed);
        else if (!strcmp(a, "--layers")) ok = parse_i64("random-model", a, v, &o.layers);
        else if (!strcmp(a, "--vocab")) ok = parse_i64("random-model", a, v, &o.vocab);
        else if (!strcmp(a, "--dim")) ok = parse_i64("random-model", a, v, &o.dim);
        else if (!strcmp(a, "--ffn")) ok = parse_i64("random-model", a, v, &o.dim_ffn);
        else if (!strcmp(a, "--heads")) ok = parse_i64("random-model", a, v, &o.heads);
        else {
            fprintf(stderr, "wanc random-model: unknown option %s\n", a);
            return 2;
        }
        if (!ok) return 2;
        i++;
    }
    o.seed = (uint64_t)seed;
    if (!arch || !out) {
        fprintf(stderr, "wanc random-model: --arch and --out are required\n");
        return 2;
    }
    for (size_t k = 0; k < sizeof random_models / sizeof random_models[0]; k++)
        if (!strcmp(arch, random_models[k].arch)) return report("random-model", random_models[k].fn(out, &o));
    fprintf(stderr, "wanc random-model: unknown --arch %s (known:", arch);
    for (size_t k = 0; k < sizeof random_models / sizeof random_models[0]; k++) fprintf(stderr, " %s", random_models[k].arch);
    fprintf(stderr, ")\n");
    return 2;
}

/* wanc encode-prompt --t5 FILE --tokenizer DIR --prompt TEXT [--ids] [--out F] [--dtype bf16|f32] [--threads N] */
static int cmd_encode_prompt(int argc, char **argv)
{
    wanc_encode_prompt_params p = {.bf16 = 1};
    for (int i = 0; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (!strcmp(a, "--ids")) {
            p.print_ids = 1;
            continue;
        }
        if (!v) {
            fprintf(stderr, "wanc encode-prompt: %s needs a value\n", a);
            return 2;
        }
        if (!strcmp(a, "--t5")) p.t5_path = v;
        else if (!strcmp(a, "--tokenizer")) p.tokenizer_dir = v;
        else if (!strcmp(a, "--prompt")) p.prompt = v;
        else if (!strcmp(a, "--out")) p.out_path = v;
        else if (!strcmp(a, "--dtype")) {
            if (strcmp(v, "bf16") && strcmp(v, "f32")) {
                fprintf(stderr, "wanc encode-prompt: --dtype is bf16 or f32\n");
                return 2;
            }
            p.bf16 = !strcmp(v, "bf16");
        } else if (!strcmp(a, "--threads")) {
            int64_t t;
            if (!parse_i64("encode-prompt", a, v, &t)) return 2;
            p.threads = (int)t;
        } else {
            fprintf(stderr, "wanc encode-prompt: unknown option %s\n", a);
            return 2;
        }
        i++;
    }
    if (!p.tokenizer_dir || !p.prompt || (!p.print_ids && !p.out_path) || (p.out_path && !p.t5_path)) {
        fprintf(stderr, "wanc encode-prompt: needs --tokenizer, --prompt and --ids and/or --t5 with --out\n");
        return 2;
    }
    return report("encode-prompt", wanc_encode_prompt(stdout, &p));
}

static int usage(FILE *f)
{
    fprintf(f,
            "wanc %s — Wan video models in C\n\n"
            "usage:\n"
            "  wanc info FILE...      list every tensor of checkpoint files (name, dtype, shape)\n"
            "  wanc encode-prompt --t5 FILE --tokenizer DIR --prompt TEXT [--ids] [--out FILE.safetensors]\n"
            "                     [--dtype bf16|f32] [--threads N]\n"
            "                         UMT5 prompt embedding prompt_emb [1,512,dim] (--ids: print the token ids)\n"
            "  wanc random-model --arch umt5-xxl --out FILE [--seed N] [--layers N --vocab N --dim N --ffn N --heads N]\n"
            "                         random weights in a released layout (options shrink it)\n",
            WANC_VERSION);
    return f == stdout ? 0 : 2;
}

int main(int argc, char **argv)
{
    if (argc < 2) return usage(stderr);
    if (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h") || !strcmp(argv[1], "help")) return usage(stdout);
    if (!strcmp(argv[1], "info")) return cmd_info(argc - 2, argv + 2);
    if (!strcmp(argv[1], "encode-prompt")) return cmd_encode_prompt(argc - 2, argv + 2);
    if (!strcmp(argv[1], "random-model")) return cmd_random_model(argc - 2, argv + 2);
    fprintf(stderr, "wanc: unknown command '%s'\n", argv[1]);
    return usage(stderr);
}
