/* Wan2.1 VAE unit tests: tile placement and masks, config inference from a
 * random checkpoint, named errors, causality of the chunked runs, tiling
 * with one covering tile, bf16 mode. Runs on a tiny random model written to
 * /tmp (no fixture tree needed). */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "backend/backend.h"
#include "io/weights.h"
#include "test.h"
#include "vae/wan_vae.h"

/* A tiny random Wan2.1 VAE (width 8), written once per process. */
static char tiny_path[64];

static const char *tiny_model(void)
{
    char *path = tiny_path;
    if (!path[0]) {
        snprintf(path, sizeof tiny_path, "/tmp/wanc_test_vae_%d.safetensors", (int)getpid());
        wanc_err err = wanc_vae21_write_random(path, 8, WANC_F32, 7);
        if (err) {
            fprintf(stderr, "  writing %s: %s\n", path, wanc_error_message(err));
            wanc_error_free(err);
            path[0] = 0;
            return NULL;
        }
    }
    return path;
}

static void cleanup(void)
{
    if (tiny_path[0]) unlink(tiny_path);
}
__attribute__((constructor)) static void register_cleanup(void) { atexit(cleanup); }

static float *pattern(int64_t n, unsigned seed, float amp)
{
    float *x = malloc((size_t)n * sizeof(float));
    for (int64_t i = 0; x && i < n; i++) x[i] = amp * ((float)(((uint64_t)i * 2654435761u + seed) % 2001) / 1000.0f - 1.0f);
    return x;
}

TEST(vae_tile_plan_follows_the_reference)
{
    /* 12 x 14 latents, tiles 6x8 every 4x5: starts 0,4,8 (12 skipped: 8+6 reached the border)
     * and 0,5,10 (15 skipped), cut at 12 / 14. */
    const int size[2] = {6, 8}, stride[2] = {4, 5};
    wanc_vae_tile t[16];
    int64_t n;
    CHECK_OK(wanc_vae_tile_plan(t, 16, &n, 12, 14, size, stride));
    CHECK(n == 9);
    CHECK(t[0].h0 == 0 && t[0].h1 == 6 && t[0].w0 == 0 && t[0].w1 == 8);
    CHECK(t[2].w0 == 10 && t[2].w1 == 14);
    CHECK(t[8].h0 == 8 && t[8].h1 == 12 && t[8].w0 == 10 && t[8].w1 == 14);
    /* A grid smaller than one tile is one cut tile. */
    const int big[2] = {30, 52}, bstride[2] = {15, 26};
    CHECK_OK(wanc_vae_tile_plan(t, 16, &n, 4, 6, big, bstride));
    CHECK(n == 1 && t[0].h1 == 4 && t[0].w1 == 6);
    /* 60 x 104 with the pipeline defaults: rows 0, 15, 30; columns 0, 26, 52. */
    CHECK_OK(wanc_vae_tile_plan(NULL, 0, &n, 60, 104, big, bstride));
    CHECK(n == 9);
    const int zero[2] = {0, 4};
    CHECK_ERR(wanc_vae_tile_plan(NULL, 0, &n, 8, 8, zero, stride), WANC_EINVAL, "positive");
}

TEST(vae_tile_mask_ramps)
{
    /* An inner 32-px tile with bw 24: the near ramp 1..24/24, then the far one
     * (24..1)/24 written over it from index 8: [1..8]/24 followed by [24..1]/24. */
    float m[32];
    const bool inner[4] = {true, true, false, false};
    wanc_vae_tile_mask(m, 1, 32, inner, 0, 24);
    for (int i = 0; i < 8; i++) CHECK(m[i] == (float)(i + 1) / 24.0f);
    for (int i = 8; i < 32; i++) CHECK(m[i] == (float)(32 - i) / 24.0f);
    /* Borders get 1; the 2-D mask is the minimum of the two ramps. */
    float m2[4 * 4];
    const bool left_top[4] = {true, false, true, false};
    wanc_vae_tile_mask(m2, 4, 4, left_top, 2, 2);
    CHECK(m2[0] == 1.0f);
    CHECK(m2[3] == 0.5f);          /* last column: far ramp 1/2 */
    CHECK(m2[2 * 4 + 0] == 1.0f);  /* row 2 of 4 with bw 2 is the far ramp's 2/2 */
    CHECK(m2[3 * 4 + 3] == 0.5f);
}

TEST(vae_config_inferred_from_tensors)
{
    const char *path = tiny_model();
    CHECK(path != NULL);
    if (!path) return;
    wanc_vae21 *m = NULL;
    CHECK_OK(wanc_vae21_open(&m, path, wanc_backend_cpu()));
    if (!m) return;
    const wanc_vae21_config *c = wanc_vae21_config_of(m);
    CHECK(c->dim == 8 && c->z_dim == 16 && c->num_stages == 4 && c->num_res_blocks == 2);
    CHECK(c->dim_mult[0] == 1 && c->dim_mult[1] == 2 && c->dim_mult[2] == 4 && c->dim_mult[3] == 4);
    CHECK(!c->temporal_down[0] && c->temporal_down[1] && c->temporal_down[2]);
    wanc_vae21_free(m);
}

static int drop_one(char *dst, size_t cap, const char *src, void *user)
{
    if (!strcmp(src, (const char *)user)) return 0;
    snprintf(dst, cap, "%s", src);
    return 1;
}

static int rename_to_wan22(char *dst, size_t cap, const char *src, void *user)
{
    (void)user;
    if (!strcmp(src, "encoder.downsamples.0.residual.0.gamma"))
        snprintf(dst, cap, "encoder.downsamples.0.downsamples.0.residual.0.gamma");
    else snprintf(dst, cap, "%s", src);
    return 1;
}

TEST(vae_named_errors)
{
    const char *path = tiny_model();
    if (!path) return;
    wanc_weights *w = NULL;
    wanc_vae21 *m = NULL;
    /* A missing tensor is named. */
    CHECK_OK(wanc_weights_open(&w, path));
    CHECK_OK(wanc_weights_rename(w, drop_one, "decoder.upsamples.4.residual.6.bias"));
    CHECK_ERR(wanc_vae21_load(&m, w, wanc_backend_cpu()), WANC_ENOTFOUND, "decoder.upsamples.4.residual.6.bias");
    wanc_weights_close(w);
    /* The Wan2.2 layout is recognised and refused. */
    CHECK_OK(wanc_weights_open(&w, path));
    CHECK_OK(wanc_weights_rename(w, rename_to_wan22, NULL));
    CHECK_ERR(wanc_vae21_load(&m, w, wanc_backend_cpu()), WANC_EUNSUPPORTED, "Wan2.2");
    wanc_weights_close(w);
    /* Bad call shapes. */
    CHECK_OK(wanc_vae21_open(&m, path, wanc_backend_cpu()));
    if (!m) return;
    wanc_vae_opts o = {0};
    float buf[16 * 16 * 3 * 8];
    CHECK_ERR(wanc_vae21_encode(m, buf, buf, 4, 16, 16, &o), WANC_EINVAL, "4k+1");
    CHECK_ERR(wanc_vae21_encode(m, buf, buf, 1, 12, 16, &o), WANC_EINVAL, "multiple of 8");
    CHECK_ERR(wanc_vae21_decode(m, buf, buf, 15, 1, 2, 2, &o), WANC_ESHAPE, "15 channels, expected 16");
    o.tiled = true;
    CHECK_ERR(wanc_vae21_decode(m, buf, buf, 16, 1, 2, 2, &o), WANC_EINVAL, "tile");
    wanc_vae21_free(m);
}

/* The chunked runs are causal: a prefix of the input gives a prefix of the output. */
TEST(vae_chunking_is_causal)
{
    const char *path = tiny_model();
    if (!path) return;
    wanc_vae21 *m = NULL;
    CHECK_OK(wanc_vae21_open(&m, path, wanc_backend_cpu()));
    if (!m) return;
    wanc_vae_opts o = {0};
    const int64_t h = 2, w = 3, H = 16, W = 24, P = H * W;
    float *lat = pattern(16 * 3 * h * w, 3, 1.0f);
    float *v9 = calloc(3 * 9 * P, sizeof(float)), *v5 = calloc(3 * 5 * P, sizeof(float));
    float *lat2 = malloc(16 * 2 * h * w * sizeof(float));
    for (int c = 0; c < 16; c++) memcpy(lat2 + c * 2 * h * w, lat + c * 3 * h * w, 2 * h * w * sizeof(float));
    CHECK_OK(wanc_vae21_decode(m, v9, lat, 16, 3, h, w, &o));
    CHECK_OK(wanc_vae21_decode(m, v5, lat2, 16, 2, h, w, &o));
    double diff = 0;
    for (int c = 0; c < 3; c++)
        for (int64_t i = 0; i < 5 * P; i++) diff = fmax(diff, fabs(v9[c * 9 * P + i] - v5[c * 5 * P + i]));
    CHECK(diff == 0);
    /* The output is in [-1, 1] and not constant. */
    float lo = 1, hi = -1;
    for (int64_t i = 0; i < 3 * 9 * P; i++) lo = fminf(lo, v9[i]), hi = fmaxf(hi, v9[i]);
    CHECK(lo >= -1.0f && hi <= 1.0f && hi - lo > 0.1f);

    /* encode(9 frames)[:2] == encode(5 frames) */
    float *vid = pattern(3 * 9 * P, 5, 0.9f), *vid5 = malloc(3 * 5 * P * sizeof(float));
    for (int c = 0; c < 3; c++) memcpy(vid5 + c * 5 * P, vid + c * 9 * P, 5 * P * sizeof(float));
    float *z3 = calloc(16 * 3 * h * w, sizeof(float)), *z2 = calloc(16 * 2 * h * w, sizeof(float));
    CHECK_OK(wanc_vae21_encode(m, z3, vid, 9, H, W, &o));
    CHECK_OK(wanc_vae21_encode(m, z2, vid5, 5, H, W, &o));
    diff = 0;
    for (int c = 0; c < 16; c++)
        for (int64_t i = 0; i < 2 * h * w; i++) diff = fmax(diff, fabs(z3[c * 3 * h * w + i] - z2[c * 2 * h * w + i]));
    CHECK(diff == 0);
    free(lat), free(lat2), free(v9), free(v5), free(vid), free(vid5), free(z3), free(z2);
    wanc_vae21_free(m);
}

TEST(vae_single_tile_equals_untiled_and_bf16_is_sane)
{
    const char *path = tiny_model();
    if (!path) return;
    wanc_vae21 *m = NULL;
    CHECK_OK(wanc_vae21_open(&m, path, wanc_backend_cpu()));
    if (!m) return;
    const int64_t h = 3, w = 3, T = 2, n = 3 * 5 * 24 * 24;
    float *lat = pattern(16 * T * h * w, 11, 1.0f);
    float *a = calloc(n, sizeof(float)), *b = calloc(n, sizeof(float)), *c = calloc(n, sizeof(float));
    wanc_vae_opts o;
    wanc_vae_opts_default(&o); /* (30, 52) tiles: one tile covers 3x3 latents */
    CHECK_OK(wanc_vae21_decode(m, a, lat, 16, T, h, w, &o));
    o.tiled = false;
    CHECK_OK(wanc_vae21_decode(m, b, lat, 16, T, h, w, &o));
    CHECK(memcmp(a, b, n * sizeof(float)) == 0);
    /* Two overlapping 2x2 tiles per axis blend to a different but bounded result. */
    o.tiled = true;
    o.tile_size[0] = o.tile_size[1] = 2;
    o.tile_stride[0] = o.tile_stride[1] = 1;
    CHECK_OK(wanc_vae21_decode(m, c, lat, 16, T, h, w, &o));
    double d = 0;
    for (int64_t i = 0; i < n; i++) d = fmax(d, fabs(c[i] - b[i]));
    CHECK(d < 2.0 && d > 0);
    /* bf16 mode: every output value is a bf16 value, and close to fp32. */
    o = (wanc_vae_opts){.bf16 = true};
    CHECK_OK(wanc_vae21_decode(m, c, lat, 16, T, h, w, &o));
    double se = 0, sr = 0;
    int not_bf16 = 0;
    for (int64_t i = 0; i < n; i++) {
        not_bf16 += wanc_round_bf16(c[i]) != c[i];
        se += (c[i] - b[i]) * (c[i] - b[i]);
        sr += b[i] * b[i];
    }
    CHECK(not_bf16 == 0);
    CHECK(sqrt(se / sr) < 0.05);
    /* ... also when tiled (bf16 blend buffers, as the reference). */
    o.tiled = true;
    o.tile_size[0] = o.tile_size[1] = 2;
    o.tile_stride[0] = o.tile_stride[1] = 1;
    CHECK_OK(wanc_vae21_decode(m, c, lat, 16, T, h, w, &o));
    not_bf16 = 0;
    for (int64_t i = 0; i < n; i++) not_bf16 += wanc_round_bf16(c[i]) != c[i] || !(fabsf(c[i]) <= 1.0f);
    CHECK(not_bf16 == 0);
    free(lat), free(a), free(b), free(c);
    wanc_vae21_free(m);
}
