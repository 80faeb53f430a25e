/* The CUDA backend: the op table of backend/backend.h on one NVIDIA GPU.
 *
 * Plain C, no CUDA header needed: callers include it only under WANC_CUDA
 * (set by `make CUDA=1`). Pick a backend by name with wanc_backend_get
 * ("cuda", "cuda:1"), or ask for a device here.
 *
 * Memory. be->alloc returns device memory (from a caching pool: freed
 * blocks are kept and reused, so a model's per-step buffers cost no
 * cudaMalloc after the first step). upload/download go through pinned
 * staging buffers on the backend's stream; download waits for the stream.
 *
 * Where the pointers may live. Every op takes device pointers (be->alloc)
 * and runs asynchronously on the backend's stream. For models that still
 * keep activations in host memory, every float/double/uint8 argument may
 * also be an ordinary host pointer: the op then copies it to the device,
 * runs, and copies outputs back before it returns (correct, PCIe-bound).
 * Weights (wanc_tensor) may be device memory or host memory (an mmapped
 * checkpoint): host weights are uploaded on first use and kept, keyed by
 * their address, size, dtype and a sample of their bytes; weights must not
 * change while the backend holds them (wanc_cuda_forget_weights drops
 * them all).
 *
 * GEMM precision (wanc_cuda_options): BF16 weights run cuBLAS bf16 × bf16
 * with fp32 accumulation, the f32 activation rounded to bf16 on the fly
 * (exact when the model already rounded it, as bf16 mode does); F32 weights
 * run fp32 (TF32 only when allowed); F16 weights are expanded to f32 once on
 * the device. Everything else computes in fp32 (RoPE in fp64, norms'
 * statistics in fp64), as the CPU backend does.
 *
 * One backend per device, created on first request and kept for the
 * process's life; use it from one thread at a time.
 */
#ifndef WANC_CUDA_CUDA_BACKEND_H
#define WANC_CUDA_CUDA_BACKEND_H

#include <stddef.h>

#include "backend/backend.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Number of usable CUDA devices; 0 (with *err set, when err is non-NULL)
 * if the driver or runtime reports none. */
int wanc_cuda_device_count(wanc_err *err);

/* The backend on device `device` (0-based). Named errors: "no CUDA device",
 * "CUDA device N does not exist (M devices)", or the failing CUDA call. */
wanc_err wanc_backend_cuda(int device, const wanc_backend **out);

typedef struct wanc_cuda_options {
    int bf16_gemm;  /* 1 (default): BF16 weights → bf16 tensor-core GEMM; 0: expand to f32 */
    int allow_tf32; /* 0 (default): F32 GEMMs and convs in true fp32; 1: TF32 tensor cores */
    /* 0 (default): attention in fp32 (SIMT). 1: q, k, v and the softmax
     * weights rounded to bf16 for tensor-core products with fp32
     * accumulation and fp32 softmax statistics (torch's bf16 flash
     * attention; exact inputs in bf16 mode, where q, k, v are already
     * bf16). Head dims that are not a multiple of 16 or above 256 stay fp32. */
    int attention_bf16;
} wanc_cuda_options;

/* Change the GEMM precision of a CUDA backend (error for other backends). */
wanc_err wanc_cuda_configure(const wanc_backend *be, const wanc_cuda_options *opt);
/* Wait until every op queued on the backend's stream has finished; reports
 * any asynchronous kernel error. */
wanc_err wanc_cuda_synchronize(const wanc_backend *be);
/* Drop every cached device copy of a host weight (and the pool's free blocks). */
wanc_err wanc_cuda_forget_weights(const wanc_backend *be);

typedef struct wanc_cuda_mem_stats {
    size_t pool_live_bytes;  /* handed out by be->alloc and the ops, not yet freed */
    size_t pool_cached_bytes;/* freed, kept for reuse */
    size_t weight_bytes;     /* device copies of host weights */
    size_t weight_count;
} wanc_cuda_mem_stats;
wanc_err wanc_cuda_mem_stats_get(const wanc_backend *be, wanc_cuda_mem_stats *out);

/* Benchmark helper: median time (ms) of an n×n×n cuBLAS GEMM, bf16 × bf16 →
 * fp32 with fp32 accumulation (bf16 = 1) or fp32 (bf16 = 0, TF32 when
 * allowed), on device memory, timed with CUDA events. */
wanc_err wanc_cuda_gemm_ms(const wanc_backend *be, int n, int bf16, int reps, double *ms);

/* For tests, no device needed: the pool's size classes, the weight
 * fingerprint, the attention kernels' shared-memory layouts and that the
 * op table fills every entry of backend.h. */
wanc_err wanc_cuda_check_invariants(void);

#ifdef __cplusplus
}
#endif

#endif
