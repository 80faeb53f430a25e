/* PyTorch zip checkpoints: the zip central directory, the local headers and
 * the pickle machine reading data.pkl. */
#include <stdlib.h>

#include "fuzz.h"
#include "fuzz_weights_common.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *p = fuzz_file("in.pth", data, size);
    if (p) fuzz_open_weights(p);
    return 0;
}
