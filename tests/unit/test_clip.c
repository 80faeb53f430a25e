/* Unit tests of the image resamplers, the I2V mask assembly and the CLIP
 * loader's config inference (the numerics against torch/Pillow are pinned by
 * the clip/ and preprocess/ fixtures). */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "backend/backend.h"
#include "core/threads.h"
#include "io/weights.h"
#include "pipeline/image_cond.h"
#include "test.h"
#include "vision/clip.h"
#include "vision/resample.h"

TEST(resize_pil_constant_image_stays_constant)
{
    /* the fixed-point weights of every output sum to 1 (± rounding that the half-offset absorbs) */
    enum { H = 13, W = 17 };
    uint8_t in[H * W * 3], up[40 * 31 * 3], down[5 * 4 * 3];
    for (int i = 0; i < H * W * 3; i++) in[i] = (uint8_t)(i % 3 == 0 ? 200 : i % 3 == 1 ? 0 : 255);
    CHECK_OK(wanc_resize_pil_bicubic(up, 40, 31, in, H, W, W * 3));
    CHECK_OK(wanc_resize_pil_bicubic(down, 5, 4, in, H, W, W * 3));
    int bad = 0;
    for (int i = 0; i < 40 * 31 * 3; i++) bad += up[i] != in[i % 3];
    for (int i = 0; i < 5 * 4 * 3; i++) bad += down[i] != in[i % 3];
    CHECK(bad == 0);
}

TEST(resize_pil_same_size_copies_and_honours_row_stride)
{
    uint8_t in[4 * 10 * 3], out[4 * 3 * 3];
    for (int i = 0; i < 4 * 10 * 3; i++) in[i] = (uint8_t)(i * 7);
    /* a 4x3 window starting at column 2 of a 4x10 image */
    CHECK_OK(wanc_resize_pil_bicubic(out, 4, 3, in + 2 * 3, 4, 3, 10 * 3));
    int bad = 0;
    for (int y = 0; y < 4; y++)
        for (int x = 0; x < 9; x++) bad += out[y * 9 + x] != in[y * 30 + 6 + x];
    CHECK(bad == 0);
}

TEST(resize_rejects_bad_sizes)
{
    uint8_t buf[12] = {0};
    CHECK_ERR(wanc_resize_pil_bicubic(buf, 0, 2, buf, 2, 2, 6), WANC_EINVAL, "bad sizes");
    CHECK_ERR(wanc_resize_pil_bicubic(buf, 2, 2, buf, 2, 2, 3), WANC_EINVAL, "row stride");
    CHECK_ERR(wanc_crop_and_resize(buf, 2, 2, buf, -1, 2), WANC_EINVAL, "crop_and_resize");
    float f[4] = {0};
    CHECK_ERR(wanc_interpolate_bicubic(f, 2, 2, f, 0, 2, 2), WANC_EINVAL, "interpolate");
}

TEST(crop_for_aspect_centres_the_crop)
{
    int y0, x0, ch, cw;
    /* 50x71 to 32x48: the source is relatively taller, keep the width */
    wanc_crop_for_aspect(&y0, &x0, &ch, &cw, 50, 71, 32, 48);
    CHECK(cw == 71 && ch == 47 && x0 == 0 && y0 == 1);
    /* 100x300 to 32x48: the source is relatively wider, crop the width to int(100/32·48) = 150 */
    wanc_crop_for_aspect(&y0, &x0, &ch, &cw, 100, 300, 32, 48);
    CHECK(ch == 100 && cw == 150 && y0 == 0 && x0 == 75);
}

TEST(pixel_to_float_matches_the_formula)
{
    CHECK(wanc_pixel_to_float(0, false) == -1.0f);
    CHECK(wanc_pixel_to_float(255, false) == (float)255 * (float)(2.0 / 255.0) - 1.0f);
    CHECK_NEAR(wanc_pixel_to_float(128, false), 128.0 * 2 / 255 - 1, 1e-6);
    /* bf16 rounding happens after each op */
    float b = wanc_pixel_to_float(77, true);
    CHECK(b == wanc_round_bf16(wanc_round_bf16(77.0f * (float)(2.0 / 255.0)) - 1.0f));
    uint8_t px[2 * 3] = {0, 255, 51, 102, 153, 204};
    float t[6];
    wanc_image_to_tensor(t, px, 1, 2); /* HWC → CHW */
    CHECK(t[0] == wanc_pixel_to_float(0, false) && t[1] == wanc_pixel_to_float(102, false));
    CHECK(t[2] == wanc_pixel_to_float(255, false) && t[5] == wanc_pixel_to_float(204, false));
}

TEST(interpolate_bicubic_identity_and_constant)
{
    enum { H = 5, W = 7 };
    float in[2 * H * W], same[2 * H * W], up[2 * 9 * 16];
    for (int i = 0; i < 2 * H * W; i++) in[i] = (float)((i * 37) % 11) - 5.0f;
    CHECK_OK(wanc_interpolate_bicubic(same, H, W, in, 2, H, W));
    int bad = 0;
    for (int i = 0; i < 2 * H * W; i++) bad += same[i] != in[i];
    CHECK(bad == 0);
    for (int i = 0; i < 2 * H * W; i++) in[i] = i < H * W ? 0.25f : -0.5f;
    CHECK_OK(wanc_interpolate_bicubic(up, 9, 16, in, 2, H, W));
    double worst = 0;
    for (int i = 0; i < 2 * 9 * 16; i++) {
        double d = fabs(up[i] - (i < 9 * 16 ? 0.25 : -0.5));
        if (d > worst) worst = d;
    }
    CHECK(worst < 1e-6);
}

TEST(i2v_mask_layout)
{
    enum { F = 9, T = 3, H = 16, W = 8 };
    float m[4 * T * 2 * 1];
    CHECK_OK(wanc_i2v_mask(m, F, H, W, false));
    /* latent frame 0 = the 4 copies of frame 0; frames 1..8 are zero */
    for (int c = 0; c < 4; c++)
        for (int t = 0; t < T; t++)
            for (int i = 0; i < 2; i++) CHECK(m[(c * T + t) * 2 + i] == (t == 0 ? 1.0f : 0.0f));
    CHECK_OK(wanc_i2v_mask(m, F, H, W, true));
    /* the last frame (8) is extended position 11: latent frame 2, channel 3 */
    for (int c = 0; c < 4; c++)
        for (int t = 0; t < T; t++)
            CHECK(m[(c * T + t) * 2] == (t == 0 || (t == 2 && c == 3) ? 1.0f : 0.0f));
    CHECK_ERR(wanc_i2v_mask(m, 8, H, W, false), WANC_EINVAL, "4k+1");
    CHECK_ERR(wanc_i2v_mask(m, 1, H, W, true), WANC_EINVAL, "end image");
    CHECK(wanc_i2v_latent_frames(81) == 21);
}

TEST(i2v_vae_input_layout)
{
    float img[3 * 2], end[3 * 2], v[3 * 5 * 2];
    for (int i = 0; i < 6; i++) img[i] = (float)i + 1, end[i] = -(float)i - 1;
    CHECK_OK(wanc_i2v_vae_input(v, img, end, 5, 1, 2));
    for (int c = 0; c < 3; c++)
        for (int f = 0; f < 5; f++)
            for (int i = 0; i < 2; i++) {
                float want = f == 0 ? img[c * 2 + i] : f == 4 ? end[c * 2 + i] : 0.0f;
                CHECK(v[(c * 5 + f) * 2 + i] == want);
            }
    float y[5 * 1 * 1 * 2], mask[4 * 2] = {1, 1, 1, 1, 0, 0, 0, 0}, lat[2] = {7, 8};
    wanc_i2v_concat_y(y, mask, lat, 1, 1, 1, 2);
    CHECK(y[0] == 1 && y[7] == 0 && y[8] == 7 && y[9] == 8);
}

TEST(clip_config_from_shapes)
{
    char path[] = "/tmp/wanc_test_clip_XXXXXX.safetensors";
    int fd = mkstemps(path, 12);
    CHECK(fd >= 0);
    if (fd < 0) return;
    close(fd);
    /* width 40, 3 layers, patch 4, 16 px → grid 4, 17 tokens */
    CHECK_OK(wanc_clip_write_random(path, 40, 3, 4, 16, WANC_BF16, 7));
    wanc_weights *w = NULL;
    CHECK_OK(wanc_weights_open(&w, path));
    if (w) {
        wanc_clip *m = NULL;
        CHECK_ERR(wanc_clip_load(&m, w, 0), WANC_EINVAL, "multiple of the real head size 80");
        CHECK_ERR(wanc_clip_load(&m, w, 3), WANC_EINVAL, "does not split");
        CHECK_OK(wanc_clip_load(&m, w, 5));
        if (m) {
            const wanc_clip_config *c = wanc_clip_get_config(m);
            CHECK(c->width == 40 && c->layers == 3 && c->heads == 5 && c->head_dim == 8 && c->mlp == 160);
            CHECK(c->patch == 4 && c->grid == 4 && c->image_size == 16 && c->tokens == 17);
            CHECK(wanc_clip_flops(c) > 0);
        }
        wanc_clip_free(m);
        wanc_weights_close(w);
    }
    unlink(path);
}

TEST(clip_rejects_a_non_clip_store)
{
    char path[] = "/tmp/wanc_test_clip_bad_XXXXXX.safetensors";
    int fd = mkstemps(path, 12);
    CHECK(fd >= 0);
    if (fd < 0) return;
    close(fd);
    float data[4] = {0};
    wanc_tensor t = wanc_tensor_wrap(data, WANC_F32, 1, (int64_t[]){4});
    const char *name = "textual.head.0.weight";
    CHECK_OK(wanc_safetensors_write(path, 1, &name, &t, NULL));
    wanc_weights *w = NULL;
    CHECK_OK(wanc_weights_open(&w, path));
    if (w) {
        wanc_clip *m = NULL;
        CHECK_ERR(wanc_clip_load(&m, w, 16), WANC_ENOTFOUND, "visual.patch_embedding.weight");
        CHECK(m == NULL);
        wanc_weights_close(w);
    }
    unlink(path);
}

TEST(clip_encode_is_thread_count_independent)
{
    char path[] = "/tmp/wanc_test_clip_thr_XXXXXX.safetensors";
    int fd = mkstemps(path, 12);
    CHECK(fd >= 0);
    if (fd < 0) return;
    close(fd);
    /* width 48, 3 layers (2 run), patch 7, 28 px → 17 tokens */
    CHECK_OK(wanc_clip_write_random(path, 48, 3, 7, 28, WANC_F32, 3));
    wanc_weights *w = NULL;
    wanc_clip *m = NULL;
    CHECK_OK(wanc_weights_open(&w, path));
    if (w) CHECK_OK(wanc_clip_load(&m, w, 6));
    if (m) {
        enum { H = 20, W = 36, S = 28, LD = 17 * 48 };
        static float img[3 * H * W], x[3 * S * S], a[LD], b[LD];
        for (int i = 0; i < 3 * H * W; i++) img[i] = (float)((i * 7919) % 200) / 100.0f - 1.0f;
        CHECK_OK(wanc_clip_prepare_input(x, NULL, img, H, W, S, false));
        int saved = wanc_threads_get();
        wanc_threads_set(1);
        CHECK_OK(wanc_clip_encode(m, wanc_backend_cpu(), a, x, NULL, NULL));
        wanc_threads_set(2);
        CHECK_OK(wanc_clip_encode(m, wanc_backend_cpu(), b, x, NULL, NULL));
        wanc_threads_set(saved);
        CHECK(memcmp(a, b, sizeof a) == 0);
        /* bf16 mode: every output is a bf16 value, close to the float32 result */
        static float xb[3 * S * S], c16[LD];
        CHECK_OK(wanc_clip_prepare_input(xb, NULL, img, H, W, S, true));
        int not_bf16 = 0;
        for (int i = 0; i < 3 * S * S; i++) not_bf16 += xb[i] != wanc_round_bf16(xb[i]);
        wanc_clip_set_bf16(m, true);
        CHECK_OK(wanc_clip_encode(m, wanc_backend_cpu(), c16, xb, NULL, NULL));
        wanc_clip_set_bf16(m, false);
        double se = 0, sr = 0;
        for (int i = 0; i < LD; i++) {
            not_bf16 += c16[i] != wanc_round_bf16(c16[i]);
            se += (c16[i] - a[i]) * (double)(c16[i] - a[i]);
            sr += a[i] * (double)a[i];
        }
        CHECK(not_bf16 == 0);
        CHECK(sqrt(se / sr) < 2e-2 && sqrt(se / sr) > 0);
        double s = 0;
        for (int i = 0; i < LD; i++) s += fabs(a[i]);
        CHECK(s > 0 && isfinite(s));
        /* a wrong input size for this model is an error, not a crash */
        CHECK_ERR(wanc_clip_prepare_input(x, NULL, img, 0, W, S, false), WANC_EINVAL, "interpolate");
    }
    wanc_clip_free(m);
    wanc_weights_close(w);
    unlink(path);
}
