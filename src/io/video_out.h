/* Video frames in and out: the decoded video -> uint8 frames -> files.
 *
 * Frames are uint8 RGB, [T, H, W, 3] contiguous (row-major, as torch/numpy).
 *
 *   wanc_video_to_u8       VAE output [B, 3, T, H, W] float in [-1, 1] -> frames
 *   wanc_video_write_mp4   H.264 (libx264, yuv420p) mp4, as DiffSynth's save_video
 *   wanc_video_write_pngs  a folder of frame_00000.png, frame_00001.png, ...
 *   wanc_video_write_safetensors  the raw frames as one U8 tensor "frames"
 *   wanc_video_read        any video (or image) ffmpeg can decode -> frames
 *
 * Every writer writes to a temporary name next to the target and renames it
 * when complete, so a failed run leaves no half-written file behind.
 */
#ifndef WANC_IO_VIDEO_OUT_H
#define WANC_IO_VIDEO_OUT_H

#include <stdbool.h>
#include <stdint.h>

#include "core/error.h"

/* out[T, H, W, C] = trunc(clip((x + 1)·127.5, 0, 255)) of video[B, C, T, H, W]
 * averaged over B, as DiffSynth's vae_output_to_video. bf16: the video is
 * bf16 and (x+1), ·127.5 (and the mean over B) round to bf16 as torch does.
 * NaN becomes 0. */
wanc_err wanc_video_to_u8(uint8_t *out, const float *video, int B, int C, int T, int H, int W, bool bf16);

/* What DiffSynth's Wan examples pass to save_video: fps=15, quality=5 (CRF 25).
 * (save_video's own default quality is 9; no example relies on it.) */
#define WANC_VIDEO_DEFAULT_FPS 15
#define WANC_VIDEO_DEFAULT_QUALITY 5

/* The x264 CRF for an imageio quality q in [0, 10] (see video_out.c). */
int wanc_video_quality_to_crf(int quality);

/* frames[T, H, W, 3] -> H.264 mp4 at `fps`, quality 0..10 (imageio's scale). */
wanc_err wanc_video_write_mp4(const char *path, const uint8_t *frames, int T, int H, int W, double fps, int quality);
/* frames -> dir/frame_00000.png ... (dir is created; existing frames are replaced). */
wanc_err wanc_video_write_pngs(const char *dir, const uint8_t *frames, int T, int H, int W);
/* frames -> a .safetensors holding "frames" U8 [T, H, W, 3] (and fps in the metadata). */
wanc_err wanc_video_write_safetensors(const char *path, const uint8_t *frames, int T, int H, int W, double fps);

/* Decode every frame of a video file (or a single image) to RGB uint8.
 * *frames is malloc'd [T, H, W, 3]; the caller frees it. max_frames <= 0:
 * all frames. A file that is not a video/image is a named error. */
wanc_err wanc_video_read(const char *path, uint8_t **frames, int *T, int *H, int *W, int max_frames);

#endif
