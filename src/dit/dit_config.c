/* Stated DiT configs (wanc_dit_options.config_json, `--dit-config FILE.json`).
 *
 * A checkpoint carries most of the config in its tensor shapes, but not the
 * attention head count nor VACE's `vace_layers` when they do not follow a
 * released pattern. The caller may state them with DiffSynth's config field
 * names, either flat ({"num_heads": 12, "vace_layers": [0, 2, ...]}) or as
 * DiffSynth's per-model kwargs ({"dit": {...WanModel...}, "vace":
 * {...VaceWanModel...}}, the fixtures' `configs`). Fields the weights do
 * determine (dim, in_dim, num_layers, ...) are checked against them: a
 * config that disagrees with its checkpoint is a named error, not silently
 * ignored. Other fields (DiffSynth's flags for the pipeline) are ignored.
 */
#include <cjson/cJSON.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "dit/dit_internal.h"

/* The WanModel and VaceWanModel sections of a stated config. */
static void sections(const cJSON *root, const cJSON **dit, const cJSON **vace)
{
    const cJSON *d = cJSON_GetObjectItemCaseSensitive(root, "dit");
    if (cJSON_IsObject(d)) {
        *dit = d;
        *vace = cJSON_GetObjectItemCaseSensitive(root, "vace");
        if (!cJSON_IsObject(*vace)) *vace = NULL;
    } else {
        *dit = *vace = root;
    }
}

static wanc_err positive_int(const cJSON *o, const char *key, int *out, int max)
{
    const cJSON *v = o ? cJSON_GetObjectItemCaseSensitive(o, key) : NULL;
    if (!v || cJSON_IsNull(v)) return NULL;
    if (!cJSON_IsNumber(v) || v->valuedouble != floor(v->valuedouble) || v->valuedouble < 1 || v->valuedouble > max)
        WANC_FAIL(WANC_EINVAL, "DiT config: %s must be an integer in 1..%d", key, max);
    *out = (int)v->valuedouble;
    return NULL;
}

wanc_err dit_config_parse(dit_stated *s, const char *json)
{
    memset(s, 0, sizeof *s);
    if (!json || !json[0]) return NULL;
    cJSON *root = cJSON_Parse(json);
    if (!cJSON_IsObject(root)) {
        cJSON_Delete(root);
        WANC_FAIL(WANC_EFORMAT, "DiT config: not a JSON object (DiffSynth's config fields, e.g. {\"num_heads\": 12})");
    }
    const cJSON *dit, *vace;
    sections(root, &dit, &vace);
    wanc_err err = positive_int(dit, "num_heads", &s->num_heads, 1 << 16);
    int vace_heads = 0;
    if (!err && vace != dit) err = positive_int(vace, "num_heads", &vace_heads, 1 << 16);
    if (!err && vace_heads && s->num_heads && vace_heads != s->num_heads)
        err = wanc_error(WANC_EINVAL, "DiT config: vace.num_heads %d differs from dit.num_heads %d (VACE blocks "
                         "are DiT blocks of the same width)", vace_heads, s->num_heads);
    if (!err && !s->num_heads) s->num_heads = vace_heads;
    const cJSON *layers = vace ? cJSON_GetObjectItemCaseSensitive(vace, "vace_layers") : NULL;
    if (!err && layers && !cJSON_IsNull(layers)) {
        int n = cJSON_GetArraySize(layers);
        if (!cJSON_IsArray(layers) || n < 1 || n > WANC_DIT_MAX_VACE)
            err = wanc_error(WANC_EINVAL, "DiT config: vace_layers must be a list of 1..%d layer indices",
                             WANC_DIT_MAX_VACE);
        for (int j = 0; !err && j < n; j++) {
            const cJSON *v = cJSON_GetArrayItem(layers, j);
            if (!cJSON_IsNumber(v) || v->valuedouble != floor(v->valuedouble) || v->valuedouble < 0 ||
                v->valuedouble > 1 << 16)
                err = wanc_error(WANC_EINVAL, "DiT config: vace_layers[%d] is not a layer index", j);
            else s->vace_layers[j] = (int)v->valuedouble;
        }
        if (!err) s->n_vace_layers = n;
    }
    cJSON_Delete(root);
    return err;
}

/* A stated field that the weights determine must agree with them. */
static wanc_err agree_num(const cJSON *o, const char *key, double have)
{
    const cJSON *v = o ? cJSON_GetObjectItemCaseSensitive(o, key) : NULL;
    if (!v || cJSON_IsNull(v)) return NULL;
    if (!cJSON_IsNumber(v) || fabs(v->valuedouble - have) > 1e-6 * fabs(have)) /* eps is a float */
        WANC_FAIL(WANC_EINVAL, "DiT config: %s = %g, but the checkpoint's tensors give %g", key,
                  cJSON_IsNumber(v) ? v->valuedouble : NAN, have);
    return NULL;
}

static wanc_err agree_bool(const cJSON *o, const char *key, bool have)
{
    const cJSON *v = o ? cJSON_GetObjectItemCaseSensitive(o, key) : NULL;
    if (!v || cJSON_IsNull(v)) return NULL;
    if (!cJSON_IsBool(v) || cJSON_IsTrue(v) != have)
        WANC_FAIL(WANC_EINVAL, "DiT config: %s is %s, but the checkpoint %s", key, cJSON_IsTrue(v) ? "true" : "false",
                  have ? "has the module's tensors" : "has no tensors for it");
    return NULL;
}

wanc_err dit_config_check(const wanc_dit_config *c, const char *json)
{
    if (!json || !json[0]) return NULL;
    cJSON *root = cJSON_Parse(json);
    const cJSON *dit, *vace;
    sections(root, &dit, &vace);
    wanc_err err = NULL;
    struct { const char *key; double have; } nums[] = {
        {"dim", c->dim}, {"in_dim", c->in_dim}, {"out_dim", c->out_dim}, {"ffn_dim", c->ffn_dim},
        {"text_dim", c->text_dim}, {"freq_dim", c->freq_dim}, {"num_layers", c->num_layers}, {"eps", c->eps},
    };
    for (size_t i = 0; !err && i < sizeof nums / sizeof nums[0]; i++) err = agree_num(dit, nums[i].key, nums[i].have);
    if (!err) err = agree_bool(dit, "has_image_input", c->has_image_input);
    if (!err) err = agree_bool(dit, "has_image_pos_emb", c->has_image_pos_emb);
    if (!err) err = agree_bool(dit, "has_ref_conv", c->has_ref_conv);
    if (!err) err = agree_bool(dit, "add_control_adapter", c->has_control_adapter);
    const cJSON *patch = cJSON_GetObjectItemCaseSensitive(dit, "patch_size");
    for (int i = 0; !err && cJSON_IsArray(patch) && i < 3; i++) {
        const cJSON *v = cJSON_GetArrayItem(patch, i);
        if (!cJSON_IsNumber(v) || v->valueint != c->patch[i])
            err = wanc_error(WANC_EINVAL, "DiT config: patch_size[%d] differs from the checkpoint's %d", i,
                             c->patch[i]);
    }
    if (!err && vace && c->vace_num_blocks) err = agree_num(vace, "vace_in_dim", c->vace_in_dim);
    const cJSON *layers = vace ? cJSON_GetObjectItemCaseSensitive(vace, "vace_layers") : NULL;
    if (!err && layers && !cJSON_IsNull(layers) && !c->vace_num_blocks)
        err = wanc_error(WANC_EINVAL, "DiT config: a vace section, but the checkpoint has no vace_* tensors");
    cJSON_Delete(root);
    return err;
}
