/* safetensors: the 8-byte header length, the JSON header, the offsets. */
#include <stdlib.h>

#include "fuzz.h"
#include "fuzz_weights_common.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *p = fuzz_file("in.safetensors", data, size);
    if (p) fuzz_open_weights(p);
    return 0;
}
