/* Fun Control-Camera's camera input (DiffSynth's FunCameraControl unit and
 * SimpleAdapter.process_camera_coordinates):
 *
 *   poses    one 19-value row per frame (timestamp, fx, fy, cx, cy, 0, 0, the
 *            3x4 world-to-camera matrix row-major), frame i moving entry 9
 *            (Left +, Right −) and/or 13 (Up +, Down −) by i·speed from origin;
 *   plucker  [T, H, W, 6] = (o × d, d) per pixel, rays through pixel centres,
 *            poses relative to frame 0, intrinsics rescaled from a 1280x720
 *            source aspect; float64 pose algebra, float32 rays (as DiffSynth);
 *   fold     control_camera_latents_input [24, F, H, W]: channel 4c + k of
 *            latent frame f = plücker channel c of pixel frame max(0, 4f+k−3).
 */
#ifndef WANC_PIPELINE_CAMERA_H
#define WANC_PIPELINE_CAMERA_H

#include "core/error.h"

#define WANC_CAMERA_ORIGIN_LEN 19
#define WANC_CAMERA_SPEED_DEFAULT (1.0 / 54)

/* DiffSynth's default camera_control_origin. */
extern const double wanc_camera_default_origin[WANC_CAMERA_ORIGIN_LEN];

/* out[T, H, W, 6]. direction: Left, Right, Up, Down, LeftUp, LeftDown,
 * RightUp, RightDown (a named error otherwise); origin NULL = the default. */
wanc_err wanc_camera_plucker(float *out, const char *direction, int T, int H, int W, double speed,
                             const double *origin);

/* out[6·4, (T+3)/4, H, W] from plucker[T, H, W, 6] (T = 4k + 1). */
void wanc_camera_fold(float *out, const float *plucker, int T, int H, int W);

#endif
