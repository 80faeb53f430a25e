#include "core/error.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct wanc_error {
    wanc_errcode code;
    int is_static;
    char *msg;
};

static struct wanc_error out_of_memory = {WANC_ENOMEM, 1, "out of memory"};

static char *vformat(const char *fmt, va_list ap)
{
    va_list ap2;
    va_copy(ap2, ap);
    int n = vsnprintf(NULL, 0, fmt, ap2);
    va_end(ap2);
    if (n < 0) return NULL;
    char *s = malloc((size_t)n + 1);
    if (s) vsnprintf(s, (size_t)n + 1, fmt, ap);
    return s;
}

wanc_err wanc_verror(wanc_errcode code, const char *fmt, va_list ap)
{
    struct wanc_error *e = malloc(sizeof *e);
    if (!e) return &out_of_memory;
    e->code = code;
    e->is_static = 0;
    e->msg = vformat(fmt, ap);
    if (!e->msg) {
        free(e);
        return &out_of_memory;
    }
    return e;
}

wanc_err wanc_error(wanc_errcode code, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    wanc_err e = wanc_verror(code, fmt, ap);
    va_end(ap);
    return e;
}

wanc_err wanc_error_context(wanc_err err, const char *fmt, ...)
{
    if (!err || err->is_static) return err;
    va_list ap;
    va_start(ap, fmt);
    char *ctx = vformat(fmt, ap);
    va_end(ap);
    if (!ctx) return err;
    size_t a = strlen(ctx), b = strlen(err->msg);
    char *joined = malloc(a + 2 + b + 1);
    if (joined) {
        memcpy(joined, ctx, a);
        memcpy(joined + a, ": ", 2);
        memcpy(joined + a + 2, err->msg, b + 1);
        free(err->msg);
        err->msg = joined;
    }
    free(ctx);
    return err;
}

const char *wanc_error_message(wanc_err err) { return err ? err->msg : ""; }
wanc_errcode wanc_error_code(wanc_err err) { return err ? err->code : WANC_OK; }

void wanc_error_free(wanc_err err)
{
    if (!err || err->is_static) return;
    free(err->msg);
    free(err);
}
