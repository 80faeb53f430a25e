/* Image resampling and pixel → tensor conversion, bit-compatible with what
 * the Wan pipelines do in Python:
 *
 *   - Pillow's Image.resize((w, h)) with its default filter BICUBIC on RGB
 *     uint8 images (separable, antialiased when shrinking, fixed-point
 *     coefficients), so resized images match Pillow byte for byte;
 *   - Pillow's Image.resize with BILINEAR (same algorithm, triangle filter
 *     of support 1), and the training dataset's ImageCropAndResize: resize
 *     to cover the target (torchvision resize of a PIL image = that Pillow
 *     call), then torchvision's center_crop;
 *   - DiffSynth's crop_and_resize (centre crop to the target aspect, then
 *     the Pillow resize), what VideoData(..., height, width) yields;
 *   - preprocess_image: float32(pixel) · (2/255) − 1, HWC → CHW;
 *   - torch's F.interpolate(mode='bicubic', align_corners=False) on float
 *     planes (Keys cubic, A = −0.75, no antialias), used before CLIP.
 *
 * Images are uint8 RGB arrays [H, W, 3], row-major, as decoded from files.
 */
#ifndef WANC_VISION_RESAMPLE_H
#define WANC_VISION_RESAMPLE_H

#include <stdbool.h>
#include <stdint.h>

#include "core/error.h"

/* out[out_h, out_w, 3] = PIL resize of in[in_h, in_w, 3] (BICUBIC).
 * in_row_stride is the distance in bytes between input rows (3·in_w for a
 * whole image; larger when `in` points into a crop). */
wanc_err wanc_resize_pil_bicubic(uint8_t *out, int out_h, int out_w, const uint8_t *in, int in_h, int in_w,
                                 int64_t in_row_stride);

/* The same with Pillow's BILINEAR filter. */
wanc_err wanc_resize_pil_bilinear(uint8_t *out, int out_h, int out_w, const uint8_t *in, int in_h, int in_w,
                                  int64_t in_row_stride);

/* ImageCropAndResize.crop_and_resize of DiffSynth's training dataset:
 * scale = max(w / in_w, h / in_h), Pillow BILINEAR resize to
 * (round(in_h·scale), round(in_w·scale)) (Python rounding, half to even),
 * then torchvision center_crop to h x w (offsets round((size − crop) / 2)).
 * wanc_cover_size gives the intermediate size. out[h, w, 3]. */
void wanc_cover_size(int *rh, int *rw, int in_h, int in_w, int h, int w);
wanc_err wanc_cover_resize_center_crop(uint8_t *out, int h, int w, const uint8_t *in, int in_h, int in_w);

/* The crop DiffSynth's crop_and_resize takes before resizing to (h, w):
 * the rectangle [*y0, *y0 + *ch) x [*x0, *x0 + *cw) of an in_h x in_w image. */
void wanc_crop_for_aspect(int *y0, int *x0, int *ch, int *cw, int in_h, int in_w, int h, int w);

/* out[h, w, 3] = crop_and_resize(in[in_h, in_w, 3], h, w). */
wanc_err wanc_crop_and_resize(uint8_t *out, int h, int w, const uint8_t *in, int in_h, int in_w);

/* preprocess_image of one pixel value: fl(fl(v · fl32(2/255)) − 1); with
 * bf16, each of the two ops is rounded to bf16 (a bf16 pipeline on torch ≥ 2). */
float wanc_pixel_to_float(uint8_t v, bool bf16);

/* out[3, H, W] = preprocess_image(in[H, W, 3]) (float32, no bf16 rounding). */
void wanc_image_to_tensor(float *out, const uint8_t *in, int H, int W);

/* out[C, out_h, out_w] = F.interpolate(in[C, in_h, in_w], (out_h, out_w),
 * mode='bicubic', align_corners=False): 4 taps clamped at the border, no
 * antialias, source coordinate scale·(o + 0.5) − 0.5 with scale =
 * float32(in/out) evaluated in double. */
wanc_err wanc_interpolate_bicubic(float *out, int out_h, int out_w, const float *in, int C, int in_h, int in_w);

#endif
