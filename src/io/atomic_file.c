/* Temporary name, fsync, rename (see atomic_file.h). */
#include "io/atomic_file.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <signal.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* Remove a file, or a folder of files (a frame folder's temporary). */
static void remove_entry(const char *path)
{
    if (unlink(path) == 0 || errno != EISDIR) return;
    DIR *d = opendir(path);
    if (d) {
        struct dirent *e;
        char f[PATH_MAX];
        while ((e = readdir(d)))
            if (strcmp(e->d_name, ".") && strcmp(e->d_name, "..") &&
                snprintf(f, sizeof f, "%s/%s", path, e->d_name) < (int)sizeof f)
                unlink(f);
        closedir(d);
    }
    rmdir(path);
}

/* A SIGKILL (or power loss) leaves "<path>.part-<pid>" behind: remove those
 * of `path` whose process is gone (kill(pid, 0) says no such process). A
 * live process's temporary, ours or another wanc's, is left alone. */
static void sweep_stale_temporaries(const char *path)
{
    char dir[PATH_MAX], base[PATH_MAX], prefix[PATH_MAX + 8];
    snprintf(dir, sizeof dir, "%s", path);
    snprintf(base, sizeof base, "%s", path);
    const char *folder = dirname(dir), *name = basename(base);
    int np = snprintf(prefix, sizeof prefix, "%s.part-", name);
    if (np <= 0 || (size_t)np >= sizeof prefix) return;
    DIR *d = opendir(folder);
    if (!d) return;
    struct dirent *e;
    while ((e = readdir(d))) {
        if (strncmp(e->d_name, prefix, (size_t)np)) continue;
        char *end = NULL;
        errno = 0;
        long pid = strtol(e->d_name + np, &end, 10);
        if (errno || !end || *end || pid <= 0 || pid == (long)getpid()) continue;
        if (kill((pid_t)pid, 0) == 0 || errno != ESRCH) continue;
        char stale[PATH_MAX];
        if (snprintf(stale, sizeof stale, "%s/%s", folder, e->d_name) < (int)sizeof stale) remove_entry(stale);
    }
    closedir(d);
}

bool wanc_atomic_temp_name(char *buf, size_t cap, const char *path)
{
    int n = snprintf(buf, cap, "%s.part-%ld", path, (long)getpid());
    if (n <= 0 || (size_t)n >= cap) return false;
    sweep_stale_temporaries(path);
    return true;
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
