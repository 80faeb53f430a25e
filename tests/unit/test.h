/* A tiny unit-test framework: TEST(name) { CHECK(...); } registers itself. */
#ifndef WANC_TEST_H
#define WANC_TEST_H

#include <math.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>

#include "core/error.h"

typedef void (*test_fn)(int *failed);
typedef struct {
    const char *name, *file;
    test_fn fn;
} test_case;
void test_register(const char *name, const char *file, test_fn fn);
int test_count(void);
const test_case *test_get(int i);

/* A fresh folder $TMPDIR/wanc-<tag>-XXXXXX (false on failure), and its removal. */
bool test_make_tmpdir(char *buf, size_t cap, const char *tag);
void test_rm_tree(const char *dir);
/* The first of `steps` Wan steps (shift 5) whose float32 timestep is below
 * boundary * 1000: where a two-expert run switches (test_wan22.c). */
int test_expected_switch(double boundary, int steps);

/* Hostile-input bounds (core/limits.h, docs/architecture.md): the work since
 * test_bound_start() took at most `seconds` of wall time and raised the
 * resident set's peak by at most `mib` MiB; test_bound_held prints what it
 * measured when a bound is broken. */
typedef struct {
    double t0;
    size_t rss0;
} test_bound;
test_bound test_bound_start(void);
bool test_bound_held(test_bound b, double seconds, size_t mib, const char *what);

#define TEST(name)                                                                   \
    static void test_##name(int *test_failed_);                                     \
    __attribute__((constructor)) static void test_register_##name(void)             \
    {                                                                                \
        test_register(#name, __FILE__, test_##name);                                 \
    }                                                                                \
    static void test_##name(int *test_failed_)

#define CHECK(cond)                                                                  \
    do {                                                                             \
        if (!(cond)) {                                                               \
            fprintf(stderr, "  %s:%d: CHECK failed: %s\n", __FILE__, __LINE__, #cond);  \
            *test_failed_ = 1;                                                       \
        }                                                                            \
    } while (0)

/* The call must succeed; on error print it and fail the test. */
#define CHECK_OK(expr)                                                               \
    do {                                                                             \
        wanc_err check_err_ = (expr);                                                \
        if (check_err_) {                                                            \
            fprintf(stderr, "  %s:%d: %s failed: %s\n", __FILE__, __LINE__, #expr,   \
                    wanc_error_message(check_err_));                                 \
            wanc_error_free(check_err_);                                             \
            *test_failed_ = 1;                                                       \
        }                                                                            \
    } while (0)

/* The call must fail with `code` and its message must contain `needle`. */
#define CHECK_ERR(expr, code, needle)                                                \
    do {                                                                             \
        wanc_err check_err_ = (expr);                                                \
        if (!check_err_) {                                                           \
            fprintf(stderr, "  %s:%d: %s unexpectedly succeeded\n", __FILE__, __LINE__, #expr); \
            *test_failed_ = 1;                                                       \
        } else {                                                                     \
            if (wanc_error_code(check_err_) != (code) ||                             \
                !strstr(wanc_error_message(check_err_), (needle))) {                 \
                fprintf(stderr, "  %s:%d: %s: wrong error (code %d): %s\n", __FILE__, __LINE__, #expr, \
                        (int)wanc_error_code(check_err_), wanc_error_message(check_err_)); \
                *test_failed_ = 1;                                                   \
            }                                                                        \
            wanc_error_free(check_err_);                                             \
        }                                                                            \
    } while (0)

#define CHECK_NEAR(a, b, tol) CHECK(fabs((double)(a) - (double)(b)) <= (tol))

#endif
