/* Runs a fuzz target over files and folders of inputs without libFuzzer (the
 * `make test` builds): every seed and kept crasher must run without a crash,
 * a hang or a sanitizer report.
 *   replay_<target> PATH...   (folders: every file in them)
 * Prints "fuzz-replay <target>: N inputs" and exits 0. */
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "fuzz.h"

static int run_file(const char *path)
{
    FILE *f = fopen(path, "rb");
    if (!f) {
        fprintf(stderr, "replay: cannot open %s\n", path);
        return -1;
    }
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    rewind(f);
    uint8_t *buf = malloc(n > 0 ? (size_t)n : 1);
    if (!buf || fread(buf, 1, (size_t)n, f) != (size_t)n) {
        fclose(f);
        free(buf);
        fprintf(stderr, "replay: cannot read %s\n", path);
        return -1;
    }
    fclose(f);
    LLVMFuzzerTestOneInput(buf, (size_t)n);
    free(buf);
    return 1;
}

int main(int argc, char **argv)
{
    int n = 0, bad = 0;
    for (int i = 1; i < argc; i++) {
        struct stat st;
        if (stat(argv[i], &st) != 0) continue; /* an absent folder: no inputs of that kind */
        if (!S_ISDIR(st.st_mode)) {
            int r = run_file(argv[i]);
            n += r > 0, bad += r < 0;
            continue;
        }
        struct dirent **list;
        int m = scandir(argv[i], &list, NULL, alphasort);
        for (int k = 0; k < m; k++) {
            char p[4096];
            snprintf(p, sizeof p, "%s/%s", argv[i], list[k]->d_name);
            if (list[k]->d_name[0] != '.' && stat(p, &st) == 0 && S_ISREG(st.st_mode)) {
                int r = run_file(p);
                n += r > 0, bad += r < 0;
            }
            free(list[k]);
        }
        free(list);
    }
    const char *name = strrchr(argv[0], '/');
    name = name ? name + 1 : argv[0];
    if (!strncmp(name, "replay_", 7)) name += 7;
    printf("fuzz-replay %s: %d inputs\n", name, n);
    return bad ? 1 : 0;
}
