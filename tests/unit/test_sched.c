/* Unit tests: torch generator, flow-match scheduler, TeaCache, shape check,
 * float video -> uint8. (The golden comparisons are the fixture runners.) */
#include <stdint.h>
#include <stdlib.h>

#include "core/rng_torch.h"
#include "core/tensor.h"
#include "io/video_out.h"
#include "pipeline/shape_check.h"
#include "sched/flow_match.h"
#include "sched/teacache.h"
#include "test.h"

TEST(mt19937_matches_the_standard_sequence)
{
    /* std::mt19937 with its default seed 5489: first output 3499211612,
     * 10000th output 4123659995 (the value the C++ standard specifies). */
    wanc_torch_gen g;
    wanc_torch_gen_seed(&g, 5489);
    uint32_t first = wanc_torch_gen_u32(&g), v = first;
    for (int i = 1; i < 10000; i++) v = wanc_torch_gen_u32(&g);
    CHECK(first == 3499211612u);
    CHECK(v == 4123659995u);
    /* the seed is reduced to its low 32 bits, as torch's manual_seed */
    wanc_torch_gen a, b;
    wanc_torch_gen_seed(&a, 7);
    wanc_torch_gen_seed(&b, (UINT64_C(1) << 32) + 7);
    CHECK(wanc_torch_gen_u64(&a) == wanc_torch_gen_u64(&b));
}

TEST(randn_small_counts_share_the_cached_half)
{
    /* below 16 elements one Box-Muller pair feeds two values, so two
     * 1-element draws from one generator equal one 2-element draw */
    float two[2], one_a, one_b;
    CHECK_OK(wanc_torch_randn(two, 2, 42, WANC_RANDN_AVX2));
    wanc_torch_gen g;
    wanc_torch_gen_seed(&g, 42);
    CHECK_OK(wanc_torch_gen_randn(&g, &one_a, 1, WANC_RANDN_AVX2));
    CHECK_OK(wanc_torch_gen_randn(&g, &one_b, 1, WANC_RANDN_AVX2));
    CHECK(one_a == two[0] && one_b == two[1]);
    /* the small path does not depend on the kernel */
    float d[2];
    CHECK_OK(wanc_torch_randn(d, 2, 42, WANC_RANDN_DEFAULT));
    CHECK(d[0] == two[0] && d[1] == two[1]);
}

TEST(randn_tail_is_redrawn)
{
    /* 17 values: the first block is the same as for 16; the last 16
     * positions are then refilled and transformed again */
    float a[16], b[17];
    CHECK_OK(wanc_torch_randn(a, 16, 1, WANC_RANDN_AVX2));
    CHECK_OK(wanc_torch_randn(b, 17, 1, WANC_RANDN_AVX2));
    CHECK(a[0] == b[0]);
    int same = 0;
    for (int i = 1; i < 16; i++) same += a[i] == b[i];
    CHECK(same == 0);
}

TEST(randn_kernels_agree_to_float_precision)
{
    enum { N = 4096 };
    float *a = malloc(N * sizeof(float)), *b = malloc(N * sizeof(float));
    CHECK(a && b);
    if (!a || !b) goto done;
    CHECK_OK(wanc_torch_randn(a, N, 1234, WANC_RANDN_AVX2));
    CHECK_OK(wanc_torch_randn(b, N, 1234, WANC_RANDN_DEFAULT));
    double worst = 0, mean = 0, var = 0;
    int differ = 0;
    for (int i = 0; i < N; i++) {
        double d = fabs((double)a[i] - b[i]);
        if (d > worst) worst = d;
        differ += a[i] != b[i];
        mean += a[i];
        var += (double)a[i] * a[i];
    }
    mean /= N;
    var = var / N - mean * mean;
    CHECK(worst < 1e-5);   /* the two kernels differ in the last bits only */
    CHECK(differ > 0);     /* ...but they do differ */
    CHECK(fabs(mean) < 0.1 && fabs(var - 1) < 0.1);
    wanc_randn_kernel k;
    CHECK(wanc_randn_kernel_parse("default", &k) && k == WANC_RANDN_DEFAULT);
    CHECK(wanc_randn_kernel_parse("avx2", &k) && k == WANC_RANDN_AVX2);
    CHECK(!wanc_randn_kernel_parse("avx512", &k));
    CHECK_ERR(wanc_torch_randn(a, -1, 0, WANC_RANDN_AVX2), WANC_EINVAL, "negative");
done:
    free(a);
    free(b);
}

TEST(linspace_ends_are_exact)
{
    float x[51];
    wanc_linspace_f32(x, 0.7, 0.0, 51);
    CHECK(x[0] == 0.7f && x[50] == 0.0f);
    for (int i = 1; i < 51; i++) CHECK(x[i] < x[i - 1]);
    wanc_linspace_f32(x, 0.3, 9.0, 1);
    CHECK(x[0] == 0.3f);
}

TEST(flow_schedule_and_step)
{
    wanc_flow_sched s;
    CHECK_OK(wanc_flow_sched_init(&s, 4, 1.0, 5.0));
    /* sigma = 5s/(1+4s) over s = 1, .75, .5, .25 */
    CHECK(s.sigmas[0] == 1.0f && s.sigmas[1] == 0.9375f && s.sigmas[3] == 0.625f);
    CHECK(s.timesteps[1] == 937.5f);
    CHECK(wanc_flow_sched_index(&s, 937.5f) == 1);
    CHECK(wanc_flow_sched_index(&s, 2000.0f) == 0);
    CHECK(wanc_flow_sched_index(&s, -5.0f) == 3);
    /* the last step goes to sigma 0: x + v·(0 - 0.625) */
    float x[2] = {1.0f, -2.0f}, v[2] = {0.8f, 0.4f};
    CHECK_OK(wanc_flow_sched_step(&s, x, v, 2, s.timesteps[3], false));
    CHECK(x[0] == 1.0f + 0.8f * -0.625f && x[1] == -2.0f + 0.4f * -0.625f);
    /* add_noise at the first timestep (sigma 1) is the noise itself */
    float x0[2] = {3, 4}, e[2] = {0.5f, -0.5f}, out[2];
    CHECK_OK(wanc_flow_sched_add_noise(&s, out, x0, e, 2, s.timesteps[0], false));
    CHECK(out[0] == 0.5f && out[1] == -0.5f);
    CHECK(wanc_flow_sched_training_weight(&s, 500.0f) == 0.0f); /* no training weights */
    wanc_flow_sched_free(&s);

    CHECK_ERR(wanc_flow_sched_init(&s, 0, 1.0, 5.0), WANC_EINVAL, "num_inference_steps");
    CHECK_ERR(wanc_flow_sched_init(&s, 10, 0.0, 5.0), WANC_EINVAL, "denoising_strength");
    CHECK_ERR(wanc_flow_sched_init(&s, 10, 1.5, 5.0), WANC_EINVAL, "denoising_strength");
    CHECK_ERR(wanc_flow_sched_init(&s, 10, 1.0, -1.0), WANC_EINVAL, "shift");
    wanc_flow_sched empty = {0};
    CHECK_ERR(wanc_flow_sched_step(&empty, x, v, 2, 1.0f, false), WANC_EINVAL, "not initialised");
}

TEST(flow_training_weights_sum_to_1000)
{
    wanc_flow_sched s;
    CHECK_OK(wanc_flow_sched_init_training(&s, 5.0));
    CHECK(s.num_steps == 1000 && s.train_weights);
    double sum = 0, wmin = 1e9, wmax = 0;
    for (int i = 0; i < 1000; i++) {
        sum += s.train_weights[i];
        if (s.train_weights[i] < wmin) wmin = s.train_weights[i];
        if (s.train_weights[i] > wmax) wmax = s.train_weights[i];
    }
    CHECK_NEAR(sum, 1000.0, 1e-2);
    CHECK(wmin == 0.0);
    /* the peak sits at t = 500 */
    CHECK(wanc_flow_sched_training_weight(&s, 500.0f) == (float)wmax ||
          fabs(wanc_flow_sched_training_weight(&s, 500.0f) - wmax) < 1e-3);
    wanc_flow_sched_free(&s);
}

TEST(torch_sum_matches_double_sum)
{
    enum { N = 30720 + 5 };
    float *x = malloc(N * sizeof(float));
    CHECK(x);
    if (!x) return;
    wanc_torch_gen g;
    wanc_torch_gen_seed(&g, 3);
    double ref = 0;
    for (int i = 0; i < N; i++) {
        x[i] = (float)(wanc_torch_gen_u32(&g) >> 8) / 16777216.0f;
        ref += x[i];
    }
    for (int n = 1; n <= N; n = n * 3 + 1) {
        double r = 0;
        for (int i = 0; i < n; i++) r += x[i];
        CHECK(fabs(wanc_torch_sum_f32(x, n) - r) <= 1e-6 * r + 1e-6);
    }
    CHECK(fabs(wanc_torch_sum_f32(x, N) - ref) <= 1e-6 * ref);
    free(x);
}

TEST(teacache_decisions_and_residual)
{
    wanc_teacache tc;
    CHECK_ERR(wanc_teacache_init(&tc, 10, 0.1, "Wan2.2-T2V-A14B", false), WANC_EINVAL, "Wan2.1-T2V-1.3B");
    CHECK_OK(wanc_teacache_init(&tc, 3, 0.1, "Wan2.1-T2V-1.3B", false));
    float tm[8] = {1, 2, 3, 4, 5, 6, 7, 8}, x[2] = {1, 1}, out[2] = {3, 0};
    bool skip = true;
    /* call 0 always computes */
    CHECK_OK(wanc_teacache_check(&tc, tm, 8, x, 2, &skip));
    CHECK(!skip);
    CHECK_OK(wanc_teacache_store(&tc, out, 2)); /* residual = (2, -1) */
    /* call 1, t_mod unchanged: rel_l1 = 0, poly(0) = -0.0499... < 0.1 -> skip */
    CHECK_OK(wanc_teacache_check(&tc, tm, 8, x, 2, &skip));
    CHECK(skip);
    CHECK(tc.last_rel_l1 == 0.0 && tc.last_rescaled == tc.coef[4]);
    float y[2] = {10, 10};
    CHECK_OK(wanc_teacache_update(&tc, y, 2));
    CHECK(y[0] == 12 && y[1] == 9);
    /* call 2 = N-1 always computes, and the counter wraps */
    CHECK_OK(wanc_teacache_check(&tc, tm, 8, x, 2, &skip));
    CHECK(!skip && tc.step == 0 && tc.accumulated == 0);
    CHECK_ERR(wanc_teacache_check(&tc, tm, 7, x, 2, &skip), WANC_ESHAPE, "t_mod");
    CHECK_ERR(wanc_teacache_update(&tc, y, 3), WANC_ESHAPE, "residual");
    wanc_teacache_free(&tc);
}

TEST(shape_check_rounds_up_and_rejects_nonsense)
{
    wanc_video_shape s;
    CHECK_OK(wanc_check_resize_hwt(&s, 33, 50, 10, 16));
    CHECK(s.height == 48 && s.width == 64 && s.num_frames == 13 && s.n_notices == 3);
    CHECK(strstr(s.notices[0], "height") && strstr(s.notices[0], "48"));
    CHECK_OK(wanc_check_resize_hwt(&s, 480, 832, 81, 16));
    CHECK(s.n_notices == 0);
    CHECK_OK(wanc_check_resize_hwt(&s, 720, 1280, 121, 32));
    CHECK(s.height == 736 && s.n_notices == 1);
    CHECK_ERR(wanc_check_resize_hwt(&s, 0, 832, 81, 16), WANC_EINVAL, "height 0");
    CHECK_ERR(wanc_check_resize_hwt(&s, 480, -16, 81, 16), WANC_EINVAL, "width -16");
    CHECK_ERR(wanc_check_resize_hwt(&s, 480, 832, 0, 16), WANC_EINVAL, "num_frames 0");
    CHECK_ERR(wanc_check_resize_hwt(&s, 480, 2000000000, 81, 16), WANC_EINVAL, "too large");
    CHECK_ERR(wanc_check_resize_hwt(&s, 480, 832, 1000000, 16), WANC_EINVAL, "too large");
    CHECK_ERR(wanc_check_resize_hwt(&s, 480, 832, 81, 8), WANC_EINVAL, "division");
}

TEST(video_to_u8_truncates_and_clips)
{
    /* one frame, 1x1 pixel, 3 channels ([1, 3, 1, 1, 1]) */
    float v[3] = {-1.0f, 0.0f, 1.0f};
    uint8_t o[3];
    CHECK_OK(wanc_video_to_u8(o, v, 1, 3, 1, 1, 1, false));
    CHECK(o[0] == 0 && o[1] == 127 && o[2] == 255); /* 127.5 truncates to 127 */
    float w[3] = {-3.0f, NAN, 7.0f};
    CHECK_OK(wanc_video_to_u8(o, w, 1, 3, 1, 1, 1, false));
    CHECK(o[0] == 0 && o[1] == 0 && o[2] == 255);
    /* bf16: 0.999 + 1 rounds to 2.0 in bf16, so 255 instead of 254 */
    float b[3] = {0.999f, 0.999f, 0.999f};
    CHECK_OK(wanc_video_to_u8(o, b, 1, 3, 1, 1, 1, false));
    CHECK(o[0] == 254);
    CHECK_OK(wanc_video_to_u8(o, b, 1, 3, 1, 1, 1, true));
    CHECK(o[0] == 255);
    /* layout: [C, T, H, W] -> [T, H, W, C] */
    float lay[2 * 3 * 1 * 2]; /* C=3, T=2, H=1, W=2 */
    for (int i = 0; i < 12; i++) lay[i] = -1.0f + (float)i / 127.5f;
    uint8_t L[12];
    CHECK_OK(wanc_video_to_u8(L, lay, 1, 3, 2, 1, 2, false));
    /* frame 1, pixel 0, channel 2 is source index (2·2 + 1)·2 + 0 = 10 */
    CHECK(L[(1 * 2 + 0) * 3 + 2] == (uint8_t)((lay[10] + 1.0f) * 127.5f));
    CHECK_ERR(wanc_video_to_u8(L, lay, 1, 3, 0, 1, 2, false), WANC_ESHAPE, "empty");
}
