/* Runs every registered unit test (or those whose name contains argv[1]). */
#include "test.h"

int main(int argc, char **argv)
{
    int passed = 0, failed = 0;
    for (int i = 0; i < test_count(); i++) {
        const test_case *t = test_get(i);
        if (argc > 1 && !strstr(t->name, argv[1])) continue;
        int f = 0;
        t->fn(&f);
        printf("%s %s (%s)\n", f ? "FAIL" : "PASS", t->name, t->file);
        fflush(stdout);
        if (f) failed++;
        else passed++;
    }
    printf("unit: %d passed, %d failed\n", passed, failed);
    return failed ? 1 : 0;
}
