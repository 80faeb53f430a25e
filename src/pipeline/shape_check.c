/* The ShapeChecker unit (see shape_check.h). */
#include "pipeline/shape_check.h"

#include <stdio.h>
#include <string.h>

/* x rounded up to a multiple of m (x, m > 0, no overflow for the limits used). */
static long long round_up(long long x, long long m) { return (x + m - 1) / m * m; }

static void notice(wanc_video_shape *s, const char *fmt, long long a, long long b)
{
    if (s->n_notices < 3) snprintf(s->notices[s->n_notices++], sizeof s->notices[0], fmt, a, b);
}

wanc_err wanc_check_resize_hwt(wanc_video_shape *out, int height, int width, int num_frames, int division)
{
    memset(out, 0, sizeof *out);
    if (division != 16 && division != 32)
        WANC_FAIL(WANC_EINVAL, "shape check: division factor %d (expected 16 for Wan2.1, 32 for Wan2.2)", division);
    const struct {
        const char *name;
        int v;
    } sides[2] = {{"height", height}, {"width", width}};
    for (int i = 0; i < 2; i++) {
        if (sides[i].v <= 0)
            WANC_FAIL(WANC_EINVAL, "shape check: %s %d is not a positive number of pixels", sides[i].name, sides[i].v);
        if (round_up(sides[i].v, division) > WANC_SHAPE_MAX_SIDE)
            WANC_FAIL(WANC_EINVAL, "shape check: %s %d is too large (at most %d)", sides[i].name, sides[i].v,
                      WANC_SHAPE_MAX_SIDE);
    }
    if (num_frames <= 0)
        WANC_FAIL(WANC_EINVAL, "shape check: num_frames %d is not a positive frame count", num_frames);
    if (num_frames > WANC_SHAPE_MAX_FRAMES)
        WANC_FAIL(WANC_EINVAL, "shape check: num_frames %d is too large (at most %d)", num_frames,
                  WANC_SHAPE_MAX_FRAMES);

    long long h = round_up(height, division), w = round_up(width, division);
    if (h != height) notice(out, "height %% %lld != 0: rounded up to %lld", division, h);
    if (w != width) notice(out, "width %% %lld != 0: rounded up to %lld", division, w);
    /* frames: up to the next 4k+1 */
    long long f = (num_frames - 1 + 3) / 4 * 4 + 1;
    if (f != num_frames) notice(out, "num_frames %% %lld != 1: rounded up to %lld", 4, f);
    if (f > WANC_SHAPE_MAX_FRAMES)
        WANC_FAIL(WANC_EINVAL, "shape check: num_frames %d is too large (at most %d)", num_frames,
                  WANC_SHAPE_MAX_FRAMES);
    out->height = (int)h;
    out->width = (int)w;
    out->num_frames = (int)f;
    return NULL;
}
