/* Unit tests: media output and input (mp4, PNG frames, safetensors, reader). */
#include <dirent.h>
#include <libavcodec/avcodec.h>
#include <libavformat/avformat.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

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

/* What a player sees in an mp4: the frames the decoder outputs (as `ffprobe
 * -count_frames`, which is these same libavformat/libavcodec calls: packets the
 * edit list marks as discarded are decoded but not shown), the stream's
 * duration in seconds and its frame rate. False when the file does not open. */
static bool probe_shown(const char *path, int *frames, double *seconds, double *rate)
{
    AVFormatContext *fmt = NULL;
    AVCodecContext *dec = NULL;
    AVPacket *pkt = av_packet_alloc();
    AVFrame *frame = av_frame_alloc();
    const AVCodec *codec = NULL;
    bool ok = false;
    *frames = 0;
    if (!pkt || !frame || avformat_open_input(&fmt, path, NULL, NULL) < 0) goto done;
    if (avformat_find_stream_info(fmt, NULL) < 0) goto done;
    int si = av_find_best_stream(fmt, AVMEDIA_TYPE_VIDEO, -1, -1, &codec, 0);
    if (si < 0 || !(dec = avcodec_alloc_context3(codec))) goto done;
    if (avcodec_parameters_to_context(dec, fmt->streams[si]->codecpar) < 0 || avcodec_open2(dec, codec, NULL) < 0)
        goto done;
    const AVStream *st = fmt->streams[si];
    *seconds = st->duration == AV_NOPTS_VALUE ? -1 : (double)st->duration * av_q2d(st->time_base);
    *rate = av_q2d(st->r_frame_rate);
    for (bool eof = false; !eof;) {
        eof = av_read_frame(fmt, pkt) < 0;
        if (!eof && pkt->stream_index != si) {
            av_packet_unref(pkt);
            continue;
        }
        avcodec_send_packet(dec, eof ? NULL : pkt);
        av_packet_unref(pkt);
        while (avcodec_receive_frame(dec, frame) >= 0) (*frames)++, av_frame_unref(frame);
    }
    ok = true;
done:
    avcodec_free_context(&dec);
    avformat_close_input(&fmt);
    av_packet_free(&pkt);
    av_frame_free(&frame);
    return ok;
}

/* Every frame written is shown, for every length 1..33 and several rates: the
 * muxer once gave the last packet no duration, so 13 and 25 frames played as
 * 12 and 24 and a single frame not at all. */
TEST(mp4_shows_every_frame_at_every_length_and_rate)
{
    char dir[512], path[600];
    CHECK(test_make_tmpdir(dir, sizeof dir, "media"));
    snprintf(path, sizeof path, "%s/n.mp4", dir);
    enum { TMAX = 33, H = 16, W = 16 };
    uint8_t *f = test_frames(TMAX, H, W);
    CHECK(f);
    const double rates[] = {15, 8, 24, 29.97};
    for (int r = 0; f && r < 4; r++)
        for (int T = 1; T <= TMAX; T++) {
            CHECK_OK(wanc_video_write_mp4(path, f, T, H, W, rates[r], 5));
            int shown = -1;
            double seconds = -1, rate = 0;
            CHECK(probe_shown(path, &shown, &seconds, &rate));
            if (shown != T || fabs(seconds - T / rates[r]) > 1e-3 || fabs(rate - rates[r]) > 1e-3) {
                fprintf(stderr, "  %d frames at %g fps: %d shown over %g s at %g fps\n", T, rates[r], shown,
                        seconds, rate);
                CHECK(shown == T);
                CHECK_NEAR(seconds, T / rates[r], 1e-3);
                CHECK_NEAR(rate, rates[r], 1e-3);
            }
            unlink(path);
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

/* Hostile media (core/limits.h): a container claiming 10^9 frames, a frame
 * size claim of 20000x20000 (raw Y4M), a PNG claiming 100000x100000: the
 * frames are counted as decoded, frame sizes are refused before allocation. */
TEST(reader_limits_on_hostile_media)
{
    char dir[512], path[600];
    CHECK(test_make_tmpdir(dir, sizeof dir, "media"));
    /* 5 real frames; the sample table then claims 10^9 */
    snprintf(path, sizeof path, "%s/claim.mp4", dir);
    uint8_t *f = test_frames(5, 16, 16);
    CHECK_OK(wanc_video_write_mp4(path, f, 5, 16, 16, 15, 5));
    free(f);
    FILE *fp = fopen(path, "r+b");
    CHECK(fp != NULL);
    if (fp) {
        static uint8_t all[1 << 16];
        size_t n = fread(all, 1, sizeof all, fp);
        for (size_t i = 0; i + 16 < n; i++)
            if (!memcmp(all + i, "stts", 4)) { /* stts: version/flags, entries, [count, delta] */
                const uint32_t claim = 1000000000u;
                uint8_t be[4] = {claim >> 24, claim >> 16 & 0xff, claim >> 8 & 0xff, claim & 0xff};
                memcpy(all + i + 12, be, 4);
                break;
            }
        rewind(fp);
        CHECK(fwrite(all, 1, n, fp) == n);
        fclose(fp);
    }
    uint8_t *g = NULL;
    int t = 0, h = 0, w = 0;
    test_bound bound = test_bound_start();
    CHECK_OK(wanc_video_read(path, &g, &t, &h, &w, 0));
    CHECK(t == 5 && h == 16 && w == 16);
    CHECK(test_bound_held(bound, 60, 256, "an mp4 claiming 10^9 frames"));
    free(g);
    g = NULL;
    /* a raw video whose header says 20000x20000 (400 Mpixel frames) */
    snprintf(path, sizeof path, "%s/huge.y4m", dir);
    fp = fopen(path, "wb");
    CHECK(fp != NULL);
    if (fp) {
        fputs("YUV4MPEG2 W20000 H20000 F15:1 Ip A1:1 C420jpeg\nFRAME\n", fp);
        for (int i = 0; i < 4096; i++) fputc(128, fp);
        fclose(fp);
    }
    bound = test_bound_start();
    wanc_err e = wanc_video_read(path, &g, &t, &h, &w, 0);
    CHECK(e != NULL && g == NULL);
    CHECK(test_bound_held(bound, 60, 256, "a 20000x20000 raw video"));
    wanc_error_free(e);
    /* a PNG whose header says 100000x100000 */
    snprintf(path, sizeof path, "%s/huge.png", dir);
    uint8_t png[45] = {0x89, 'P', 'N', 'G', 0x0d, 0x0a, 0x1a, 0x0a, 0, 0, 0, 13, 'I', 'H', 'D', 'R',
                       0, 1, 0x86, 0xa0, 0, 1, 0x86, 0xa0, 8, 2, 0, 0, 0};
    uint32_t crc = (uint32_t)crc32(0, png + 12, 17);
    png[29] = crc >> 24, png[30] = crc >> 16 & 0xff, png[31] = crc >> 8 & 0xff, png[32] = crc & 0xff;
    memcpy(png + 33, "\0\0\0\0IDAT", 8); /* an empty IDAT: libpng reads the header up to it */
    crc = (uint32_t)crc32(0, png + 37, 4);
    png[41] = crc >> 24, png[42] = crc >> 16 & 0xff, png[43] = crc >> 8 & 0xff, png[44] = crc & 0xff;
    fp = fopen(path, "wb");
    CHECK(fp != NULL);
    if (fp) {
        fwrite(png, 1, sizeof png, fp);
        fclose(fp);
    }
    CHECK_ERR(wanc_image_read(path, &g, &h, &w), WANC_EFORMAT, "image size out of range");
    test_rm_tree(dir);
}
