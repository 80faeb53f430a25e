#include <stdint.h>
#include <stdlib.h>

#include "core/arena.h"
#include "core/tensor.h"
#include "core/threads.h"
#include "test.h"

TEST(bf16_round_to_nearest_even)
{
    /* 1 + 2^-8 is halfway between two bf16 values: ties go to even (1.0). */
    CHECK(wanc_round_bf16(1.0f + 1.0f / 256) == 1.0f);
    CHECK(wanc_round_bf16(1.0f + 3.0f / 256) == 1.0f + 4.0f / 256);
    CHECK(wanc_round_bf16(937.5f) == 936.0f); /* the timestep example of the fixtures */
    CHECK(isnan(wanc_round_bf16(NAN)));
    CHECK(wanc_round_bf16(INFINITY) == INFINITY);
}

TEST(small_float_formats_roundtrip)
{
    /* Every code of the 8-bit formats decodes and re-encodes to itself (NaNs aside). */
    for (int v = 0; v < 256; v++) {
        float a = wanc_f8e4m3_to_f32((uint8_t)v), b = wanc_f8e5m2_to_f32((uint8_t)v);
        if (!isnan(a)) CHECK(wanc_f32_to_f8e4m3(a) == v);
        if (!isnan(b)) CHECK(wanc_f32_to_f8e5m2(b) == v);
    }
    CHECK(wanc_f8e4m3_to_f32(0x7e) == 448.0f);
    CHECK(isnan(wanc_f8e4m3_to_f32(0x7f)));
    for (uint32_t h = 0; h < 65536; h++) {
        float f = wanc_f16_to_f32((uint16_t)h);
        if (!isnan(f)) CHECK(wanc_f32_to_f16(f) == h);
    }
    CHECK(wanc_f32_to_f16(65520.0f) == 0x7c00); /* rounds to inf */
    CHECK(wanc_f16_to_f32(0x0001) == ldexpf(1, -24));
}

TEST(convert_and_shapes)
{
    float src[4] = {1.5f, -2.25f, 3.0f, 1e-3f};
    uint16_t bf[4];
    float back[4];
    CHECK_OK(wanc_convert(bf, WANC_BF16, src, WANC_F32, 4));
    CHECK_OK(wanc_convert(back, WANC_F32, bf, WANC_BF16, 4));
    CHECK(back[0] == 1.5f && back[1] == -2.25f && back[2] == 3.0f);
    CHECK(back[3] == wanc_round_bf16(1e-3f));
    char s[64];
    CHECK(strcmp(wanc_shape_str(s, sizeof s, 3, (int64_t[]){1, 16, 3}), "1x16x3") == 0);
    CHECK(strcmp(wanc_shape_str(s, sizeof s, 0, NULL), "[]") == 0);
    wanc_dtype dt;
    CHECK(wanc_dtype_parse("F8_E4M3", &dt) && dt == WANC_F8_E4M3);
    CHECK(!wanc_dtype_parse("F12", &dt));

    wanc_tensor t;
    CHECK_OK(wanc_tensor_alloc(&t, WANC_F32, 2, (int64_t[]){3, 4}));
    for (int i = 0; i < 12; i++) ((float *)t.data)[i] = (float)i;
    wanc_tensor col = wanc_tensor_narrow(&t, 1, 1, 2); /* columns 1..2 */
    CHECK(!wanc_tensor_is_contiguous(&col));
    float got[6];
    CHECK_OK(wanc_tensor_to_f32(got, &col));
    CHECK(got[0] == 1 && got[1] == 2 && got[2] == 5 && got[5] == 10);
    wanc_tensor_free(&t);
}

TEST(arena_marks)
{
    wanc_arena a;
    wanc_arena_init(&a, 1024);
    void *p, *q, *r;
    CHECK_OK(wanc_arena_alloc(&a, &p, 100));
    wanc_arena_mark m = wanc_arena_save(&a);
    CHECK_OK(wanc_arena_alloc(&a, &q, 4000)); /* forces a second block */
    wanc_arena_restore(&a, m);
    CHECK_OK(wanc_arena_alloc(&a, &r, 16));
    CHECK(((uintptr_t)p & 63) == 0 && ((uintptr_t)r & 63) == 0);
    CHECK(wanc_arena_peak(&a) >= 4100);
    wanc_arena_free(&a);
}

static void sum_range(void *ctx, int64_t b, int64_t e)
{
    int64_t *out = ctx;
    for (int64_t i = b; i < e; i++) out[i] = i * i;
}

TEST(parallel_for_covers_range)
{
    int64_t out[1000];
    memset(out, 0, sizeof out);
    int saved = wanc_threads_get();
    for (int threads = 1; threads <= 3; threads++) {
        wanc_threads_set(threads);
        wanc_parallel_for(1000, 7, sum_range, out);
        int ok = 1;
        for (int i = 0; i < 1000; i++) ok &= out[i] == (int64_t)i * i;
        CHECK(ok);
        memset(out, 0, sizeof out);
    }
    wanc_threads_set(saved);
}

TEST(errors_carry_context)
{
    wanc_err e = wanc_error(WANC_ESHAPE, "tensor %s: shape %s", "w", "2x3");
    e = wanc_error_context(e, "file %s", "m.safetensors");
    CHECK(wanc_error_code(e) == WANC_ESHAPE);
    CHECK(strcmp(wanc_error_message(e), "file m.safetensors: tensor w: shape 2x3") == 0);
    wanc_error_free(e);
    CHECK(wanc_error_message(NULL)[0] == 0);
}
