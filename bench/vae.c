/* Wan2.1 VAE decode benchmark.
 *
 *   bench_vae [--model FILE] [--width N] [--height H] [--wide W] [--tiled-height H] [--tiled-wide W]
 *             [--dtype f32|bf16]
 *
 * Without --model a random checkpoint of the real layout (width 96) is
 * written to a temporary file by a child process. Three decodes, each in its
 * own child process so that its peak RSS is its own:
 *   - 240x416, 5 output frames (2 latent frames)
 *   - 240x416, 9 output frames (3 latent frames)
 *   - 480x832, 1 frame, tiled with the pipeline's (30, 52) / (15, 26) tiles
 * (the first two with the pipeline's default tiling too, which is one tile
 * there). Each prints seconds, FLOPs, GFLOP/s, the same-run sgemm rate, their
 * ratio and peak RSS (the last line's `ratio` is the worst of the three); the 9-frame peak RSS must stay within 15% of the
 * 5-frame one (memory does not grow with the frame count). Last line:
 *   vae key=value ...
 */
#include <math.h>
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
#include "vae/wan_vae.h"

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec * 1e-9;
}

static int fail(wanc_err err)
{
    fprintf(stderr, "bench_vae: %s\n", wanc_error_message(err));
    wanc_error_free(err);
    return 1;
}

typedef struct result {
    double seconds, flops, checksum;
    int ok;
} result;

/* In the child: decode T latent frames at H x W pixels and write the result to fd. */
static int decode_case(const char *model, int64_t T, int64_t H, int64_t W, bool tiled, bool bf16, int fd)
{
    wanc_vae21 *m;
    wanc_err err = wanc_vae21_open(&m, model, wanc_backend_cpu());
    if (err) return fail(err);
    const int64_t h = H / 8, w = W / 8, F = 1 + 4 * (T - 1);
    float *lat = malloc((size_t)(16 * T * h * w) * sizeof(float));
    float *video = malloc((size_t)(3 * F * H * W) * sizeof(float));
    if (!lat || !video) {
        fprintf(stderr, "bench_vae: out of memory\n");
        return 1;
    }
    for (int64_t i = 0; i < 16 * T * h * w; i++) lat[i] = (float)((i * 2654435761u) % 2001) / 1000.0f - 1.0f;
    wanc_vae_opts o;
    wanc_vae_opts_default(&o);
    o.tiled = tiled;
    o.bf16 = bf16;
    double t0 = now();
    err = wanc_vae21_decode(m, video, lat, 16, T, h, w, &o);
    result r = {now() - t0, wanc_vae21_flops(m), 0, err == NULL};
    for (int64_t i = 0; !err && i < 3 * F * H * W; i++) r.checksum += fabs(video[i]);
    r.checksum /= (double)(3 * F * H * W);
    if (write(fd, &r, sizeof r) != (ssize_t)sizeof r) r.ok = 0;
    free(lat);
    free(video);
    wanc_vae21_free(m);
    return err ? fail(err) : 0;
}

/* Run one case in a child; its peak RSS comes back through wait4. */
static int run_case(const char *model, int64_t T, int64_t H, int64_t W, bool tiled, bool bf16, result *r,
                    double *rss_mb)
{
    int p[2];
    if (pipe(p)) return 1;
    pid_t pid = fork();
    if (pid == 0) {
        close(p[0]);
        _exit(decode_case(model, T, H, W, tiled, bf16, p[1]));
    }
    close(p[1]);
    int st = 0;
    struct rusage ru;
    ssize_t got = read(p[0], r, sizeof *r);
    close(p[0]);
    if (pid < 0 || wait4(pid, &st, 0, &ru) < 0 || !WIFEXITED(st) || WEXITSTATUS(st) || got != sizeof *r || !r->ok)
        return 1;
    *rss_mb = ru.ru_maxrss / 1024.0;
    return 0;
}

int main(int argc, char **argv)
{
    const char *model = NULL;
    int width = 96, H = 240, W = 416, TH = 480, TW = 832;
    bool bf16 = false;
    for (int i = 1; i + 1 < argc; i += 2) {
        if (!strcmp(argv[i], "--model")) model = argv[i + 1];
        else if (!strcmp(argv[i], "--width")) width = atoi(argv[i + 1]);
        else if (!strcmp(argv[i], "--height")) H = atoi(argv[i + 1]);
        else if (!strcmp(argv[i], "--wide")) W = atoi(argv[i + 1]);
        else if (!strcmp(argv[i], "--tiled-height")) TH = atoi(argv[i + 1]);
        else if (!strcmp(argv[i], "--tiled-wide")) TW = atoi(argv[i + 1]);
        else if (!strcmp(argv[i], "--dtype")) bf16 = !strcmp(argv[i + 1], "bf16");
        else {
            fprintf(stderr, "bench_vae: unknown option %s\n", argv[i]);
            return 2;
        }
    }
    if (H % 8 || W % 8 || TH % 8 || TW % 8 || H <= 0 || W <= 0 || TH <= 0 || TW <= 0) {
        fprintf(stderr, "bench_vae: sizes must be positive multiples of 8\n");
        return 2;
    }
    char tmp[] = "/tmp/bench_vae_XXXXXX.safetensors";
    if (!model) {
        int fd = mkstemps(tmp, 12);
        if (fd < 0) {
            perror("bench_vae: temporary file");
            return 1;
        }
        close(fd);
        pid_t pid = fork();
        if (pid == 0) {
            wanc_err err = wanc_vae21_write_random(tmp, width, WANC_F32, 1);
            _exit(err ? fail(err) : 0);
        }
        int st = 0;
        if (pid < 0 || waitpid(pid, &st, 0) < 0 || !WIFEXITED(st) || WEXITSTATUS(st)) {
            fprintf(stderr, "bench_vae: writing the random model failed\n");
            unlink(tmp);
            return 1;
        }
        model = tmp;
    }
    double sgemm = wanc_sgemm_gflops(1024, 3);
    struct {
        const char *label;
        int64_t T, H, W;
        bool tiled;
    } cases[3] = {{"decode_5f", 2, H, W, true}, {"decode_9f", 3, H, W, true}, {"decode_tiled_1f", 1, TH, TW, true}};
    result r[3];
    double rss[3];
    int status = 0;
    for (int i = 0; i < 3; i++) {
        if (run_case(model, cases[i].T, cases[i].H, cases[i].W, cases[i].tiled, bf16, &r[i], &rss[i])) {
            fprintf(stderr, "bench_vae: case %s failed\n", cases[i].label);
            status = 1;
            break;
        }
        double gf = r[i].flops / r[i].seconds * 1e-9;
        printf("VAE %s %lldx%lld, %lld frames%s: %.3f s, %.1f GFLOP, %.1f GFLOP/s (sgemm %.1f, ratio %.2f), "
               "peak RSS %.0f MiB, mean|video| %.4f\n",
               cases[i].label, (long long)cases[i].H, (long long)cases[i].W, (long long)(1 + 4 * (cases[i].T - 1)),
               cases[i].tiled ? " (tiled 30x52/15x26)" : "", r[i].seconds, r[i].flops * 1e-9, gf, sgemm, gf / sgemm,
               rss[i], r[i].checksum);
    }
    if (!status) {
        double growth = rss[1] / rss[0];
        bool flat = growth <= 1.15;
        printf("VAE peak RSS 9 frames / 5 frames = %.3f (%s, limit 1.15)\n", growth, flat ? "ok" : "TOO MUCH GROWTH");
        double g[3];
        for (int i = 0; i < 3; i++) g[i] = r[i].flops / r[i].seconds * 1e-9;
        printf("vae isa=%s width=%d threads=%d dtype=%s s5=%.3f s9=%.3f s_tiled=%.3f gflops5=%.2f gflops9=%.2f "
               "gflops_tiled=%.2f sgemm_gflops=%.2f ratio5=%.3f ratio9=%.3f ratio_tiled=%.3f ratio=%.3f "
               "rss5_mb=%.0f rss9_mb=%.0f rss_tiled_mb=%.0f rss_growth=%.3f rss_ok=%d\n",
               wanc_cpu_isa(), width, wanc_threads_get(), bf16 ? "bf16" : "f32", r[0].seconds, r[1].seconds, r[2].seconds, g[0], g[1],
               g[2], sgemm, g[0] / sgemm, g[1] / sgemm, g[2] / sgemm, fmin(g[0], fmin(g[1], g[2])) / sgemm, rss[0],
               rss[1], rss[2], growth, flat);
        if (!flat) status = 1;
    }
    if (model == tmp) unlink(tmp);
    return status;
}
