/* Unit tests: the training dataset (metadata, frame count, sizes, the
 * bilinear cover-resize + centre crop) and the training cache files. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "io/image_io.h"
#include "io/video_out.h"
#include "io/weights.h"
#include "test.h"
#include "train/dataset.h"
#include "train/train_cache.h"
#include "vision/resample.h"

static void write_text(const char *dir, const char *name, const char *text)
{
    char p[4096];
    snprintf(p, sizeof p, "%s/%s", dir, name);
    FILE *f = fopen(p, "wb");
    if (f) {
        fputs(text, f);
        fclose(f);
    }
}

static wanc_dataset_options opts(const char *dir, const char *meta, char *buf, size_t cap)
{
    snprintf(buf, cap, "%s/%s", dir, meta);
    return (wanc_dataset_options){.base_path = dir, .metadata_path = buf, .repeat = 1,
                                  .max_pixels = WANC_DATASET_DEFAULT_MAX_PIXELS,
                                  .num_frames = WANC_DATASET_DEFAULT_NUM_FRAMES};
}

/* A w x h ramp image / video written into dir. */
static void make_media(const char *dir, int T, int H, int W)
{
    uint8_t *f = malloc((size_t)T * H * W * 3);
    if (!f) return;
    for (int t = 0; t < T; t++)
        for (int y = 0; y < H; y++)
            for (int x = 0; x < W; x++) {
                uint8_t *p = f + (((size_t)t * H + y) * W + x) * 3;
                p[0] = (uint8_t)(x * 255 / (W - 1));
                p[1] = (uint8_t)(y * 255 / (H - 1));
                p[2] = (uint8_t)(t * 20);
            }
    char p[4096];
    snprintf(p, sizeof p, "%s/clip.mp4", dir);
    wanc_err e = wanc_video_write_mp4(p, f, T, H, W, 15, 8);
    wanc_error_free(e);
    snprintf(p, sizeof p, "%s/still.png", dir);
    e = wanc_png_write(p, f, H, W);
    wanc_error_free(e);
    free(f);
}

TEST(dataset_csv_quotes_blank_lines_bom)
{
    char dir[512], meta[1024];
    if (!test_make_tmpdir(dir, sizeof dir, "ds")) {
        CHECK(0);
        return;
    }
    make_media(dir, 11, 48, 64);
    write_text(dir, "m.csv", "\xEF\xBB\xBFvideo,prompt,extra\r\n"
                             "clip.mp4,\"a cat, \"\"quoted\"\"\nover two lines\",7\r\n"
                             "\r\n"
                             "still.png,plain,\n");
    wanc_dataset_options o = opts(dir, "m.csv", meta, sizeof meta);
    o.repeat = 3;
    wanc_dataset *d = NULL;
    CHECK_OK(wanc_dataset_open(&d, &o));
    if (d) {
        CHECK(wanc_dataset_rows(d) == 2);
        CHECK(wanc_dataset_len(d) == 6);
        CHECK(!strcmp(wanc_dataset_value(d, 1, "prompt"), "a cat, \"quoted\"\nover two lines"));
        CHECK(!strcmp(wanc_dataset_value(d, 1, "extra"), "7"));
        CHECK(wanc_dataset_value(d, 2, "extra") == NULL); /* empty: absent, as pandas' NaN */
        wanc_dataset_item it;
        /* item 3 is row 2 (index mod rows): the PNG, one frame */
        CHECK_OK(wanc_dataset_get(d, 3, &it));
        CHECK(it.row == 2 && it.T == 1 && it.H == 48 && it.W == 64 && !strcmp(it.prompt, "plain"));
        wanc_dataset_item_free(&it);
        /* the 11-frame video with num_frames 81: its largest 4k+1, 9 */
        CHECK_OK(wanc_dataset_get(d, 0, &it));
        CHECK(it.row == 1 && it.T == 9 && it.H == 48 && it.W == 64);
        wanc_dataset_item_free(&it);
        wanc_dataset_free(d);
    }
    /* fixed size and dynamic resolution */
    o.height = 32, o.width = 32, o.num_frames = 5;
    CHECK_OK(wanc_dataset_open(&d, &o));
    if (d) {
        wanc_dataset_item it;
        CHECK_OK(wanc_dataset_get(d, 0, &it));
        CHECK(it.T == 5 && it.H == 32 && it.W == 32);
        wanc_dataset_item_free(&it);
        wanc_dataset_free(d);
    }
    o.height = o.width = 0;
    o.max_pixels = 1024;
    CHECK_OK(wanc_dataset_open(&d, &o));
    if (d) {
        wanc_dataset_item it;
        CHECK_OK(wanc_dataset_get(d, 1, &it));
        CHECK(it.H == 16 && it.W == 32); /* 48x64 over 1024 px: 27x36, down to multiples of 16 */
        wanc_dataset_item_free(&it);
        wanc_dataset_free(d);
    }
    test_rm_tree(dir);
}

TEST(dataset_json_and_jsonl)
{
    char dir[512], meta[1024];
    if (!test_make_tmpdir(dir, sizeof dir, "ds")) {
        CHECK(0);
        return;
    }
    make_media(dir, 5, 32, 32);
    write_text(dir, "m.json", "[{\"video\": \"clip.mp4\", \"prompt\": \"one\", \"n\": 3},\n"
                              " {\"image\": \"x\", \"video\": \"still.png\", \"prompt\": \"two\"}]");
    write_text(dir, "m.jsonl", "{\"video\": \"clip.mp4\", \"prompt\": \"one\"}\n\n{\"video\": \"still.png\", "
                               "\"prompt\": \"two\", \"later\": 2.5}\n");
    wanc_dataset_options o = opts(dir, "m.json", meta, sizeof meta);
    wanc_dataset *d = NULL;
    CHECK_OK(wanc_dataset_open(&d, &o));
    if (d) {
        CHECK(wanc_dataset_rows(d) == 2);
        CHECK(!strcmp(wanc_dataset_value(d, 1, "n"), "3"));
        CHECK(!strcmp(wanc_dataset_value(d, 2, "prompt"), "two"));
        CHECK(wanc_dataset_value(d, 1, "image") == NULL);
        wanc_dataset_free(d);
    }
    o = opts(dir, "m.jsonl", meta, sizeof meta);
    CHECK_OK(wanc_dataset_open(&d, &o));
    if (d) {
        CHECK(wanc_dataset_rows(d) == 2);
        CHECK(!strcmp(wanc_dataset_value(d, 2, "later"), "2.5"));
        CHECK(wanc_dataset_value(d, 1, "later") == NULL);
        wanc_dataset_item it;
        CHECK_OK(wanc_dataset_get(d, 0, &it));
        CHECK(it.T == 5);
        wanc_dataset_item_free(&it);
        wanc_dataset_free(d);
    }
    test_rm_tree(dir);
}

TEST(dataset_named_errors)
{
    char dir[512], meta[1024];
    if (!test_make_tmpdir(dir, sizeof dir, "ds")) {
        CHECK(0);
        return;
    }
    make_media(dir, 5, 32, 32);
    write_text(dir, "cols.csv", "file,text\nclip.mp4,a\n");
    write_text(dir, "empty.csv", "video,prompt\nclip.mp4,a\nstill.png,\n");
    write_text(dir, "missing.csv", "video,prompt\nclip.mp4,a\nnope.mp4,b\n");
    write_text(dir, "ext.csv", "video,prompt\nclip.txt,a\n");
    write_text(dir, "quote.csv", "video,prompt\nclip.mp4,\"open\n");
    write_text(dir, "wide.csv", "video,prompt\nclip.mp4,a,b\n");
    write_text(dir, "bad.jsonl", "{\"video\": \"clip.mp4\", \"prompt\": \"a\"}\n{not json\n");
    write_text(dir, "garbage.mp4", "this is not a video");
    write_text(dir, "undecodable.csv", "video,prompt\ngarbage.mp4,a\n");
    wanc_dataset *d = NULL;
    wanc_dataset_options o = opts(dir, "cols.csv", meta, sizeof meta);
    CHECK_ERR(wanc_dataset_open(&d, &o), WANC_EFORMAT, "cols.csv: needs the columns 'prompt' and 'video'");
    o = opts(dir, "empty.csv", meta, sizeof meta);
    CHECK_ERR(wanc_dataset_open(&d, &o), WANC_EFORMAT, "empty.csv row 2: empty prompt");
    o = opts(dir, "missing.csv", meta, sizeof meta);
    CHECK_ERR(wanc_dataset_open(&d, &o), WANC_EIO, "missing.csv row 2: ");
    CHECK_ERR(wanc_dataset_open(&d, &o), WANC_EIO, "nope.mp4");
    o = opts(dir, "ext.csv", meta, sizeof meta);
    CHECK_ERR(wanc_dataset_open(&d, &o), WANC_EUNSUPPORTED, "ext.csv row 1: clip.txt: unsupported file type");
    o = opts(dir, "quote.csv", meta, sizeof meta);
    CHECK_ERR(wanc_dataset_open(&d, &o), WANC_EFORMAT, "quote.csv line 2: a quoted field is not closed");
    o = opts(dir, "wide.csv", meta, sizeof meta);
    CHECK_ERR(wanc_dataset_open(&d, &o), WANC_EFORMAT, "wide.csv row 1 (line 2): more fields");
    o = opts(dir, "bad.jsonl", meta, sizeof meta);
    CHECK_ERR(wanc_dataset_open(&d, &o), WANC_EFORMAT, "bad.jsonl line 2: not valid JSON");
    o = opts(dir, "nothere.csv", meta, sizeof meta);
    CHECK_ERR(wanc_dataset_open(&d, &o), WANC_EIO, "nothere.csv");
    o = opts(dir, "cols.csv", meta, sizeof meta);
    o.num_frames = 8;
    CHECK_ERR(wanc_dataset_open(&d, &o), WANC_EINVAL, "--num_frames 8: must be 4k+1");
    o.num_frames = 5, o.height = 32;
    CHECK_ERR(wanc_dataset_open(&d, &o), WANC_EINVAL, "give both");
    o.width = 40;
    CHECK_ERR(wanc_dataset_open(&d, &o), WANC_EINVAL, "multiples of 16");
    /* a file that exists but does not decode: named at load, with the row */
    o = opts(dir, "undecodable.csv", meta, sizeof meta);
    CHECK_OK(wanc_dataset_open(&d, &o));
    if (d) {
        wanc_dataset_item it;
        CHECK_ERR(wanc_dataset_get(d, 0, &it), WANC_EFORMAT, "undecodable.csv row 1");
        CHECK(it.frames == NULL && it.file == NULL);
        wanc_dataset_free(d);
    }
    test_rm_tree(dir);
}

/* Hostile metadata (the bounds at the top of src/train/dataset.c, listed in
 * docs/architecture.md): each a named error, in bounded time and memory. */
TEST(dataset_limits_on_hostile_metadata)
{
    char dir[512], meta[1024];
    if (!test_make_tmpdir(dir, sizeof dir, "ds")) {
        CHECK(0);
        return;
    }
    make_media(dir, 5, 32, 32);
    /* a NUL would cut a value short (an "empty" prompt past the check) */
    snprintf(meta, sizeof meta, "%s/nul.csv", dir);
    FILE *f = fopen(meta, "wb");
    if (f) {
        fwrite("video,prompt\nclip.mp4,\0x\n", 1, 25, f);
        fclose(f);
    }
    wanc_dataset *d = NULL;
    wanc_dataset_options o = opts(dir, "nul.csv", meta, sizeof meta);
    CHECK_ERR(wanc_dataset_open(&d, &o), WANC_EFORMAT, "nul.csv line 2: a NUL byte");
    /* 2000 columns in one record; a record of 70 000 JSON values (cJSON would
     * build a node of each), in a .json list and a .jsonl line */
    size_t cap = 2000 * 16 + 70000 * 2 + 256, n = 0;
    char *text = malloc(cap);
    CHECK(text != NULL);
    if (text) {
        n = (size_t)snprintf(text, cap, "{\"video\": \"clip.mp4\", \"prompt\": \"a\"");
        for (int i = 0; i < 2000; i++) n += (size_t)snprintf(text + n, cap - n, ", \"c%d\": 1", i);
        snprintf(text + n, cap - n, "}\n");
        write_text(dir, "wide.jsonl", text);
        o = opts(dir, "wide.jsonl", meta, sizeof meta);
        test_bound t = test_bound_start();
        CHECK_ERR(wanc_dataset_open(&d, &o), WANC_EFORMAT, "wide.jsonl: more than 1024 columns");
        CHECK(test_bound_held(t, 60, 256, "2000 columns"));
        n = (size_t)snprintf(text, cap, "[{\"video\": \"clip.mp4\", \"prompt\": \"a\", \"x\": [0");
        for (int i = 1; i < 70000; i++) text[n++] = ',', text[n++] = '0';
        snprintf(text + n, cap - n, "]}]");
        write_text(dir, "deep.json", text);
        o = opts(dir, "deep.json", meta, sizeof meta);
        t = test_bound_start();
        CHECK_ERR(wanc_dataset_open(&d, &o), WANC_EFORMAT, "deep.json row 1: a record of more than 65536 JSON values");
        CHECK(test_bound_held(t, 60, 256, "a record of 70 000 values"));
        write_text(dir, "deep.jsonl", text + 1);
        o = opts(dir, "deep.jsonl", meta, sizeof meta);
        CHECK_ERR(wanc_dataset_open(&d, &o), WANC_EFORMAT, "deep.jsonl line 1: a record of more than 65536");
        free(text);
    }
    /* the list is read a record at a time; what cJSON_Parse did is kept: a
     * byte order mark is skipped, text after the list ignored, anything but a
     * list named, a broken list "not valid JSON" */
    write_text(dir, "tail.json", "\xEF\xBB\xBF [ {\"video\": \"clip.mp4\", \"prompt\": \"a\"} ] trailing");
    o = opts(dir, "tail.json", meta, sizeof meta);
    CHECK_OK(wanc_dataset_open(&d, &o));
    if (d) CHECK(wanc_dataset_rows(d) == 1);
    wanc_dataset_free(d);
    d = NULL;
    write_text(dir, "obj.json", "{\"video\": \"clip.mp4\", \"prompt\": \"a\"}");
    o = opts(dir, "obj.json", meta, sizeof meta);
    CHECK_ERR(wanc_dataset_open(&d, &o), WANC_EFORMAT, "obj.json: expected a JSON list of records");
    const char *broken[] = {"[{\"video\": \"clip.mp4\", \"prompt\": \"a\"},]", "[", "", "{oops",
                            "[{\"video\": \"clip.mp4\", \"prompt\": \"a\"} {}]"};
    for (int i = 0; i < 5; i++) {
        write_text(dir, "broken.json", broken[i]);
        o = opts(dir, "broken.json", meta, sizeof meta);
        CHECK_ERR(wanc_dataset_open(&d, &o), WANC_EFORMAT, "broken.json: not valid JSON");
    }
    write_text(dir, "none.json", " [ ] ");
    o = opts(dir, "none.json", meta, sizeof meta);
    CHECK_ERR(wanc_dataset_open(&d, &o), WANC_EFORMAT, "none.json: no rows");
    test_rm_tree(dir);
}

TEST(dataset_frame_count_and_sizes)
{
    CHECK(wanc_dataset_frame_count(81, 200) == 81);
    CHECK(wanc_dataset_frame_count(81, 81) == 81);
    CHECK(wanc_dataset_frame_count(81, 80) == 77);
    CHECK(wanc_dataset_frame_count(81, 12) == 9);
    CHECK(wanc_dataset_frame_count(81, 4) == 1);
    CHECK(wanc_dataset_frame_count(81, 1) == 1);
    int h, w;
    wanc_dataset_target_size(&h, &w, 480, 832, 0, 0, 1024 * 1024);
    CHECK(h == 480 && w == 832);
    wanc_dataset_target_size(&h, &w, 1080, 1920, 0, 0, 1024 * 1024);
    /* s = sqrt(1920·1080 / 2^20) = 1.4062...: int(768.0) x int(1365.3), then /16·16 */
    CHECK(h == 768 && w == 1360);
    wanc_dataset_target_size(&h, &w, 1080, 1920, 480, 832, 1024 * 1024);
    CHECK(h == 480 && w == 832);
    wanc_dataset_target_size(&h, &w, 50, 71, 0, 0, 1024 * 1024);
    CHECK(h == 48 && w == 64);
}

TEST(resize_bilinear_and_cover_crop)
{
    /* Pillow BILINEAR 8 → 4 on a ramp: taps (hand-computed) 3/7,3/7,1/7 at
     * the left edge, 1/8,3/8,3/8,1/8 inside, 1/7,3/7,3/7 at the right edge */
    uint8_t in[8 * 3], out[4 * 3];
    for (int x = 0; x < 8; x++) in[3 * x] = in[3 * x + 1] = in[3 * x + 2] = (uint8_t)(16 * x);
    CHECK_OK(wanc_resize_pil_bilinear(out, 1, 4, in, 1, 8, 8 * 3));
    CHECK(out[0] == 11 && out[3] == 40 && out[6] == 72 && out[9] == 101);
    CHECK(out[1] == out[0] && out[2] == out[0]);
    /* cover size: round(H·s), round(W·s) with s = max(w/W, h/H) */
    int rh, rw;
    wanc_cover_size(&rh, &rw, 50, 71, 32, 48);
    CHECK(rh == 34 && rw == 48);
    wanc_cover_size(&rh, &rw, 48, 64, 16, 32);
    CHECK(rh == 24 && rw == 32);
    /* a uniform image stays uniform; the same size is a copy */
    uint8_t img[6 * 10 * 3], crop[4 * 4 * 3], same[6 * 10 * 3];
    for (int i = 0; i < 6 * 10 * 3; i++) img[i] = (uint8_t)(i % 3 == 0 ? 200 : 17);
    CHECK_OK(wanc_cover_resize_center_crop(crop, 4, 4, img, 6, 10));
    int uniform = 1;
    for (int i = 0; i < 16; i++) uniform &= crop[3 * i] == 200 && crop[3 * i + 1] == 17;
    CHECK(uniform);
    for (int i = 0; i < 6 * 10 * 3; i++) img[i] = (uint8_t)(i * 7);
    CHECK_OK(wanc_cover_resize_center_crop(same, 6, 10, img, 6, 10));
    CHECK(!memcmp(same, img, sizeof img));
    /* no resize, a centre crop: 6x10 → 6x6 takes columns 2..7 */
    uint8_t c6[6 * 6 * 3];
    CHECK_OK(wanc_cover_resize_center_crop(c6, 6, 6, img, 6, 10));
    CHECK(!memcmp(c6, img + 2 * 3, 6 * 3) && !memcmp(c6 + 5 * 18, img + (5 * 10 + 2) * 3, 6 * 3));
    CHECK_ERR(wanc_cover_resize_center_crop(c6, 0, 6, img, 6, 10), WANC_EINVAL, "bad sizes");
}

TEST(train_cache_roundtrip)
{
    char dir[512], path[1024];
    if (!test_make_tmpdir(dir, sizeof dir, "cache")) {
        CHECK(0);
        return;
    }
    float x0[2 * 1 * 2 * 2], ctx[3 * 4];
    for (int i = 0; i < 8; i++) x0[i] = (float)i * 0.5f - 1.0f;
    for (int i = 0; i < 12; i++) ctx[i] = (float)i / 8.0f;
    wanc_train_sample s = {.x0 = x0, .z = 2, .F = 1, .h = 2, .w = 2, .context = ctx, .ctx_len = 3, .ctx_dim = 4};
    char sub[600];
    snprintf(sub, sizeof sub, "%s/0", dir);
    CHECK(mkdir(sub, 0777) == 0);
    for (int i = 10; i >= 0; i -= 5) {
        snprintf(path, sizeof path, "%s/%d.safetensors", sub, i);
        CHECK_OK(wanc_train_cache_write(path, &s, true, "a prompt", "clip.mp4", 1, 16, 16, 1));
    }
    snprintf(path, sizeof path, "%s/notes.safetensors", sub);
    CHECK_OK(wanc_train_cache_write(path, &s, true, "x", "x", 1, 16, 16, 1)); /* not a number: ignored */
    char **paths;
    int n = 0;
    CHECK_OK(wanc_train_cache_list(dir, &paths, &n));
    if (n == 3) {
        CHECK(strstr(paths[0], "/0/0.safetensors") && strstr(paths[1], "/0/5.safetensors") &&
              strstr(paths[2], "/0/10.safetensors"));
        wanc_train_sample r;
        CHECK_OK(wanc_train_cache_read(paths[2], &r));
        CHECK(r.z == 2 && r.F == 1 && r.h == 2 && r.w == 2 && r.ctx_len == 3 && r.ctx_dim == 4);
        if (r.x0) CHECK(!memcmp(r.x0, x0, sizeof x0) && !memcmp(r.context, ctx, sizeof ctx));
        wanc_train_sample_free(&r);
    } else CHECK(n == 3);
    wanc_train_cache_list_free(paths, n);
    /* a safetensors file of another kind is named */
    snprintf(path, sizeof path, "%s/other.safetensors", dir);
    const char *names[] = {"w"};
    wanc_tensor t = {0};
    CHECK_OK(wanc_tensor_alloc(&t, WANC_F32, 1, (int64_t[]){1}));
    CHECK_OK(wanc_safetensors_write(path, 1, names, &t, NULL));
    wanc_tensor_free(&t);
    wanc_train_sample r;
    CHECK_ERR(wanc_train_cache_read(path, &r), WANC_EFORMAT, "not a wanc training cache file");
    test_rm_tree(dir);
    CHECK_ERR(wanc_train_cache_list(dir, &paths, &n), WANC_EIO, "cannot be read");
}
