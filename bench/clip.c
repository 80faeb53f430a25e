/* CLIP image-encoder benchmark: one image through the ViT at real size.
 *
 *   bench_clip [--model FILE] [--width N] [--layers N] [--heads N] [--dtype f32|bf16] [--bf16 0|1] [--reps N]
 *
 * --dtype is the random checkpoint's storage (default bf16, as the release);
 * --bf16 1 runs in bf16 mode (every op rounded, the pipeline default).
 *
 * Without --model a random checkpoint of the given size (default the real
 * ViT-H/14: width 1280, 32 layers, 16 heads) is written to a temporary file
 * by a child process (so its memory does not count in our peak RSS), then
 * loaded mmapped like a real one. Times wanc_clip_prepare_input +
 * wanc_clip_encode on a 480x832 image (best of --reps), and reports the
 * effective GFLOP/s against the same-run sgemm rate. Last line:
 *   clip key=value ...
 */
#include <math.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "core/clock.h"
#include "backend/backend.h"
#include "core/threads.h"
#include "io/weights.h"
#include "vision/clip.h"

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec * 1e-9;
}

static int fail(wanc_err err)
{
    fprintf(stderr, "bench_clip: %s\n", wanc_error_message(err));
    wanc_error_free(err);
    return 1;
}

int main(int argc, char **argv)
{
    const char *model = NULL;
    int width = 1280, layers = 32, heads = 0, reps = 1;
    bool bf16 = false;
    wanc_dtype dt = WANC_BF16;
    for (int i = 1; i + 1 < argc; i += 2) {
        if (!strcmp(argv[i], "--model")) model = argv[i + 1];
        else if (!strcmp(argv[i], "--width")) width = atoi(argv[i + 1]);
        else if (!strcmp(argv[i], "--layers")) layers = atoi(argv[i + 1]);
        else if (!strcmp(argv[i], "--heads")) heads = atoi(argv[i + 1]);
        else if (!strcmp(argv[i], "--reps")) reps = atoi(argv[i + 1]);
        else if (!strcmp(argv[i], "--bf16")) bf16 = atoi(argv[i + 1]) != 0;
        else if (!strcmp(argv[i], "--dtype")) dt = strcmp(argv[i + 1], "f32") ? WANC_BF16 : WANC_F32;
        else {
            fprintf(stderr, "bench_clip: unknown option %s\n", argv[i]);
            return 2;
        }
    }
    if (reps < 1) reps = 1;
    char tmp[] = "/tmp/bench_clip_XXXXXX.safetensors";
    if (!model) {
        int fd = mkstemps(tmp, 12);
        if (fd < 0) {
            perror("bench_clip: temporary file");
            return 1;
        }
        close(fd);
        pid_t pid = fork();
        if (pid == 0) {
            wanc_err err = wanc_clip_write_random(tmp, width, layers, 14, 224, dt, 1);
            _exit(err ? fail(err) : 0);
        }
        int st = 0;
        if (pid < 0 || waitpid(pid, &st, 0) < 0 || !WIFEXITED(st) || WEXITSTATUS(st)) {
            fprintf(stderr, "bench_clip: writing the random model failed\n");
            unlink(tmp);
            return 1;
        }
        model = tmp;
    }
    const wanc_backend *be = wanc_backend_cpu();
    double sgemm = wanc_sgemm_gflops(1024, 3);
    wanc_weights *w = NULL;
    wanc_clip *m = NULL;
    wanc_err err = wanc_weights_open(&w, model);
    if (!err) err = wanc_clip_load(&m, w, heads);
    if (err) {
        if (model == tmp) unlink(tmp);
        return fail(err);
    }
    wanc_clip_set_bf16(m, bf16);
    const wanc_clip_config *c = wanc_clip_get_config(m);
    enum { H = 480, W = 832 };
    size_t S = (size_t)c->image_size;
    float *img = malloc(3 * (size_t)H * W * sizeof(float)), *x = malloc(3 * S * S * sizeof(float));
    float *out = malloc((size_t)c->tokens * c->width * sizeof(float));
    if (!img || !x || !out) {
        fprintf(stderr, "bench_clip: out of memory\n");
        return 1;
    }
    for (size_t i = 0; i < 3 * (size_t)H * W; i++) img[i] = (float)((i * 2654435761u) % 2001) / 1000.0f - 1.0f;
    double best = INFINITY;
    for (int r = 0; r < reps && !err; r++) {
        double t0 = now();
        err = wanc_clip_prepare_input(x, NULL, img, H, W, c->image_size, bf16);
        if (!err) err = wanc_clip_encode(m, be, out, x, NULL, NULL);
        double t = now() - t0;
        if (t < best) best = t;
    }
    double checksum = 0;
    for (size_t i = 0; !err && i < (size_t)c->tokens * c->width; i++) checksum += fabs(out[i]);
    double gflops = wanc_clip_flops(c) / best * 1e-9;
    if (!err) {
        printf("CLIP width %d, %d layers (%d run), %d heads, %d tokens, weights %s: %.3f s, %.1f GFLOP/s "
               "(sgemm %.1f), peak RSS %.0f MiB, mean|out| %.4f\n",
               c->width, c->layers, c->layers - 1, c->heads, c->tokens, wanc_weights_describe(w), best, gflops, sgemm,
               wanc_peak_rss_mb(), checksum / ((double)c->tokens * c->width));
        printf("clip width=%d layers=%d heads=%d tokens=%d bf16=%d threads=%d seconds=%.4f gflops=%.2f sgemm_gflops=%.2f "
               "ratio=%.3f peak_rss_mb=%.0f\n",
               c->width, c->layers, c->heads, c->tokens, (int)bf16, wanc_threads_get(), best, gflops, sgemm, gflops / sgemm,
               wanc_peak_rss_mb());
    }
    free(img), free(x), free(out);
    wanc_clip_free(m);
    wanc_weights_close(w);
    if (model == tmp) unlink(tmp);
    return err ? fail(err) : 0;
}
