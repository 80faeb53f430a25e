/* Command-line flags → values (see cli_args.h). */
#include "cli_args.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int cli_parse_flags(const char *cmd, int argc, char **argv, const cli_flag *flags, int nflags, char *msg,
                    size_t cap)
{
    for (int i = 0; i < argc; i++) {
        const cli_flag *f = NULL;
        for (int k = 0; k < nflags; k++)
            if (!strcmp(argv[i], flags[k].name)) f = &flags[k];
        if (!f) {
            snprintf(msg, cap, "wanc %s: unknown option '%s' (see wanc %s --help)", cmd, argv[i], cmd);
            return 2;
        }
        if (f->kind == 'b') {
            *(bool *)f->dst = true;
            continue;
        }
        if (i + 1 >= argc) {
            snprintf(msg, cap, "wanc %s: %s needs a value", cmd, f->name);
            return 2;
        }
        const char *v = argv[++i];
        char *end = NULL;
        switch (f->kind) {
        case 's': *(const char **)f->dst = v; break;
        case 'm': {
            cli_list *l = f->dst;
            if (l->n == (int)(sizeof l->v / sizeof l->v[0])) {
                snprintf(msg, cap, "wanc %s: %s given more than %d times", cmd, f->name, l->n);
                return 2;
            }
            l->v[l->n++] = v;
            break;
        }
        case 'i': *(long long *)f->dst = strtoll(v, &end, 10); break;
        case 'f': *(double *)f->dst = strtod(v, &end); break;
        case 'p': {
            int *p = f->dst;
            if (sscanf(v, "%d,%d", &p[0], &p[1]) != 2) end = (char *)v;
            else end = (char *)v + strlen(v);
            break;
        }
        }
        if (end && (*end || end == v)) {
            snprintf(msg, cap, "wanc %s: %s: '%s' is not a valid value", cmd, f->name, v);
            return 2;
        }
    }
    return 0;
}

/* --lora / --lora-high-noise / --lora-low-noise FILE[:STRENGTH] (repeatable):
 * taken out of argv before the table parse. */
static int take_lora_flags(generate_args *a, int *argc, char **argv, char *msg, size_t cap)
{
    const int max = (int)(sizeof a->loras / sizeof a->loras[0]);
    int kept = 0;
    for (int i = 0; i < *argc; i++) {
        const char *f = argv[i];
        wanc_lora_target target = !strcmp(f, "--lora")              ? WANC_LORA_ALL_EXPERTS
                                  : !strcmp(f, "--lora-high-noise") ? WANC_LORA_HIGH_NOISE
                                  : !strcmp(f, "--lora-low-noise")  ? WANC_LORA_LOW_NOISE
                                                                    : (wanc_lora_target)-1;
        if ((int)target < 0) {
            argv[kept++] = argv[i];
            continue;
        }
        if (i + 1 >= *argc) {
            snprintf(msg, cap, "wanc generate: %s needs FILE[:STRENGTH]", f);
            return 2;
        }
        if (a->files.n_loras == max) {
            snprintf(msg, cap, "wanc generate: at most %d LoRAs", max);
            return 2;
        }
        char *path = argv[++i]; /* argv strings are ours to cut at the ':' */
        float strength = 1.0f;
        char *colon = strrchr(path, ':'), *end = NULL;
        if (colon && colon[1]) { /* FILE:STRENGTH when what follows the last ':' is a number */
            double v = strtod(colon + 1, &end);
            if (!*end) strength = (float)v, *colon = 0;
        }
        a->loras[a->files.n_loras++] = (wanc_lora_spec){path, strength, target};
    }
    *argc = kept;
    return 0;
}

/* An integer flag's value as an int, or 2 with the message. */
static int to_int(int *dst, long long v, long long lo, long long hi, const char *name, char *msg, size_t cap)
{
    if (v < lo || v > hi) {
        snprintf(msg, cap, "wanc generate: %s %lld: expected %lld..%lld", name, v, lo, hi);
        return 2;
    }
    *dst = (int)v;
    return 0;
}

int generate_args_parse(generate_args *a, int argc, char **argv, char *msg, size_t cap)
{
    memset(a, 0, sizeof *a);
    msg[0] = 0;
    for (int i = 0; i < argc; i++)
        if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
            a->help = true;
            return 0;
        }
    wanc_gen_params *p = &a->p;
    wanc_gen_params_default(p);
    wanc_pipeline_options_default(&a->popt);
    const char *frames_dir = NULL, *dtype = "bf16";
    const char *prompt = "", *negative = "";
    long long seed = -1, height = p->height, width = p->width, num_frames = p->num_frames,
              steps = p->num_inference_steps, heads = 0, threads = 0, quality = 5, clip_heads = 0,
              win_size = 0, win_stride = 0;
    double cfg = p->cfg_scale, shift = p->sigma_shift, strength = p->denoising_strength, fps = 15;
    double tea_thresh = p->tea_cache_l1_thresh;
    const char *tea_model = p->tea_cache_model_id;
    double boundary = p->switch_dit_boundary, cfg_high = p->cfg_scale_high, cfg_low = p->cfg_scale_low;
    bool tiled = false, no_tiled = false;
    const char *lora_mode = "fused", *q8_matmul = "int8";
    double vram_limit = a->popt.vram_limit;
    a->out = "output.mp4";
    a->files.loras = a->loras;
    cli_conds *cc = &a->cc;
    cli_conds_init(cc);
    int rc = take_lora_flags(a, &argc, argv, msg, cap);
    if (rc) return rc;
    const cli_flag flags[] = {
        {"--lora-mode", 's', &lora_mode},       {"--lora-allow-unmatched", 'b', &a->popt.lora_allow_unmatched},
        {"--motion-bucket-id", 'f', &cc->motion_bucket_id}, {"--motion-controller", 's', &a->files.motion_controller},
        {"--control-video", 's', &cc->control_video},       {"--reference-image", 's', &cc->reference_image},
        {"--camera-direction", 's', &cc->camera_direction}, {"--camera-speed", 'f', &cc->camera_speed},
        {"--camera-origin", 's', &cc->camera_origin},       {"--clip-heads", 'i', &clip_heads},
        {"--vace-video", 's', &cc->vace_video},             {"--vace-mask", 's', &cc->vace_mask},
        {"--vace-reference-image", 'm', &cc->vace_refs},    {"--vace-scale", 'f', &cc->vace_scale},
        {"--sliding-window-size", 'i', &win_size},           {"--sliding-window-stride", 'i', &win_stride},
        {"--model-dir", 's', &a->files.model_dir}, {"--dit", 's', &a->files.dit},
        {"--t5", 's', &a->files.t5},               {"--vae", 's', &a->files.vae},
        {"--tokenizer", 's', &a->files.tokenizer}, {"--dit-heads", 'i', &heads},
        {"--dit-config", 's', &a->popt.dit_config},
        {"--clip", 's', &a->files.clip},           {"--input-image", 's', &a->input_image},
        {"--end-image", 's', &a->end_image},
        {"--prompt", 's', &prompt},                {"--negative-prompt", 's', &negative},
        {"--cfg-scale", 'f', &cfg},                {"--seed", 'i', &seed},
        {"--height", 'i', &height},                {"--width", 'i', &width},
        {"--num-frames", 'i', &num_frames},        {"--num-inference-steps", 'i', &steps},
        {"--sigma-shift", 'f', &shift},            {"--denoising-strength", 'f', &strength},
        {"--input-video", 's', &a->input_video},   {"--tiled", 'b', &tiled},
        {"--no-tiled", 'b', &no_tiled},            {"--tile-size", 'p', p->tile_size},
        {"--tile-stride", 'p', p->tile_stride},    {"--dtype", 's', &dtype},
        {"--threads", 'i', &threads},              {"--out", 's', &a->out}, {"-o", 's', &a->out},
        {"--frames", 's', &frames_dir},            {"--fps", 'f', &fps},
        {"--quality", 'i', &quality},              {"--quiet", 'b', &a->quiet},
        {"--tea-cache-l1-thresh", 'f', &tea_thresh}, {"--tea-cache-model-id", 's', &tea_model},
        {"--max-memory", 'f', &vram_limit},        {"--verbose", 'b', &a->verbose},
        {"--q8-matmul", 's', &q8_matmul},
        {"--dit2", 's', &a->files.dit2},           {"--switch-dit-boundary", 'f', &boundary},
        {"--cfg-scale-high", 'f', &cfg_high},      {"--cfg-scale-low", 'f', &cfg_low},
    };
    rc = cli_parse_flags("generate", argc, argv, flags, (int)(sizeof flags / sizeof flags[0]), msg, cap);
    if (rc) return rc;
    if (strcmp(lora_mode, "fused") && strcmp(lora_mode, "runtime")) {
        snprintf(msg, cap, "wanc generate: --lora-mode %s: expected fused or runtime", lora_mode);
        return 2;
    }
    a->popt.lora_mode = strcmp(lora_mode, "runtime") ? WANC_LORA_FUSED : WANC_LORA_RUNTIME;
    if (!(vram_limit >= 0)) {
        snprintf(msg, cap, "wanc generate: --max-memory %g: expected a size in GB (0 = no limit)", vram_limit);
        return 2;
    }
    a->popt.vram_limit = vram_limit;
    if (strcmp(q8_matmul, "int8") && strcmp(q8_matmul, "fp")) {
        snprintf(msg, cap, "wanc generate: --q8-matmul %s: expected int8 or fp", q8_matmul);
        return 2;
    }
    a->popt.q8_matmul = strcmp(q8_matmul, "fp") ? WANC_Q8_MATMUL_INT8 : WANC_Q8_MATMUL_FP;
    if (strcmp(dtype, "bf16") && strcmp(dtype, "f32")) {
        snprintf(msg, cap, "wanc generate: --dtype %s: expected bf16 or f32", dtype);
        return 2;
    }
    /* the mp4 writer's range, checked before anything is computed */
    if (quality < 0 || quality > 10 || !(fps > 0 && fps <= 1000)) {
        snprintf(msg, cap, "wanc generate: --quality must be 0..10 and --fps in (0, 1000]");
        return 2;
    }
    if (seed < -1 || seed > (long long)0xffffffffffffll) {
        snprintf(msg, cap, "wanc generate: --seed %lld: expected 0..2^48", seed);
        return 2;
    }
    /* ints: their range here, their meaning in wanc_gen_params_check */
    if (to_int(&a->popt.dit_heads, heads, 0, 4096, "--dit-heads", msg, cap) ||
        to_int(&a->popt.threads, threads, 0, 4096, "--threads", msg, cap) ||
        to_int(&a->popt.clip_heads, clip_heads, 0, 4096, "--clip-heads", msg, cap) ||
        to_int(&p->sliding_window_size, win_size, INT_MIN, INT_MAX, "--sliding-window-size", msg, cap) ||
        to_int(&p->sliding_window_stride, win_stride, INT_MIN, INT_MAX, "--sliding-window-stride", msg, cap) ||
        to_int(&p->height, height, INT_MIN, INT_MAX, "--height", msg, cap) ||
        to_int(&p->width, width, INT_MIN, INT_MAX, "--width", msg, cap) ||
        to_int(&p->num_frames, num_frames, INT_MIN, INT_MAX, "--num-frames", msg, cap) ||
        to_int(&p->num_inference_steps, steps, INT_MIN, INT_MAX, "--num-inference-steps", msg, cap))
        return 2;
    a->popt.precision = strcmp(dtype, "f32") ? WANC_PRECISION_BF16 : WANC_PRECISION_FP32;
    a->fps = fps;
    a->quality = (int)quality;
    p->prompt = prompt;
    p->negative_prompt = negative;
    p->cfg_scale = (float)cfg;
    p->seed = seed;
    p->sigma_shift = (float)shift;
    p->denoising_strength = (float)strength;
    p->tea_cache_l1_thresh = (float)tea_thresh;
    p->tea_cache_model_id = tea_model;
    p->switch_dit_boundary = (float)boundary;
    p->cfg_scale_high = (float)cfg_high;
    p->cfg_scale_low = (float)cfg_low;
    p->tiled = !no_tiled;
    if (frames_dir) {
        snprintf(a->frames_path, sizeof a->frames_path, "%s/", frames_dir);
        a->out = a->frames_path;
    }
    return 0;
}
