/* Wan2.2 VAE unit tests: config inferred from a random checkpoint with the
 * release layout, named errors (wrong layout, missing tensors, bad call
 * shapes), causality of the chunked runs. Runs on a tiny random model written
 * to /tmp (no fixture tree needed). */
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "backend/backend.h"
#include "io/weights.h"
#include "test.h"
#include "vae/wan_vae.h"

/* Tiny random models (Wan2.2 4 / 6 wide; Wan2.1 8 wide), written once per process. */
static char path22[64], path21[64];

static const char *tiny22(void)
{
    if (!path22[0]) {
        snprintf(path22, sizeof path22, "/tmp/wanc_test_vae22_%d.safetensors", (int)getpid());
        wanc_err err = wanc_vae22_write_random(path22, 4, 6, WANC_F32, 11);
        if (err) {
            fprintf(stderr, "  writing %s: %s\n", path22, wanc_error_message(err));
            wanc_error_free(err);
            path22[0] = 0;
            return NULL;
        }
    }
    return path22;
}

static const char *tiny21(void)
{
    if (!path21[0]) {
        snprintf(path21, sizeof path21, "/tmp/wanc_test_vae22_v21_%d.safetensors", (int)getpid());
        wanc_err err = wanc_vae21_write_random(path21, 8, WANC_F32, 7);
        if (err) {
            wanc_error_free(err);
            path21[0] = 0;
            return NULL;
        }
    }
    return path21;
}

static void cleanup(void)
{
    if (path22[0]) unlink(path22);
    if (path21[0]) unlink(path21);
}
__attribute__((constructor)) static void register_cleanup(void) { atexit(cleanup); }

static float *wave(int64_t n, unsigned seed, float amp)
{
    float *x = malloc((size_t)n * sizeof(float));
    for (int64_t i = 0; x && i < n; i++) x[i] = amp * sinf(0.37f * (float)i + (float)seed);
    return x;
}

TEST(vae22_config_inferred_from_tensors)
{
    const char *path = tiny22();
    CHECK(path != NULL);
    if (!path) return;
    wanc_vae22 *m = NULL;
    CHECK_OK(wanc_vae22_open(&m, path, wanc_backend_cpu()));
    if (!m) return;
    const wanc_vae_config *c = wanc_vae22_config_of(m);
    CHECK(c->dim == 4 && c->dec_dim == 6 && c->z_dim == 48 && c->num_stages == 4 && c->num_res_blocks == 2);
    CHECK(c->dim_mult[0] == 1 && c->dim_mult[1] == 2 && c->dim_mult[2] == 4 && c->dim_mult[3] == 4);
    CHECK(!c->temporal_down[0] && c->temporal_down[1] && c->temporal_down[2]);
    wanc_vae22_free(m);
}

static int drop_one(char *dst, size_t cap, const char *src, void *user)
{
    if (!strcmp(src, (const char *)user)) return 0;
    snprintf(dst, cap, "%s", src);
    return 1;
}

TEST(vae22_named_errors)
{
    const char *path = tiny22(), *p21 = tiny21();
    if (!path || !p21) return;
    wanc_weights *w = NULL;
    wanc_vae22 *m = NULL;
    wanc_vae21 *m21 = NULL;
    /* Each model refuses the other's layout, by name. */
    CHECK_ERR(wanc_vae22_open(&m, p21, wanc_backend_cpu()), WANC_EUNSUPPORTED, "Wan2.1 VAE");
    CHECK_ERR(wanc_vae21_open(&m21, path, wanc_backend_cpu()), WANC_EUNSUPPORTED, "Wan2.2 VAE");
    /* A missing tensor inside a stage is named. */
    CHECK_OK(wanc_weights_open(&w, path));
    CHECK_OK(wanc_weights_rename(w, drop_one, "decoder.upsamples.1.upsamples.3.time_conv.bias"));
    CHECK_ERR(wanc_vae22_load(&m, w, wanc_backend_cpu()), WANC_ENOTFOUND,
              "decoder.upsamples.1.upsamples.3.time_conv.bias");
    wanc_weights_close(w);
    /* Bad call shapes. */
    CHECK_OK(wanc_vae22_open(&m, path, wanc_backend_cpu()));
    if (!m) return;
    wanc_vae_opts o = {0};
    float buf[48 * 4];
    CHECK_ERR(wanc_vae22_encode(m, buf, buf, 2, 16, 16, &o), WANC_EINVAL, "4k+1");
    CHECK_ERR(wanc_vae22_encode(m, buf, buf, 1, 8, 16, &o), WANC_EINVAL, "multiple of 16");
    CHECK_ERR(wanc_vae22_decode(m, buf, buf, 16, 1, 2, 2, &o), WANC_ESHAPE, "16 channels, expected 48");
    CHECK_ERR(wanc_vae22_decode(m, buf, buf, 48, 0, 2, 2, &o), WANC_ESHAPE, "empty latents");
    CHECK_ERR(wanc_vae22_fuse_first_frame(m, buf, 0, buf, buf, 16, 16, &o), WANC_ESHAPE, "TI2V first frame");
    CHECK_ERR(wanc_vae22_fuse_first_frame(m, buf, 1, buf, buf, 16, 24, &o), WANC_EINVAL, "multiple of 16");
    wanc_vae22_free(m);
}

/* A prefix of the input gives a prefix of the output, 16x in space. */
TEST(vae22_chunking_is_causal)
{
    const char *path = tiny22();
    if (!path) return;
    wanc_vae22 *m = NULL;
    CHECK_OK(wanc_vae22_open(&m, path, wanc_backend_cpu()));
    if (!m) return;
    wanc_vae_opts o = {0};
    const int64_t h = 1, w = 2, H = 16, W = 32, P = H * W, z = 48;
    float *lat = wave(z * 3 * h * w, 3, 1.0f), *lat2 = malloc(z * 2 * h * w * sizeof(float));
    float *v9 = calloc(3 * 9 * P, sizeof(float)), *v5 = calloc(3 * 5 * P, sizeof(float));
    for (int c = 0; c < z; c++) memcpy(lat2 + c * 2 * h * w, lat + c * 3 * h * w, 2 * h * w * sizeof(float));
    CHECK_OK(wanc_vae22_decode(m, v9, lat, z, 3, h, w, &o));
    CHECK_OK(wanc_vae22_decode(m, v5, lat2, z, 2, h, w, &o));
    double diff = 0;
    for (int c = 0; c < 3; c++)
        for (int64_t i = 0; i < 5 * P; i++) diff = fmax(diff, fabs(v9[c * 9 * P + i] - v5[c * 5 * P + i]));
    CHECK(diff == 0);
    float lo = 1, hi = -1;
    for (int64_t i = 0; i < 3 * 9 * P; i++) lo = fminf(lo, v9[i]), hi = fmaxf(hi, v9[i]);
    CHECK(lo >= -1.0f && hi <= 1.0f && hi - lo > 0.01f);

    float *vid = wave(3 * 9 * P, 5, 0.9f), *vid5 = malloc(3 * 5 * P * sizeof(float));
    for (int c = 0; c < 3; c++) memcpy(vid5 + c * 5 * P, vid + c * 9 * P, 5 * P * sizeof(float));
    float *z3 = calloc(z * 3 * h * w, sizeof(float)), *z2 = calloc(z * 2 * h * w, sizeof(float));
    CHECK_OK(wanc_vae22_encode(m, z3, vid, 9, H, W, &o));
    CHECK_OK(wanc_vae22_encode(m, z2, vid5, 5, H, W, &o));
    diff = 0;
    for (int c = 0; c < z; c++)
        for (int64_t i = 0; i < 2 * h * w; i++) diff = fmax(diff, fabs(z3[c * 3 * h * w + i] - z2[c * 2 * h * w + i]));
    CHECK(diff == 0);
    CHECK(wanc_vae22_flops(m) > 0);
    /* bf16 mode (every op rounded) stays near fp32, and one covering tile equals untiled */
    float *zb = calloc(z * 3 * h * w, sizeof(float)), *zt = calloc(z * 3 * h * w, sizeof(float));
    o.bf16 = true;
    CHECK_OK(wanc_vae22_encode(m, zb, vid, 9, H, W, &o));
    o.bf16 = false;
    wanc_vae_opts_default(&o); /* tiled, (30, 52) latent tiles: one tile here */
    CHECK_OK(wanc_vae22_encode(m, zt, vid, 9, H, W, &o));
    double db = 0, dt = 0, amp = 0;
    for (int64_t i = 0; i < z * 3 * h * w; i++) {
        db = fmax(db, fabs(zb[i] - z3[i]));
        dt = fmax(dt, fabs(zt[i] - z3[i]));
        amp = fmax(amp, fabs(z3[i]));
    }
    CHECK(amp > 0 && db < 0.05 * amp + 0.05 && db > 0);
    CHECK(dt == 0);
    free(zb), free(zt);
    free(lat), free(lat2), free(v9), free(v5), free(vid), free(vid5), free(z3), free(z2);
    wanc_vae22_free(m);
}
