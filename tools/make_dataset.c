/* `wanc make-dataset`: the demo's procedural video dataset (src/train/toy_scenes.c). */
#include <stdio.h>
#include <string.h>

#include "cli_args.h"
#include "commands.h"
#include "wanc.h"

static int progress(void *user, int done, int total)
{
    if (!*(bool *)user) fprintf(stderr, "\r  clips %d/%d ", done, total);
    if (done == total && !*(bool *)user) fputc('\n', stderr);
    return 0;
}

int wanc_cmd_make_dataset(int argc, char **argv)
{
    const char *out = NULL;
    long long count = 1000, seed = 0, size = 96, frames = 17;
    bool quiet = false, help = false;
    const cli_flag flags[] = {{"--out", 's', &out},       {"--count", 'i', &count}, {"--seed", 'i', &seed},
                              {"--size", 'i', &size},     {"--num-frames", 'i', &frames},
                              {"--quiet", 'b', &quiet},   {"--help", 'b', &help}};
    char msg[512];
    int rc = cli_parse_flags("make-dataset", argc, argv, flags, (int)(sizeof flags / sizeof flags[0]), msg, sizeof msg);
    if (rc) {
        fprintf(stderr, "%s\n", msg);
        return rc;
    }
    if (help || !out) {
        printf("usage: wanc make-dataset --out DIR [--count N (1000)] [--seed S (0)] [--size PX (96)]\n"
               "                         [--num-frames F (17)] [--quiet]\n\n"
               "Writes DIR/metadata.csv (columns video, prompt: DiffSynth's dataset layout) and\n"
               "DIR/train/NNNNNN.mp4: clips of one shape {circle, square, triangle} in one colour {red, green,\n"
               "blue, yellow, white} doing one motion {moving left/right/up/down, growing, shrinking, still} on\n"
               "one background {black, gray, sky-blue gradient}, captioned with varied synonyms and word\n"
               "order. Held out (never written): every yellow triangle, red square, blue circle, green\n"
               "triangle and white square. Train on it with\n"
               "  wanc train --dataset_base_path DIR --dataset_metadata_path DIR/metadata.csv ...\n");
        return help ? 0 : 2;
    }
    if (count <= 0 || count > 10000000 || seed < 0 || size <= 0 || size > 1024 || frames <= 0 || frames > 1000) {
        fprintf(stderr, "wanc make-dataset: --count, --size and --num-frames must be positive (size <= 1024, "
                        "frames <= 1000)\n");
        return 2;
    }
    wanc_err err = wanc_make_dataset(out, (int)count, (uint64_t)seed, (int)size, (int)frames, progress, &quiet);
    if (err) {
        fprintf(stderr, "wanc make-dataset: %s\n", wanc_error_message(err));
        wanc_error_free(err);
        return 1;
    }
    printf("wrote %lld clips of %lldx%lld, %lld frames, and %s/metadata.csv\n", count, size, size, frames, out);
    return 0;
}
