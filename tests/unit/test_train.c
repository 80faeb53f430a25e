/* Training math that needs no backward: the sample draw, the bf16 timestep
 * lookup, AdamW + ConstantLR, LoRA targets and init. (The fixtures check the
 * tables and the optimizer against DiffSynth; these tests pin the pieces the
 * fixtures cannot reach.) */
#include <math.h>
#include <stdlib.h>

#include "test.h"
#include "train/adamw.h"
#include "train/lora_setup.h"
#include "train/train_sched.h"

TEST(train_randint_is_torch_draw)
{
    /* torch.manual_seed(0); torch.randint(0, 1000, (1,)): the twister's first
     * output for seed 0 is 2357136044, so the id is 44; then 0..10 -> 4. */
    wanc_torch_gen g;
    wanc_torch_gen_seed(&g, 0);
    CHECK(wanc_torch_randint(&g, 0, 1000) == 44);
    wanc_torch_gen_seed(&g, 0);
    CHECK(wanc_torch_randint(&g, 0, 10) == 4);
    wanc_torch_gen_seed(&g, 0);
    CHECK(wanc_torch_randint(&g, 417, 1000) == 417 + (int64_t)(2357136044u % 583u));
    /* every draw stays in [lo, hi) */
    wanc_torch_gen_seed(&g, 7);
    for (int i = 0; i < 1000; i++) {
        int64_t v = wanc_torch_randint(&g, 358, 1000);
        CHECK(v >= 358 && v < 1000);
    }
}

TEST(train_id_range_boundaries)
{
    int lo, hi;
    CHECK_OK(wanc_train_id_range(0, 1, &lo, &hi));
    CHECK(lo == 0 && hi == 1000);
    CHECK_OK(wanc_train_id_range(0.417, 1, &lo, &hi));
    CHECK(lo == 417 && hi == 1000);
    CHECK_ERR(wanc_train_id_range(0.5, 0.5, &lo, &hi), WANC_EINVAL, "boundaries");
    CHECK_ERR(wanc_train_id_range(-0.1, 1, &lo, &hi), WANC_EINVAL, "boundaries");
    CHECK_ERR(wanc_train_id_range(0.4001, 0.4009, &lo, &hi), WANC_EINVAL, "no timestep id");
}

TEST(train_timestep_bf16_lookup)
{
    wanc_train_sched ts;
    CHECK_OK(wanc_train_sched_init(&ts, 5.0));
    wanc_train_timestep a, b;
    /* float32: the id itself; id 0 has weight 0 exactly (t = 1000) */
    CHECK_OK(wanc_train_timestep_at(&ts, 0, false, &a));
    CHECK(a.lookup_id == 0 && a.t == 1000.0f && a.weight == 0.0f && a.sigma == 1.0f);
    /* bf16: t is rounded, and sigma/weight come from the index it finds */
    int moved = 0;
    for (int id = 0; id < 1000; id++) {
        CHECK_OK(wanc_train_timestep_at(&ts, id, true, &b));
        CHECK(b.t == wanc_round_bf16(ts.s.timesteps[id]));
        CHECK(b.sigma == ts.s.sigmas[b.lookup_id] && b.weight == ts.s.train_weights[b.lookup_id]);
        moved += b.lookup_id != id;
    }
    CHECK(moved > 500); /* bf16 spacing 4 above 512: most ids move (the fixture counts 706) */
    CHECK_ERR(wanc_train_timestep_at(&ts, 1000, false, &a), WANC_EINVAL, "outside");
    wanc_train_sched_free(&ts);
}

TEST(train_noisy_and_target)
{
    float x0[3] = {1, -2, 0.5f}, eps[3] = {0.25f, 1, -1}, xt[3], tg[3];
    wanc_train_noisy_and_target(xt, tg, x0, eps, 0.25f, 3);
    for (int i = 0; i < 3; i++) {
        CHECK(xt[i] == 0.75f * x0[i] + 0.25f * eps[i]);
        CHECK(tg[i] == eps[i] - x0[i]);
    }
}

TEST(train_adamw_matches_float64_restatement)
{
    /* Seven steps on a few elements against the formula in double; ConstantLR
     * gives lr/3 for steps 1-5, then lr. */
    const double lr = 1e-3, wd = 0.01;
    float p[4] = {0.5f, -0.25f, 1e-3f, 0}, m[4] = {0}, v[4] = {0};
    double pd[4] = {0.5, -0.25, 1e-3, 0}, md[4] = {0}, vd[4] = {0};
    wanc_adamw o;
    wanc_adamw_init(&o, lr, wd);
    for (int k = 1; k <= 7; k++) {
        double step_lr = k <= 5 ? lr / 3 : lr;
        CHECK_NEAR(wanc_adamw_lr(&o), step_lr, 1e-12 * step_lr);
        float g[4] = {0.1f * k, -0.02f, 1e-9f, k == 1 ? 0.0f : 0.3f};
        wanc_adamw_begin_step(&o);
        wanc_adamw_update(&o, p, g, m, v, 4);
        wanc_adamw_end_step(&o);
        for (int i = 0; i < 4; i++) {
            pd[i] *= 1 - step_lr * wd;
            md[i] = 0.9 * md[i] + 0.1 * g[i];
            vd[i] = 0.999 * vd[i] + 0.001 * (double)g[i] * g[i];
            pd[i] -= step_lr / (1 - pow(0.9, k)) * md[i] / (sqrt(vd[i]) / sqrt(1 - pow(0.999, k)) + 1e-8);
            CHECK_NEAR(p[i], pd[i], 1e-3 * lr);
        }
    }
    /* a zero gradient at step 1 leaves pure weight decay: p·(1 - lr/3·wd) in float32 */
    float q = 0.75f, mq = 0, vq = 0, gz = 0;
    wanc_adamw_init(&o, lr, wd);
    wanc_adamw_begin_step(&o);
    wanc_adamw_update(&o, &q, &gz, &mq, &vq, 1);
    CHECK(q == 0.75f * (float)(1 - lr / 3 * wd));
}

TEST(train_lora_targets_and_init)
{
    const char *t = WANC_LORA_DEFAULT_TARGETS;
    CHECK(wanc_lora_is_target("blocks.0.self_attn.q", t));
    CHECK(wanc_lora_is_target("blocks.12.cross_attn.o", t));
    CHECK(wanc_lora_is_target("blocks.3.ffn.0", t));
    CHECK(wanc_lora_is_target("blocks.3.ffn.2", t));
    CHECK(!wanc_lora_is_target("blocks.3.ffn.1", t));
    CHECK(!wanc_lora_is_target("blocks.0.cross_attn.k_img", t));
    CHECK(!wanc_lora_is_target("blocks.0.self_attn.norm_q", t));
    CHECK(!wanc_lora_is_target("head.head", t));
    CHECK(!wanc_lora_is_target("text_embedding.0", t));
    CHECK(wanc_lora_is_target("q", t));
    CHECK(!wanc_lora_is_target("blocks.0.self_attn.qq", t));

    enum { R = 4, IN = 96, OUT = 40 };
    float *A = malloc(R * IN * sizeof(float)), *B = malloc(OUT * R * sizeof(float));
    wanc_torch_gen g;
    wanc_torch_gen_seed(&g, 1);
    wanc_lora_init(&g, A, B, R, IN, OUT);
    float bound = 1.0f / sqrtf((float)IN), amax = 0;
    for (int i = 0; i < R * IN; i++) amax = fmaxf(amax, fabsf(A[i]));
    CHECK(amax <= bound * (1 + 1e-6f) && amax > 0.9f * bound);
    for (int i = 0; i < OUT * R; i++) CHECK(B[i] == 0);
    /* the same seed draws the same A */
    float *A2 = malloc(R * IN * sizeof(float));
    wanc_torch_gen_seed(&g, 1);
    wanc_lora_init(&g, A2, B, R, IN, OUT);
    CHECK(!memcmp(A, A2, R * IN * sizeof(float)));
    free(A);
    free(A2);
    free(B);
}
