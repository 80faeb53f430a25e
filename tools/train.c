/* `wanc train`: DiffSynth's train.py arguments → wanc_train_options → wanc_train.
 *
 * Every option is spelled as train.py spells it (--dataset_base_path); the
 * dashed spelling (--dataset-base-path) and --name=value are accepted too. */
#include <errno.h>
#include <limits.h>
#include <math.h>
#include <signal.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "commands.h"
#include "wanc.h"

typedef enum { OPT_STR, OPT_INT, OPT_I64, OPT_F64, OPT_FLAG } opt_kind;

typedef struct {
    const char *name; /* underscore spelling, without the dashes */
    opt_kind kind;
    size_t offset;    /* into wanc_train_options; (size_t)-1: handled here */
    const char *def;  /* the default shown by --help */
    const char *help;
} opt_spec;

#define OFF(field) offsetof(wanc_train_options, field)
#define LOCAL ((size_t)-1)

static const opt_spec specs[] = {
    {"dataset_base_path", OPT_STR, OFF(dataset_base_path), "\"\"",
     "folder the metadata's file names are relative to (sft:train: the cache folder)"},
    {"dataset_metadata_path", OPT_STR, OFF(dataset_metadata_path), "none",
     "metadata .csv/.json/.jsonl: columns video (or image) and prompt"},
    {"dataset_repeat", OPT_INT, OFF(dataset_repeat), "1", "times the dataset is repeated per epoch"},
    {"data_file_keys", OPT_STR, OFF(data_file_keys), "image,video", "columns that name data files"},
    {"height", OPT_INT, OFF(height), "none", "frame height (with --width; none: dynamic resolution)"},
    {"width", OPT_INT, OFF(width), "none", "frame width (with --height)"},
    {"max_pixels", OPT_I64, OFF(max_pixels), "1048576", "dynamic resolution: most pixels per frame"},
    {"num_frames", OPT_INT, OFF(num_frames), "81", "frames per video, 4k+1 (shorter videos: their largest 4k+1)"},
    {"model_paths", OPT_STR, OFF(model_paths), "none", "JSON list of model files (DiT, T5, VAE)"},
    {"model_dir", OPT_STR, OFF(model_dir), "none", "a release folder instead (as wanc generate --model-dir)"},
    {"tokenizer_path", OPT_STR, OFF(tokenizer_path), "the model folder's", "google/umt5-xxl tokenizer folder"},
    {"dit_heads", OPT_INT, OFF(dit_heads), "from the checkpoint", "attention heads of a DiT that does not say"},
    {"task", OPT_STR, OFF(task), "sft", "sft | sft:data_process | sft:train"},
    {"learning_rate", OPT_F64, OFF(learning_rate), "0.0001", "AdamW learning rate"},
    {"weight_decay", OPT_F64, OFF(weight_decay), "0.01", "AdamW weight decay"},
    {"num_epochs", OPT_INT, OFF(num_epochs), "1", "epochs"},
    {"trainable_models", OPT_STR, OFF(trainable_models), "none", "dit: full fine-tuning (every DiT parameter)"},
    {"lora_base_model", OPT_STR, OFF(lora_base_model), "none", "dit: LoRA on the DiT"},
    {"lora_target_modules", OPT_STR, OFF(lora_target_modules), "q,k,v,o,ffn.0,ffn.2", "layers that get a LoRA"},
    {"lora_rank", OPT_INT, OFF(lora_rank), "32", "LoRA rank (alpha = rank)"},
    {"lora_checkpoint", OPT_STR, OFF(lora_checkpoint), "none", "continue training this LoRA"},
    {"preset_lora_path", OPT_STR, OFF(preset_lora_path), "none", "a LoRA fused into the base model before training"},
    {"preset_lora_model", OPT_STR, OFF(preset_lora_model), "none", "the model it is fused into: dit"},
    {"gradient_accumulation_steps", OPT_INT, OFF(gradient_accumulation_steps), "1", "steps per optimizer update"},
    {"use_gradient_checkpointing", OPT_FLAG, LOCAL, "on", "accepted; wanc always recomputes per block"},
    {"extra_inputs", OPT_STR, OFF(extra_inputs), "none",
     "input_image (the clip's first frame: I2V, TI2V-5B), input_image,end_image (+ its last: FLF2V)"},
    {"max_timestep_boundary", OPT_F64, OFF(max_timestep_boundary), "1.0", "Wan2.2 expert training: upper bound"},
    {"min_timestep_boundary", OPT_F64, OFF(min_timestep_boundary), "0.0", "lower bound"},
    {"output_path", OPT_STR, OFF(output_path), "./models", "output folder"},
    {"remove_prefix_in_ckpt", OPT_STR, OFF(remove_prefix_in_ckpt), "pipe.dit.", "prefix removed from saved keys"},
    {"save_steps", OPT_INT, OFF(save_steps), "none", "save every N steps (none: once per epoch)"},
    {"resume_from_checkpoint", OPT_STR, OFF(resume_from_checkpoint), "none", "continue from OUTPUT (its checkpoint.safetensors) or that file"},
    {"seed", OPT_I64, OFF(seed), "0", "seed of the LoRA init, noise, timesteps and data order"},
    {"threads", OPT_INT, OFF(threads), "all CPUs", "worker threads ($WANC_THREADS)"},
    {"precision", OPT_STR, LOCAL, "bf16", "bf16 (DiffSynth's) or fp32"},
    {"quiet", OPT_FLAG, LOCAL, "off", "no progress bar"},
};
#define N_SPECS (sizeof specs / sizeof specs[0])

static void usage(FILE *f)
{
    fprintf(f, "usage: wanc train --dataset_base_path DIR --dataset_metadata_path FILE --model_dir DIR\n"
               "                  --lora_base_model dit | --trainable_models dit [options]\n\n"
               "DiffSynth's train.py arguments (dashes or underscores; --name value or --name=value):\n");
    for (size_t i = 0; i < N_SPECS; i++) {
        char flag[64];
        snprintf(flag, sizeof flag, "--%s%s", specs[i].name, specs[i].kind == OPT_FLAG ? "" : " V");
        fprintf(f, "  %-34s %s (default %s)\n", flag, specs[i].help, specs[i].def);
    }
    fprintf(f, "\nTasks: sft:data_process encodes every item once (UMT5, VAE) into OUTPUT/0/N.safetensors;\n"
               "sft:train trains from that folder (--dataset_base_path OUTPUT, no metadata) without UMT5 or\n"
               "the VAE; sft does both. Training is LoRA on the DiT (--lora_base_model dit) or full fine-tuning\n"
               "of every DiT parameter (--trainable_models dit), computed in float32 with the parameters kept in\n"
               "the pipeline dtype (AdamW moments float32). --preset_lora_path fuses a LoRA (any format that\n"
               "wanc generate --lora reads) into the DiT first.\n"
               "--extra_inputs input_image[,end_image] trains image-to-video DiTs through the pipeline's image\n"
               "units, chosen by the DiT's shapes: Wan2.1 I2V / FLF2V (y = mask + VAE latents of the first\n"
               "[and last] frame, CLIP tokens; needs the CLIP file with the models), Wan2.2 A14B I2V (y only),\n"
               "TI2V-5B (the first frame's latents as latent frame 0 at timestep 0, left out of the loss;\n"
               "Wan2.2 VAE). sft:data_process stores them in the cache (y, clip_feature, first_frame_latents);\n"
               "sft:train reads them from it.\n"
               "Output: epoch-E or step-N.safetensors (a LoRA: DiffSynth's LoRA keys; full fine-tuning:\n"
               "the DiT in the release's keys, for wanc generate --dit, sharded with an index.json past 5 GB),\n"
               "loss.csv, checkpoint.safetensors (what --resume_from_checkpoint OUTPUT continues from,\n"
               "bit-identically). Ctrl-C saves and stops.\n");
}

static volatile sig_atomic_t interrupted;
static void on_sigint(int sig)
{
    (void)sig;
    interrupted = 1;
}

/* The ETA averages the steps this process has run of the current stage: a
 * resumed run starts past step 1, and "sft" runs data_process, then train. */
typedef struct {
    int quiet, shown;
    char stage[16];
    long long calls;
    double sum;
} bar_state;

static int progress(void *user, const wanc_train_status *s)
{
    bar_state *b = user;
    if (interrupted) return 1;
    if (b->quiet) return 0;
    if (strncmp(b->stage, s->stage, sizeof b->stage)) {
        *b = (bar_state){.quiet = b->quiet};
        snprintf(b->stage, sizeof b->stage, "%s", s->stage);
    }
    b->sum += s->seconds_per_step;
    b->calls++;
    b->shown = s->step != s->total;
    double eta = b->sum / (double)b->calls * (double)(s->total - s->step);
    int width = 30, filled = s->total ? (int)(s->step * width / s->total) : width;
    if (!strcmp(s->stage, "train"))
        fprintf(stderr, "\r  train [%.*s%*s] step %lld/%lld epoch %d loss %.4f  %.2f s/step  ETA %.0f s ", filled,
                "##############################", width - filled, "", s->step, s->total, s->epoch,
                s->loss_smoothed, s->seconds_per_step, eta);
    else
        fprintf(stderr, "\r  %s [%.*s%*s] %lld/%lld  %.2f s/item  ETA %.0f s ", s->stage, filled,
                "##############################", width - filled, "", s->step, s->total, s->seconds_per_step, eta);
    if (s->step == s->total) fputc('\n', stderr);
    return 0;
}

static const opt_spec *find_spec(const char *arg, size_t len)
{
    char name[64];
    if (len >= sizeof name) return NULL;
    for (size_t i = 0; i < len; i++) name[i] = arg[i] == '-' ? '_' : arg[i];
    name[len] = 0;
    for (size_t i = 0; i < N_SPECS; i++)
        if (!strcmp(specs[i].name, name)) return &specs[i];
    return NULL;
}

static int bad_value(const opt_spec *s, const char *v, const char *what)
{
    fprintf(stderr, "wanc train: --%s '%s': expected %s\n", s->name, v, what);
    return 0;
}

static int set_option(wanc_train_options *o, const opt_spec *s, const char *v, int *quiet)
{
    char *end;
    errno = 0;
    if (s->kind != OPT_FLAG && !v[0]) return bad_value(s, v, "a value");
    if (!strcmp(s->name, "quiet")) *quiet = 1;
    else if (!strcmp(s->name, "use_gradient_checkpointing")) {
    } else if (!strcmp(s->name, "precision")) {
        if (strcmp(v, "bf16") && strcmp(v, "fp32")) return bad_value(s, v, "bf16 or fp32");
        o->precision = !strcmp(v, "bf16") ? WANC_PRECISION_BF16 : WANC_PRECISION_FP32;
    } else if (s->kind == OPT_STR) *(const char **)((char *)o + s->offset) = v;
    else if (s->kind == OPT_INT) {
        long x = strtol(v, &end, 10);
        if (*end || errno || x < INT_MIN || x > INT_MAX) return bad_value(s, v, "an integer");
        *(int *)((char *)o + s->offset) = (int)x;
    } else if (s->kind == OPT_I64) {
        long long x = strtoll(v, &end, 10);
        if (*end || errno) return bad_value(s, v, "an integer");
        *(long long *)((char *)o + s->offset) = x;
    } else if (s->kind == OPT_F64) {
        double x = strtod(v, &end);
        if (*end || errno || !isfinite(x)) return bad_value(s, v, "a number");
        *(double *)((char *)o + s->offset) = x;
    }
    return 1;
}

int wanc_cmd_train(int argc, char **argv)
{
    wanc_train_options o;
    wanc_train_options_default(&o);
    int quiet = 0;
    for (int i = 0; i < argc; i++) {
        const char *a = argv[i];
        if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
            usage(stdout);
            return 0;
        }
        if (strncmp(a, "--", 2)) {
            fprintf(stderr, "wanc train: unexpected argument '%s' (wanc train --help lists the options)\n", a);
            return 2;
        }
        const char *eq = strchr(a + 2, '=');
        const opt_spec *s = find_spec(a + 2, eq ? (size_t)(eq - a - 2) : strlen(a + 2));
        if (!s) {
            fprintf(stderr, "wanc train: unknown option %.*s (wanc train --help lists the options)\n",
                    eq ? (int)(eq - a) : (int)strlen(a), a);
            return 2;
        }
        const char *v = eq ? eq + 1 : NULL;
        if (s->kind == OPT_FLAG && v) {
            fprintf(stderr, "wanc train: --%s takes no value\n", s->name);
            return 2;
        }
        if (s->kind != OPT_FLAG && !v) {
            if (i + 1 >= argc) {
                fprintf(stderr, "wanc train: --%s needs a value\n", s->name);
                return 2;
            }
            v = argv[++i];
        }
        if (!set_option(&o, s, v ? v : "", &quiet)) return 2;
    }
    signal(SIGINT, on_sigint);
    bar_state b = {.quiet = quiet};
    wanc_err err = wanc_train(&o, progress, &b);
    if (err) {
        if (b.shown) fputc('\n', stderr);
        fprintf(stderr, "wanc train: %s\n", wanc_error_message(err));
        wanc_error_free(err);
        return 1;
    }
    if (!quiet) fprintf(stderr, "wanc train: done; output in %s\n", o.output_path);
    return 0;
}
