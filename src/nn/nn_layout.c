/* Token and patch layouts as the backend's strided copy. */
#include "nn/nn.h"

/* The index space (f, h, w, c, kt, kh, kw) and its strides in the video and
 * in the rows (see nn_patchify). */
static void patch_strides(int64_t shape[7], int64_t vs[7], int64_t rs[7], int64_t *roff, int64_t row_len, int64_t c0,
                          int channels_last, int64_t skip_rows, int64_t C, int64_t F, int64_t H, int64_t W,
                          const int p[3])
{
    const int64_t Fp = F / p[0], Hp = H / p[1], Wp = W / p[2], pv = (int64_t)p[0] * p[1] * p[2];
    const int64_t sh[7] = {Fp, Hp, Wp, C, p[0], p[1], p[2]};
    const int64_t v[7] = {p[0] * H * W, p[1] * W, p[2], F * H * W, H * W, W, 1};
    for (int i = 0; i < 7; i++) shape[i] = sh[i], vs[i] = v[i];
    rs[0] = Hp * Wp * row_len, rs[1] = Wp * row_len, rs[2] = row_len;
    if (channels_last) {
        const int64_t cs = row_len / pv; /* channels per (kt, kh, kw) */
        rs[3] = 1, rs[4] = p[1] * p[2] * cs, rs[5] = p[2] * cs, rs[6] = cs;
        *roff = skip_rows * row_len + c0;
    } else {
        rs[3] = pv, rs[4] = p[1] * p[2], rs[5] = p[2], rs[6] = 1;
        *roff = skip_rows * row_len + c0 * pv;
    }
}

wanc_err nn_patchify(const nn_ctx *c, float *rows, int64_t row_len, int64_t c0, int channels_last, int64_t skip_rows,
                     const float *x, int64_t C, int64_t F, int64_t H, int64_t W, const int patch[3])
{
    int64_t shape[7], vs[7], rs[7], roff;
    patch_strides(shape, vs, rs, &roff, row_len, c0, channels_last, skip_rows, C, F, H, W, patch);
    return c->be->copy_strided(c->be, rows + roff, rs, x, vs, shape, 7);
}

wanc_err nn_unpatchify(const nn_ctx *c, float *x, const float *rows, int64_t row_len, int64_t c0, int channels_last,
                       int64_t skip_rows, int64_t C, int64_t F, int64_t H, int64_t W, const int patch[3])
{
    int64_t shape[7], vs[7], rs[7], roff;
    patch_strides(shape, vs, rs, &roff, row_len, c0, channels_last, skip_rows, C, F, H, W, patch);
    return c->be->copy_strided(c->be, x, vs, rows + roff, rs, shape, 7);
}

wanc_err nn_transpose(const nn_ctx *c, float *dst, const float *src, int64_t rows, int64_t cols)
{
    return c->be->copy_strided(c->be, dst, (const int64_t[]){1, rows}, src, (const int64_t[]){cols, 1},
                               (const int64_t[]){rows, cols}, 2);
}

wanc_err nn_copy(const nn_ctx *c, float *dst, const float *src, int64_t n)
{
    return c->be->copy_strided(c->be, dst, (const int64_t[]){1}, src, (const int64_t[]){1}, (const int64_t[]){n}, 1);
}
