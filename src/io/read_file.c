#include "io/read_file.h"

#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

wanc_err wanc_read_file(const char *path, size_t max_bytes, const char *what, char **out, size_t *len)
{
    *out = NULL;
    *len = 0;
    /* O_NONBLOCK + a regular-file check: a FIFO or device never blocks or streams forever */
    int fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK);
    if (fd < 0) WANC_FAIL(WANC_EIO, "%s: cannot open: %s", path, strerror(errno));
    struct stat st;
    if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
        close(fd);
        WANC_FAIL(WANC_EIO, "%s: not a regular file", path);
    }
    if ((uint64_t)st.st_size > max_bytes) {
        close(fd);
        WANC_FAIL(WANC_EFORMAT, "%s: larger than %zu bytes, %s", path, max_bytes, what);
    }
    FILE *f = fdopen(fd, "rb");
    if (!f) {
        close(fd);
        WANC_FAIL(WANC_EIO, "%s: cannot open: %s", path, strerror(errno));
    }
    char *buf = NULL;
    size_t n = 0, cap = 0;
    wanc_err err = NULL;
    for (;;) {
        if (n == cap) {
            cap = cap ? 2 * cap : 65536;
            if (cap > max_bytes + 1) cap = max_bytes + 1;
            if (n == cap) {
                err = wanc_error(WANC_EFORMAT, "%s: larger than %zu bytes, %s", path, max_bytes, what);
                break;
            }
            char *b = realloc(buf, cap + 1);
            if (!b) {
                err = wanc_error(WANC_ENOMEM, "%s: out of memory", path);
                break;
            }
            buf = b;
        }
        size_t got = fread(buf + n, 1, cap - n, f);
        n += got;
        if (got == 0) break;
    }
    if (!err && ferror(f)) err = wanc_error(WANC_EIO, "%s: read error", path);
    fclose(f);
    if (!err && n > max_bytes) err = wanc_error(WANC_EFORMAT, "%s: larger than %zu bytes, %s", path, max_bytes, what);
    if (err) {
        free(buf);
        return err;
    }
    if (!buf && !(buf = malloc(1))) WANC_FAIL(WANC_ENOMEM, "%s: out of memory", path);
    buf[n] = 0;
    *out = buf;
    *len = n;
    return NULL;
}
