/* Video frames in and out (see video_out.h): libavformat/libavcodec with
 * libx264 for mp4, libswscale for the colour conversion, libpng for frames. */
#include "io/video_out.h"

#include <errno.h>
#include <libavcodec/avcodec.h>
#include <libavformat/avformat.h>
#include <libavutil/imgutils.h>
#include <libavutil/opt.h>
#include <libswscale/swscale.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/limits.h"
#include "io/atomic_file.h"
#include "core/tensor.h"
#include "io/image_io.h"
#include "io/weights.h"

/* ---- float video -> uint8 frames ------------------------------------------ */

static inline uint8_t to_u8(float v)
{
    if (!(v > 0)) return 0; /* also NaN */
    if (v >= 255) return 255;
    return (uint8_t)v; /* float -> uint8 truncates, as torch's cast */
}

wanc_err wanc_video_to_u8(uint8_t *out, const float *video, int B, int C, int T, int H, int W, bool bf16)
{
    if (!out || !video) WANC_FAIL(WANC_EINVAL, "video to uint8: NULL buffer");
    if (B < 1 || C < 1 || T < 1 || H < 1 || W < 1)
        WANC_FAIL(WANC_ESHAPE, "video to uint8: shape %dx%dx%dx%dx%d is empty", B, C, T, H, W);
    const int64_t plane = (int64_t)H * W, per_b = (int64_t)C * T * plane;
    for (int t = 0; t < T; t++)
        for (int64_t p = 0; p < plane; p++)
            for (int c = 0; c < C; c++) {
                int64_t src = ((int64_t)c * T + t) * plane + p;
                float x = video[src];
                if (B > 1) { /* einops mean over B: a float sum divided by B */
                    float s = 0;
                    for (int b = 0; b < B; b++) s = s + video[b * per_b + src];
                    x = s / (float)B;
                    if (bf16) x = wanc_round_bf16(x);
                }
                /* (x - min) · 255/(max - min) with min = -1, max = 1, in the tensor's dtype */
                float y = x + 1.0f;
                if (bf16) y = wanc_round_bf16(y);
                y = y * 127.5f;
                if (bf16) y = wanc_round_bf16(y);
                out[((int64_t)t * plane + p) * C + c] = to_u8(y);
            }
    return NULL;
}

/* ---- helpers --------------------------------------------------------------- */

static void ffmpeg_quiet(void)
{
    /* ffmpeg logs to stderr by default; the library must not print. Leave a
     * level the application chose explicitly alone. */
    if (av_log_get_level() == AV_LOG_INFO) av_log_set_level(AV_LOG_QUIET);
}

static const char *av_err(int code, char *buf, size_t cap)
{
    av_strerror(code, buf, cap);
    return buf;
}

static wanc_err check_frames(const char *what, const uint8_t *frames, int T, int H, int W)
{
    if (!frames) WANC_FAIL(WANC_EINVAL, "%s: no frames", what);
    if (T < 1 || H < 1 || W < 1) WANC_FAIL(WANC_ESHAPE, "%s: frames %dx%dx%dx3 are empty", what, T, H, W);
    if ((int64_t)H * W > (int64_t)1 << 28) WANC_FAIL(WANC_ESHAPE, "%s: frame %dx%d is too large", what, H, W);
    return NULL;
}

/* ---- mp4 ------------------------------------------------------------------- */

int wanc_video_quality_to_crf(int quality)
{
    /* DiffSynth's save_video hands `quality` to imageio-ffmpeg, which for
     * libx264 passes -crf int((1 - quality/10)·51) (quality 5 -> 25, 9 -> 5,
     * 10 -> 0), with pix_fmt yuv420p and frames scaled up to a multiple of 16
     * (macro_block_size). The same float64 arithmetic and truncation here. */
    double q = 1.0 - quality / 10.0;
    return (int)(q * 51);
}

typedef struct mp4_writer {
    AVFormatContext *fmt;
    AVCodecContext *enc;
    AVStream *st;
    AVFrame *frame;
    AVPacket *pkt;
    struct SwsContext *sws;
} mp4_writer;

static void mp4_close(mp4_writer *m)
{
    if (m->fmt && m->fmt->pb) avio_closep(&m->fmt->pb);
    avformat_free_context(m->fmt);
    avcodec_free_context(&m->enc);
    av_frame_free(&m->frame);
    av_packet_free(&m->pkt);
    sws_freeContext(m->sws);
}

/* Send one frame (NULL: flush) and write every packet the encoder returns. */
static wanc_err mp4_encode(mp4_writer *m, AVFrame *frame, const char *path)
{
    char e[128];
    int r = avcodec_send_frame(m->enc, frame);
    if (r < 0) WANC_FAIL(WANC_EIO, "%s: encoding failed: %s", path, av_err(r, e, sizeof e));
    for (;;) {
        r = avcodec_receive_packet(m->enc, m->pkt);
        if (r == AVERROR(EAGAIN) || r == AVERROR_EOF) return NULL;
        if (r < 0) WANC_FAIL(WANC_EIO, "%s: encoding failed: %s", path, av_err(r, e, sizeof e));
        /* libx264 leaves packet durations unset; the mp4 muxer then gives the
         * last packet none, its edit list ends one frame early and players
         * drop (or, for a single frame, never show) that frame. Every frame
         * lasts one tick of the 1/fps time base. */
        if (m->pkt->duration <= 0) m->pkt->duration = 1;
        av_packet_rescale_ts(m->pkt, m->enc->time_base, m->st->time_base);
        m->pkt->stream_index = m->st->index;
        r = av_interleaved_write_frame(m->fmt, m->pkt);
        if (r < 0) WANC_FAIL(WANC_EIO, "%s: writing failed: %s", path, av_err(r, e, sizeof e));
    }
}

static wanc_err mp4_write(mp4_writer *m, const char *tmp, const char *path, const uint8_t *frames, int T, int H,
                          int W, double fps, int quality)
{
    char e[128];
    int r = avformat_alloc_output_context2(&m->fmt, NULL, "mp4", tmp);
    if (r < 0 || !m->fmt) WANC_FAIL(WANC_EUNSUPPORTED, "%s: no mp4 muxer: %s", path, av_err(r, e, sizeof e));
    const AVCodec *codec = avcodec_find_encoder_by_name("libx264");
    if (!codec) codec = avcodec_find_encoder(AV_CODEC_ID_H264);
    if (!codec) WANC_FAIL(WANC_EUNSUPPORTED, "%s: no H.264 encoder in this ffmpeg (install libx264)", path);
    m->st = avformat_new_stream(m->fmt, NULL);
    m->enc = avcodec_alloc_context3(codec);
    m->frame = av_frame_alloc();
    m->pkt = av_packet_alloc();
    if (!m->st || !m->enc || !m->frame || !m->pkt) WANC_FAIL(WANC_ENOMEM, "%s: out of memory", path);

    /* as imageio: the encoded size is scaled up to a multiple of 16 */
    const int W2 = (W + 15) / 16 * 16, H2 = (H + 15) / 16 * 16;
    AVRational rate = av_d2q(fps, 100000);
    m->enc->width = W2;
    m->enc->height = H2;
    m->enc->pix_fmt = AV_PIX_FMT_YUV420P;
    m->enc->time_base = av_inv_q(rate);
    m->enc->framerate = rate;
    if (m->fmt->oformat->flags & AVFMT_GLOBALHEADER) m->enc->flags |= AV_CODEC_FLAG_GLOBAL_HEADER;
    char crf[16];
    snprintf(crf, sizeof crf, "%d", wanc_video_quality_to_crf(quality));
    av_opt_set(m->enc->priv_data, "crf", crf, 0); /* ignored by encoders without it */
    r = avcodec_open2(m->enc, codec, NULL);
    if (r < 0) WANC_FAIL(WANC_EIO, "%s: cannot open the H.264 encoder: %s", path, av_err(r, e, sizeof e));
    r = avcodec_parameters_from_context(m->st->codecpar, m->enc);
    if (r < 0) WANC_FAIL(WANC_EIO, "%s: %s", path, av_err(r, e, sizeof e));
    m->st->time_base = m->enc->time_base;

    m->frame->format = AV_PIX_FMT_YUV420P;
    m->frame->width = W2;
    m->frame->height = H2;
    r = av_frame_get_buffer(m->frame, 0);
    if (r < 0) WANC_FAIL(WANC_ENOMEM, "%s: frame buffer: %s", path, av_err(r, e, sizeof e));
    m->sws = sws_getContext(W, H, AV_PIX_FMT_RGB24, W2, H2, AV_PIX_FMT_YUV420P, SWS_BICUBIC, NULL, NULL, NULL);
    if (!m->sws) WANC_FAIL(WANC_EUNSUPPORTED, "%s: no RGB -> yuv420p conversion", path);

    r = avio_open(&m->fmt->pb, tmp, AVIO_FLAG_WRITE);
    if (r < 0) WANC_FAIL(WANC_EIO, "%s: cannot create: %s", tmp, av_err(r, e, sizeof e));
    r = avformat_write_header(m->fmt, NULL);
    if (r < 0) WANC_FAIL(WANC_EIO, "%s: cannot write the header: %s", path, av_err(r, e, sizeof e));

    const size_t frame_bytes = (size_t)H * W * 3;
    for (int t = 0; t < T; t++) {
        r = av_frame_make_writable(m->frame);
        if (r < 0) WANC_FAIL(WANC_ENOMEM, "%s: %s", path, av_err(r, e, sizeof e));
        const uint8_t *src[1] = {frames + (size_t)t * frame_bytes};
        const int src_stride[1] = {W * 3};
        sws_scale(m->sws, src, src_stride, 0, H, m->frame->data, m->frame->linesize);
        m->frame->pts = t;
        TRY(mp4_encode(m, m->frame, path));
    }
    TRY(mp4_encode(m, NULL, path));
    r = av_write_trailer(m->fmt);
    if (r < 0) WANC_FAIL(WANC_EIO, "%s: cannot finish the file: %s", path, av_err(r, e, sizeof e));
    r = avio_closep(&m->fmt->pb);
    if (r < 0) WANC_FAIL(WANC_EIO, "%s: close failed: %s", path, av_err(r, e, sizeof e));
    return NULL;
}

wanc_err wanc_video_write_mp4(const char *path, const uint8_t *frames, int T, int H, int W, double fps, int quality)
{
    TRY(check_frames(path ? path : "mp4", frames, T, H, W));
    if (!path || !*path) WANC_FAIL(WANC_EINVAL, "mp4: no output path");
    if (!(fps > 0 && fps <= 1000)) WANC_FAIL(WANC_EINVAL, "%s: fps %g is not in (0, 1000]", path, fps);
    if (quality < 0 || quality > 10) WANC_FAIL(WANC_EINVAL, "%s: quality %d is not in 0..10", path, quality);
    ffmpeg_quiet();
    char tmp[4096];
    if (!wanc_atomic_temp_name(tmp, sizeof tmp, path)) WANC_FAIL(WANC_EINVAL, "%s: path too long", path);
    mp4_writer m = {0};
    wanc_err err = mp4_write(&m, tmp, path, frames, T, H, W, fps, quality);
    mp4_close(&m);
    if (err) {
        unlink(tmp);
        return err;
    }
    return wanc_atomic_commit_path(tmp, path);
}

/* ---- png frames, safetensors ------------------------------------------------ */

static wanc_err write_png_frames(const char *dir, const uint8_t *frames, int T, int H, int W)
{
    char p[4096];
    for (int t = 0; t < T; t++) {
        snprintf(p, sizeof p, "%s/frame_%05d.png", dir, t);
        TRYC(wanc_png_write(p, frames + (size_t)t * H * W * 3, H, W), "frame %d", t);
    }
    return NULL;
}

/* Remove a temporary frame folder and what is in it. */
static void remove_frames(const char *dir, int T)
{
    char p[4096];
    for (int t = 0; t < T; t++) {
        snprintf(p, sizeof p, "%s/frame_%05d.png", dir, t);
        unlink(p);
    }
    rmdir(dir);
}

wanc_err wanc_video_write_pngs(const char *dir_arg, const uint8_t *frames, int T, int H, int W)
{
    TRY(check_frames(dir_arg ? dir_arg : "frames", frames, T, H, W));
    if (!dir_arg || !*dir_arg) WANC_FAIL(WANC_EINVAL, "png frames: no output folder");
    char dir[4096]; /* without trailing slashes: "out/" names the folder out */
    if (snprintf(dir, sizeof dir, "%s", dir_arg) >= (int)sizeof dir) WANC_FAIL(WANC_EINVAL, "%s: path too long", dir_arg);
    for (size_t n = strlen(dir); n > 1 && dir[n - 1] == '/';) dir[--n] = 0;
    /* A new (or empty) folder appears whole: the frames go to a temporary
     * folder renamed onto it at the end. Into a folder that already holds
     * files, each frame is still written whole (temporary name, rename). */
    char tmp[4096];
    if (!wanc_atomic_temp_name(tmp, sizeof tmp, dir)) WANC_FAIL(WANC_EINVAL, "%s: path too long", dir);
    if (rmdir(dir) != 0 && errno != ENOENT) {
        struct stat st;
        if (stat(dir, &st) != 0 || !S_ISDIR(st.st_mode)) WANC_FAIL(WANC_EIO, "%s: not a folder", dir);
        return write_png_frames(dir, frames, T, H, W);
    }
    if (mkdir(tmp, 0777) != 0) WANC_FAIL(WANC_EIO, "%s: cannot create: %s", dir, strerror(errno));
    wanc_err err = write_png_frames(tmp, frames, T, H, W);
    if (!err && rename(tmp, dir) != 0)
        err = wanc_error(WANC_EIO, "%s: cannot rename the frames into place: %s", dir, strerror(errno));
    if (err) remove_frames(tmp, T);
    return err;
}

wanc_err wanc_video_write_safetensors(const char *path, const uint8_t *frames, int T, int H, int W, double fps)
{
    TRY(check_frames(path ? path : "safetensors", frames, T, H, W));
    if (!path || !*path) WANC_FAIL(WANC_EINVAL, "safetensors frames: no output path");
    wanc_tensor t = wanc_tensor_wrap((void *)frames, WANC_U8, 4, (int64_t[]){T, H, W, 3});
    const char *names[1] = {"frames"};
    char fps_s[32];
    snprintf(fps_s, sizeof fps_s, "%g", fps);
    const char *meta[] = {"layout", "T H W C: frames, rows, columns, RGB (uint8)", "fps", fps_s, NULL};
    return wanc_safetensors_write(path, 1, names, &t, meta);
}

/* ---- reading ---------------------------------------------------------------- */

typedef struct video_reader {
    AVFormatContext *fmt;
    AVCodecContext *dec;
    AVFrame *frame;
    AVPacket *pkt;
    struct SwsContext *sws;
    uint8_t *buf;
    size_t cap;
    int T, H, W, max_frames;
} video_reader;

/* Convert the decoded frame to RGB and append it. */
static wanc_err reader_take(video_reader *v, const char *path)
{
    AVFrame *f = v->frame;
    if (v->T == 0) {
        v->H = f->height;
        v->W = f->width;
        if (v->H < 1 || v->W < 1) WANC_FAIL(WANC_EFORMAT, "%s: frame of size %dx%d", path, v->H, v->W);
        if (v->H > WANC_LIMIT_FRAME_SIDE || v->W > WANC_LIMIT_FRAME_SIDE ||
            (int64_t)v->H * v->W > WANC_LIMIT_FRAME_PIXELS)
            WANC_FAIL(WANC_EUNSUPPORTED, "%s: frames of %dx%d are over the limit (%d per side, %d pixels)", path,
                      v->W, v->H, WANC_LIMIT_FRAME_SIDE, WANC_LIMIT_FRAME_PIXELS);
    } else if (f->height != v->H || f->width != v->W) {
        WANC_FAIL(WANC_EUNSUPPORTED, "%s: frame %d is %dx%d, the first was %dx%d", path, v->T, f->height, f->width,
                  v->H, v->W);
    }
    v->sws = sws_getCachedContext(v->sws, f->width, f->height, (enum AVPixelFormat)f->format, v->W, v->H,
                                  AV_PIX_FMT_RGB24, SWS_BICUBIC, NULL, NULL, NULL);
    if (!v->sws) WANC_FAIL(WANC_EUNSUPPORTED, "%s: cannot convert pixel format %d to RGB", path, f->format);
    size_t fb = (size_t)v->H * v->W * 3, need = (size_t)(v->T + 1) * fb;
    if (v->T >= WANC_LIMIT_VIDEO_FRAMES || need > WANC_LIMIT_VIDEO_BYTES)
        WANC_FAIL(WANC_EUNSUPPORTED, "%s: more than %d frames or %zu MiB of %dx%d RGB frames (the limits)", path,
                  v->T >= WANC_LIMIT_VIDEO_FRAMES ? WANC_LIMIT_VIDEO_FRAMES : v->T, WANC_LIMIT_VIDEO_BYTES >> 20,
                  v->W, v->H);
    if (need > v->cap) {
        /* grow by doubling, from room for 8 frames (or max_frames), never past the byte limit */
        size_t cap = v->cap ? v->cap * 2 : fb * (size_t)(v->max_frames > 0 && v->max_frames < 8 ? v->max_frames : 8);
        while (cap < need) cap *= 2;
        if (cap > WANC_LIMIT_VIDEO_BYTES) cap = need > WANC_LIMIT_VIDEO_BYTES / 2 ? WANC_LIMIT_VIDEO_BYTES : need * 2;
        uint8_t *nb = realloc(v->buf, cap);
        if (!nb) WANC_FAIL(WANC_ENOMEM, "%s: out of memory at frame %d", path, v->T);
        v->buf = nb;
        v->cap = cap;
    }
    uint8_t *dst[1] = {v->buf + (size_t)v->T * fb};
    int dst_stride[1] = {v->W * 3};
    sws_scale(v->sws, (const uint8_t *const *)f->data, f->linesize, 0, f->height, dst, dst_stride);
    v->T++;
    return NULL;
}

/* Drain decoded frames; *full is set when max_frames is reached. */
static wanc_err reader_drain(video_reader *v, const char *path, int max_frames, bool *full)
{
    char e[128];
    for (;;) {
        int r = avcodec_receive_frame(v->dec, v->frame);
        if (r == AVERROR(EAGAIN) || r == AVERROR_EOF) return NULL;
        if (r < 0) WANC_FAIL(WANC_EFORMAT, "%s: decoding failed: %s", path, av_err(r, e, sizeof e));
        wanc_err err = reader_take(v, path);
        av_frame_unref(v->frame);
        TRY(err);
        if (max_frames > 0 && v->T >= max_frames) {
            *full = true;
            return NULL;
        }
    }
}

static wanc_err reader_run(video_reader *v, const char *path, int max_frames)
{
    char e[128];
    int r = avformat_open_input(&v->fmt, path, NULL, NULL);
    if (r < 0) WANC_FAIL(WANC_EFORMAT, "%s: not a readable video or image: %s", path, av_err(r, e, sizeof e));
    r = avformat_find_stream_info(v->fmt, NULL);
    if (r < 0) WANC_FAIL(WANC_EFORMAT, "%s: not a video or image: %s", path, av_err(r, e, sizeof e));
    const AVCodec *codec = NULL;
    int si = av_find_best_stream(v->fmt, AVMEDIA_TYPE_VIDEO, -1, -1, &codec, 0);
    if (si < 0 || !codec) WANC_FAIL(WANC_EFORMAT, "%s: not a video or image (no video stream)", path);
    /* ffmpeg renders text files as ANSI art "video": that is not an input */
    enum AVCodecID id = v->fmt->streams[si]->codecpar->codec_id;
    if (id == AV_CODEC_ID_ANSI || id == AV_CODEC_ID_TEXT || id == AV_CODEC_ID_BINTEXT || id == AV_CODEC_ID_XBIN ||
        id == AV_CODEC_ID_IDF)
        WANC_FAIL(WANC_EFORMAT, "%s: not a video or image (text)", path);
    v->dec = avcodec_alloc_context3(codec);
    v->frame = av_frame_alloc();
    v->pkt = av_packet_alloc();
    if (!v->dec || !v->frame || !v->pkt) WANC_FAIL(WANC_ENOMEM, "%s: out of memory", path);
    r = avcodec_parameters_to_context(v->dec, v->fmt->streams[si]->codecpar);
    v->dec->max_pixels = WANC_LIMIT_FRAME_PIXELS; /* the decoder refuses larger frames before allocating */
    if (r >= 0) r = avcodec_open2(v->dec, codec, NULL);
    if (r < 0) WANC_FAIL(WANC_EFORMAT, "%s: cannot open the decoder: %s", path, av_err(r, e, sizeof e));

    bool full = false;
    while (!full && (r = av_read_frame(v->fmt, v->pkt)) >= 0) {
        if (v->pkt->stream_index == si) {
            /* EAGAIN: the decoder wants its frames taken before more input */
            int s;
            while ((s = avcodec_send_packet(v->dec, v->pkt)) == AVERROR(EAGAIN) && !full)
                TRY(reader_drain(v, path, max_frames, &full));
            av_packet_unref(v->pkt);
            if (s < 0 && s != AVERROR(EAGAIN))
                WANC_FAIL(WANC_EFORMAT, "%s: corrupt video data: %s", path, av_err(s, e, sizeof e));
            if (!full) TRY(reader_drain(v, path, max_frames, &full));
        } else {
            av_packet_unref(v->pkt);
        }
    }
    if (!full) {
        avcodec_send_packet(v->dec, NULL); /* flush */
        TRY(reader_drain(v, path, max_frames, &full));
    }
    if (v->T == 0) WANC_FAIL(WANC_EFORMAT, "%s: no frame could be decoded", path);
    return NULL;
}

wanc_err wanc_video_read(const char *path, uint8_t **frames, int *T, int *H, int *W, int max_frames)
{
    if (!path || !frames || !T || !H || !W) WANC_FAIL(WANC_EINVAL, "video read: NULL argument");
    *frames = NULL;
    *T = *H = *W = 0;
    struct stat st;
    if (stat(path, &st) != 0) WANC_FAIL(WANC_EIO, "%s: %s", path, strerror(errno));
    if (!S_ISREG(st.st_mode)) WANC_FAIL(WANC_EIO, "%s: not a regular file", path);
    ffmpeg_quiet();
    video_reader v = {.max_frames = max_frames};
    wanc_err err = reader_run(&v, path, max_frames);
    avformat_close_input(&v.fmt);
    avcodec_free_context(&v.dec);
    av_frame_free(&v.frame);
    av_packet_free(&v.pkt);
    sws_freeContext(v.sws);
    if (err) {
        free(v.buf);
        return err;
    }
    *frames = v.buf;
    *T = v.T;
    *H = v.H;
    *W = v.W;
    return NULL;
}
