/* `wanc generate` and `wanc demo --i2v/--flf2v`: flags → wanc_gen_params → wanc_generate → file. */
#include <errno.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli_args.h"
#include "commands.h"
#include "io/image_io.h"
#include "wanc.h"

static volatile sig_atomic_t interrupted;
static void on_sigint(int sig)
{
    (void)sig;
    interrupted = 1;
}

typedef struct {
    bool quiet;
    double start;
} progress_state;

/* The progress bar: stderr, one line rewritten in place, step time and ETA. */
static int progress(void *user, const char *stage, int step, int total, double seconds)
{
    progress_state *st = user;
    if (interrupted) return 1;
    if (st->quiet) return 0;
    if (strcmp(stage, "denoise") == 0) {
        static double sum;
        if (step == 1) sum = 0;
        sum += seconds;
        double eta = sum / step * (total - step);
        int width = 30, filled = total ? step * width / total : width;
        fprintf(stderr, "\r  denoise [%.*s%*s] %d/%d  %.2f s/step  ETA %.0f s ", filled,
                "##############################", width - filled, "", step, total, seconds, eta);
        if (step == total) fputc('\n', stderr);
    } else if (step == 0) {
        fprintf(stderr, "  %s...\n", !strcmp(stage, "text")    ? "encoding the prompt"
                                       : !strcmp(stage, "image") ? "encoding the image (VAE, CLIP)"
                                                                 : "decoding the video");
    }
    return 0;
}

static int fail(const char *cmd, wanc_err err)
{
    fprintf(stderr, "wanc %s: %s\n", cmd, wanc_error_message(err));
    wanc_error_free(err);
    return 1;
}

/* Can we create a file next to `path`? Checked before any model loads. */
static wanc_err check_output_writable(const char *path, bool is_dir)
{
    char dir[PATH_MAX];
    snprintf(dir, sizeof dir, "%s", path);
    if (!is_dir) {
        char *slash = strrchr(dir, '/');
        if (slash) *slash = 0;
        else snprintf(dir, sizeof dir, ".");
    }
    if (access(dir, W_OK) != 0) {
        if (is_dir && errno == ENOENT) return NULL; /* the PNG writer creates it */
        WANC_FAIL(WANC_EIO, "output folder %s is not writable: %s", dir, strerror(errno));
    }
    return NULL;
}

static const char generate_help[] =
    "usage: wanc generate --prompt TEXT (--model-dir DIR | --dit F --t5 F --vae F --tokenizer DIR) [options]\n"
    "\n"
    "Text-to-video (and video-to-video) with a Wan2.1 T2V model, image-to-video with an I2V,\n"
    "FLF2V or Fun-InP model (--input-image, --end-image), as DiffSynth's WanVideoPipeline; Wan2.2:\n"
    "the A14B T2V / I2V models (two experts), TI2V-5B (text- or image-to-video, Wan2.2 VAE) and the\n"
    "two-expert control models Fun-A14B-Control, Fun-A14B-Control-Camera and VACE-Fun-A14B (the\n"
    "control options below, both experts; switch_DiT_boundary 0.875 as DiffSynth's default).\n"
    "The detected family is printed first (\"Wan2.2 A14B T2V, 2 experts, boundary 0.875: ...\").\n"
    "\n"
    "models:\n"
    "  --model-dir DIR          release folder: diffusion_pytorch_model*.safetensors,\n"
    "                           models_t5_umt5-xxl-enc-bf16.pth, Wan2.1_VAE.pth, google/umt5-xxl/\n"
    "                           (image models also models_clip_open-clip-xlm-roberta-large-vit-huge-14.pth;\n"
    "                           Wan2.2 A14B: high_noise_model/ and low_noise_model/; TI2V-5B: Wan2.2_VAE.pth);\n"
    "                           or a diffusers folder (transformer/ text_encoder/ vae/ tokenizer/), or\n"
    "                           ComfyUI files (diffusion_models/ or unet/*.gguf or *.gguf, text_encoders/umt5*,\n"
    "                           vae/wan_2.1_vae*, clip_vision/clip_vision_h*; give --tokenizer)\n"
    "  --dit FILE|GLOB|INDEX    the DiT (overrides the folder); with --dit2, the high-noise expert:\n"
    "                           safetensors (also fp8, scaled fp8, ComfyUI prefix, diffusers names) or\n"
    "                           GGUF (kept quantized, decoded in the GEMM)\n"
    "  --dit2 FILE|GLOB|INDEX   Wan2.2 A14B (also Fun / VACE-Fun A14B): the low-noise expert\n"
    "  --t5 FILE                the UMT5 text encoder (.pth, .safetensors: Wan or Hugging Face T5 names)\n"
    "  --vae FILE               the VAE: Wan2.1_VAE or, for TI2V-5B, Wan2.2_VAE (.pth or .safetensors;\n"
    "                           Wan or, for 2.1, diffusers names)\n"
    "  --tokenizer DIR|FILE     google/umt5-xxl/ (spiece.model or tokenizer.json)\n"
    "  --clip FILE              the CLIP image encoder of an image model (.pth or .safetensors:\n"
    "                           open-clip or Hugging Face names, e.g. ComfyUI's clip_vision_h)\n"
    "  --dit-heads N            DiT attention heads (default: checkpoint metadata, else dim/128)\n"
    "  --clip-heads N           CLIP image encoder heads (default: width/80, the released 16)\n"
    "  --dit-config FILE.json   what the DiT's weights cannot carry, in DiffSynth's config field names:\n"
    "                           num_heads, VACE's vace_layers (e.g. {\"vace_layers\": [0, 1, 3]}); flat or\n"
    "                           {\"dit\": {...}, \"vace\": {...}}; stated shapes must match the weights\n"
    "\n"
    "LoRA (DiffSynth's load_lora; diffsynth/peft, kohya/ComfyUI and diffusers key names, .alpha,\n"
    ".diff/.diff_b; see wanc info FILE):\n"
    "  --lora FILE[:STRENGTH]   apply a LoRA to the DiT (strength 1.0); repeatable, they add up\n"
    "  --lora-high-noise FILE[:STRENGTH], --lora-low-noise FILE[:STRENGTH]\n"
    "                           Wan2.2 A14B: the high- / low-noise expert only (--lora: both); refused\n"
    "                           by a one-DiT model\n"
    "  --lora-mode fused|runtime  fused (default): merged into the weights at load, float32 merge\n"
    "                           rounded once to the checkpoint's dtype, only touched weights copied;\n"
    "                           runtime: y += s*B(A x) beside each frozen linear, base weights untouched\n"
    "  --lora-allow-unmatched   keys matching no DiT parameter: a warning with their count, not an error\n"
    "\n"
    "generation (DiffSynth's names and defaults):\n"
    "  --prompt TEXT            (\"\")\n"
    "  --negative-prompt TEXT   (\"\")\n"
    "  --cfg-scale X            (5.0; 1 skips the negative branch)\n"
    "  --cfg-scale-high X       Wan2.2 A14B: the scale while the high-noise expert runs (--cfg-scale)\n"
    "  --cfg-scale-low X        ... and while the low-noise expert runs (--cfg-scale); the official\n"
    "                           Wan2.2 code uses 4.0 / 3.0 for T2V-A14B, 3.5 / 3.5 for I2V-A14B\n"
    "  --switch-dit-boundary X  Wan2.2 A14B: the high-noise expert runs while timestep >= X * 1000\n"
    "                           (0.875 for T2V-A14B as DiffSynth, 0.9 for I2V-A14B as its I2V example)\n"
    "  --seed N                 (random, printed)\n"
    "  --height N --width N     (480, 832; rounded up to multiples of 16, of 32 with the Wan2.2 VAE;\n"
    "                           TI2V-5B's release size is 704x1280 with 121 frames)\n"
    "  --num-frames N           (81; rounded up to 4k+1)\n"
    "  --num-inference-steps N  (50)\n"
    "  --sigma-shift X          (5.0)\n"
    "  --denoising-strength X   (1.0; < 1 with --input-video)\n"
    "  --input-video FILE       video-to-video: centre-cropped and resized to height x width\n"
    "  --input-image FILE       image-to-video: the first frame (PNG, JPEG, ...; resized to height x width);\n"
    "                           required by an I2V / FLF2V / Fun-InP model, optional for TI2V-5B (its\n"
    "                           latents become latent frame 0 and stay fixed), refused by a T2V one\n"
    "  --end-image FILE         the last frame: required by FLF2V, optional for I2V / Fun-InP\n"
    "  --tea-cache-l1-thresh X  TeaCache: skip DiT blocks on steps whose time modulation barely changed\n"
    "                           (0 = off; e.g. 0.05..0.3, higher is faster and less exact)\n"
    "  --tea-cache-model-id ID  its coefficients, required with a threshold: Wan2.1-T2V-1.3B,\n"
    "                           Wan2.1-T2V-14B, Wan2.1-I2V-14B-480P, Wan2.1-I2V-14B-720P\n"
    "Fun control / camera (Wan2.1-Fun[-V1.1]-*-Control[-Camera], Wan2.2-Fun-A14B-Control[-Camera];\n"
    "DiffSynth's names):\n"
    "  --control-video FILE     control_video (Fun control: depth/pose/... video, resized as --input-video)\n"
    "  --reference-image FILE   reference_image (Fun V1.1 control: ref_conv tokens, and its CLIP tokens)\n"
    "  --camera-direction D     camera_control_direction: Left, Right, Up, Down, LeftUp, LeftDown, RightUp,\n"
    "                           RightDown (Fun Control-Camera, with --input-image)\n"
    "  --camera-speed X         camera_control_speed (1/54)\n"
    "  --camera-origin V,...    camera_control_origin: 19 comma-separated values (DiffSynth's default\n"
    "                           0,0.532139961,0.946026558,0.5,0.5,0,0,1,0,0,0,0,1,0,0,0,0,1,0)\n"
    "VACE (Wan2.1-VACE-1.3B / -14B, Wan2.2-VACE-Fun-A14B; DiffSynth's names):\n"
    "  --vace-video FILE        vace_video: control video (depth, pose, ...), resized as --input-video\n"
    "  --vace-mask FILE         vace_video_mask: white = generate, black = keep (default: all white)\n"
    "  --vace-reference-image FILE  vace_reference_image, repeatable (reference-to-video; resized to\n"
    "                           height x width)\n"
    "  --vace-scale X           vace_scale (1.0)\n"
    "speed control (Wan2.1-T2V-1.3B + DiffSynth-Studio/Wan2.1-1.3b-speedcontrol-v1):\n"
    "  --motion-bucket-id N     motion_bucket_id (None: off); higher is faster motion (e.g. 0..100)\n"
    "  --motion-controller FILE its model.safetensors (default: found in --model-dir as\n"
    "                           Wan2.1-1.3b-speedcontrol-v1/model.safetensors)\n"
    "  --sliding-window-size N  sliding_window_size: the DiT on windows of N latent frames, blended\n"
    "                           (None: off; bounds the DiT's memory for long videos)\n"
    "  --sliding-window-stride M  sliding_window_stride: window step in latent frames (1..N); y, the camera\n"
    "                           input and the VACE context are sliced per window (DiffSynth drops the\n"
    "                           camera input and fails on VACE there); not with TeaCache\n"
    "  --tiled / --no-tiled     VAE tiling (tiled)\n"
    "  --tile-size H,W          (30,52) latent pixels\n"
    "  --tile-stride H,W        (15,26)\n"
    "  --dtype bf16|f32         compute precision (bf16, as DiffSynth)\n"
    "  --threads N              CPU threads (all; or $WANC_THREADS)\n"
    "  --q8-matmul int8|fp      a GGUF DiT's Q8_0 weights: int8 dot products with the activations quantized\n"
    "                           per 32 values, as llama.cpp (int8, the default; VNNI where the CPU has it,\n"
    "                           ~3x faster), or decoded for the float GEMM (fp: ComfyUI-GGUF's numerics)\n"
    "  --max-memory GB          memory limit (DiffSynth's vram_limit; 0 = none): a DiT over 60 % of it\n"
    "                           streams its blocks (each model's weights leave memory after its stage anyway)\n"
    "  --verbose                memory per stage (resident set and peak, and after each release)\n"
    "\n"
    "output:\n"
    "  -o, --out FILE           output.mp4 (H.264); FILE.safetensors writes the raw uint8 frames\n"
    "  --frames DIR             PNG frames DIR/frame_00000.png ... instead of an mp4\n"
    "  --fps N                  (15)\n"
    "  --quality Q              0..10 (5), as DiffSynth's save_video\n"
    "  --quiet                  no progress bar\n";

/* --verbose: the resident set at the end of each stage and the stage's peak. */
static void print_memory(void *user, const char *stage, size_t rss, size_t peak)
{
    (void)user;
    fprintf(stderr, "  memory: %-18s rss %6.2f GB, peak %6.2f GB\n", stage, rss / 1e9, peak / 1e9);
}

/* Shared by generate and demo: run and save. */
static int run_and_save(const char *cmd, const wanc_pipeline_files *files, const wanc_pipeline_options *popt,
                        wanc_gen_params *p, const char *out, double fps, int quality, bool quiet)
{
    char notices[3][128];
    int n_notices = 0;
    wanc_err err = wanc_gen_params_check(p, notices, &n_notices);
    if (err) return fail(cmd, err);
    for (int i = 0; i < n_notices; i++) fprintf(stderr, "wanc %s: %s\n", cmd, notices[i]);
    size_t n = strlen(out);
    if ((err = check_output_writable(out, n && out[n - 1] == '/'))) return fail(cmd, err);

    signal(SIGINT, on_sigint);
    wanc_pipeline *pipe = NULL;
    if (!quiet) fprintf(stderr, "loading models...\n");
    if ((err = wanc_pipeline_load(&pipe, files, popt))) return fail(cmd, err);
    if (!quiet) fprintf(stderr, "%s\n", wanc_pipeline_describe(pipe));
    const char *loras = wanc_pipeline_lora_summary(pipe);
    if (loras[0] && (!quiet || strstr(loras, "warning"))) fprintf(stderr, "%s\n", loras);
    /* the model's own shape rules (the Wan2.2 VAE's 32-pixel grid) and needs */
    if ((err = wanc_pipeline_check_params(pipe, p, notices, &n_notices))) {
        wanc_pipeline_free(pipe);
        return fail(cmd, err);
    }
    for (int i = 0; i < n_notices; i++) fprintf(stderr, "wanc %s: %s\n", cmd, notices[i]);
    progress_state ps = {.quiet = quiet};
    p->progress = progress;
    p->progress_user = &ps;
    wanc_video video = {0};
    err = wanc_generate(pipe, p, &video);
    wanc_pipeline_free(pipe);
    if (!err && interrupted) err = wanc_error(WANC_ECANCELLED, "interrupted");
    if (!err) err = wanc_video_save(&video, out, fps, quality);
    if (err) {
        wanc_video_free(&video);
        return fail(cmd, err);
    }
    printf("wrote %s: %d frames of %dx%d, seed %llu\n", out, video.T, video.H, video.W,
           (unsigned long long)video.seed);
    if (p->input_image)
        printf("time: text %.2f s, image %.2f s, denoise %.2f s, decode %.2f s\n", video.seconds_text,
               video.seconds_image, video.seconds_denoise, video.seconds_decode);
    else
        printf("time: text %.2f s, denoise %.2f s, decode %.2f s\n", video.seconds_text, video.seconds_denoise,
               video.seconds_decode);
    wanc_video_free(&video);
    return 0;
}

int wanc_cmd_generate(int argc, char **argv)
{
    static generate_args a; /* frames_path is PATH_MAX bytes */
    char msg[512];
    int rc = generate_args_parse(&a, argc, argv, msg, sizeof msg);
    if (rc) {
        fprintf(stderr, "%s\n", msg);
        return rc;
    }
    if (a.help) {
        fputs(generate_help, stdout);
        return 0;
    }
    wanc_gen_params p = a.p;
    const char *input_video = a.input_video, *input_image = a.input_image, *end_image = a.end_image;
    uint8_t *video = NULL;
    if (input_video) {
        wanc_err err = wanc_video_load(input_video, &video, &p.input_video_frames, &p.input_video_height,
                                       &p.input_video_width);
        if (err) return fail("generate", wanc_error_context(err, "--input-video"));
        p.input_video = video;
    }
    uint8_t *image = NULL, *end = NULL;
    if (input_image) {
        wanc_err err = wanc_image_read(input_image, &image, &p.input_image_height, &p.input_image_width);
        if (err) rc = fail("generate", wanc_error_context(err, "--input-image"));
        p.input_image = image;
    }
    if (!rc && end_image) {
        wanc_err err = wanc_image_read(end_image, &end, &p.end_image_height, &p.end_image_width);
        if (err) rc = fail("generate", wanc_error_context(err, "--end-image"));
        p.end_image = end;
    }
    if (a.verbose) p.memory = print_memory;
    if (!rc) {
        wanc_err err = cli_conds_build(&a.cc, &p);
        if (err) rc = fail("generate", err);
    }
    if (!rc) rc = run_and_save("generate", &a.files, &a.popt, &p, a.out, a.fps, a.quality, a.quiet);
    cli_conds_free(&a.cc);
    free(video);
    free(image);
    free(end);
    return rc;
}

/* `wanc demo --i2v | --flf2v` (tools/demo.c hands these over): an untrained
 * image-to-video model from a built-in picture. */
int wanc_cmd_demo_image(int argc, char **argv)
{
    const char *dir = "wanc-demo-model", *out = "demo.mp4", *prompt = "a red fox running through fresh snow";
    long long seed = 42, threads = 0;
    bool quiet = false, i2v = false, flf2v = false;
    const cli_flag flags[] = {{"--dir", 's', &dir},   {"--out", 's', &out},         {"-o", 's', &out}, {"--prompt", 's', &prompt},
                          {"--seed", 'i', &seed}, {"--threads", 'i', &threads}, {"--quiet", 'b', &quiet},
                          {"--i2v", 'b', &i2v},         {"--flf2v", 'b', &flf2v}};
    char msg[512];
    int rc = cli_parse_flags("demo", argc, argv, flags, (int)(sizeof flags / sizeof flags[0]), msg, sizeof msg);
    if (rc) {
        fprintf(stderr, "%s (--i2v / --flf2v take --dir, --out, --prompt, --seed, --threads, --quiet)\n", msg);
        return rc;
    }
    wanc_pipeline_files files;
    wanc_pipeline_options popt;
    wanc_pipeline_options_default(&popt);
    popt.threads = (int)threads;
    printf("wanc demo: the image-to-video demo model's weights are random and untrained; expect structured noise.\n");
    wanc_err err = wanc_demo_write_i2v_models(dir, flf2v, &files, &popt.dit_heads);
    if (err) return fail("demo", err);
    printf("wrote the demo model to %s/\n", dir);
    wanc_gen_params p;
    wanc_gen_params_default(&p);
    p.prompt = prompt;
    p.negative_prompt = "blurry, static";
    p.seed = seed;
    p.height = 96;
    p.width = 160;
    p.num_frames = 17;
    p.num_inference_steps = 8;
    enum { IH = 120, IW = 200 }; /* not the video size: the pipeline resizes it */
    uint8_t *images = malloc(2 * (size_t)IH * IW * 3);
    if (!images) return fail("demo", wanc_error(WANC_ENOMEM, "demo images"));
    wanc_demo_image(images, IH, IW, false);
    p.input_image = images;
    p.input_image_height = IH;
    p.input_image_width = IW;
    if (flf2v) {
        wanc_demo_image(images + (size_t)IH * IW * 3, IH, IW, true);
        p.end_image = images + (size_t)IH * IW * 3;
        p.end_image_height = IH;
        p.end_image_width = IW;
    }
    rc = run_and_save("demo", &files, &popt, &p, out, 15, 5, quiet);
    free(images);
    return rc;
}
