/* bench_dit: the DiT forward benchmark (same as `wanc bench dit ARGS`). */
#include <stdio.h>

#include "wanc.h"

int main(int argc, char **argv)
{
    wanc_err err = wanc_bench_dit(stdout, argc - 1, argv + 1);
    if (err) {
        fprintf(stderr, "bench_dit: %s\n", wanc_error_message(err));
        wanc_error_free(err);
        return 1;
    }
    return 0;
}
