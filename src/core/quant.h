/* ggml's block-quantized weight formats, decoded exactly as ggml does.
 *
 * A block type stores a row of n values (n a multiple of the block size) as
 * n / block consecutive blocks, each a few scales and packed integers:
 *
 *   type   elems bytes  layout (offsets in bytes)
 *   Q4_0   32    18     f16 d, 16 × (two 4-bit q)          v = (q - 8) · d
 *   Q4_1   32    20     f16 d, f16 m, 16 × (two 4-bit q)   v = q · d + m
 *   Q5_0   32    22     f16 d, u32 high bits, 16 × 4-bit   v = (q - 16) · d
 *   Q5_1   32    24     f16 d, f16 m, u32 high, 16 × 4-bit v = q · d + m
 *   Q8_0   32    34     f16 d, 32 × i8                     v = q · d
 *   Q2_K   256   84     16 × (4-bit scale, 4-bit min), 64 × (four 2-bit q), f16 d, f16 dmin
 *   Q3_K   256   110    32 high-bit mask, 64 × (four 2-bit q), 12 packed 6-bit scales, f16 d
 *   Q4_K   256   144    f16 d, f16 dmin, 12 packed 6-bit scales/mins, 128 × (two 4-bit q)
 *   Q5_K   256   176    f16 d, f16 dmin, 12 scales/mins, 32 high-bit bytes, 128 × 4-bit
 *   Q6_K   256   210    128 low 4 bits, 64 × (four 2-bit high), 16 × i8 scale, f16 d
 *
 * Every decoded value is computed in float32 with the same operations, in the
 * same order, as ggml's scalar reference (`dequantize_row_*`), without fused
 * multiply-adds, so the results are bit-identical to ggml's.
 */
#ifndef WANC_CORE_QUANT_H
#define WANC_CORE_QUANT_H

#include <stddef.h>
#include <stdint.h>

#include "core/error.h"
#include "core/tensor.h"

/* Decode n values (a whole number of blocks) of a block type, or of any
 * float dtype (F32, BF16, F16, F8_E4M3, F8_E5M2, F64), into float32. */
wanc_err wanc_dequantize(float *dst, const void *src, wanc_dtype dt, int64_t n);

/* Encode n float32 values (a whole number of blocks) as Q8_0, Q6_K, Q5_K,
 * Q5_0, Q5_1, Q4_K, Q4_0 or Q4_1 with ggml's reference quantizers (no
 * importance matrix), the same steps in the same order. dst holds
 * wanc_dtype_row_bytes(dt, n) bytes. */
wanc_err wanc_quantize(void *dst, wanc_dtype dt, const float *src, int64_t n);

/* IEEE half → float32, exact (the block scales). */
static inline float wanc_half_bits_to_f32(uint16_t h)
{
    uint32_t sign = (uint32_t)(h & 0x8000u) << 16, e = (h >> 10) & 0x1f, m = h & 0x3ffu, bits;
    if (e == 0x1f) bits = sign | 0x7f800000u | (m << 13);
    else if (e) bits = sign | ((e + 112) << 23) | (m << 13);
    else if (!m) bits = sign;
    else { /* subnormal: normalise */
        int s = 0;
        while (!(m & 0x400u)) m <<= 1, s++;
        bits = sign | ((uint32_t)(113 - s) << 23) | ((m & 0x3ffu) << 13);
    }
    union { uint32_t u; float f; } v = {bits};
    return v.f;
}

#endif
