/* Shared pieces of the CPU backend: one .c file per op family, glued into
 * the function table by cpu_backend.c.
 *
 * Threading and determinism (applies to every file here):
 *   OpenBLAS is set to ONE thread (cpu_blas_init) and every sgemm is called
 *   single-threaded from the wanc pool, on a disjoint block of the output.
 *   The blocks are chosen from the problem sizes only, never from the thread
 *   count, so the same sgemm calls with the same arguments happen at any
 *   thread count and every output element is reduced in one fixed order.
 *   We do not rely on OpenBLAS's own threading: it splits C between its
 *   threads by the thread count, and which kernel computes an element (the
 *   blocked kernel's edge tails, the small-matrix kernels some builds pick
 *   by size) can then change with the split; we could not prove it
 *   bit-stable, so we make the split ourselves. The unit test
 *   ops_bit_identical_at_1_and_2_threads checks every op.
 *   Scratch kept per thread (cpu_scratch): up to ~8 MB for linear weight
 *   blocks, ~16 MB for an im2col block, a few MB for the conv row slabs,
 *   and in the thread that calls conv3d its re-laid weight (<= 16 MB for
 *   Wan's VAEs, in the WEIGHT slot: conv3d never runs inside linear).
 */
#ifndef WANC_BACKEND_CPU_INTERNAL_H
#define WANC_BACKEND_CPU_INTERNAL_H

#include <math.h>
#include <stddef.h>
#include <stdint.h>

#include "backend/backend.h"

/* ---- instruction-set paths (cpu_isa.c) ----
 * Ordered: a path needs everything of the ones before it. */
typedef enum { CPU_ISA_AVX2, CPU_ISA_AVX512, CPU_ISA_AVX512BF16, CPU_ISA_COUNT } cpu_isa;
cpu_isa cpu_isa_get(void);  /* the path that runs (detected once, or WANC_CPU) */
cpu_isa cpu_isa_best(void); /* the best path this CPU and OS support */
int cpu_isa_avx_vnni(void);    /* AVX-VNNI present (ymm vpdpbusd) */
int cpu_isa_avx512_vnni(void); /* AVX512-VNNI present (zmm vpdpbusd) */
const char *cpu_isa_name(cpu_isa isa);
/* The WANC_CPU choice was refused (unknown, or a path this CPU lacks): a named error. */
wanc_err cpu_isa_status(void);
/* Switch the path ("avx2", "avx512", "avx512bf16") for the tests and
 * benchmarks that run every path; refused when the CPU lacks it. Not
 * while an op runs. */
wanc_err cpu_isa_set(const char *name);

/* ---- int8 kernels for Q8_0 weights (cpu_isa.c selects, gemm_q8.c computes) ----
 * Which int8 dot-product kernel runs: the best one the CPU has that the
 * current path allows (avx512vnni only on the avx512* paths; avxvnni is a
 * VEX extension, allowed on every path). WANC_CPU_INT8=avx2|avxvnni|avx512vnni
 * (or cpu_int8_set) forces one; one the CPU lacks is refused. */
typedef enum { CPU_INT8_AVX2, CPU_INT8_AVXVNNI, CPU_INT8_AVX512VNNI, CPU_INT8_COUNT } cpu_int8;
cpu_int8 cpu_int8_get(void);
int cpu_int8_supported(cpu_int8 kern); /* the CPU (and OS) can run it */
const char *cpu_int8_name(cpu_int8 kern);
/* Force a kernel ("avx2", "avxvnni", "avx512vnni"), or NULL for the
 * automatic choice. Not while an op runs. */
wanc_err cpu_int8_set(const char *name);

#define Q8_MR 4  /* activation rows per micro-kernel tile */
#define Q8_NR 32 /* weight rows per tile (two panels of 16) */
/* Scratch sizes of the packs of m activation rows / n weight rows of K values. */
size_t cpu_q8_x_pack_bytes(int64_t m, int64_t K);
size_t cpu_q8_w_pack_bytes(int64_t n, int64_t K);
/* Quantize rows [0, m) of x (row stride ldx, K values, K % 32 == 0) to
 * int8 blocks with float32 scales, laid out for kernel kern. */
void cpu_q8_pack_x(void *dst, const float *x, int64_t ldx, int64_t m, int64_t K, cpu_int8 kern);
/* Lay out n rows of raw Q8_0 blocks (K / 32 blocks of 34 bytes per row)
 * as panels of 16 rows (the same layout for all three kernels). */
void cpu_q8_pack_w(void *dst, const uint8_t *w, int64_t n, int64_t K);
/* c[m, n] (row stride ldc) = packed x · packed wᵀ (+ bias[n] when not NULL). */
void cpu_q8_gemm_block(float *c, int64_t ldc, const void *xp, const void *wp, int64_t m, int64_t n, int64_t K,
                       const float *bias, cpu_int8 kern);

/* ---- the AVX-512 BF16 GEMM (gemm_bf16.c; only on CPU_ISA_AVX512BF16) ----
 * Operands are bf16 pairs in uint32 (low half the even k), products exact,
 * accumulation fp32 (vdpbf16ps: denormal inputs and results flush to zero).
 * B panels: [ceil(n/32)][K2][32] pairs, K2 = ceil(K/2), zero padded.
 * A panels: [ceil(m/12)][kc2][12] pairs of one K chunk. */
#define BF16_MR 12
#define BF16_NR 32
/* Pack rows [0, n) of a row-major bf16 matrix w (row stride ldw) as B panels. */
void cpu_bf16_pack_b(uint32_t *dst, const uint16_t *w, int64_t ldw, int64_t n, int64_t K);
/* Pack rows [0, n) of a float32 matrix x (row stride ldx, K columns), all
 * exactly bf16 (checked by the caller), as B panels. */
void cpu_bf16_pack_b_f32(uint32_t *dst, const float *x, int64_t ldx, int64_t n, int64_t K);
/* The same with element (j, k) at x[j·ld + k·cs]: a transposed operand
 * (attention's V tile, keys along k) packs without a copy. */
void cpu_bf16_pack_b_f32_strided(uint32_t *dst, const float *x, int64_t ld, int64_t cs, int64_t n, int64_t K);
/* Pack rows [0, m) x columns [k0, k0 + kc) of a float32 matrix x (row
 * stride ldx, K columns in all; k0 even) as A panels. Returns 0 when some
 * value is not exactly a bf16 (the caller then takes the float32 path). */
int cpu_bf16_pack_a(uint32_t *dst, const float *x, int64_t ldx, int64_t m, int64_t k0, int64_t kc, int64_t K);
/* Pack rows [0, m) of a bf16 matrix (element (i, k) at a[i·ld + k·cs], K
 * columns) as A panels of the whole K. */
void cpu_bf16_pack_a_bf16(uint32_t *dst, const uint16_t *a, int64_t ld, int64_t cs, int64_t m, int64_t K);
/* Are all n values exactly bf16 (the low 16 bits of each float zero)? */
int cpu_bf16_exact(const float *x, int64_t n);
/* c[m, n] (row stride ldc) = (accumulate ? c : 0) + A · B over kc2 pairs,
 * then + bias[n] when bias != NULL. A: panels of kc2 pairs (panel stride
 * a_panel); B: pair rows of stride ldb u32 (32 columns used per panel,
 * panel stride b_panel). */
void cpu_bf16_gemm_block(float *c, int64_t ldc, const uint32_t *a, int64_t a_panel, const uint32_t *b, int64_t ldb,
                         int64_t b_panel, int64_t m, int64_t n, int64_t kc2, int accumulate, const float *bias);

/* attention.c's tiles: queries per task, keys per step of the online
 * softmax (on the bf16 path P is rounded per key tile, against the running
 * max, so the tile size is part of its numerics). */
#define CPU_ATTN_TQ 128
#define CPU_ATTN_TK 256

/* Make OpenBLAS single-threaded (once). Every op that calls cblas calls this. */
void cpu_blas_init(void);

/* Per-thread scratch: a buffer of at least `bytes`, owned by the calling
 * thread, valid until that thread's next cpu_scratch call with the same slot.
 * Slots let one op hold two buffers at once. Returns NULL when out of memory. */
enum { CPU_SCRATCH_WEIGHT, CPU_SCRATCH_WORK, CPU_SCRATCH_WORK2, CPU_SCRATCH_SLOTS };
void *cpu_scratch(int slot, size_t bytes);

/* Convert n contiguous values of a float dtype dt to float32 (fast paths
 * for F32/BF16/F16; fp8 and block types through wanc_dequantize, n whole
 * blocks). */
void cpu_to_f32(float *dst, const void *src, wanc_dtype dt, size_t n);
/* Rows [row0, row0+nrows) of the contiguous weight w[N, K] as float32, its
 * per-tensor scale applied (the caller has checked w: a float dtype, K whole
 * blocks). */
void cpu_weight_rows(float *dst, const wanc_tensor *w, int64_t row0, int64_t nrows, int64_t K);
/* Is dt a weight dtype the CPU ops read (any float dtype, fp8 and ggml blocks included)? */
int cpu_weight_dtype_ok(wanc_dtype dt);

/* out[n] = silu(x[n]), exactly as the silu op computes each element (for
 * ops that fuse a SiLU). In place ok. */
void cpu_silu_span(float *out, const float *x, int64_t n);

/* GELU's tanh approximation: 0.5·x·(1 + tanh(β·(x + κ·x³))) (forward and backward). */
#define GELU_BETA ((float)(M_SQRT2 * M_2_SQRTPI * 0.5)) /* √(2/π) */
#define GELU_KAPPA 0.044715f

/* ---- op entries (signatures as in backend.h) ---- */
wanc_err cpu_linear(const wanc_backend *be, float *out, const float *x, const wanc_tensor *w,
                    const wanc_tensor *bias, int64_t M);
wanc_err cpu_linear_fused(const wanc_backend *be, float *out, const float *x, const wanc_tensor *w,
                          const wanc_tensor *bias, int64_t M, const wanc_epilogue *ep);
/* ep on one output block of a linear (elementwise.c). */
void cpu_epilogue_block(const wanc_epilogue *ep, float *y, int64_t ldy, int64_t row0, int64_t rows, int64_t col0,
                        int64_t cols);
wanc_err cpu_gemm(const wanc_backend *be, float *out, const float *a, const float *b, int64_t M, int64_t N,
                  int64_t K, int trans_a, int trans_b, float alpha, float beta, int64_t lda, int64_t ldb,
                  int64_t ldc);

wanc_err cpu_layer_norm(const wanc_backend *be, float *out, const float *x, const float *weight,
                        const float *bias, int64_t rows, int64_t dim, float eps);
wanc_err cpu_layer_norm_modulate(const wanc_backend *be, float *out, const float *x, const float *shift,
                                 const float *scale, int64_t rows, int64_t dim, float eps, int round_bf16);
wanc_err cpu_rms_norm(const wanc_backend *be, float *out, const float *x, const float *weight, int64_t rows,
                      int64_t dim, float eps);
wanc_err cpu_softmax(const wanc_backend *be, float *out, const float *x, int64_t rows, int64_t dim);

wanc_err cpu_gelu_tanh(const wanc_backend *be, float *out, const float *x, int64_t n);
wanc_err cpu_gelu_erf(const wanc_backend *be, float *out, const float *x, int64_t n);
wanc_err cpu_silu(const wanc_backend *be, float *out, const float *x, int64_t n);
wanc_err cpu_add(const wanc_backend *be, float *out, const float *a, const float *b, int64_t n);
wanc_err cpu_mul(const wanc_backend *be, float *out, const float *a, const float *b, int64_t n);
wanc_err cpu_scale(const wanc_backend *be, float *out, const float *x, float alpha, float beta, int64_t n);
wanc_err cpu_round_bf16(const wanc_backend *be, float *x, int64_t n);
wanc_err cpu_modulate(const wanc_backend *be, float *out, const float *x, const float *shift, const float *scale,
                      int64_t rows, int64_t dim);
wanc_err cpu_gated_add(const wanc_backend *be, float *x, const float *y, const float *gate, int64_t rows,
                       int64_t dim);

wanc_err cpu_attention(const wanc_backend *be, float *out, const float *q, const float *k, const float *v,
                       int64_t Lq, int64_t Lk, int64_t H, int64_t D, float scale, const float *bias,
                       const uint8_t *key_mask);
wanc_err cpu_rope(const wanc_backend *be, float *x, const double *cos_sin, int64_t L, int64_t H, int64_t D);

/* conv3d picks a stride-1 path without im2col; set to 1 to force im2col
 * everywhere (the benchmark and tests compare both). Not thread-safe to flip
 * while a conv runs. */
wanc_err cpu_channel_rms_norm(const wanc_backend *be, float *out, const float *x, const float *gamma, int64_t C,
                              int64_t P, float eps, int silu);
wanc_err cpu_upsample_nearest2x(const wanc_backend *be, float *out, const float *x, int64_t N, int64_t H,
                                int64_t W);
wanc_err cpu_copy_strided(const wanc_backend *be, float *out, const int64_t *out_strides, const float *x,
                          const int64_t *x_strides, const int64_t *shape, int ndim);
wanc_err cpu_fill(const wanc_backend *be, float *out, float value, int64_t n);
wanc_err cpu_mul_rows(const wanc_backend *be, float *out, const float *x, const float *w, int64_t rows,
                      int64_t dim);
wanc_err cpu_relu(const wanc_backend *be, float *out, const float *x, int64_t n);

extern int cpu_conv3d_force_im2col;
wanc_err cpu_conv3d(const wanc_backend *be, float *out, const float *x, const wanc_tensor *w,
                    const wanc_tensor *bias, int64_t Cin, int64_t T, int64_t H, int64_t W, const int stride[3],
                    const int pad[3]);
wanc_err cpu_conv3d_hist(const wanc_backend *be, float *out, const float *hist, int64_t Th, const float *x,
                         const wanc_tensor *w, const wanc_tensor *bias, int64_t Cin, int64_t T, int64_t H, int64_t W,
                         const int stride[3], const int pad[3]);

/* training (backward.c, attention.c) */
wanc_err cpu_linear_backward(const wanc_backend *be, float *dx, float *dw, float *db, const float *dy, const float *x,
                             const wanc_tensor *w, int64_t M, int accumulate);
wanc_err cpu_layer_norm_backward(const wanc_backend *be, float *dx, float *dweight, float *dbias, const float *dy,
                                 const float *x, const float *weight, int64_t rows, int64_t dim, float eps,
                                 int accumulate);
wanc_err cpu_rms_norm_backward(const wanc_backend *be, float *dx, float *dweight, const float *dy, const float *x,
                               const float *weight, int64_t rows, int64_t dim, float eps, int accumulate);
wanc_err cpu_modulate_backward(const wanc_backend *be, float *dx, float *dshift, float *dscale, const float *dy,
                               const float *x, const float *scale, int64_t rows, int64_t dim, int accumulate);
wanc_err cpu_mul_rows_backward(const wanc_backend *be, float *dx, float *dw, const float *dy, const float *x,
                               const float *w, int64_t rows, int64_t dim, int accumulate);
wanc_err cpu_gelu_erf_backward(const wanc_backend *be, float *dx, const float *dy, const float *x, int64_t n,
                               int accumulate);
wanc_err cpu_gelu_tanh_backward(const wanc_backend *be, float *dx, const float *dy, const float *x, int64_t n,
                                int accumulate);
wanc_err cpu_silu_backward(const wanc_backend *be, float *dx, const float *dy, const float *x, int64_t n,
                           int accumulate);
wanc_err cpu_rope_backward(const wanc_backend *be, float *dx, const double *cos_sin, int64_t L, int64_t H, int64_t D);
wanc_err cpu_attention_lse(const wanc_backend *be, float *out, float *lse, const float *q, const float *k,
                           const float *v, int64_t Lq, int64_t Lk, int64_t H, int64_t D, float scale);
wanc_err cpu_attention_backward(const wanc_backend *be, float *dq, float *dk, float *dv, const float *dout,
                                const float *q, const float *k, const float *v, const float *out, const float *lse,
                                int64_t Lq, int64_t Lk, int64_t H, int64_t D, float scale, int accumulate);

#endif
