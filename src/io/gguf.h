/* GGUF (ggml's container, versions 2 and 3), parsed from memory.
 *
 * Layout, little endian: "GGUF", u32 version, u64 tensor count, u64
 * key/value count; the key/values (u64-length-prefixed key, u32 value type,
 * value; strings are u64 length + bytes, arrays u32 element type + u64 count
 * + elements); the tensor infos (name, u32 n_dims, n_dims × u64 `ne` with
 * the fastest-varying dimension first, u32 ggml type, u64 offset into the
 * data section); zero padding to `general.alignment` (default 32); the data.
 *
 * The parser checks every count, length and offset against the buffer before
 * using it, so any byte string is safe to hand it (it is the fuzzing entry
 * point). Up to 5 dims are accepted: city96's Wan files hold a 5-D
 * patch_embedding.weight, which ggml's own reader refuses.
 */
#ifndef WANC_IO_GGUF_H
#define WANC_IO_GGUF_H

#include <stddef.h>
#include <stdint.h>

#include "core/error.h"
#include "core/tensor.h"

typedef struct {
    char *name;
    wanc_dtype dtype;
    int ndim;
    int64_t shape[WANC_MAX_DIMS]; /* torch order: `ne` reversed */
    uint64_t offset;              /* from the start of the buffer */
    uint64_t nbytes;
} wanc_gguf_tensor;

typedef struct {
    uint32_t version;
    uint64_t alignment, data_offset;
    int ntensors, nkv;
    wanc_gguf_tensor *tensors; /* in file order */
    char **kv;                 /* key, value, ...: scalars and strings as text, arrays as "[N × type]" */
} wanc_gguf;

/* Parse buf[0..size). `what` names the source in messages (a path). */
wanc_err wanc_gguf_parse(const unsigned char *buf, size_t size, const char *what, wanc_gguf **out);
void wanc_gguf_free(wanc_gguf *g);
/* Value of a key (as text), NULL when absent. */
const char *wanc_gguf_get(const wanc_gguf *g, const char *key);

/* ---- writing --------------------------------------------------------------- */

typedef struct {
    const char *key;
    const char *str; /* a string value, or NULL for the u32 below */
    uint32_t u32;
} wanc_gguf_kv;

typedef struct {
    const char *name;
    wanc_dtype dtype;
    int ndim; /* stored as is (not trimmed): 3-D modulation, 5-D patch embedding */
    int64_t shape[WANC_MAX_DIMS]; /* torch order */
} wanc_gguf_out_tensor;

/* Fill dst (nbytes, the tensor's size in its dtype) with tensor i's data. */
typedef wanc_err (*wanc_gguf_fill_fn)(void *user, int i, void *dst, size_t nbytes);

/* Write a GGUF v3 file: the key/values in order, the tensor infos in order,
 * alignment 32 (no general.alignment key), each tensor's data padded to 32 —
 * the bytes ggml's gguf_write_to_file produces for the same content. Data is
 * produced one tensor at a time by `fill`; the file is written under a
 * temporary name and renamed when complete. */
wanc_err wanc_gguf_write(const char *path, const wanc_gguf_kv *kv, int nkv, const wanc_gguf_out_tensor *t, int n,
                         wanc_gguf_fill_fn fill, void *user);

/* ggml's type number for a wanc dtype, -1 when GGUF has none. */
int wanc_gguf_type_of(wanc_dtype dt);
/* llama.cpp's name for a `general.file_type` number ("Q4_K_S"), NULL when unknown. */
const char *wanc_gguf_file_type_name(int ftype);

#endif
