/* `wanc generate`'s command line: the input, split at NUL bytes, is argv;
 * the parsed parameters then go through the library's own check, as the CLI
 * does before loading anything. */
#include <stdlib.h>
#include <string.h>

#include "../../tools/cli_args.h"
#include "fuzz.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size > 4096) return 0;
    char *buf = malloc(size + 1);
    if (!buf) return 0;
    memcpy(buf, data, size);
    buf[size] = 0;
    char *argv[64];
    int argc = 0;
    for (size_t i = 0; i <= size && argc < 64;) {
        argv[argc++] = buf + i;
        i += strlen(buf + i) + 1;
    }
    static generate_args a;
    char msg[512];
    if (generate_args_parse(&a, argc, argv, msg, sizeof msg) == 0 && !a.help) {
        char notices[3][128];
        int n = 0;
        fuzz_ignore(wanc_gen_params_check(&a.p, notices, &n));
    }
    free(buf);
    return 0;
}
