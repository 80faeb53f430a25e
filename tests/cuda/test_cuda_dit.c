/* The real DiT (src/dit) on the CUDA backend against the CPU backend: a
 * tiny random I2V checkpoint, one forward each, in fp32 and bf16 mode.
 *
 * The DiT keeps its activations in host memory, so on "cuda" every op
 * stages its arguments to the device and back (cuda_backend.h): this is the
 * end-to-end check of that path and of the weight cache with an mmapped
 * checkpoint. Bounds are the DiT fixtures' own (rel_peak 1e-4 for fp32,
 * 2e-2 for bf16: the bf16 GEMMs accumulate in another order, so a value can
 * round to the neighbouring bf16 and the difference travels). In fp32 mode
 * the bf16 weights are expanded (bf16_gemm = 0), as the CPU does. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "backend/backend.h"
#include "cuda/cuda_backend.h"
#include "dit/dit_random.h"
#include "dit/wan_dit.h"
#include "../unit/test.h"

static double rel_peak(const float *got, const float *ref, int64_t n)
{
    double m = 0, r = 0;
    for (int64_t i = 0; i < n; i++) {
        double d = fabs((double)got[i] - (double)ref[i]);
        if (!(d <= m)) m = d;
        if (fabs(ref[i]) > r) r = fabs(ref[i]);
    }
    return r > 0 ? m / r : m;
}

static void fill(float *p, int64_t n, uint32_t s)
{
    for (int64_t i = 0; i < n; i++) p[i] = (float)((s = s * 1664525u + 1013904223u) >> 8) / 8e6f - 1;
}

static void dit_case(int *test_failed_, wanc_dit_precision prec, double tol)
{
    const wanc_backend *gpu = NULL, *cpu = wanc_backend_cpu();
    CHECK_OK(wanc_backend_get("cuda", &gpu));
    if (!gpu) return;
    CHECK_OK(wanc_cuda_configure(gpu, &(wanc_cuda_options){.bf16_gemm = prec == WANC_DIT_BF16,
                                                           .attention_bf16 = prec == WANC_DIT_BF16}));
    /* head_dim 32 splits 12/10/10 for the 3-D RoPE */
    wanc_dit_config c = {.dim = 64, .in_dim = 36, .out_dim = 16, .ffn_dim = 96, .text_dim = 24, .freq_dim = 256,
                         .num_heads = 2, .num_layers = 2, .patch = {1, 2, 2}, .eps = 1e-6f, .has_image_input = true};
    char path[256];
    snprintf(path, sizeof path, "/tmp/wanc_test_cuda_dit_%d.safetensors", (int)getpid());
    CHECK_OK(wanc_dit_random_write(path, &c, WANC_BF16, 5));
    wanc_dit_options o = {.num_heads = 2, .precision = prec};
    wanc_dit *dc = NULL, *dg = NULL;
    CHECK_OK(wanc_dit_open(&dc, cpu, path, &o));
    CHECK_OK(wanc_dit_open(&dg, gpu, path, &o));
    const int64_t F = 2, H = 4, W = 6, L = 7, n_out = 16 * F * H * W;
    float *lat = malloc(sizeof(float) * 16 * F * H * W), *y = malloc(sizeof(float) * 20 * F * H * W);
    float *ctx = malloc(sizeof(float) * L * 24), *clip = malloc(sizeof(float) * 257 * 1280);
    float *ref = calloc((size_t)n_out, sizeof(float)), *got = calloc((size_t)n_out, sizeof(float));
    fill(lat, 16 * F * H * W, 1), fill(y, 20 * F * H * W, 2), fill(ctx, L * 24, 3), fill(clip, 257 * 1280, 4);
    wanc_dit_inputs in = {.latents = lat, .lat_c = 16, .F = F, .H = H, .W = W, .y = y, .y_c = 20,
                          .timestep = 937.5f, .context = ctx, .ctx_len = L, .clip = clip, .clip_len = 257};
    if (dc && dg) {
        CHECK_OK(wanc_dit_forward(dc, &in, ref));
        CHECK_OK(wanc_dit_forward(dg, &in, got));
        double e = rel_peak(got, ref, n_out);
        if (!(e <= tol)) fprintf(stderr, "  DiT cuda vs cpu: rel_peak %.3g > %.3g\n", e, tol);
        CHECK(e <= tol);
        /* a second forward reuses the cached weights and gives the same bits */
        float *again = calloc((size_t)n_out, sizeof(float));
        CHECK_OK(wanc_dit_forward(dg, &in, again));
        CHECK(memcmp(again, got, sizeof(float) * (size_t)n_out) == 0);
        free(again);
    }
    wanc_dit_free(dc);
    wanc_dit_free(dg);
    CHECK_OK(wanc_cuda_configure(gpu, &(wanc_cuda_options){.bf16_gemm = 1}));
    CHECK_OK(wanc_cuda_forget_weights(gpu)); /* the checkpoint's mapping goes away with the file */
    remove(path);
    free(lat), free(y), free(ctx), free(clip), free(ref), free(got);
}

TEST(cuda_dit_forward_fp32) { dit_case(test_failed_, WANC_DIT_FP32, 1e-4); }
TEST(cuda_dit_forward_bf16) { dit_case(test_failed_, WANC_DIT_BF16, 2e-2); }
