#include "core/threads.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <unistd.h>

#define MAX_THREADS 256

static int requested_threads; /* 0 = not chosen yet */
static _Thread_local int thread_index;
static _Thread_local int inside_parallel;

static struct pool {
    pthread_mutex_t lock;
    pthread_cond_t work_ready, work_done;
    pthread_t workers[MAX_THREADS];
    int nworkers;        /* started worker threads (excluding the caller) */
    uint64_t generation; /* bumped for each job */
    int active;          /* workers still busy with the current job */
    /* the current job */
    wanc_range_fn fn;
    void *ctx;
    int64_t n, chunk;
    atomic_int_fast64_t next_chunk;
    int participants; /* workers allowed to take part in this job */
} pool = {.lock = PTHREAD_MUTEX_INITIALIZER,
          .work_ready = PTHREAD_COND_INITIALIZER,
          .work_done = PTHREAD_COND_INITIALIZER};

void wanc_threads_set(int n) { requested_threads = n > MAX_THREADS ? MAX_THREADS : n; }

int wanc_threads_get(void)
{
    if (requested_threads > 0) return requested_threads;
    const char *env = getenv("WANC_THREADS");
    int n = env ? atoi(env) : 0;
    if (n <= 0) n = (int)sysconf(_SC_NPROCESSORS_ONLN);
    if (n <= 0) n = 1;
    return n > MAX_THREADS ? MAX_THREADS : n;
}

int wanc_thread_index(void) { return thread_index; }

static void run_chunks(void)
{
    int64_t nchunks = (pool.n + pool.chunk - 1) / pool.chunk;
    for (;;) {
        int64_t c = atomic_fetch_add(&pool.next_chunk, 1);
        if (c >= nchunks) break;
        int64_t b = c * pool.chunk, e = b + pool.chunk;
        pool.fn(pool.ctx, b, e < pool.n ? e : pool.n);
    }
}

static void *worker_main(void *arg)
{
    thread_index = (int)(intptr_t)arg;
    inside_parallel = 1;
    uint64_t seen = 0;
    pthread_mutex_lock(&pool.lock);
    for (;;) {
        while (pool.generation == seen) pthread_cond_wait(&pool.work_ready, &pool.lock);
        seen = pool.generation;
        if (thread_index > pool.participants) continue;
        pthread_mutex_unlock(&pool.lock);
        run_chunks();
        pthread_mutex_lock(&pool.lock);
        if (--pool.active == 0) pthread_cond_signal(&pool.work_done);
    }
    return NULL;
}

void wanc_parallel_for(int64_t n, int64_t chunk, wanc_range_fn fn, void *ctx)
{
    if (n <= 0) return;
    if (chunk <= 0) chunk = 1;
    int want = wanc_threads_get();
    int64_t nchunks = (n + chunk - 1) / chunk;
    if (want > nchunks) want = (int)nchunks;
    if (want <= 1 || inside_parallel) {
        for (int64_t b = 0; b < n; b += chunk) fn(ctx, b, b + chunk < n ? b + chunk : n);
        return;
    }
    pthread_mutex_lock(&pool.lock);
    while (pool.nworkers < want - 1) {
        int idx = pool.nworkers + 1;
        if (pthread_create(&pool.workers[pool.nworkers], NULL, worker_main, (void *)(intptr_t)idx) != 0) break;
        pthread_detach(pool.workers[pool.nworkers]);
        pool.nworkers++;
    }
    int helpers = want - 1 < pool.nworkers ? want - 1 : pool.nworkers;
    pool.fn = fn;
    pool.ctx = ctx;
    pool.n = n;
    pool.chunk = chunk;
    atomic_store(&pool.next_chunk, 0);
    pool.participants = helpers;
    pool.active = helpers;
    pool.generation++;
    pthread_cond_broadcast(&pool.work_ready);
    pthread_mutex_unlock(&pool.lock);

    inside_parallel = 1;
    run_chunks();
    inside_parallel = 0;

    pthread_mutex_lock(&pool.lock);
    while (pool.active > 0) pthread_cond_wait(&pool.work_done, &pool.lock);
    pthread_mutex_unlock(&pool.lock);
}
