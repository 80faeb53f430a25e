/* `wanc train`: the tasks of DiffSynth's train.py (see wanc.h, wanc_train).
 *
 *   sft:data_process  dataset → (UMT5 prompt embedding, VAE latents) per item
 *                     → OUTPUT/0/N.safetensors (train_cache.h)
 *   sft:train         cache → training steps
 *   sft               both in one run
 *
 * The data unit runs as DiffSynth's training pipeline does: the dataset's
 * frames (already at the training size) are preprocessed in the pipeline
 * dtype, VAE-encoded untiled (get_pipeline_inputs sets tiled=False) and the
 * latents cast to the pipeline dtype; the prompt goes through the pipeline's
 * PromptEmbedder (Wan's cleaning, 512 tokens, padded rows zeroed).
 *
 * --extra_inputs input_image[,end_image]: the clip's first (and last) frame
 * go through the pipeline's own image units (pipeline_units.h), chosen by
 * the DiT's shapes as the pipeline chooses them: in_dim 2z+4 takes y (mask +
 * VAE latents: Wan2.1 I2V / FLF2V, Wan2.2 A14B I2V) and a DiT with img_emb
 * the CLIP tokens (the end image's too with image position embeddings:
 * FLF2V); TI2V-5B (the Wan2.2 VAE) takes the first frame's latents, which
 * the step pastes into x_t with timestep 0 on frame 0 (flow_loss.h).
 */
#include <cjson/cJSON.h>
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include "wanc.h"
#include "backend/backend.h"
#include "core/clock.h"
#include "core/tensor.h"
#include "core/threads.h"
#include "dit/wan_dit.h"
#include "io/atomic_file.h"
#include "pipeline/model_files.h"
#include "pipeline/pipeline_units.h"
#include "text/tokenizer.h"
#include "text/umt5.h"
#include "train/dataset.h"
#include "train/train_cache.h"
#include "train/train_loop.h"
#include "vae/wan_vae.h"
#include "vision/clip.h"
#include "vision/resample.h"

void wanc_train_options_default(wanc_train_options *o)
{
    *o = (wanc_train_options){
        .dataset_repeat = 1,
        .data_file_keys = WANC_DATASET_DEFAULT_FILE_KEYS,
        .max_pixels = WANC_DATASET_DEFAULT_MAX_PIXELS,
        .num_frames = WANC_DATASET_DEFAULT_NUM_FRAMES,
        .precision = WANC_PRECISION_BF16,
        .task = "sft",
        .learning_rate = 1e-4,
        .weight_decay = 0.01,
        .num_epochs = 1,
        .lora_target_modules = "q,k,v,o,ffn.0,ffn.2",
        .lora_rank = 32,
        .gradient_accumulation_steps = 1,
        .max_timestep_boundary = 1.0,
        .min_timestep_boundary = 0.0,
        .output_path = "./models",
        .remove_prefix_in_ckpt = "pipe.dit.",
    };
}

/* ---- model files --------------------------------------------------------------- */

static bool contains_ci(const char *s, const char *needle)
{
    size_t n = strlen(needle);
    for (; *s; s++)
        if (!strncasecmp(s, needle, n)) return true;
    return false;
}

/* DiffSynth's --model_paths: a JSON list of files (a nested list = one
 * model's shards). wanc sorts them by the released names: *t5* the text
 * encoder, *vae* the VAE, *clip* the image encoder, the rest the DiT. */
static wanc_err model_paths_from_json(wanc_model_paths *mp, const char *json)
{
    cJSON *root = cJSON_Parse(json);
    if (!root || !cJSON_IsArray(root)) {
        cJSON_Delete(root);
        WANC_FAIL(WANC_EINVAL, "--model_paths: expected a JSON list of file paths, got %s", json);
    }
    wanc_err err = NULL;
    int n_dit = 0;
    for (const cJSON *it = root->child; it && !err; it = it->next) {
        const cJSON *files = cJSON_IsArray(it) ? it->child : it;
        for (const cJSON *f = files; f && !err; f = cJSON_IsArray(it) ? f->next : NULL) {
            if (!cJSON_IsString(f)) {
                err = wanc_error(WANC_EINVAL, "--model_paths: every entry must be a path (a string)");
                break;
            }
            const char *p = f->valuestring, *base = strrchr(p, '/');
            base = base ? base + 1 : p;
            char *slot = contains_ci(base, "t5") ? mp->t5 : contains_ci(base, "vae") ? mp->vae
                       : contains_ci(base, "clip") ? mp->clip : mp->dit;
            if (slot == mp->dit && n_dit++) {
                /* several DiT shards: their folder's diffusion_pytorch_model*.safetensors */
                char dir[PATH_MAX];
                snprintf(dir, sizeof dir, "%.*s", (int)(base - p), p);
                snprintf(mp->dit, sizeof mp->dit, "%sdiffusion_pytorch_model*.safetensors", dir);
                continue;
            }
            snprintf(slot, PATH_MAX, "%s", p);
        }
    }
    cJSON_Delete(root);
    return err;
}

static wanc_err resolve_models(wanc_model_paths *mp, const wanc_train_options *o)
{
    memset(mp, 0, sizeof *mp);
    if (o->model_dir && o->model_paths)
        WANC_FAIL(WANC_EINVAL, "give the models either with --model_paths or with --model_dir, not both");
    if (o->model_dir) TRY(wanc_find_model_files(mp, o->model_dir));
    else if (o->model_paths) TRY(model_paths_from_json(mp, o->model_paths));
    else WANC_FAIL(WANC_EINVAL, "no models: give --model_dir DIR (a release folder) or --model_paths '[\"...\"]'");
    if (o->tokenizer_path) snprintf(mp->tokenizer, sizeof mp->tokenizer, "%s", o->tokenizer_path);
    return NULL;
}

/* ---- checks ------------------------------------------------------------------------- */

/* --extra_inputs: a comma-separated list of input_image, end_image */
static wanc_err parse_extra_inputs(const wanc_train_options *o, bool *input_image, bool *end_image)
{
    *input_image = *end_image = false;
    const char *s = o->extra_inputs;
    while (s && *s) {
        size_t n = strcspn(s, ",");
        if (n == 11 && !strncmp(s, "input_image", n)) *input_image = true;
        else if (n == 9 && !strncmp(s, "end_image", n)) *end_image = true;
        else if (n > 0)
            WANC_FAIL(WANC_EUNSUPPORTED, "--extra_inputs %s: '%.*s' is not one wanc trains with (input_image, "
                      "end_image)", o->extra_inputs, (int)n, s);
        s += n + (s[n] == ',');
    }
    if (*end_image && !*input_image)
        WANC_FAIL(WANC_EINVAL, "--extra_inputs %s: end_image conditions with the first frame too; give "
                  "input_image,end_image", o->extra_inputs);
    return NULL;
}

static wanc_err check_options(const wanc_train_options *o, bool *data_process, bool *train)
{
    const char *t = o->task ? o->task : "sft";
    *data_process = !strcmp(t, "sft") || !strcmp(t, "sft:data_process");
    *train = !strcmp(t, "sft") || !strcmp(t, "sft:train");
    if (!*data_process && !*train)
        WANC_FAIL(WANC_EINVAL, "--task %s: expected sft, sft:data_process or sft:train", t);
    if (!o->output_path || !o->output_path[0]) WANC_FAIL(WANC_EINVAL, "--output_path: empty");
    bool in_img, end_img;
    TRY(parse_extra_inputs(o, &in_img, &end_img));
    if (o->num_frames < 1 || o->num_frames % 4 != 1)
        WANC_FAIL(WANC_EINVAL, "--num_frames %d: must be 4k+1 (1, 5, 9, ..., 81)", o->num_frames);
    if (!*train) return NULL;
    bool lora = o->lora_base_model && o->lora_base_model[0], full = o->trainable_models && o->trainable_models[0];
    if (lora && strcmp(o->lora_base_model, "dit"))
        WANC_FAIL(WANC_EUNSUPPORTED, "--lora_base_model %s: wanc trains LoRAs on the DiT only (dit)",
                  o->lora_base_model);
    if (full && strcmp(o->trainable_models, "dit"))
        WANC_FAIL(WANC_EUNSUPPORTED, "--trainable_models %s: wanc trains the DiT only (dit)", o->trainable_models);
    if (lora == full)
        WANC_FAIL(WANC_EINVAL, "say what to train: --lora_base_model dit (LoRA) or --trainable_models dit (full "
                  "fine-tuning)%s", lora ? ", not both" : "");
    if (lora && (o->lora_rank < 1 || o->lora_rank > 4096))
        WANC_FAIL(WANC_EINVAL, "--lora_rank %d: must be 1..4096", o->lora_rank);
    if (!(o->learning_rate > 0)) WANC_FAIL(WANC_EINVAL, "--learning_rate %g: must be positive", o->learning_rate);
    if (!(o->weight_decay >= 0)) WANC_FAIL(WANC_EINVAL, "--weight_decay %g: must be >= 0", o->weight_decay);
    if (o->num_epochs < 1) WANC_FAIL(WANC_EINVAL, "--num_epochs %d: must be at least 1", o->num_epochs);
    if (o->gradient_accumulation_steps < 1)
        WANC_FAIL(WANC_EINVAL, "--gradient_accumulation_steps %d: must be at least 1", o->gradient_accumulation_steps);
    if (o->save_steps < 0) WANC_FAIL(WANC_EINVAL, "--save_steps %d: must be positive", o->save_steps);
    if (!(o->min_timestep_boundary >= 0 && o->max_timestep_boundary <= 1 &&
          o->min_timestep_boundary < o->max_timestep_boundary))
        WANC_FAIL(WANC_EINVAL, "--min_timestep_boundary %g --max_timestep_boundary %g: need 0 <= min < max <= 1",
                  o->min_timestep_boundary, o->max_timestep_boundary);
    return NULL;
}

/* ---- sft:data_process ----------------------------------------------------------------- */

typedef struct {
    wanc_tokenizer *tok;
    wanc_umt5 *t5;
    wanc_vae *vae; /* the Wan2.1 or the Wan2.2 VAE */
    wanc_weights *clip_w;
    wanc_clip *clip;
    bool bf16;
    /* --extra_inputs, and which image units the DiT takes them through */
    bool input_image, end_image;
    bool unit_y, unit_clip, unit_fused, has_image_pos_emb;
} data_models;

static void data_models_free(data_models *m)
{
    wanc_tokenizer_free(m->tok);
    wanc_umt5_free(m->t5);
    wanc_vae_free(m->vae);
    wanc_clip_free(m->clip);
    wanc_weights_close(m->clip_w);
    memset(m, 0, sizeof *m); /* a failed load frees; its caller's free after is then a no-op */
}

/* The image units the DiT's shapes call for (as the pipeline picks them), and the CLIP model when one is. */
static wanc_err image_units(data_models *m, const wanc_model_paths *mp, int dit_heads)
{
    if (!mp->dit[0])
        WANC_FAIL(WANC_EINVAL, "--extra_inputs: which image conditioning the DiT takes is read from the DiT: give it "
                  "with the models (--model_paths or --model_dir) for data processing too");
    wanc_weights *w;
    TRYC(wanc_weights_open(&w, mp->dit), "DiT");
    wanc_dit_config dc;
    wanc_err err = wanc_dit_infer_config(&dc, w, dit_heads);
    wanc_weights_close(w);
    TRYC(err, "DiT %s", mp->dit);
    const int z = wanc_vae_z_dim(m->vae);
    if (dc.out_dim != z)
        WANC_FAIL(WANC_ESHAPE, "DiT %s predicts %d latent channels but the VAE is the %s with %d", mp->dit,
                  dc.out_dim, wanc_vae_family(m->vae), z);
    if (dc.vace_num_blocks || dc.has_control_adapter || dc.has_ref_conv)
        WANC_FAIL(WANC_EUNSUPPORTED, "--extra_inputs: DiT %s is a VACE / Fun control model; wanc trains image "
                  "conditioning for I2V, FLF2V and TI2V-5B DiTs", mp->dit);
    m->has_image_pos_emb = dc.has_image_pos_emb;
    if (wanc_vae_scale(m->vae) != 8 && dc.in_dim == z) {
        m->unit_fused = true; /* TI2V-5B: ImageEmbedderFused */
        if (m->end_image)
            WANC_FAIL(WANC_EUNSUPPORTED, "--extra_inputs end_image: a TI2V-5B DiT (%s) takes only the first frame",
                      mp->dit);
    } else if (dc.in_dim == 2 * z + 4 && wanc_vae_scale(m->vae) == 8) {
        m->unit_y = true;                   /* ImageEmbedderVAE */
        m->unit_clip = dc.has_image_input;  /* ImageEmbedderCLIP */
    } else {
        WANC_FAIL(WANC_EUNSUPPORTED, "--extra_inputs input_image: DiT %s (in_dim %d, %s) takes no image conditioning "
                  "wanc trains (I2V / FLF2V: in_dim %d with the Wan2.1 VAE; TI2V-5B: in_dim 48 with the Wan2.2 VAE)",
                  mp->dit, dc.in_dim, wanc_vae_family(m->vae), 2 * z + 4);
    }
    if (!m->unit_clip) return NULL;
    if (!mp->clip[0])
        WANC_FAIL(WANC_EINVAL, "DiT %s takes CLIP image tokens (img_emb): give the CLIP image encoder "
                  WANC_CLIP_RELEASE_NAME ".pth with the models", mp->dit);
    TRYC(wanc_weights_open(&m->clip_w, mp->clip), "CLIP image encoder");
    TRY(wanc_clip_adapt_names(m->clip_w));
    TRYC(wanc_clip_load(&m->clip, m->clip_w, 0), "CLIP image encoder %s", mp->clip);
    wanc_clip_set_bf16(m->clip, m->bf16);
    const wanc_clip_config *cc = wanc_clip_get_config(m->clip);
    if (cc->width != dc.clip_dim || cc->tokens != WANC_DIT_CLIP_TOKENS)
        WANC_FAIL(WANC_ESHAPE, "CLIP image encoder %s gives %d tokens of width %d but DiT %s takes %d of width %d",
                  mp->clip, cc->tokens, cc->width, mp->dit, WANC_DIT_CLIP_TOKENS, dc.clip_dim);
    return NULL;
}

static wanc_err data_models_load(data_models *m, const wanc_model_paths *mp, const wanc_train_options *o)
{
    memset(m, 0, sizeof *m);
    m->bf16 = o->precision == WANC_PRECISION_BF16;
    TRY(parse_extra_inputs(o, &m->input_image, &m->end_image));
    const char *missing = !mp->t5[0] ? "the text encoder (models_t5_umt5-xxl-enc-bf16.pth)"
                        : !mp->vae[0] ? "the VAE (Wan2.1_VAE.pth or Wan2.2_VAE.pth)"
                        : !mp->tokenizer[0] ? "the tokenizer (--tokenizer_path)" : NULL;
    if (missing) WANC_FAIL(WANC_EINVAL, "data processing needs %s", missing);
    const wanc_backend *be = wanc_backend_cpu();
    wanc_err err = wanc_error_context(wanc_tokenizer_load(&m->tok, mp->tokenizer), "tokenizer");
    if (!err) err = wanc_error_context(wanc_umt5_open(&m->t5, mp->t5, be), "text encoder");
    if (!err) err = wanc_error_context(wanc_vae_open(&m->vae, mp->vae, be), "VAE");
    if (!err && m->input_image) err = image_units(m, mp, o->dit_heads);
    if (err) data_models_free(m);
    return err;
}

/* The image units on the clip's first (and last) frame, already at the training size. */
static wanc_err encode_image_inputs(data_models *m, const wanc_dataset_item *it, const wanc_vae_opts *vo,
                                    wanc_train_sample *s)
{
    const int64_t frame = it->H * it->W * 3, lat = s->F * s->h * s->w;
    wanc_gen_params prm = {.height = (int)it->H, .width = (int)it->W, .num_frames = (int)it->T,
                           .input_image = it->frames, .input_image_height = (int)it->H,
                           .input_image_width = (int)it->W};
    if (m->end_image) {
        if (it->T < 2)
            WANC_FAIL(WANC_EINVAL, "--extra_inputs end_image: %s has one frame; the end image is its last", it->file);
        prm.end_image = it->frames + (it->T - 1) * frame;
        prm.end_image_height = (int)it->H, prm.end_image_width = (int)it->W;
    }
    if (m->unit_y) {
        s->y_c = 4 + s->z;
        if (!(s->y = malloc(sizeof(float) * (size_t)(s->y_c * lat)))) WANC_FAIL(WANC_ENOMEM, "y");
        TRY(wanc_unit_image_vae(m->vae, m->bf16, &prm, vo, s->y, NULL));
    }
    if (m->unit_clip) {
        s->clip_len = wanc_unit_clip_tokens(m->clip, &prm, m->has_image_pos_emb);
        s->clip_dim = wanc_clip_get_config(m->clip)->width;
        if (!(s->clip = malloc(sizeof(float) * (size_t)(s->clip_len * s->clip_dim)))) WANC_FAIL(WANC_ENOMEM, "clip");
        TRY(wanc_unit_image_clip(m->clip, wanc_backend_cpu(), m->bf16, m->has_image_pos_emb, &prm, s->clip));
    }
    if (m->unit_fused) { /* first_frame_latents (the unit also writes it into a latent frame: scratch) */
        const int64_t n = s->z * s->h * s->w;
        float *scratch = malloc(sizeof(float) * (size_t)n);
        if (!scratch || !(s->first = malloc(sizeof(float) * (size_t)n))) {
            free(scratch);
            WANC_FAIL(WANC_ENOMEM, "first frame latents");
        }
        wanc_err err = wanc_unit_image_fused(m->vae, m->bf16, &prm, vo, scratch, 1, s->first);
        free(scratch);
        TRY(err);
        if (m->bf16) wanc_round_bf16_inplace(s->first, (size_t)n); /* z in the pipeline dtype */
    }
    return NULL;
}

/* The pipeline's units on one item: PromptEmbedder, InputVideoEmbedder and, with --extra_inputs, the image units. */
static wanc_err encode_item(data_models *m, const wanc_dataset_item *it, wanc_train_sample *s)
{
    memset(s, 0, sizeof *s);
    const int64_t T = it->T, H = it->H, W = it->W, plane = H * W, sc = wanc_vae_scale(m->vae);
    if (H % sc || W % sc)
        WANC_FAIL(WANC_ESHAPE, "%s: %lldx%lld is not a multiple of the %s's %lld pixels (use --height/--width or a "
                  "--max_pixels that gives multiples of %lld)", it->file, (long long)W, (long long)H,
                  wanc_vae_family(m->vae), (long long)sc, (long long)sc);
    s->z = wanc_vae_z_dim(m->vae);
    s->F = (T - 1) / 4 + 1, s->h = H / sc, s->w = W / sc;
    s->ctx_len = WANC_WAN_TEXT_LEN, s->ctx_dim = wanc_umt5_get_config(m->t5)->dim;
    s->x0 = malloc(sizeof(float) * (size_t)(s->z * s->F * s->h * s->w));
    s->context = malloc(sizeof(float) * (size_t)(s->ctx_len * s->ctx_dim));
    float *video = malloc(sizeof(float) * 3 * (size_t)(T * plane));
    wanc_err err = NULL;
    if (!s->x0 || !s->context || !video) {
        err = wanc_error(WANC_ENOMEM, "%lld frames of %lldx%lld", (long long)T, (long long)W, (long long)H);
        goto done;
    }
    int64_t ids[WANC_WAN_TEXT_LEN], mask[WANC_WAN_TEXT_LEN];
    uint8_t mask8[WANC_WAN_TEXT_LEN];
    TRY_GOTO(err, done, wanc_wan_prompt_ids(m->tok, it->prompt, ids, mask8, NULL));
    for (int i = 0; i < WANC_WAN_TEXT_LEN; i++) mask[i] = mask8[i];
    wanc_umt5_opts to = {.bf16 = m->bf16};
    TRY_GOTO(err, done, wanc_error_context(wanc_umt5_encode(m->t5, s->context, ids, mask, WANC_WAN_TEXT_LEN, &to),
                                           "prompt"));
    /* preprocess_video in the pipeline dtype: [T, H, W, 3] → [3, T, H, W] */
    for (int64_t t = 0; t < T; t++)
        for (int64_t i = 0; i < plane; i++)
            for (int c = 0; c < 3; c++)
                video[((int64_t)c * T + t) * plane + i] = wanc_pixel_to_float(it->frames[(t * plane + i) * 3 + c],
                                                                               m->bf16);
    wanc_vae_opts vo;
    wanc_vae_opts_default(&vo);
    vo.tiled = false; /* get_pipeline_inputs: tiled=False */
    vo.bf16 = m->bf16;
    TRY_GOTO(err, done, wanc_error_context(wanc_vae_encode(m->vae, s->x0, video, T, H, W, &vo), "VAE encode"));
    if (m->bf16) wanc_round_bf16_inplace(s->x0, (size_t)(s->z * s->F * s->h * s->w));
    if (m->input_image) TRY_GOTO(err, done, wanc_error_context(encode_image_inputs(m, it, &vo, s), "extra inputs"));
done:
    free(video);
    if (err) wanc_train_sample_free(s);
    return err;
}

static int report(wanc_train_progress_fn progress, void *user, const char *stage, long long step, long long total,
                  double sec)
{
    if (!progress) return 0;
    wanc_train_status st = {.stage = stage, .step = step, .total = total, .seconds_per_step = sec};
    return progress(user, &st);
}

/* rm -r of a folder wanc made (files and one level of subfolders). */
static void remove_tree(const char *dir)
{
    char **paths = NULL;
    int n = 0;
    wanc_err err = wanc_train_cache_list(dir, &paths, &n);
    wanc_error_free(err);
    for (int i = 0; i < n; i++) unlink(paths[i]);
    wanc_train_cache_list_free(paths, n);
    rmdir(dir);
}

static wanc_err make_dirs(const char *path)
{
    char buf[PATH_MAX];
    snprintf(buf, sizeof buf, "%s", path);
    for (char *p = buf + 1; *p; p++)
        if (*p == '/') {
            *p = 0;
            if (mkdir(buf, 0777) != 0 && errno != EEXIST)
                WANC_FAIL(WANC_EIO, "cannot create folder %s: %s", buf, strerror(errno));
            *p = '/';
        }
    if (mkdir(buf, 0777) != 0 && errno != EEXIST) WANC_FAIL(WANC_EIO, "cannot create folder %s: %s", buf, strerror(errno));
    return NULL;
}

static wanc_err data_process(const wanc_train_options *o, const wanc_model_paths *mp, wanc_dataset *ds,
                             wanc_train_progress_fn progress, void *user)
{
    data_models m;
    TRY(data_models_load(&m, mp, o));
    char tmp[PATH_MAX] = "", final[PATH_MAX], old[PATH_MAX], file[PATH_MAX + 32];
    /* written into a hidden folder (".0.part-<pid>": the cache reader skips
     * dot names) and renamed whole: no partial cache on an error; one a
     * SIGKILL left is removed here, by the next run into the same folder */
    snprintf(final, sizeof final, "%s/0", o->output_path);
    snprintf(old, sizeof old, "%s/.0.old-%ld", o->output_path, (long)getpid());
    struct stat st;
    bool had_output = stat(o->output_path, &st) == 0;
    wanc_err err = make_dirs(o->output_path);
    snprintf(file, sizeof file, "%s/.0", o->output_path);
    if (!err && !wanc_atomic_temp_name(tmp, sizeof tmp, file))
        err = wanc_error(WANC_EINVAL, "%s: path too long", o->output_path);
    if (!err) err = make_dirs(tmp);
    const int64_t len = wanc_dataset_len(ds);
    const int rows = wanc_dataset_rows(ds);
    wanc_train_sample s = {0};
    wanc_dataset_item it = {0};
    for (int64_t i = 0; i < len && !err; i++) {
        double t0 = wanc_now_seconds();
        snprintf(file, sizeof file, "%s/%lld.safetensors", tmp, (long long)i);
        char first[PATH_MAX + 32];
        snprintf(first, sizeof first, "%s/%lld.safetensors", tmp, (long long)(i % rows));
        /* a repeat of a row encodes to the same inputs: a hard link to the first */
        if (i < rows || link(first, file) != 0) {
            TRY_GOTO(err, done, wanc_dataset_get(ds, i, &it));
            err = encode_item(&m, &it, &s);
            if (!err)
                err = wanc_train_cache_write(file, &s, m.bf16, it.prompt, it.file, it.row, it.H, it.W, it.T);
            if (err) {
                err = wanc_error_context(err, "%s row %d (%s)", o->dataset_metadata_path, it.row, it.file);
                goto done;
            }
            wanc_dataset_item_free(&it);
            wanc_train_sample_free(&s);
        }
        if (report(progress, user, "data", i + 1, len, wanc_now_seconds() - t0)) {
            err = wanc_error(WANC_ECANCELLED, "data processing stopped after %lld of %lld items; nothing written",
                             (long long)(i + 1), (long long)len);
            goto done;
        }
    }
    /* into place: an earlier cache is replaced whole */
    bool had_old = stat(final, &st) == 0;
    if (!err && had_old && rename(final, old) != 0)
        err = wanc_error(WANC_EIO, "cannot move the earlier cache %s aside: %s", final, strerror(errno));
    if (!err && rename(tmp, final) != 0) {
        err = wanc_error(WANC_EIO, "cannot rename %s to %s: %s", tmp, final, strerror(errno));
        if (had_old) rename(old, final);
    }
    if (!err && had_old) remove_tree(old);
done:
    if (err) {
        remove_tree(tmp);
        if (!had_output) rmdir(o->output_path); /* only when this run made it (and it is empty) */
    }
    wanc_dataset_item_free(&it);
    wanc_train_sample_free(&s);
    data_models_free(&m);
    return err;
}

/* ---- the entry point ---------------------------------------------------------------------- */

/* sft:train: item i is cache file i mod files (UnifiedDataset's cached mode) */
typedef struct {
    char **paths;
    int n;
} cache_source;

static wanc_err get_cached(void *user, int64_t index, wanc_train_sample *s)
{
    const cache_source *c = user;
    return wanc_train_cache_read(c->paths[index % c->n], s);
}

/* sft: item i loaded and encoded as data_process would (a one-item cache: a
 * dataset of one row, or repeats in a row, encode once) */
typedef struct {
    const wanc_train_options *o;
    wanc_dataset *ds;
    data_models m;
    int64_t held_row;
    wanc_train_sample held;
} live_source;

static float *dup_floats(const float *src, int64_t n)
{
    float *p = src ? malloc(sizeof(float) * (size_t)(n > 0 ? n : 1)) : NULL;
    if (p) memcpy(p, src, sizeof(float) * (size_t)n);
    return p;
}

static wanc_err copy_sample(wanc_train_sample *dst, const wanc_train_sample *src)
{
    *dst = *src;
    const int64_t lat = src->F * src->h * src->w;
    dst->x0 = dup_floats(src->x0, src->z * lat);
    dst->context = dup_floats(src->context, src->ctx_len * src->ctx_dim);
    dst->y = dup_floats(src->y, src->y_c * lat);
    dst->clip = dup_floats(src->clip, src->clip_len * src->clip_dim);
    dst->first = dup_floats(src->first, src->z * src->h * src->w);
    if (!dst->x0 || !dst->context || (src->y && !dst->y) || (src->clip && !dst->clip) || (src->first && !dst->first)) {
        wanc_train_sample_free(dst);
        WANC_FAIL(WANC_ENOMEM, "training sample");
    }
    return NULL;
}

static wanc_err get_live(void *user, int64_t index, wanc_train_sample *s)
{
    live_source *L = user;
    int64_t row = index % wanc_dataset_rows(L->ds);
    if (row != L->held_row) {
        wanc_train_sample_free(&L->held);
        L->held_row = -1;
        wanc_dataset_item it;
        TRY(wanc_dataset_get(L->ds, index, &it));
        wanc_err err = encode_item(&L->m, &it, &L->held);
        if (err) err = wanc_error_context(err, "%s row %d (%s)", L->o->dataset_metadata_path, it.row, it.file);
        wanc_dataset_item_free(&it);
        TRY(err);
        L->held_row = row;
    }
    return copy_sample(s, &L->held);
}

wanc_err wanc_train(const wanc_train_options *o, wanc_train_progress_fn progress, void *user)
{
    bool do_data, do_train;
    TRY(check_options(o, &do_data, &do_train));
    if (o->threads > 0) wanc_threads_set(o->threads);
    wanc_model_paths mp;
    TRY(resolve_models(&mp, o));
    if (do_train && !mp.dit[0]) WANC_FAIL(WANC_EINVAL, "training needs the DiT: give it in --model_paths or --model_dir");
    wanc_train_loop_args la = {.o = o, .dit_path = mp.dit, .progress = progress, .progress_user = user};
    if (!do_data) { /* sft:train from the cache data_process wrote */
        cache_source c;
        TRY(wanc_train_cache_list(o->dataset_base_path ? o->dataset_base_path : ".", &c.paths, &c.n));
        la.len = (int64_t)c.n * (o->dataset_repeat > 0 ? o->dataset_repeat : 1);
        la.get = get_cached, la.get_user = &c;
        wanc_err err = make_dirs(o->output_path);
        if (!err) err = wanc_train_loop(&la);
        wanc_train_cache_list_free(c.paths, c.n);
        return err;
    }
    wanc_dataset_options dopt = {
        .base_path = o->dataset_base_path, .metadata_path = o->dataset_metadata_path,
        .data_file_keys = o->data_file_keys, .repeat = o->dataset_repeat, .height = o->height, .width = o->width,
        .max_pixels = o->max_pixels, .num_frames = o->num_frames,
    };
    wanc_dataset *ds;
    TRY(wanc_dataset_open(&ds, &dopt));
    wanc_err err = NULL;
    if (!do_train) err = data_process(o, &mp, ds, progress, user);
    else {
        live_source src = {.o = o, .ds = ds, .held_row = -1};
        err = data_models_load(&src.m, &mp, o);
        la.len = wanc_dataset_len(ds), la.get = get_live, la.get_user = &src;
        if (!err) err = make_dirs(o->output_path);
        if (!err) err = wanc_train_loop(&la);
        wanc_train_sample_free(&src.held);
        data_models_free(&src.m);
    }
    wanc_dataset_free(ds);
    return err;
}
