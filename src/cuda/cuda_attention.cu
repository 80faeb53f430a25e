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
 * template parameter: D ≤ 32·DPL, D ≤ 512.
 *
 * With wanc_cuda_options.attention_bf16 (and D a multiple of 16, D ≤ 256)
 * a tensor-core version runs instead (flash_attention_tc_kernel below):
 * the same tiling and online softmax, with Q·Kᵀ and P·V as bf16 WMMA
 * products accumulated in fp32. */
#include <cuda_bf16.h>
#include <mma.h>

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

/* ---- tensor-core version (bf16 WMMA, fp32 accumulate) ------------------------------------ *
 *
 * A block is head h and TC_BQ = 64 queries: 4 warps of 16 query rows. Per
 * key tile of TC_BK = 64 (all in shared memory, bf16 unless noted):
 *   S_w[16, 64] = Q_w · K_tileᵀ          (WMMA, fp32 → sS, per warp)
 *   per row: scale, bias, mask, running max m and sum l in fp32 (as above);
 *            P = exp(S - m') → bf16 sP; O_w rows ·= exp(m - m')
 *   O_w[16, D] += P_w · V_tile           (WMMA on the fp32 O_w kept in sO)
 * Rows are padded (+8 bf16 / +4 floats) against bank conflicts; every
 * fragment pointer is 32-byte aligned as WMMA requires (D % 16 == 0). */

#define TC_WARPS 4
#define TC_BQ (TC_WARPS * 16)
#define TC_BK 64
#define TC_LDS (TC_BK + 4) /* sS row stride (floats) */
#define TC_LDP (TC_BK + 8) /* sP row stride (bf16) */

struct tc_layout {
    size_t q, k, v, s, p, o, m, l, c, total;
};

static __host__ __device__ size_t tc_round(size_t x) { return (x + 127) & ~(size_t)127; }

/* Byte offsets of the shared-memory arrays for head dim D. */
static __host__ __device__ tc_layout tc_layout_for(int D)
{
    size_t ldh = (size_t)D + 8, ldo = (size_t)D + 4;
    tc_layout t;
    t.q = 0;
    t.k = t.q + tc_round(TC_BQ * ldh * 2);
    t.v = t.k + tc_round(TC_BK * ldh * 2);
    t.s = t.v + tc_round(TC_BK * ldh * 2);
    t.p = t.s + tc_round((size_t)TC_WARPS * 16 * TC_LDS * 4);
    t.o = t.p + tc_round((size_t)TC_WARPS * 16 * TC_LDP * 2);
    t.m = t.o + tc_round((size_t)TC_WARPS * 16 * ldo * 4);
    t.l = t.m + tc_round(TC_BQ * 4);
    t.c = t.l + tc_round(TC_BQ * 4);
    t.total = t.c + tc_round(TC_BQ * 4);
    return t;
}

/* rows r0 .. r0+nrows-1 of head h of x[*, H·D] → bf16 s[nrows][ld] (zeros past limit) */
__device__ void tc_load_tile(__nv_bfloat16 *s, const float *x, int64_t r0, int nrows, int64_t limit, int64_t HD,
                             int64_t hoff, int D, int ld)
{
    for (int idx = threadIdx.x; idx < nrows * D; idx += blockDim.x) {
        int r = idx / D, d = idx % D;
        int64_t row = r0 + r;
        s[r * ld + d] = __float2bfloat16_rn(row < limit ? x[row * HD + hoff + d] : 0.0f);
    }
}

__global__ void __launch_bounds__(TC_WARPS * 32)
    flash_attention_tc_kernel(float *out, const float *q, const float *k, const float *v, int64_t Lq, int64_t Lk,
                              int64_t H, int D, float scale, const float *bias, const uint8_t *mask)
{
    using namespace nvcuda;
    extern __shared__ __align__(128) unsigned char tc_smem[];
    const tc_layout t = tc_layout_for(D);
    const int ldh = D + 8, ldo = D + 4;
    __nv_bfloat16 *sQ = (__nv_bfloat16 *)(tc_smem + t.q), *sK = (__nv_bfloat16 *)(tc_smem + t.k),
                  *sV = (__nv_bfloat16 *)(tc_smem + t.v), *sP = (__nv_bfloat16 *)(tc_smem + t.p);
    float *sS = (float *)(tc_smem + t.s), *sO = (float *)(tc_smem + t.o);
    float *sM = (float *)(tc_smem + t.m), *sL = (float *)(tc_smem + t.l), *sC = (float *)(tc_smem + t.c);
    const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
    const int64_t h = blockIdx.y, q0 = (int64_t)blockIdx.x * TC_BQ, HD = H * D, hoff = h * D;
    /* this warp's rows */
    __nv_bfloat16 *sQw = sQ + warp * 16 * ldh, *sPw = sP + warp * 16 * TC_LDP;
    float *sSw = sS + warp * 16 * TC_LDS, *sOw = sO + warp * 16 * ldo;
    float *sMw = sM + warp * 16, *sLw = sL + warp * 16, *sCw = sC + warp * 16;

    tc_load_tile(sQ, q, q0, TC_BQ, Lq, HD, hoff, D, ldh);
    for (int idx = lane; idx < 16 * D; idx += 32) sOw[(idx / D) * ldo + idx % D] = 0.0f;
    if (lane < 16) {
        sMw[lane] = -INFINITY;
        sLw[lane] = 0.0f;
    }
    const int dt = D / 16;

    for (int64_t k0 = 0; k0 < Lk; k0 += TC_BK) {
        __syncthreads(); /* every warp is done with the previous K/V tile */
        tc_load_tile(sK, k, k0, TC_BK, Lk, HD, hoff, D, ldh);
        tc_load_tile(sV, v, k0, TC_BK, Lk, HD, hoff, D, ldh);
        __syncthreads();

        /* S_w = Q_w · Kᵀ: K stored [key][d] is the column-major [d][key] operand */
        for (int j = 0; j < TC_BK / 16; j++) {
            wmma::fragment<wmma::accumulator, 16, 16, 16, float> acc;
            wmma::fill_fragment(acc, 0.0f);
            for (int kk = 0; kk < dt; kk++) {
                wmma::fragment<wmma::matrix_a, 16, 16, 16, __nv_bfloat16, wmma::row_major> fa;
                wmma::fragment<wmma::matrix_b, 16, 16, 16, __nv_bfloat16, wmma::col_major> fb;
                wmma::load_matrix_sync(fa, sQw + kk * 16, ldh);
                wmma::load_matrix_sync(fb, sK + j * 16 * ldh + kk * 16, ldh);
                wmma::mma_sync(acc, fa, fb, acc);
            }
            wmma::store_matrix_sync(sSw + j * 16, acc, TC_LDS, wmma::mem_row_major);
        }
        __syncwarp();

        /* online softmax, one row at a time; lane owns columns lane and lane + 32 */
        for (int r = 0; r < 16; r++) {
            int64_t qi = q0 + warp * 16 + r;
            float s2[2];
            for (int u = 0; u < 2; u++) {
                int col = lane + 32 * u;
                int64_t kidx = k0 + col;
                bool valid = kidx < Lk;
                float s = valid ? scale * sSw[r * TC_LDS + col] : -INFINITY;
                if (valid && bias && qi < Lq) s += bias[(h * Lq + qi) * Lk + kidx];
                if (valid && mask && !mask[kidx]) s = -FLT_MAX;
                s2[u] = s;
            }
            float m_old = sMw[r];
            float mt = fmaxf(s2[0], s2[1]);
            for (int off = 16; off > 0; off >>= 1) mt = fmaxf(mt, __shfl_xor_sync(0xffffffffu, mt, off));
            float mn = fmaxf(m_old, mt); /* finite: column 0 (key k0 < Lk) is always valid */
            float p0 = expf(s2[0] - mn), p1 = expf(s2[1] - mn);
            float sum = p0 + p1;
            for (int off = 16; off > 0; off >>= 1) sum += __shfl_xor_sync(0xffffffffu, sum, off);
            sPw[r * TC_LDP + lane] = __float2bfloat16_rn(p0);
            sPw[r * TC_LDP + lane + 32] = __float2bfloat16_rn(p1);
            __syncwarp(); /* every lane has read sMw[r] */
            if (lane == 0) {
                float corr = expf(m_old - mn); /* 0 on the first tile */
                sMw[r] = mn;
                sLw[r] = sLw[r] * corr + sum;
                sCw[r] = corr;
            }
        }
        __syncwarp();
        for (int idx = lane; idx < 16 * D; idx += 32) sOw[(idx / D) * ldo + idx % D] *= sCw[idx / D];
        __syncwarp();

        /* O_w += P_w · V_tile (V stored [key][d]: the row-major [key][d] operand) */
        for (int n = 0; n < dt; n++) {
            wmma::fragment<wmma::accumulator, 16, 16, 16, float> acc;
            wmma::load_matrix_sync(acc, sOw + n * 16, ldo, wmma::mem_row_major);
            for (int kk = 0; kk < TC_BK / 16; kk++) {
                wmma::fragment<wmma::matrix_a, 16, 16, 16, __nv_bfloat16, wmma::row_major> fa;
                wmma::fragment<wmma::matrix_b, 16, 16, 16, __nv_bfloat16, wmma::row_major> fb;
                wmma::load_matrix_sync(fa, sPw + kk * 16, TC_LDP);
                wmma::load_matrix_sync(fb, sV + kk * 16 * ldh + n * 16, ldh);
                wmma::mma_sync(acc, fa, fb, acc);
            }
            wmma::store_matrix_sync(sOw + n * 16, acc, ldo, wmma::mem_row_major);
        }
        __syncwarp();
    }

    for (int idx = lane; idx < 16 * D; idx += 32) {
        int r = idx / D, d = idx % D;
        int64_t qi = q0 + warp * 16 + r;
        if (qi < Lq) out[qi * HD + hoff + d] = sOw[r * ldo + d] / sLw[r];
    }
}

/* Launch the tensor-core kernel; *ran = false (and no error) when D or the
 * device's shared memory does not allow it. */
static wanc_err launch_tc(cuda_ctx *c, bool *ran, float *out, const float *q, const float *k, const float *v,
                          int64_t Lq, int64_t Lk, int64_t H, int D, float scale, const float *bias,
                          const uint8_t *mask)
{
    *ran = false;
    if (D % 16 || D > 256) return nullptr;
    size_t smem = tc_layout_for(D).total;
    int optin = 0;
    CU_TRY(cudaDeviceGetAttribute(&optin, cudaDevAttrMaxSharedMemoryPerBlockOptin, c->device));
    if (smem > (size_t)optin) return nullptr;
    CU_TRY(cudaFuncSetAttribute(flash_attention_tc_kernel, cudaFuncAttributeMaxDynamicSharedMemorySize, (int)smem));
    dim3 grid((unsigned)((Lq + TC_BQ - 1) / TC_BQ), (unsigned)H);
    flash_attention_tc_kernel<<<grid, TC_WARPS * 32, smem, c->stream>>>(out, q, k, v, Lq, Lk, H, D, scale, bias,
                                                                        mask);
    CU_LAUNCH_CHECK();
    *ran = true;
    return nullptr;
}

/* The fp32 kernel with the smallest DPL that holds D (<= 512). */
static wanc_err launch_simt(cuda_ctx *c, float *out, const float *q, const float *k, const float *v, int64_t Lq,
                            int64_t Lk, int64_t H, int D, float scale, const float *bias, const uint8_t *mask)
{
    if (D <= 32) return launch<1>(c, out, q, k, v, Lq, Lk, H, D, scale, bias, mask);
    if (D <= 64) return launch<2>(c, out, q, k, v, Lq, Lk, H, D, scale, bias, mask);
    if (D <= 128) return launch<4>(c, out, q, k, v, Lq, Lk, H, D, scale, bias, mask);
    if (D <= 256) return launch<8>(c, out, q, k, v, Lq, Lk, H, D, scale, bias, mask);
    if (D <= 384) return launch<12>(c, out, q, k, v, Lq, Lk, H, D, scale, bias, mask);
    return launch<16>(c, out, q, k, v, Lq, Lk, H, D, scale, bias, mask);
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
    wanc_err err = nullptr;
    bool ran = false;
    if (c->opt.attention_bf16) err = launch_tc(c, &ran, dout, dq, dk, dv, Lq, Lk, H, d, scale, db, dm);
    if (!err && !ran) err = launch_simt(c, dout, dq, dk, dv, Lq, Lk, H, d, scale, db, dm);
    if (err) return wanc_error_context(err, "attention (Lq=%lld Lk=%lld H=%lld D=%lld)", (long long)Lq, (long long)Lk,
                                       (long long)H, (long long)D);
    return a.finish();
}

/* Host-side checks of the kernels' shared-memory layouts (no device needed):
 * every WMMA fragment pointer 32-byte aligned, every leading dimension a
 * multiple of 8 bf16 / 4 floats, and the sizes within sm_90's 227 KB
 * opt-in limit for every head dim the kernels accept. */
wanc_err cuda_attention_check_layouts(void)
{
    const size_t sm90_optin = 232448;
    for (int dpl = 1; dpl <= 16; dpl++)
        if (att_smem_bytes(dpl) > sm90_optin)
            WANC_FAIL(WANC_EINTERNAL, "attention: fp32 kernel DPL=%d needs %zu bytes of shared memory", dpl,
                      att_smem_bytes(dpl));
    for (int D = 16; D <= 256; D += 16) {
        tc_layout t = tc_layout_for(D);
        size_t offs[] = {t.q, t.k, t.v, t.s, t.p, t.o, t.m, t.l, t.c};
        for (size_t i = 0; i < sizeof offs / sizeof *offs; i++)
            if (offs[i] % 128) WANC_FAIL(WANC_EINTERNAL, "attention: D=%d array %zu at offset %zu", D, i, offs[i]);
        if (t.total > sm90_optin)
            WANC_FAIL(WANC_EINTERNAL, "attention: D=%d needs %zu bytes of shared memory", D, t.total);
        size_t ldh = (size_t)D + 8, ldo = (size_t)D + 4;
        if (ldh % 8 || TC_LDP % 8 || ldo % 4 || TC_LDS % 4)
            WANC_FAIL(WANC_EINTERNAL, "attention: D=%d: WMMA leading dimensions", D);
        for (int w = 0; w < TC_WARPS; w++)
            for (int a = 0; a < D / 16 || a < TC_BK / 16; a++)
                for (int b = 0; b < D / 16 || b < TC_BK / 16; b++) {
                    size_t ptrs[] = {
                        t.q + 2 * ((size_t)w * 16 * ldh + (size_t)a * 16),           /* Q_w, k-step a */
                        t.k + 2 * ((size_t)b * 16 * ldh + (size_t)a * 16),           /* K, key group b */
                        t.v + 2 * ((size_t)a * 16 * ldh + (size_t)b * 16),           /* V, keys a, cols b */
                        t.s + 4 * ((size_t)w * 16 * TC_LDS + (size_t)b * 16),        /* S_w */
                        t.p + 2 * ((size_t)w * 16 * TC_LDP + (size_t)a * 16),        /* P_w */
                        t.o + 4 * ((size_t)w * 16 * ldo + (size_t)b * 16)};          /* O_w */
                    for (size_t i = 0; i < sizeof ptrs / sizeof *ptrs; i++)
                        if (ptrs[i] % 32)
                            WANC_FAIL(WANC_EINTERNAL, "attention: D=%d: fragment %zu at byte %zu is not 32-byte aligned",
                                      D, i, ptrs[i]);
                }
    }
    return nullptr;
}
