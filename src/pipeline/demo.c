/* The built-in demo: a tiny Wan model made deterministically in code.
 *
 * `wanc demo` writes a tokenizer (tokenizer.json), a UMT5 encoder, a DiT
 * and a VAE with random weights through the same writers and in the same
 * file formats as the released models, then runs the whole pipeline on
 * them. The weights are untrained: the video shows what the pipeline does
 * with noise, not a picture of the prompt. wanc_demo_write_i2v_models writes
 * the image-to-video set (an I2V or FLF2V DiT and a CLIP tower) the same way.
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
#include "pipeline/model_files.h"
#include "pipeline/pipeline_internal.h"
#include "text/umt5.h"
#include "vae/wan_vae.h"
#include "vision/clip.h"

#define DEMO_SEED 20250225u
#define DEMO_TEXT_DIM 32
#define DEMO_DIT_HEADS 2

/* A unigram vocabulary: the three specials, the 256 byte-fallback pieces,
 * "▁" and the printable ASCII characters (alone and after "▁"). */
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
    cJSON *pre = cJSON_AddObjectToObject(root, "pre_tokenizer");
    cJSON_AddStringToObject(pre, "type", "Metaspace");
    cJSON_AddStringToObject(pre, "replacement", "\xE2\x96\x81");
    cJSON_AddBoolToObject(pre, "add_prefix_space", 1);
    char *text = cJSON_PrintUnformatted(root);
    cJSON_Delete(root);
    if (!text) WANC_FAIL(WANC_ENOMEM, "demo tokenizer");
    FILE *f = fopen(path, "wb");
    size_t len = strlen(text);
    bool ok = f && fwrite(text, 1, len, f) == len;
    if (f && fclose(f) != 0) ok = false;
    free(text);
    if (!ok) WANC_FAIL(WANC_EIO, "%s: cannot write the demo tokenizer: %s", path, strerror(errno));
    return NULL;
}

wanc_err wanc_make_dir(const char *dir)
{
    if (mkdir(dir, 0755) != 0 && errno != EEXIST)
        WANC_FAIL(WANC_EIO, "%s: cannot create the folder: %s", dir, strerror(errno));
    return NULL;
}

/* The demo model set; image != 0 makes the DiT an image-to-video one
 * (1: I2V, 2: FLF2V) and adds a CLIP tower. */
static wanc_err write_models(const char *dir, int image, wanc_pipeline_files *files, int *dit_heads)
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
    wanc_dit_config dc = {.dim = 64, .in_dim = image ? 36 : 16, .out_dim = 16, .ffn_dim = 128,
                          .text_dim = DEMO_TEXT_DIM, .freq_dim = 256, .num_heads = DEMO_DIT_HEADS, .num_layers = 2,
                          .patch = {1, 2, 2}, .eps = 1e-6f, .has_image_input = image != 0,
                          .has_image_pos_emb = image == 2};
    TRY(wanc_dit_random_write(dit, &dc, WANC_BF16, DEMO_SEED + 1));
    TRY(wanc_vae21_write_random(vae, 8, WANC_F32, DEMO_SEED + 2));
    /* The DiT's img_emb fixes the CLIP width (1280) and token count (257 =
     * 1 + (224/14)²); one stored block, and the tower runs all but the last,
     * so none run: patch embedding, positions and pre-norm keep it small. */
    if (image) TRY(wanc_clip_write_random(clip, WANC_DIT_CLIP_DIM, 1, 14, 224, WANC_BF16, DEMO_SEED + 3));
    *files = (wanc_pipeline_files){.dit = dit, .t5 = t5, .vae = vae, .tokenizer = tok_dir, .clip = image ? clip : NULL};
    *dit_heads = DEMO_DIT_HEADS;
    return NULL;
}

wanc_err wanc_demo_write_models(const char *dir, wanc_pipeline_files *files, int *dit_heads)
{
    return write_models(dir, 0, files, dit_heads);
}

wanc_err wanc_demo_write_i2v_models(const char *dir, bool flf2v, wanc_pipeline_files *files, int *dit_heads)
{
    return write_models(dir, flf2v ? 2 : 1, files, dit_heads);
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
