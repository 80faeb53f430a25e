/* The weight store: one API over every checkpoint format.
 *
 * A store holds the tensors of one model, gathered from one or more files
 * (safetensors, sharded safetensors, PyTorch zip .pth, GGUF). Tensor data stays in
 * the mmapped files wherever the layout allows; a tensor's `data` points
 * into the mapping and must not be written. Names are kept as stored; lookup
 * can strip the wrapper prefixes DiffSynth accepts (`model.`,
 * `diffusion_model.`, `model.diffusion_model.`).
 *
 *   wanc_weights *w;
 *   TRY(wanc_weights_open(&w, "Wan2.1_VAE.pth"));
 *   const wanc_tensor *t;
 *   TRY(wanc_weights_get(w, "conv1.weight", &t, 1, (int64_t[]){32}));
 *   ...
 *   wanc_weights_close(w);
 */
#ifndef WANC_IO_WEIGHTS_H
#define WANC_IO_WEIGHTS_H

#include <stdbool.h>

#include "core/error.h"
#include "core/tensor.h"

typedef struct wanc_weights wanc_weights;

/* Open a checkpoint. `path` may be:
 *   - a .safetensors file, a .pth/.pt/.ckpt (torch zip) file, a .gguf file
 *     (its block-quantized tensors stay quantized: dtypes WANC_Q*);
 *   - a `*.safetensors.index.json` (opens every shard it names);
 *   - a glob pattern such as "dir/diffusion_pytorch_model*.safetensors".
 * ComfyUI scaled-fp8 files: an fp8 `<layer>.weight` gets the value of its
 * `<layer>.scale_weight` / `.weight_scale` as its tensor's `scale` (it stays
 * fp8; conversions to float32 multiply by it).
 * Errors name the file and the problem. */
wanc_err wanc_weights_open(wanc_weights **out, const char *path);
/* Open several files as one model (their union; a duplicate name is an error). */
wanc_err wanc_weights_open_files(wanc_weights **out, const char *const *paths, int npaths);
void wanc_weights_close(wanc_weights *w);

/* Iterate in sorted (byte-order) name order. */
int wanc_weights_count(const wanc_weights *w);
const char *wanc_weights_name(const wanc_weights *w, int i);
const wanc_tensor *wanc_weights_tensor(const wanc_weights *w, int i);
/* The file a tensor came from (for messages). */
const char *wanc_weights_file_of(const wanc_weights *w, int i);
/* A short description of the store: its path, or "N files: first, ...". */
const char *wanc_weights_describe(const wanc_weights *w);

/* Find by exact name, else by name with the first wrapper prefix that
 * makes it match (`model.`, `diffusion_model.`, `model.diffusion_model.`).
 * NULL when absent. */
const wanc_tensor *wanc_weights_find(const wanc_weights *w, const char *name);
bool wanc_weights_has(const wanc_weights *w, const char *name);

/* Find and check: a named error when the tensor is absent or its shape differs
 * (-1 in `shape` matches any size; ndim < 0 skips the shape check). */
wanc_err wanc_weights_get(const wanc_weights *w, const char *name, const wanc_tensor **out, int ndim,
                          const int64_t *shape);
/* Same, formatting the name printf-style: wanc_weights_getf(w, &t, 2, shp, "blocks.%d.ffn.0.weight", i) */
wanc_err wanc_weights_getf(const wanc_weights *w, const wanc_tensor **out, int ndim, const int64_t *shape,
                           const char *fmt, ...) __attribute__((format(printf, 5, 6)));
/* Get a tensor converted to contiguous float32 in a newly allocated buffer
 * (for small tensors: norms, biases, embeddings). Caller frees `*out`. */
wanc_err wanc_weights_load_f32(const wanc_weights *w, const char *name, float **out, int ndim, const int64_t *shape);

/* Put an owned tensor `t` (same shape as the stored one, any dtype) in place
 * of tensor `name`; the store takes over t's buffer (*t is zeroed). The bytes
 * of the mapped file that held the old data are handed back to the kernel
 * (madvise DONTNEED): a weight replaced by a merged copy stops counting in
 * the process's resident memory. Named error when absent or the shape differs. */
wanc_err wanc_weights_replace(wanc_weights *w, const char *name, wanc_tensor *t);
/* Drop the whole mapped pages inside bytes [offset, offset + nbytes) of tensor
 * `name` (nbytes SIZE_MAX: to its end) from resident memory; they are read back
 * from the file if touched again. No effect on owned (copied) tensors. */
void wanc_weights_release_pages(wanc_weights *w, const char *name, size_t offset, size_t nbytes);

/* safetensors `__metadata__` value, NULL when absent (always NULL for .pth). */
const char *wanc_weights_metadata(const wanc_weights *w, const char *key);

/* Rename every tensor through `map` (e.g. diffusers → native Wan names).
 * map writes the new name into dst (cap bytes) and returns 1 to keep, 0 to
 * drop the tensor. */
typedef int (*wanc_name_map_fn)(char *dst, size_t cap, const char *src, void *user);
wanc_err wanc_weights_rename(wanc_weights *w, wanc_name_map_fn map, void *user);

/* ---- memory ------------------------------------------------------------ */

/* Page hints for the part of the file mappings a tensor's data occupies
 * (nothing for data the store copied into memory of its own):
 * need = true starts reading it in (read-ahead, MADV_WILLNEED); need = false
 * drops its pages from this process (MADV_DONTNEED: they stay in the page
 * cache and fault back in from the file when touched again, so every view
 * stays valid). For streaming a model through less memory than it takes. */
void wanc_weights_advise(const wanc_weights *w, const wanc_tensor *t, bool need);
/* The same for every mapping of the store (a component done with its stage). */
void wanc_weights_release_all(const wanc_weights *w);
/* Bytes of all the store's tensors (mapped or copied). */
size_t wanc_weights_bytes(const wanc_weights *w);

/* ---- writing ----------------------------------------------------------- */

/* Write tensors to a .safetensors file (names sorted on write, header padded
 * to 8 bytes). metadata: NULL-terminated key,value,key,value,... or NULL.
 * Written to a temporary file and renamed when complete. */
wanc_err wanc_safetensors_write(const char *path, int n, const char *const *names, const wanc_tensor *tensors,
                                const char *const *metadata);

#endif
