/* Reading a Hugging Face tokenizer.json (the `tokenizers` library's file) as a
 * container for the same SentencePiece unigram model.
 *
 * Read: model {type "Unigram", vocab [[piece, score], ...], unk_id,
 * byte_fallback}; added_tokens (special -> CONTROL piece, others ->
 * USER_DEFINED); normalizer: the "Precompiled" charsmap (base64), alone or
 * inside a "Sequence" (its other members, e.g. Replace(' {2,}', ' '), are
 * what remove_extra_whitespaces does anyway); pre_tokenizer "Metaspace"
 * (alone or in a Sequence): add_prefix_space / prepend_scheme decides the
 * dummy prefix. "<0xXX>" pieces are byte pieces when byte_fallback is set.
 *
 * Encoding then follows sentencepiece, the reference for ids, not the HF
 * pipeline: added tokens written literally in the text are not matched, and
 * the charsmap is applied by longest prefix, not per grapheme cluster.
 */
#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "text/tokenizer_internal.h"

static int b64_value(unsigned char c)
{
    if (c >= 'A' && c <= 'Z') return c - 'A';
    if (c >= 'a' && c <= 'z') return c - 'a' + 26;
    if (c >= '0' && c <= '9') return c - '0' + 52;
    if (c == '+') return 62;
    if (c == '/') return 63;
    return -1;
}

static wanc_err b64_decode(const char *path, const char *s, uint8_t **out, size_t *n)
{
    size_t len = strlen(s);
    uint8_t *d = malloc(len / 4 * 3 + 3);
    if (!d) WANC_FAIL(WANC_ENOMEM, "%s: out of memory for the charsmap", path);
    uint32_t acc = 0;
    int bits = 0;
    size_t k = 0;
    for (size_t i = 0; i < len; i++) {
        if (s[i] == '=') break;
        int v = b64_value((unsigned char)s[i]);
        if (v < 0) {
            free(d);
            WANC_FAIL(WANC_EFORMAT, "%s: precompiled_charsmap is not base64 (byte %zu)", path, i);
        }
        acc = acc << 6 | (uint32_t)v;
        bits += 6;
        if (bits >= 8) {
            bits -= 8;
            d[k++] = (uint8_t)(acc >> bits);
        }
    }
    *out = d;
    *n = k;
    return NULL;
}

static const cJSON *find_typed(const cJSON *node, const char *type, const char *list_key)
{
    if (!cJSON_IsObject(node)) return NULL;
    const char *t = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(node, "type"));
    if (t && strcmp(t, type) == 0) return node;
    if (t && strcmp(t, "Sequence") == 0) {
        const cJSON *it;
        cJSON_ArrayForEach(it, cJSON_GetObjectItemCaseSensitive(node, list_key))
        {
            const cJSON *f = find_typed(it, type, list_key);
            if (f) return f;
        }
    }
    return NULL;
}

static wanc_err parse_json(wanc_tokenizer *tok, const cJSON *root)
{
    const char *path = tok->source;
    const cJSON *model = cJSON_GetObjectItemCaseSensitive(root, "model");
    const char *type = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(model, "type"));
    if (!type) WANC_FAIL(WANC_EFORMAT, "%s: no model.type", path);
    if (strcmp(type, "Unigram") != 0)
        WANC_FAIL(WANC_EUNSUPPORTED, "%s: model type %s is not supported; only Unigram is", path, type);
    const cJSON *vocab = cJSON_GetObjectItemCaseSensitive(model, "vocab");
    if (!cJSON_IsArray(vocab)) WANC_FAIL(WANC_EFORMAT, "%s: model.vocab is not an array", path);
    const cJSON *unk = cJSON_GetObjectItemCaseSensitive(model, "unk_id");
    int unk_id = cJSON_IsNumber(unk) ? unk->valueint : -1;
    tok->byte_fallback = cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(model, "byte_fallback"));

    int nv = cJSON_GetArraySize(vocab);
    uint8_t *kind = calloc((size_t)nv + 1, 1); /* 0 none, 1 special, 2 other added token */
    if (!kind) WANC_FAIL(WANC_ENOMEM, "%s: out of memory", path);
    const cJSON *at;
    cJSON_ArrayForEach(at, cJSON_GetObjectItemCaseSensitive(root, "added_tokens"))
    {
        const cJSON *id = cJSON_GetObjectItemCaseSensitive(at, "id");
        if (cJSON_IsNumber(id) && id->valueint >= 0 && id->valueint < nv)
            kind[id->valueint] = cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(at, "special")) ? 1 : 2;
    }
    wanc_err err = NULL;
    int i = 0;
    const cJSON *e;
    cJSON_ArrayForEach(e, vocab)
    {
        const cJSON *s = cJSON_GetArrayItem(e, 0), *sc = cJSON_GetArrayItem(e, 1);
        if (!cJSON_IsString(s) || !cJSON_IsNumber(sc)) {
            err = wanc_error(WANC_EFORMAT, "%s: model.vocab[%d] is not [piece, score]", path, i);
            break;
        }
        const char *p = s->valuestring;
        unsigned hex;
        char tail;
        int t = TOK_NORMAL;
        if (i == unk_id) t = TOK_UNKNOWN;
        else if (kind[i] == 1) t = TOK_CONTROL;
        else if (kind[i] == 2) t = TOK_USER_DEFINED;
        else if (tok->byte_fallback && strlen(p) == 6 && sscanf(p, "<0x%2X%c", &hex, &tail) == 2 && tail == '>')
            t = TOK_BYTE;
        err = tok_add_piece(tok, p, strlen(p), (float)sc->valuedouble, t);
        if (err) break;
        i++;
    }
    free(kind);
    TRY(err);

    const cJSON *pre = find_typed(cJSON_GetObjectItemCaseSensitive(root, "normalizer"), "Precompiled", "normalizers");
    if (pre) {
        const char *b64 = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(pre, "precompiled_charsmap"));
        if (!b64) WANC_FAIL(WANC_EFORMAT, "%s: Precompiled normalizer without precompiled_charsmap", path);
        uint8_t *blob = NULL;
        size_t n = 0;
        TRY(b64_decode(path, b64, &blob, &n));
        err = tok_set_charsmap(tok, blob, n);
        free(blob);
        TRY(err);
    }
    const cJSON *meta =
        find_typed(cJSON_GetObjectItemCaseSensitive(root, "pre_tokenizer"), "Metaspace", "pretokenizers");
    tok->escape_ws = meta != NULL;
    if (meta) {
        const cJSON *aps = cJSON_GetObjectItemCaseSensitive(meta, "add_prefix_space");
        const char *scheme = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(meta, "prepend_scheme"));
        if (scheme) tok->add_dummy_prefix = strcmp(scheme, "never") != 0;
        else if (aps) tok->add_dummy_prefix = cJSON_IsTrue(aps);
    }
    return tok_finish(tok);
}

wanc_err wanc_tokenizer_load_json(wanc_tokenizer **out, const char *path)
{
    *out = NULL;
    uint8_t *d;
    size_t n;
    TRY(tok_read_file(path, &d, &n));
    cJSON *root = cJSON_ParseWithLength((const char *)d, n);
    free(d);
    if (!root) WANC_FAIL(WANC_EFORMAT, "%s: not valid JSON", path);
    wanc_tokenizer *tok = NULL;
    wanc_err err = tok_new(&tok, path);
    if (!err) err = parse_json(tok, root);
    cJSON_Delete(root);
    if (err) {
        wanc_tokenizer_free(tok);
        return err;
    }
    *out = tok;
    return NULL;
}
