/* Still images: PNG through libpng, other formats (JPEG, WebP, BMP, ...)
 * through ffmpeg's decoders. Pixels are uint8 RGB [H, W, 3]. */
#ifndef WANC_IO_IMAGE_IO_H
#define WANC_IO_IMAGE_IO_H

#include <stdint.h>

#include "core/error.h"

/* Write rgb[H, W, 3] as an 8-bit RGB PNG (temporary name, then rename). */
wanc_err wanc_png_write(const char *path, const uint8_t *rgb, int H, int W);
/* Read a PNG (any bit depth / colour type -> 8-bit RGB; alpha dropped). *rgb malloc'd. */
wanc_err wanc_png_read(const char *path, uint8_t **rgb, int *H, int *W);
/* Read any image: PNG by libpng, others by ffmpeg (first frame). *rgb malloc'd. */
wanc_err wanc_image_read(const char *path, uint8_t **rgb, int *H, int *W);

#endif
