/* Dense products: linear (x · wᵀ + bias with weights of any stored float
 * dtype: F32/BF16/F16, fp8 (scaled or not), ggml block types) and the
 * general strided float32 gemm.
 *
 * Both cut the output into blocks chosen from the sizes alone and run one
 * single-threaded OpenBLAS sgemm per block on the wanc pool (see
 * cpu_internal.h for why that makes the bits independent of the thread
 * count).
 *
 * With a BF16 weight and bf16-exact activations (bf16 compute mode) on a
 * CPU with AVX-512 BF16, a block runs on the packed vdpbf16ps kernels
 * instead (gemm_bf16.c): the same float32 products, summed in fp32 in
 * another fixed order, at about twice the rate; the weight block is kept
 * packed as bf16 panels (half the float32 block's size).
 *
 * With a Q8_0 weight on the int8 table (wanc_backend_cpu_q8_int8), a block
 * runs on the int8 dot-product kernels instead (gemm_q8.c): x quantized per
 * 32-value block, exact int32 block dot products, float32 scale sums.
 *
 * Narrow weights are never expanded as a whole: a task converts (dequantizes) one
 * block of NB rows of w (NB × K floats) into its thread's scratch and keeps
 * it while it runs over the M-blocks of that N-block, so the conversion is
 * paid once per (N-block, thread) and amortised over all M rows.
 */
#include <cblas.h>
#include <stdatomic.h>
#include <stdlib.h>

#include "backend/cpu/cpu_internal.h"
#include "core/threads.h"

/* ---- block sizes ------------------------------------------------------------ */

/* Output blocks of at most mb × nb. Large blocks keep OpenBLAS's packing
 * overhead small (it repacks the x block per call and the w block per call);
 * enough blocks keep the pool busy. Depends on the sizes only. */
static void choose_blocks(int64_t M, int64_t N, int64_t K, int64_t *mb, int64_t *nb)
{
    /* N-blocks of up to 512 rows, fewer when K is long so that a converted
     * block (nb × K floats, per thread) stays within 8 MB. */
    int64_t cap = (int64_t)(2u << 20) / (K > 0 ? K : 1);
    cap = cap < 64 ? 64 : cap / 64 * 64;
    int64_t want = cap < 512 ? cap : 512;
    *nb = N <= want + want / 2 ? N : want;
    int64_t nblocks = (N + *nb - 1) / *nb;
    /* Aim for about 16 blocks in all, M-blocks of 128..1024 rows. */
    int64_t want_m = (16 + nblocks - 1) / nblocks;
    int64_t m = (M + want_m - 1) / want_m;
    m = (m + 15) / 16 * 16;
    if (m < 128) m = 128;
    if (m > 1024) m = 1024;
    *mb = M < m ? (M > 0 ? M : 1) : m;
}

/* ---- linear -------------------------------------------------------------------------- */

typedef struct {
    float *out;
    const float *x;
    const wanc_tensor *w;
    const float *bias; /* float32 [N] or NULL */
    int64_t M, N, K, mb, nb, mblocks;
    uint64_t call_id;
    int bf16; /* try the AVX-512 BF16 kernels (a BF16 weight, x's first and last rows bf16-exact) */
    cpu_int8 q8_kernel; /* a Q8_0 weight on the int8 kernels (be->q8_int8): which one */
    uint8_t *xq;        /* x quantized for them */
    const wanc_epilogue *ep; /* run on each output block once it is final, or NULL */
    atomic_int failed;
} linear_job;

/* The epilogue on output block (m0, n0) of mm x nn, now final. */
static void finish_block(const linear_job *j, int64_t m0, int64_t mm, int64_t n0, int64_t nn)
{
    if (j->ep) cpu_epilogue_block(j->ep, j->out + m0 * j->N + n0, j->N, m0, mm, n0, nn);
}

static atomic_uint_fast64_t linear_calls;

/* The thread's converted w block: which call and which N-block it holds,
 * as float32 rows or as packed bf16 panels. */
enum { BLOCK_F32, BLOCK_BF16_PANELS, BLOCK_Q8 };
static _Thread_local struct {
    uint64_t call_id;
    int64_t nblock;
    int kind;
} cached_block = {0, -1, BLOCK_F32};

static int holds_block(const linear_job *j, int64_t nbi, int kind)
{
    if (cached_block.call_id == j->call_id && cached_block.nblock == nbi && cached_block.kind == kind) return 1;
    cached_block.call_id = j->call_id;
    cached_block.nblock = nbi;
    cached_block.kind = kind;
    return 0;
}

/* K columns per packed A chunk: 12 rows x 256 values of A and a 32 x 256
 * panel of B (16 KB) stay in L1/L2 while the micro-kernel runs. Even. */
#define LINEAR_BF16_KC 256

/* One output block on the AVX-512 BF16 kernels. Returns 0 (having written
 * nothing final) when a value of this x block is not exactly a bf16: the
 * caller then computes the block in float32. */
static int linear_bf16_block(linear_job *j, int64_t nbi, int64_t n0, int64_t nn, int64_t m0, int64_t mm)
{
    const int64_t K = j->K, K2 = (K + 1) / 2, kc2max = LINEAR_BF16_KC / 2;
    uint32_t *wp = cpu_scratch(CPU_SCRATCH_WEIGHT,
                               (size_t)((j->nb + BF16_NR - 1) / BF16_NR * BF16_NR) * (size_t)K2 * sizeof(uint32_t));
    uint32_t *ap = cpu_scratch(CPU_SCRATCH_WORK,
                               (size_t)((j->mb + BF16_MR - 1) / BF16_MR * BF16_MR) * (size_t)kc2max * sizeof(uint32_t));
    if (!wp || !ap) {
        atomic_store(&j->failed, 1);
        return 1;
    }
    float *o = j->out + m0 * j->N + n0;
    for (int64_t k0 = 0; k0 < K; k0 += LINEAR_BF16_KC) {
        int64_t kc = K - k0 < LINEAR_BF16_KC ? K - k0 : LINEAR_BF16_KC, kc2 = (kc + 1) / 2;
        if (!cpu_bf16_pack_a(ap, j->x + m0 * K, K, mm, k0, kc, K)) return 0;
        if (k0 == 0 && !holds_block(j, nbi, BLOCK_BF16_PANELS))
            cpu_bf16_pack_b(wp, (const uint16_t *)j->w->data + n0 * K, K, nn, K);
        cpu_bf16_gemm_block(o, j->N, ap, kc2 * BF16_MR, wp + (k0 / 2) * BF16_NR, BF16_NR, K2 * BF16_NR, mm, nn, kc2,
                            k0 > 0, j->bias && k0 + kc >= K ? j->bias + n0 : NULL);
    }
    return 1;
}

/* ---- the int8 path (Q8_0 weights on wanc_backend_cpu_q8_int8) ----
 * x is quantized once per call (a parallel pass over row chunks, about 1.1
 * bytes per value); tasks are M-block-major over N-blocks of about N/16
 * rows, each laying out its weight rows once (16-row panels, 1.25 bytes per
 * value) and running the tiles. The bits do not depend on the blocks: each
 * output is one tile kernel's in-order sum over all of K. */
#define Q8_ROW_CHUNK 64 /* rows per quantization task (a multiple of Q8_MR) */
#define Q8_MAX_MB 4096  /* rows per M-block: bounds how often a weight block is laid out again */

static void q8_quantize_range(void *ctx, int64_t begin, int64_t end)
{
    linear_job *j = ctx;
    for (int64_t t = begin; t < end; t++) {
        int64_t r0 = t * Q8_ROW_CHUNK, rows = j->M - r0 < Q8_ROW_CHUNK ? j->M - r0 : Q8_ROW_CHUNK;
        cpu_q8_pack_x(j->xq + cpu_q8_x_pack_bytes(r0, j->K), j->x + r0 * j->K, j->K, rows, j->K, j->q8_kernel);
    }
}

static void q8_range(void *ctx, int64_t begin, int64_t end)
{
    linear_job *j = ctx;
    int64_t nblocks = (j->N + j->nb - 1) / j->nb;
    for (int64_t t = begin; t < end; t++) {
        int64_t mbi = t / nblocks, nbi = t % nblocks;
        int64_t n0 = nbi * j->nb, nn = j->N - n0 < j->nb ? j->N - n0 : j->nb;
        int64_t m0 = mbi * j->mb, mm = j->M - m0 < j->mb ? j->M - m0 : j->mb;
        void *wp = cpu_scratch(CPU_SCRATCH_WEIGHT, cpu_q8_w_pack_bytes(j->nb, j->K));
        if (!wp) {
            atomic_store(&j->failed, 1);
            return;
        }
        if (!holds_block(j, nbi, BLOCK_Q8))
            cpu_q8_pack_w(wp, (const uint8_t *)j->w->data + (size_t)n0 * (size_t)(j->K / 32 * 34), nn, j->K);
        cpu_q8_gemm_block(j->out + m0 * j->N + n0, j->N, j->xq + cpu_q8_x_pack_bytes(m0, j->K), wp, mm, nn, j->K,
                          j->bias ? j->bias + n0 : NULL, j->q8_kernel);
        finish_block(j, m0, mm, n0, nn);
    }
}

static wanc_err linear_q8(linear_job *j)
{
    /* x whole rows first: the padding of the last chunk is the only padding */
    j->xq = malloc(cpu_q8_x_pack_bytes(j->M, j->K));
    if (!j->xq)
        WANC_FAIL(WANC_ENOMEM, "linear: out of memory for %lld int8 activation rows of %lld", (long long)j->M,
                  (long long)j->K);
    wanc_parallel_for((j->M + Q8_ROW_CHUNK - 1) / Q8_ROW_CHUNK, 1, q8_quantize_range, j);
    int64_t nb = ((j->N + 15) / 16 + Q8_NR - 1) / Q8_NR * Q8_NR;
    j->nb = nb < Q8_NR ? Q8_NR : nb;
    j->mb = j->M < Q8_MAX_MB ? j->M : Q8_MAX_MB;
    int64_t nblocks = (j->N + j->nb - 1) / j->nb, mblocks = (j->M + j->mb - 1) / j->mb;
    wanc_parallel_for(nblocks * mblocks, 1, q8_range, j);
    free(j->xq);
    if (atomic_load(&j->failed))
        WANC_FAIL(WANC_ENOMEM, "linear: out of memory for a %lld x %lld int8 weight block", (long long)j->nb,
                  (long long)j->K);
    return NULL;
}

static void linear_range(void *ctx, int64_t begin, int64_t end)
{
    linear_job *j = ctx;
    for (int64_t t = begin; t < end; t++) {
        int64_t nbi = t / j->mblocks, mbi = t % j->mblocks;
        int64_t n0 = nbi * j->nb, nn = j->N - n0 < j->nb ? j->N - n0 : j->nb;
        int64_t m0 = mbi * j->mb, mm = j->M - m0 < j->mb ? j->M - m0 : j->mb;
        if (j->bf16 && linear_bf16_block(j, nbi, n0, nn, m0, mm)) {
            finish_block(j, m0, mm, n0, nn);
            continue;
        }
        const float *wblk;
        if (j->w->dtype == WANC_F32 && j->w->scale == 0.0f) {
            wblk = (const float *)j->w->data + n0 * j->K;
        } else {
            float *buf = cpu_scratch(CPU_SCRATCH_WEIGHT, (size_t)j->nb * (size_t)j->K * sizeof(float));
            if (!buf) {
                atomic_store(&j->failed, 1);
                return;
            }
            if (!holds_block(j, nbi, BLOCK_F32)) cpu_weight_rows(buf, j->w, n0, nn, j->K);
            wblk = buf;
        }
        float *o = j->out + m0 * j->N + n0;
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, (int)mm, (int)nn, (int)j->K, 1.0f, j->x + m0 * j->K,
                    (int)j->K, wblk, (int)j->K, 0.0f, o, (int)j->N);
        if (j->bias)
            for (int64_t r = 0; r < mm; r++)
                for (int64_t c = 0; c < nn; c++) o[r * j->N + c] += j->bias[n0 + c];
        finish_block(j, m0, mm, n0, nn);
    }
}

/* out[M,N] = x[M,K] · w[N,K]ᵀ (+ bias[N]), then ep (or NULL) on each output
 * block; w any float dtype, contiguous, K = numel(w)/N. */
wanc_err cpu_linear_fused(const wanc_backend *be, float *out, const float *x, const wanc_tensor *w,
                          const wanc_tensor *bias, int64_t M, const wanc_epilogue *ep)
{
    if (!w || w->ndim < 2 || !w->data) WANC_FAIL(WANC_EINVAL, "linear: weight must be a tensor of >= 2 dims");
    if (!cpu_weight_dtype_ok(w->dtype))
        WANC_FAIL(WANC_ESHAPE, "linear: weight dtype %s is not a float type", wanc_dtype_name(w->dtype));
    if (!wanc_tensor_is_contiguous(w)) WANC_FAIL(WANC_EINVAL, "linear: weight must be contiguous");
    if (M < 0) WANC_FAIL(WANC_EINVAL, "linear: M = %lld < 0", (long long)M);
    int64_t N = w->shape[0], K = N ? wanc_tensor_numel(w) / N : 0;
    if (N <= 0 || K <= 0) WANC_FAIL(WANC_ESHAPE, "linear: empty weight");
    if (K % wanc_dtype_block_elems(w->dtype))
        WANC_FAIL(WANC_ESHAPE, "linear: %s weight rows of %lld values are not whole %lld-value blocks",
                  wanc_dtype_name(w->dtype), (long long)K, (long long)wanc_dtype_block_elems(w->dtype));
    if (N > INT32_MAX || K > INT32_MAX || M > INT32_MAX)
        WANC_FAIL(WANC_EUNSUPPORTED, "linear: sizes M=%lld N=%lld K=%lld exceed BLAS int", (long long)M,
                  (long long)N, (long long)K);
    if (bias && (!bias->data || wanc_tensor_numel(bias) != N || !cpu_weight_dtype_ok(bias->dtype) ||
                 !wanc_tensor_is_contiguous(bias)))
        WANC_FAIL(WANC_ESHAPE, "linear: bias must be a contiguous float tensor of %lld values, got %lld %s",
                  (long long)N, (long long)wanc_tensor_numel(bias), wanc_dtype_name(bias->dtype));
    if (ep && ep->kind != WANC_EPILOGUE_GELU_TANH && ep->kind != WANC_EPILOGUE_RESIDUAL)
        WANC_FAIL(WANC_EINVAL, "linear: unknown epilogue %d", (int)ep->kind);
    if (ep && ep->kind == WANC_EPILOGUE_RESIDUAL &&
        (!ep->residual || ep->nranges < 1 || ep->nranges > WANC_EPILOGUE_MAX_RANGES || ep->residual == out ||
         ep->residual == x))
        WANC_FAIL(WANC_EINVAL, "linear: a residual epilogue needs its own residual buffer and 1..%d ranges (got %d)",
                  WANC_EPILOGUE_MAX_RANGES, ep->nranges);
    if (M == 0) return NULL;
    if (!out || !x) WANC_FAIL(WANC_EINVAL, "linear: NULL input or output");
    cpu_blas_init();

    float *bias_f32 = NULL;
    if (bias) {
        bias_f32 = malloc((size_t)N * sizeof(float));
        if (!bias_f32) WANC_FAIL(WANC_ENOMEM, "linear: out of memory for the bias");
        wanc_err e = wanc_tensor_to_f32(bias_f32, bias);
        if (e) {
            free(bias_f32);
            return e;
        }
    }
    linear_job j = {.out = out, .x = x, .w = w, .bias = bias_f32, .M = M, .N = N, .K = K, .ep = ep};
    choose_blocks(M, N, K, &j.mb, &j.nb);
    j.mblocks = (M + j.mb - 1) / j.mb;
    j.call_id = atomic_fetch_add(&linear_calls, 1) + 1;
    /* bf16 compute mode gives bf16-exact activations; a float32 x fails this
     * at once (and any block found inexact later falls back on its own) */
    j.bf16 = cpu_isa_get() >= CPU_ISA_AVX512BF16 && w->dtype == WANC_BF16 && w->scale == 0.0f &&
             cpu_bf16_exact(x, K) && cpu_bf16_exact(x + (M - 1) * K, K);
    atomic_init(&j.failed, 0);
    if (be && be->q8_int8 && w->dtype == WANC_Q8_0 && w->scale == 0.0f) {
        j.q8_kernel = cpu_int8_get();
        wanc_err e = linear_q8(&j);
        free(bias_f32);
        return e;
    }
    int64_t nblocks = (N + j.nb - 1) / j.nb;
    /* Tasks are N-block-major so a thread's consecutive tasks mostly share
     * the converted block. */
    wanc_parallel_for(nblocks * j.mblocks, 1, linear_range, &j);
    free(bias_f32);
    if (atomic_load(&j.failed))
        WANC_FAIL(WANC_ENOMEM, "linear: out of memory for a %lld x %lld weight block", (long long)j.nb,
                  (long long)K);
    return NULL;
}

wanc_err cpu_linear(const wanc_backend *be, float *out, const float *x, const wanc_tensor *w,
                    const wanc_tensor *bias, int64_t M)
{
    return cpu_linear_fused(be, out, x, w, bias, M, NULL);
}

/* ---- gemm ------------------------------------------------------------------------- */

typedef struct {
    float *out;
    const float *a, *b;
    int64_t M, N, K, lda, ldb, ldc, mb, nb, nblocks;
    int trans_a, trans_b;
    float alpha, beta;
} gemm_job;

static void gemm_range(void *ctx, int64_t begin, int64_t end)
{
    gemm_job *j = ctx;
    for (int64_t t = begin; t < end; t++) {
        int64_t mbi = t / j->nblocks, nbi = t % j->nblocks;
        int64_t m0 = mbi * j->mb, mm = j->M - m0 < j->mb ? j->M - m0 : j->mb;
        int64_t n0 = nbi * j->nb, nn = j->N - n0 < j->nb ? j->N - n0 : j->nb;
        const float *a = j->trans_a ? j->a + m0 : j->a + m0 * j->lda;
        const float *b = j->trans_b ? j->b + n0 * j->ldb : j->b + n0;
        cblas_sgemm(CblasRowMajor, j->trans_a ? CblasTrans : CblasNoTrans, j->trans_b ? CblasTrans : CblasNoTrans,
                    (int)mm, (int)nn, (int)j->K, j->alpha, a, (int)j->lda, b, (int)j->ldb, j->beta,
                    j->out + m0 * j->ldc + n0, (int)j->ldc);
    }
}

/* out[M,N] = alpha · op(a)[M,K] · op(b)[K,N] + beta · out (row-major, strided). */
wanc_err cpu_gemm(const wanc_backend *be, float *out, const float *a, const float *b, int64_t M, int64_t N,
                  int64_t K, int trans_a, int trans_b, float alpha, float beta, int64_t lda, int64_t ldb,
                  int64_t ldc)
{
    (void)be;
    if (M < 0 || N < 0 || K < 0)
        WANC_FAIL(WANC_EINVAL, "gemm: negative size M=%lld N=%lld K=%lld", (long long)M, (long long)N,
                  (long long)K);
    if (M > INT32_MAX || N > INT32_MAX || K > INT32_MAX || lda > INT32_MAX || ldb > INT32_MAX ||
        ldc > INT32_MAX)
        WANC_FAIL(WANC_EUNSUPPORTED, "gemm: sizes exceed BLAS int");
    int64_t a_cols = trans_a ? M : K, b_cols = trans_b ? K : N;
    if (lda < (a_cols > 1 ? a_cols : 1) || ldb < (b_cols > 1 ? b_cols : 1) || ldc < (N > 1 ? N : 1))
        WANC_FAIL(WANC_EINVAL, "gemm: leading dimensions lda=%lld ldb=%lld ldc=%lld too small for M=%lld N=%lld K=%lld",
                  (long long)lda, (long long)ldb, (long long)ldc, (long long)M, (long long)N, (long long)K);
    if (M == 0 || N == 0) return NULL;
    if (!out || (K > 0 && (!a || !b))) WANC_FAIL(WANC_EINVAL, "gemm: NULL operand");
    cpu_blas_init();
    gemm_job j = {.out = out, .a = a, .b = b, .M = M, .N = N, .K = K, .lda = lda, .ldb = ldb, .ldc = ldc,
                  .trans_a = trans_a, .trans_b = trans_b, .alpha = alpha, .beta = beta};
    choose_blocks(N, M, K, &j.nb, &j.mb); /* same rule, roles swapped: M-blocks of <= 512 rows */
    j.nblocks = (N + j.nb - 1) / j.nb;
    int64_t mblocks = (M + j.mb - 1) / j.mb;
    wanc_parallel_for(mblocks * j.nblocks, 1, gemm_range, &j);
    return NULL;
}
