/* Backend selection by name: "cpu", "cuda" (device 0) or "cuda:N".
 *
 * The CPU backend is always there. The CUDA backend exists only in builds
 * made with `make CUDA=1` (WANC_CUDA), and then only when the runtime sees a
 * device; every other case is a named error, so a `--device cuda` on the
 * wrong build or machine says why instead of silently running on the CPU. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "backend/backend.h"

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
