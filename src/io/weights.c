/* PLACEHOLDER until the loaders land: every open fails. Replaced by the io work. */
#include "io/weights.h"

#include <stdlib.h>

struct wanc_weights { int unused; };

wanc_err wanc_weights_open(wanc_weights **out, const char *path)
{
    *out = NULL;
    WANC_FAIL(WANC_EUNSUPPORTED, "%s: checkpoint loading is not implemented yet", path);
}
wanc_err wanc_weights_open_files(wanc_weights **out, const char *const *paths, int npaths)
{
    (void)npaths;
    return wanc_weights_open(out, paths[0]);
}
void wanc_weights_close(wanc_weights *w) { free(w); }
int wanc_weights_count(const wanc_weights *w) { (void)w; return 0; }
const char *wanc_weights_name(const wanc_weights *w, int i) { (void)w; (void)i; return NULL; }
const wanc_tensor *wanc_weights_tensor(const wanc_weights *w, int i) { (void)w; (void)i; return NULL; }
const char *wanc_weights_file_of(const wanc_weights *w, int i) { (void)w; (void)i; return NULL; }
const char *wanc_weights_describe(const wanc_weights *w) { (void)w; return ""; }
const wanc_tensor *wanc_weights_find(const wanc_weights *w, const char *name) { (void)w; (void)name; return NULL; }
bool wanc_weights_has(const wanc_weights *w, const char *name) { (void)w; (void)name; return false; }
wanc_err wanc_weights_get(const wanc_weights *w, const char *name, const wanc_tensor **out, int ndim,
                          const int64_t *shape)
{
    (void)w; (void)out; (void)ndim; (void)shape;
    WANC_FAIL(WANC_ENOTFOUND, "no tensor %s", name);
}
wanc_err wanc_weights_getf(const wanc_weights *w, const wanc_tensor **out, int ndim, const int64_t *shape,
                           const char *fmt, ...)
{
    return wanc_weights_get(w, fmt, out, ndim, shape);
}
wanc_err wanc_weights_load_f32(const wanc_weights *w, const char *name, float **out, int ndim, const int64_t *shape)
{
    (void)w; (void)out; (void)ndim; (void)shape;
    WANC_FAIL(WANC_ENOTFOUND, "no tensor %s", name);
}
const char *wanc_weights_metadata(const wanc_weights *w, const char *key) { (void)w; (void)key; return NULL; }
wanc_err wanc_weights_rename(wanc_weights *w, wanc_name_map_fn map, void *user)
{
    (void)w; (void)map; (void)user;
    return NULL;
}
wanc_err wanc_safetensors_write(const char *path, int n, const char *const *names, const wanc_tensor *tensors,
                                const char *const *metadata)
{
    (void)n; (void)names; (void)tensors; (void)metadata;
    WANC_FAIL(WANC_EUNSUPPORTED, "%s: writing is not implemented yet", path);
}
