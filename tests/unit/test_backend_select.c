/* Backend selection by name (backend_select.c): the names, the named
 * errors, and what a build without CUDA=1 says. */
#include <string.h>

#include "backend/backend.h"
#include "test.h"

TEST(backend_get_cpu)
{
    const wanc_backend *be = NULL;
    CHECK_OK(wanc_backend_get("cpu", &be));
    CHECK(be == wanc_backend_cpu());
    CHECK(be && !strcmp(be->name, "cpu"));
}

TEST(backend_get_bad_names)
{
    const wanc_backend *be = (const wanc_backend *)1;
    const char *bad[] = {"", "gpu", "CPU", "cuda:", "cuda:x", "cuda:-1", "cuda:1x", "cuda0", "cudax", "cuda:99999"};
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        CHECK_ERR(wanc_backend_get(bad[i], &be), WANC_EINVAL, "unknown backend");
        CHECK(be == NULL);
    }
    CHECK_ERR(wanc_backend_get(NULL, &be), WANC_EINVAL, "NULL");
    CHECK_ERR(wanc_backend_get("cpu", NULL), WANC_EINVAL, "NULL");
}

TEST(backend_get_cuda)
{
    const wanc_backend *be = NULL;
#ifdef WANC_CUDA
    /* with a device: "cuda" is cuda:0; without one: the named error */
    wanc_err err = wanc_backend_get("cuda", &be);
    if (err) {
        CHECK(wanc_error_code(err) == WANC_EUNSUPPORTED && strstr(wanc_error_message(err), "no CUDA device"));
        CHECK(be == NULL);
        wanc_error_free(err);
        CHECK_ERR(wanc_backend_get("cuda:1", &be), WANC_EUNSUPPORTED, "no CUDA device");
    } else {
        CHECK(be && !strcmp(be->name, "cuda:0"));
        const wanc_backend *be0 = NULL;
        CHECK_OK(wanc_backend_get("cuda:0", &be0));
        CHECK(be0 == be);
        CHECK_ERR(wanc_backend_get("cuda:4095", &be), WANC_EINVAL, "does not exist");
    }
#else
    CHECK_ERR(wanc_backend_get("cuda", &be), WANC_EUNSUPPORTED, "this build has no CUDA backend (make CUDA=1)");
    CHECK_ERR(wanc_backend_get("cuda:3", &be), WANC_EUNSUPPORTED, "this build has no CUDA backend");
    CHECK(be == NULL);
#endif
}
