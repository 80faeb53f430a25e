/* Backward ops of the backend against central finite differences.
 *
 * Each test draws random float32 inputs (odd sizes), takes a random
 * projection r of the op's output as the loss L = Σ r·y (summed in float64
 * over the op's own float32 forward), and compares the backward op's
 * gradients (fed dy = r) with (L(x + h) - L(x - h)) / (2h) per input
 * element, h applied to the float32 input and the difference divided by the
 * step actually taken. Last, every backward op runs at 1 and 2 threads on
 * sizes that split into several tasks and must give the same bits. */
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "backend/backend.h"
#include "core/tensor.h"
#include "core/threads.h"
#include "test.h"

static uint64_t rng_state = 0x9E3779B97F4A7C15ull;
static double urand(void) /* [-1, 1) */
{
    rng_state = rng_state * 6364136223846793005ull + 1442695040888963407ull;
    return (double)(rng_state >> 11) / 4503599627370496.0 - 1.0;
}
static float *rnd(int64_t n, double scale)
{
    float *p = malloc((size_t)(n > 0 ? n : 1) * sizeof(float));
    for (int64_t i = 0; i < n; i++) p[i] = (float)(urand() * scale);
    return p;
}
static float *zeros(int64_t n) { return calloc((size_t)(n > 0 ? n : 1), sizeof(float)); }

/* The loss of one forward evaluation. */
typedef double (*loss_fn)(void *ctx);

static double dot(const float *y, const float *r, int64_t n)
{
    double s = 0;
    for (int64_t i = 0; i < n; i++) s += (double)y[i] * r[i];
    return s;
}

/* Compare analytic grad g[n] with central differences of `loss` with respect
 * to x[n] (every `stride`-th element). Passes when max|g - fd| <= tol·max(max|fd|, 1e-3). */
static int fd_check(const char *what, loss_fn loss, void *ctx, float *x, const float *g, int64_t n, int64_t stride,
                    double h, double tol)
{
    double worst = 0, peak = 0;
    for (int64_t i = 0; i < n; i += stride) {
        float x0 = x[i];
        float xp = (float)(x0 + h), xm = (float)(x0 - h);
        x[i] = xp;
        double lp = loss(ctx);
        x[i] = xm;
        double lm = loss(ctx);
        x[i] = x0;
        double fd = (lp - lm) / ((double)xp - (double)xm);
        double d = fabs(fd - g[i]);
        if (d > worst) worst = d;
        if (fabs(fd) > peak) peak = fabs(fd);
    }
    double lim = tol * (peak > 1e-3 ? peak : 1e-3);
    if (!(worst <= lim)) fprintf(stderr, "  %s: max|grad - fd| = %.3g > %.3g (peak %.3g)\n", what, worst, lim, peak);
    return worst <= lim;
}

#define FD_TOL 2e-3
#define FD_H 1e-2

/* ---- linear ---------------------------------------------------------------------- */

typedef struct {
    const wanc_backend *be;
    float *x, *y, *r, *bias_data;
    wanc_tensor w, b;
    int64_t M, N, K;
} lin_ctx;

static double lin_loss(void *p)
{
    lin_ctx *c = p;
    wanc_err e = c->be->linear(c->be, c->y, c->x, &c->w, &c->b, c->M);
    if (e) wanc_error_free(e);
    return dot(c->y, c->r, c->M * c->N);
}

TEST(backward_linear_fd)
{
    const wanc_backend *be = wanc_backend_cpu();
    enum { M = 7, N = 11, K = 13 };
    lin_ctx c = {.be = be, .M = M, .N = N, .K = K};
    c.x = rnd(M * K, 1);
    c.y = zeros(M * N);
    c.r = rnd(M * N, 1);
    float *wd = rnd(N * K, 0.5), *bd = rnd(N, 0.5);
    c.w = wanc_tensor_wrap(wd, WANC_F32, 2, (int64_t[]){N, K});
    c.b = wanc_tensor_wrap(bd, WANC_F32, 1, (int64_t[]){N});
    float *dx = zeros(M * K), *dw = zeros(N * K), *db = zeros(N);
    CHECK_OK(be->linear_backward(be, dx, dw, db, c.r, c.x, &c.w, M, 0));
    CHECK(fd_check("linear dx", lin_loss, &c, c.x, dx, M * K, 1, FD_H, FD_TOL));
    CHECK(fd_check("linear dw", lin_loss, &c, wd, dw, N * K, 1, FD_H, FD_TOL));
    CHECK(fd_check("linear db", lin_loss, &c, bd, db, N, 1, FD_H, FD_TOL));

    /* accumulate adds; NULL outputs are skipped (a frozen weight) */
    float *dx2 = zeros(M * K), *dw2 = zeros(N * K);
    memcpy(dx2, dx, sizeof(float) * M * K);
    CHECK_OK(be->linear_backward(be, dx2, NULL, NULL, c.r, c.x, &c.w, M, 1));
    for (int i = 0; i < M * K; i++) CHECK(dx2[i] == dx[i] + dx[i]);
    CHECK_OK(be->linear_backward(be, NULL, dw2, NULL, c.r, c.x, &c.w, M, 0));
    CHECK(!memcmp(dw2, dw, sizeof(float) * N * K));

    /* a bf16 weight is read as stored: dx equals the f32 path on the same values */
    uint16_t *wb = malloc(sizeof(uint16_t) * N * K);
    float *wr = zeros(N * K);
    for (int i = 0; i < N * K; i++) {
        wb[i] = wanc_f32_to_bf16(wd[i]);
        wr[i] = wanc_bf16_to_f32(wb[i]);
    }
    wanc_tensor tb = wanc_tensor_wrap(wb, WANC_BF16, 2, (int64_t[]){N, K});
    wanc_tensor tr = wanc_tensor_wrap(wr, WANC_F32, 2, (int64_t[]){N, K});
    float *dxb = zeros(M * K), *dxr = zeros(M * K);
    CHECK_OK(be->linear_backward(be, dxb, NULL, NULL, c.r, c.x, &tb, M, 0));
    CHECK_OK(be->linear_backward(be, dxr, NULL, NULL, c.r, c.x, &tr, M, 0));
    for (int i = 0; i < M * K; i++) CHECK_NEAR(dxb[i], dxr[i], 1e-5);
    CHECK_ERR(be->linear_backward(be, dx, NULL, NULL, c.r, c.x, &(wanc_tensor){0}, M, 0), WANC_EINVAL, "weight");

    free(c.x), free(c.y), free(c.r), free(wd), free(bd), free(dx), free(dw), free(db), free(dx2), free(dw2);
    free(wb), free(wr), free(dxb), free(dxr);
}

/* ---- norms ------------------------------------------------------------------------ */

typedef struct {
    const wanc_backend *be;
    float *x, *y, *r, *w, *b;
    int64_t rows, dim;
    int rms;
} norm_ctx;

static double norm_loss(void *p)
{
    norm_ctx *c = p;
    wanc_err e = c->rms ? c->be->rms_norm(c->be, c->y, c->x, c->w, c->rows, c->dim, 1e-6f)
                        : c->be->layer_norm(c->be, c->y, c->x, c->w, c->b, c->rows, c->dim, 1e-6f);
    if (e) wanc_error_free(e);
    return dot(c->y, c->r, c->rows * c->dim);
}

TEST(backward_norms_fd)
{
    const wanc_backend *be = wanc_backend_cpu();
    enum { R = 5, D = 19 };
    for (int variant = 0; variant < 4; variant++) {
        /* 0: LayerNorm affine, 1: LayerNorm plain, 2: RMSNorm with weight, 3: RMSNorm plain */
        int rms = variant >= 2, affine = variant % 2 == 0;
        norm_ctx c = {.be = be, .rows = R, .dim = D, .rms = rms};
        c.x = rnd(R * D, 2);
        for (int i = 0; i < R * D; i++) c.x[i] += 0.5f; /* a mean away from 0 */
        c.y = zeros(R * D);
        c.r = rnd(R * D, 1);
        c.w = affine ? rnd(D, 1) : NULL;
        c.b = affine && !rms ? rnd(D, 1) : NULL;
        float *dx = zeros(R * D), *dw = affine ? zeros(D) : NULL, *db = c.b ? zeros(D) : NULL;
        if (rms) CHECK_OK(be->rms_norm_backward(be, dx, dw, c.r, c.x, c.w, R, D, 1e-6f, 0));
        else CHECK_OK(be->layer_norm_backward(be, dx, dw, db, c.r, c.x, c.w, R, D, 1e-6f, 0));
        CHECK(fd_check(rms ? "rms_norm dx" : "layer_norm dx", norm_loss, &c, c.x, dx, R * D, 1, 1e-2, FD_TOL));
        if (dw) CHECK(fd_check("norm dweight", norm_loss, &c, c.w, dw, D, 1, FD_H, FD_TOL));
        if (db) CHECK(fd_check("norm dbias", norm_loss, &c, c.b, db, D, 1, FD_H, FD_TOL));
        free(c.x), free(c.y), free(c.r), free(c.w), free(c.b), free(dx), free(dw), free(db);
    }
    float v = 0;
    CHECK_ERR(be->layer_norm_backward(be, &v, &v, NULL, &v, &v, NULL, 1, 1, 1e-6f, 0), WANC_EINVAL, "affine");
}

/* ---- modulate / mul_rows ------------------------------------------------------------ */

typedef struct {
    const wanc_backend *be;
    float *x, *y, *r, *shift, *scale;
    int64_t rows, dim;
    int gate;
} mod_ctx;

static double mod_loss(void *p)
{
    mod_ctx *c = p;
    wanc_err e = c->gate ? c->be->mul_rows(c->be, c->y, c->x, c->scale, c->rows, c->dim)
                         : c->be->modulate(c->be, c->y, c->x, c->shift, c->scale, c->rows, c->dim);
    if (e) wanc_error_free(e);
    return dot(c->y, c->r, c->rows * c->dim);
}

TEST(backward_modulate_and_gate_fd)
{
    const wanc_backend *be = wanc_backend_cpu();
    enum { R = 9, D = 15 };
    for (int gate = 0; gate < 2; gate++) {
        mod_ctx c = {.be = be, .rows = R, .dim = D, .gate = gate};
        c.x = rnd(R * D, 1);
        c.y = zeros(R * D);
        c.r = rnd(R * D, 1);
        c.shift = rnd(D, 1);
        c.scale = rnd(D, 1);
        float *dx = zeros(R * D), *dsh = zeros(D), *dsc = zeros(D);
        if (gate) CHECK_OK(be->mul_rows_backward(be, dx, dsc, c.r, c.x, c.scale, R, D, 0));
        else CHECK_OK(be->modulate_backward(be, dx, dsh, dsc, c.r, c.x, c.scale, R, D, 0));
        CHECK(fd_check("modulate/gate dx", mod_loss, &c, c.x, dx, R * D, 1, FD_H, FD_TOL));
        CHECK(fd_check("modulate dscale / gate dw", mod_loss, &c, c.scale, dsc, D, 1, FD_H, FD_TOL));
        if (!gate) CHECK(fd_check("modulate dshift", mod_loss, &c, c.shift, dsh, D, 1, FD_H, FD_TOL));
        free(c.x), free(c.y), free(c.r), free(c.shift), free(c.scale), free(dx), free(dsh), free(dsc);
    }
}

/* ---- activations ----------------------------------------------------------------------- */

typedef struct {
    const wanc_backend *be;
    float *x, *y, *r;
    int64_t n;
    int silu; /* 0 gelu_tanh, 1 silu, 2 gelu_erf */
} act_ctx;

static double act_loss(void *p)
{
    act_ctx *c = p;
    wanc_err e = c->silu == 1 ? c->be->silu(c->be, c->y, c->x, c->n)
               : c->silu == 2 ? c->be->gelu_erf(c->be, c->y, c->x, c->n)
                              : c->be->gelu_tanh(c->be, c->y, c->x, c->n);
    if (e) wanc_error_free(e);
    return dot(c->y, c->r, c->n);
}

TEST(backward_gelu_silu_gelu_erf_fd)
{
    const wanc_backend *be = wanc_backend_cpu();
    enum { N = 101 };
    for (int silu = 0; silu < 3; silu++) {
        act_ctx c = {.be = be, .n = N, .silu = silu};
        c.x = rnd(N, 4);
        c.y = zeros(N);
        c.r = rnd(N, 1);
        float *dx = zeros(N);
        if (silu == 1) CHECK_OK(be->silu_backward(be, dx, c.r, c.x, N, 0));
        else if (silu == 2) CHECK_OK(be->gelu_erf_backward(be, dx, c.r, c.x, N, 0));
        else CHECK_OK(be->gelu_tanh_backward(be, dx, c.r, c.x, N, 0));
        static const char *const what[3] = {"gelu_tanh dx", "silu dx", "gelu_erf dx"};
        CHECK(fd_check(what[silu], act_loss, &c, c.x, dx, N, 1, 1e-2, FD_TOL));
        free(c.x), free(c.y), free(c.r), free(dx);
    }
}

/* ---- RoPE ---------------------------------------------------------------------------- */

typedef struct {
    const wanc_backend *be;
    float *x, *y, *r;
    double *cs;
    int64_t L, H, D;
} rope_ctx;

static double rope_loss(void *p)
{
    rope_ctx *c = p;
    memcpy(c->y, c->x, sizeof(float) * (size_t)(c->L * c->H * c->D));
    wanc_err e = c->be->rope(c->be, c->y, c->cs, c->L, c->H, c->D);
    if (e) wanc_error_free(e);
    return dot(c->y, c->r, c->L * c->H * c->D);
}

TEST(backward_rope_fd)
{
    const wanc_backend *be = wanc_backend_cpu();
    enum { L = 7, H = 3, D = 10 };
    rope_ctx c = {.be = be, .L = L, .H = H, .D = D};
    c.x = rnd(L * H * D, 1);
    c.y = zeros(L * H * D);
    c.r = rnd(L * H * D, 1);
    c.cs = malloc(sizeof(double) * L * D);
    for (int i = 0; i < L * D / 2; i++) {
        double a = urand() * 3.14159;
        c.cs[2 * i] = cos(a);
        c.cs[2 * i + 1] = sin(a);
    }
    float *dx = malloc(sizeof(float) * L * H * D);
    memcpy(dx, c.r, sizeof(float) * L * H * D);
    CHECK_OK(be->rope_backward(be, dx, c.cs, L, H, D));
    CHECK(fd_check("rope dx", rope_loss, &c, c.x, dx, L * H * D, 1, FD_H, FD_TOL));
    CHECK_ERR(be->rope_backward(be, dx, c.cs, L, H, 9), WANC_EINVAL, "even");
    free(c.x), free(c.y), free(c.r), free(c.cs), free(dx);
}

/* ---- attention ---------------------------------------------------------------------------- */

typedef struct {
    const wanc_backend *be;
    float *q, *k, *v, *o, *r;
    int64_t Lq, Lk, H, D;
    float scale;
} attn_ctx;

static double attn_loss(void *p)
{
    attn_ctx *c = p;
    wanc_err e = c->be->attention(c->be, c->o, c->q, c->k, c->v, c->Lq, c->Lk, c->H, c->D, c->scale, NULL, NULL);
    if (e) wanc_error_free(e);
    return dot(c->o, c->r, c->Lq * c->H * c->D);
}

TEST(backward_attention_fd)
{
    const wanc_backend *be = wanc_backend_cpu();
    /* more queries than one 64-row tile and keys than one 128-key tile */
    enum { LQ = 71, LK = 133, H = 2, D = 6 };
    attn_ctx c = {.be = be, .Lq = LQ, .Lk = LK, .H = H, .D = D, .scale = 1.0f / sqrtf((float)D)};
    c.q = rnd(LQ * H * D, 1.5);
    c.k = rnd(LK * H * D, 1.5);
    c.v = rnd(LK * H * D, 1);
    c.o = zeros(LQ * H * D);
    c.r = rnd(LQ * H * D, 1);
    float *o2 = zeros(LQ * H * D), *lse = zeros(H * LQ);
    CHECK_OK(be->attention_lse(be, o2, lse, c.q, c.k, c.v, LQ, LK, H, D, c.scale));
    attn_loss(&c);
    CHECK(!memcmp(o2, c.o, sizeof(float) * LQ * H * D)); /* same bits as attention */
    /* lse against a direct float64 log-sum-exp */
    double worst = 0;
    for (int h = 0; h < H; h++)
        for (int i = 0; i < LQ; i++) {
            double mx = -INFINITY, s = 0, lg[LK];
            for (int j = 0; j < LK; j++) {
                double d = 0;
                for (int e = 0; e < D; e++) d += (double)c.q[(i * H + h) * D + e] * c.k[(j * H + h) * D + e];
                lg[j] = d * c.scale;
                if (lg[j] > mx) mx = lg[j];
            }
            for (int j = 0; j < LK; j++) s += exp(lg[j] - mx);
            worst = fmax(worst, fabs(mx + log(s) - lse[h * LQ + i]));
        }
    CHECK(worst < 1e-5);
    float *dq = zeros(LQ * H * D), *dk = zeros(LK * H * D), *dv = zeros(LK * H * D);
    CHECK_OK(be->attention_backward(be, dq, dk, dv, c.r, c.q, c.k, c.v, o2, lse, LQ, LK, H, D, c.scale, 0));
    CHECK(fd_check("attention dq", attn_loss, &c, c.q, dq, LQ * H * D, 3, FD_H, FD_TOL));
    CHECK(fd_check("attention dk", attn_loss, &c, c.k, dk, LK * H * D, 3, FD_H, FD_TOL));
    CHECK(fd_check("attention dv", attn_loss, &c, c.v, dv, LK * H * D, 3, FD_H, FD_TOL));
    /* accumulate: a second call adds the same gradients */
    float *dq2 = malloc(sizeof(float) * LQ * H * D);
    memcpy(dq2, dq, sizeof(float) * LQ * H * D);
    CHECK_OK(be->attention_backward(be, dq2, NULL, NULL, c.r, c.q, c.k, c.v, o2, lse, LQ, LK, H, D, c.scale, 1));
    for (int i = 0; i < LQ * H * D; i++) CHECK(dq2[i] == dq[i] + dq[i]);
    free(c.q), free(c.k), free(c.v), free(c.o), free(c.r), free(o2), free(lse), free(dq), free(dk), free(dv);
    free(dq2);
}

/* ---- thread-count independence ------------------------------------------------------------- */

enum { TR = 3001, TD = 40, TN = 24, TLQ = 150, TLK = 300, TH = 2, THD = 8, NOUT = 17 };

static void run_backward_ops(int *test_failed_, float **out)
{
    const wanc_backend *be = wanc_backend_cpu();
    rng_state = 12345;
    float *x = rnd(TR * TD, 1), *dy = rnd(TR * TD, 1), *w = rnd(TD, 1), *b = rnd(TD, 1);
    float *wl = rnd(TN * TD, 1), *dyl = rnd(TR * TN, 1);
    wanc_tensor wt = wanc_tensor_wrap(wl, WANC_F32, 2, (int64_t[]){TN, TD});
    int64_t sz[NOUT] = {TR * TD, TN * TD, TN, TR * TD, TD, TD, TR * TD, TD, TD, TR * TD, TR * TD, TR * TD,
                        TLQ * TH * THD, TLK * TH * THD, TLK * TH * THD, TR * TD, TR * TD};
    for (int i = 0; i < NOUT; i++) out[i] = zeros(sz[i]);
    CHECK_OK(be->linear_backward(be, out[0], out[1], out[2], dyl, x, &wt, TR, 0));
    CHECK_OK(be->layer_norm_backward(be, out[3], out[4], out[5], dy, x, w, b ? TR : TR, TD, 1e-6f, 0));
    CHECK_OK(be->modulate_backward(be, out[6], out[7], out[8], dy, x, w, TR, TD, 0));
    CHECK_OK(be->gelu_tanh_backward(be, out[9], dy, x, TR * TD, 0));
    CHECK_OK(be->silu_backward(be, out[10], dy, x, TR * TD, 0));
    CHECK_OK(be->gelu_erf_backward(be, out[16], dy, x, TR * TD, 0));
    CHECK_OK(be->rms_norm_backward(be, out[11], NULL, dy, x, w, TR, TD, 1e-6f, 0));
    float *q = rnd(TLQ * TH * THD, 1), *k = rnd(TLK * TH * THD, 1), *v = rnd(TLK * TH * THD, 1);
    float *o = zeros(TLQ * TH * THD), *lse = zeros(TH * TLQ), *dout = rnd(TLQ * TH * THD, 1);
    CHECK_OK(be->attention_lse(be, o, lse, q, k, v, TLQ, TLK, TH, THD, 0.3f));
    CHECK_OK(be->attention_backward(be, out[12], out[13], out[14], dout, q, k, v, o, lse, TLQ, TLK, TH, THD, 0.3f, 0));
    CHECK_OK(be->mul_rows_backward(be, out[15], out[4], dy, x, w, TR, TD, 1));
    free(x), free(dy), free(w), free(b), free(wl), free(dyl), free(q), free(k), free(v), free(o), free(lse), free(dout);
}

TEST(backward_ops_bit_identical_at_1_and_2_threads)
{
    float *r1[NOUT], *r2[NOUT];
    int64_t sz[NOUT] = {TR * TD, TN * TD, TN, TR * TD, TD, TD, TR * TD, TD, TD, TR * TD, TR * TD, TR * TD,
                        TLQ * TH * THD, TLK * TH * THD, TLK * TH * THD, TR * TD, TR * TD};
    int saved = wanc_threads_get();
    wanc_threads_set(1);
    run_backward_ops(test_failed_, r1);
    wanc_threads_set(2);
    run_backward_ops(test_failed_, r2);
    wanc_threads_set(saved);
    for (int i = 0; i < NOUT; i++) {
        int same = !memcmp(r1[i], r2[i], (size_t)sz[i] * sizeof(float));
        if (!same) fprintf(stderr, "  backward output %d differs between 1 and 2 threads\n", i);
        CHECK(same);
        free(r1[i]);
        free(r2[i]);
    }
}

TEST(backward_cpu_table_complete)
{
    CHECK_OK(wanc_backend_check_training(wanc_backend_cpu()));
    wanc_backend partial = *wanc_backend_cpu();
    partial.attention_backward = NULL;
    CHECK_ERR(wanc_backend_check_training(&partial), WANC_EUNSUPPORTED, "attention_backward");
    CHECK_OK(wanc_backend_check_complete(&partial)); /* inference still complete */
}

/* ---- the DiT's training backward: same bits at 1 and 2 threads ----------------------------------- */

#include <unistd.h>

#include "dit/dit_random.h"
#include "dit/dit_train.h"
#include "train/full_params.h"

/* A random DiT file of cfg in a new temporary folder dir: false (and a
 * failed check) when it cannot be made. */
static bool random_dit(int *test_failed_, char *dir, size_t dcap, char *path, size_t pcap, const char *tag,
                       const wanc_dit_config *cfg, wanc_dtype dt, uint64_t seed)
{
    if (!test_make_tmpdir(dir, dcap, tag)) {
        CHECK(0);
        return false;
    }
    snprintf(path, pcap, "%s/dit.safetensors", dir);
    CHECK_OK(wanc_dit_random_write(path, cfg, dt, seed));
    return true;
}

/* A random DiT big enough that the ops split into several tasks; image:
 * an FLF2V one (y after 4 latent channels, 19 CLIP tokens through img_emb
 * with emb_pos, the image keys/values in every block). */
static void dit_threads_case(int *test_failed_, bool image)
{
    wanc_dit_config cfg = {.dim = 96, .in_dim = 16, .out_dim = 16, .ffn_dim = 192, .text_dim = 32, .freq_dim = 32,
                           .num_heads = 4, .num_layers = 2, .patch = {1, 2, 2}, .eps = 1e-6f,
                           .has_image_input = image, .has_image_pos_emb = image};
    char dir[512], path[600];
    /* bf16 weights: read as stored */
    if (!random_dit(test_failed_, dir, sizeof dir, path, sizeof path, "dit-train", &cfg, WANC_BF16, 11)) return;
    wanc_dit *dit = NULL;
    CHECK_OK(wanc_dit_open(&dit, wanc_backend_cpu(), path, &(wanc_dit_options){.num_heads = 4}));
    enum { C = 16, F = 3, H = 16, W = 10, L = 11, N = C * F * H * W, YC = 12, LI = 19, CLIP = LI * 1280 };
    const int64_t lat_c = image ? C - YC : C, NX = lat_c * F * H * W;
    rng_state = 99;
    float *x = rnd(N, 1), *ctx = rnd(L * 32, 1), *dpred = rnd(N, 1), *clip = rnd(CLIP, 1);
    float *pred[2] = {zeros(N), zeros(N)}, *dx[2] = {zeros(N), zeros(N)}, *dctx[2] = {zeros(L * 32), zeros(L * 32)};
    float *dclip[2] = {zeros(CLIP), zeros(CLIP)};
    const char *names[2] = {"blocks.1.ffn.0.weight", "blocks.0.cross_attn.k_img.weight"};
    float *g[2][2] = {{NULL, NULL}, {NULL, NULL}};
    int64_t gn[2] = {0, 0};
    int saved = wanc_threads_get();
    for (int k = 0; dit && k < 2; k++) {
        wanc_threads_set(k + 1);
        wanc_dit_trainer *tr = NULL;
        CHECK_OK(wanc_dit_trainer_new(&tr, dit, true));
        if (!tr) break;
        wanc_dit_train_inputs in = {.latents = x, .F = F, .H = H, .W = W, .timestep = 700.0f, .context = ctx,
                                    .ctx_len = L, .zero_first_frame = !image};
        if (image) in.y = x + NX, in.y_c = YC, in.clip = clip, in.clip_len = LI;
        CHECK_OK(wanc_dit_trainer_forward(tr, &in, pred[k]));
        CHECK_OK(wanc_dit_trainer_backward_clip(tr, dpred, dx[k], dctx[k], image ? dclip[k] : NULL));
        for (int j = 0; j < (image ? 2 : 1); j++) {
            float *gw = wanc_dit_trainer_grad(tr, names[j], &gn[j]);
            if (gw) {
                g[j][k] = malloc((size_t)gn[j] * sizeof(float));
                memcpy(g[j][k], gw, (size_t)gn[j] * sizeof(float));
            }
        }
        wanc_dit_trainer_free(tr);
    }
    wanc_threads_set(saved);
    CHECK(!memcmp(pred[0], pred[1], N * sizeof(float)));
    CHECK(!memcmp(dx[0], dx[1], (size_t)NX * sizeof(float)));
    CHECK(!memcmp(dctx[0], dctx[1], L * 32 * sizeof(float)));
    CHECK(!memcmp(dclip[0], dclip[1], CLIP * sizeof(float)));
    for (int j = 0; j < (image ? 2 : 1); j++)
        CHECK(g[j][0] && g[j][1] && !memcmp(g[j][0], g[j][1], (size_t)gn[j] * sizeof(float)));
    wanc_dit_free(dit);
    test_rm_tree(dir);
    free(x), free(ctx), free(dpred), free(clip), free(pred[0]), free(pred[1]), free(dx[0]), free(dx[1]);
    free(dctx[0]), free(dctx[1]), free(dclip[0]), free(dclip[1]);
    for (int j = 0; j < 2; j++) free(g[j][0]), free(g[j][1]);
}

TEST(backward_dit_step_bit_identical_at_1_and_2_threads) { dit_threads_case(test_failed_, false); }
TEST(backward_dit_flf2v_step_bit_identical_at_1_and_2_threads) { dit_threads_case(test_failed_, true); }

/* ---- the I2V / FLF2V image path of the DiT against finite differences ------------------------------- */

typedef struct {
    wanc_dit_trainer *tr;
    wanc_dit_train_inputs in;
    float *pred, *r;
    int64_t n;
} dit_ctx;

static double dit_loss(void *p)
{
    dit_ctx *c = p;
    wanc_err e = wanc_dit_trainer_forward(c->tr, &c->in, c->pred);
    if (e) {
        wanc_error_free(e);
        return NAN;
    }
    return dot(c->pred, c->r, c->n);
}

/* Loss Σ r·pred of a whole (tiny, float32) I2V or FLF2V DiT against the
 * trainer's gradients: d clip, d x_t, d context, and the parameters of the
 * image path (img_emb, k_img / v_img / norm_k_img, emb_pos) plus the shared
 * cross-attention query, each at ~20 positions (odd sizes throughout). */
static void dit_image_fd_case(int *test_failed_, bool flf2v)
{
    wanc_dit_config cfg = {.dim = 24, .in_dim = 9, .out_dim = 5, .ffn_dim = 40, .text_dim = 12, .freq_dim = 16,
                           .num_heads = 2, .num_layers = 2, .patch = {1, 2, 2}, .eps = 1e-6f,
                           .has_image_input = true, .has_image_pos_emb = flf2v};
    char dir[512], path[600];
    if (!random_dit(test_failed_, dir, sizeof dir, path, sizeof path, "dit-i2v-fd", &cfg, WANC_F32, flf2v ? 23 : 17))
        return;
    wanc_weights *store = NULL;
    wanc_dit *dit = NULL;
    wanc_dit_trainer *tr = NULL;
    wanc_full_params fp = {0};
    CHECK_OK(wanc_weights_open(&store, path));
    if (store) CHECK_OK(wanc_dit_load(&dit, wanc_backend_cpu(), store, &(wanc_dit_options){.num_heads = 2}));
    if (dit) CHECK_OK(wanc_dit_trainer_new(&tr, dit, true));
    /* the parameters as owned float32 tensors, so the finite differences can move them */
    if (tr) CHECK_OK(wanc_full_params_init(&fp, dit, store, tr, false));
    if (!fp.n) goto done;
    enum { LC = 4, YC = 5, F = 3, H = 4, W = 6, LT = 5 };
    const int64_t LI = flf2v ? 9 : 7, NC = LI * 1280, NX = LC * F * H * W, NY = YC * F * H * W;
    const int64_t NP = cfg.out_dim * F * H * W;
    rng_state = flf2v ? 7 : 5;
    float *x = rnd(NX, 1), *y = rnd(NY, 1), *ctx = rnd(LT * cfg.text_dim, 1), *clip = rnd(NC, 1);
    dit_ctx c = {.tr = tr, .pred = zeros(NP), .r = rnd(NP, 1), .n = NP};
    c.in = (wanc_dit_train_inputs){.latents = x, .F = F, .H = H, .W = W, .timestep = 620.0f, .context = ctx,
                                   .ctx_len = LT, .y = y, .y_c = YC, .clip = clip, .clip_len = LI};
    float *dx = zeros(NX), *dctx = zeros(LT * cfg.text_dim), *dclip = zeros(NC);
    CHECK_OK(wanc_dit_trainer_forward(tr, &c.in, c.pred));
    CHECK_OK(wanc_dit_trainer_backward_clip(tr, c.r, dx, dctx, dclip));
    const double tol = 5e-3; /* a whole float32 model: its rounding reaches the differences (seen: <= 1.3e-3) */
    CHECK(fd_check("dit d clip", dit_loss, &c, clip, dclip, NC, NC / 23, FD_H, tol));
    CHECK(fd_check("dit d x_t", dit_loss, &c, x, dx, NX, 7, FD_H, tol));
    CHECK(fd_check("dit d context", dit_loss, &c, ctx, dctx, LT * cfg.text_dim, 3, FD_H, tol));
    const char *names[] = {"img_emb.proj.0.weight", "img_emb.proj.0.bias", "img_emb.proj.1.weight",
                           "img_emb.proj.1.bias", "img_emb.proj.3.weight", "img_emb.proj.3.bias",
                           "img_emb.proj.4.weight", "img_emb.proj.4.bias", "blocks.0.cross_attn.k_img.weight",
                           "blocks.1.cross_attn.k_img.bias", "blocks.1.cross_attn.v_img.weight",
                           "blocks.0.cross_attn.v_img.bias", "blocks.0.cross_attn.norm_k_img.weight",
                           "blocks.1.cross_attn.norm_k_img.weight", "blocks.1.cross_attn.q.weight",
                           "img_emb.emb_pos"};
    int checked = 0;
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
        wanc_full_param *p = NULL;
        for (int k = 0; k < fp.n; k++)
            if (!strcmp(fp.p[k].name, names[i])) p = &fp.p[k];
        if (!p) {
            CHECK(!flf2v && !strcmp(names[i], "img_emb.emb_pos")); /* only FLF2V has it */
            continue;
        }
        float *v = p->vec ? p->vec : (float *)p->t->data;
        CHECK(p->vec || p->t->dtype == WANC_F32);
        /* emb_pos: only the rows of the LI tokens reach the loss */
        int64_t n = !strcmp(names[i], "img_emb.emb_pos") ? LI * 1280 : p->n;
        CHECK(fd_check(names[i], dit_loss, &c, v, p->grad, n, n / 19 > 0 ? n / 19 : 1, FD_H, tol));
        checked++;
    }
    CHECK(checked == (flf2v ? 16 : 15));
    free(x), free(y), free(ctx), free(clip), free(c.pred), free(c.r), free(dx), free(dctx), free(dclip);
done:
    wanc_full_params_free(&fp);
    wanc_dit_trainer_free(tr);
    wanc_dit_free(dit);
    wanc_weights_close(store);
    test_rm_tree(dir);
}

TEST(backward_dit_i2v_image_path_fd) { dit_image_fd_case(test_failed_, false); }
TEST(backward_dit_flf2v_image_path_fd) { dit_image_fd_case(test_failed_, true); }

/* Gradient accumulation: a second backward of the same item doubles every
 * kept parameter gradient (norm weights included), bit for bit. */
TEST(backward_dit_gradients_accumulate_over_items)
{
    wanc_dit_config cfg = {.dim = 24, .in_dim = 9, .out_dim = 5, .ffn_dim = 40, .text_dim = 12, .freq_dim = 16,
                           .num_heads = 2, .num_layers = 1, .patch = {1, 2, 2}, .eps = 1e-6f,
                           .has_image_input = true};
    char dir[512], path[600];
    if (!random_dit(test_failed_, dir, sizeof dir, path, sizeof path, "dit-accum", &cfg, WANC_F32, 31)) return;
    wanc_dit *dit = NULL;
    wanc_dit_trainer *tr = NULL;
    CHECK_OK(wanc_dit_open(&dit, wanc_backend_cpu(), path, &(wanc_dit_options){.num_heads = 2}));
    if (dit) CHECK_OK(wanc_dit_trainer_new(&tr, dit, true));
    enum { F = 1, H = 4, W = 2, NX = 4 * F * H * W, NY = 5 * F * H * W, NP = 5 * F * H * W, LT = 3, LI = 5 };
    rng_state = 31;
    float *x = rnd(NX, 1), *y = rnd(NY, 1), *ctx = rnd(LT * 12, 1), *clip = rnd(LI * 1280, 1);
    float *pred = zeros(NP), *dpred = rnd(NP, 1);
    wanc_dit_train_inputs in = {.latents = x, .F = F, .H = H, .W = W, .timestep = 300.0f, .context = ctx,
                                .ctx_len = LT, .y = y, .y_c = 5, .clip = clip, .clip_len = LI};
    int n = tr ? wanc_dit_trainer_param_count(tr) : 0;
    float **once = calloc((size_t)(n > 0 ? n : 1), sizeof *once);
    for (int pass = 0; tr && pass < 2; pass++) {
        CHECK_OK(wanc_dit_trainer_forward(tr, &in, pred));
        CHECK_OK(wanc_dit_trainer_backward(tr, dpred, NULL, NULL));
        for (int i = 0; i < n; i++) {
            int64_t k = 0;
            const float *g = wanc_dit_trainer_grad(tr, wanc_dit_trainer_param_name(tr, i), &k);
            if (pass == 0) {
                once[i] = malloc((size_t)k * sizeof(float));
                memcpy(once[i], g, (size_t)k * sizeof(float));
                continue;
            }
            int64_t bad = 0;
            for (int64_t j = 0; j < k; j++) bad += g[j] != 2.0f * once[i][j];
            if (bad)
                fprintf(stderr, "  %s: %lld values not doubled\n", wanc_dit_trainer_param_name(tr, i), (long long)bad);
            CHECK(bad == 0);
        }
    }
    CHECK(n > 40);
    for (int i = 0; i < n; i++) free(once[i]);
    free(once), free(x), free(y), free(ctx), free(clip), free(pred), free(dpred);
    wanc_dit_trainer_free(tr);
    wanc_dit_free(dit);
    test_rm_tree(dir);
}

TEST(backward_dit_trainer_refuses_what_it_does_not_train)
{
    wanc_dit_config cfg = {.dim = 48, .in_dim = 16, .out_dim = 16, .ffn_dim = 96, .text_dim = 32, .freq_dim = 32,
                           .num_heads = 2, .num_layers = 1, .patch = {1, 2, 2}, .eps = 1e-6f, .has_ref_conv = true,
                           .ref_in_dim = 16};
    char dir[512], path[600];
    if (!random_dit(test_failed_, dir, sizeof dir, path, sizeof path, "dit-train-ref", &cfg, WANC_F32, 1)) return;
    wanc_dit *dit = NULL;
    CHECK_OK(wanc_dit_open(&dit, wanc_backend_cpu(), path, &(wanc_dit_options){.num_heads = 2}));
    wanc_dit_trainer *tr = NULL;
    if (dit) CHECK_ERR(wanc_dit_trainer_new(&tr, dit, true), WANC_EUNSUPPORTED, "reference tokens");
    wanc_dit_free(dit);
    test_rm_tree(dir);
}
