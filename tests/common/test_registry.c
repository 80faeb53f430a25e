/* The test table the TEST() macro fills, and the helpers every test
 * program shares (tests/unit and tests/cuda link this file). */
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "../unit/test.h"

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
