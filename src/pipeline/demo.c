/* The built-in demo: a tiny Wan2.1 model in the released file formats.
 *
 * The tokenizer (tokenizer.json), UMT5 encoder and VAE are made here,
 * deterministically: the tokenizer knows the demo dataset's words as whole
 * pieces, the UMT5 is random and frozen, the VAE is constructed by a rule
 * (src/vae/vae_constructed.c). The text-to-video DiT is either the one trained
 * by `wanc train` on `wanc make-dataset` clips (models/demo/, copied in by
 * wanc_demo_write_trained) or its random starting point
 * (wanc_demo_write_models). wanc_demo_write_i2v_models writes an untrained
 * image-to-video set (an I2V or FLF2V DiT and a CLIP tower) the same way.
 */
#include <cjson/cJSON.h>
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "wanc.h"
#include "dit/dit_random.h"
#include "dit/wan_dit.h"
#include "io/atomic_file.h"
#include "io/image_io.h"
#include "io/weights.h"
#include "pipeline/model_files.h"
#include "pipeline/pipeline_internal.h"
#include "text/umt5.h"
#include "vae/wan_vae.h"
#include "vision/clip.h"

#define DEMO_SEED 20250225u
#define DEMO_TEXT_DIM 32
/* head dim 48: at the same data, seed and learning rate 4 heads learned the
 * demo's colours and shapes about twice as fast as 2 (models/demo/README.md, runs G-H) */
#define DEMO_DIT_HEADS 4

/* The demo dataset's words (src/train/toy_scenes.c captions), each one piece ("a" is one already). */
static const char *const demo_words[] = {
    "on", "to", "the", "red", "green", "blue", "yellow", "white", "circle", "disc", "square", "box", "triangle",
    "moving", "left", "right", "up", "down", "sliding", "rising", "upward", "falling", "downward", "growing",
    "getting", "bigger", "smaller", "shrinking", "still", "standing", "black", "dark", "gray", "grey", "plain",
    "sky-blue", "sky", "gradient", "background", "background,", "still,", "left,", "right,", "up,", "down,",
    "upward,", "downward,", "growing,", "bigger,", "smaller,", "shrinking,", "gradient,"};

/* A unigram vocabulary: the three specials, the 256 byte-fallback pieces,
 * "▁" and the printable ASCII characters (alone and after "▁"), then the demo
 * dataset's words after "▁", scored so a word is one piece. */
wanc_err wanc_demo_write_tokenizer(const char *path)
{
    cJSON *root = cJSON_CreateObject();
    cJSON *added = cJSON_AddArrayToObject(root, "added_tokens");
    cJSON *model = cJSON_AddObjectToObject(root, "model");
    cJSON *vocab = cJSON_CreateArray();
    cJSON_AddStringToObject(model, "type", "Unigram");
    cJSON_AddNumberToObject(model, "unk_id", 2);
    cJSON_AddBoolToObject(model, "byte_fallback", 1);
    cJSON_AddItemToObject(model, "vocab", vocab);
    int id = 0;
    static const char *const specials[] = {"<pad>", "</s>", "<unk>"};
    for (int i = 0; i < 3; i++, id++) {
        cJSON *e = cJSON_CreateArray();
        cJSON_AddItemToArray(e, cJSON_CreateString(specials[i]));
        cJSON_AddItemToArray(e, cJSON_CreateNumber(0));
        cJSON_AddItemToArray(vocab, e);
        cJSON *a = cJSON_CreateObject();
        cJSON_AddNumberToObject(a, "id", id);
        cJSON_AddStringToObject(a, "content", specials[i]);
        cJSON_AddBoolToObject(a, "special", 1);
        cJSON_AddItemToArray(added, a);
    }
    char piece[16];
    for (int b = 0; b < 256; b++) {
        snprintf(piece, sizeof piece, "<0x%02X>", b);
        cJSON *e = cJSON_CreateArray();
        cJSON_AddItemToArray(e, cJSON_CreateString(piece));
        cJSON_AddItemToArray(e, cJSON_CreateNumber(0));
        cJSON_AddItemToArray(vocab, e);
    }
    for (int prefixed = 0; prefixed < 2; prefixed++)
        for (int c = prefixed ? 32 : 33; c < 127; c++) {
            if (prefixed) snprintf(piece, sizeof piece, "\xE2\x96\x81%c", c == 32 ? 0 : c);
            else snprintf(piece, sizeof piece, "%c", c);
            cJSON *e = cJSON_CreateArray();
            cJSON_AddItemToArray(e, cJSON_CreateString(piece));
            cJSON_AddItemToArray(e, cJSON_CreateNumber(prefixed ? -2.0 - c / 100.0 : -3.0 - c / 100.0));
            cJSON_AddItemToArray(vocab, e);
        }
    for (size_t w = 0; w < sizeof demo_words / sizeof demo_words[0]; w++) {
        char word[48];
        snprintf(word, sizeof word, "\xE2\x96\x81%s", demo_words[w]);
        cJSON *e = cJSON_CreateArray();
        cJSON_AddItemToArray(e, cJSON_CreateString(word));
        cJSON_AddItemToArray(e, cJSON_CreateNumber(-1.0));
        cJSON_AddItemToArray(vocab, e);
    }
    cJSON *pre = cJSON_AddObjectToObject(root, "pre_tokenizer");
    cJSON_AddStringToObject(pre, "type", "Metaspace");
    cJSON_AddStringToObject(pre, "replacement", "\xE2\x96\x81");
    cJSON_AddBoolToObject(pre, "add_prefix_space", 1);
    char *text = cJSON_PrintUnformatted(root);
    cJSON_Delete(root);
    if (!text) WANC_FAIL(WANC_ENOMEM, "demo tokenizer");
    wanc_atomic_file a;
    wanc_err err = wanc_atomic_open(&a, path);
    size_t len = strlen(text);
    if (!err && fwrite(text, 1, len, a.f) != len) {
        err = wanc_error(WANC_EIO, "%s: cannot write the demo tokenizer: %s", path, strerror(errno));
        wanc_atomic_abort(&a);
    }
    if (!err) err = wanc_atomic_commit(&a);
    free(text);
    return err;
}

wanc_err wanc_make_dir(const char *dir)
{
    if (mkdir(dir, 0755) != 0 && errno != EEXIST)
        WANC_FAIL(WANC_EIO, "%s: cannot create the folder: %s", dir, strerror(errno));
    return NULL;
}

/* Copy src to dst through the atomic writer (dst absent or whole). */
static wanc_err copy_file(const char *src, const char *dst)
{
    FILE *in = fopen(src, "rb");
    if (!in) WANC_FAIL(WANC_EIO, "%s: cannot open the trained demo DiT: %s", src, strerror(errno));
    wanc_atomic_file a;
    wanc_err err = wanc_atomic_open(&a, dst);
    char buf[1 << 16];
    size_t n;
    while (!err && (n = fread(buf, 1, sizeof buf, in)) > 0)
        if (fwrite(buf, 1, n, a.f) != n) err = wanc_error(WANC_EIO, "%s: write failed: %s", dst, strerror(errno));
    if (!err && ferror(in)) err = wanc_error(WANC_EIO, "%s: read failed", src);
    fclose(in);
    if (err) {
        wanc_atomic_abort(&a);
        return err;
    }
    return wanc_atomic_commit(&a);
}

/* The demo model set. image != 0 makes the DiT an image-to-video one (1: I2V,
 * 2: FLF2V, 2 layers, bf16, random VAE of width 8) and adds a CLIP tower; else
 * the text-to-video set: the DiT copied from trained_dit, or (NULL) its random
 * f32 starting point, and the constructed VAE. */
static wanc_err write_models(const char *dir, int image, const char *trained_dit, wanc_pipeline_files *files,
                             int *dit_heads)
{
    static char tok_dir[PATH_MAX], tok[PATH_MAX], t5[PATH_MAX], dit[PATH_MAX], vae[PATH_MAX], clip[PATH_MAX];
    snprintf(tok_dir, sizeof tok_dir, "%s/google", dir);
    TRY(wanc_make_dir(dir));
    TRY(wanc_make_dir(tok_dir));
    snprintf(tok_dir, sizeof tok_dir, "%s/google/umt5-xxl", dir);
    TRY(wanc_make_dir(tok_dir));
    snprintf(tok, sizeof tok, "%s/tokenizer.json", tok_dir);
    snprintf(t5, sizeof t5, "%s/models_t5_umt5-xxl-enc-bf16.safetensors", dir);
    snprintf(dit, sizeof dit, "%s/diffusion_pytorch_model.safetensors", dir);
    snprintf(vae, sizeof vae, "%s/Wan2.1_VAE.safetensors", dir);
    snprintf(clip, sizeof clip, "%s/" WANC_CLIP_RELEASE_NAME ".safetensors", dir);

    TRY(wanc_demo_write_tokenizer(tok));
    wanc_umt5_config tc = {.vocab = 512, .dim = DEMO_TEXT_DIM, .dim_attn = DEMO_TEXT_DIM, .dim_ffn = 64,
                           .num_heads = 4, .num_layers = 2, .num_buckets = 32};
    TRY(wanc_umt5_write_random(t5, &tc, DEMO_SEED));
    /* an image DiT takes cat(latents[16], mask[4], image latents[16]) */
    wanc_dit_config dc = {.dim = 192, .in_dim = image ? 36 : 16, .out_dim = 16, .ffn_dim = 512,
                          .text_dim = DEMO_TEXT_DIM, .freq_dim = 256, .num_heads = DEMO_DIT_HEADS,
                          .num_layers = image ? 2 : WANC_DEMO_DIT_LAYERS, .patch = {1, 2, 2}, .eps = 1e-6f,
                          .has_image_input = image != 0, .has_image_pos_emb = image == 2};
    if (image) {
        TRY(wanc_dit_random_write(dit, &dc, WANC_BF16, DEMO_SEED + 1));
        TRY(wanc_vae21_write_random(vae, 8, WANC_F32, DEMO_SEED + 2));
    } else {
        if (trained_dit) TRY(copy_file(trained_dit, dit));
        else TRY(wanc_dit_random_write(dit, &dc, WANC_F32, DEMO_SEED + 1));
        TRY(wanc_vae21_write_constructed(vae, 8));
    }
    /* The DiT's img_emb fixes the CLIP width (1280) and token count (257 =
     * 1 + (224/14)²); one stored block, and the tower runs all but the last,
     * so none run: patch embedding, positions and pre-norm keep it small. */
    if (image) TRY(wanc_clip_write_random(clip, WANC_DIT_CLIP_DIM, 1, 14, 224, WANC_BF16, DEMO_SEED + 3));
    *files = (wanc_pipeline_files){.dit = dit, .t5 = t5, .vae = vae, .tokenizer = tok_dir, .clip = image ? clip : NULL};
    /* a trained DiT that states its heads (wanc train writes num_heads) runs
     * with them: training may have used another count than the start's */
    *dit_heads = DEMO_DIT_HEADS;
    if (trained_dit) {
        wanc_weights *w = NULL;
        TRY(wanc_weights_open(&w, dit));
        if (wanc_weights_metadata(w, "num_heads")) *dit_heads = 0; /* 0: the file's metadata */
        wanc_weights_close(w);
    }
    return NULL;
}

wanc_err wanc_demo_write_models(const char *dir, wanc_pipeline_files *files, int *dit_heads)
{
    return write_models(dir, 0, NULL, files, dit_heads);
}

wanc_err wanc_demo_write_trained(const char *dir, const char *trained_dit, wanc_pipeline_files *files, int *dit_heads)
{
    if (!trained_dit) WANC_FAIL(WANC_EINVAL, "demo: no trained DiT file given");
    return write_models(dir, 0, trained_dit, files, dit_heads);
}

wanc_err wanc_demo_write_i2v_models(const char *dir, bool flf2v, wanc_pipeline_files *files, int *dit_heads)
{
    return write_models(dir, flf2v ? 2 : 1, NULL, files, dit_heads);
}

void wanc_demo_gen_params(wanc_gen_params *p)
{
    wanc_gen_params_default(p);
    p->prompt = WANC_DEMO_PROMPT;
    p->seed = 42;
    p->height = p->width = WANC_DEMO_SIZE;
    p->num_frames = WANC_DEMO_FRAMES;
    p->num_inference_steps = 20;
    p->cfg_scale = 1.0f; /* trained without dropped captions: no unconditional branch to guide with */
}

void wanc_demo_pipeline_options(wanc_pipeline_options *o)
{
    wanc_pipeline_options_default(o);
    o->precision = WANC_PRECISION_FP32; /* as trained; the constructed VAE keeps colour + 8 in bf16's 1/32 steps otherwise */
    o->dit_heads = DEMO_DIT_HEADS;
}

wanc_err wanc_demo_measure_scenes(wanc_pipeline *pipe, const wanc_toy_scene *scenes, int n, int64_t seed,
                                  wanc_toy_measurement *out)
{
    for (int i = 0; i < n; i++) {
        char caption[256];
        wanc_toy_caption(caption, sizeof caption, &scenes[i], -1);
        wanc_gen_params p;
        wanc_demo_gen_params(&p);
        p.prompt = caption;
        p.seed = seed + i;
        wanc_video v = {0};
        TRY(wanc_generate(pipe, &p, &v));
        wanc_err err = wanc_toy_measure(v.frames, v.T, v.H, v.W, scenes[i].background, &out[i]);
        wanc_video_free(&v);
        if (err) return wanc_error_context(err, "measuring \"%s\"", caption);
    }
    return NULL;
}

/* A contact sheet: one row per video, `columns` frames each (evenly spaced,
 * first and last included), 2-pixel gaps, as one PNG. */
wanc_err wanc_demo_sheet(const char *path, const wanc_video *videos, int n, int columns)
{
    if (!path || !videos || n < 1 || columns < 1 || n > 64 || columns > 64)
        WANC_FAIL(WANC_EINVAL, "contact sheet: needs 1..64 videos and 1..64 columns");
    const int H = videos[0].H, W = videos[0].W, gap = 2;
    for (int i = 0; i < n; i++)
        if (videos[i].H != H || videos[i].W != W || videos[i].T < 1 || !videos[i].frames)
            WANC_FAIL(WANC_ESHAPE, "contact sheet: video %d is %dx%d (%d frames), the first %dx%d", i, videos[i].W,
                      videos[i].H, videos[i].T, W, H);
    const int SW = columns * W + (columns + 1) * gap, SH = n * H + (n + 1) * gap;
    uint8_t *sheet = malloc((size_t)SW * SH * 3);
    if (!sheet) WANC_FAIL(WANC_ENOMEM, "contact sheet %dx%d", SW, SH);
    memset(sheet, 255, (size_t)SW * SH * 3);
    for (int r = 0; r < n; r++)
        for (int c = 0; c < columns; c++) {
            const wanc_video *v = &videos[r];
            int f = columns > 1 ? (int)((long)c * (v->T - 1) / (columns - 1)) : 0;
            for (int y = 0; y < H; y++)
                memcpy(sheet + (((size_t)(gap + r * (H + gap) + y)) * SW + gap + c * (W + gap)) * 3,
                       v->frames + (((size_t)f * H + y) * W) * 3, (size_t)W * 3);
        }
    wanc_err err = wanc_png_write(path, sheet, SH, SW);
    free(sheet);
    return err;
}

void wanc_demo_image(uint8_t *rgb, int H, int W, bool second)
{
    /* structure at every scale and no symmetry, so a flip or a shift shows */
    double cx = (second ? 0.7 : 0.3) * W, cy = 0.4 * H, r = 0.2 * (H < W ? H : W);
    for (int y = 0; y < H; y++)
        for (int x = 0; x < W; x++) {
            uint8_t *px = rgb + ((size_t)y * W + x) * 3;
            double d2 = (x - cx) * (x - cx) + (y - cy) * (y - cy);
            bool disc = d2 < r * r;
            px[0] = disc ? 250 : (uint8_t)(255 * x / (W > 1 ? W - 1 : 1));
            px[1] = disc ? 230 : (uint8_t)(255 * y / (H > 1 ? H - 1 : 1));
            px[2] = disc ? 40 : (uint8_t)(((x / 4 + y / 4) & 1) ? 200 : 60);
        }
}
