/* Load a tokenizer file and encode a few texts with it. */
#ifndef WANC_FUZZ_TOKENIZER_COMMON_H
#define WANC_FUZZ_TOKENIZER_COMMON_H

#include "text/tokenizer.h"

static inline void fuzz_tokenizer(const char *path)
{
    wanc_tokenizer *tok = NULL;
    wanc_err err = wanc_tokenizer_load(&tok, path);
    if (err) {
        wanc_error_free(err);
        return;
    }
    static const char *texts[] = {"", "a corgi running on the beach", "  Ünïcödé\t文字 <0x41> </s> ab\xc3", "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"};
    int64_t ids[128];
    for (size_t i = 0; i < sizeof texts / sizeof *texts; i++) {
        size_t n = 0;
        wanc_error_free(wanc_tokenizer_encode(tok, texts[i], ids, 128, &n));
    }
    wanc_tokenizer_free(tok);
}

#endif
