/* bench_sliding_window: the DiT stage's resident memory with and without
 * sliding windows as the frame count doubles.
 *
 *   bench_sliding_window [--height 128 --width 224 --frames 41 --window 5 --stride 4]
 *
 * The demo's tiny tokenizer/UMT5/VAE with a 1-layer DiT of the 1.3B width
 * (dim 1536, ffn 8960, 12 heads, bf16 weights), one denoising step, no CFG.
 * Each run is a child process; its peak RSS (VmHWM) is read after the
 * denoising steps, before the VAE decodes: the tiny text stage aside, that is
 * the DiT stage's peak (weights touched + activations). With
 * windows the DiT only ever sees `window` latent frames: doubling the frames
 * must leave the stage's RSS flat (limit 1.15x), while without windows it
 * grows with the token count. Last line:
 *   sliding_window frames=... window=... rss_win_mb=A,B rss_full_mb=C,D growth_win=... growth_full=...
 *   sgemm_gflops=... ratio=... flat=1
 * (ratio: windowed seconds per frame over unwindowed, at the doubled length).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "backend/backend.h"
#include "core/clock.h"
#include "dit/dit_random.h"
#include "dit/wan_dit.h"
#include "wanc.h"

typedef struct {
    double max_rss_mb;
} sampler;

/* The process's peak resident set so far (VmHWM), MiB. */
static double peak_rss_mb(void)
{
    FILE *f = fopen("/proc/self/status", "r");
    char line[256];
    double kb = 0;
    while (f && fgets(line, sizeof line, f))
        if (!strncmp(line, "VmHWM:", 6)) kb = atof(line + 6);
    if (f) fclose(f);
    return kb / 1024.0;
}

static int progress(void *user, const char *stage, int step, int total, double seconds)
{
    (void)total, (void)seconds;
    sampler *s = user;
    if (!strcmp(stage, "denoise") && step > 0) { /* nothing but the tiny text stage ran before */
        double r = peak_rss_mb();
        if (r > s->max_rss_mb) s->max_rss_mb = r;
    }
    return 0;
}

/* One run in a child: writes "rss seconds" to the pipe. */
static int run(const wanc_pipeline_files *files, int H, int W, int frames, int window, int stride, double *rss,
               double *seconds)
{
    int fd[2];
    if (pipe(fd)) return 1;
    pid_t pid = fork();
    if (pid == 0) {
        close(fd[0]);
        wanc_pipeline_options o;
        wanc_pipeline_options_default(&o);
        wanc_pipeline *pipe_ = NULL;
        wanc_err err = wanc_pipeline_load(&pipe_, files, &o);
        sampler s = {0};
        wanc_gen_params p;
        wanc_gen_params_default(&p);
        p.prompt = "a benchmark";
        p.seed = 1;
        p.height = H, p.width = W, p.num_frames = frames;
        p.num_inference_steps = 1;
        p.cfg_scale = 1;
        p.sliding_window_size = window, p.sliding_window_stride = stride;
        p.progress = progress, p.progress_user = &s;
        wanc_video v = {0};
        if (!err) err = wanc_generate(pipe_, &p, &v);
        if (err) {
            fprintf(stderr, "bench_sliding_window: %s\n", wanc_error_message(err));
            _exit(1);
        }
        char line[64];
        int n = snprintf(line, sizeof line, "%f %f\n", s.max_rss_mb, v.seconds_denoise);
        if (write(fd[1], line, (size_t)n) != n) _exit(1);
        _exit(0);
    }
    close(fd[1]);
    char buf[64] = {0};
    ssize_t n = read(fd[0], buf, sizeof buf - 1);
    close(fd[0]);
    int st = 0;
    if (pid < 0 || waitpid(pid, &st, 0) < 0 || !WIFEXITED(st) || WEXITSTATUS(st) || n <= 0) return 1;
    return sscanf(buf, "%lf %lf", rss, seconds) == 2 ? 0 : 1;
}

int main(int argc, char **argv)
{
    int H = 128, W = 224, frames = 41, window = 5, stride = 4;
    for (int i = 1; i + 1 < argc; i += 2) {
        int v = atoi(argv[i + 1]);
        if (!strcmp(argv[i], "--height")) H = v;
        else if (!strcmp(argv[i], "--width")) W = v;
        else if (!strcmp(argv[i], "--frames")) frames = v;
        else if (!strcmp(argv[i], "--window")) window = v;
        else if (!strcmp(argv[i], "--stride")) stride = v;
        else {
            fprintf(stderr, "bench_sliding_window: unknown option %s\n", argv[i]);
            return 2;
        }
    }
    char dir[] = "/tmp/wanc_bench_window_XXXXXX";
    if (!mkdtemp(dir)) {
        perror("bench_sliding_window: temporary folder");
        return 1;
    }
    /* the models are written in a child: the parent starts no threads before it forks the runs */
    pid_t pid = fork();
    if (pid == 0) {
        wanc_pipeline_files demo;
        int heads = 0;
        wanc_err err = wanc_demo_write_models(dir, &demo, &heads);
        /* the demo's DiT replaced by 1 layer of the 1.3B width, on the demo's text width */
        wanc_dit_config c;
        wanc_dit *d = NULL;
        if (!err) err = wanc_dit_arch_config(&c, "wan2.1-t2v-1.3b");
        if (!err) err = wanc_dit_open(&d, wanc_backend_cpu(), demo.dit, &(wanc_dit_options){.num_heads = heads});
        if (!err) c.text_dim = wanc_dit_get_config(d)->text_dim;
        wanc_dit_free(d);
        c.num_layers = 1;
        if (!err) err = wanc_dit_random_write(demo.dit, &c, WANC_BF16, 7); /* num_heads in its metadata */
        if (err) fprintf(stderr, "bench_sliding_window: %s\n", wanc_error_message(err));
        _exit(err ? 1 : 0);
    }
    int st = 0;
    if (pid < 0 || waitpid(pid, &st, 0) < 0 || !WIFEXITED(st) || WEXITSTATUS(st)) {
        fprintf(stderr, "bench_sliding_window: writing the models failed\n");
        return 1;
    }
    wanc_pipeline_files files = {.model_dir = dir};
    const int f2 = 2 * (frames - 1) + 1;
    double rw[2], rf[2], sw[2], sf[2];
    int status = run(&files, H, W, frames, window, stride, &rw[0], &sw[0]) ||
                 run(&files, H, W, f2, window, stride, &rw[1], &sw[1]) ||
                 run(&files, H, W, frames, 0, 0, &rf[0], &sf[0]) || run(&files, H, W, f2, 0, 0, &rf[1], &sf[1]);
    double sgemm = wanc_sgemm_gflops(1024, 3); /* after the forks: it starts the thread pool */
    char cmd[700];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    if (system(cmd)) fprintf(stderr, "bench_sliding_window: could not remove %s\n", dir);
    if (status) {
        fprintf(stderr, "bench_sliding_window: a run failed\n");
        return 1;
    }
    for (int i = 0; i < 2; i++)
        printf("DiT stage %dx%d, %d frames: window %d/%d RSS %.0f MiB (%.2f s), no window RSS %.0f MiB (%.2f s)\n", W,
               H, i ? f2 : frames, window, stride, rw[i], sw[i], rf[i], sf[i]);
    double gw = rw[1] / rw[0], gf = rf[1] / rf[0];
    bool flat = gw <= 1.15;
    printf("DiT-stage RSS %d -> %d frames: %.3fx with windows (%s, limit 1.15), %.3fx without\n", frames, f2, gw,
           flat ? "flat" : "GROWS", gf);
    printf("sliding_window frames=%d,%d window=%d stride=%d rss_win_mb=%.0f,%.0f rss_full_mb=%.0f,%.0f "
           "growth_win=%.3f growth_full=%.3f sgemm_gflops=%.2f ratio=%.3f flat=%d\n",
           frames, f2, window, stride, rw[0], rw[1], rf[0], rf[1], gw, gf, sgemm, sw[1] / sf[1], flat);
    return flat ? 0 : 1;
}
