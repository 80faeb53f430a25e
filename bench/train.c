/* bench_train: the training-step benchmark (same as `wanc bench train ARGS`). */
#include <stdio.h>

#include "wanc.h"

int main(int argc, char **argv)
{
    wanc_err err = wanc_bench_train(stdout, argc - 1, argv + 1);
    if (err) {
        fprintf(stderr, "bench_train: %s\n", wanc_error_message(err));
        wanc_error_free(err);
        return 1;
    }
    return 0;
}
