/* A small persistent thread pool.
 *
 * wanc_parallel_for(n, fn, ctx) calls fn(ctx, begin, end) over disjoint
 * ranges covering [0, n). The split depends only on n and the chunk size the
 * caller asks for, never on how many threads run, so an op that reduces
 * inside one range gives the same bits at any thread count.
 */
#ifndef WANC_CORE_THREADS_H
#define WANC_CORE_THREADS_H

#include <stdint.h>

/* Threads to use: set explicitly, else $WANC_THREADS, else the CPU count. */
void wanc_threads_set(int n);
int wanc_threads_get(void);

typedef void (*wanc_range_fn)(void *ctx, int64_t begin, int64_t end);

/* Run fn over [0, n) in chunks of `chunk` items (the last may be shorter),
 * spread over the pool. Returns when every chunk is done. Nested calls run
 * serially in the calling thread. */
void wanc_parallel_for(int64_t n, int64_t chunk, wanc_range_fn fn, void *ctx);

/* Index of the calling pool thread (0 = caller), for per-thread scratch. */
int wanc_thread_index(void);

#endif
