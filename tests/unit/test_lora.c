/* LoRA files: dialect detection, binding (kohya / diffusers renaming),
 * named errors (unmatched keys, rank and shape mismatch), fusion math and the
 * run-time term. Every file is written here, at test time. */
#include <stdlib.h>
#include <string.h>

#include "backend/backend.h"
#include "dit/dit_lora.h"
#include "dit/wan_dit.h"
#include "io/weights.h"
#include "lora/lora.h"
#include "test.h"
#include "train/lora_setup.h"

typedef struct {
    const char *name;
    wanc_dtype dt;
    int ndim;
    int64_t shape[4];
    float base; /* values base + 0.01 · i (or `base` alone for a scalar) */
} spec;

/* Write the tensors of `specs` to dir/file; returns the path in buf. */
static const char *write_file(char *buf, size_t cap, const char *dir, const char *file, const spec *specs, int n)
{
    snprintf(buf, cap, "%s/%s", dir, file);
    const char *names[32];
    wanc_tensor ts[32];
    for (int i = 0; i < n; i++) {
        names[i] = specs[i].name;
        wanc_tensor_alloc(&ts[i], specs[i].dt, specs[i].ndim, specs[i].shape);
        int64_t m = wanc_tensor_numel(&ts[i]);
        float *v = malloc(sizeof(float) * (size_t)m);
        for (int64_t k = 0; k < m; k++) v[k] = specs[i].base + 0.01f * (float)((k * 7) % 13) - 0.05f * (m > 1);
        wanc_convert(ts[i].data, specs[i].dt, v, WANC_F32, (size_t)m);
        free(v);
    }
    wanc_err err = wanc_safetensors_write(buf, n, names, ts, NULL);
    for (int i = 0; i < n; i++) wanc_tensor_free(&ts[i]);
    if (err) {
        fprintf(stderr, "  write %s: %s\n", buf, wanc_error_message(err));
        wanc_error_free(err);
    }
    return buf;
}

/* A tiny "model": two linears of a block, a norm, the head; bf16 like a release. */
static const spec model_specs[] = {
    {"blocks.0.self_attn.q.weight", WANC_BF16, 2, {4, 6}, 0.1f},
    {"blocks.0.self_attn.q.bias", WANC_BF16, 1, {4}, 0.0f},
    {"blocks.0.ffn.0.weight", WANC_BF16, 2, {8, 4}, -0.1f},
    {"blocks.0.ffn.0.bias", WANC_BF16, 1, {8}, 0.0f},
    {"blocks.0.norm3.weight", WANC_F32, 1, {4}, 1.0f},
    {"head.head.weight", WANC_F32, 2, {3, 4}, 0.2f},
    {"blocks.0.modulation", WANC_F32, 3, {1, 6, 4}, 0.0f},
};

static wanc_weights *open_model(const char *dir)
{
    char p[512];
    write_file(p, sizeof p, dir, "model.safetensors", model_specs, 7);
    wanc_weights *w = NULL;
    wanc_err err = wanc_weights_open(&w, p);
    if (err) wanc_error_free(err);
    return w;
}

TEST(lora_dialects_detected_and_bound)
{
    char dir[256], p[512];
    if (!test_make_tmpdir(dir, sizeof dir, "lora")) {
        CHECK(0);
        return;
    }
    wanc_weights *model = open_model(dir);
    CHECK(model != NULL);
    static const struct {
        const char *file;
        spec s[3];
        int n;
        wanc_lora_dialect dialect;
        const char *target;
        double scale;
    } cases[] = {
        {"ds.safetensors",
         {{"blocks.0.self_attn.q.lora_A.default.weight", WANC_BF16, 2, {2, 6}, 0.1f},
          {"blocks.0.self_attn.q.lora_B.default.weight", WANC_BF16, 2, {4, 2}, 0.1f}},
         2, WANC_LORA_DIFFSYNTH, "blocks.0.self_attn.q.weight", 1.0},
        {"prefixed.safetensors",
         {{"diffusion_model.blocks.0.ffn.0.alpha", WANC_F32, 0, {0}, 1.0f},
          {"diffusion_model.blocks.0.ffn.0.lora_down.weight", WANC_F32, 2, {4, 4}, 0.1f},
          {"diffusion_model.blocks.0.ffn.0.lora_up.weight", WANC_F32, 2, {8, 4}, 0.1f}},
         3, WANC_LORA_DIFFSYNTH, "blocks.0.ffn.0.weight", 0.25},
        {"kohya.safetensors",
         {{"lora_unet_blocks_0_self_attn_q.alpha", WANC_BF16, 0, {0}, 2.0f},
          {"lora_unet_blocks_0_self_attn_q.lora_down.weight", WANC_BF16, 2, {4, 6}, 0.1f},
          {"lora_unet_blocks_0_self_attn_q.lora_up.weight", WANC_BF16, 2, {4, 4}, 0.1f}},
         3, WANC_LORA_KOHYA, "blocks.0.self_attn.q.weight", 0.5},
        {"diffusers.safetensors",
         {{"transformer.blocks.0.attn1.to_q.lora_A.weight", WANC_F32, 2, {2, 6}, 0.1f},
          {"transformer.blocks.0.attn1.to_q.lora_B.weight", WANC_F32, 2, {4, 2}, 0.1f}},
         2, WANC_LORA_DIFFUSERS, "blocks.0.self_attn.q.weight", 1.0},
        {"diffusers_head.safetensors",
         {{"transformer.proj_out.lora_A.weight", WANC_F32, 2, {2, 4}, 0.1f},
          {"transformer.proj_out.lora_B.weight", WANC_F32, 2, {3, 2}, 0.1f}},
         2, WANC_LORA_DIFFUSERS, "head.head.weight", 1.0},
    };
    for (size_t k = 0; k < sizeof cases / sizeof *cases; k++) {
        wanc_lora *l = NULL;
        CHECK_OK(wanc_lora_open(&l, write_file(p, sizeof p, dir, cases[k].file, cases[k].s, cases[k].n)));
        if (!l) continue;
        CHECK(l->dialect == cases[k].dialect);
        CHECK(l->nlayers == 1);
        CHECK(fabs(l->layers[0].scale - cases[k].scale) < 1e-9);
        CHECK_OK(wanc_lora_bind(l, model, wanc_dit_diffusers_name, NULL, false, NULL));
        CHECK(l->layers[0].target && !strcmp(l->layers[0].target, cases[k].target));
        wanc_lora_close(l);
    }
    wanc_weights_close(model);
    test_rm_tree(dir);
}

TEST(lora_unmatched_and_mismatch_errors)
{
    char dir[256], p[512];
    if (!test_make_tmpdir(dir, sizeof dir, "lora")) {
        CHECK(0);
        return;
    }
    wanc_weights *model = open_model(dir);
    wanc_lora *l = NULL;
    const spec unmatched[] = {
        {"blocks.0.self_attn.q.lora_A.weight", WANC_F32, 2, {2, 6}, 0.1f},
        {"blocks.0.self_attn.q.lora_B.weight", WANC_F32, 2, {4, 2}, 0.1f},
        {"blocks.7.cross_attn.k.lora_A.weight", WANC_F32, 2, {2, 6}, 0.1f},
        {"blocks.7.cross_attn.k.lora_B.weight", WANC_F32, 2, {4, 2}, 0.1f},
        {"lora_te_text_model_encoder.scale", WANC_F32, 1, {2}, 0.1f},
    };
    CHECK_OK(wanc_lora_open(&l, write_file(p, sizeof p, dir, "u.safetensors", unmatched, 5)));
    if (l) {
        CHECK_ERR(wanc_lora_bind(l, model, NULL, NULL, false, NULL), WANC_ENOTFOUND,
                  "blocks.7.cross_attn.k.lora_A.weight");
        int count = -1;
        CHECK_OK(wanc_lora_bind(l, model, NULL, NULL, true, &count));
        CHECK(count == 3); /* the A/B pair and the stray key */
        CHECK(l->layers[0].target != NULL);
        wanc_lora_close(l);
    }
    /* A has rank 2, B rank 3 */
    const spec rank[] = {
        {"blocks.0.self_attn.q.lora_A.weight", WANC_F32, 2, {2, 6}, 0.1f},
        {"blocks.0.self_attn.q.lora_B.weight", WANC_F32, 2, {4, 3}, 0.1f},
    };
    CHECK_ERR(wanc_lora_open(&l, write_file(p, sizeof p, dir, "r.safetensors", rank, 2)), WANC_ESHAPE,
              "rank mismatch");
    /* B·A is [5, 6] but the target is [4, 6] */
    const spec shape[] = {
        {"blocks.0.self_attn.q.lora_A.weight", WANC_F32, 2, {2, 6}, 0.1f},
        {"blocks.0.self_attn.q.lora_B.weight", WANC_F32, 2, {5, 2}, 0.1f},
    };
    l = NULL;
    CHECK_OK(wanc_lora_open(&l, write_file(p, sizeof p, dir, "s.safetensors", shape, 2)));
    if (l) {
        CHECK_ERR(wanc_lora_bind(l, model, NULL, NULL, false, NULL), WANC_ESHAPE, "shape mismatch");
        wanc_lora_close(l);
    }
    /* a B without its A */
    const spec half[] = {{"blocks.0.self_attn.q.lora_B.weight", WANC_F32, 2, {4, 2}, 0.1f}};
    CHECK_ERR(wanc_lora_open(&l, write_file(p, sizeof p, dir, "h.safetensors", half, 1)), WANC_EFORMAT,
              "no matching lora_A");
    wanc_weights_close(model);
    test_rm_tree(dir);
}

static void load(const wanc_weights *w, const char *name, float *out)
{
    wanc_tensor_to_f32(out, wanc_weights_find(w, name));
}

TEST(lora_fuse_math_and_runtime_term)
{
    char dir[256], p[512];
    if (!test_make_tmpdir(dir, sizeof dir, "lora")) {
        CHECK(0);
        return;
    }
    wanc_weights *model = open_model(dir), *orig = open_model(dir);
    const spec sp[] = {
        {"diffusion_model.blocks.0.ffn.0.alpha", WANC_F32, 0, {0}, 2.0f},
        {"diffusion_model.blocks.0.ffn.0.lora_down.weight", WANC_F32, 2, {4, 4}, 0.3f},
        {"diffusion_model.blocks.0.ffn.0.lora_up.weight", WANC_F32, 2, {8, 4}, -0.2f},
        {"diffusion_model.blocks.0.norm3.diff", WANC_F32, 1, {4}, 0.5f},
        {"diffusion_model.blocks.0.ffn.0.diff_b", WANC_F32, 1, {8}, 0.25f},
        {"diffusion_model.blocks.0.diff_m", WANC_F32, 3, {1, 6, 4}, 0.5f}, /* lightx2v: → blocks.0.modulation */
    };
    wanc_lora *l = NULL;
    CHECK_OK(wanc_lora_open(&l, write_file(p, sizeof p, dir, "f.safetensors", sp, 6)));
    if (!l || !model || !orig) goto out;
    CHECK(l->nlayers == 4);
    CHECK_OK(wanc_lora_bind(l, model, NULL, NULL, false, NULL));
    const void *untouched = wanc_weights_find(model, "blocks.0.self_attn.q.weight")->data;
    wanc_lora_use use = {l, 0.7f};
    int fused = 0;
    CHECK_OK(wanc_lora_fuse(model, &use, 1, WANC_LORA_FUSE_ALL, &fused));
    CHECK(fused == 4);
    /* untouched weights are still the mapped ones; the fused one keeps its dtype */
    CHECK(wanc_weights_find(model, "blocks.0.self_attn.q.weight")->data == untouched);
    CHECK(wanc_weights_find(model, "blocks.0.ffn.0.weight")->dtype == WANC_BF16);
    float w0[32], w1[32], a[16], b[32], d[8], e[8];
    load(orig, "blocks.0.ffn.0.weight", w0);
    load(model, "blocks.0.ffn.0.weight", w1);
    load(l->file, "diffusion_model.blocks.0.ffn.0.lora_down.weight", a);
    load(l->file, "diffusion_model.blocks.0.ffn.0.lora_up.weight", b);
    double worst = 0;
    for (int i = 0; i < 8; i++)
        for (int j = 0; j < 4; j++) {
            double ba = 0;
            for (int r = 0; r < 4; r++) ba += (double)b[i * 4 + r] * a[r * 4 + j];
            double want = wanc_round_bf16((float)(w0[i * 4 + j] + 0.7 * (2.0 / 4.0) * ba));
            double diff = fabs(want - w1[i * 4 + j]);
            if (diff > worst) worst = diff;
        }
    CHECK(worst <= 1e-2 * 0.25); /* within one bf16 rounding of the float64 merge */
    load(orig, "blocks.0.norm3.weight", d);
    load(model, "blocks.0.norm3.weight", e);
    for (int i = 0; i < 4; i++) CHECK(fabs(e[i] - (d[i] + 0.7f * (0.5f + 0.01f * (float)((i * 7) % 13) - 0.05f))) < 1e-6);
    load(orig, "blocks.0.ffn.0.bias", d);
    load(model, "blocks.0.ffn.0.bias", e);
    for (int i = 0; i < 8; i++) CHECK(fabs(e[i] - wanc_round_bf16(d[i] + 0.7f * (0.25f + 0.01f * (float)((i * 7) % 13) - 0.05f))) < 1e-6);

    float m0[24], m1[24];
    load(orig, "blocks.0.modulation", m0);
    load(model, "blocks.0.modulation", m1);
    for (int i = 0; i < 24; i++) CHECK(fabs(m1[i] - (m0[i] + 0.7f * (0.5f + 0.01f * (float)((i * 7) % 13) - 0.05f))) < 1e-6);
    /* run time: y = x·W0ᵀ plus the chain equals x·(W0 + ΔW)ᵀ in float32 */
    wanc_lora_runtime *rt = NULL;
    CHECK_OK(wanc_lora_runtime_build(&rt, wanc_backend_cpu(), orig, &use, 1));
    CHECK(wanc_lora_runtime_count(rt) == 1);
    const wanc_lora_delta *chain = wanc_lora_runtime_find(rt, "blocks.0.ffn.0.weight");
    CHECK(chain && chain->rank == 4 && fabs(chain->scale - 0.35f) < 1e-7);
    float x[2 * 4] = {1, -2, 0.5f, 3, 0.25f, 1, -1, 2}, y[2 * 8] = {0};
    if (chain) CHECK_OK(wanc_lora_delta_apply(wanc_backend_cpu(), y, x, 2, chain));
    for (int m = 0; m < 2; m++)
        for (int i = 0; i < 8; i++) {
            double want = 0;
            for (int j = 0; j < 4; j++) {
                double ba = 0;
                for (int r = 0; r < 4; r++) ba += (double)b[i * 4 + r] * a[r * 4 + j];
                want += 0.35 * ba * x[m * 4 + j];
            }
            CHECK(fabs(y[m * 8 + i] - want) < 1e-5);
        }
    wanc_lora_runtime_free(rt);
out:
    wanc_lora_close(l);
    wanc_weights_close(model);
    wanc_weights_close(orig);
    test_rm_tree(dir);
}

/* What `wanc train` writes (DiffSynth's ModelLogger form) reads back as the diffsynth dialect. */
TEST(lora_written_by_train_loads_as_diffsynth)
{
    char dir[256], p[512];
    if (!test_make_tmpdir(dir, sizeof dir, "lora")) {
        CHECK(0);
        return;
    }
    wanc_weights *model = open_model(dir);
    float a[2 * 6], b[4 * 2];
    for (int i = 0; i < 12; i++) a[i] = 0.1f * (float)(i % 5) - 0.2f;
    for (int i = 0; i < 8; i++) b[i] = 0.05f * (float)(i % 3);
    const char *names[2] = {"blocks.0.self_attn.q.lora_A.default.weight", "blocks.0.self_attn.q.lora_B.default.weight"};
    const float *data[2] = {a, b};
    const int64_t shapes[2][2] = {{2, 6}, {4, 2}};
    snprintf(p, sizeof p, "%s/trained.safetensors", dir);
    CHECK_OK(wanc_lora_save(p, 2, names, data, shapes, WANC_BF16));
    wanc_lora *l = NULL;
    CHECK_OK(wanc_lora_open(&l, p));
    if (l) {
        CHECK(l->dialect == WANC_LORA_DIFFSYNTH && !strcmp(l->adapter, "default"));
        CHECK(l->nlayers == 1 && l->layers[0].rank == 2 && l->layers[0].scale == 1.0);
        CHECK_OK(wanc_lora_bind(l, model, wanc_dit_diffusers_name, NULL, false, NULL));
        CHECK(l->layers[0].target && !strcmp(l->layers[0].target, "blocks.0.self_attn.q.weight"));
        wanc_lora_close(l);
    }
    wanc_weights_close(model);
    test_rm_tree(dir);
}

/* An expert opened only to read its config (dit_lora_probe, the low-noise
 * expert at a two-expert load) binds its LoRAs, so a LoRA that fits nothing
 * is still the load's error, but fuses nothing: its weights stay the mapped
 * file's. dit_lora_open of the same fuses (the weight changes). */
TEST(lora_probe_binds_without_fusing)
{
    const char *dit = "tests/data/fixtures/lora_dit/diffusion_pytorch_model.safetensors";
    const char *weight = "blocks.0.self_attn.q.weight";
    wanc_lora_spec spec = {"tests/data/fixtures/lora_dit/lora_a_diffsynth.safetensors", 1.0f, WANC_LORA_ALL_EXPERTS};
    wanc_dit_options opt = {.num_heads = 2, .precision = WANC_DIT_FP32};
    char summary[512] = "";
    wanc_weights *base = NULL;
    CHECK_OK(wanc_weights_open(&base, dit));
    dit_with_lora probed = {0}, opened = {0};
    CHECK_OK(dit_lora_probe(&probed, wanc_backend_cpu(), dit, &opt, &spec, 1, WANC_LORA_FUSED, false, 1, 2, summary,
                            sizeof summary));
    CHECK(probed.dit && strstr(summary, "fused") && strstr(summary, "low-noise expert"));
    CHECK_OK(dit_lora_open(&opened, wanc_backend_cpu(), dit, &opt, &spec, 1, WANC_LORA_FUSED, false, 1, 2, NULL, 0));
    const wanc_tensor *w0 = base ? wanc_weights_find(base, weight) : NULL,
                      *wp = probed.store ? wanc_weights_find(probed.store, weight) : NULL,
                      *wo = opened.store ? wanc_weights_find(opened.store, weight) : NULL;
    CHECK(w0 && wp && wo);
    if (w0 && wp && wo) {
        size_t bytes = (size_t)wanc_tensor_numel(w0) * wanc_dtype_size(w0->dtype);
        CHECK(memcmp(wp->data, w0->data, bytes) == 0);
        CHECK(memcmp(wo->data, w0->data, bytes) != 0);
    }
    dit_lora_free(&probed);
    dit_lora_free(&opened);
    /* a file that is no LoRA of this DiT: the probe reports it as the load would */
    wanc_lora_spec other = {"tests/data/fixtures/lora_dit/diffusion_pytorch_model.safetensors", 1.0f,
                            WANC_LORA_ALL_EXPERTS};
    wanc_err err = dit_lora_probe(&probed, wanc_backend_cpu(), dit, &opt, &other, 1, WANC_LORA_FUSED, false, 1, 2,
                                  NULL, 0);
    CHECK(err != NULL);
    wanc_error_free(err);
    wanc_weights_close(base);
}
