/* The nn layers (src/nn): patch layouts against the explicit loops they
 * replace, the LoRA linear's backward against finite differences, and the
 * per-range modulation against the backend op on each range. */
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "nn/nn.h"
#include "test.h"

static uint64_t nn_rng = 0x2545F4914F6CDD1Dull;
static float nn_rand(void) /* [-1, 1) */
{
    nn_rng = nn_rng * 6364136223846793005ull + 1442695040888963407ull;
    return (float)((double)(nn_rng >> 11) / 4503599627370496.0 - 1.0);
}
static float *nn_rnd(int64_t n)
{
    float *p = malloc((size_t)n * sizeof(float));
    for (int64_t i = 0; i < n; i++) p[i] = nn_rand();
    return p;
}

TEST(nn_patchify_matches_the_loops)
{
    const nn_ctx c = {.be = wanc_backend_cpu()};
    const int p[3] = {1, 2, 3};
    const int64_t C = 3, F = 2, H = 4, W = 6, Fp = F, Hp = H / 2, Wp = W / 3, S = Fp * Hp * Wp, pv = 6;
    const int64_t c0 = 1, K = (C + c0) * pv, skip = 2, HW = H * W;
    float *x = nn_rnd(C * F * H * W), *rows = calloc((size_t)((S + skip) * K), sizeof(float));
    float *back = calloc((size_t)(C * F * H * W), sizeof(float));
    for (int last = 0; last < 2; last++) {
        memset(rows, 0, (size_t)((S + skip) * K) * sizeof(float));
        CHECK_OK(nn_patchify(&c, rows, K, c0, last, skip, x, C, F, H, W, p));
        int bad = 0;
        for (int64_t tok = 0; tok < S; tok++) {
            int64_t fi = tok / (Hp * Wp), hi = tok / Wp % Hp, wi = tok % Wp;
            for (int64_t ch = 0; ch < C; ch++)
                for (int kt = 0; kt < p[0]; kt++)
                    for (int kh = 0; kh < p[1]; kh++)
                        for (int kw = 0; kw < p[2]; kw++) {
                            int64_t k = (kt * p[1] + kh) * p[2] + kw;
                            int64_t col = last ? k * (K / pv) + c0 + ch : (c0 + ch) * pv + k;
                            float want = x[ch * F * HW + (fi + kt) * HW + (hi * 2 + kh) * W + wi * 3 + kw];
                            bad += rows[(skip + tok) * K + col] != want;
                        }
        }
        for (int64_t i = 0; i < skip * K; i++) bad += rows[i] != 0.0f; /* skipped rows untouched */
        CHECK(bad == 0);
        memset(back, 0, (size_t)(C * F * H * W) * sizeof(float));
        CHECK_OK(nn_unpatchify(&c, back, rows, K, c0, last, skip, C, F, H, W, p));
        CHECK(!memcmp(back, x, (size_t)(C * F * H * W) * sizeof(float)));
    }
    float *t = calloc((size_t)(S * C), sizeof(float));
    CHECK_OK(nn_transpose(&c, t, x, S, C)); /* x as [S, C] → [C, S] */
    int bad = 0;
    for (int64_t i = 0; i < S; i++)
        for (int64_t j = 0; j < C; j++) bad += t[j * S + i] != x[i * C + j];
    CHECK(bad == 0);
    free(t);
    free(x);
    free(rows);
    free(back);
}

/* L = Σ r·y of nn_linear_forward with a LoRA, in float64. */
static double lora_loss(const nn_ctx *c, const float *x, const nn_linear *l, const nn_lora *lo, const float *r,
                        int64_t M, int64_t N, int64_t R)
{
    float *y = malloc((size_t)(M * N) * sizeof(float)), *u = malloc((size_t)(M * R) * sizeof(float));
    wanc_error_free(nn_linear_forward(c, y, x, l, lo, u, M));
    double s = 0;
    for (int64_t i = 0; i < M * N; i++) s += (double)r[i] * y[i];
    free(y);
    free(u);
    return s;
}

TEST(nn_lora_linear_backward_fd)
{
    const nn_ctx c = {.be = wanc_backend_cpu()};
    const int64_t M = 5, K = 7, N = 6, R = 3;
    float *wd = nn_rnd(N * K), *bd = nn_rnd(N), *x = nn_rnd(M * K), *A = nn_rnd(R * K), *B = nn_rnd(N * R);
    float *r = nn_rnd(M * N), *u = malloc((size_t)(M * R) * sizeof(float)), *du = malloc((size_t)(M * R) * sizeof(float));
    float *dx = calloc((size_t)(M * K), sizeof(float)), *dA = calloc((size_t)(R * K), sizeof(float));
    float *dB = calloc((size_t)(N * R), sizeof(float)), *dw = calloc((size_t)(N * K), sizeof(float));
    float *y = malloc((size_t)(M * N) * sizeof(float));
    wanc_tensor w = wanc_tensor_wrap(wd, WANC_F32, 2, (int64_t[]){N, K}), b = wanc_tensor_wrap(bd, WANC_F32, 1, (int64_t[]){N});
    const nn_linear l = {.w = &w, .b = &b};
    nn_lora lo = {.A = A, .B = B, .dA = dA, .dB = dB, .rank = R, .scale = 0.75f};
    CHECK_OK(nn_linear_forward(&c, y, x, &l, &lo, u, M));
    const nn_linear_grad g = {.w = dw};
    CHECK_OK(nn_linear_backward(&c, dx, 0, r, x, &l, &g, &lo, u, du, M));
    struct { float *p, *grad; int64_t n; } cases[] = {{x, dx, M * K}, {A, dA, R * K}, {B, dB, N * R}, {wd, dw, N * K}};
    double worst = 0;
    for (size_t k = 0; k < sizeof cases / sizeof cases[0]; k++)
        for (int64_t i = 0; i < cases[k].n; i++) {
            float keep = cases[k].p[i], h = 1e-2f;
            cases[k].p[i] = keep + h;
            double hp = (double)cases[k].p[i] - keep, lp = lora_loss(&c, x, &l, &lo, r, M, N, R);
            cases[k].p[i] = keep - h;
            double hm = keep - (double)cases[k].p[i], lm = lora_loss(&c, x, &l, &lo, r, M, N, R);
            cases[k].p[i] = keep;
            double fd = (lp - lm) / (hp + hm), err = fabs(fd - cases[k].grad[i]) / (1.0 + fabs(fd));
            if (err > worst) worst = err;
        }
    CHECK(worst < 1e-3);
    free(wd), free(bd), free(x), free(A), free(B), free(r), free(u), free(du), free(dx), free(dA), free(dB);
    free(dw), free(y);
}

TEST(nn_modulation_ranges_match_the_op_per_range)
{
    const wanc_backend *be = wanc_backend_cpu();
    const nn_ctx c = {.be = be};
    const int64_t S = 7, D = 5, st = 3 * D;
    const nn_ranges r = {.n = 2, .begin = {0, 3}, .end = {3, 7}};
    float *x = nn_rnd(S * D), *vec = nn_rnd(2 * st), *dy = nn_rnd(S * D), *y = nn_rnd(S * D);
    float *out = malloc((size_t)(S * D) * sizeof(float)), *want = malloc((size_t)(S * D) * sizeof(float));
    float *dx = malloc((size_t)(S * D) * sizeof(float)), *dxw = malloc((size_t)(S * D) * sizeof(float));
    float *dv = calloc((size_t)(2 * st), sizeof(float)), *dvw = calloc((size_t)(2 * st), sizeof(float));
    CHECK_OK(nn_modulate_forward(&c, out, x, vec, vec + D, st, &r, D));
    CHECK_OK(nn_modulate_backward(&c, dx, dv, dv + D, st, dy, x, vec + D, &r, D, 0));
    for (int k = 0; k < 2; k++) {
        int64_t o = r.begin[k] * D, n = r.end[k] - r.begin[k];
        CHECK_OK(be->modulate(be, want + o, x + o, vec + k * st, vec + k * st + D, n, D));
        CHECK_OK(be->modulate_backward(be, dxw + o, dvw + k * st, dvw + k * st + D, dy + o, x + o, vec + k * st + D, n,
                                       D, 0));
    }
    CHECK(!memcmp(out, want, (size_t)(S * D) * sizeof(float)));
    CHECK(!memcmp(dx, dxw, (size_t)(S * D) * sizeof(float)));
    CHECK(!memcmp(dv, dvw, (size_t)(2 * st) * sizeof(float)));
    /* the gate: x += gate·y per range */
    memcpy(out, x, (size_t)(S * D) * sizeof(float));
    memcpy(want, x, (size_t)(S * D) * sizeof(float));
    CHECK_OK(nn_gate_forward(&c, out, y, vec + 2 * D, st, &r, D));
    for (int k = 0; k < 2; k++) {
        int64_t o = r.begin[k] * D, n = r.end[k] - r.begin[k];
        CHECK_OK(be->gated_add(be, want + o, y + o, vec + k * st + 2 * D, n, D));
    }
    CHECK(!memcmp(out, want, (size_t)(S * D) * sizeof(float)));
    free(x), free(vec), free(dy), free(y), free(out), free(want), free(dx), free(dxw), free(dv), free(dvw);
}
