/* Flash attention on the GPU: tiled, online softmax, fp32 in and fp32
 * accumulate (SIMT; no tensor cores yet).
 *
 * A block is one head h and BQ = 32 queries: 8 warps of ROWS = 4 query
 * rows each. It walks the keys in tiles of BK = 32, staging the Q tile once
 * and each K and V tile in shared memory ([rows][DS] floats, DS = 32·DPL + 1:
 * the +1 makes lane j's reads of key row j conflict-free). Per tile and
 * query row, lane j owns key k0 + j:
 *   s_j = scale · q·k_j (+ bias[h, q, k]; masked key → -FLT_MAX; past Lk → -inf)
 *   m' = max(m, max_j s_j);  p_j = exp(s_j - m');  l = l·exp(m - m') + Σ p_j
 *   o = o·exp(m - m') + Σ_j p_j v_j      (o: lane owns columns lane + 32c)
 * and finally out = o / l. Only the tiles live in shared memory: Lq × Lk is
 * never materialised. This is the CPU op's algorithm (cpu/attention.c),
 * with the same -FLT_MAX convention, so a query whose keys are all masked
 * gets uniform weights as in torch. DPL (head-dim columns per lane) is a
 * template parameter: D ≤ 32·DPL, D ≤ 512. */
#include <cfloat>

#include "cuda/cuda_internal.h"

#define ATT_WARPS 8
#define ATT_ROWS 4
#define ATT_BQ (ATT_WARPS * ATT_ROWS)
#define ATT_BK 32

static size_t att_smem_bytes(int dpl) { return (size_t)(ATT_BQ + 2 * ATT_BK) * (size_t)(32 * dpl + 1) * sizeof(float); }

/* Copy rows r0 .. r0+nrows-1 (clipped at `limit`) of head h of x[*, H·D]
 * into s[nrows][DS], zero-filling past D and past `limit`. */
__device__ void att_load_tile(float *s, const float *x, int64_t r0, int nrows, int64_t limit, int64_t HD,
                              int64_t hoff, int D, int DS, int cols)
{
    for (int idx = threadIdx.x; idx < nrows * cols; idx += blockDim.x) {
        int r = idx / cols, d = idx % cols;
        int64_t row = r0 + r;
        s[r * DS + d] = (row < limit && d < D) ? x[row * HD + hoff + d] : 0.0f;
    }
}

template <int DPL>
__global__ void __launch_bounds__(ATT_WARPS * 32)
    flash_attention_kernel(float *out, const float *q, const float *k, const float *v, int64_t Lq, int64_t Lk,
                           int64_t H, int D, float scale, const float *bias, const uint8_t *mask)
{
    extern __shared__ float smem[];
    const int DS = 32 * DPL + 1, cols = 32 * DPL;
    float *sQ = smem, *sK = sQ + ATT_BQ * DS, *sV = sK + ATT_BK * DS;
    const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
    const int64_t h = blockIdx.y, q0 = (int64_t)blockIdx.x * ATT_BQ, HD = H * D, hoff = h * D;

    att_load_tile(sQ, q, q0, ATT_BQ, Lq, HD, hoff, D, DS, cols);

    float o[ATT_ROWS][DPL], m[ATT_ROWS], l[ATT_ROWS];
#pragma unroll
    for (int r = 0; r < ATT_ROWS; r++) {
        m[r] = -INFINITY;
        l[r] = 0.0f;
        for (int c = 0; c < DPL; c++) o[r][c] = 0.0f;
    }
    const float *myq = sQ + warp * ATT_ROWS * DS;

    for (int64_t k0 = 0; k0 < Lk; k0 += ATT_BK) {
        __syncthreads(); /* the previous tile is no longer read */
        att_load_tile(sK, k, k0, ATT_BK, Lk, HD, hoff, D, DS, cols);
        att_load_tile(sV, v, k0, ATT_BK, Lk, HD, hoff, D, DS, cols);
        __syncthreads();

        /* scores: lane = key */
        float acc[ATT_ROWS];
        for (int r = 0; r < ATT_ROWS; r++) acc[r] = 0.0f;
        const float *kr = sK + lane * DS;
        for (int d = 0; d < D; d++) {
            float kd = kr[d];
#pragma unroll
            for (int r = 0; r < ATT_ROWS; r++) acc[r] = fmaf(myq[r * DS + d], kd, acc[r]);
        }
        const int64_t kidx = k0 + lane;
        const bool valid = kidx < Lk;
        float p[ATT_ROWS];
#pragma unroll
        for (int r = 0; r < ATT_ROWS; r++) {
            int64_t qi = q0 + warp * ATT_ROWS + r;
            float s = valid ? scale * acc[r] : -INFINITY;
            if (valid && bias && qi < Lq) s += bias[(h * Lq + qi) * Lk + kidx];
            if (valid && mask && !mask[kidx]) s = -FLT_MAX;
            float mt = s;
            for (int off = 16; off > 0; off >>= 1) mt = fmaxf(mt, __shfl_xor_sync(0xffffffffu, mt, off));
            float mn = fmaxf(m[r], mt); /* finite: lane 0's key k0 < Lk is always valid */
            float e = expf(s - mn);     /* 0 past Lk */
            float corr = expf(m[r] - mn); /* 0 on the first tile (m = -inf) */
            float sum = e;
            for (int off = 16; off > 0; off >>= 1) sum += __shfl_xor_sync(0xffffffffu, sum, off);
            l[r] = l[r] * corr + sum;
            m[r] = mn;
            for (int c = 0; c < DPL; c++) o[r][c] *= corr;
            p[r] = e;
        }

        /* o += P · V_tile */
        const int nk = Lk - k0 < ATT_BK ? (int)(Lk - k0) : ATT_BK;
        for (int j = 0; j < nk; j++) {
            float vj[DPL];
#pragma unroll
            for (int c = 0; c < DPL; c++) vj[c] = sV[j * DS + lane + 32 * c];
#pragma unroll
            for (int r = 0; r < ATT_ROWS; r++) {
                float pj = __shfl_sync(0xffffffffu, p[r], j);
                for (int c = 0; c < DPL; c++) o[r][c] = fmaf(pj, vj[c], o[r][c]);
            }
        }
    }

    for (int r = 0; r < ATT_ROWS; r++) {
        int64_t qi = q0 + warp * ATT_ROWS + r;
        if (qi >= Lq) continue;
        float inv = 1.0f / l[r];
        float *orow = out + qi * HD + hoff;
        for (int c = 0; c < DPL; c++) {
            int d = lane + 32 * c;
            if (d < D) orow[d] = o[r][c] * inv;
        }
    }
}

template <int DPL>
static wanc_err launch(cuda_ctx *c, float *out, const float *q, const float *k, const float *v, int64_t Lq,
                       int64_t Lk, int64_t H, int D, float scale, const float *bias, const uint8_t *mask)
{
    size_t smem = att_smem_bytes(DPL);
    int optin = 0;
    CU_TRY(cudaDeviceGetAttribute(&optin, cudaDevAttrMaxSharedMemoryPerBlockOptin, c->device));
    if (smem > (size_t)optin)
        WANC_FAIL(WANC_EUNSUPPORTED, "attention: head dim %d needs %zu bytes of shared memory, %s allows %d", D, smem,
                  c->name, optin);
    CU_TRY(cudaFuncSetAttribute(flash_attention_kernel<DPL>, cudaFuncAttributeMaxDynamicSharedMemorySize, (int)smem));
    dim3 grid((unsigned)((Lq + ATT_BQ - 1) / ATT_BQ), (unsigned)H);
    flash_attention_kernel<DPL><<<grid, ATT_WARPS * 32, smem, c->stream>>>(out, q, k, v, Lq, Lk, H, D, scale, bias,
                                                                          mask);
    CU_LAUNCH_CHECK();
    return nullptr;
}

/* out[Lq, H·D] = softmax(scale · q kᵀ + bias) v per head; q[Lq, H·D], k/v[Lk, H·D],
 * bias [H, Lq, Lk] or NULL, key_mask [Lk] (0 = masked) or NULL. out must not alias q/k/v. */
extern "C" wanc_err cuda_attention(const wanc_backend *be, float *out, const float *q, const float *k,
                                   const float *v, int64_t Lq, int64_t Lk, int64_t H, int64_t D, float scale,
                                   const float *bias, const uint8_t *key_mask)
{
    if (Lq < 0 || Lk < 0 || H < 0 || D < 0)
        WANC_FAIL(WANC_EINVAL, "attention: negative size Lq=%lld Lk=%lld H=%lld D=%lld", (long long)Lq,
                  (long long)Lk, (long long)H, (long long)D);
    if (Lq == 0 || H == 0 || D == 0) return nullptr;
    if (Lk == 0) WANC_FAIL(WANC_EINVAL, "attention: no keys (Lk = 0)");
    if (!out || !q || !k || !v) WANC_FAIL(WANC_EINVAL, "attention: NULL buffer");
    if (D > 512) WANC_FAIL(WANC_EUNSUPPORTED, "attention: head dim %lld > 512 not supported on CUDA", (long long)D);
    if (H > 65535 || (Lq + ATT_BQ - 1) / ATT_BQ > INT32_MAX)
        WANC_FAIL(WANC_EUNSUPPORTED, "attention: H=%lld or Lq=%lld exceeds the CUDA grid", (long long)H,
                  (long long)Lq);
    cuda_ctx *c = cuda_ctx_of(be);
    int64_t HD = H * D;
    cuda_args a(c);
    const float *dq = (const float *)a.in(q, (size_t)(Lq * HD) * sizeof(float));
    const float *dk = (const float *)a.in(k, (size_t)(Lk * HD) * sizeof(float));
    const float *dv = (const float *)a.in(v, (size_t)(Lk * HD) * sizeof(float));
    const float *db = (const float *)a.in(bias, bias ? (size_t)(H * Lq * Lk) * sizeof(float) : 0);
    const uint8_t *dm = (const uint8_t *)a.in(key_mask, key_mask ? (size_t)Lk : 0);
    float *dout = (float *)a.out(out, (size_t)(Lq * HD) * sizeof(float), false);
    if (a.err) return wanc_error_context(a.take_err(), "attention");
    int d = (int)D;
    wanc_err err;
    if (D <= 32) err = launch<1>(c, dout, dq, dk, dv, Lq, Lk, H, d, scale, db, dm);
    else if (D <= 64) err = launch<2>(c, dout, dq, dk, dv, Lq, Lk, H, d, scale, db, dm);
    else if (D <= 128) err = launch<4>(c, dout, dq, dk, dv, Lq, Lk, H, d, scale, db, dm);
    else if (D <= 256) err = launch<8>(c, dout, dq, dk, dv, Lq, Lk, H, d, scale, db, dm);
    else if (D <= 384) err = launch<12>(c, dout, dq, dk, dv, Lq, Lk, H, d, scale, db, dm);
    else err = launch<16>(c, dout, dq, dk, dv, Lq, Lk, H, d, scale, db, dm);
    if (err) return wanc_error_context(err, "attention (Lq=%lld Lk=%lld H=%lld D=%lld)", (long long)Lq, (long long)Lk,
                                       (long long)H, (long long)D);
    return a.finish();
}
