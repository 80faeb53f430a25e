/* Shared by the fuzz targets (tests/fuzz/fuzz_*.c, one parser each).
 *
 * Every target defines LLVMFuzzerTestOneInput. `make fuzz` links it with
 * libFuzzer (clang, ASan + UBSan); `make test` links the same file with
 * replay_main.c and runs it over the committed seeds and the crashers kept in
 * tests/fuzz/regress/, so a found crash stays fixed in every build.
 *
 * The parsers read files by path (they mmap checkpoints), so a target writes
 * its input to a file in a private temporary folder first. */
#ifndef WANC_FUZZ_H
#define WANC_FUZZ_H

#include <stddef.h>
#include <stdint.h>

#include "core/error.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* The private folder (created on first use, removed at exit). */
const char *fuzz_dir(void);
/* Write data to fuzz_dir()/name; returns the path (static buffer), NULL on failure. */
const char *fuzz_file(const char *name, const uint8_t *data, size_t size);
/* Drop an expected error. A parser may fail on hostile input; it must not crash. */
void fuzz_ignore(wanc_err err);

#endif
