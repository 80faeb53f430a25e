/* The DiT's float64 tables: timestep sinusoid and 3-D RoPE angles.
 *
 * DiffSynth builds both in float64 (torch.float64 / complex128) and only then
 * casts, so doing the same keeps the fp32 path within ~1e-7 of it.
 */
#include <math.h>

#include "dit/wan_dit.h"

void wanc_dit_sinusoid(double *out, int dim, double t)
{
    int half = dim / 2;
    for (int i = 0; i < half; i++) {
        /* 10000 ** (-i / half), as pow on float64 tensors */
        double arg = t * pow(10000.0, -(double)i / (double)half);
        out[i] = cos(arg);
        out[half + i] = sin(arg);
    }
}

/* Angles of one part of width `d` channels (d/2 pairs): pos · 10000^(-2k/d). */
static void part_angles(double *cs, int pairs_total, int first_pair, int d, int64_t pos)
{
    for (int k = 0; k < d / 2; k++) {
        double freq = 1.0 / pow(10000.0, (double)(2 * k) / (double)d);
        double a = (double)pos * freq;
        cs[2 * (first_pair + k)] = cos(a);
        cs[2 * (first_pair + k) + 1] = sin(a);
    }
    (void)pairs_total;
}

wanc_err wanc_dit_rope_table(double *cos_sin, int64_t F, int64_t H, int64_t W, int head_dim)
{
    int dh = head_dim / 3, df = head_dim - 2 * dh;
    if (head_dim <= 0 || df % 2 || dh % 2)
        WANC_FAIL(WANC_EUNSUPPORTED,
                  "DiT RoPE: head_dim %d does not split into even frame/row/col parts (%d/%d/%d)", head_dim, df, dh,
                  dh);
    int pairs = head_dim / 2;
    for (int64_t f = 0; f < F; f++)
        for (int64_t h = 0; h < H; h++)
            for (int64_t w = 0; w < W; w++) {
                double *cs = cos_sin + ((f * H + h) * W + w) * pairs * 2;
                part_angles(cs, pairs, 0, df, f);
                part_angles(cs, pairs, df / 2, dh, h);
                part_angles(cs, pairs, df / 2 + dh / 2, dh, w);
            }
    return NULL;
}
