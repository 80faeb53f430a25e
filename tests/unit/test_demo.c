/* The demo model's pieces: the constructed Wan2.1 VAE (latents are block-mean
 * colours and their temporal slopes, decode(encode(clip)) is the clip at low
 * resolution, its motion kept inside each latent frame) and the
 * measurement of the toy scenes (colour, motion from frames), on clips
 * rendered by the dataset generator, before and after the VAE round trip. */
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "backend/backend.h"
#include "dit/dit_random.h"
#include "test.h"
#include "vae/wan_vae.h"
#include "wanc.h"

enum { S = 96, F = 17 };

/* frames u8 [F, S, S, 3] -> video [3, F, S, S] in [-1, 1] */
static void to_video(float *v, const uint8_t *fr)
{
    for (int c = 0; c < 3; c++)
        for (int i = 0; i < F * S * S; i++) v[(size_t)c * F * S * S + i] = fr[(size_t)i * 3 + c] / 127.5f - 1.0f;
}

static void to_frames(uint8_t *fr, const float *v)
{
    for (int c = 0; c < 3; c++)
        for (int i = 0; i < F * S * S; i++) {
            float x = (v[(size_t)c * F * S * S + i] + 1.0f) * 127.5f;
            fr[(size_t)i * 3 + c] = (uint8_t)(x < 0 ? 0 : x > 255 ? 255 : x);
        }
}

TEST(demo_constructed_vae_keeps_block_means)
{
    char dir[256], path[300];
    CHECK(test_make_tmpdir(dir, sizeof dir, "demo-vae"));
    snprintf(path, sizeof path, "%s/vae.safetensors", dir);
    CHECK_OK(wanc_vae21_write_constructed(path, 8));
    wanc_vae21 *m = NULL;
    CHECK_OK(wanc_vae21_open(&m, path, wanc_backend_cpu()));
    uint8_t *fr = malloc((size_t)F * S * S * 3), *back = malloc((size_t)F * S * S * 3);
    float *video = malloc((size_t)3 * F * S * S * sizeof(float)), *rec = malloc((size_t)3 * F * S * S * sizeof(float));
    const int T = (F - 1) / 4 + 1, h = S / 8;
    float *lat = malloc((size_t)16 * T * h * h * sizeof(float)), *lat_flat = malloc((size_t)16 * T * h * h * sizeof(float));
    float *rec_flat = malloc((size_t)3 * F * S * S * sizeof(float));
    wanc_vae_opts o;
    wanc_vae_opts_default(&o);
    double worst_mean = 0, sum_abs = 0, moving_err = 0, moving_err_flat = 0;
    int motions_ok = 0, colours_ok = 0, n = 0, n_moving = 0;
    for (int k = 0; m && k < WANC_TOY_MOTIONS * 2; k++) {
        wanc_toy_scene s = {k % 3, k % 5, k % WANC_TOY_MOTIONS, k % 3};
        wanc_toy_render(fr, F, S, S, &s, 100 + k);
        to_video(video, fr);
        CHECK_OK(wanc_vae21_encode(m, lat, video, F, S, S, &o));
        /* latent (c, t, i, j) = the mean of channel c over frame 0 (t = 0) or frames 4t-3..4t, block (i, j) */
        for (int c = 0; c < 16; c++)
            for (int t = 0; t < T; t++)
                for (int i = 0; i < h; i++)
                    for (int j = 0; j < h; j++) {
                        /* channel 3 + r: the slope of colour r, (frames 4t-1, 4t) minus (4t-3, 4t-2) */
                        double want = 0;
                        const int f0 = t ? 4 * t - 3 : 0, f1 = t ? 4 * t : 0, colour = c % 3;
                        for (int f = f0; c < 6 && f <= f1; f++) {
                            double weight = c < 3 ? 1.0 / (f1 - f0 + 1) : t == 0 ? 0 : f < f0 + 2 ? -0.5 : 0.5;
                            for (int y = 0; y < 8; y++)
                                for (int x = 0; x < 8; x++)
                                    want += weight * video[(((size_t)colour * F + f) * S + 8 * i + y) * S + 8 * j + x];
                        }
                        /* latents are 3x the colour, 9x its slope, 0 elsewhere */
                        const double scale = c >= 3 && c < 6 ? 9.0 : 3.0;
                        want *= scale / 64.0;
                        /* in colour units (SiLU's curvature at colour + 8 is the error) */
                        double d = fabs(lat[(((size_t)c * T + t) * h + i) * h + j] - want) / scale;
                        if (d > worst_mean) worst_mean = d;
                    }
        CHECK_OK(wanc_vae21_decode(m, rec, lat, 16, T, h, h, &o));
        double err = 0, err_flat = 0;
        for (size_t i = 0; i < (size_t)3 * F * S * S; i++) err += fabs(rec[i] - video[i]);
        sum_abs += err;
        /* the slopes carry the motion inside a latent frame: without them
         * (every frame of a latent frame its mean) a moving clip comes back worse */
        memcpy(lat_flat, lat, (size_t)16 * T * h * h * sizeof(float));
        memset(lat_flat + (size_t)3 * T * h * h, 0, (size_t)3 * T * h * h * sizeof(float));
        CHECK_OK(wanc_vae21_decode(m, rec_flat, lat_flat, 16, T, h, h, &o));
        for (size_t i = 0; i < (size_t)3 * F * S * S; i++) err_flat += fabs(rec_flat[i] - video[i]);
        if (s.motion < 4) moving_err += err, moving_err_flat += err_flat, n_moving++;
        to_frames(back, rec);
        /* the measurement reads the scene from the clip and from its round trip */
        wanc_toy_measurement a, b;
        CHECK_OK(wanc_toy_measure(fr, F, S, S, s.background, &a));
        CHECK_OK(wanc_toy_measure(back, F, S, S, s.background, &b));
        CHECK(a.found && a.colour == s.colour && a.motion == s.motion);
        motions_ok += b.found && b.motion == s.motion;
        colours_ok += b.found && b.colour == s.colour;
        n++;
        if (a.motion != s.motion || b.motion != s.motion || b.colour != s.colour)
            fprintf(stderr, "  scene %d: motion %d, measured %d / %d (dx %.2f dy %.2f growth %.2f), colour %d -> %d (rgb %.0f %.0f %.0f)\n",
                    k, s.motion, a.motion, b.motion, b.dx, b.dy, b.growth, s.colour, b.colour, b.rgb[0], b.rgb[1], b.rgb[2]);
    }
    fprintf(stderr, "  constructed VAE: latent vs block mean and slope max %.4f (colour units), round trip mean |error| %.4f (of 2), "
            "measured after it: motion %d/%d, colour %d/%d; moving clips %.4f, without the slopes %.4f\n",
            worst_mean, sum_abs / ((double)n * 3 * F * S * S), motions_ok, n, colours_ok, n,
            moving_err / ((double)n_moving * 3 * F * S * S), moving_err_flat / ((double)n_moving * 3 * F * S * S));
    CHECK(worst_mean < 0.01);
    CHECK(n_moving > 0 && moving_err < 0.9 * moving_err_flat);
    CHECK(motions_ok == n && colours_ok == n);
    wanc_vae21_free(m);
    free(fr);
    free(back);
    free(video);
    free(rec);
    free(rec_flat);
    free(lat);
    free(lat_flat);
    test_rm_tree(dir);
}

TEST(demo_dataset_holds_out_and_writes_the_layout)
{
    int held = 0;
    for (int sh = 0; sh < WANC_TOY_SHAPES; sh++)
        for (int co = 0; co < WANC_TOY_COLOURS; co++) held += wanc_toy_held_out(&(wanc_toy_scene){sh, co, 0, 0});
    CHECK(held == 5);
    CHECK(wanc_toy_held_out(&(wanc_toy_scene){2, 3, 4, 1})); /* yellow triangle */
    char cap[256];
    wanc_toy_caption(cap, sizeof cap, &(wanc_toy_scene){1, 2, 1, 1}, -1);
    CHECK(!strcmp(cap, "a blue square moving right on a gray background"));
    char dir[256], path[400];
    CHECK(test_make_tmpdir(dir, sizeof dir, "demo-ds"));
    CHECK_OK(wanc_make_dataset(dir, 6, 1, 32, 5, NULL, NULL));
    snprintf(path, sizeof path, "%s/metadata.csv", dir);
    FILE *f = fopen(path, "r");
    CHECK(f != NULL);
    int rows = 0;
    char line[512];
    while (f && fgets(line, sizeof line, f)) rows++;
    if (f) fclose(f);
    CHECK(rows == 7);
    uint8_t *fr = NULL;
    int T = 0, H = 0, W = 0;
    snprintf(path, sizeof path, "%s/train/000005.mp4", dir);
    CHECK_OK(wanc_video_load(path, &fr, &T, &H, &W));
    CHECK(T == 5 && H == 32 && W == 32);
    free(fr);
    CHECK_ERR(wanc_make_dataset(dir, 0, 1, 32, 5, NULL, NULL), WANC_EINVAL, "count");
    test_rm_tree(dir);
}

/* A trained demo DiT runs with the heads it states (wanc train writes
 * num_heads), not the start's 4: training may have used another count. */
TEST(demo_trained_dit_keeps_its_heads)
{
    char dir[256], dit[300];
    CHECK(test_make_tmpdir(dir, sizeof dir, "demo-heads"));
    snprintf(dit, sizeof dit, "%s/dit3.safetensors", dir);
    wanc_dit_config c = {.dim = 192, .in_dim = 16, .out_dim = 16, .ffn_dim = 512, .text_dim = 32, .freq_dim = 256,
                         .num_heads = 3, .num_layers = 1, .patch = {1, 2, 2}, .eps = 1e-6f};
    CHECK_OK(wanc_dit_random_write(dit, &c, WANC_F32, 5));
    wanc_pipeline_files files;
    int heads = -1;
    CHECK_OK(wanc_demo_write_models(dir, &files, &heads));
    CHECK(heads == 4);
    CHECK_OK(wanc_demo_write_trained(dir, dit, &files, &heads));
    CHECK(heads == 0); /* the pipeline reads the file's num_heads */
    wanc_pipeline_options o;
    wanc_demo_pipeline_options(&o);
    o.dit_heads = heads;
    wanc_pipeline *pipe = NULL;
    CHECK_OK(wanc_pipeline_load(&pipe, &files, &o));
    CHECK(pipe && strstr(wanc_pipeline_describe(pipe), "(3 heads)"));
    wanc_pipeline_free(pipe);
    test_rm_tree(dir);
}

/* The committed demo DiT on 20 held-out prompts (combinations kept out of its
 * training): each held-out (shape, colour) pair with each direction, the
 * backgrounds in turn, the demo's run (20 steps, seed 1000 + i), measured
 * from the frames. The DiT committed now is partly trained: it draws the
 * prompt's colour on its background, not yet its motion (models/demo/
 * README.md). So this checks colour only, at a bar between the committed
 * DiT (17 of 20 on avx2, avx512 and avx512bf16) and its untrained start (4),
 * above the earlier 2-head DiT (11): it fails if the trained file is lost,
 * replaced by a worse one, or the pipeline stops reading it right. #19's
 * targets (90 % colour and direction) are not met yet; the direction count
 * is printed. */
enum { DEMO_ADHERENCE_PROMPTS = 20, DEMO_COLOUR_BAR = 13 };
#define DEMO_TRAINED_DIT "models/demo/diffusion_pytorch_model.safetensors"

/* Held-out prompts measured on one demo model: how many of n come out in the
 * prompt's colour, and how many move the prompt's way. */
static void measure_held_out(int *failed, const char *dit, const wanc_toy_scene *scenes, int n, int *colour_ok,
                             int *direction_ok)
{
    int *test_failed_ = failed;
    char dir[256];
    *colour_ok = *direction_ok = 0;
    CHECK(test_make_tmpdir(dir, sizeof dir, "demo-adherence"));
    wanc_pipeline_files files;
    wanc_pipeline_options o;
    wanc_demo_pipeline_options(&o);
    wanc_err err = dit ? wanc_demo_write_trained(dir, dit, &files, &o.dit_heads)
                       : wanc_demo_write_models(dir, &files, &o.dit_heads);
    CHECK_OK(err);
    wanc_pipeline *pipe = NULL;
    if (!err) CHECK_OK(wanc_pipeline_load(&pipe, &files, &o));
    wanc_toy_measurement m[DEMO_ADHERENCE_PROMPTS];
    if (pipe) CHECK_OK(wanc_demo_measure_scenes(pipe, scenes, n, 1000, m));
    for (int i = 0; pipe && i < n; i++) {
        *colour_ok += m[i].colour == scenes[i].colour;
        *direction_ok += m[i].motion == scenes[i].motion;
    }
    wanc_pipeline_free(pipe);
    test_rm_tree(dir);
}

TEST(demo_trained_dit_follows_held_out_prompts)
{
    wanc_toy_scene held[WANC_TOY_SCENES], pairs[WANC_TOY_SHAPES * WANC_TOY_COLOURS], scenes[DEMO_ADHERENCE_PROMPTS];
    const int n = wanc_toy_list(held, true);
    int np = 0;
    for (int i = 0; i < n; i++) {
        bool seen = false;
        for (int k = 0; k < np; k++) seen |= pairs[k].shape == held[i].shape && pairs[k].colour == held[i].colour;
        if (!seen) pairs[np++] = held[i];
    }
    CHECK(np == 5);
    for (int i = 0; i < DEMO_ADHERENCE_PROMPTS; i++)
        scenes[i] = (wanc_toy_scene){pairs[i % np].shape, pairs[i % np].colour, i % 4, i % WANC_TOY_BACKGROUNDS};
    CHECK(access(DEMO_TRAINED_DIT, R_OK) == 0);
    int colour = 0, direction = 0, colour0 = 0, direction0 = 0;
    measure_held_out(test_failed_, DEMO_TRAINED_DIT, scenes, DEMO_ADHERENCE_PROMPTS, &colour, &direction);
    measure_held_out(test_failed_, NULL, scenes, DEMO_ADHERENCE_PROMPTS, &colour0, &direction0);
    fprintf(stderr, "  %d held-out prompts: colour %d, direction %d (the untrained start: %d, %d)\n",
            DEMO_ADHERENCE_PROMPTS, colour, direction, colour0, direction0);
    CHECK(colour >= DEMO_COLOUR_BAR && colour0 < DEMO_COLOUR_BAR);
}
