/* Reading a small file (JSON, a tokenizer model) whole into memory. */
#ifndef WANC_IO_READ_FILE_H
#define WANC_IO_READ_FILE_H

#include <stddef.h>

#include "core/error.h"

/* *out = malloc'd contents plus a terminating NUL (not counted in *len).
 * A file larger than max_bytes is a WANC_EFORMAT error naming `what`
 * ("not a tokenizer file"); a missing or unreadable file is WANC_EIO. */
wanc_err wanc_read_file(const char *path, size_t max_bytes, const char *what, char **out, size_t *len);

#endif
