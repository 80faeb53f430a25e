/* The CPU backend: the function table, host memory, shared helpers
 * (OpenBLAS set-up, per-thread scratch, weight dtype conversion) and the
 * sgemm yardstick. The ops themselves live in one file per family. */
#include <cblas.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>

#if defined(__AVX2__) || defined(__F16C__)
#include <immintrin.h>
#endif

#include "core/clock.h"
#include "backend/cpu/cpu_internal.h"
#include "core/quant.h"
#include "core/threads.h"

/* ---- OpenBLAS -------------------------------------------------------- */

static pthread_once_t blas_once = PTHREAD_ONCE_INIT;
static void blas_single_thread(void) { openblas_set_num_threads(1); }
void cpu_blas_init(void) { pthread_once(&blas_once, blas_single_thread); }

/* ---- per-thread scratch ----------------------------------------------- */

/* Kept for the thread's lifetime (pool threads never exit), so hot loops do
 * not page-fault fresh buffers on every call. */
static _Thread_local struct {
    void *p;
    size_t cap;
} scratch[CPU_SCRATCH_SLOTS];

void *cpu_scratch(int slot, size_t bytes)
{
    if (slot < 0 || slot >= CPU_SCRATCH_SLOTS) return NULL;
    if (bytes == 0) bytes = 64;
    if (scratch[slot].cap < bytes) {
        size_t cap = (bytes + 4095) & ~(size_t)4095;
        void *p = aligned_alloc(64, cap);
        if (!p) return NULL;
        free(scratch[slot].p);
        scratch[slot].p = p;
        scratch[slot].cap = cap;
    }
    return scratch[slot].p;
}

/* ---- weight conversion --------------------------------------------------- */

int cpu_weight_dtype_ok(wanc_dtype dt) { return wanc_dtype_is_float(dt); }

void cpu_weight_rows(float *dst, const wanc_tensor *w, int64_t row0, int64_t nrows, int64_t K)
{
    if (w->scale == 0.0f && (w->dtype == WANC_F32 || w->dtype == WANC_BF16 || w->dtype == WANC_F16)) {
        cpu_to_f32(dst, (const char *)w->data + (size_t)(row0 * K) * wanc_dtype_size(w->dtype), w->dtype,
                   (size_t)(nrows * K));
        return;
    }
    /* fp8, block-quantized, scaled: the shared decoder (checked by the caller) */
    wanc_err e = wanc_weight_rows_to_f32(dst, w, row0, nrows);
    wanc_error_free(e);
}

void cpu_to_f32(float *dst, const void *src, wanc_dtype dt, size_t n)
{
    size_t i = 0;
    if (dt == WANC_F32) {
        memcpy(dst, src, n * sizeof(float));
    } else if (dt == WANC_BF16) {
        const uint16_t *s = src;
#ifdef __AVX2__
        for (; i + 16 <= n; i += 16) {
            __m256i h = _mm256_loadu_si256((const __m256i *)(s + i));
            __m256i lo = _mm256_slli_epi32(_mm256_cvtepu16_epi32(_mm256_castsi256_si128(h)), 16);
            __m256i hi = _mm256_slli_epi32(_mm256_cvtepu16_epi32(_mm256_extracti128_si256(h, 1)), 16);
            _mm256_storeu_si256((__m256i *)(dst + i), lo);
            _mm256_storeu_si256((__m256i *)(dst + i + 8), hi);
        }
#endif
        for (; i < n; i++) dst[i] = wanc_bf16_to_f32(s[i]);
    } else if (dt == WANC_F16) {
        const uint16_t *s = src;
#ifdef __F16C__
        for (; i + 8 <= n; i += 8)
            _mm256_storeu_ps(dst + i, _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(s + i))));
#endif
        for (; i < n; i++) dst[i] = wanc_f16_to_f32(s[i]);
    } else {
        wanc_error_free(wanc_dequantize(dst, src, dt, (int64_t)n));
    }
}

/* ---- memory ---------------------------------------------------------------- */

/* Activations of 8 MB and more (a VAE layer's output at 240x416 is 150 MB)
 * are asked for in transparent huge pages: glibc maps each such block afresh
 * and unmaps it on free, so every activation paid one page fault per 4 KB,
 * which on a virtual machine was ~30 % of a bf16 VAE decode (2 MB pages: 512
 * times fewer faults, and fewer TLB misses in the GEMMs). A block's last
 * partial 2 MB and smaller blocks stay in 4 KB pages, so nothing becomes
 * resident that is not written. Where the kernel gives no huge pages the
 * hint does nothing. */
#define HUGE_BLOCK_MIN ((size_t)8 << 20)
#define HUGE_PAGE ((size_t)2 << 20)

static wanc_err cpu_alloc(const wanc_backend *be, void **out, size_t bytes)
{
    (void)be;
    size_t rounded = (bytes + 63) & ~(size_t)63;
    if (rounded < bytes) WANC_FAIL(WANC_ENOMEM, "cpu alloc: %zu bytes overflows", bytes);
    void *p = NULL;
#ifdef MADV_HUGEPAGE
    if (rounded >= HUGE_BLOCK_MIN) {
        if (posix_memalign(&p, HUGE_PAGE, rounded)) p = NULL;
        else (void)madvise(p, rounded & ~(HUGE_PAGE - 1), MADV_HUGEPAGE); /* the tail: 4 KB pages */
    }
#endif
    if (!p) p = aligned_alloc(64, rounded ? rounded : 64);
    if (!p) WANC_FAIL(WANC_ENOMEM, "cpu alloc: out of memory for %zu bytes", bytes);
    *out = p;
    return NULL;
}

static void cpu_free(const wanc_backend *be, void *p)
{
    (void)be;
    free(p);
}

static wanc_err cpu_copy(const wanc_backend *be, void *dst, const void *src, size_t bytes)
{
    (void)be;
    if (bytes && (!dst || !src)) WANC_FAIL(WANC_EINVAL, "cpu copy: NULL buffer for %zu bytes", bytes);
    if (bytes) memmove(dst, src, bytes);
    return NULL;
}

static const wanc_backend cpu_table = {
    .name = "cpu",
    .alloc = cpu_alloc,
    .free = cpu_free,
    .upload = cpu_copy,
    .download = cpu_copy,
    .linear = cpu_linear,
    .gemm = cpu_gemm,
    .layer_norm = cpu_layer_norm,
    .rms_norm = cpu_rms_norm,
    .softmax = cpu_softmax,
    .gelu_tanh = cpu_gelu_tanh,
    .gelu_erf = cpu_gelu_erf,
    .silu = cpu_silu,
    .add = cpu_add,
    .mul = cpu_mul,
    .scale = cpu_scale,
    .round_bf16 = cpu_round_bf16,
    .modulate = cpu_modulate,
    .gated_add = cpu_gated_add,
    .attention = cpu_attention,
    .rope = cpu_rope,
    .conv3d = cpu_conv3d,
    .channel_rms_norm = cpu_channel_rms_norm,
    .upsample_nearest2x = cpu_upsample_nearest2x,
    .copy_strided = cpu_copy_strided,
    .fill = cpu_fill,
    .conv3d_hist = cpu_conv3d_hist,
    .mul_rows = cpu_mul_rows,
    .relu = cpu_relu,
    .linear_backward = cpu_linear_backward,
    .layer_norm_backward = cpu_layer_norm_backward,
    .rms_norm_backward = cpu_rms_norm_backward,
    .modulate_backward = cpu_modulate_backward,
    .mul_rows_backward = cpu_mul_rows_backward,
    .gelu_tanh_backward = cpu_gelu_tanh_backward,
    .gelu_erf_backward = cpu_gelu_erf_backward,
    .silu_backward = cpu_silu_backward,
    .rope_backward = cpu_rope_backward,
    .attention_lse = cpu_attention_lse,
    .attention_backward = cpu_attention_backward,
    .linear_fused = cpu_linear_fused,
    .layer_norm_modulate = cpu_layer_norm_modulate,
};

const wanc_backend *wanc_backend_cpu(void)
{
    cpu_blas_init();
    return &cpu_table;
}

static wanc_backend cpu_q8_int8_table;
static pthread_once_t q8_int8_once = PTHREAD_ONCE_INIT;
static void q8_int8_table_init(void)
{
    cpu_q8_int8_table = cpu_table;
    cpu_q8_int8_table.q8_int8 = 1;
}

const wanc_backend *wanc_backend_cpu_q8_int8(void)
{
    cpu_blas_init();
    pthread_once(&q8_int8_once, q8_int8_table_init);
    return &cpu_q8_int8_table;
}

/* ---- the sgemm yardstick -------------------------------------------------------- */

/* Plain OpenBLAS sgemm with OpenBLAS's own threading at the wanc thread
 * count: what the machine's BLAS does on a big square product, the rate the
 * ops' benchmarks are compared with. (The ops themselves never use OpenBLAS
 * threading, see cpu_internal.h; the count is put back to 1 afterwards.) */
double wanc_sgemm_gflops(int n, int reps)
{
    cpu_blas_init();
    if (n <= 0) return 0;
    if (reps <= 0) reps = 1;
    size_t nn = (size_t)n * (size_t)n;
    float *a = malloc(nn * sizeof(float)), *b = malloc(nn * sizeof(float)), *c = malloc(nn * sizeof(float));
    double *times = malloc((size_t)reps * sizeof(double));
    double rate = 0;
    if (a && b && c && times) {
        uint32_t s = 12345;
        for (size_t i = 0; i < nn; i++) {
            s = s * 1664525u + 1013904223u;
            a[i] = (float)(s >> 8) / 16777216.0f - 0.5f;
            b[i] = (float)((s * 2654435761u) >> 8) / 16777216.0f - 0.5f;
        }
        openblas_set_num_threads(wanc_threads_get());
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, n, n, n, 1.0f, a, n, b, n, 0.0f, c, n); /* warm-up */
        for (int r = 0; r < reps; r++) {
            double t0 = wanc_now_seconds();
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, n, n, n, 1.0f, a, n, b, n, 0.0f, c, n);
            times[r] = wanc_now_seconds() - t0;
        }
        openblas_set_num_threads(1);
        double med = wanc_median(times, reps);
        rate = med > 0 ? 2.0 * (double)n * n * n / med * 1e-9 : 0;
    }
    free(a);
    free(b);
    free(c);
    free(times);
    return rate;
}
