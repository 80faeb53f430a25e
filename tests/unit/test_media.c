/* Unit tests: media output and input (mp4, PNG frames, safetensors, reader). */
#include <dirent.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include "io/image_io.h"
#include "io/video_out.h"
#include "io/weights.h"
#include "test.h"

/* Number of entries in a folder (without . and ..). */
static int count_entries(const char *dir)
{
    DIR *d = opendir(dir);
    if (!d) return -1;
    int n = 0;
    struct dirent *e;
    while ((e = readdir(d))) n += strcmp(e->d_name, ".") && strcmp(e->d_name, "..");
    closedir(d);
    return n;
}

/* Smooth colour ramps that survive lossy coding. */
static uint8_t *test_frames(int T, int H, int W)
{
    uint8_t *f = malloc((size_t)T * H * W * 3);
    if (!f) return NULL;
    for (int t = 0; t < T; t++)
        for (int y = 0; y < H; y++)
            for (int x = 0; x < W; x++) {
                uint8_t *p = f + (((size_t)t * H + y) * W + x) * 3;
                p[0] = (uint8_t)(x * 255 / (W - 1));
                p[1] = (uint8_t)(y * 255 / (H - 1));
                p[2] = (uint8_t)(t * 40 + 20);
            }
    return f;
}

static bool have_tool(const char *name)
{
    char cmd[256];
    snprintf(cmd, sizeof cmd, "command -v %s >/dev/null 2>&1", name);
    return system(cmd) == 0;
}

TEST(quality_maps_to_crf_as_imageio)
{
    CHECK(wanc_video_quality_to_crf(5) == 25);
    CHECK(wanc_video_quality_to_crf(9) == 5); /* (1 - 0.9)·51 = 5.0999... */
    CHECK(wanc_video_quality_to_crf(10) == 0);
    CHECK(wanc_video_quality_to_crf(0) == 51);
}

TEST(mp4_write_and_read_back)
{
    char dir[512], path[600];
    CHECK(test_make_tmpdir(dir, sizeof dir, "media"));
    snprintf(path, sizeof path, "%s/clip.mp4", dir);
    enum { T = 5, H = 32, W = 48 };
    uint8_t *f = test_frames(T, H, W);
    CHECK(f);
    if (!f) return;
    CHECK_OK(wanc_video_write_mp4(path, f, T, H, W, WANC_VIDEO_DEFAULT_FPS, 9));
    CHECK(count_entries(dir) == 1); /* no temporary left */
    uint8_t *g = NULL;
    int t = 0, h = 0, w = 0;
    CHECK_OK(wanc_video_read(path, &g, &t, &h, &w, 0));
    CHECK(t == T && h == H && w == W);
    if (g && t == T && h == H && w == W) {
        double err = 0;
        for (size_t i = 0; i < (size_t)T * H * W * 3; i++) err += abs((int)g[i] - (int)f[i]);
        CHECK(err / ((double)T * H * W * 3) < 6.0); /* crf 5: close to the source */
    }
    free(g);
    /* max_frames stops early */
    CHECK_OK(wanc_video_read(path, &g, &t, &h, &w, 2));
    CHECK(t == 2);
    free(g);
    if (have_tool("ffprobe")) {
        char cmd[800], line[256] = "";
        snprintf(cmd, sizeof cmd,
                 "ffprobe -v error -count_frames -select_streams v:0 -show_entries "
                 "stream=codec_name,pix_fmt,width,height,nb_read_frames -of csv=p=0 '%s'",
                 path);
        FILE *p = popen(cmd, "r");
        CHECK(p != NULL);
        if (p) {
            if (!fgets(line, sizeof line, p)) line[0] = 0;
            pclose(p);
        }
        CHECK(strstr(line, "h264,48,32,yuv420p,5") != NULL);
        if (!strstr(line, "h264,48,32,yuv420p,5")) fprintf(stderr, "  ffprobe said: %s\n", line);
    }
    free(f);
    test_rm_tree(dir);
}

TEST(mp4_odd_size_is_scaled_to_16)
{
    char dir[512], path[600];
    CHECK(test_make_tmpdir(dir, sizeof dir, "media"));
    snprintf(path, sizeof path, "%s/odd.mp4", dir);
    uint8_t *f = test_frames(2, 30, 46);
    CHECK(f);
    CHECK_OK(wanc_video_write_mp4(path, f, 2, 30, 46, 16, 5));
    uint8_t *g = NULL;
    int t, h, w;
    CHECK_OK(wanc_video_read(path, &g, &t, &h, &w, 0));
    CHECK(t == 2 && h == 32 && w == 48); /* imageio's macro_block_size 16 */
    free(g);
    free(f);
    test_rm_tree(dir);
}

TEST(writers_leave_nothing_behind_on_error)
{
    char dir[512], path[600];
    CHECK(test_make_tmpdir(dir, sizeof dir, "media"));
    uint8_t *f = test_frames(2, 16, 16);
    CHECK(f);
    /* the target is an existing folder: encoding succeeds, the rename fails */
    snprintf(path, sizeof path, "%s/taken", dir);
    CHECK(mkdir(path, 0777) == 0);
    CHECK_ERR(wanc_video_write_mp4(path, f, 2, 16, 16, 15, 5), WANC_EIO, "rename");
    char png[640];
    snprintf(png, sizeof png, "%s/taken", dir);
    CHECK_ERR(wanc_png_write(png, f, 16, 16), WANC_EIO, "taken");
    CHECK(count_entries(dir) == 1); /* only the folder itself */
    /* bad arguments: nothing is created */
    snprintf(path, sizeof path, "%s/x.mp4", dir);
    CHECK_ERR(wanc_video_write_mp4(path, f, 2, 16, 16, 15, 11), WANC_EINVAL, "quality");
    CHECK_ERR(wanc_video_write_mp4(path, f, 2, 16, 16, 0, 5), WANC_EINVAL, "fps");
    CHECK_ERR(wanc_video_write_mp4(path, f, 0, 16, 16, 15, 5), WANC_ESHAPE, "empty");
    snprintf(path, sizeof path, "%s/no/such/dir/x.mp4", dir);
    CHECK_ERR(wanc_video_write_mp4(path, f, 2, 16, 16, 15, 5), WANC_EIO, "cannot create");
    CHECK(count_entries(dir) == 1);
    free(f);
    test_rm_tree(dir);
}

TEST(png_round_trip_and_frame_folder)
{
    char dir[512], path[600];
    CHECK(test_make_tmpdir(dir, sizeof dir, "media"));
    enum { T = 3, H = 7, W = 5 };
    uint8_t *f = test_frames(T, H, W);
    CHECK(f);
    if (!f) return;
    snprintf(path, sizeof path, "%s/one.png", dir);
    CHECK_OK(wanc_png_write(path, f, H, W));
    uint8_t *g = NULL;
    int h = 0, w = 0;
    CHECK_OK(wanc_png_read(path, &g, &h, &w));
    CHECK(h == H && w == W && g && !memcmp(g, f, (size_t)H * W * 3));
    free(g);
    CHECK_OK(wanc_image_read(path, &g, &h, &w)); /* PNG through the generic reader */
    CHECK(h == H && w == W && g && !memcmp(g, f, (size_t)H * W * 3));
    free(g);

    snprintf(path, sizeof path, "%s/frames", dir);
    CHECK_OK(wanc_video_write_pngs(path, f, T, H, W));
    CHECK(count_entries(path) == T);
    char p2[700];
    snprintf(p2, sizeof p2, "%s/frames/frame_00002.png", dir);
    CHECK_OK(wanc_png_read(p2, &g, &h, &w));
    CHECK(g && !memcmp(g, f + (size_t)2 * H * W * 3, (size_t)H * W * 3));
    free(g);

    /* a JPEG through ffmpeg, when the ffmpeg tool is there to make one */
    if (have_tool("ffmpeg")) {
        char cmd[1600], jpg[640];
        snprintf(jpg, sizeof jpg, "%s/one.jpg", dir);
        snprintf(cmd, sizeof cmd, "ffmpeg -v error -y -i '%s/one.png' '%s' >/dev/null 2>&1", dir, jpg);
        if (system(cmd) == 0) {
            CHECK_OK(wanc_image_read(jpg, &g, &h, &w));
            CHECK(h == H && w == W);
            free(g);
        }
    }
    free(f);
    test_rm_tree(dir);
}

TEST(safetensors_frames_round_trip)
{
    char dir[512], path[600];
    CHECK(test_make_tmpdir(dir, sizeof dir, "media"));
    snprintf(path, sizeof path, "%s/frames.safetensors", dir);
    uint8_t *f = test_frames(2, 4, 6);
    CHECK(f);
    if (!f) return;
    CHECK_OK(wanc_video_write_safetensors(path, f, 2, 4, 6, 15));
    wanc_weights *w = NULL;
    CHECK_OK(wanc_weights_open(&w, path));
    if (w) {
        const wanc_tensor *t = NULL;
        CHECK_OK(wanc_weights_get(w, "frames", &t, 4, (int64_t[]){2, 4, 6, 3}));
        CHECK(t && t->dtype == WANC_U8 && !memcmp(t->data, f, 2 * 4 * 6 * 3));
        wanc_weights_close(w);
    }
    free(f);
    test_rm_tree(dir);
}

TEST(reader_rejects_non_video)
{
    char dir[512], path[600];
    CHECK(test_make_tmpdir(dir, sizeof dir, "media"));
    uint8_t *g = NULL;
    int t, h, w;
    snprintf(path, sizeof path, "%s/notes.txt", dir);
    FILE *f = fopen(path, "w");
    CHECK(f);
    if (f) {
        fputs("this is not a video\nsecond line\n", f);
        fclose(f);
    }
    CHECK_ERR(wanc_video_read(path, &g, &t, &h, &w, 0), WANC_EFORMAT, "not a");
    CHECK(g == NULL);
    snprintf(path, sizeof path, "%s/fake.mp4", dir);
    f = fopen(path, "wb");
    if (f) {
        for (int i = 0; i < 4096; i++) fputc((i * 7919) & 0xff, f);
        fclose(f);
    }
    CHECK_ERR(wanc_video_read(path, &g, &t, &h, &w, 0), WANC_EFORMAT, path);
    CHECK_ERR(wanc_image_read(path, &g, &h, &w), WANC_EFORMAT, "not a");
    snprintf(path, sizeof path, "%s/missing.mp4", dir);
    CHECK_ERR(wanc_video_read(path, &g, &t, &h, &w, 0), WANC_EIO, "missing.mp4");
    CHECK_ERR(wanc_png_read(path, &g, &h, &w), WANC_EIO, "missing.mp4");
    test_rm_tree(dir);
}
