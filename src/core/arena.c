#include "core/arena.h"

#include <stdlib.h>
#include <string.h>

struct wanc_arena_block {
    wanc_arena_block *prev;
    size_t size, offset;
    unsigned char *data;
};

void wanc_arena_init(wanc_arena *a, size_t block_size)
{
    memset(a, 0, sizeof *a);
    a->block_size = block_size ? block_size : (size_t)64 << 20;
}

void wanc_arena_init_with(wanc_arena *a, size_t block_size, const wanc_arena_allocator *al)
{
    wanc_arena_init(a, block_size);
    if (al) a->al = *al;
}

static void block_free(wanc_arena *a, wanc_arena_block *b)
{
    if (a->al.alloc) a->al.free(a->al.user, b->data);
    else free(b->data);
    free(b);
}

void wanc_arena_free(wanc_arena *a)
{
    wanc_arena_block *b = a->head;
    while (b) {
        wanc_arena_block *p = b->prev;
        block_free(a, b);
        b = p;
    }
    a->head = NULL;
    a->used = 0;
}

wanc_err wanc_arena_alloc(wanc_arena *a, void **out, size_t bytes)
{
    size_t need = (bytes + 63) & ~(size_t)63;
    if (!need) need = 64;
    wanc_arena_block *b = a->head;
    if (!b || b->offset + need > b->size) {
        size_t size = need > a->block_size ? need : a->block_size;
        wanc_arena_block *nb = malloc(sizeof *nb);
        if (!nb) WANC_FAIL(WANC_ENOMEM, "arena: cannot allocate a block header");
        void *data = NULL;
        if (a->al.alloc) {
            wanc_err err = a->al.alloc(a->al.user, &data, size);
            if (err) {
                free(nb);
                return wanc_error_context(err, "arena: a %zu-byte block", size);
            }
        } else if (!(data = aligned_alloc(64, size))) {
            free(nb);
            WANC_FAIL(WANC_ENOMEM, "arena: cannot allocate a %zu-byte block", size);
        }
        *nb = (wanc_arena_block){.prev = b, .size = size, .offset = 0, .data = data};
        a->head = b = nb;
    }
    *out = b->data + b->offset;
    b->offset += need;
    a->used += need;
    if (a->used > a->peak) a->peak = a->used;
    return NULL;
}

wanc_err wanc_arena_tensor(wanc_arena *a, wanc_tensor *out, wanc_dtype dt, int ndim, const int64_t *shape)
{
    void *p;
    TRY(wanc_arena_alloc(a, &p, (size_t)wanc_numel(ndim, shape) * wanc_dtype_size(dt)));
    *out = wanc_tensor_wrap(p, dt, ndim, shape);
    return NULL;
}

wanc_arena_mark wanc_arena_save(const wanc_arena *a)
{
    return (wanc_arena_mark){a->head, a->head ? a->head->offset : 0, a->used};
}

void wanc_arena_restore(wanc_arena *a, wanc_arena_mark m)
{
    /* Free blocks made after the mark; keep the marked one. */
    while (a->head && a->head != m.block) {
        wanc_arena_block *p = a->head->prev;
        block_free(a, a->head);
        a->head = p;
    }
    if (a->head) a->head->offset = m.offset;
    a->used = m.used;
}

size_t wanc_arena_peak(const wanc_arena *a) { return a->peak; }
