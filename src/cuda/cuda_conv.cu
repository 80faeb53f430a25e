/* 3-D convolution on the GPU (conv2d is kt = 1, T = 1): im2col + cuBLAS.
 *
 * out[Cout, P] = W[Cout, Kc] · col[Kc, P], P = To·Ho·Wo, Kc = Cin·kt·kh·kw in
 * the weight's own order (ci, dt, dh, dw), exactly as the CPU's im2col
 * path. The column matrix is built for slabs of output positions small
 * enough that one slab stays under COL_BYTES; each slab is one GEMM whose
 * output rows are written in place into out (leading dimension P). A 1×1×1
 * kernel with stride 1 and no padding needs no columns: x[Cin, P] is col.
 *
 * The weight is used as float32 (BF16/F16 expanded once on the device, see
 * the weight cache) and the GEMM is fp32, or TF32 when allowed. A cuDNN
 * path may be faster; it is left for measurement on a GPU. */
#include "cuda/cuda_internal.h"

#define COL_BYTES ((size_t)256 << 20)

struct conv_geom {
    int64_t Cin, T, H, W, kt, kh, kw, To, Ho, Wo;
    int st, sh, sw, pt, ph, pw;
};

/* col[kc, i] for output positions p0 + i, i < n (row stride n). */
__global__ void im2col_kernel(float *col, const float *x, conv_geom g, int64_t Kc, int64_t p0, int64_t n)
{
    const int64_t total = Kc * n, HoWo = g.Ho * g.Wo, kk = g.kt * g.kh * g.kw, khw = g.kh * g.kw;
    for (int64_t idx = blockIdx.x * (int64_t)blockDim.x + threadIdx.x; idx < total;
         idx += (int64_t)gridDim.x * blockDim.x) {
        int64_t kc = idx / n, i = idx % n, p = p0 + i;
        int64_t ci = kc / kk, r = kc % kk, dt = r / khw, dh = (r % khw) / g.kw, dw = r % g.kw;
        int64_t to = p / HoWo, ho = (p % HoWo) / g.Wo, wo = p % g.Wo;
        int64_t t = to * g.st - g.pt + dt, hh = ho * g.sh - g.ph + dh, ww = wo * g.sw - g.pw + dw;
        col[idx] = (t >= 0 && t < g.T && hh >= 0 && hh < g.H && ww >= 0 && ww < g.W)
                       ? x[((ci * g.T + t) * g.H + hh) * g.W + ww]
                       : 0.0f;
    }
}

/* out[Cout, To, Ho, Wo] = conv3d(x[Cin, T, H, W], w[Cout, Cin, kt, kh, kw]) + bias[Cout];
 * zero padding pad[] on both sides, stride[]; w may also be [Cout, Cin, kh, kw] (kt = 1). */
extern "C" wanc_err cuda_conv3d(const wanc_backend *be, float *out, const float *x, const wanc_tensor *w,
                                const wanc_tensor *bias, int64_t Cin, int64_t T, int64_t H, int64_t W,
                                const int stride[3], const int pad[3])
{
    if (!w || !w->data || (w->ndim != 5 && w->ndim != 4))
        WANC_FAIL(WANC_ESHAPE, "conv3d: weight must be [Cout, Cin, kt, kh, kw]");
    if (!stride || !pad) WANC_FAIL(WANC_EINVAL, "conv3d: NULL stride or pad");
    int off = w->ndim == 5 ? 0 : 1;
    conv_geom g = {Cin, T, H, W, off ? 1 : w->shape[2], w->shape[3 - off], w->shape[4 - off], 0, 0, 0,
                   stride[0], stride[1], stride[2], pad[0], pad[1], pad[2]};
    int64_t Cout = w->shape[0];
    if (w->shape[1] != Cin)
        WANC_FAIL(WANC_ESHAPE, "conv3d: weight has %lld input channels, input has %lld", (long long)w->shape[1],
                  (long long)Cin);
    if (Cin <= 0 || T <= 0 || H <= 0 || W <= 0 || g.st <= 0 || g.sh <= 0 || g.sw <= 0 || g.pt < 0 || g.ph < 0 ||
        g.pw < 0)
        WANC_FAIL(WANC_EINVAL, "conv3d: bad sizes Cin=%lld T=%lld H=%lld W=%lld or stride/pad", (long long)Cin,
                  (long long)T, (long long)H, (long long)W);
    if (T + 2 * g.pt < g.kt || H + 2 * g.ph < g.kh || W + 2 * g.pw < g.kw)
        WANC_FAIL(WANC_ESHAPE, "conv3d: kernel %lldx%lldx%lld larger than padded input %lldx%lldx%lld",
                  (long long)g.kt, (long long)g.kh, (long long)g.kw, (long long)(T + 2 * g.pt),
                  (long long)(H + 2 * g.ph), (long long)(W + 2 * g.pw));
    g.To = (T + 2 * g.pt - g.kt) / g.st + 1;
    g.Ho = (H + 2 * g.ph - g.kh) / g.sh + 1;
    g.Wo = (W + 2 * g.pw - g.kw) / g.sw + 1;
    int64_t P = g.To * g.Ho * g.Wo, Kc = Cin * g.kt * g.kh * g.kw;
    if (bias && (!bias->data || wanc_tensor_numel(bias) != Cout))
        WANC_FAIL(WANC_ESHAPE, "conv3d: bias must have %lld values", (long long)Cout);
    if (P > INT32_MAX || Kc > INT32_MAX || Cout > INT32_MAX)
        WANC_FAIL(WANC_EUNSUPPORTED, "conv3d: sizes exceed cuBLAS int");
    if (!out || !x) WANC_FAIL(WANC_EINVAL, "conv3d: NULL input or output");

    cuda_ctx *c = cuda_ctx_of(be);
    cuda_args a(c);
    const float *dx = (const float *)a.in(x, (size_t)(Cin * T * H * W) * sizeof(float));
    float *dout = (float *)a.out(out, (size_t)(Cout * P) * sizeof(float), false);
    if (a.err) return wanc_error_context(a.take_err(), "conv3d");
    cuda_scratch wtmp(c), btmp(c), col(c);
    const void *dw = nullptr, *db = nullptr;
    TRYC(cuda_weight_get(c, w, true, &dw, &wtmp), "conv3d: weight");
    if (bias) TRYC(cuda_weight_get(c, bias, true, &db, &btmp), "conv3d: bias");

    const float one = 1.0f, zero = 0.0f;
    cublasComputeType_t ct = c->opt.allow_tf32 ? CUBLAS_COMPUTE_32F_FAST_TF32 : CUBLAS_COMPUTE_32F;
    bool pointwise = g.kt == 1 && g.kh == 1 && g.kw == 1 && g.st == 1 && g.sh == 1 && g.sw == 1 && g.pt == 0 &&
                     g.ph == 0 && g.pw == 0;
    if (pointwise) { /* P == T·H·W and x[Cin, P] is the column matrix */
        CUBLAS_TRY(cublasGemmEx(c->blas, CUBLAS_OP_N, CUBLAS_OP_N, (int)P, (int)Cout, (int)Kc, &one, dx, CUDA_R_32F,
                                (int)P, dw, CUDA_R_32F, (int)Kc, &zero, dout, CUDA_R_32F, (int)P, ct,
                                CUBLAS_GEMM_DEFAULT));
    } else {
        int64_t ps = (int64_t)(COL_BYTES / sizeof(float)) / Kc;
        if (ps < 256) ps = 256;
        ps = ps / 32 * 32;
        if (ps > P) ps = P;
        TRY(col.get((size_t)(Kc * ps) * sizeof(float)));
        for (int64_t p0 = 0; p0 < P; p0 += ps) {
            int64_t n = P - p0 < ps ? P - p0 : ps;
            im2col_kernel<<<cuda_blocks_for(Kc * n), 256, 0, c->stream>>>((float *)col.p, dx, g, Kc, p0, n);
            CU_LAUNCH_CHECK();
            CUBLAS_TRY(cublasGemmEx(c->blas, CUBLAS_OP_N, CUBLAS_OP_N, (int)n, (int)Cout, (int)Kc, &one, col.p,
                                    CUDA_R_32F, (int)n, dw, CUDA_R_32F, (int)Kc, &zero, dout + p0, CUDA_R_32F,
                                    (int)P, ct, CUBLAS_GEMM_DEFAULT));
        }
    }
    if (db) TRY(cuda_add_bias_rows(c, dout, (const float *)db, Cout, P));
    return a.finish();
}

/* conv3d over hist[Cin, Th, H, W] ++ x[Cin, T, H, W] along time (hist NULL:
 * Th zero frames). Simple and exact: the concatenation is built in a pool
 * block (one 2-D copy per source, rows = channels) and handed to conv3d, so
 * the result is conv3d's on the concatenated input. */
extern "C" wanc_err cuda_conv3d_hist(const wanc_backend *be, float *out, const float *hist, int64_t Th,
                                     const float *x, const wanc_tensor *w, const wanc_tensor *bias, int64_t Cin,
                                     int64_t T, int64_t H, int64_t W, const int stride[3], const int pad[3])
{
    if (Th < 0 || T < 0)
        WANC_FAIL(WANC_EINVAL, "conv3d_hist: %lld history frames, %lld frames", (long long)Th, (long long)T);
    if (T == 0 && hist && Th > 0) { /* history alone: x is the history */
        x = hist;
        T = Th;
        Th = 0;
    }
    if (Th == 0) return cuda_conv3d(be, out, x, w, bias, Cin, T, H, W, stride, pad);
    if (Cin <= 0 || H <= 0 || W <= 0)
        WANC_FAIL(WANC_EINVAL, "conv3d_hist: bad sizes Cin=%lld T=%lld H=%lld W=%lld", (long long)Cin, (long long)T,
                  (long long)H, (long long)W);
    if (!x || !out) WANC_FAIL(WANC_EINVAL, "conv3d_hist: NULL input or output"); /* as the CPU */
    cuda_ctx *c = cuda_ctx_of(be);
    const size_t frame = (size_t)(H * W) * sizeof(float);
    const size_t hb = (size_t)Th * frame, xb = (size_t)T * frame, cat_row = hb + xb;
    cuda_args a(c);
    const float *dh = (const float *)a.in(hist, (size_t)Cin * hb);
    const float *dx = (const float *)a.in(x, (size_t)Cin * xb);
    if (a.err) return wanc_error_context(a.take_err(), "conv3d_hist");
    cuda_scratch cat(c);
    TRY(cat.get((size_t)Cin * cat_row));
    char *cp = (char *)cat.p;
    if (dh)
        CU_TRY(cudaMemcpy2DAsync(cp, cat_row, dh, hb, hb, (size_t)Cin, cudaMemcpyDeviceToDevice, c->stream));
    else
        CU_TRY(cudaMemset2DAsync(cp, cat_row, 0, hb, (size_t)Cin, c->stream));
    if (T > 0)
        CU_TRY(cudaMemcpy2DAsync(cp + hb, cat_row, dx, xb, xb, (size_t)Cin, cudaMemcpyDeviceToDevice, c->stream));
    /* the pool block outlives the queued conv: it is freed after conv3d
     * returns, and the pool is stream-ordered */
    TRYC(cuda_conv3d(be, out, (const float *)cat.p, w, bias, Cin, Th + T, H, W, stride, pad), "conv3d_hist");
    return a.finish();
}
