/* Error values: every fallible call in wanc returns a wanc_err.
 *
 * NULL means success. A non-NULL error owns a message that callers may
 * extend with context as it travels up ("loading DiT: model.safetensors:
 * tensor blocks.0.self_attn.q.weight: shape 64x32, expected 64x64"). The
 * caller that finally handles an error frees it. The library never prints and
 * never exits on its own.
 */
#ifndef WANC_CORE_ERROR_H
#define WANC_CORE_ERROR_H

#include <stdarg.h>

typedef enum wanc_errcode {
    WANC_OK = 0,
    WANC_EIO,          /* file missing, unreadable, short read            */
    WANC_EFORMAT,      /* file present but malformed                      */
    WANC_ESHAPE,       /* tensor shape or dtype not what the model needs  */
    WANC_EINVAL,       /* bad argument / parameter                        */
    WANC_ENOMEM,       /* allocation failed                               */
    WANC_EUNSUPPORTED, /* valid input that wanc does not handle (yet)     */
    WANC_ENOTFOUND,    /* named thing (tensor, file, key) absent          */
    WANC_ECANCELLED,   /* stopped by the caller (progress callback)       */
    WANC_EINTERNAL,    /* a bug in wanc                                   */
} wanc_errcode;

typedef struct wanc_error *wanc_err;

/* Make a new error with a printf-style message. Never returns NULL: when
 * memory is exhausted a static "out of memory" error is returned instead. */
wanc_err wanc_error(wanc_errcode code, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
wanc_err wanc_verror(wanc_errcode code, const char *fmt, va_list ap);

/* Prefix context to an error ("ctx: old message"); returns the same error. */
wanc_err wanc_error_context(wanc_err err, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

const char *wanc_error_message(wanc_err err); /* "" for NULL */
wanc_errcode wanc_error_code(wanc_err err);   /* WANC_OK for NULL */
void wanc_error_free(wanc_err err);           /* NULL is fine */

/* Propagate an error from a fallible call. */
#define TRY(expr)                                                              \
    do {                                                                       \
        wanc_err try_err_ = (expr);                                            \
        if (try_err_) return try_err_;                                         \
    } while (0)

/* Propagate with added context, e.g. TRYC(load(p), "loading %s", path). */
#define TRYC(expr, ...)                                                        \
    do {                                                                       \
        wanc_err try_err_ = (expr);                                            \
        if (try_err_) return wanc_error_context(try_err_, __VA_ARGS__);        \
    } while (0)

/* For functions with cleanup: store the error in `err` and jump to `label`.
 *   wanc_err err = NULL; ... TRY_GOTO(err, done, f(x)); ... done: free(..); return err; */
#define TRY_GOTO(errvar, label, expr)                                          \
    do {                                                                       \
        (errvar) = (expr);                                                     \
        if (errvar) goto label;                                                \
    } while (0)

#define WANC_FAIL(code, ...) return wanc_error((code), __VA_ARGS__)

#endif
