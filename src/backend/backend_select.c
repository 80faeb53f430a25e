/* Backend selection by name: "cpu", "cuda" (device 0) or "cuda:N".
 *
 * The CPU backend is always there. The CUDA backend exists only in builds
 * made with `make CUDA=1` (WANC_CUDA), and then only when the runtime sees a
 * device; every other case is a named error, so a `--device cuda` on the
 * wrong build or machine says why instead of silently running on the CPU. */
#include <errno.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include "backend/backend.h"
#include "backend/cpu/cpu_internal.h"

#ifdef WANC_CUDA
#include "cuda/cuda_backend.h"
#endif

/* "cuda" → 0, "cuda:N" → N (decimal, 0..4095); -1 when spec is not a CUDA spec. */
static int parse_cuda_spec(const char *spec, int *device)
{
    if (strncmp(spec, "cuda", 4)) return -1;
    const char *rest = spec + 4;
    if (*rest == '\0') {
        *device = 0;
        return 0;
    }
    if (*rest != ':' || rest[1] < '0' || rest[1] > '9') return -1;
    errno = 0;
    char *end = NULL;
    long n = strtol(rest + 1, &end, 10);
    if (errno || *end != '\0' || n < 0 || n > 4095) return -1;
    *device = (int)n;
    return 0;
}

wanc_err wanc_backend_get(const char *spec, const wanc_backend **out)
{
    if (!out) WANC_FAIL(WANC_EINVAL, "wanc_backend_get: NULL out");
    *out = NULL;
    if (!spec) WANC_FAIL(WANC_EINVAL, "wanc_backend_get: NULL backend name");
    if (!strcmp(spec, "cpu")) {
        TRY(cpu_isa_status()); /* a WANC_CPU path this CPU lacks */
        *out = wanc_backend_cpu();
        return NULL;
    }
    int device = 0;
    if (parse_cuda_spec(spec, &device))
        WANC_FAIL(WANC_EINVAL, "unknown backend '%s' (expected cpu, cuda or cuda:N)", spec);
#ifdef WANC_CUDA
    TRYC(wanc_backend_cuda(device, out), "backend '%s'", spec);
    return NULL;
#else
    WANC_FAIL(WANC_EUNSUPPORTED, "backend '%s': this build has no CUDA backend (make CUDA=1)", spec);
#endif
}

/* ---- table completeness ------------------------------------------------------ */

typedef void (*backend_fn)(void);

#define ENTRY(op) {#op, offsetof(wanc_backend, op)}
/* Every function pointer of struct wanc_backend, in order. */
struct entry {
    const char *name;
    size_t offset;
};
static const struct entry backend_entries[] = {
    ENTRY(alloc),      ENTRY(free),       ENTRY(upload),      ENTRY(download),
    ENTRY(linear),     ENTRY(gemm),       ENTRY(layer_norm),  ENTRY(rms_norm),
    ENTRY(softmax),    ENTRY(gelu_tanh),  ENTRY(gelu_erf),    ENTRY(silu),
    ENTRY(add),        ENTRY(mul),        ENTRY(scale),       ENTRY(round_bf16),
    ENTRY(modulate),   ENTRY(gated_add),  ENTRY(attention),   ENTRY(rope),
    ENTRY(conv3d),     ENTRY(channel_rms_norm), ENTRY(upsample_nearest2x), ENTRY(copy_strided),
    ENTRY(fill),       ENTRY(conv3d_hist), ENTRY(mul_rows),   ENTRY(relu),
};
/* The training ops (optional for a backend: inference needs none of them). */
static const struct entry training_entries[] = {
    ENTRY(linear_backward),    ENTRY(layer_norm_backward), ENTRY(rms_norm_backward), ENTRY(modulate_backward),
    ENTRY(mul_rows_backward),  ENTRY(gelu_tanh_backward),  ENTRY(gelu_erf_backward), ENTRY(silu_backward),
    ENTRY(rope_backward),      ENTRY(attention_lse),       ENTRY(attention_backward),
};
/* The fused ops (optional: the nn layers run the unfused ops when NULL). */
static const struct entry fused_entries[] = {
    ENTRY(linear_fused), ENTRY(layer_norm_modulate),
};
#undef ENTRY

/* An op appended to the struct but not to one of the lists above fails the
 * build here, so the checks below always cover the whole table. */
_Static_assert(sizeof backend_entries / sizeof backend_entries[0] +
                       sizeof training_entries / sizeof training_entries[0] +
                       sizeof fused_entries / sizeof fused_entries[0] ==
                   (sizeof(wanc_backend) - offsetof(wanc_backend, alloc)) / sizeof(backend_fn),
               "backend_entries, training_entries and fused_entries must list every op of struct wanc_backend");

/* The first of `n` entries that is NULL in be's table, as a named error. */
static wanc_err check_entries(const wanc_backend *be, const struct entry *e, size_t n, wanc_errcode code,
                              const char *what)
{
    for (size_t i = 0; i < n; i++) {
        backend_fn fn;
        memcpy(&fn, (const char *)be + e[i].offset, sizeof fn);
        if (!fn)
            WANC_FAIL(code, "backend %s%s: op %s is missing (NULL in its function table)",
                      be->name ? be->name : "(unnamed)", what, e[i].name);
    }
    return NULL;
}

wanc_err wanc_backend_check_complete(const wanc_backend *be)
{
    if (!be) WANC_FAIL(WANC_EINVAL, "wanc_backend_check_complete: NULL backend");
    return check_entries(be, backend_entries, sizeof backend_entries / sizeof backend_entries[0], WANC_EINTERNAL, "");
}

int wanc_backend_has_fused_ops(const wanc_backend *be)
{
    if (!be) return 0;
    wanc_err e = check_entries(be, fused_entries, sizeof fused_entries / sizeof fused_entries[0], WANC_EUNSUPPORTED,
                               " has no fused op");
    wanc_error_free(e);
    return e == NULL;
}

wanc_err wanc_backend_check_training(const wanc_backend *be)
{
    if (!be) WANC_FAIL(WANC_EINVAL, "wanc_backend_check_training: NULL backend");
    return check_entries(be, training_entries, sizeof training_entries / sizeof training_entries[0],
                         WANC_EUNSUPPORTED, " cannot train");
}
