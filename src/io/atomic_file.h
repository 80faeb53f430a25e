/* Every file wanc writes goes through here: it is written under a temporary
 * name next to the target ("<path>.part-<pid>"), flushed to disk (fsync), and
 * renamed over the target, then the folder is synced. A crash, a kill or a
 * full disk at any point leaves the target absent (or as it was), never half
 * written; a failed write removes the temporary, and one a SIGKILL left is
 * removed by the next write of the same target.
 *
 *   wanc_atomic_file a;
 *   TRY(wanc_atomic_open(&a, path));          // a.f is the stream
 *   ... fwrite(..., a.f) ...
 *   TRY(wanc_atomic_commit(&a));              // or wanc_atomic_abort(&a) on error
 *
 * Writers that open the file by name themselves (FFmpeg's muxer) write to
 * wanc_atomic_temp_name() and finish with wanc_atomic_commit_path(). */
#ifndef WANC_IO_ATOMIC_FILE_H
#define WANC_IO_ATOMIC_FILE_H

#include <limits.h>
#include <stdbool.h>
#include <stdio.h>

#include "core/error.h"

typedef struct {
    FILE *f;
    char path[PATH_MAX], tmp[PATH_MAX];
} wanc_atomic_file;

/* Create the temporary and open it for writing. On error nothing is left. */
wanc_err wanc_atomic_open(wanc_atomic_file *a, const char *path);
/* Flush, fsync, close, rename onto the target, sync the folder. On error the
 * temporary is removed and the target is untouched. */
wanc_err wanc_atomic_commit(wanc_atomic_file *a);
/* Close and remove the temporary (after an error; safe to call twice). */
void wanc_atomic_abort(wanc_atomic_file *a);

/* The temporary name for `path` (false when it does not fit). Temporaries a
 * killed process left for the same path ("<path>.part-<pid>" of a pid that
 * no longer exists) are removed first, so a SIGKILL's leftovers go with the
 * next write of that file. */
bool wanc_atomic_temp_name(char *buf, size_t cap, const char *path);
/* `tmp` was written and closed by someone else: fsync it, rename it onto
 * `path`, sync the folder; on error remove it. */
wanc_err wanc_atomic_commit_path(const char *tmp, const char *path);

#endif
