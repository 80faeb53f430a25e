/* Channel-first feature ops and data movement on the GPU: channel_rms_norm,
 * upsample_nearest2x, copy_strided, fill, plus the row-broadcast multiply
 * mul_rows and relu.
 *
 * Simple one-thread-per-element (or per-position) kernels: every output is
 * computed by one thread from its own inputs, in the CPU's order and with
 * the explicitly rounded intrinsics, so all of them give the CPU's bits
 * (channel_rms_norm reduces over the channels of a position in channel
 * order in double, as the CPU does; its SiLU uses CUDA's accurate expf, a
 * few ulp from the CPU's polynomial). Every float argument may be a device
 * or a host pointer (see cuda_args). */
#include "cuda/cuda_internal.h"

#define MAX_COPY_DIMS 8

/* ---- channel_rms_norm ------------------------------------------------------------ */

/* One thread per position p of x[C, P]: ‖x[:, p]‖₂ in double (channel
 * order), then y = ((x / max(‖·‖, eps)) · √C) · gamma[c], SiLU when asked.
 * The thread reads its whole column before writing it: safe in place. */
__global__ void channel_rms_norm_kernel(float *out, const float *x, const float *gamma, int64_t C, int64_t P,
                                        float eps, float scale, int silu)
{
    for (int64_t p = blockIdx.x * (int64_t)blockDim.x + threadIdx.x; p < P; p += (int64_t)gridDim.x * blockDim.x) {
        double ss = 0;
        for (int64_t c = 0; c < C; c++) {
            double v = (double)x[c * P + p];
            ss = __dadd_rn(ss, __dmul_rn(v, v));
        }
        float nrm = __double2float_rn(sqrt(ss));
        nrm = nrm > eps ? nrm : eps;
        for (int64_t c = 0; c < C; c++) {
            float y = __fmul_rn(__fmul_rn(__fdiv_rn(x[c * P + p], nrm), scale), gamma ? gamma[c] : 1.0f);
            if (silu) y = __fdiv_rn(y, __fadd_rn(1.0f, expf(-y)));
            out[c * P + p] = y;
        }
    }
}

/* out[C, P] = x / max(‖x[:, p]‖₂, eps) · √C · gamma[c] (then SiLU); in place ok. */
extern "C" wanc_err cuda_channel_rms_norm(const wanc_backend *be, float *out, const float *x, const float *gamma,
                                          int64_t C, int64_t P, float eps, int silu)
{
    if (C < 0 || P < 0)
        WANC_FAIL(WANC_EINVAL, "channel_rms_norm: negative size C=%lld P=%lld", (long long)C, (long long)P);
    if (C == 0 || P == 0) return nullptr;
    if (!out || !x) WANC_FAIL(WANC_EINVAL, "channel_rms_norm: NULL input or output");
    cuda_ctx *c = cuda_ctx_of(be);
    size_t bytes = (size_t)(C * P) * sizeof(float);
    cuda_args a(c);
    const float *dx = (const float *)a.in(x, bytes);
    const float *dg = (const float *)a.in(gamma, (size_t)C * sizeof(float));
    float *dout = (float *)a.out(out, bytes, false);
    if (a.err) return wanc_error_context(a.take_err(), "channel_rms_norm");
    channel_rms_norm_kernel<<<cuda_blocks_for(P), 256, 0, c->stream>>>(dout, dx, dg, C, P, eps,
                                                                       (float)sqrt((double)C), silu);
    CU_LAUNCH_CHECK();
    return a.finish();
}

/* ---- upsample_nearest2x ------------------------------------------------------------ */

/* One thread per output element of out[N, 2H, 2W]. */
__global__ void upsample_nearest2x_kernel(float *out, const float *x, int64_t N, int64_t H, int64_t W)
{
    const int64_t W2 = 2 * W, n = N * 2 * H * W2;
    for (int64_t i = blockIdx.x * (int64_t)blockDim.x + threadIdx.x; i < n; i += (int64_t)gridDim.x * blockDim.x) {
        int64_t j = i % W2, r = i / W2; /* r = plane · 2H + output row */
        int64_t plane = r / (2 * H), oi = r % (2 * H);
        out[i] = x[(plane * H + oi / 2) * W + j / 2];
    }
}

/* out[N, 2H, 2W] = x[N, H, W] repeated 2×2. Not in place. */
extern "C" wanc_err cuda_upsample_nearest2x(const wanc_backend *be, float *out, const float *x, int64_t N,
                                            int64_t H, int64_t W)
{
    if (N < 0 || H < 0 || W < 0)
        WANC_FAIL(WANC_EINVAL, "upsample_nearest2x: negative size %lldx%lldx%lld", (long long)N, (long long)H,
                  (long long)W);
    if (N == 0 || H == 0 || W == 0) return nullptr;
    if (!out || !x) WANC_FAIL(WANC_EINVAL, "upsample_nearest2x: NULL input or output");
    if (out == x) WANC_FAIL(WANC_EINVAL, "upsample_nearest2x: cannot run in place");
    cuda_ctx *c = cuda_ctx_of(be);
    cuda_args a(c);
    const float *dx = (const float *)a.in(x, (size_t)(N * H * W) * sizeof(float));
    float *dout = (float *)a.out(out, (size_t)(N * 4 * H * W) * sizeof(float), false);
    if (a.err) return wanc_error_context(a.take_err(), "upsample_nearest2x");
    upsample_nearest2x_kernel<<<cuda_blocks_for(N * 4 * H * W), 256, 0, c->stream>>>(dout, dx, N, H, W);
    CU_LAUNCH_CHECK();
    return a.finish();
}

/* ---- copy_strided ------------------------------------------------------------------ */

struct copy_geom {
    int nd;
    int64_t shape[MAX_COPY_DIMS], os[MAX_COPY_DIMS], xs[MAX_COPY_DIMS];
};

/* One thread per element: its index (last dim fastest) → both offsets. */
__global__ void copy_strided_kernel(float *out, const float *x, copy_geom g, int64_t total)
{
    for (int64_t i = blockIdx.x * (int64_t)blockDim.x + threadIdx.x; i < total;
         i += (int64_t)gridDim.x * blockDim.x) {
        int64_t rest = i, oo = 0, xo = 0;
        for (int d = g.nd - 1; d >= 0; d--) {
            int64_t k = rest % g.shape[d];
            rest /= g.shape[d];
            oo += k * g.os[d];
            xo += k * g.xs[d];
        }
        out[oo] = x[xo];
    }
}

/* out[Σ i_d·out_strides[d]] = x[Σ i_d·x_strides[d]] for every index of shape[ndim]
 * (host arrays). A host out is staged with its old contents (the copy may
 * write only part of it: padding into a filled buffer). */
extern "C" wanc_err cuda_copy_strided(const wanc_backend *be, float *out, const int64_t *out_strides, const float *x,
                                      const int64_t *x_strides, const int64_t *shape, int ndim)
{
    if (ndim < 1 || ndim > MAX_COPY_DIMS)
        WANC_FAIL(WANC_EINVAL, "copy_strided: ndim %d not in 1..%d", ndim, MAX_COPY_DIMS);
    if (!out_strides || !x_strides || !shape) WANC_FAIL(WANC_EINVAL, "copy_strided: NULL shape or strides");
    copy_geom g;
    g.nd = ndim;
    int64_t total = 1, o_extent = 1, x_extent = 1; /* elements spanned: 1 + Σ (size-1)·stride */
    for (int d = 0; d < ndim; d++) {
        if (shape[d] < 0 || out_strides[d] < 0 || x_strides[d] < 0)
            WANC_FAIL(WANC_EINVAL, "copy_strided: dim %d has size %lld, strides %lld/%lld (must be >= 0)", d,
                      (long long)shape[d], (long long)out_strides[d], (long long)x_strides[d]);
        g.shape[d] = shape[d];
        g.os[d] = out_strides[d];
        g.xs[d] = x_strides[d];
        total *= shape[d];
    }
    if (total == 0) return nullptr;
    if (!out || !x) WANC_FAIL(WANC_EINVAL, "copy_strided: NULL input or output");
    for (int d = 0; d < ndim; d++) {
        o_extent += (shape[d] - 1) * out_strides[d];
        x_extent += (shape[d] - 1) * x_strides[d];
    }
    cuda_ctx *c = cuda_ctx_of(be);
    cuda_args a(c);
    const float *dx = (const float *)a.in(x, (size_t)x_extent * sizeof(float));
    float *dout = (float *)a.out(out, (size_t)o_extent * sizeof(float), true);
    if (a.err) return wanc_error_context(a.take_err(), "copy_strided");
    copy_strided_kernel<<<cuda_blocks_for(total), 256, 0, c->stream>>>(dout, dx, g, total);
    CU_LAUNCH_CHECK();
    return a.finish();
}

/* ---- fill, mul_rows, relu ------------------------------------------------------------ */

__global__ void fill_kernel(float *o, float value, int64_t n)
{
    for (int64_t i = blockIdx.x * (int64_t)blockDim.x + threadIdx.x; i < n; i += (int64_t)gridDim.x * blockDim.x)
        o[i] = value;
}

/* out[n] = value */
extern "C" wanc_err cuda_fill(const wanc_backend *be, float *out, float value, int64_t n)
{
    if (n < 0) WANC_FAIL(WANC_EINVAL, "fill: n = %lld < 0", (long long)n);
    if (n == 0) return nullptr;
    if (!out) WANC_FAIL(WANC_EINVAL, "fill: NULL output");
    cuda_ctx *c = cuda_ctx_of(be);
    cuda_args a(c);
    float *dout = (float *)a.out(out, (size_t)n * sizeof(float), false);
    if (a.err) return wanc_error_context(a.take_err(), "fill");
    fill_kernel<<<cuda_blocks_for(n), 256, 0, c->stream>>>(dout, value, n);
    CU_LAUNCH_CHECK();
    return a.finish();
}

/* o[r, d] = x[r, d] · w[d] */
__global__ void mul_rows_kernel(float *o, const float *x, const float *w, int64_t n, int64_t dim)
{
    for (int64_t i = blockIdx.x * (int64_t)blockDim.x + threadIdx.x; i < n; i += (int64_t)gridDim.x * blockDim.x)
        o[i] = __fmul_rn(x[i], w[i % dim]);
}

/* out[r,d] = x[r,d] · w[d]; x/out [rows, dim], w [dim] (in place ok). */
extern "C" wanc_err cuda_mul_rows(const wanc_backend *be, float *out, const float *x, const float *w, int64_t rows,
                                  int64_t dim)
{
    if (rows < 0 || dim < 0)
        WANC_FAIL(WANC_EINVAL, "mul_rows: negative size rows = %lld, dim = %lld", (long long)rows, (long long)dim);
    if (rows == 0 || dim == 0) return nullptr;
    if (!out || !x || !w) WANC_FAIL(WANC_EINVAL, "mul_rows: NULL buffer");
    cuda_ctx *c = cuda_ctx_of(be);
    size_t bytes = (size_t)(rows * dim) * sizeof(float);
    cuda_args a(c);
    const float *dx = (const float *)a.in(x, bytes);
    const float *dw = (const float *)a.in(w, (size_t)dim * sizeof(float));
    float *dout = (float *)a.out(out, bytes, false);
    if (a.err) return wanc_error_context(a.take_err(), "mul_rows");
    mul_rows_kernel<<<cuda_blocks_for(rows * dim), 256, 0, c->stream>>>(dout, dx, dw, rows * dim, dim);
    CU_LAUNCH_CHECK();
    return a.finish();
}

/* !(x <= 0): NaN kept, -0 → +0, as the CPU. */
__global__ void relu_kernel(float *o, const float *x, int64_t n)
{
    for (int64_t i = blockIdx.x * (int64_t)blockDim.x + threadIdx.x; i < n; i += (int64_t)gridDim.x * blockDim.x) {
        float v = x[i];
        o[i] = !(v <= 0.0f) ? v : 0.0f;
    }
}

/* out[n] = max(x[n], 0), NaN kept (in place ok) */
extern "C" wanc_err cuda_relu(const wanc_backend *be, float *out, const float *x, int64_t n)
{
    if (n < 0) WANC_FAIL(WANC_EINVAL, "relu: n = %lld < 0", (long long)n);
    if (n == 0) return nullptr;
    if (!out || !x) WANC_FAIL(WANC_EINVAL, "relu: NULL buffer");
    cuda_ctx *c = cuda_ctx_of(be);
    size_t bytes = (size_t)n * sizeof(float);
    cuda_args a(c);
    const float *dx = (const float *)a.in(x, bytes);
    float *dout = (float *)a.out(out, bytes, false);
    if (a.err) return wanc_error_context(a.take_err(), "relu");
    relu_kernel<<<cuda_blocks_for(n), 256, 0, c->stream>>>(dout, dx, n);
    CU_LAUNCH_CHECK();
    return a.finish();
}
