/* Tensors: a dtype, up to 5 dims, a data pointer and element strides.
 *
 * A wanc_tensor is a small value type. It either owns its buffer (made by
 * wanc_tensor_alloc, released by wanc_tensor_free) or is a view onto memory
 * owned by something else: an mmapped checkpoint, an arena, another tensor.
 * Views are cheap: slicing changes data/shape/stride, never copies.
 *
 * Shapes are row-major (last dim fastest), as in PyTorch.
 */
#ifndef WANC_CORE_TENSOR_H
#define WANC_CORE_TENSOR_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/error.h"

#define WANC_MAX_DIMS 5

typedef enum wanc_dtype {
    WANC_F64,
    WANC_F32,
    WANC_BF16,
    WANC_F16,
    WANC_F8_E4M3,
    WANC_F8_E5M2,
    WANC_I64,
    WANC_I32,
    WANC_U8,
    WANC_BOOL,
    /* ggml's block-quantized types (GGUF files): the last dim is a whole
     * number of blocks; see core/quant.h. */
    WANC_Q4_0,
    WANC_Q4_1,
    WANC_Q5_0,
    WANC_Q5_1,
    WANC_Q8_0,
    WANC_Q2_K,
    WANC_Q3_K,
    WANC_Q4_K,
    WANC_Q5_K,
    WANC_Q6_K,
    WANC_DTYPE_COUNT
} wanc_dtype;

/* Bytes per element; 0 for the block-quantized types (use wanc_dtype_row_bytes). */
size_t wanc_dtype_size(wanc_dtype dt);
/* True for every type that holds real numbers, the block-quantized ones included. */
bool wanc_dtype_is_float(wanc_dtype dt);
/* Elements per block (1 for plain types, 32 or 256 for ggml's) and bytes per block. */
int64_t wanc_dtype_block_elems(wanc_dtype dt);
size_t wanc_dtype_block_bytes(wanc_dtype dt);
static inline bool wanc_dtype_is_quant(wanc_dtype dt) { return wanc_dtype_block_elems(dt) > 1; }
/* Bytes of n consecutive elements (n a multiple of the block size). */
size_t wanc_dtype_row_bytes(wanc_dtype dt, int64_t n);
/* Safetensors spelling: "F32", "BF16", "F8_E4M3", "I64", "BOOL", ...; ggml's
 * for the block types: "Q4_K", "Q8_0", ... */
const char *wanc_dtype_name(wanc_dtype dt);
/* Parse the safetensors spelling; false when unknown (block types are not
 * safetensors dtypes and never parse). */
bool wanc_dtype_parse(const char *name, wanc_dtype *out);

typedef struct wanc_tensor {
    wanc_dtype dtype;
    int ndim;
    int64_t shape[WANC_MAX_DIMS];
    int64_t stride[WANC_MAX_DIMS]; /* in elements */
    void *data;
    void *owned; /* buffer to free, or NULL for a view */
    /* Per-tensor dequantization scale (ComfyUI "scaled fp8": value =
     * float32(code) · scale, one float32 product); 0 means none. */
    float scale;
} wanc_tensor;

int64_t wanc_numel(int ndim, const int64_t *shape);
int64_t wanc_tensor_numel(const wanc_tensor *t);
size_t wanc_tensor_nbytes(const wanc_tensor *t); /* numel * dtype size (whole blocks for block types) */
bool wanc_tensor_is_contiguous(const wanc_tensor *t);

/* A contiguous view of `data` with the given shape (nothing is copied). */
wanc_tensor wanc_tensor_wrap(void *data, wanc_dtype dt, int ndim, const int64_t *shape);
/* Allocate a contiguous, zero-filled tensor (64-byte aligned). */
wanc_err wanc_tensor_alloc(wanc_tensor *t, wanc_dtype dt, int ndim, const int64_t *shape);
void wanc_tensor_free(wanc_tensor *t);
/* View of t restricted to [start, start+len) along dim. */
wanc_tensor wanc_tensor_narrow(const wanc_tensor *t, int dim, int64_t start, int64_t len);
/* Same data, new contiguous shape with the same numel (t must be contiguous). */
wanc_err wanc_tensor_reshape(wanc_tensor *out, const wanc_tensor *t, int ndim, const int64_t *shape);

/* Does t have exactly this shape? A -1 in `shape` matches any size. */
bool wanc_tensor_shape_is(const wanc_tensor *t, int ndim, const int64_t *shape);
/* "1x16x3x4x6" ("[]" for a scalar); returns buf. */
char *wanc_shape_str(char *buf, size_t cap, int ndim, const int64_t *shape);

/* Convert n elements between any two float (or integer) dtypes, contiguous.
 * Float→bf16/f16/f8 rounds to nearest even, as torch does. A block type is
 * accepted as the source (dequantized, n a multiple of its block), never as
 * the destination (see core/quant.h for quantizing). */
wanc_err wanc_convert(void *dst, wanc_dtype dst_dt, const void *src, wanc_dtype src_dt, size_t n);
/* Copy any tensor (strided, any dtype, block-quantized or scaled included)
 * into a contiguous float buffer of numel floats. */
wanc_err wanc_tensor_to_f32(float *dst, const wanc_tensor *src);
/* Rows [row0, row0+nrows) of a contiguous weight w[N, K...] (K = numel/N)
 * as float32 dst[nrows, K], its scale applied: the one "stored weight →
 * float32" conversion every consumer of weights (backends, LoRA, training)
 * shares. Fails for non-float dtypes or a K that is not whole blocks. */
wanc_err wanc_weight_rows_to_f32(float *dst, const wanc_tensor *w, int64_t row0, int64_t nrows);
/* Allocate an owned contiguous copy of src converted to dt. */
wanc_err wanc_tensor_convert(wanc_tensor *out, const wanc_tensor *src, wanc_dtype dt);

/* Scalar conversions. */
static inline float wanc_bf16_to_f32(uint16_t h)
{
    union { uint32_t u; float f; } v = {(uint32_t)h << 16};
    return v.f;
}
static inline uint16_t wanc_f32_to_bf16(float f)
{
    union { float f; uint32_t u; } v = {f};
    if ((v.u & 0x7fffffffu) > 0x7f800000u) return (uint16_t)((v.u >> 16) | 0x40); /* quiet NaN */
    uint32_t rounding = 0x7fffu + ((v.u >> 16) & 1u);
    return (uint16_t)((v.u + rounding) >> 16);
}
/* Round a float to the nearest bf16 value, kept as float (torch's x.to(bf16).float()). */
static inline float wanc_round_bf16(float f) { return wanc_bf16_to_f32(wanc_f32_to_bf16(f)); }
void wanc_round_bf16_inplace(float *x, size_t n);

float wanc_f16_to_f32(uint16_t h);
uint16_t wanc_f32_to_f16(float f);
float wanc_f8e4m3_to_f32(uint8_t v);
uint8_t wanc_f32_to_f8e4m3(float f);
float wanc_f8e5m2_to_f32(uint8_t v);
uint8_t wanc_f32_to_f8e5m2(float f);

#endif
