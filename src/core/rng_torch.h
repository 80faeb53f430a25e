/* Noise identical to PyTorch's CPU generator.
 *
 * DiffSynth draws the initial latents with
 *     torch.randn(shape, generator=torch.Generator("cpu").manual_seed(seed), dtype=float32)
 * so the same seed must give the same video in wanc. This module reproduces
 * that draw bit for bit:
 *
 *   - the generator is a 32-bit Mersenne Twister (MT19937) whose state is
 *     seeded from the low 32 bits of the seed, as torch's manual_seed does;
 *   - a float uniform is (draw & (2^24-1)) · 2^-24, a double uniform is
 *     ((hi<<32 | lo) & (2^53-1)) · 2^-53 from two consecutive draws;
 *   - a contiguous float tensor of 16 or more elements is first filled with
 *     float uniforms, then turned into normals by Box–Muller in blocks of 16
 *     (element j pairs with j+8); when the count is not a multiple of 16 the
 *     last 16 positions are refilled with fresh uniforms and transformed again;
 *   - fewer than 16 elements take the scalar double path: one Box–Muller pair
 *     per two elements, the sine half cached in the generator.
 *
 * The 16-block transform exists in two variants in torch, and they differ in
 * the last bits: the AVX2 kernel (Cephes-style float polynomials for log and
 * sincos) that torch picks on AVX2 machines, and the default kernel (libm
 * logf/cosf/sinf) used by builds without it. Both are implemented here in
 * portable scalar C; WANC_RANDN_AVX2 is the default because that is what
 * torch runs on the machines the reference videos come from.
 */
#ifndef WANC_CORE_RNG_TORCH_H
#define WANC_CORE_RNG_TORCH_H

#include <stdbool.h>
#include <stdint.h>

#include "core/error.h"

typedef enum wanc_randn_kernel {
    WANC_RANDN_AVX2 = 0,    /* torch's normal_fill_16_AVX2 (default) */
    WANC_RANDN_DEFAULT = 1, /* torch's scalar normal_fill_16 (ATEN_CPU_CAPABILITY=default) */
} wanc_randn_kernel;

/* "avx2" / "default"; false when unknown. */
bool wanc_randn_kernel_parse(const char *name, wanc_randn_kernel *out);
const char *wanc_randn_kernel_name(wanc_randn_kernel k);

/* The state of torch.Generator("cpu"): the twister plus the cached second
 * half of the last double Box–Muller pair. */
typedef struct wanc_torch_gen {
    uint32_t mt[624];
    int left, next; /* draws left before the next twist, index of the next word */
    bool has_cached_normal;
    double cached_normal;
} wanc_torch_gen;

/* generator.manual_seed(seed): resets the twister and the cached normal. */
void wanc_torch_gen_seed(wanc_torch_gen *g, uint64_t seed);
/* One 32-bit output of the twister (torch's generator->random()). */
uint32_t wanc_torch_gen_u32(wanc_torch_gen *g);
/* Two draws as one 64-bit value, the first one high (generator->random64()). */
uint64_t wanc_torch_gen_u64(wanc_torch_gen *g);

/* torch.randn(n, generator=g) into out[n] float32 (a contiguous tensor of
 * n elements: the shape beyond its element count does not matter).
 * Continues from g's current state, as successive torch calls would. */
wanc_err wanc_torch_gen_randn(wanc_torch_gen *g, float *out, int64_t n, wanc_randn_kernel kernel);

/* The whole pipeline draw: a fresh generator seeded with `seed`, then randn.
 * out[n], n = numel of the noise shape (e.g. 1·16·21·60·104). */
wanc_err wanc_torch_randn(float *out, int64_t n, uint64_t seed, wanc_randn_kernel kernel);

#endif
