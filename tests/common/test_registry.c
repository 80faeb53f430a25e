/* The test table the TEST() macro fills, and the helpers every test
 * program shares (tests/unit and tests/cuda link this file). */
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "../unit/test.h"
#include "core/clock.h"
#include "core/memstat.h"

#define MAX_TESTS 1024
static test_case tests[MAX_TESTS];
static int ntests;

void test_register(const char *name, const char *file, test_fn fn)
{
    if (ntests < MAX_TESTS) tests[ntests++] = (test_case){name, file, fn};
}

int test_count(void) { return ntests; }
const test_case *test_get(int i) { return i >= 0 && i < ntests ? &tests[i] : NULL; }

bool test_make_tmpdir(char *buf, size_t cap, const char *tag)
{
    const char *base = getenv("TMPDIR");
    snprintf(buf, cap, "%s/wanc-%s-XXXXXX", base && *base ? base : "/tmp", tag);
    return mkdtemp(buf) != NULL;
}

void test_rm_tree(const char *dir)
{
    DIR *d = opendir(dir);
    if (!d) return;
    struct dirent *e;
    char p[4096];
    while ((e = readdir(d))) {
        if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, "..")) continue;
        snprintf(p, sizeof p, "%s/%s", dir, e->d_name);
        struct stat st;
        if (lstat(p, &st) == 0 && S_ISDIR(st.st_mode)) test_rm_tree(p);
        else unlink(p);
    }
    closedir(d);
    rmdir(dir);
}

test_bound test_bound_start(void)
{
    wanc_peak_rss_reset();
    return (test_bound){wanc_now_seconds(), wanc_rss_bytes()};
}

bool test_bound_held(test_bound b, double seconds, size_t mib, const char *what)
{
    double t = wanc_now_seconds() - b.t0;
    size_t peak = wanc_peak_rss_bytes(), grew = peak > b.rss0 ? peak - b.rss0 : 0;
    bool held = t <= seconds && grew <= mib << 20;
    if (!held || getenv("WANC_TEST_BOUNDS")) /* WANC_TEST_BOUNDS=1: print every measurement */
        fprintf(stderr, "  %s: %.2f s (bound %.0f s), resident peak +%zu MiB (bound %zu MiB)\n", what, t, seconds,
                grew >> 20, mib);
    return held;
}
