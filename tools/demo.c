/* `wanc demo`: the built-in model trained by wanc (models/demo/) on its own
 * procedural dataset; generate prompts, a contact sheet, or measure how well
 * held-out prompts are followed (--eval). --i2v / --flf2v go to generate.c. */
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cli_args.h"
#include "commands.h"
#include "wanc.h"

static const char *const help_text =
    "usage: wanc demo [--prompt TEXT]... [--dir DIR] [-o|--out FILE] [--sheet FILE.png] [--seed N]\n"
    "                 [--steps N] [--threads N] [--dit FILE | --untrained] [--quiet]\n"
    "       wanc demo --eval [--seed N] [--threads N] [--dit FILE]\n"
    "       wanc demo --i2v | --flf2v [--dir DIR] [-o FILE] [--prompt TEXT] [--seed N]\n\n"
    "Writes the demo model into DIR (wanc-demo-model) in the released Wan2.1 layout (tokenizer,\n"
    "UMT5, DiT, VAE: `wanc generate --model-dir DIR` and `wanc train --model_dir DIR` take it; the\n"
    "DiT file states its heads) and generates the prompt (default \"" WANC_DEMO_PROMPT "\")\n"
    "into FILE (demo.mp4): 96x96, 17 frames, 20 steps, in seconds. The DiT is the one `wanc train`\n"
    "trains on `wanc make-dataset` clips (models/demo/README.md): shapes {circle, square, triangle},\n"
    "colours {red, green, blue, yellow, white}, motions {moving left/right/up/down, growing, shrinking,\n"
    "still}, backgrounds {black, gray, sky-blue gradient}. The committed DiT is partly trained: the\n"
    "object has the prompt's colour and background but does not move as the prompt says yet. Without\n"
    "models/demo/diffusion_pytorch_model.safetensors (or --dit) the untrained start runs, and the video\n"
    "is noise (the command says so).\n"
    "  --prompt TEXT   repeatable: one video per prompt (the k-th, k > 1, into FILE with -k before .mp4)\n"
    "  --sheet FILE    a PNG contact sheet: one row of 9 frames per prompt\n"
    "  --dit FILE      the trained DiT (default: models/demo/ beside the wanc binary's build folder)\n"
    "  --untrained     the DiT's random starting point instead (what training starts from)\n"
    "  --eval          generate every held-out combination (yellow triangle, red square, blue circle,\n"
    "                  green triangle, white square; 7 motions, 3 backgrounds) and print the measured\n"
    "                  colour, direction and growth accuracy\n"
    "  --i2v/--flf2v   an untrained image-to-video model run on a built-in picture instead\n";

/* models/demo/diffusion_pytorch_model.safetensors next to the folder of the
 * running binary (build/wanc -> models/demo/), if it is there. */
static bool default_dit(char *path, size_t cap)
{
    char exe[PATH_MAX];
    ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);
    if (n <= 0) return false;
    exe[n] = 0;
    for (int up = 0; up < 2; up++) {
        char *slash = strrchr(exe, '/');
        if (!slash) return false;
        *slash = 0;
    }
    snprintf(path, cap, "%s/models/demo/diffusion_pytorch_model.safetensors", exe);
    struct stat st;
    return stat(path, &st) == 0 && S_ISREG(st.st_mode);
}

static int fail(wanc_err err)
{
    fprintf(stderr, "wanc demo: %s\n", wanc_error_message(err));
    wanc_error_free(err);
    return 1;
}

/* FILE for prompt 0, FILE-k.ext for prompt k (k >= 1, numbered from 2). */
static void out_name(char *buf, size_t cap, const char *out, int k)
{
    if (k == 0) {
        snprintf(buf, cap, "%s", out);
        return;
    }
    const char *dot = strrchr(out, '.'), *slash = strrchr(out, '/');
    if (!dot || (slash && dot < slash)) snprintf(buf, cap, "%s-%d", out, k + 1);
    else snprintf(buf, cap, "%.*s-%d%s", (int)(dot - out), out, k + 1, dot);
}

static int eval_held_out(wanc_pipeline *pipe, long long seed)
{
    wanc_toy_scene scenes[WANC_TOY_SCENES];
    const int n = wanc_toy_list(scenes, true);
    wanc_toy_measurement *m = calloc((size_t)n, sizeof *m);
    if (!m) return fail(wanc_error(WANC_ENOMEM, "eval"));
    int colour_ok = 0, dir_ok = 0, dir_n = 0, grow_ok = 0, grow_n = 0, still_ok = 0, still_n = 0;
    for (int i = 0; i < n; i++) {
        wanc_err err = wanc_demo_measure_scenes(pipe, &scenes[i], 1, seed + i, &m[i]);
        if (err) {
            free(m);
            return fail(err);
        }
        const wanc_toy_scene *s = &scenes[i];
        char caption[256];
        wanc_toy_caption(caption, sizeof caption, s, -1);
        colour_ok += m[i].colour == s->colour;
        if (s->motion <= 3) dir_n++, dir_ok += m[i].motion == s->motion;
        else if (s->motion <= 5) grow_n++, grow_ok += m[i].motion == s->motion;
        else still_n++, still_ok += m[i].motion == s->motion;
        printf("%-62s colour %-6s motion %-12s (dx %+.2f dy %+.2f area x%.2f)%s\n", caption,
               m[i].colour >= 0 ? wanc_toy_name(WANC_TOY_ATTR_COLOUR, m[i].colour) : "-",
               m[i].motion >= 0 ? wanc_toy_name(WANC_TOY_ATTR_MOTION, m[i].motion) : "none", m[i].dx, m[i].dy,
               m[i].growth, m[i].colour == s->colour && m[i].motion == s->motion ? "" : "  <- wrong");
        fflush(stdout);
    }
    printf("held-out prompts: %d; colour %d/%d (%.0f %%), direction %d/%d (%.0f %%), growing/shrinking %d/%d "
           "(%.0f %%), still %d/%d (%.0f %%)\n",
           n, colour_ok, n, 100.0 * colour_ok / n, dir_ok, dir_n, 100.0 * dir_ok / dir_n, grow_ok, grow_n,
           100.0 * grow_ok / grow_n, still_ok, still_n, 100.0 * still_ok / still_n);
    free(m);
    return 0;
}

int wanc_cmd_demo(int argc, char **argv)
{
    for (int i = 0; i < argc; i++)
        if (!strcmp(argv[i], "--i2v") || !strcmp(argv[i], "--flf2v")) return wanc_cmd_demo_image(argc, argv);
    const char *dir = "wanc-demo-model", *out = "demo.mp4", *sheet = NULL, *dit = NULL;
    cli_list prompts = {0};
    long long seed = 42, threads = 0, steps = 20;
    bool quiet = false, help = false, untrained = false, eval = false;
    const cli_flag flags[] = {{"--dir", 's', &dir},         {"--out", 's', &out},       {"-o", 's', &out},
                              {"--prompt", 'm', &prompts},  {"--sheet", 's', &sheet},   {"--dit", 's', &dit},
                              {"--seed", 'i', &seed},       {"--steps", 'i', &steps},   {"--threads", 'i', &threads},
                              {"--untrained", 'b', &untrained}, {"--eval", 'b', &eval}, {"--quiet", 'b', &quiet},
                              {"--help", 'b', &help}};
    char msg[512];
    int rc = cli_parse_flags("demo", argc, argv, flags, (int)(sizeof flags / sizeof flags[0]), msg, sizeof msg);
    if (rc) {
        fprintf(stderr, "%s\n", msg);
        return rc;
    }
    if (help) {
        fputs(help_text, stdout);
        return 0;
    }
    if (steps < 1 || steps > 1000 || threads < 0) {
        fprintf(stderr, "wanc demo: --steps is 1..1000, --threads >= 0\n");
        return 2;
    }
    char dit_path[PATH_MAX];
    if (!untrained && !dit) {
        if (default_dit(dit_path, sizeof dit_path)) dit = dit_path;
        else {
            fprintf(stderr, "wanc demo: the trained demo DiT (models/demo/diffusion_pytorch_model.safetensors of the "
                            "source tree, found from the binary's folder) is not there (give it with --dit FILE): "
                            "running the UNTRAINED model, expect noise\n");
            untrained = true;
        }
    }
    wanc_pipeline_files files;
    wanc_pipeline_options popt;
    wanc_demo_pipeline_options(&popt);
    popt.threads = (int)threads;
    wanc_err err = untrained ? wanc_demo_write_models(dir, &files, &popt.dit_heads)
                             : wanc_demo_write_trained(dir, dit, &files, &popt.dit_heads);
    if (err) return fail(err);
    if (!quiet) printf("wrote the %s demo model to %s/\n", untrained ? "UNTRAINED" : "trained", dir);
    wanc_pipeline *pipe = NULL;
    if ((err = wanc_pipeline_load(&pipe, &files, &popt))) return fail(err);
    if (eval) {
        rc = eval_held_out(pipe, seed);
        wanc_pipeline_free(pipe);
        return rc;
    }
    const char *default_prompt = WANC_DEMO_PROMPT;
    int n = prompts.n ? prompts.n : 1;
    wanc_video *videos = calloc((size_t)n, sizeof *videos);
    if (!videos) {
        wanc_pipeline_free(pipe);
        return fail(wanc_error(WANC_ENOMEM, "demo videos"));
    }
    for (int k = 0; k < n && !err; k++) {
        wanc_gen_params p;
        wanc_demo_gen_params(&p);
        p.prompt = prompts.n ? prompts.v[k] : default_prompt;
        p.seed = seed;
        p.num_inference_steps = (int)steps;
        err = wanc_generate(pipe, &p, &videos[k]);
        char name[PATH_MAX];
        out_name(name, sizeof name, out, k);
        if (!err) err = wanc_video_save(&videos[k], name, 15, 9);
        if (!err)
            printf("wrote %s: \"%s\", %d frames of %dx%d, seed %lld (denoise %.2f s, decode %.2f s)\n", name, p.prompt,
                   videos[k].T, videos[k].W, videos[k].H, seed, videos[k].seconds_denoise, videos[k].seconds_decode);
    }
    if (!err && sheet) {
        err = wanc_demo_sheet(sheet, videos, n, 9);
        if (!err) printf("wrote %s: %d row(s) of 9 frames\n", sheet, n);
    }
    for (int k = 0; k < n; k++) wanc_video_free(&videos[k]);
    free(videos);
    wanc_pipeline_free(pipe);
    return err ? fail(err) : 0;
}
