/* Data-movement ops: strided copy (concat, slice, pad, interleave,
 * transpose), nearest ×2 upsampling, fill.
 *
 * Pure copies: every output element is one input element, so any split over
 * the pool gives the same bits. Splits are chosen from the shapes only. */
#include <string.h>

#include "backend/cpu/cpu_internal.h"
#include "backend/cpu/cpu_simd.h"
#include "core/threads.h"

#define ELEMS_PER_TASK 16384
#define TILE 32 /* transposing tiles: TILE rows × TILE columns touch TILE cache lines each side */
#define MAX_DIMS 8

/* ---- copy_strided -------------------------------------------------------------- */

typedef struct {
    float *out;
    const float *x;
    int nd;                             /* >= 2 after normalising */
    int64_t shape[MAX_DIMS], os[MAX_DIMS], xs[MAX_DIMS];
    int64_t rows_per_task, row_blocks;  /* blocks along dim nd-2 */
} copy_job;

/* Copy rows [r0, r1) of the last two dims at outer offsets (oo, xo). */
static void copy_rows(const copy_job *j, int64_t oo, int64_t xo, int64_t r0, int64_t r1)
{
    const int a = j->nd - 2, b = j->nd - 1;
    const int64_t L = j->shape[b], osa = j->os[a], xsa = j->xs[a], osb = j->os[b], xsb = j->xs[b];
    if (osb == 1 && xsb == 1) {
        for (int64_t r = r0; r < r1; r++)
            memcpy(j->out + oo + r * osa, j->x + xo + r * xsa, sizeof(float) * (size_t)L);
        return;
    }
    for (int64_t c0 = 0; c0 < L; c0 += TILE) {
        int64_t c1 = L - c0 < TILE ? L : c0 + TILE;
        for (int64_t r = r0; r < r1; r++) {
            float *o = j->out + oo + r * osa;
            const float *s = j->x + xo + r * xsa;
            for (int64_t c = c0; c < c1; c++) o[c * osb] = s[c * xsb];
        }
    }
}

static void copy_range(void *ctx, int64_t begin, int64_t end)
{
    const copy_job *j = ctx;
    const int a = j->nd - 2;
    for (int64_t task = begin; task < end; task++) {
        int64_t outer = task / j->row_blocks, blk = task % j->row_blocks;
        int64_t oo = 0, xo = 0;
        for (int d = a - 1; d >= 0; d--) {
            int64_t i = outer % j->shape[d];
            outer /= j->shape[d];
            oo += i * j->os[d];
            xo += i * j->xs[d];
        }
        int64_t r0 = blk * j->rows_per_task, r1 = r0 + j->rows_per_task;
        copy_rows(j, oo, xo, r0, r1 < j->shape[a] ? r1 : j->shape[a]);
    }
}

/* out[Σ i_d·out_strides[d]] = x[Σ i_d·x_strides[d]] for every index of shape[ndim]. */
wanc_err cpu_copy_strided(const wanc_backend *be, float *out, const int64_t *out_strides, const float *x,
                          const int64_t *x_strides, const int64_t *shape, int ndim)
{
    (void)be;
    if (ndim < 1 || ndim > MAX_DIMS) WANC_FAIL(WANC_EINVAL, "copy_strided: ndim %d not in 1..%d", ndim, MAX_DIMS);
    if (!out_strides || !x_strides || !shape) WANC_FAIL(WANC_EINVAL, "copy_strided: NULL shape or strides");
    int64_t total = 1;
    for (int d = 0; d < ndim; d++) {
        if (shape[d] < 0 || out_strides[d] < 0 || x_strides[d] < 0)
            WANC_FAIL(WANC_EINVAL, "copy_strided: dim %d has size %lld, strides %lld/%lld (must be >= 0)", d,
                      (long long)shape[d], (long long)out_strides[d], (long long)x_strides[d]);
        total *= shape[d];
    }
    if (total == 0) return NULL;
    if (!out || !x) WANC_FAIL(WANC_EINVAL, "copy_strided: NULL input or output");
    /* Normalise: drop size-1 dims, merge neighbours that are contiguous on
     * both sides, and pad to two dims, so the kernel sees the fewest loops. */
    copy_job j = {.out = out, .x = x};
    for (int d = 0; d < ndim; d++) {
        if (shape[d] == 1) continue;
        if (j.nd > 0 && j.os[j.nd - 1] == out_strides[d] * shape[d] && j.xs[j.nd - 1] == x_strides[d] * shape[d]) {
            j.shape[j.nd - 1] *= shape[d];
            j.os[j.nd - 1] = out_strides[d];
            j.xs[j.nd - 1] = x_strides[d];
            continue;
        }
        j.shape[j.nd] = shape[d];
        j.os[j.nd] = out_strides[d];
        j.xs[j.nd] = x_strides[d];
        j.nd++;
    }
    while (j.nd < 2) { /* prepend unit dims */
        memmove(j.shape + 1, j.shape, sizeof(int64_t) * (size_t)j.nd);
        memmove(j.os + 1, j.os, sizeof(int64_t) * (size_t)j.nd);
        memmove(j.xs + 1, j.xs, sizeof(int64_t) * (size_t)j.nd);
        j.shape[0] = 1;
        j.os[0] = j.xs[0] = 0;
        j.nd++;
    }
    const int a = j.nd - 2, b = j.nd - 1;
    if (j.os[b] == 1 && j.xs[b] == 1) {
        j.rows_per_task = ELEMS_PER_TASK / j.shape[b];
        if (j.rows_per_task < 1) j.rows_per_task = 1;
    } else {
        j.rows_per_task = TILE;
    }
    if (j.rows_per_task > j.shape[a]) j.rows_per_task = j.shape[a];
    j.row_blocks = (j.shape[a] + j.rows_per_task - 1) / j.rows_per_task;
    int64_t per_task = j.rows_per_task * j.shape[b];
    int64_t chunk = ELEMS_PER_TASK / per_task > 1 ? ELEMS_PER_TASK / per_task : 1;
    wanc_parallel_for(total / (j.shape[a] * j.shape[b]) * j.row_blocks, chunk, copy_range, &j);
    return NULL;
}

/* ---- nearest ×2 upsampling ---------------------------------------------------------- */

typedef struct {
    float *out;
    const float *x;
    int64_t H, W;
} up_job;

static void upsample_range(void *ctx, int64_t begin, int64_t end)
{
    const up_job *j = ctx;
    const int64_t W = j->W;
    for (int64_t r = begin; r < end; r++) { /* input row r = plane·H + i -> output rows 2r, 2r+1 */
        const float *s = j->x + r * W;
        float *o = j->out + 2 * r * 2 * W;
        int64_t c = 0;
#ifdef CPU_HAVE_AVX2
        for (; c + 8 <= W; c += 8) {
            __m256 v = _mm256_loadu_ps(s + c);
            __m256 lo = _mm256_unpacklo_ps(v, v), hi = _mm256_unpackhi_ps(v, v);
            _mm256_storeu_ps(o + 2 * c, _mm256_permute2f128_ps(lo, hi, 0x20));
            _mm256_storeu_ps(o + 2 * c + 8, _mm256_permute2f128_ps(lo, hi, 0x31));
        }
#endif
        for (; c < W; c++) o[2 * c] = o[2 * c + 1] = s[c];
        memcpy(o + 2 * W, o, sizeof(float) * (size_t)(2 * W));
    }
}

/* out[N, 2H, 2W] = x[N, H, W] repeated 2×2 (nearest, scale 2). */
wanc_err cpu_upsample_nearest2x(const wanc_backend *be, float *out, const float *x, int64_t N, int64_t H, int64_t W)
{
    (void)be;
    if (N < 0 || H < 0 || W < 0)
        WANC_FAIL(WANC_EINVAL, "upsample_nearest2x: negative size %lldx%lldx%lld", (long long)N, (long long)H,
                  (long long)W);
    if (N == 0 || H == 0 || W == 0) return NULL;
    if (!out || !x) WANC_FAIL(WANC_EINVAL, "upsample_nearest2x: NULL input or output");
    if (out == x) WANC_FAIL(WANC_EINVAL, "upsample_nearest2x: cannot run in place");
    up_job j = {out, x, H, W};
    int64_t rows = ELEMS_PER_TASK / (4 * W);
    wanc_parallel_for(N * H, rows > 1 ? rows : 1, upsample_range, &j);
    return NULL;
}

/* ---- fill ------------------------------------------------------------------------------ */

typedef struct {
    float *out;
    float value;
} fill_job;

static void fill_range(void *ctx, int64_t begin, int64_t end)
{
    const fill_job *j = ctx;
    for (int64_t i = begin; i < end; i++) j->out[i] = j->value;
}

/* out[n] = value */
wanc_err cpu_fill(const wanc_backend *be, float *out, float value, int64_t n)
{
    (void)be;
    if (n < 0) WANC_FAIL(WANC_EINVAL, "fill: n = %lld < 0", (long long)n);
    if (n == 0) return NULL;
    if (!out) WANC_FAIL(WANC_EINVAL, "fill: NULL output");
    fill_job j = {out, value};
    wanc_parallel_for(n, 4 * ELEMS_PER_TASK, fill_range, &j);
    return NULL;
}
