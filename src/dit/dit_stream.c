/* Block streaming's read-ahead: a helper thread that reads the next block's
 * weight pages while the current block computes (wanc_dit_options.stream_blocks).
 *
 * madvise(MADV_WILLNEED), posix_fadvise(WILLNEED) and readahead(2) are only
 * hints: on some kernels and sandboxes they read nothing (measured: a cold
 * 0.7 GB range took as long to fault in 5 s after the hint as without it),
 * and the compute thread then stalls on synchronous page faults, so reading
 * and computing add up instead of overlapping. The helper thread makes the
 * kernel read the block's pages (and map them), whatever the hints do: with
 * MADV_POPULATE_READ, or by touching one byte per page where the kernel
 * lacks it. The hint is still given first: where it works, the kernel reads
 * in larger requests.
 *
 * One request is pending at most: posting block i replaces an older pending
 * request; dit_prefetch_wait returns when the thread is idle, so nothing
 * touches the mapping after a forward returns (the pipeline may drop or
 * unmap the pages then).
 */
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <unistd.h>

#include "dit/dit_internal.h"

typedef struct dit_prefetch {
    pthread_t thread;
    pthread_mutex_t lock;
    pthread_cond_t wake, idle;
    const wanc_dit *d;
    const dit_block *pending; /* the next block to read, or NULL */
    bool busy, stop;
} dit_prefetch;

/* Read and map a tensor's pages: MADV_POPULATE_READ (Linux 5.14) does it in
 * one call, without a page fault per 4 KB (each costs a trap, dear on a
 * virtual machine); elsewhere one byte per page is touched. */
static void touch(const wanc_tensor *t, size_t page)
{
    if (!t || !t->data) return;
    const volatile unsigned char *p = t->data;
    size_t n = wanc_tensor_nbytes(t);
#ifdef MADV_POPULATE_READ
    uintptr_t a = (uintptr_t)t->data / page * page, b = ((uintptr_t)t->data + n + page - 1) / page * page;
    if (n && madvise((void *)a, b - a, MADV_POPULATE_READ) == 0) return;
#endif
    unsigned char sink = 0;
    for (size_t i = 0; i < n; i += page) sink ^= p[i];
    if (n) sink ^= p[n - 1];
    (void)sink;
}

/* Touch the block's pages, tensor by tensor; a newer request makes it stop
 * (the compute thread has reached this block and reads what is left itself). */
static void read_block(dit_prefetch *pf, const dit_block *b)
{
    const wanc_dit *d = pf->d;
    const dit_linear *ls[] = {&b->q, &b->k, &b->v, &b->o, &b->cq, &b->ck, &b->cv, &b->co, &b->ck_img, &b->cv_img,
                              &b->ffn0, &b->ffn2};
    const size_t page = (size_t)sysconf(_SC_PAGESIZE);
    for (size_t i = 0; i < sizeof ls / sizeof ls[0]; i++) {
        wanc_weights_advise(d->store, ls[i]->w, true);
        wanc_weights_advise(d->store, ls[i]->b, true);
    }
    for (size_t i = 0; i < sizeof ls / sizeof ls[0]; i++) {
        pthread_mutex_lock(&pf->lock);
        bool newer = pf->pending != NULL || pf->stop;
        pthread_mutex_unlock(&pf->lock);
        if (newer) return;
        touch(ls[i]->w, page);
        touch(ls[i]->b, page);
    }
}

static void *worker(void *arg)
{
    dit_prefetch *pf = arg;
    pthread_mutex_lock(&pf->lock);
    while (!pf->stop) {
        if (!pf->pending) {
            pthread_cond_wait(&pf->wake, &pf->lock);
            continue;
        }
        const dit_block *b = pf->pending;
        pf->pending = NULL;
        pf->busy = true;
        pthread_mutex_unlock(&pf->lock);
        read_block(pf, b);
        pthread_mutex_lock(&pf->lock);
        pf->busy = false;
        pthread_cond_broadcast(&pf->idle);
    }
    pthread_mutex_unlock(&pf->lock);
    return NULL;
}

/* The thread, started on first use; NULL (and the forward goes on without
 * read-ahead) when it cannot be made. */
static dit_prefetch *get(wanc_dit *d)
{
    if (d->prefetch) return d->prefetch;
    dit_prefetch *pf = calloc(1, sizeof *pf);
    if (!pf) return NULL;
    pf->d = d;
    pthread_mutex_init(&pf->lock, NULL);
    pthread_cond_init(&pf->wake, NULL);
    pthread_cond_init(&pf->idle, NULL);
    if (pthread_create(&pf->thread, NULL, worker, pf)) {
        pthread_cond_destroy(&pf->wake);
        pthread_cond_destroy(&pf->idle);
        pthread_mutex_destroy(&pf->lock);
        free(pf);
        return NULL;
    }
    return d->prefetch = pf;
}

void dit_prefetch_block(wanc_dit *d, const dit_block *b)
{
    dit_prefetch *pf = get(d);
    if (!pf) return; /* no thread: the compute thread faults the pages in itself */
    pthread_mutex_lock(&pf->lock);
    pf->pending = b;
    pthread_cond_signal(&pf->wake);
    pthread_mutex_unlock(&pf->lock);
}

void dit_prefetch_wait(wanc_dit *d)
{
    dit_prefetch *pf = d->prefetch;
    if (!pf) return;
    pthread_mutex_lock(&pf->lock);
    pf->pending = NULL;
    while (pf->busy) pthread_cond_wait(&pf->idle, &pf->lock);
    pthread_mutex_unlock(&pf->lock);
}

void dit_prefetch_stop(wanc_dit *d)
{
    dit_prefetch *pf = d->prefetch;
    if (!pf) return;
    pthread_mutex_lock(&pf->lock);
    pf->stop = true;
    pf->pending = NULL;
    pthread_cond_signal(&pf->wake);
    pthread_mutex_unlock(&pf->lock);
    pthread_join(pf->thread, NULL);
    pthread_cond_destroy(&pf->wake);
    pthread_cond_destroy(&pf->idle);
    pthread_mutex_destroy(&pf->lock);
    free(pf);
    d->prefetch = NULL;
}
