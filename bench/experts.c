/* Wan2.2 A14B expert residency: peak memory of a two-expert run against a
 * one-expert run.
 *
 *   bench_experts [--layers N] [--steps N] [--keep DIR]
 *
 * Writes a random Wan2.2-T2V-A14B release (`wanc random-model --arch
 * wan2.2-t2v-a14b`: two experts of the real 14B widths, --layers layers each
 * (2), bf16, sharded) into a temporary folder, then runs `wanc generate`'s
 * library path in two child processes on a tiny video (1 frame of 32x32,
 * --steps steps (4), cfg 1):
 *   one  the high-noise expert alone (--dit high_noise_model/)
 *   two  both experts from the folder, switched at the default boundary 0.875
 * and reads each child's peak RSS (wait4). The pipeline closes the high-noise
 * expert before it opens the low-noise one, so the two-expert peak must stay
 * within 1.15x of the one-expert peak (exit status 1 otherwise). Last line:
 *   experts peak_rss_one_mb=... peak_rss_two_mb=... ratio=... switch_step=... expert_mb=...
 */
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include "wanc.h"

#define MAX_RATIO 1.15

typedef struct {
    int switch_step; /* first step on expert 1, -1 when none */
} run_info;

static void observe(void *user, const char *name, const float *x, int64_t n)
{
    run_info *r = user;
    int k;
    if (n == 1 && sscanf(name, "step%d.expert", &k) == 1 && x[0] == 1.0f && r->switch_step < 0) r->switch_step = k;
}

/* Run one generation in a child; *rss_mb its peak RSS, the switch step through a pipe. */
static int run_child(const wanc_pipeline_files *files, int steps, double *rss_mb, int *switch_step)
{
    int fd[2];
    if (pipe(fd)) return -1;
    fflush(stdout);
    pid_t pid = fork();
    if (pid < 0) return -1;
    if (pid == 0) {
        close(fd[0]);
        wanc_pipeline *pipe_ = NULL;
        wanc_err err = wanc_pipeline_load(&pipe_, files, NULL);
        run_info r = {.switch_step = -1};
        wanc_gen_params p;
        wanc_gen_params_default(&p);
        p.prompt = "a cat";
        p.seed = 1;
        p.height = 32;
        p.width = 32;
        p.num_frames = 1;
        p.num_inference_steps = steps;
        p.cfg_scale = 1;
        p.observe = observe;
        p.observe_user = &r;
        wanc_video v = {0};
        if (!err) err = wanc_generate(pipe_, &p, &v);
        if (err) fprintf(stderr, "bench_experts: %s\n", wanc_error_message(err));
        wanc_video_free(&v);
        wanc_pipeline_free(pipe_);
        if (write(fd[1], &r.switch_step, sizeof r.switch_step) != (ssize_t)sizeof r.switch_step) _exit(3);
        _exit(err ? 2 : 0);
    }
    close(fd[1]);
    int st = 0;
    struct rusage ru;
    if (wait4(pid, &st, 0, &ru) < 0 || !WIFEXITED(st) || WEXITSTATUS(st) != 0) {
        close(fd[0]);
        return -1;
    }
    if (read(fd[0], switch_step, sizeof *switch_step) != (ssize_t)sizeof *switch_step) *switch_step = -2;
    close(fd[0]);
    *rss_mb = ru.ru_maxrss / 1024.0;
    return 0;
}

int main(int argc, char **argv)
{
    int layers = 2, steps = 4;
    const char *keep = NULL;
    for (int i = 1; i + 1 < argc; i += 2) {
        if (!strcmp(argv[i], "--layers")) layers = atoi(argv[i + 1]);
        else if (!strcmp(argv[i], "--steps")) steps = atoi(argv[i + 1]);
        else if (!strcmp(argv[i], "--keep")) keep = argv[i + 1];
    }
    char dir[PATH_MAX];
    if (keep) snprintf(dir, sizeof dir, "%s", keep);
    else {
        snprintf(dir, sizeof dir, "%s/wanc_bench_experts_XXXXXX", getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp");
        if (!mkdtemp(dir)) return fprintf(stderr, "bench_experts: no temporary folder\n"), 1;
    }
    wanc_random_model_opts o = {.seed = 7, .layers = layers, .width = 8};
    printf("writing a random Wan2.2-T2V-A14B (%d layers per expert, bf16) to %s\n", layers, dir);
    fflush(stdout);
    /* in a child too: this process must not start threads before it forks the runs */
    pid_t writer = fork();
    if (writer == 0) {
        wanc_err err = wanc_random_model_release("wan2.2-t2v-a14b", dir, &o);
        if (err) fprintf(stderr, "bench_experts: %s\n", wanc_error_message(err));
        _exit(err ? 1 : 0);
    }
    int wst = 0;
    if (writer < 0 || waitpid(writer, &wst, 0) < 0 || !WIFEXITED(wst) || WEXITSTATUS(wst) != 0)
        return fprintf(stderr, "bench_experts: writing the model failed\n"), 1;

    char high[PATH_MAX + 64], t5[PATH_MAX + 64], vae[PATH_MAX + 64], tok[PATH_MAX + 64], cmd[PATH_MAX + 32];
    snprintf(high, sizeof high, "%s/high_noise_model/diffusion_pytorch_model.safetensors.index.json", dir);
    snprintf(t5, sizeof t5, "%s/models_t5_umt5-xxl-enc-bf16.safetensors", dir);
    snprintf(vae, sizeof vae, "%s/Wan2.1_VAE.safetensors", dir);
    snprintf(tok, sizeof tok, "%s/google/umt5-xxl", dir);
    wanc_pipeline_files one = {.dit = high, .t5 = t5, .vae = vae, .tokenizer = tok};
    wanc_pipeline_files two = {.model_dir = dir};
    double rss1 = 0, rss2 = 0;
    int sw1 = -1, sw2 = -1;
    int rc = run_child(&one, steps, &rss1, &sw1) || run_child(&two, steps, &rss2, &sw2);
    if (!keep) {
        snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
        if (system(cmd)) fprintf(stderr, "bench_experts: could not remove %s\n", dir);
    }
    if (rc) return fprintf(stderr, "bench_experts: a run failed\n"), 1;
    double ratio = rss2 / rss1;
    printf("one expert: peak RSS %.0f MB; two experts (switch at step %d): peak RSS %.0f MB\n", rss1, sw2, rss2);
    printf("experts peak_rss_one_mb=%.0f peak_rss_two_mb=%.0f ratio=%.3f max_ratio=%.2f switch_step=%d layers=%d\n",
           rss1, rss2, ratio, MAX_RATIO, sw2, layers);
    return ratio <= MAX_RATIO && sw1 < 0 && sw2 > 0 ? 0 : 1;
}
