/* A bump allocator for activations.
 *
 * A forward pass takes what it needs from an arena and releases everything
 * at once by resetting to a mark, so nothing is malloc'd inside the step
 * loop after the first step. Blocks are 64-byte aligned. The arena grows by
 * chaining blocks when a request does not fit; wanc_arena_peak tells how big
 * one block would have had to be, so callers can size it exactly next time.
 */
#ifndef WANC_CORE_ARENA_H
#define WANC_CORE_ARENA_H

#include <stddef.h>

#include "core/error.h"
#include "core/tensor.h"

typedef struct wanc_arena_block wanc_arena_block;

/* Where a block's memory comes from (a backend's alloc/free, so activations
 * can live in device memory); the block headers stay in host memory. */
typedef struct wanc_arena_allocator {
    wanc_err (*alloc)(const void *user, void **out, size_t bytes);
    void (*free)(const void *user, void *p);
    const void *user;
} wanc_arena_allocator;

typedef struct wanc_arena {
    wanc_arena_block *head; /* current block (newest) */
    size_t used;            /* total bytes handed out right now */
    size_t peak;            /* largest `used` seen */
    size_t block_size;      /* default size of a new block */
    wanc_arena_allocator al; /* al.alloc NULL: 64-byte aligned host memory */
} wanc_arena;

typedef struct wanc_arena_mark {
    wanc_arena_block *block;
    size_t offset, used;
} wanc_arena_mark;

void wanc_arena_init(wanc_arena *a, size_t block_size);
/* The same with block memory from `al` (which must align to 64 bytes). */
void wanc_arena_init_with(wanc_arena *a, size_t block_size, const wanc_arena_allocator *al);
void wanc_arena_free(wanc_arena *a);
/* Allocate `bytes` (64-byte aligned, NOT zeroed). */
wanc_err wanc_arena_alloc(wanc_arena *a, void **out, size_t bytes);
/* Allocate a contiguous tensor view in the arena (NOT zeroed). */
wanc_err wanc_arena_tensor(wanc_arena *a, wanc_tensor *out, wanc_dtype dt, int ndim, const int64_t *shape);
wanc_arena_mark wanc_arena_save(const wanc_arena *a);
void wanc_arena_restore(wanc_arena *a, wanc_arena_mark m);
size_t wanc_arena_peak(const wanc_arena *a);

#endif
