/* Temporary name, fsync, rename (see atomic_file.h). */
#include "io/atomic_file.h"

#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <stdbool.h>
#include <string.h>
#include <unistd.h>

bool wanc_atomic_temp_name(char *buf, size_t cap, const char *path)
{
    int n = snprintf(buf, cap, "%s.part-%ld", path, (long)getpid());
    return n > 0 && (size_t)n < cap;
}

/* The folder's entry for the rename is durable only once the folder is synced. */
static void sync_dir_of(const char *path)
{
    char d[PATH_MAX];
    snprintf(d, sizeof d, "%s", path);
    int fd = open(dirname(d), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd >= 0) {
        fsync(fd); /* best effort: some filesystems refuse fsync on folders */
        close(fd);
    }
}

wanc_err wanc_atomic_open(wanc_atomic_file *a, const char *path)
{
    memset(a, 0, sizeof *a);
    if (!path || !*path) WANC_FAIL(WANC_EINVAL, "no output path");
    if (snprintf(a->path, sizeof a->path, "%s", path) >= (int)sizeof a->path ||
        !wanc_atomic_temp_name(a->tmp, sizeof a->tmp, path))
        WANC_FAIL(WANC_EINVAL, "%s: path too long", path);
    a->f = fopen(a->tmp, "wb");
    if (!a->f) {
        int e = errno;
        a->tmp[0] = 0;
        WANC_FAIL(WANC_EIO, "%s: cannot create: %s", path, strerror(e));
    }
    return NULL;
}

void wanc_atomic_abort(wanc_atomic_file *a)
{
    if (a->f) fclose(a->f);
    a->f = NULL;
    if (a->tmp[0]) unlink(a->tmp);
    a->tmp[0] = 0;
}

wanc_err wanc_atomic_commit(wanc_atomic_file *a)
{
    if (!a->f) WANC_FAIL(WANC_EINVAL, "%s: not open", a->path);
    int e = 0;
    if (fflush(a->f) != 0 || fsync(fileno(a->f)) != 0) e = errno;
    if (fclose(a->f) != 0 && !e) e = errno;
    a->f = NULL;
    if (e) {
        wanc_atomic_abort(a);
        WANC_FAIL(WANC_EIO, "%s: writing failed: %s", a->path, strerror(e));
    }
    if (rename(a->tmp, a->path) != 0) {
        e = errno;
        wanc_atomic_abort(a);
        WANC_FAIL(WANC_EIO, "%s: cannot rename the finished file onto it: %s", a->path, strerror(e));
    }
    a->tmp[0] = 0;
    sync_dir_of(a->path);
    return NULL;
}

wanc_err wanc_atomic_commit_path(const char *tmp, const char *path)
{
    int e = 0, fd = open(tmp, O_RDWR | O_CLOEXEC);
    if (fd < 0) e = errno;
    else {
        if (fsync(fd) != 0) e = errno;
        if (close(fd) != 0 && !e) e = errno;
    }
    if (e) {
        unlink(tmp);
        WANC_FAIL(WANC_EIO, "%s: writing failed: %s", path, strerror(e));
    }
    if (rename(tmp, path) != 0) {
        e = errno;
        unlink(tmp);
        WANC_FAIL(WANC_EIO, "%s: cannot rename the finished file onto it: %s", path, strerror(e));
    }
    sync_dir_of(path);
    return NULL;
}
