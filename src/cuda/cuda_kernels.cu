/* Row-wise and elementwise ops on the GPU: layer_norm, rms_norm, softmax,
 * GELU (tanh, erf), SiLU, add, mul, scale, round_bf16, modulate,
 * gated_add, RoPE, and the dtype conversions / bias adds the other files use.
 *
 * Numerics follow the CPU backend term by term: the arithmetic uses the
 * explicitly rounded intrinsics (__fmul_rn, __fadd_rn, ...) so nvcc cannot
 * contract a·b + c into one FMA; the CPU build (ISO C11) does not contract
 * either, so add/mul/scale/modulate/gated_add/round_bf16/RoPE give the same
 * bits as the CPU. Norm statistics are reduced in double (the reduction
 * order differs from the CPU's, within double rounding); softmax and the
 * transcendental functions use CUDA's accurate expf/tanhf/erff (a few ulp
 * from the CPU's polynomials). */
#include <cuda_bf16.h>
#include <cuda_fp16.h>

#include <cfloat>

#include "cuda/cuda_internal.h"

#define ROW_THREADS 256

/* ---- block reductions (ROW_THREADS threads) ------------------------------------ */

template <typename T> __device__ T warp_sum(T v)
{
    for (int o = 16; o > 0; o >>= 1) v += __shfl_down_sync(0xffffffffu, v, o);
    return v;
}

__device__ float warp_max(float v)
{
    for (int o = 16; o > 0; o >>= 1) v = fmaxf(v, __shfl_down_sync(0xffffffffu, v, o));
    return v;
}

/* Sum over the block; every thread gets the result. `sh` holds 32 T. */
template <typename T> __device__ T block_sum(T v, T *sh)
{
    int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
    v = warp_sum(v);
    __syncthreads(); /* sh may still be read from the previous reduction */
    if (lane == 0) sh[warp] = v;
    __syncthreads();
    T t = lane < (int)(blockDim.x >> 5) ? sh[lane] : (T)0;
    if (warp == 0) t = warp_sum(t);
    if (threadIdx.x == 0) sh[0] = t;
    __syncthreads();
    return sh[0];
}

__device__ float block_max(float v, float *sh)
{
    int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
    v = warp_max(v);
    __syncthreads();
    if (lane == 0) sh[warp] = v;
    __syncthreads();
    float t = lane < (int)(blockDim.x >> 5) ? sh[lane] : -INFINITY;
    if (warp == 0) t = warp_max(t);
    if (threadIdx.x == 0) sh[0] = t;
    __syncthreads();
    return sh[0];
}

/* ---- norms ------------------------------------------------------------------------ */

/* One block per row of x[rows, dim]. */
__global__ void layer_norm_kernel(float *out, const float *x, const float *w, const float *b, int64_t dim,
                                  float eps)
{
    __shared__ double sh[32];
    const float *xr = x + (int64_t)blockIdx.x * dim;
    float *o = out + (int64_t)blockIdx.x * dim;
    double s = 0;
    for (int64_t i = threadIdx.x; i < dim; i += blockDim.x) s += (double)xr[i];
    double mean = block_sum(s, sh) / (double)dim;
    double v = 0;
    for (int64_t i = threadIdx.x; i < dim; i += blockDim.x) {
        double d = (double)xr[i] - mean;
        v += d * d;
    }
    v = block_sum(v, sh);
    float m = (float)mean, rstd = (float)(1.0 / sqrt(v / (double)dim + (double)eps));
    for (int64_t i = threadIdx.x; i < dim; i += blockDim.x) {
        float y = __fmul_rn(__fsub_rn(xr[i], m), rstd);
        if (w) y = __fmul_rn(y, w[i]);
        if (b) y = __fadd_rn(y, b[i]);
        o[i] = y;
    }
}

__global__ void rms_norm_kernel(float *out, const float *x, const float *w, int64_t dim, float eps)
{
    __shared__ double sh[32];
    const float *xr = x + (int64_t)blockIdx.x * dim;
    float *o = out + (int64_t)blockIdx.x * dim;
    double s = 0;
    for (int64_t i = threadIdx.x; i < dim; i += blockDim.x) s += (double)xr[i] * (double)xr[i];
    s = block_sum(s, sh);
    float rs = (float)(1.0 / sqrt(s / (double)dim + (double)eps));
    for (int64_t i = threadIdx.x; i < dim; i += blockDim.x) {
        float y = __fmul_rn(xr[i], rs);
        o[i] = w ? __fmul_rn(y, w[i]) : y;
    }
}

__global__ void softmax_kernel(float *out, const float *x, int64_t dim)
{
    __shared__ float shf[32];
    const float *xr = x + (int64_t)blockIdx.x * dim;
    float *o = out + (int64_t)blockIdx.x * dim;
    float m = -INFINITY;
    for (int64_t i = threadIdx.x; i < dim; i += blockDim.x) m = fmaxf(m, xr[i]);
    m = block_max(m, shf);
    float s = 0;
    for (int64_t i = threadIdx.x; i < dim; i += blockDim.x) {
        float e = expf(__fsub_rn(xr[i], m));
        o[i] = e; /* same thread, same index: safe in place */
        s += e;
    }
    float inv = __fdiv_rn(1.0f, block_sum(s, shf));
    for (int64_t i = threadIdx.x; i < dim; i += blockDim.x) o[i] = __fmul_rn(o[i], inv);
}

static wanc_err rows_check(const char *op, const void *out, const void *x, int64_t rows, int64_t dim)
{
    if (rows < 0 || dim < 0)
        WANC_FAIL(WANC_EINVAL, "%s: negative size rows=%lld dim=%lld", op, (long long)rows, (long long)dim);
    if (rows > 0 && dim > 0 && (!out || !x)) WANC_FAIL(WANC_EINVAL, "%s: NULL input or output", op);
    if (rows > INT32_MAX) WANC_FAIL(WANC_EUNSUPPORTED, "%s: %lld rows exceed the grid", op, (long long)rows);
    return nullptr;
}

extern "C" wanc_err cuda_layer_norm(const wanc_backend *be, float *out, const float *x, const float *weight,
                                    const float *bias, int64_t rows, int64_t dim, float eps)
{
    TRY(rows_check("layer_norm", out, x, rows, dim));
    if (rows == 0 || dim == 0) return nullptr;
    cuda_ctx *c = cuda_ctx_of(be);
    size_t n = (size_t)(rows * dim) * sizeof(float);
    cuda_args a(c);
    const float *dx = (const float *)a.in(x, n);
    const float *dw = (const float *)a.in(weight, (size_t)dim * sizeof(float));
    const float *db = (const float *)a.in(bias, (size_t)dim * sizeof(float));
    float *dout = (float *)a.out(out, n, false);
    if (a.err) return wanc_error_context(a.take_err(), "layer_norm");
    layer_norm_kernel<<<(unsigned)rows, ROW_THREADS, 0, c->stream>>>(dout, dx, dw, db, dim, eps);
    CU_LAUNCH_CHECK();
    return a.finish();
}

extern "C" wanc_err cuda_rms_norm(const wanc_backend *be, float *out, const float *x, const float *weight,
                                  int64_t rows, int64_t dim, float eps)
{
    TRY(rows_check("rms_norm", out, x, rows, dim));
    if (rows == 0 || dim == 0) return nullptr;
    cuda_ctx *c = cuda_ctx_of(be);
    size_t n = (size_t)(rows * dim) * sizeof(float);
    cuda_args a(c);
    const float *dx = (const float *)a.in(x, n);
    const float *dw = (const float *)a.in(weight, (size_t)dim * sizeof(float));
    float *dout = (float *)a.out(out, n, false);
    if (a.err) return wanc_error_context(a.take_err(), "rms_norm");
    rms_norm_kernel<<<(unsigned)rows, ROW_THREADS, 0, c->stream>>>(dout, dx, dw, dim, eps);
    CU_LAUNCH_CHECK();
    return a.finish();
}

extern "C" wanc_err cuda_softmax(const wanc_backend *be, float *out, const float *x, int64_t rows, int64_t dim)
{
    TRY(rows_check("softmax", out, x, rows, dim));
    if (rows == 0 || dim == 0) return nullptr;
    cuda_ctx *c = cuda_ctx_of(be);
    size_t n = (size_t)(rows * dim) * sizeof(float);
    cuda_args a(c);
    const float *dx = (const float *)a.in(x, n);
    float *dout = (float *)a.out(out, n, false);
    if (a.err) return wanc_error_context(a.take_err(), "softmax");
    softmax_kernel<<<(unsigned)rows, ROW_THREADS, 0, c->stream>>>(dout, dx, dim);
    CU_LAUNCH_CHECK();
    return a.finish();
}

/* ---- elementwise ------------------------------------------------------------------------ */

enum ew_op { EW_GELU_TANH, EW_GELU_ERF, EW_SILU, EW_ADD, EW_MUL, EW_SCALE, EW_ROUND_BF16 };

/* √(2/π) and 1/√2 as the CPU's float constants */
#define GELU_BETA 0.7978845608028654f
#define GELU_KAPPA 0.044715f
#define SQRT1_2 0.7071067811865476f

template <int OP>
__global__ void ew_kernel(float *o, const float *a, const float *b, float alpha, float beta, int64_t n)
{
    for (int64_t i = blockIdx.x * (int64_t)blockDim.x + threadIdx.x; i < n; i += (int64_t)gridDim.x * blockDim.x) {
        float x = a[i], y;
        if (OP == EW_GELU_TANH) {
            float x3 = __fmul_rn(__fmul_rn(x, x), x);
            float inner = __fmul_rn(GELU_BETA, __fadd_rn(x, __fmul_rn(GELU_KAPPA, x3)));
            y = __fmul_rn(__fmul_rn(0.5f, x), __fadd_rn(1.0f, tanhf(inner)));
        } else if (OP == EW_GELU_ERF) {
            y = __fmul_rn(__fmul_rn(x, 0.5f), __fadd_rn(1.0f, erff(__fmul_rn(x, SQRT1_2))));
        } else if (OP == EW_SILU) {
            y = __fdiv_rn(x, __fadd_rn(1.0f, expf(-x)));
        } else if (OP == EW_ADD) {
            y = __fadd_rn(x, b[i]);
        } else if (OP == EW_MUL) {
            y = __fmul_rn(x, b[i]);
        } else if (OP == EW_SCALE) {
            y = __fadd_rn(__fmul_rn(x, alpha), beta);
        } else {
            y = __bfloat162float(__float2bfloat16_rn(x));
        }
        o[i] = y;
    }
}

template <int OP>
static wanc_err run_ew(const wanc_backend *be, const char *name, float *out, const float *x, const float *bb,
                       float alpha, float beta, int64_t n)
{
    if (n < 0) WANC_FAIL(WANC_EINVAL, "%s: n = %lld < 0", name, (long long)n);
    if (n == 0) return nullptr;
    bool binary = OP == EW_ADD || OP == EW_MUL;
    if (!out || !x || (binary && !bb)) WANC_FAIL(WANC_EINVAL, "%s: NULL buffer", name);
    cuda_ctx *c = cuda_ctx_of(be);
    size_t bytes = (size_t)n * sizeof(float);
    cuda_args a(c);
    const float *dx = (const float *)a.in(x, bytes);
    const float *db = binary ? (const float *)a.in(bb, bytes) : nullptr;
    float *dout = (float *)a.out(out, bytes, false);
    if (a.err) return wanc_error_context(a.take_err(), "%s", name);
    ew_kernel<OP><<<cuda_blocks_for(n), 256, 0, c->stream>>>(dout, dx, db, alpha, beta, n);
    CU_LAUNCH_CHECK();
    return a.finish();
}

extern "C" wanc_err cuda_gelu_tanh(const wanc_backend *be, float *out, const float *x, int64_t n)
{
    return run_ew<EW_GELU_TANH>(be, "gelu_tanh", out, x, nullptr, 0, 0, n);
}
extern "C" wanc_err cuda_gelu_erf(const wanc_backend *be, float *out, const float *x, int64_t n)
{
    return run_ew<EW_GELU_ERF>(be, "gelu_erf", out, x, nullptr, 0, 0, n);
}
extern "C" wanc_err cuda_silu(const wanc_backend *be, float *out, const float *x, int64_t n)
{
    return run_ew<EW_SILU>(be, "silu", out, x, nullptr, 0, 0, n);
}
extern "C" wanc_err cuda_add(const wanc_backend *be, float *out, const float *a, const float *b, int64_t n)
{
    return run_ew<EW_ADD>(be, "add", out, a, b, 0, 0, n);
}
extern "C" wanc_err cuda_mul(const wanc_backend *be, float *out, const float *a, const float *b, int64_t n)
{
    return run_ew<EW_MUL>(be, "mul", out, a, b, 0, 0, n);
}
extern "C" wanc_err cuda_scale(const wanc_backend *be, float *out, const float *x, float alpha, float beta, int64_t n)
{
    return run_ew<EW_SCALE>(be, "scale", out, x, nullptr, alpha, beta, n);
}
extern "C" wanc_err cuda_round_bf16(const wanc_backend *be, float *x, int64_t n)
{
    return run_ew<EW_ROUND_BF16>(be, "round_bf16", x, x, nullptr, 0, 0, n);
}

/* ---- modulation ------------------------------------------------------------------------ */

/* out[r,d] = x[r,d] · (1 + scale[d]) + shift[d] */
__global__ void modulate_kernel(float *o, const float *x, const float *shift, const float *scale, int64_t n,
                                int64_t dim)
{
    for (int64_t i = blockIdx.x * (int64_t)blockDim.x + threadIdx.x; i < n; i += (int64_t)gridDim.x * blockDim.x) {
        int64_t d = i % dim;
        o[i] = __fadd_rn(__fmul_rn(x[i], __fadd_rn(1.0f, scale[d])), shift[d]);
    }
}

/* x[r,d] += gate[d] · y[r,d] (gate NULL: 1) */
__global__ void gated_add_kernel(float *x, const float *y, const float *gate, int64_t n, int64_t dim)
{
    for (int64_t i = blockIdx.x * (int64_t)blockDim.x + threadIdx.x; i < n; i += (int64_t)gridDim.x * blockDim.x)
        x[i] = gate ? __fadd_rn(x[i], __fmul_rn(gate[i % dim], y[i])) : __fadd_rn(x[i], y[i]);
}

extern "C" wanc_err cuda_modulate(const wanc_backend *be, float *out, const float *x, const float *shift,
                                  const float *scale, int64_t rows, int64_t dim)
{
    if (rows < 0 || dim < 0) WANC_FAIL(WANC_EINVAL, "modulate: negative size");
    if (rows == 0 || dim == 0) return nullptr;
    if (!out || !x || !shift || !scale) WANC_FAIL(WANC_EINVAL, "modulate: NULL buffer");
    cuda_ctx *c = cuda_ctx_of(be);
    size_t bytes = (size_t)(rows * dim) * sizeof(float), vb = (size_t)dim * sizeof(float);
    cuda_args a(c);
    const float *dx = (const float *)a.in(x, bytes);
    const float *dsh = (const float *)a.in(shift, vb);
    const float *dsc = (const float *)a.in(scale, vb);
    float *dout = (float *)a.out(out, bytes, false);
    if (a.err) return wanc_error_context(a.take_err(), "modulate");
    modulate_kernel<<<cuda_blocks_for(rows * dim), 256, 0, c->stream>>>(dout, dx, dsh, dsc, rows * dim, dim);
    CU_LAUNCH_CHECK();
    return a.finish();
}

extern "C" wanc_err cuda_gated_add(const wanc_backend *be, float *x, const float *y, const float *gate,
                                   int64_t rows, int64_t dim)
{
    if (rows < 0 || dim < 0) WANC_FAIL(WANC_EINVAL, "gated_add: negative size");
    if (rows == 0 || dim == 0) return nullptr;
    if (!x || !y) WANC_FAIL(WANC_EINVAL, "gated_add: NULL buffer");
    cuda_ctx *c = cuda_ctx_of(be);
    size_t bytes = (size_t)(rows * dim) * sizeof(float);
    cuda_args a(c);
    const float *dy = (const float *)a.in(y, bytes);
    const float *dg = (const float *)a.in(gate, (size_t)dim * sizeof(float));
    float *dx = (float *)a.out(x, bytes, true);
    if (a.err) return wanc_error_context(a.take_err(), "gated_add");
    gated_add_kernel<<<cuda_blocks_for(rows * dim), 256, 0, c->stream>>>(dx, dy, dg, rows * dim, dim);
    CU_LAUNCH_CHECK();
    return a.finish();
}

/* ---- RoPE -------------------------------------------------------------------------------- */

/* One thread per pair (l, h, i): (a + ib)(c + is) in double, as torch's
 * complex128 multiply, rounded once to float. */
__global__ void rope_kernel(float *x, const double *cs, int64_t L, int64_t H, int64_t half)
{
    int64_t n = L * H * half;
    for (int64_t t = blockIdx.x * (int64_t)blockDim.x + threadIdx.x; t < n; t += (int64_t)gridDim.x * blockDim.x) {
        int64_t i = t % half, lh = t / half, l = lh / H;
        float *p = x + lh * 2 * half + 2 * i;
        const double *q = cs + (l * half + i) * 2;
        double a = p[0], b = p[1], c = q[0], s = q[1];
        p[0] = __double2float_rn(__dsub_rn(__dmul_rn(a, c), __dmul_rn(b, s)));
        p[1] = __double2float_rn(__dadd_rn(__dmul_rn(a, s), __dmul_rn(b, c)));
    }
}

extern "C" wanc_err cuda_rope(const wanc_backend *be, float *x, const double *cos_sin, int64_t L, int64_t H,
                              int64_t D)
{
    if (L < 0 || H < 0 || D < 0 || D % 2)
        WANC_FAIL(WANC_EINVAL, "rope: bad sizes L=%lld H=%lld D=%lld (D must be even)", (long long)L, (long long)H,
                  (long long)D);
    if (L == 0 || H == 0 || D == 0) return nullptr;
    if (!x || !cos_sin) WANC_FAIL(WANC_EINVAL, "rope: NULL buffer");
    cuda_ctx *c = cuda_ctx_of(be);
    cuda_args a(c);
    const double *dcs = (const double *)a.in(cos_sin, (size_t)(L * D) * sizeof(double)); /* L · D/2 · 2 */
    float *dx = (float *)a.out(x, (size_t)(L * H * D) * sizeof(float), true);
    if (a.err) return wanc_error_context(a.take_err(), "rope");
    rope_kernel<<<cuda_blocks_for(L * H * (D / 2)), 256, 0, c->stream>>>(dx, dcs, L, H, D / 2);
    CU_LAUNCH_CHECK();
    return a.finish();
}

/* ---- conversions and bias adds (device pointers only) ---------------------------------------- */

__global__ void f32_to_bf16_kernel(__nv_bfloat16 *d, const float *s, int64_t n)
{
    for (int64_t i = blockIdx.x * (int64_t)blockDim.x + threadIdx.x; i < n; i += (int64_t)gridDim.x * blockDim.x)
        d[i] = __float2bfloat16_rn(s[i]);
}

__global__ void bf16_to_f32_kernel(float *d, const __nv_bfloat16 *s, int64_t n)
{
    for (int64_t i = blockIdx.x * (int64_t)blockDim.x + threadIdx.x; i < n; i += (int64_t)gridDim.x * blockDim.x)
        d[i] = __bfloat162float(s[i]);
}

__global__ void f16_to_f32_kernel(float *d, const __half *s, int64_t n)
{
    for (int64_t i = blockIdx.x * (int64_t)blockDim.x + threadIdx.x; i < n; i += (int64_t)gridDim.x * blockDim.x)
        d[i] = __half2float(s[i]);
}

wanc_err cuda_f32_to_bf16(cuda_ctx *c, void *dst, const float *src, int64_t n)
{
    if (n <= 0) return nullptr;
    f32_to_bf16_kernel<<<cuda_blocks_for(n), 256, 0, c->stream>>>((__nv_bfloat16 *)dst, src, n);
    CU_LAUNCH_CHECK();
    return nullptr;
}

wanc_err cuda_half_to_f32(cuda_ctx *c, float *dst, const void *src, wanc_dtype dt, int64_t n)
{
    if (n <= 0) return nullptr;
    if (dt == WANC_BF16)
        bf16_to_f32_kernel<<<cuda_blocks_for(n), 256, 0, c->stream>>>(dst, (const __nv_bfloat16 *)src, n);
    else if (dt == WANC_F16)
        f16_to_f32_kernel<<<cuda_blocks_for(n), 256, 0, c->stream>>>(dst, (const __half *)src, n);
    else if (dt == WANC_F32)
        CU_TRY(cudaMemcpyAsync(dst, src, (size_t)n * sizeof(float), cudaMemcpyDeviceToDevice, c->stream));
    else
        WANC_FAIL(WANC_EINTERNAL, "cuda_half_to_f32: dtype %s", wanc_dtype_name(dt));
    CU_LAUNCH_CHECK();
    return nullptr;
}

__global__ void bias_cols_kernel(float *o, const float *bias, int64_t rows, int64_t N, int64_t ld)
{
    int64_t n = rows * N;
    for (int64_t i = blockIdx.x * (int64_t)blockDim.x + threadIdx.x; i < n; i += (int64_t)gridDim.x * blockDim.x) {
        int64_t r = i / N, col = i % N;
        o[r * ld + col] = __fadd_rn(o[r * ld + col], bias[col]);
    }
}

__global__ void bias_rows_kernel(float *o, const float *bias, int64_t channels, int64_t P)
{
    int64_t n = channels * P;
    for (int64_t i = blockIdx.x * (int64_t)blockDim.x + threadIdx.x; i < n; i += (int64_t)gridDim.x * blockDim.x)
        o[i] = __fadd_rn(o[i], bias[i / P]);
}

wanc_err cuda_add_bias_cols(cuda_ctx *c, float *out, const float *bias, int64_t rows, int64_t N, int64_t ld)
{
    if (rows <= 0 || N <= 0) return nullptr;
    bias_cols_kernel<<<cuda_blocks_for(rows * N), 256, 0, c->stream>>>(out, bias, rows, N, ld);
    CU_LAUNCH_CHECK();
    return nullptr;
}

wanc_err cuda_add_bias_rows(cuda_ctx *c, float *out, const float *bias, int64_t channels, int64_t P)
{
    if (channels <= 0 || P <= 0) return nullptr;
    bias_rows_kernel<<<cuda_blocks_for(channels * P), 256, 0, c->stream>>>(out, bias, channels, P);
    CU_LAUNCH_CHECK();
    return nullptr;
}
