/* wanc — command-line interface (thin layer over include/wanc.h). */
#include <stdio.h>
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

static int usage(FILE *f)
{
    fprintf(f,
            "wanc %s — Wan video models in C\n\n"
            "usage:\n"
            "  wanc info FILE...      list every tensor of checkpoint files (name, dtype, shape)\n",
            WANC_VERSION);
    return f == stdout ? 0 : 2;
}

int main(int argc, char **argv)
{
    if (argc < 2) return usage(stderr);
    if (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h") || !strcmp(argv[1], "help")) return usage(stdout);
    if (!strcmp(argv[1], "info")) return cmd_info(argc - 2, argv + 2);
    fprintf(stderr, "wanc: unknown command '%s'\n", argv[1]);
    return usage(stderr);
}
