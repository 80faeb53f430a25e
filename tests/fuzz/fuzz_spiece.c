/* sentencepiece's spiece.model (protobuf): pieces, trainer and normalizer
 * specs, the precompiled charsmap; then encoding with it. */
#include "fuzz.h"
#include "fuzz_tokenizer_common.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *p = fuzz_file("spiece.model", data, size);
    if (p) fuzz_tokenizer(p);
    return 0;
}
