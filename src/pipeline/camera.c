/* Fun camera: poses → Plücker embedding → the DiT's camera input (see camera.h). */
#include "pipeline/camera.h"

#include <math.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

const double wanc_camera_default_origin[WANC_CAMERA_ORIGIN_LEN] = {
    0, 0.532139961, 0.946026558, 0.5, 0.5, 0, 0, 1, 0, 0, 0, 0, 1, 0, 0, 0, 0, 1, 0};

/* inv of a 4x4 row-major matrix (Gauss-Jordan with partial pivoting, float64). */
static int invert4(double inv[16], const double m[16])
{
    double a[4][8];
    for (int r = 0; r < 4; r++)
        for (int c = 0; c < 8; c++) a[r][c] = c < 4 ? m[r * 4 + c] : (c - 4 == r);
    for (int c = 0; c < 4; c++) {
        int p = c;
        for (int r = c + 1; r < 4; r++)
            if (fabs(a[r][c]) > fabs(a[p][c])) p = r;
        if (fabs(a[p][c]) < 1e-300) return -1;
        if (p != c)
            for (int k = 0; k < 8; k++) {
                double t = a[c][k];
                a[c][k] = a[p][k], a[p][k] = t;
            }
        double d = a[c][c];
        for (int k = 0; k < 8; k++) a[c][k] /= d;
        for (int r = 0; r < 4; r++)
            if (r != c) {
                double f = a[r][c];
                for (int k = 0; k < 8; k++) a[r][k] -= f * a[c][k];
            }
    }
    for (int r = 0; r < 4; r++)
        for (int c = 0; c < 4; c++) inv[r * 4 + c] = a[r][c + 4];
    return 0;
}

static void matmul4(double out[16], const double a[16], const double b[16])
{
    for (int r = 0; r < 4; r++)
        for (int c = 0; c < 4; c++) {
            double s = 0;
            for (int k = 0; k < 4; k++) s += a[r * 4 + k] * b[k * 4 + c];
            out[r * 4 + c] = s;
        }
}

wanc_err wanc_camera_plucker(float *out, const char *direction, int T, int H, int W, double speed,
                             const double *origin)
{
    static const char *const known[] = {"Left", "Right", "Up", "Down", "LeftUp", "LeftDown", "RightUp", "RightDown"};
    bool ok = false;
    for (size_t i = 0; direction && i < sizeof known / sizeof known[0]; i++) ok |= !strcmp(direction, known[i]);
    if (!ok)
        WANC_FAIL(WANC_EINVAL, "camera direction '%s': expected Left, Right, Up, Down, LeftUp, LeftDown, RightUp or "
                  "RightDown", direction ? direction : "(none)");
    if (T < 1 || H < 1 || W < 1 || !isfinite(speed))
        WANC_FAIL(WANC_EINVAL, "camera: %d frames of %dx%d, speed %g", T, H, W, speed);
    if (!origin) origin = wanc_camera_default_origin;
    const int dx = strstr(direction, "Left") ? 1 : strstr(direction, "Right") ? -1 : 0;
    const int dy = strstr(direction, "Up") ? 1 : strstr(direction, "Down") ? -1 : 0;
    /* intrinsics, rescaled for the 1280x720 source aspect (python floats: float64) */
    double fx = origin[1], fy = origin[2];
    const double sample = (double)W / H, pose = 1280.0 / 720.0;
    if (pose > sample) fx = H * pose * fx / W;
    else fy = W / pose * fy / H;
    const float kfx = (float)(fx * W), kfy = (float)(fy * H), kcx = (float)(origin[3] * W),
                kcy = (float)(origin[4] * H);
    /* frame 0's world-to-camera; relative pose of frame i = w2c_0 · inv(w2c_i) */
    double row[WANC_CAMERA_ORIGIN_LEN], w2c0[16] = {0}, w2c[16] = {0}, c2w[16], rel[16];
    memcpy(row, origin, sizeof row);
    for (int k = 0; k < 12; k++) w2c0[k] = origin[7 + k];
    w2c0[15] = 1;
    float *dir = malloc(sizeof(float) * 3 * (size_t)H * W);
    if (!dir) WANC_FAIL(WANC_ENOMEM, "camera rays (%dx%d)", W, H);
    /* unit camera-space rays through the pixel centres (float32) */
    for (int j = 0; j < H; j++)
        for (int i = 0; i < W; i++) {
            float x = ((float)i + 0.5f - kcx) / kfx, y = ((float)j + 0.5f - kcy) / kfy, z = 1.0f;
            float n = sqrtf(x * x + y * y + z * z);
            float *d = dir + 3 * ((size_t)j * W + i);
            d[0] = x / n, d[1] = y / n, d[2] = z / n;
        }
    for (int t = 0; t < T; t++) {
        if (t > 0) { /* cumulative, as the python list of poses */
            row[9] += dx * speed;
            row[13] += dy * speed;
        }
        float R[9], o[3];
        if (t == 0) { /* DiffSynth's target pose: the identity */
            memset(rel, 0, sizeof rel);
            rel[0] = rel[5] = rel[10] = rel[15] = 1;
        } else {
            for (int k = 0; k < 12; k++) w2c[k] = row[7 + k];
            w2c[12] = w2c[13] = w2c[14] = 0, w2c[15] = 1;
            if (invert4(c2w, w2c)) {
                free(dir);
                WANC_FAIL(WANC_EINVAL, "camera: the pose of frame %d is singular", t);
            }
            matmul4(rel, w2c0, c2w);
        }
        for (int r = 0; r < 3; r++) {
            for (int c = 0; c < 3; c++) R[r * 3 + c] = (float)rel[r * 4 + c];
            o[r] = (float)rel[r * 4 + 3];
        }
        float *pl = out + (size_t)t * H * W * 6;
        for (size_t p = 0; p < (size_t)H * W; p++) {
            const float *d = dir + 3 * p;
            float w[3];
            for (int r = 0; r < 3; r++) w[r] = d[0] * R[r * 3] + d[1] * R[r * 3 + 1] + d[2] * R[r * 3 + 2];
            float *e = pl + 6 * p;
            e[0] = o[1] * w[2] - o[2] * w[1];
            e[1] = o[2] * w[0] - o[0] * w[2];
            e[2] = o[0] * w[1] - o[1] * w[0];
            e[3] = w[0], e[4] = w[1], e[5] = w[2];
        }
    }
    free(dir);
    return NULL;
}

void wanc_camera_fold(float *out, const float *plucker, int T, int H, int W)
{
    const int F = (T + 3) / 4;
    const size_t plane = (size_t)H * W;
    for (int c = 0; c < 6; c++)
        for (int k = 0; k < 4; k++)
            for (int f = 0; f < F; f++) {
                int src = 4 * f + k - 3;
                if (src < 0) src = 0;
                float *o = out + ((size_t)(4 * c + k) * F + f) * plane;
                const float *p = plucker + (size_t)src * plane * 6 + c;
                for (size_t i = 0; i < plane; i++) o[i] = p[6 * i];
            }
}
