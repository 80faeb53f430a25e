/* Shared pieces of the CUDA backend (C++/CUDA only; the C side sees
 * cuda_backend.h). One .cu file per op family, glued into the table by
 * cuda_backend.cu.
 *
 *   cuda_backend.cu    context, caching pool, pinned transfers, host-pointer
 *                      staging, weight cache, the table
 *   cuda_dense.cu      linear, gemm (cuBLAS)
 *   cuda_kernels.cu    norms, softmax, elementwise, modulation, RoPE
 *   cuda_attention.cu  flash attention (tiled, online softmax)
 *   cuda_conv.cu       conv3d (im2col + cuBLAS), conv3d_hist
 *   cuda_layout.cu     channel_rms_norm, upsample_nearest2x, copy_strided,
 *                      fill, mul_rows, relu
 *
 * Every CUDA/cuBLAS call goes through CU_TRY / CUBLAS_TRY: on failure the
 * op returns a wanc_err naming file:line, the call and the runtime's
 * message. Kernel launches are followed by CU_TRY(cudaGetLastError()).
 */
#ifndef WANC_CUDA_CUDA_INTERNAL_H
#define WANC_CUDA_CUDA_INTERNAL_H

#include <cublas_v2.h>
#include <cuda_runtime.h>

#include <map>
#include <mutex>
#include <unordered_map>

extern "C" {
#include "backend/backend.h"
#include "core/error.h"
#include "core/tensor.h"
}
#include "cuda/cuda_backend.h"

wanc_err cuda_error_at(const char *file, int line, const char *call, cudaError_t e);
wanc_err cublas_error_at(const char *file, int line, const char *call, cublasStatus_t s);

#define CU_TRY(call)                                                                    \
    do {                                                                                \
        cudaError_t cu_try_e_ = (call);                                                 \
        if (cu_try_e_ != cudaSuccess) return cuda_error_at(__FILE__, __LINE__, #call, cu_try_e_); \
    } while (0)

#define CUBLAS_TRY(call)                                                                \
    do {                                                                                \
        cublasStatus_t cublas_try_s_ = (call);                                          \
        if (cublas_try_s_ != CUBLAS_STATUS_SUCCESS)                                     \
            return cublas_error_at(__FILE__, __LINE__, #call, cublas_try_s_);           \
    } while (0)

/* After a <<<...>>> launch: report a bad configuration at once. */
#define CU_LAUNCH_CHECK() CU_TRY(cudaGetLastError())

/* A device weight kept for a host tensor. */
struct cuda_weight {
    void *dev;
    size_t bytes;
    uint64_t fingerprint;
};

/* The per-device context. `table` must stay the first member: the ops get
 * `const wanc_backend *be` and cast it back (cuda_ctx_of). */
struct cuda_ctx {
    wanc_backend table;
    char name[16];
    int device;
    cudaStream_t stream;
    cublasHandle_t blas;
    wanc_cuda_options opt;

    /* caching pool: live blocks by address; free blocks by size */
    std::mutex pool_mu;
    std::unordered_map<void *, size_t> live;
    std::multimap<size_t, void *> free_blocks;
    size_t live_bytes = 0, cached_bytes = 0;

    /* pinned staging buffers, used alternately (events say when one is free) */
    enum { STAGE_BYTES = 32u << 20 };
    void *pinned[2] = {nullptr, nullptr};
    cudaEvent_t pinned_done[2];

    /* host weights → device copies; key: host address ^ variant */
    std::unordered_map<uint64_t, cuda_weight> weights;
    size_t weight_bytes = 0;
};

static inline cuda_ctx *cuda_ctx_of(const wanc_backend *be) { return (cuda_ctx *)be; }

/* Pool memory (device), stream-ordered on ctx->stream: a block freed here
 * can be handed out again at once because every user of it runs on the same
 * stream. */
wanc_err cuda_pool_alloc(cuda_ctx *c, void **out, size_t bytes);
void cuda_pool_free(cuda_ctx *c, void *p);

/* RAII pool block for an op's scratch. */
struct cuda_scratch {
    cuda_ctx *c;
    void *p = nullptr;
    explicit cuda_scratch(cuda_ctx *ctx) : c(ctx) {}
    ~cuda_scratch() { if (p) cuda_pool_free(c, p); }
    wanc_err get(size_t bytes) { return cuda_pool_alloc(c, &p, bytes); }
    cuda_scratch(const cuda_scratch &) = delete;
    cuda_scratch &operator=(const cuda_scratch &) = delete;
};

/* Host↔device copies through the pinned buffers (async on the stream for
 * uploads: the host buffer may be reused when upload returns). */
wanc_err cuda_upload(cuda_ctx *c, void *dst, const void *src, size_t bytes);
wanc_err cuda_download(cuda_ctx *c, void *dst, const void *src, size_t bytes);

/* Is p memory the device can address as device memory (cudaMalloc'd or managed)? */
bool cuda_is_device_ptr(const void *p);

/* The arguments of one op call, each either a device pointer (used as it
 * is) or a host pointer (copied to a pool block, and for outputs copied
 * back by finish()). The same host pointer given twice (in place: out == x)
 * maps to one device block. Release happens in the destructor.
 *   cuda_args a(c);
 *   const float *dx = (const float *)a.in(x, n * 4);  float *dy = (float *)a.out(y, n * 4, false);
 *   if (a.err) return a.take_err();  ... launch ...  return a.finish(); */
struct cuda_args {
    enum { MAX = 10 };
    struct entry {
        const void *host;
        void *dev;
        size_t bytes;
        bool is_out;
        bool uploaded; /* dev holds the host contents */
    } e[MAX];
    int n = 0;
    cuda_ctx *c;
    wanc_err err = nullptr;
    /* Also makes the context's device current (ops may run on any device). */
    explicit cuda_args(cuda_ctx *ctx) : c(ctx)
    {
        cudaError_t e = cudaSetDevice(ctx->device);
        if (e != cudaSuccess) err = cuda_error_at(__FILE__, __LINE__, "cudaSetDevice(ctx->device)", e);
    }
    ~cuda_args();
    /* NULL stays NULL. bytes == 0 is allowed (returns p as it is). */
    const void *in(const void *p, size_t bytes);
    /* read_too: the op reads the old contents (gemm's beta, gated_add's x). */
    void *out(void *p, size_t bytes, bool read_too);
    wanc_err take_err() { wanc_err e2 = err; err = nullptr; return e2; }
    /* Copy host outputs back (waits for the stream when there are any). */
    wanc_err finish();
    cuda_args(const cuda_args &) = delete;
    cuda_args &operator=(const cuda_args &) = delete;
};

/* The device copy of weight/bias tensor t (contiguous), either as stored
 * (want_f32 = false) or expanded to float32 (want_f32 = true: F32 tensors
 * are the same either way). A tensor already in device memory is used as
 * it is (or expanded into `tmp`, which then owns the copy). */
wanc_err cuda_weight_get(cuda_ctx *c, const wanc_tensor *t, bool want_f32, const void **dev, cuda_scratch *tmp);

/* Device kernels shared across files (cuda_kernels.cu). */
wanc_err cuda_f32_to_bf16(cuda_ctx *c, void *dst, const float *src, int64_t n);
wanc_err cuda_half_to_f32(cuda_ctx *c, float *dst, const void *src, wanc_dtype dt, int64_t n);
/* out[r, n] += bias[n] for r < rows, n < N (row stride ld). */
wanc_err cuda_add_bias_cols(cuda_ctx *c, float *out, const float *bias, int64_t rows, int64_t N, int64_t ld);
/* out[ch, p] += bias[ch] for p < P. */
wanc_err cuda_add_bias_rows(cuda_ctx *c, float *out, const float *bias, int64_t channels, int64_t P);

/* Grid size for a grid-stride loop over n items with 256-thread blocks. */
static inline unsigned cuda_blocks_for(int64_t n)
{
    int64_t b = (n + 255) / 256;
    if (b < 1) b = 1;
    if (b > 65535LL * 32) b = 65535LL * 32;
    return (unsigned)b;
}

/* Host-side layout checks behind wanc_cuda_check_invariants (cuda_attention.cu). */
wanc_err cuda_attention_check_layouts(void);

/* ---- op entries (signatures as in backend.h) ---- */
extern "C" {
wanc_err cuda_linear(const wanc_backend *be, float *out, const float *x, const wanc_tensor *w,
                     const wanc_tensor *bias, int64_t M);
wanc_err cuda_gemm(const wanc_backend *be, float *out, const float *a, const float *b, int64_t M, int64_t N,
                   int64_t K, int trans_a, int trans_b, float alpha, float beta, int64_t lda, int64_t ldb,
                   int64_t ldc);
wanc_err cuda_layer_norm(const wanc_backend *be, float *out, const float *x, const float *weight,
                         const float *bias, int64_t rows, int64_t dim, float eps);
wanc_err cuda_rms_norm(const wanc_backend *be, float *out, const float *x, const float *weight, int64_t rows,
                       int64_t dim, float eps);
wanc_err cuda_softmax(const wanc_backend *be, float *out, const float *x, int64_t rows, int64_t dim);
wanc_err cuda_gelu_tanh(const wanc_backend *be, float *out, const float *x, int64_t n);
wanc_err cuda_gelu_erf(const wanc_backend *be, float *out, const float *x, int64_t n);
wanc_err cuda_silu(const wanc_backend *be, float *out, const float *x, int64_t n);
wanc_err cuda_add(const wanc_backend *be, float *out, const float *a, const float *b, int64_t n);
wanc_err cuda_mul(const wanc_backend *be, float *out, const float *a, const float *b, int64_t n);
wanc_err cuda_scale(const wanc_backend *be, float *out, const float *x, float alpha, float beta, int64_t n);
wanc_err cuda_round_bf16(const wanc_backend *be, float *x, int64_t n);
wanc_err cuda_modulate(const wanc_backend *be, float *out, const float *x, const float *shift,
                       const float *scale, int64_t rows, int64_t dim);
wanc_err cuda_gated_add(const wanc_backend *be, float *x, const float *y, const float *gate, int64_t rows,
                        int64_t dim);
wanc_err cuda_attention(const wanc_backend *be, float *out, const float *q, const float *k, const float *v,
                        int64_t Lq, int64_t Lk, int64_t H, int64_t D, float scale, const float *bias,
                        const uint8_t *key_mask);
wanc_err cuda_rope(const wanc_backend *be, float *x, const double *cos_sin, int64_t L, int64_t H, int64_t D);
wanc_err cuda_conv3d(const wanc_backend *be, float *out, const float *x, const wanc_tensor *w,
                     const wanc_tensor *bias, int64_t Cin, int64_t T, int64_t H, int64_t W, const int stride[3],
                     const int pad[3]);
wanc_err cuda_conv3d_hist(const wanc_backend *be, float *out, const float *hist, int64_t Th, const float *x,
                          const wanc_tensor *w, const wanc_tensor *bias, int64_t Cin, int64_t T, int64_t H, int64_t W,
                          const int stride[3], const int pad[3]);
wanc_err cuda_channel_rms_norm(const wanc_backend *be, float *out, const float *x, const float *gamma, int64_t C,
                               int64_t P, float eps, int silu);
wanc_err cuda_upsample_nearest2x(const wanc_backend *be, float *out, const float *x, int64_t N, int64_t H,
                                 int64_t W);
wanc_err cuda_copy_strided(const wanc_backend *be, float *out, const int64_t *out_strides, const float *x,
                           const int64_t *x_strides, const int64_t *shape, int ndim);
wanc_err cuda_fill(const wanc_backend *be, float *out, float value, int64_t n);
wanc_err cuda_mul_rows(const wanc_backend *be, float *out, const float *x, const float *w, int64_t rows,
                       int64_t dim);
wanc_err cuda_relu(const wanc_backend *be, float *out, const float *x, int64_t n);
}

#endif
