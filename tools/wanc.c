/* wanc — command-line interface (thin layer over include/wanc.h). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "commands.h"
#include "wanc.h"

/* wanc info FILE...: every file is listed; any failure makes the exit status 1. */
static int cmd_info(int argc, char **argv)
{
    if (argc < 1) {
        fprintf(stderr, "wanc info: no file given\n");
        return 2;
    }
    int status = 0;
    for (int i = 0; i < argc; i++) {
        wanc_err err = wanc_info_print(stdout, argv[i]);
        if (err) {
            fflush(stdout);
            fprintf(stderr, "wanc info: %s\n", wanc_error_message(err));
            wanc_error_free(err);
            status = 1;
        }
    }
    return status;
}

static int report(const char *cmd, wanc_err err)
{
    if (!err) return 0;
    fprintf(stderr, "wanc %s: %s\n", cmd, wanc_error_message(err));
    wanc_error_free(err);
    return 1;
}

/* Parse a non-negative integer option value; 0 (with a message) when invalid. */
static int parse_i64(const char *cmd, const char *flag, const char *v, int64_t *out)
{
    char *end;
    long long x = v ? strtoll(v, &end, 10) : -1;
    if (!v || *end || x < 0) {
        fprintf(stderr, "wanc %s: %s needs a non-negative integer\n", cmd, flag);
        return 0;
    }
    *out = x;
    return 1;
}

/* wanc random-model --arch A --out PATH [--seed N] [--dtype bf16|f32] [size options]:
 * each arch maps to the library function that writes that component. */
typedef struct {
    const char *arch, *out, *base; /* base: the DiT a LoRA is made for */
    int64_t rank;
    wanc_random_model_opts o;
} random_model_args;

static wanc_err random_lora(const random_model_args *a)
{
    if (!a->base) return wanc_error(WANC_EINVAL, "--arch lora needs --base DIT_FILE");
    return wanc_random_lora(a->base, a->out, a->rank ? (int)a->rank : 16, a->o.dtype, a->o.seed);
}

static wanc_err random_dit(const random_model_args *a)
{
    return wanc_random_model_dit(a->arch, a->out, (int)a->o.layers, a->o.dtype, a->o.seed);
}

static wanc_err random_vae21(const random_model_args *a)
{
    return wanc_random_vae21(a->out, a->o.dtype ? a->o.dtype : "f32", a->o.seed, (int)a->o.width);
}

static wanc_err random_vae22(const random_model_args *a)
{
    return wanc_random_vae22(a->out, a->o.dtype ? a->o.dtype : "f32", a->o.seed, (int)a->o.width);
}

static wanc_err random_clip(const random_model_args *a)
{
    return wanc_random_clip(a->out, a->o.dtype ? a->o.dtype : "f32", a->o.seed, (int)a->o.width, (int)a->o.layers);
}

static wanc_err random_umt5(const random_model_args *a) { return wanc_random_model_umt5(a->out, &a->o); }

static wanc_err random_release(const random_model_args *a) { return wanc_random_model_release(a->arch, a->out, &a->o); }

static const struct {
    const char *arch;
    wanc_err (*fn)(const random_model_args *a);
    const char *what;
} random_models[] = {
    {"wan2.1-t2v-1.3b", random_dit, "DiT: DIR/diffusion_pytorch_model.safetensors (--layers N)"},
    {"wan2.1-t2v-14b", random_dit, "DiT: DIR/diffusion_pytorch_model.safetensors (--layers N)"},
    {"wan2.1-i2v-14b", random_dit, "DiT: DIR/diffusion_pytorch_model.safetensors (--layers N)"},
    {"wan2.2-t2v-a14b", random_release, "release folder DIR: high_noise_model/ + low_noise_model/ (6 shards +\n"
     "                                 index each), Wan2.1 VAE (--width), small text encoder + tokenizer (--layers N)"},
    {"wan2.2-i2v-a14b", random_release, "the same with in_dim-36 experts (image-to-video, no CLIP)"},
    {"wan2.2-fun-a14b-control", random_release, "the same with in_dim-52 experts with ref_conv (Fun control)"},
    {"wan2.2-fun-a14b-control-camera", random_release, "the same with in_dim-36 experts with a camera adapter"},
    {"wan2.2-vace-fun-a14b", random_release, "the same with T2V experts with 8 VACE blocks (layers 0, 5, .., 35)"},
    {"wan2.2-ti2v-5b", random_release, "release folder DIR: 3 shards + index, Wan2.2 VAE (--width), small text\n"
     "                                 encoder + tokenizer (--layers N); every wan2.2 arch: --dim --ffn --heads\n"
     "                                 shrink its DiTs"},
    {"umt5-xxl", random_umt5, "text encoder: FILE (--layers --vocab --dim --ffn --heads shrink it)"},
    {"wan2.1-vae", random_vae21, "VAE: FILE (--width N, 96 = release)"},
    {"wan2.2-vae", random_vae22, "Wan2.2 VAE: FILE (--width N, 160 = release; decoder 1.6x)"},
    {"clip-vit-h-14", random_clip, "CLIP image tower: FILE (--width N --layers N)"},
    {"lora", random_lora, "LoRA for a DiT: FILE (--base DIT_FILE, --rank N (16); diffsynth dialect)"},
};

static int cmd_random_model(int argc, char **argv)
{
    random_model_args a = {0};
    int64_t seed = 0;
    for (int i = 0; i < argc; i += 2) {
        const char *f = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        int ok = v != NULL;
        if (!strcmp(f, "--arch")) a.arch = v;
        else if (!strcmp(f, "--out")) a.out = v;
        else if (!strcmp(f, "--dtype")) a.o.dtype = v;
        else if (!strcmp(f, "--base")) a.base = v;
        else if (!strcmp(f, "--rank")) ok = parse_i64("random-model", f, v, &a.rank);
        else if (!strcmp(f, "--seed")) ok = parse_i64("random-model", f, v, &seed);
        else if (!strcmp(f, "--layers")) ok = parse_i64("random-model", f, v, &a.o.layers);
        else if (!strcmp(f, "--width")) ok = parse_i64("random-model", f, v, &a.o.width);
        else if (!strcmp(f, "--vocab")) ok = parse_i64("random-model", f, v, &a.o.vocab);
        else if (!strcmp(f, "--dim")) ok = parse_i64("random-model", f, v, &a.o.dim);
        else if (!strcmp(f, "--ffn")) ok = parse_i64("random-model", f, v, &a.o.dim_ffn);
        else if (!strcmp(f, "--heads")) ok = parse_i64("random-model", f, v, &a.o.heads);
        else {
            fprintf(stderr, "wanc random-model: unknown option %s\n", f);
            return 2;
        }
        if (!ok) {
            if (!v) fprintf(stderr, "wanc random-model: %s needs a value\n", f);
            return 2;
        }
    }
    a.o.seed = (uint64_t)seed;
    if (!a.arch || !a.out) {
        fprintf(stderr, "wanc random-model: --arch and --out are required; archs:\n");
        for (size_t k = 0; k < sizeof random_models / sizeof random_models[0]; k++)
            fprintf(stderr, "  %-30s %s\n", random_models[k].arch, random_models[k].what);
        return 2;
    }
    for (size_t k = 0; k < sizeof random_models / sizeof random_models[0]; k++)
        if (!strcmp(random_models[k].arch, a.arch)) return report("random-model", random_models[k].fn(&a));
    fprintf(stderr, "wanc random-model: unknown arch '%s'\n", a.arch);
    return 2;
}

/* wanc encode-prompt --t5 FILE --tokenizer DIR --prompt TEXT [--ids] [--out F] [--dtype bf16|f32] [--threads N] */
static int cmd_encode_prompt(int argc, char **argv)
{
    wanc_encode_prompt_params p = {.bf16 = 1};
    for (int i = 0; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (!strcmp(a, "--ids")) {
            p.print_ids = 1;
            continue;
        }
        if (!v) {
            fprintf(stderr, "wanc encode-prompt: %s needs a value\n", a);
            return 2;
        }
        if (!strcmp(a, "--t5")) p.t5_path = v;
        else if (!strcmp(a, "--tokenizer")) p.tokenizer_dir = v;
        else if (!strcmp(a, "--prompt")) p.prompt = v;
        else if (!strcmp(a, "--out")) p.out_path = v;
        else if (!strcmp(a, "--dtype")) {
            if (strcmp(v, "bf16") && strcmp(v, "f32")) {
                fprintf(stderr, "wanc encode-prompt: --dtype is bf16 or f32\n");
                return 2;
            }
            p.bf16 = !strcmp(v, "bf16");
        } else if (!strcmp(a, "--threads")) {
            int64_t t;
            if (!parse_i64("encode-prompt", a, v, &t)) return 2;
            p.threads = (int)t;
        } else {
            fprintf(stderr, "wanc encode-prompt: unknown option %s\n", a);
            return 2;
        }
        i++;
    }
    if (!p.tokenizer_dir || !p.prompt || (!p.print_ids && !p.out_path) || (p.out_path && !p.t5_path)) {
        fprintf(stderr, "wanc encode-prompt: needs --tokenizer, --prompt and --ids and/or --t5 with --out\n");
        return 2;
    }
    return report("encode-prompt", wanc_encode_prompt(stdout, &p));
}

/* wanc bench COMPONENT [options] */
static const struct {
    const char *name;
    wanc_err (*fn)(FILE *out, int argc, char **argv);
} benches[] = {
    {"dit", wanc_bench_dit},
    {"train", wanc_bench_train},
};

static int cmd_bench(int argc, char **argv)
{
    for (size_t i = 0; argc > 0 && i < sizeof benches / sizeof benches[0]; i++)
        if (!strcmp(benches[i].name, argv[0])) return report("bench", benches[i].fn(stdout, argc - 1, argv + 1));
    fprintf(stderr, "wanc bench: unknown or missing component (known: dit, train)\n");
    return 2;
}

static int usage(FILE *f)
{
    fprintf(f,
            "wanc %s — Wan video models in C\n\n"
            "usage:\n"
            "  wanc generate --prompt TEXT --model-dir DIR [options]\n"
            "                         text-to-video (or video-to-video); wanc generate --help lists every option\n"
            "  wanc train --dataset_base_path DIR --dataset_metadata_path FILE --model_dir DIR [options]\n"
            "                         LoRA training with DiffSynth's train.py arguments; wanc train --help lists them\n"
            "  wanc demo              build a tiny untrained model and run the whole pipeline on it\n"
            "  wanc make-dataset --out DIR [--count N] [--seed S]\n"
            "                         the demo's procedural clips + metadata.csv (wanc make-dataset --help)\n"
            "  wanc info FILE...      list every tensor of checkpoint files (name, dtype, shape); a LoRA file\n"
            "                         also gets its dialect, rank(s), alpha(s), modules and layer count; a DiT the\n"
            "                         family its shapes say (Fun control / camera, VACE, I2V, T2V, TI2V-5B)\n"
            "  wanc quantize --type Q8_0|Q6_K|Q5_K|Q4_K|Q4_0|... IN OUT.gguf\n"
            "                         a Wan DiT as a GGUF file in city96's layout (wanc quantize --help)\n"
            "  wanc encode-prompt --t5 FILE --tokenizer DIR --prompt TEXT [--ids] [--out FILE.safetensors]\n"
            "                     [--dtype bf16|f32] [--threads N]\n"
            "                         UMT5 prompt embedding prompt_emb [1,512,dim] (--ids: print the token ids)\n"
            "  wanc random-model --arch ARCH --out PATH [--seed N] [--dtype bf16|f32] [--layers N] [--width N]\n"
            "                    [--vocab N --dim N --ffn N --heads N] [--base DIT --rank N]\n"
            "                         random weights with the released names and shapes; archs: wan2.1-t2v-1.3b,\n"
            "                         wan2.1-t2v-14b, wan2.1-i2v-14b (DIR); wan2.2-t2v-a14b, wan2.2-i2v-a14b,\n"
            "                         wan2.2-fun-a14b-control, wan2.2-fun-a14b-control-camera, wan2.2-vace-fun-a14b,\n"
            "                         wan2.2-ti2v-5b (a release folder DIR); umt5-xxl, wan2.1-vae, wan2.2-vae,\n"
            "                         clip-vit-h-14, lora (a LoRA for the DiT file --base) (FILE)\n"
            "  wanc bench dit [--arch A] [--layers N] [--latent CxFxHxW] [--context L] [--dtype f32|bf16|q8_0]\n"
            "                 [--compute fp32|bf16] [--q8 int8|fp] [--threads N] [--lora-rank R [--lora-mode fused|runtime]]\n"
            "                         time one DiT forward (with a random rank-R LoRA: its load time, peak RSS;\n"
            "                         q8_0: the weights as a Q8_0 GGUF, on the int8 kernels or decoded with --q8 fp)\n"
            "  wanc bench train [--arch A] [--layers N] [--latent CxFxHxW] [--context L] [--mode lora|full]\n"
            "                   [--rank R] [--dtype f32|bf16] [--threads N]\n"
            "                         time one training step (loss, checkpointed backward, AdamW; fp32 compute)\n"
            "\nenvironment:\n"
            "  WANC_CPU=avx2|avx512|avx512bf16   force the CPU kernels' instruction-set path (default: the best this\n"
            "                         CPU has; avx512bf16 runs bf16 GEMMs on vdpbf16ps); a path the CPU lacks is an error\n"
            "  WANC_CPU_INT8=avx2|avxvnni|avx512vnni   force the int8 kernel of Q8_0 weights (default: the best this\n"
            "                         CPU has: zmm vpdpbusd on the avx512 paths, else ymm vpdpbusd, else vpmaddubsw)\n",
            WANC_VERSION);
    return f == stdout ? 0 : 2;
}

int main(int argc, char **argv)
{
    /* first, so that `WANC_CPU=X wanc --help` tells whether this CPU has path X */
    wanc_err isa_err = wanc_cpu_path(NULL); /* WANC_CPU names a path this CPU lacks */
    if (isa_err) {
        fprintf(stderr, "wanc: %s\n", wanc_error_message(isa_err));
        wanc_error_free(isa_err);
        return 1;
    }
    if (argc < 2) return usage(stderr);
    if (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h") || !strcmp(argv[1], "help")) return usage(stdout);
    if (!strcmp(argv[1], "generate")) return wanc_cmd_generate(argc - 2, argv + 2);
    if (!strcmp(argv[1], "demo")) return wanc_cmd_demo(argc - 2, argv + 2);
    if (!strcmp(argv[1], "train")) return wanc_cmd_train(argc - 2, argv + 2);
    if (!strcmp(argv[1], "make-dataset")) return wanc_cmd_make_dataset(argc - 2, argv + 2);
    if (!strcmp(argv[1], "info")) return cmd_info(argc - 2, argv + 2);
    if (!strcmp(argv[1], "encode-prompt")) return cmd_encode_prompt(argc - 2, argv + 2);
    if (!strcmp(argv[1], "random-model")) return cmd_random_model(argc - 2, argv + 2);
    if (!strcmp(argv[1], "bench")) return cmd_bench(argc - 2, argv + 2);
    if (!strcmp(argv[1], "quantize")) return wanc_cmd_quantize(argc - 2, argv + 2);
    fprintf(stderr, "wanc: unknown command '%s'\n", argv[1]);
    return usage(stderr);
}
