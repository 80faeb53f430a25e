/* Hugging Face tokenizer.json (Unigram): vocab, added tokens, the base64
 * charsmap, the Metaspace pre-tokenizer; then encoding with it. */
#include "fuzz.h"
#include "fuzz_tokenizer_common.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *p = fuzz_file("tokenizer.json", data, size);
    if (p) fuzz_tokenizer(p);
    return 0;
}
