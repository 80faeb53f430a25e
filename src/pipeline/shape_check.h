/* The ShapeChecker unit: make a requested video size one the models accept.
 *
 * Height and width are rounded UP to a multiple of the spatial division
 * factor (2 x the VAE's upsampling: 16 for the Wan2.1 VAE, 32 for Wan2.2's),
 * the frame count UP to the next 4k+1 (latent frames T = (frames-1)/4 + 1).
 * Each change produces a one-line notice (the library never prints; the CLI
 * shows them). Sizes that cannot be a video are named errors.
 */
#ifndef WANC_PIPELINE_SHAPE_CHECK_H
#define WANC_PIPELINE_SHAPE_CHECK_H

#include "core/error.h"

#define WANC_SHAPE_MAX_SIDE 16384   /* pixels, after rounding */
#define WANC_SHAPE_MAX_FRAMES 16385 /* after rounding */

typedef struct wanc_video_shape {
    int height, width, num_frames;
    int n_notices;
    char notices[3][112]; /* "height % 16 != 0: rounded up to 48" */
} wanc_video_shape;

/* division: 16 (Wan2.1) or 32 (Wan2.2); num_frames <= 0 is an error
 * (use 1 for a single image). */
wanc_err wanc_check_resize_hwt(wanc_video_shape *out, int height, int width, int num_frames, int division);

#endif
