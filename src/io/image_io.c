/* Still images (see image_io.h): PNG by libpng, the rest by ffmpeg. */
#include "io/image_io.h"

#include <errno.h>
#include <png.h>
#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/limits.h"
#include "io/atomic_file.h"
#include "io/video_out.h"

/* libpng reports errors by longjmp; its messages are kept for ours. */
typedef struct png_errbuf {
    jmp_buf jmp;
    char msg[200];
} png_errbuf;

static void png_on_error(png_structp png, png_const_charp msg)
{
    png_errbuf *e = png_get_error_ptr(png);
    snprintf(e->msg, sizeof e->msg, "%s", msg);
    longjmp(e->jmp, 1);
}

static void png_on_warning(png_structp png, png_const_charp msg)
{
    (void)png;
    (void)msg; /* the library does not print */
}

/* Write the PNG to an open file; 0 on success, with the message in e. */
static int png_encode(FILE *f, const uint8_t *rgb, int H, int W, png_errbuf *e)
{
    png_structp png = png_create_write_struct(PNG_LIBPNG_VER_STRING, e, png_on_error, png_on_warning);
    if (!png) return snprintf(e->msg, sizeof e->msg, "out of memory"), -1;
    png_infop info = png_create_info_struct(png);
    if (!info || setjmp(e->jmp)) {
        if (!info) snprintf(e->msg, sizeof e->msg, "out of memory");
        png_destroy_write_struct(&png, &info);
        return -1;
    }
    png_init_io(png, f);
    /* chunk sizes (zTXt, iCCP, ...) capped so a small file cannot inflate to gigabytes */
    png_set_chunk_malloc_max(png, (png_alloc_size_t)8 << 20);
    png_set_IHDR(png, info, (png_uint_32)W, (png_uint_32)H, 8, PNG_COLOR_TYPE_RGB, PNG_INTERLACE_NONE,
                 PNG_COMPRESSION_TYPE_DEFAULT, PNG_FILTER_TYPE_DEFAULT);
    png_write_info(png, info);
    for (int y = 0; y < H; y++) png_write_row(png, (png_const_bytep)(rgb + (size_t)y * W * 3));
    png_write_end(png, NULL);
    png_destroy_write_struct(&png, &info);
    return 0;
}

wanc_err wanc_png_write(const char *path, const uint8_t *rgb, int H, int W)
{
    if (!path || !*path || !rgb) WANC_FAIL(WANC_EINVAL, "png write: NULL argument");
    if (H < 1 || W < 1 || H > 1 << 16 || W > 1 << 16) WANC_FAIL(WANC_ESHAPE, "%s: image size %dx%d", path, H, W);
    wanc_atomic_file a;
    TRY(wanc_atomic_open(&a, path));
    png_errbuf e = {.msg = ""};
    if (png_encode(a.f, rgb, H, W, &e)) {
        wanc_atomic_abort(&a);
        WANC_FAIL(WANC_EIO, "%s: writing PNG failed: %s", path, e.msg);
    }
    TRY(wanc_atomic_commit(&a));
    return NULL;
}

/* Decode an open PNG into *rgb; 0 on success. */
static int png_decode(FILE *f, uint8_t **rgb, int *H, int *W, png_errbuf *e)
{
    png_structp png = png_create_read_struct(PNG_LIBPNG_VER_STRING, e, png_on_error, png_on_warning);
    if (!png) return snprintf(e->msg, sizeof e->msg, "out of memory"), -1;
    png_infop info = png_create_info_struct(png);
    uint8_t *volatile out = NULL;
    png_bytep *volatile rows = NULL;
    if (!info || setjmp(e->jmp)) {
        if (!info) snprintf(e->msg, sizeof e->msg, "out of memory");
        png_destroy_read_struct(&png, &info, NULL);
        free(out);
        free(rows);
        return -1;
    }
    png_init_io(png, f);
    png_read_info(png, info);
    png_uint_32 w = png_get_image_width(png, info), h = png_get_image_height(png, info);
    if (w < 1 || h < 1 || w > WANC_LIMIT_FRAME_SIDE || h > WANC_LIMIT_FRAME_SIDE ||
        (uint64_t)w * h > WANC_LIMIT_FRAME_PIXELS)
        png_error(png, "image size out of range (the limits: 16384 per side, 2^26 pixels)");
    /* any colour type / depth -> 8-bit RGB */
    png_set_expand(png);
    png_set_strip_16(png);
    png_set_strip_alpha(png);
    png_set_gray_to_rgb(png);
    png_set_interlace_handling(png);
    png_read_update_info(png, info);
    if (png_get_rowbytes(png, info) != (size_t)w * 3) png_error(png, "unexpected row layout");
    out = malloc((size_t)w * h * 3);
    rows = malloc(sizeof(png_bytep) * h);
    if (!out || !rows) png_error(png, "out of memory");
    for (png_uint_32 y = 0; y < h; y++) rows[y] = out + (size_t)y * w * 3;
    png_read_image(png, rows);
    png_read_end(png, NULL);
    png_destroy_read_struct(&png, &info, NULL);
    free(rows);
    *rgb = out;
    *H = (int)h;
    *W = (int)w;
    return 0;
}

wanc_err wanc_png_read(const char *path, uint8_t **rgb, int *H, int *W)
{
    if (!path || !rgb || !H || !W) WANC_FAIL(WANC_EINVAL, "png read: NULL argument");
    *rgb = NULL;
    FILE *f = fopen(path, "rb");
    if (!f) WANC_FAIL(WANC_EIO, "%s: %s", path, strerror(errno));
    uint8_t sig[8];
    if (fread(sig, 1, 8, f) != 8 || png_sig_cmp(sig, 0, 8)) {
        fclose(f);
        WANC_FAIL(WANC_EFORMAT, "%s: not a PNG file", path);
    }
    rewind(f);
    png_errbuf e = {.msg = ""};
    int bad = png_decode(f, rgb, H, W, &e);
    fclose(f);
    if (bad) WANC_FAIL(WANC_EFORMAT, "%s: bad PNG: %s", path, e.msg);
    return NULL;
}

wanc_err wanc_image_read(const char *path, uint8_t **rgb, int *H, int *W)
{
    if (!path || !rgb || !H || !W) WANC_FAIL(WANC_EINVAL, "image read: NULL argument");
    FILE *f = fopen(path, "rb");
    if (!f) WANC_FAIL(WANC_EIO, "%s: %s", path, strerror(errno));
    uint8_t sig[8] = {0};
    size_t n = fread(sig, 1, 8, f);
    fclose(f);
    if (n == 8 && !png_sig_cmp(sig, 0, 8)) return wanc_png_read(path, rgb, H, W);
    int T;
    TRYC(wanc_video_read(path, rgb, &T, H, W, 1), "reading image");
    return NULL;
}
