/* Attention (flash-style, online softmax) and RoPE.
 *
 * A task is one (head, query tile). It walks the keys in tiles of TK:
 *   S = scale · Q_tile · K_tileᵀ (sgemm) (+ bias tile; masked keys → -FLT_MAX),
 *   m' = max(m, rowmax S);  P = exp(S - m');  l = l·exp(m - m') + rowsum P;
 *   O = O·exp(m - m') + P · V_tile (sgemm);   finally O / l.
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

#define TQ 128
#define TK 256

typedef struct {
    float *out;
    const float *q, *k, *v, *bias;
    const uint8_t *mask;
    int64_t Lq, Lk, H, D, qtiles;
    float scale;
    atomic_int failed;
} attn_job;

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
    for (int64_t t = begin; t < end; t++) {
        int64_t h = t / j->qtiles, q0 = (t % j->qtiles) * TQ;
        int64_t nq = j->Lq - q0 < TQ ? j->Lq - q0 : TQ;
        const float *Q = j->q + q0 * HD + h * D;
        for (int64_t i = 0; i < nq; i++) {
            m[i] = -INFINITY;
            l[i] = 0;
        }
        for (int64_t i = 0; i < nq * D; i++) O[i] = 0;
        for (int64_t k0 = 0; k0 < Lk; k0 += TK) {
            int64_t nk = Lk - k0 < TK ? Lk - k0 : TK;
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, (int)nq, (int)nk, (int)D, j->scale, Q, (int)HD,
                        j->k + k0 * HD + h * D, (int)HD, 0.0f, S, TK);
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
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, (int)nq, (int)D, (int)nk, 1.0f, S, TK,
                        j->v + k0 * HD + h * D, (int)HD, 1.0f, O, (int)D);
        }
        for (int64_t i = 0; i < nq; i++) {
            float inv = 1.0f / l[i];
            float *o = j->out + (q0 + i) * HD + h * D;
            for (int64_t d = 0; d < D; d++) o[d] = O[i * D + d] * inv;
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
                  .D = D, .scale = scale, .qtiles = (Lq + TQ - 1) / TQ};
    atomic_init(&j.failed, 0);
    wanc_parallel_for(H * j.qtiles, 1, attention_range, &j);
    if (atomic_load(&j.failed)) WANC_FAIL(WANC_ENOMEM, "attention: out of memory for the tile buffers");
    return NULL;
}

/* ---- RoPE ----------------------------------------------------------------------- */

typedef struct {
    float *x;
    const double *cs;
    int64_t H, D;
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
                double a = x[2 * i], b = x[2 * i + 1], c = cs[2 * i], s = cs[2 * i + 1];
                x[2 * i] = (float)(a * c - b * s);
                x[2 * i + 1] = (float)(a * s + b * c);
            }
        }
    }
}

/* x[L, H·D] in place; cos_sin[L, D/2, 2] float64 (cos, sin); D even. */
wanc_err cpu_rope(const wanc_backend *be, float *x, const double *cos_sin, int64_t L, int64_t H, int64_t D)
{
    (void)be;
    if (L < 0 || H < 0 || D < 0 || D % 2)
        WANC_FAIL(WANC_EINVAL, "rope: bad sizes L=%lld H=%lld D=%lld (D must be even)", (long long)L, (long long)H,
                  (long long)D);
    if (L == 0 || H == 0 || D == 0) return NULL;
    if (!x || !cos_sin) WANC_FAIL(WANC_EINVAL, "rope: NULL buffer");
    rope_job j = {.x = x, .cs = cos_sin, .H = H, .D = D};
    int64_t per = 16384 / (H * D) > 0 ? 16384 / (H * D) : 1;
    wanc_parallel_for(L, per, rope_range, &j);
    return NULL;
}
