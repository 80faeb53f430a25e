/* Internals shared by the weight store and its format readers (not public).
 *
 * A reader maps its file with wanc_store_map_file, then adds one entry per
 * tensor with wanc_store_add. The store sorts the names and checks for
 * duplicates once every file has been read (wanc_store_finish).
 */
#ifndef WANC_IO_WEIGHTS_INTERNAL_H
#define WANC_IO_WEIGHTS_INTERNAL_H

#include <stddef.h>

#include "io/weights.h"

typedef struct wanc_weight_entry {
    char *name;
    wanc_tensor t; /* t.owned set when the data had to be copied (misaligned / strided) */
    int file;      /* index into the store's files */
} wanc_weight_entry;

typedef struct wanc_mapped_file {
    char *path;
    const unsigned char *base; /* whole file, PROT_READ */
    size_t size;
} wanc_mapped_file;

struct wanc_weights {
    wanc_weight_entry *entries;
    int n, cap;
    wanc_mapped_file *files;
    int nfiles, files_cap;
    char **meta; /* key, value, key, value, ... (safetensors __metadata__) */
    int nmeta;
    char *description;
};

/* Map `path` read-only and append it to w's files; *index receives its slot.
 * Errors: missing, not a regular file, empty, unreadable. */
wanc_err wanc_store_map_file(wanc_weights *w, const char *path, int *index);

/* Add a tensor viewing `data` (inside file `file`'s mapping). The data is
 * copied into an owned, aligned, contiguous buffer when it is misaligned for
 * the dtype or strided. `stride` may be NULL for contiguous. */
wanc_err wanc_store_add(wanc_weights *w, int file, const char *name, wanc_dtype dt, int ndim, const int64_t *shape,
                        const int64_t *stride, const void *data);

/* Copy a (possibly strided) tensor's elements into contiguous dst, bytes as stored. */
void wanc_store_copy_contiguous(void *dst, const wanc_tensor *src);

/* Record a metadata key/value (first one wins across shards). */
wanc_err wanc_store_add_metadata(wanc_weights *w, const char *key, const char *value);

/* Format readers: add every tensor of the file at `path`. */
wanc_err wanc_safetensors_read(wanc_weights *w, const char *path);
wanc_err wanc_pth_read(wanc_weights *w, const char *path);
wanc_err wanc_gguf_read(wanc_weights *w, const char *path); /* io/gguf.c */

#endif
