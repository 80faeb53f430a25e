/* The CLI's flag parsing, kept apart from running so it can be tested and
 * fuzzed on its own (tests/fuzz/fuzz_cli_args.c): nothing here opens a file,
 * loads a model or prints; a bad command line gives 2 and a message. */
#ifndef WANC_TOOLS_CLI_ARGS_H
#define WANC_TOOLS_CLI_ARGS_H

#include <limits.h>
#include <stdbool.h>
#include <stddef.h>

#include "cli_conds.h"
#include "wanc.h"

typedef struct {
    const char *name;
    int kind; /* 's' string, 'i' int, 'f' float, 'p' int pair, 'b' flag (no value), 'm' repeatable string (cli_list) */
    void *dst;
} cli_flag;

/* Parse argv against the table; 0, or 2 with "wanc CMD: ..." in msg. */
int cli_parse_flags(const char *cmd, int argc, char **argv, const cli_flag *flags, int nflags, char *msg,
                    size_t cap);

/* Everything `wanc generate` takes from its command line. */
typedef struct {
    wanc_gen_params p;
    wanc_pipeline_files files;
    wanc_pipeline_options popt;
    const char *out; /* the mp4 / safetensors file, or "DIR/" for PNG frames */
    const char *input_video, *input_image, *end_image;
    double fps;
    int quality;
    bool quiet, help, verbose;
    char frames_path[PATH_MAX];
    wanc_lora_spec loras[32]; /* --lora / --lora-high-noise / --lora-low-noise; files.loras points here */
    cli_conds cc; /* the conditioning flags; cli_conds_build reads their files */
} generate_args;

/* Fill `a` from argv (DiffSynth's defaults for what is not given); 0, or 2
 * with the message. The strings point into argv; a LoRA's FILE:STRENGTH is
 * cut at the ':' in place, and the LoRA flags are taken out of argv. */
int generate_args_parse(generate_args *a, int argc, char **argv, char *msg, size_t cap);

#endif
