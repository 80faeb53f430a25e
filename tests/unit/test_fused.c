/* The fused ops (linear_fused's epilogues, layer_norm_modulate) against the
 * unfused ops they replace, run as the nn layers would run them: the same
 * bits, in fp32 and in bf16 mode, for F32, BF16 and Q8_0 weights (the last
 * on the int8 table too), on every instruction-set path this CPU has, at 1
 * and 2 threads. Shapes cross the GEMM's block edges and a two-range gate. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "backend/backend.h"
#include "backend/cpu/cpu_internal.h"
#include "core/quant.h"
#include "core/tensor.h"
#include "core/threads.h"
#include "test.h"

static uint64_t fz_rng = 0x6a09e667f3bcc908ull;
static float fz_frand(void) /* uniform in [-1, 1) */
{
    fz_rng = fz_rng * 6364136223846793005ull + 1442695040888963407ull;
    return (float)((fz_rng >> 40) / 16777216.0 * 2.0 - 1.0);
}

static float *fz_alloc(int64_t n) { return malloc(sizeof(float) * (size_t)(n > 0 ? n : 1)); }

static void fz_fill(float *x, int64_t n, float gain, int bf16)
{
    for (int64_t i = 0; i < n; i++) {
        float v = fz_frand() * gain;
        x[i] = bf16 ? wanc_round_bf16(v) : v;
    }
}

static void make_weight(int *test_failed_, wanc_tensor *w, wanc_dtype dt, int64_t N, int64_t K)
{
    CHECK_OK(wanc_tensor_alloc(w, dt, 2, (int64_t[]){N, K}));
    float *row = fz_alloc(K);
    for (int64_t n = 0; n < N; n++) {
        fz_fill(row, K, 0.2f, 0);
        if (dt == WANC_F32) memcpy((float *)w->data + n * K, row, sizeof(float) * (size_t)K);
        else if (dt == WANC_BF16)
            for (int64_t k = 0; k < K; k++) ((uint16_t *)w->data)[n * K + k] = wanc_f32_to_bf16(row[k]);
        else CHECK_OK(wanc_quantize((uint8_t *)w->data + n * (K / 32) * 34, WANC_Q8_0, row, K));
    }
    free(row);
}

static int same_bits(const float *a, const float *b, int64_t n) { return !memcmp(a, b, sizeof(float) * (size_t)n); }

/* One shape, one weight dtype, one backend table: every epilogue against
 * linear + the ops nn runs without it. */
static void check_epilogues(int *test_failed_, const wanc_backend *be, wanc_dtype dt, int64_t M, int64_t N, int64_t K)
{
    wanc_tensor w, bias;
    make_weight(test_failed_, &w, dt, N, K);
    CHECK_OK(wanc_tensor_alloc(&bias, WANC_F32, 1, (int64_t[]){N}));
    fz_fill(bias.data, N, 0.5f, 0);
    float *x = fz_alloc(M * K), *res0 = fz_alloc(M * N), *gate = fz_alloc(2 * N);
    float *ref = fz_alloc(M * N), *got = fz_alloc(M * N), *rref = fz_alloc(M * N), *rgot = fz_alloc(M * N);
    fz_fill(res0, M * N, 2.0f, 0);
    fz_fill(gate, 2 * N, 1.5f, 0);
    const int64_t split = M / 3; /* two gate ranges: rows [0, split) and [split, M) */
    for (int bf16 = 0; bf16 < 2; bf16++) {
        fz_fill(x, M * K, 1.0f, bf16); /* bf16 mode: activations already bf16, so BF16 weights take vdpbf16ps */
        /* GELU */
        CHECK_OK(be->linear(be, ref, x, &w, &bias, M));
        if (bf16) CHECK_OK(be->round_bf16(be, ref, M * N));
        CHECK_OK(be->gelu_tanh(be, ref, ref, M * N));
        if (bf16) CHECK_OK(be->round_bf16(be, ref, M * N));
        wanc_epilogue ep = {.kind = WANC_EPILOGUE_GELU_TANH, .round_bf16 = bf16};
        CHECK_OK(be->linear_fused(be, got, x, &w, &bias, M, &ep));
        CHECK(same_bits(ref, got, M * N));
        /* residual: no gate, one gate, two ranges */
        for (int mode = 0; mode < 3; mode++) {
            memcpy(rref, res0, sizeof(float) * (size_t)(M * N));
            memcpy(rgot, res0, sizeof(float) * (size_t)(M * N));
            CHECK_OK(be->linear(be, ref, x, &w, &bias, M));
            if (bf16) CHECK_OK(be->round_bf16(be, ref, M * N));
            int64_t ends[2] = {mode == 2 ? split : M, M};
            for (int k = 0, row = 0; k < (mode == 2 ? 2 : 1); row = (int)ends[k], k++) {
                int64_t rows = ends[k] - row;
                float *rr = rref + row * N, *yr = ref + row * N;
                if (mode == 0) {
                    CHECK_OK(be->add(be, rr, rr, yr, rows * N));
                } else if (!bf16) {
                    CHECK_OK(be->gated_add(be, rr, yr, gate + k * N, rows, N));
                } else {
                    CHECK_OK(be->mul_rows(be, yr, yr, gate + k * N, rows, N));
                    CHECK_OK(be->round_bf16(be, yr, rows * N));
                    CHECK_OK(be->add(be, rr, rr, yr, rows * N));
                }
                if (bf16) CHECK_OK(be->round_bf16(be, rr, rows * N));
            }
            ep = (wanc_epilogue){.kind = WANC_EPILOGUE_RESIDUAL, .round_bf16 = bf16, .residual = rgot,
                                 .gate = mode ? gate : NULL, .gate_stride = N, .nranges = mode == 2 ? 2 : 1,
                                 .range_end = {ends[0], ends[1]}};
            CHECK_OK(be->linear_fused(be, got, x, &w, &bias, M, &ep));
            CHECK(same_bits(rref, rgot, M * N));
            if (!(bf16 && mode)) CHECK(same_bits(ref, got, M * N)); /* y kept (the unfused bf16 gate clobbers it) */
        }
    }
    wanc_epilogue bad = {.kind = WANC_EPILOGUE_RESIDUAL, .residual = got, .nranges = 1};
    CHECK_ERR(be->linear_fused(be, got, x, &w, &bias, M, &bad), WANC_EINVAL, "own residual buffer");
    free(x), free(res0), free(gate), free(ref), free(got), free(rref), free(rgot);
    wanc_tensor_free(&w);
    wanc_tensor_free(&bias);
}

TEST(fused_linear_epilogues_give_the_unfused_bits)
{
    wanc_backend unfused = *wanc_backend_cpu();
    unfused.layer_norm_modulate = NULL;
    CHECK(wanc_backend_has_fused_ops(wanc_backend_cpu()) && wanc_backend_has_fused_ops(wanc_backend_cpu_q8_int8()));
    CHECK(!wanc_backend_has_fused_ops(&unfused));
    cpu_isa saved = cpu_isa_get();
    int saved_threads = wanc_threads_get();
    const int64_t shapes[][3] = {{37, 70, 64}, {300, 600, 96}, {130, 1100, 160}}; /* M, N, K */
    for (int isa = 0; isa <= (int)cpu_isa_best(); isa++) {
        CHECK_OK(cpu_isa_set(cpu_isa_name((cpu_isa)isa)));
        for (int threads = 1; threads <= 2; threads++) {
            wanc_threads_set(threads);
            for (size_t s = 0; s < sizeof shapes / sizeof shapes[0]; s++) {
                const int64_t M = shapes[s][0], N = shapes[s][1], K = shapes[s][2];
                check_epilogues(test_failed_, wanc_backend_cpu(), WANC_F32, M, N, K);
                check_epilogues(test_failed_, wanc_backend_cpu(), WANC_BF16, M, N, K);
                check_epilogues(test_failed_, wanc_backend_cpu(), WANC_Q8_0, M, N, K);
                check_epilogues(test_failed_, wanc_backend_cpu_q8_int8(), WANC_Q8_0, M, N, K);
            }
        }
    }
    wanc_threads_set(saved_threads);
    CHECK_OK(cpu_isa_set(cpu_isa_name(saved)));
}

TEST(fused_layer_norm_modulate_gives_the_unfused_bits)
{
    const wanc_backend *be = wanc_backend_cpu();
    const int64_t rows = 75, dim = 200;
    float *x = fz_alloc(rows * dim), *shift = fz_alloc(dim), *scale = fz_alloc(dim), *vt = fz_alloc(dim);
    float *ref = fz_alloc(rows * dim), *got = fz_alloc(rows * dim), *zeros = calloc((size_t)dim, sizeof(float));
    fz_fill(x, rows * dim, 3.0f, 0);
    for (int64_t i = 0; i < dim; i++) x[i] = 100.0f + fz_frand(); /* a row with a large mean */
    fz_fill(shift, dim, 1.0f, 0);
    fz_fill(scale, dim, 0.5f, 0);
    for (int bf16 = 0; bf16 < 2; bf16++) {
        /* nn_layer_norm_forward + nn_modulate_forward */
        CHECK_OK(be->layer_norm(be, ref, x, NULL, NULL, rows, dim, 1e-6f));
        if (!bf16) {
            CHECK_OK(be->modulate(be, ref, ref, shift, scale, rows, dim));
        } else {
            CHECK_OK(be->round_bf16(be, ref, rows * dim));
            CHECK_OK(be->scale(be, vt, scale, 1.0f, 1.0f, dim));
            CHECK_OK(be->round_bf16(be, vt, dim));
            CHECK_OK(be->mul_rows(be, ref, ref, vt, rows, dim));
            CHECK_OK(be->round_bf16(be, ref, rows * dim));
            CHECK_OK(be->modulate(be, ref, ref, shift, zeros, rows, dim));
            CHECK_OK(be->round_bf16(be, ref, rows * dim));
        }
        CHECK_OK(be->layer_norm_modulate(be, got, x, shift, scale, rows, dim, 1e-6f, bf16));
        CHECK(same_bits(ref, got, rows * dim));
        memcpy(got, x, sizeof(float) * (size_t)(rows * dim)); /* in place */
        CHECK_OK(be->layer_norm_modulate(be, got, got, shift, scale, rows, dim, 1e-6f, bf16));
        CHECK(same_bits(ref, got, rows * dim));
    }
    CHECK_ERR(be->layer_norm_modulate(be, got, x, NULL, scale, rows, dim, 1e-6f, 0), WANC_EINVAL, "NULL shift");
    free(x), free(shift), free(scale), free(vt), free(ref), free(got), free(zeros);
}
