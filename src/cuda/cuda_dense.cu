/* Dense products on the GPU through cuBLAS: linear (x · wᵀ + bias with
 * F32/BF16/F16 weights), the strided float32 gemm, and the GEMM-rate
 * yardstick for benchmarks.
 *
 * Row-major to cuBLAS's column-major: a row-major [R, C] matrix with row
 * stride ld is the column-major [C, R] matrix with leading dimension ld,
 * i.e. its transpose. So out[M,N] = A·B (row-major) is computed as
 * outᵀ[N,M] = Bᵀ·Aᵀ in column-major terms, with the operands swapped and
 * no data moved.
 *
 * Precision (wanc_cuda_options): BF16 weights with bf16_gemm run bf16 ×
 * bf16 on tensor cores with fp32 accumulation and fp32 output; the f32
 * activation is rounded to bf16 into a pool scratch first (exact when the
 * model already rounded it, as bf16 mode does). Otherwise the weight is
 * used (or expanded once) as f32 and the product is fp32, or TF32 when
 * allow_tf32 is set. cuBLAS's reduction order differs from OpenBLAS's, so
 * results match the CPU to rounding, not bit for bit. */
#include <cuda_bf16.h>

#include <algorithm>
#include <vector>

#include "cuda/cuda_internal.h"

static cublasComputeType_t f32_compute(const cuda_ctx *c)
{
    return c->opt.allow_tf32 ? CUBLAS_COMPUTE_32F_FAST_TF32 : CUBLAS_COMPUTE_32F;
}

/* out[M,N] = x[M,K] · w[N,K]ᵀ (+ bias[N]); w F32/BF16/F16 contiguous, K = numel(w)/N. */
extern "C" wanc_err cuda_linear(const wanc_backend *be, float *out, const float *x, const wanc_tensor *w,
                                const wanc_tensor *bias, int64_t M)
{
    if (!w || w->ndim < 2 || !w->data) WANC_FAIL(WANC_EINVAL, "linear: weight must be a tensor of >= 2 dims");
    if (w->dtype != WANC_F32 && w->dtype != WANC_BF16 && w->dtype != WANC_F16)
        WANC_FAIL(WANC_ESHAPE, "linear: weight dtype %s not supported (F32, BF16, F16)", wanc_dtype_name(w->dtype));
    if (!wanc_tensor_is_contiguous(w)) WANC_FAIL(WANC_EINVAL, "linear: weight must be contiguous");
    if (M < 0) WANC_FAIL(WANC_EINVAL, "linear: M = %lld < 0", (long long)M);
    int64_t N = w->shape[0], K = N ? wanc_tensor_numel(w) / N : 0;
    if (N <= 0 || K <= 0) WANC_FAIL(WANC_ESHAPE, "linear: empty weight");
    if (N > INT32_MAX || K > INT32_MAX || M > INT32_MAX)
        WANC_FAIL(WANC_EUNSUPPORTED, "linear: sizes M=%lld N=%lld K=%lld exceed cuBLAS int", (long long)M,
                  (long long)N, (long long)K);
    if (bias && (!bias->data || wanc_tensor_numel(bias) != N || !wanc_tensor_is_contiguous(bias)))
        WANC_FAIL(WANC_ESHAPE, "linear: bias must be a contiguous tensor of %lld values, got %lld", (long long)N,
                  (long long)(bias->data ? wanc_tensor_numel(bias) : 0));
    if (M == 0) return nullptr;
    if (!out || !x) WANC_FAIL(WANC_EINVAL, "linear: NULL input or output");

    cuda_ctx *c = cuda_ctx_of(be);
    cuda_args a(c);
    const float *dx = (const float *)a.in(x, (size_t)(M * K) * sizeof(float));
    float *dout = (float *)a.out(out, (size_t)(M * N) * sizeof(float), false);
    if (a.err) return wanc_error_context(a.take_err(), "linear");

    const float one = 1.0f, zero = 0.0f;
    bool bf16 = w->dtype == WANC_BF16 && c->opt.bf16_gemm;
    cuda_scratch wtmp(c), xb(c), btmp(c);
    const void *dw = nullptr;
    TRYC(cuda_weight_get(c, w, !bf16, &dw, &wtmp), "linear: weight [%lld, %lld]", (long long)N, (long long)K);
    if (bf16) {
        TRY(xb.get((size_t)(M * K) * sizeof(__nv_bfloat16)));
        TRY(cuda_f32_to_bf16(c, xb.p, dx, M * K));
        CUBLAS_TRY(cublasGemmEx(c->blas, CUBLAS_OP_T, CUBLAS_OP_N, (int)N, (int)M, (int)K, &one, dw, CUDA_R_16BF,
                                (int)K, xb.p, CUDA_R_16BF, (int)K, &zero, dout, CUDA_R_32F, (int)N,
                                CUBLAS_COMPUTE_32F, CUBLAS_GEMM_DEFAULT));
    } else {
        CUBLAS_TRY(cublasGemmEx(c->blas, CUBLAS_OP_T, CUBLAS_OP_N, (int)N, (int)M, (int)K, &one, dw, CUDA_R_32F,
                                (int)K, dx, CUDA_R_32F, (int)K, &zero, dout, CUDA_R_32F, (int)N, f32_compute(c),
                                CUBLAS_GEMM_DEFAULT));
    }
    if (bias) {
        const void *db = nullptr;
        TRYC(cuda_weight_get(c, bias, true, &db, &btmp), "linear: bias [%lld]", (long long)N);
        TRY(cuda_add_bias_cols(c, dout, (const float *)db, M, N, N));
    }
    return a.finish();
}

/* out[M,N] = alpha · op(a)[M,K] · op(b)[K,N] + beta · out (row-major, strided). */
extern "C" wanc_err cuda_gemm(const wanc_backend *be, float *out, const float *a, const float *b, int64_t M,
                              int64_t N, int64_t K, int trans_a, int trans_b, float alpha, float beta, int64_t lda,
                              int64_t ldb, int64_t ldc)
{
    if (M < 0 || N < 0 || K < 0)
        WANC_FAIL(WANC_EINVAL, "gemm: negative size M=%lld N=%lld K=%lld", (long long)M, (long long)N,
                  (long long)K);
    if (M > INT32_MAX || N > INT32_MAX || K > INT32_MAX || lda > INT32_MAX || ldb > INT32_MAX || ldc > INT32_MAX)
        WANC_FAIL(WANC_EUNSUPPORTED, "gemm: sizes exceed cuBLAS int");
    int64_t a_rows = trans_a ? K : M, a_cols = trans_a ? M : K;
    int64_t b_rows = trans_b ? N : K, b_cols = trans_b ? K : N;
    if (lda < (a_cols > 1 ? a_cols : 1) || ldb < (b_cols > 1 ? b_cols : 1) || ldc < (N > 1 ? N : 1))
        WANC_FAIL(WANC_EINVAL,
                  "gemm: leading dimensions lda=%lld ldb=%lld ldc=%lld too small for M=%lld N=%lld K=%lld",
                  (long long)lda, (long long)ldb, (long long)ldc, (long long)M, (long long)N, (long long)K);
    if (M == 0 || N == 0) return nullptr;
    if (!out || (K > 0 && (!a || !b))) WANC_FAIL(WANC_EINVAL, "gemm: NULL operand");

    cuda_ctx *c = cuda_ctx_of(be);
    cuda_args args(c);
    /* the bytes each operand spans: (rows-1) full strides plus one row */
    auto span = [](int64_t rows, int64_t cols, int64_t ld) {
        return rows > 0 && cols > 0 ? (size_t)((rows - 1) * ld + cols) * sizeof(float) : (size_t)0;
    };
    const float *da = (const float *)args.in(a, span(a_rows, a_cols, lda));
    const float *db = (const float *)args.in(b, span(b_rows, b_cols, ldb));
    /* read back too: beta·out, and the gaps between rows when ldc > N */
    float *dout = (float *)args.out(out, span(M, N, ldc), true);
    if (args.err) return wanc_error_context(args.take_err(), "gemm");
    CUBLAS_TRY(cublasGemmEx(c->blas, trans_b ? CUBLAS_OP_T : CUBLAS_OP_N, trans_a ? CUBLAS_OP_T : CUBLAS_OP_N,
                            (int)N, (int)M, (int)K, &alpha, db, CUDA_R_32F, (int)ldb, da, CUDA_R_32F, (int)lda,
                            &beta, dout, CUDA_R_32F, (int)ldc, f32_compute(c), CUBLAS_GEMM_DEFAULT));
    return args.finish();
}

/* ---- the GEMM yardstick ----------------------------------------------------------------- */

template <typename T> __global__ void fill_kernel(T *p, int64_t n, uint32_t seed)
{
    for (int64_t i = blockIdx.x * (int64_t)blockDim.x + threadIdx.x; i < n; i += (int64_t)gridDim.x * blockDim.x) {
        uint32_t h = (uint32_t)i * 2654435761u ^ seed;
        h ^= h >> 15;
        h *= 2246822519u;
        h ^= h >> 13;
        p[i] = (T)((float)(h >> 8) * (2.0f / 16777216.0f) - 1.0f);
    }
}

extern "C" wanc_err wanc_cuda_gemm_ms(const wanc_backend *be, int n, int bf16, int reps, double *ms)
{
    if (!be || !ms || n <= 0) WANC_FAIL(WANC_EINVAL, "wanc_cuda_gemm_ms: bad arguments");
    TRY(wanc_cuda_synchronize(be)); /* also checks that be is a CUDA backend */
    cuda_ctx *c = cuda_ctx_of(be);
    if (reps <= 0) reps = 1;
    size_t nn = (size_t)n * (size_t)n, esz = bf16 ? 2 : 4;
    cuda_scratch A(c), B(c), C(c);
    TRY(A.get(nn * esz));
    TRY(B.get(nn * esz));
    TRY(C.get(nn * sizeof(float)));
    if (bf16) {
        fill_kernel<__nv_bfloat16><<<cuda_blocks_for((int64_t)nn), 256, 0, c->stream>>>((__nv_bfloat16 *)A.p, (int64_t)nn, 1u);
        fill_kernel<__nv_bfloat16><<<cuda_blocks_for((int64_t)nn), 256, 0, c->stream>>>((__nv_bfloat16 *)B.p, (int64_t)nn, 2u);
    } else {
        fill_kernel<float><<<cuda_blocks_for((int64_t)nn), 256, 0, c->stream>>>((float *)A.p, (int64_t)nn, 1u);
        fill_kernel<float><<<cuda_blocks_for((int64_t)nn), 256, 0, c->stream>>>((float *)B.p, (int64_t)nn, 2u);
    }
    CU_LAUNCH_CHECK();
    cudaDataType_t t = bf16 ? CUDA_R_16BF : CUDA_R_32F;
    cublasComputeType_t ct = bf16 ? CUBLAS_COMPUTE_32F : f32_compute(c);
    const float one = 1.0f, zero = 0.0f;
    cudaEvent_t e0, e1;
    CU_TRY(cudaEventCreate(&e0));
    CU_TRY(cudaEventCreate(&e1));
    std::vector<double> times;
    wanc_err err = nullptr;
    for (int r = -1; r < reps && !err; r++) { /* r = -1: warm-up (cuBLAS picks its kernel) */
        cublasStatus_t s;
        cudaEventRecord(e0, c->stream);
        s = cublasGemmEx(c->blas, CUBLAS_OP_N, CUBLAS_OP_N, n, n, n, &one, A.p, t, n, B.p, t, n, &zero, C.p,
                         CUDA_R_32F, n, ct, CUBLAS_GEMM_DEFAULT);
        cudaEventRecord(e1, c->stream);
        if (s != CUBLAS_STATUS_SUCCESS) {
            err = cublas_error_at(__FILE__, __LINE__, "cublasGemmEx (yardstick)", s);
            break;
        }
        cudaError_t ce = cudaEventSynchronize(e1);
        if (ce != cudaSuccess) {
            err = cuda_error_at(__FILE__, __LINE__, "cudaEventSynchronize(e1)", ce);
            break;
        }
        float t_ms = 0;
        cudaEventElapsedTime(&t_ms, e0, e1);
        if (r >= 0) times.push_back(t_ms);
    }
    cudaEventDestroy(e0);
    cudaEventDestroy(e1);
    if (err) return err;
    std::sort(times.begin(), times.end());
    *ms = times[times.size() / 2];
    return nullptr;
}
