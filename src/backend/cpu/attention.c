/* Attention (flash-style, online softmax) and RoPE.
 *
 * A task is one (head, query tile). It walks the keys in tiles of TK:
 *   S = scale · Q_tile · K_tileᵀ (sgemm) (+ bias tile; masked keys → -FLT_MAX),
 *   m' = max(m, rowmax S);  P = exp(S - m');  l = l·exp(m - m') + rowsum P;
 *   O = O·exp(m - m') + P · V_tile (sgemm);   finally O / l.
 * When q and k are all bf16 (bf16 compute) on the avx512bf16 path, S's
 * product runs on the packed vdpbf16ps kernels (the same float32 products
 * in another fixed order, then the scale). When v is all bf16 too, P · V
 * runs there as well, with P rounded to bf16 after its row sums are taken
 * in float32: what PyTorch's bf16 attention does (its CPU flash kernel and
 * flash-attn on CUDA convert P to the input dtype for the P · V product).
 * Only S (TQ × TK), O (TQ × D) and two TQ vectors live per thread: Lq × Lk
 * is never materialised. Tiles and the key order are fixed by the sizes, so
 * the bits do not depend on the thread count.
 *
 * A query row whose keys are all masked has every logit at -FLT_MAX; as in
 * torch (softmax of equal values) it gets uniform weights: the first tile
 * sets m = -FLT_MAX and exp(-FLT_MAX - -FLT_MAX) = 1 for every key. */
#include <cblas.h>
#include <float.h>
#include <math.h>
#include <stdatomic.h>

#include "backend/cpu/cpu_internal.h"
#include "backend/cpu/cpu_simd.h"
#include "core/threads.h"

#define TQ CPU_ATTN_TQ
#define TK CPU_ATTN_TK

typedef struct {
    float *out, *lse; /* lse [H, Lq] or NULL */
    const float *q, *k, *v, *bias;
    const uint8_t *mask;
    int64_t Lq, Lk, H, D, qtiles;
    float scale;
    int bf16;    /* q and k all bf16: S = Q Kᵀ on the AVX-512 BF16 kernels */
    int pv_bf16; /* and v: P (rounded to bf16) · V there too */
    atomic_int failed;
} attn_job;

/* Is q·kᵀ for the bf16 kernels (the path has them, q and k are all bf16)? */
static int qk_bf16(const float *q, const float *k, int64_t Lq, int64_t Lk, int64_t HD)
{
    return cpu_isa_get() >= CPU_ISA_AVX512BF16 && cpu_bf16_exact(q, Lq * HD) && cpu_bf16_exact(k, Lk * HD);
}

static void attention_range(void *ctx, int64_t begin, int64_t end)
{
    attn_job *j = ctx;
    const int64_t D = j->D, HD = j->H * j->D, Lk = j->Lk;
    float *buf = cpu_scratch(CPU_SCRATCH_WORK, sizeof(float) * (size_t)(TQ * TK + TQ * D + 2 * TQ));
    if (!buf) {
        atomic_store(&j->failed, 1);
        return;
    }
    float *S = buf, *O = S + TQ * TK, *m = O + TQ * D, *l = m + TQ;
    const int64_t D2 = (D + 1) / 2;
    /* packed Q tile (A panels) and K tile (B panels); P tile (A) and V tile (B) */
    uint32_t *qa = NULL, *kb = NULL, *pa = NULL, *vb = NULL;
    const int64_t Dp = (D + BF16_NR - 1) / BF16_NR * BF16_NR;
    if (j->bf16) {
        size_t words = (size_t)((TQ + BF16_MR) * D2 + (TK + BF16_NR) * D2);
        if (j->pv_bf16) words += (size_t)((TQ + BF16_MR) * (TK / 2) + Dp * (TK / 2));
        qa = cpu_scratch(CPU_SCRATCH_WORK2, sizeof(uint32_t) * words);
        if (!qa) {
            atomic_store(&j->failed, 1);
            return;
        }
        kb = qa + (TQ + BF16_MR) * D2;
        if (j->pv_bf16) {
            pa = kb + (TK + BF16_NR) * D2;
            vb = pa + (TQ + BF16_MR) * (TK / 2);
        }
    }
    for (int64_t t = begin; t < end; t++) {
        int64_t h = t / j->qtiles, q0 = (t % j->qtiles) * TQ;
        int64_t nq = j->Lq - q0 < TQ ? j->Lq - q0 : TQ;
        const float *Q = j->q + q0 * HD + h * D;
        for (int64_t i = 0; i < nq; i++) {
            m[i] = -INFINITY;
            l[i] = 0;
        }
        for (int64_t i = 0; i < nq * D; i++) O[i] = 0;
        if (qa) cpu_bf16_pack_a(qa, Q, HD, nq, 0, D, D);
        for (int64_t k0 = 0; k0 < Lk; k0 += TK) {
            int64_t nk = Lk - k0 < TK ? Lk - k0 : TK;
            if (qa) { /* the same float32 products, then the scale, as sgemm's alpha */
                cpu_bf16_pack_b_f32(kb, j->k + k0 * HD + h * D, HD, nk, D);
                cpu_bf16_gemm_block(S, TK, qa, D2 * BF16_MR, kb, BF16_NR, D2 * BF16_NR, nq, nk, D2, 0, NULL);
                for (int64_t i = 0; i < nq; i++)
                    for (int64_t c = 0; c < nk; c++) S[i * TK + c] *= j->scale;
            } else {
                cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, (int)nq, (int)nk, (int)D, j->scale, Q, (int)HD,
                            j->k + k0 * HD + h * D, (int)HD, 0.0f, S, TK);
            }
            for (int64_t i = 0; i < nq; i++) {
                float *s = S + i * TK;
                if (j->bias) {
                    const float *b = j->bias + (h * j->Lq + q0 + i) * Lk + k0;
                    for (int64_t c = 0; c < nk; c++) s[c] += b[c];
                }
                if (j->mask)
                    for (int64_t c = 0; c < nk; c++)
                        if (!j->mask[k0 + c]) s[c] = -FLT_MAX;
                float mx = cpu_max(s, nk, m[i]);
                float corr = cpu_expf_scalar(m[i] - mx); /* 0 on the first tile (m = -inf) */
                float sum = cpu_exp_sub_sum(s, nk, mx);
                l[i] = l[i] * corr + sum;
                m[i] = mx;
                if (corr != 1.0f)
                    for (int64_t d = 0; d < D; d++) O[i * D + d] *= corr;
            }
            if (pa) { /* P to bf16 (the row sums above stay float32's), then P · V on vdpbf16ps */
                const int64_t nk2 = (nk + 1) / 2;
                for (int64_t i = 0; i < nq; i++)
                    for (int64_t c = 0; c < nk; c++) S[i * TK + c] = wanc_round_bf16(S[i * TK + c]);
                cpu_bf16_pack_a(pa, S, TK, nq, 0, nk, nk);
                cpu_bf16_pack_b_f32_strided(vb, j->v + k0 * HD + h * D, 1, HD, D, nk);
                cpu_bf16_gemm_block(O, D, pa, nk2 * BF16_MR, vb, BF16_NR, nk2 * BF16_NR, nq, D, nk2, 1, NULL);
            } else {
                cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, (int)nq, (int)D, (int)nk, 1.0f, S, TK,
                            j->v + k0 * HD + h * D, (int)HD, 1.0f, O, (int)D);
            }
        }
        for (int64_t i = 0; i < nq; i++) {
            float inv = 1.0f / l[i];
            float *o = j->out + (q0 + i) * HD + h * D;
            for (int64_t d = 0; d < D; d++) o[d] = O[i * D + d] * inv;
            if (j->lse) j->lse[h * j->Lq + q0 + i] = m[i] + logf(l[i]);
        }
    }
}

/* out[Lq, H·D] = softmax(scale · q kᵀ + bias) v per head; q[Lq, H·D], k/v[Lk, H·D],
 * bias [H, Lq, Lk] or NULL, key_mask [Lk] (0 = masked) or NULL. out must not alias q/k/v. */
wanc_err cpu_attention(const wanc_backend *be, float *out, const float *q, const float *k, const float *v,
                       int64_t Lq, int64_t Lk, int64_t H, int64_t D, float scale, const float *bias,
                       const uint8_t *key_mask)
{
    (void)be;
    if (Lq < 0 || Lk < 0 || H < 0 || D < 0)
        WANC_FAIL(WANC_EINVAL, "attention: negative size Lq=%lld Lk=%lld H=%lld D=%lld", (long long)Lq,
                  (long long)Lk, (long long)H, (long long)D);
    if (Lq == 0 || H == 0 || D == 0) return NULL;
    if (Lk == 0) WANC_FAIL(WANC_EINVAL, "attention: no keys (Lk = 0)");
    if (H * D > INT32_MAX) WANC_FAIL(WANC_EUNSUPPORTED, "attention: H*D exceeds BLAS int");
    if (!out || !q || !k || !v) WANC_FAIL(WANC_EINVAL, "attention: NULL buffer");
    cpu_blas_init();
    attn_job j = {.out = out, .q = q, .k = k, .v = v, .bias = bias, .mask = key_mask, .Lq = Lq, .Lk = Lk, .H = H,
                  .D = D, .scale = scale, .qtiles = (Lq + TQ - 1) / TQ, .bf16 = qk_bf16(q, k, Lq, Lk, H * D)};
    j.pv_bf16 = j.bf16 && cpu_bf16_exact(v, Lk * H * D);
    atomic_init(&j.failed, 0);
    wanc_parallel_for(H * j.qtiles, 1, attention_range, &j);
    if (atomic_load(&j.failed)) WANC_FAIL(WANC_ENOMEM, "attention: out of memory for the tile buffers");
    return NULL;
}

/* out as cpu_attention (no bias, no mask), plus lse[H, Lq] = log Σ_k exp(scale·q·k). */
wanc_err cpu_attention_lse(const wanc_backend *be, float *out, float *lse, const float *q, const float *k,
                           const float *v, int64_t Lq, int64_t Lk, int64_t H, int64_t D, float scale)
{
    (void)be;
    if (Lq < 0 || Lk < 0 || H < 0 || D < 0)
        WANC_FAIL(WANC_EINVAL, "attention_lse: negative size Lq=%lld Lk=%lld H=%lld D=%lld", (long long)Lq,
                  (long long)Lk, (long long)H, (long long)D);
    if (Lq == 0 || H == 0 || D == 0) return NULL;
    if (Lk == 0) WANC_FAIL(WANC_EINVAL, "attention_lse: no keys (Lk = 0)");
    if (H * D > INT32_MAX) WANC_FAIL(WANC_EUNSUPPORTED, "attention_lse: H*D exceeds BLAS int");
    if (!out || !lse || !q || !k || !v) WANC_FAIL(WANC_EINVAL, "attention_lse: NULL buffer");
    cpu_blas_init();
    attn_job j = {.out = out, .lse = lse, .q = q, .k = k, .v = v, .Lq = Lq, .Lk = Lk, .H = H, .D = D,
                  .scale = scale, .qtiles = (Lq + TQ - 1) / TQ, .bf16 = qk_bf16(q, k, Lq, Lk, H * D)};
    j.pv_bf16 = j.bf16 && cpu_bf16_exact(v, Lk * H * D);
    atomic_init(&j.failed, 0);
    wanc_parallel_for(H * j.qtiles, 1, attention_range, &j);
    if (atomic_load(&j.failed)) WANC_FAIL(WANC_ENOMEM, "attention_lse: out of memory for the tile buffers");
    return NULL;
}

/* ---- attention backward ---------------------------------------------------------------
 *
 * With P = exp(scale·Q Kᵀ - lse) recomputed per tile and delta_i = Σ_d dO·O
 * per query row:
 *   dV = Pᵀ dO,   dP = dO Vᵀ,   dS = P ∘ (dP - delta),
 *   dK = scale · dSᵀ Q,   dQ = scale · dS K.
 * Two passes keep every output owned by one task (no atomics, fixed order):
 * tasks over (head, key tile) accumulate dK and dV over all query tiles;
 * tasks over (head, query tile) accumulate dQ over all key tiles. */
#define BQ 64
#define BK 128

typedef struct {
    float *dq, *dk, *dv, *delta;
    const float *dout, *q, *k, *v, *out, *lse;
    int64_t Lq, Lk, H, D, qtiles, ktiles;
    float scale;
    int accumulate;
    atomic_int failed;
} attn_bwd_job;

/* P (nq × nk, stride BK) and dS in place of dP for one tile pair. */
static void bwd_tile(const attn_bwd_job *j, int64_t h, int64_t q0, int64_t nq, int64_t k0, int64_t nk, float *P,
                     float *dS)
{
    const int64_t D = j->D, HD = j->H * j->D;
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, (int)nq, (int)nk, (int)D, j->scale, j->q + q0 * HD + h * D,
                (int)HD, j->k + k0 * HD + h * D, (int)HD, 0.0f, P, BK);
    for (int64_t i = 0; i < nq; i++) cpu_exp_sub_sum(P + i * BK, nk, j->lse[h * j->Lq + q0 + i]);
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, (int)nq, (int)nk, (int)D, 1.0f, j->dout + q0 * HD + h * D,
                (int)HD, j->v + k0 * HD + h * D, (int)HD, 0.0f, dS, BK);
    for (int64_t i = 0; i < nq; i++) {
        float dl = j->delta[h * j->Lq + q0 + i];
        for (int64_t c = 0; c < nk; c++) dS[i * BK + c] = P[i * BK + c] * (dS[i * BK + c] - dl);
    }
}

static void store_tile(float *dst, int64_t ld, const float *src, int64_t rows, int64_t D, int accumulate)
{
    for (int64_t r = 0; r < rows; r++)
        for (int64_t d = 0; d < D; d++) dst[r * ld + d] = accumulate ? dst[r * ld + d] + src[r * D + d] : src[r * D + d];
}

static void attn_bwd_kv_range(void *ctx, int64_t begin, int64_t end)
{
    attn_bwd_job *j = ctx;
    const int64_t D = j->D, HD = j->H * j->D;
    float *buf = cpu_scratch(CPU_SCRATCH_WORK, sizeof(float) * (size_t)(2 * BQ * BK + 2 * BK * D));
    if (!buf) {
        atomic_store(&j->failed, 1);
        return;
    }
    float *P = buf, *dS = P + BQ * BK, *dK = dS + BQ * BK, *dV = dK + BK * D;
    for (int64_t t = begin; t < end; t++) {
        int64_t h = t / j->ktiles, k0 = (t % j->ktiles) * BK;
        int64_t nk = j->Lk - k0 < BK ? j->Lk - k0 : BK;
        for (int64_t i = 0; i < nk * D; i++) dK[i] = dV[i] = 0;
        for (int64_t q0 = 0; q0 < j->Lq; q0 += BQ) {
            int64_t nq = j->Lq - q0 < BQ ? j->Lq - q0 : BQ;
            bwd_tile(j, h, q0, nq, k0, nk, P, dS);
            cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, (int)nk, (int)D, (int)nq, 1.0f, P, BK,
                        j->dout + q0 * HD + h * D, (int)HD, 1.0f, dV, (int)D);
            cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, (int)nk, (int)D, (int)nq, j->scale, dS, BK,
                        j->q + q0 * HD + h * D, (int)HD, 1.0f, dK, (int)D);
        }
        if (j->dk) store_tile(j->dk + k0 * HD + h * D, HD, dK, nk, D, j->accumulate);
        if (j->dv) store_tile(j->dv + k0 * HD + h * D, HD, dV, nk, D, j->accumulate);
    }
}

static void attn_bwd_q_range(void *ctx, int64_t begin, int64_t end)
{
    attn_bwd_job *j = ctx;
    const int64_t D = j->D, HD = j->H * j->D;
    float *buf = cpu_scratch(CPU_SCRATCH_WORK, sizeof(float) * (size_t)(2 * BQ * BK + BQ * D));
    if (!buf) {
        atomic_store(&j->failed, 1);
        return;
    }
    float *P = buf, *dS = P + BQ * BK, *dQ = dS + BQ * BK;
    for (int64_t t = begin; t < end; t++) {
        int64_t h = t / j->qtiles, q0 = (t % j->qtiles) * BQ;
        int64_t nq = j->Lq - q0 < BQ ? j->Lq - q0 : BQ;
        for (int64_t i = 0; i < nq * D; i++) dQ[i] = 0;
        for (int64_t k0 = 0; k0 < j->Lk; k0 += BK) {
            int64_t nk = j->Lk - k0 < BK ? j->Lk - k0 : BK;
            bwd_tile(j, h, q0, nq, k0, nk, P, dS);
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, (int)nq, (int)D, (int)nk, j->scale, dS, BK,
                        j->k + k0 * HD + h * D, (int)HD, 1.0f, dQ, (int)D);
        }
        store_tile(j->dq + q0 * HD + h * D, HD, dQ, nq, D, j->accumulate);
    }
}

/* delta[h, i] = Σ_d dout·out over query rows (float64 sum, fixed order). */
static void attn_delta_range(void *ctx, int64_t begin, int64_t end)
{
    attn_bwd_job *j = ctx;
    const int64_t D = j->D, HD = j->H * j->D;
    for (int64_t t = begin; t < end; t++) {
        int64_t h = t / j->Lq, i = t % j->Lq;
        double s = 0;
        for (int64_t d = 0; d < D; d++) s += (double)j->dout[i * HD + h * D + d] * j->out[i * HD + h * D + d];
        j->delta[t] = (float)s;
    }
}

wanc_err cpu_attention_backward(const wanc_backend *be, float *dq, float *dk, float *dv, const float *dout,
                                const float *q, const float *k, const float *v, const float *out, const float *lse,
                                int64_t Lq, int64_t Lk, int64_t H, int64_t D, float scale, int accumulate)
{
    (void)be;
    if (Lq < 0 || Lk < 0 || H < 0 || D < 0)
        WANC_FAIL(WANC_EINVAL, "attention_backward: negative size Lq=%lld Lk=%lld H=%lld D=%lld", (long long)Lq,
                  (long long)Lk, (long long)H, (long long)D);
    if (Lq == 0 || Lk == 0 || H == 0 || D == 0) return NULL;
    if (H * D > INT32_MAX) WANC_FAIL(WANC_EUNSUPPORTED, "attention_backward: H*D exceeds BLAS int");
    if (!dout || !q || !k || !v || !out || !lse) WANC_FAIL(WANC_EINVAL, "attention_backward: NULL input");
    cpu_blas_init();
    float *delta = malloc((size_t)(H * Lq) * sizeof(float));
    if (!delta) WANC_FAIL(WANC_ENOMEM, "attention_backward: out of memory for %lld row sums", (long long)(H * Lq));
    attn_bwd_job j = {.dq = dq, .dk = dk, .dv = dv, .dout = dout, .q = q, .k = k, .v = v, .out = out, .lse = lse,
                      .delta = delta, .Lq = Lq, .Lk = Lk, .H = H, .D = D, .scale = scale, .accumulate = accumulate,
                      .qtiles = (Lq + BQ - 1) / BQ, .ktiles = (Lk + BK - 1) / BK};
    atomic_init(&j.failed, 0);
    wanc_parallel_for(H * Lq, 1024, attn_delta_range, &j);
    if (dk || dv) wanc_parallel_for(H * j.ktiles, 1, attn_bwd_kv_range, &j);
    if (dq) wanc_parallel_for(H * j.qtiles, 1, attn_bwd_q_range, &j);
    free(delta);
    if (atomic_load(&j.failed)) WANC_FAIL(WANC_ENOMEM, "attention_backward: out of memory for the tile buffers");
    return NULL;
}

/* ---- RoPE ----------------------------------------------------------------------- */

typedef struct {
    float *x;
    const double *cs;
    int64_t H, D;
    double sign; /* +1: rotate by θ (forward); -1: by -θ, the transpose (backward) */
} rope_job;

static void rope_range(void *ctx, int64_t begin, int64_t end)
{
    rope_job *j = ctx;
    int64_t half = j->D / 2;
    for (int64_t l = begin; l < end; l++) {
        const double *cs = j->cs + l * half * 2;
        for (int64_t h = 0; h < j->H; h++) {
            float *x = j->x + (l * j->H + h) * j->D;
            for (int64_t i = 0; i < half; i++) {
                /* (a + ib)(c + is) in double, as torch's complex128 multiply */
                double a = x[2 * i], b = x[2 * i + 1], c = cs[2 * i], s = j->sign * cs[2 * i + 1];
                x[2 * i] = (float)(a * c - b * s);
                x[2 * i + 1] = (float)(a * s + b * c);
            }
        }
    }
}

static wanc_err rope_run(const char *op, float *x, const double *cos_sin, int64_t L, int64_t H, int64_t D,
                         double sign)
{
    if (L < 0 || H < 0 || D < 0 || D % 2)
        WANC_FAIL(WANC_EINVAL, "%s: bad sizes L=%lld H=%lld D=%lld (D must be even)", op, (long long)L, (long long)H,
                  (long long)D);
    if (L == 0 || H == 0 || D == 0) return NULL;
    if (!x || !cos_sin) WANC_FAIL(WANC_EINVAL, "%s: NULL buffer", op);
    rope_job j = {.x = x, .cs = cos_sin, .H = H, .D = D, .sign = sign};
    int64_t per = 16384 / (H * D) > 0 ? 16384 / (H * D) : 1;
    wanc_parallel_for(L, per, rope_range, &j);
    return NULL;
}

/* x[L, H·D] in place; cos_sin[L, D/2, 2] float64 (cos, sin); D even. */
wanc_err cpu_rope(const wanc_backend *be, float *x, const double *cos_sin, int64_t L, int64_t H, int64_t D)
{
    (void)be;
    return rope_run("rope", x, cos_sin, L, H, D, 1.0);
}

/* dx[L, H·D] in place: the gradient through the rotation is the rotation by -θ. */
wanc_err cpu_rope_backward(const wanc_backend *be, float *dx, const double *cos_sin, int64_t L, int64_t H, int64_t D)
{
    (void)be;
    return rope_run("rope_backward", dx, cos_sin, L, H, D, -1.0);
}
