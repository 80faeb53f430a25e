/* Unit tests for the tokenizer: a tiny sentencepiece model written at test
 * time (protobuf and Darts charsmap built by hand), bad inputs, the pieces of
 * the algorithm, and the tokenizer.json vs spiece.model equivalence. */
#include <cjson/cJSON.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "test.h"
#include "text/text_clean.h"
#include "text/tokenizer.h"
#include "text/tokenizer_internal.h"

/* ---- a protobuf writer --------------------------------------------------------- */

typedef struct {
    uint8_t *p;
    size_t n, cap;
} buf;

static void put(buf *b, const void *d, size_t n)
{
    if (b->n + n > b->cap) {
        b->cap = (b->n + n) * 2 + 64;
        b->p = realloc(b->p, b->cap);
    }
    memcpy(b->p + b->n, d, n);
    b->n += n;
}
static void varint(buf *b, uint64_t v)
{
    do {
        uint8_t c = (uint8_t)(v & 0x7F);
        v >>= 7;
        if (v) c |= 0x80;
        put(b, &c, 1);
    } while (v);
}
static void field_varint(buf *b, int f, uint64_t v) { varint(b, (uint64_t)f << 3), varint(b, v); }
static void field_bytes(buf *b, int f, const void *d, size_t n) { varint(b, (uint64_t)f << 3 | 2), varint(b, n), put(b, d, n); }
static void field_float(buf *b, int f, float x)
{
    varint(b, (uint64_t)f << 3 | 5);
    uint32_t u;
    memcpy(&u, &x, 4);
    uint8_t le[4] = {(uint8_t)u, (uint8_t)(u >> 8), (uint8_t)(u >> 16), (uint8_t)(u >> 24)};
    put(b, le, 4);
}
static void add_piece(buf *m, const char *s, float score, int type)
{
    buf p = {0};
    field_bytes(&p, 1, s, strlen(s));
    field_float(&p, 2, score);
    if (type != TOK_NORMAL) field_varint(&p, 3, (uint64_t)type);
    field_bytes(m, 1, p.p, p.n);
    free(p.p);
}

/* A hand-built Darts double array with the rules "\t" -> " ", "A" -> "y", "AB" -> "x".
 * unit = offset << 10 | has_leaf << 8 | label; a leaf unit is 1<<31 | value. */
static void tiny_charsmap(buf *out)
{
    uint32_t u[0x42] = {0};
    u[0] = 1u << 10;                        /* root, offset 1 */
    u[0x08] = 1u << 10 | 1u << 8 | 0x09;    /* '\t' at 0^1^9, leaf at 8^1 */
    u[0x09] = 1u << 31 | 0;                 /* -> " " */
    u[0x40] = 1u << 10 | 1u << 8 | 0x41;    /* 'A' at 0^1^0x41, leaf at 0x41 */
    u[0x41] = 1u << 31 | 2;                 /* -> "y" */
    u[0x03] = 4u << 10 | 1u << 8 | 0x42;    /* 'B' at 0x41^0x42, leaf at 3^4 */
    u[0x07] = 1u << 31 | 4;                 /* -> "x" */
    uint32_t size = sizeof u;
    uint8_t le[4] = {(uint8_t)size, (uint8_t)(size >> 8), 0, 0};
    put(out, le, 4);
    for (size_t i = 0; i < sizeof u / 4; i++) {
        uint8_t w[4] = {(uint8_t)u[i], (uint8_t)(u[i] >> 8), (uint8_t)(u[i] >> 16), (uint8_t)(u[i] >> 24)};
        put(out, w, 4);
    }
    put(out, " \0y\0x\0", 6);
}

/* The tiny model: <pad> </s> <unk>, optional byte pieces, a few normal pieces. */
static buf tiny_model(bool byte_fallback, int model_type)
{
    buf m = {0};
    add_piece(&m, "<pad>", 0, TOK_CONTROL);
    add_piece(&m, "</s>", 0, TOK_CONTROL);
    add_piece(&m, "<unk>", 0, TOK_UNKNOWN);
    if (byte_fallback)
        for (int b = 0; b < 256; b++) {
            char s[8];
            snprintf(s, sizeof s, "<0x%02X>", b);
            add_piece(&m, s, 0, TOK_BYTE);
        }
    add_piece(&m, "\xE2\x96\x81", -2.0f, TOK_NORMAL); /* ▁ */
    add_piece(&m, "a", -3.0f, TOK_NORMAL);
    add_piece(&m, "b", -3.0f, TOK_NORMAL);
    add_piece(&m, "x", -3.0f, TOK_NORMAL);
    add_piece(&m, "y", -3.0f, TOK_NORMAL);
    add_piece(&m, "\xE2\x96\x81" "ab", -1.5f, TOK_NORMAL);
    add_piece(&m, "ab", -2.5f, TOK_NORMAL);
    buf t = {0};
    field_varint(&t, 3, (uint64_t)model_type);
    field_varint(&t, 35, byte_fallback);
    field_bytes(&m, 2, t.p, t.n);
    free(t.p);
    buf n = {0}, cm = {0};
    field_bytes(&n, 1, "test", 4);
    tiny_charsmap(&cm);
    field_bytes(&n, 2, cm.p, cm.n);
    field_bytes(&m, 3, n.p, n.n);
    free(n.p);
    free(cm.p);
    return m;
}

static bool write_file(const char *path, const void *d, size_t n)
{
    FILE *f = fopen(path, "wb");
    if (!f) return false;
    bool ok = fwrite(d, 1, n, f) == n;
    return fclose(f) == 0 && ok;
}

typedef struct {
    char dir[64];
} tmpdir;
static bool tmp_make(tmpdir *t)
{
    snprintf(t->dir, sizeof t->dir, "/tmp/wanc_test_tok_XXXXXX");
    return mkdtemp(t->dir) != NULL;
}
static const char *tmp_path(const tmpdir *t, const char *name, char *p, size_t cap)
{
    snprintf(p, cap, "%s/%s", t->dir, name);
    return p;
}
static void tmp_clean(const tmpdir *t)
{
    const char *names[] = {"spiece.model", "tokenizer.json"};
    char p[128];
    for (int i = 0; i < 2; i++) unlink(tmp_path(t, names[i], p, sizeof p));
    rmdir(t->dir);
}

static wanc_err load_tiny(wanc_tokenizer **tok, bool byte_fallback, tmpdir *t)
{
    buf m = tiny_model(byte_fallback, TOK_MODEL_UNIGRAM);
    char p[128];
    bool ok = write_file(tmp_path(t, "spiece.model", p, sizeof p), m.p, m.n);
    free(m.p);
    if (!ok) return wanc_error(WANC_EIO, "cannot write %s", p);
    return wanc_tokenizer_load(tok, t->dir);
}

static size_t encode(const wanc_tokenizer *tok, const char *s, int64_t *ids, size_t cap)
{
    size_t n = 0;
    wanc_err e = wanc_tokenizer_encode(tok, s, ids, cap, &n);
    if (e) {
        fprintf(stderr, "  encode %s: %s\n", s, wanc_error_message(e));
        wanc_error_free(e);
        return (size_t)-1;
    }
    return n;
}

/* ---- bad inputs ------------------------------------------------------------------ */

TEST(tokenizer_missing_folder_names_folder_and_files)
{
    wanc_tokenizer *tok = (wanc_tokenizer *)1;
    CHECK_ERR(wanc_tokenizer_load(&tok, "/nonexistent/umt5-xxl"), WANC_EIO, "/nonexistent/umt5-xxl");
    CHECK_ERR(wanc_tokenizer_load(&tok, "/nonexistent/umt5-xxl"), WANC_EIO, "spiece.model or tokenizer.json");
    CHECK(tok == NULL);
    tmpdir t;
    CHECK(tmp_make(&t));
    CHECK_ERR(wanc_tokenizer_load(&tok, t.dir), WANC_EIO, "neither spiece.model nor tokenizer.json");
    tmp_clean(&t);
}

TEST(tokenizer_corrupt_spiece_model)
{
    tmpdir t;
    CHECK(tmp_make(&t));
    char p[128];
    tmp_path(&t, "spiece.model", p, sizeof p);
    buf m = tiny_model(true, TOK_MODEL_UNIGRAM);
    wanc_tokenizer *tok = NULL;
    /* truncated at many points: always a named error, never a crash */
    int named = 0, tries = 0;
    for (size_t cut = 1; cut < m.n; cut += 7) {
        CHECK(write_file(p, m.p, cut));
        wanc_err e = wanc_tokenizer_load(&tok, t.dir);
        tries++;
        if (e && wanc_error_code(e) == WANC_EFORMAT && strstr(wanc_error_message(e), p)) named++;
        if (!e) wanc_tokenizer_free(tok);
        wanc_error_free(e);
    }
    CHECK(named == tries);
    const char garbage[] = "this is not a protobuf at all \xff\xff\xff\xff";
    CHECK(write_file(p, garbage, sizeof garbage));
    CHECK_ERR(wanc_tokenizer_load(&tok, t.dir), WANC_EFORMAT, "corrupt sentencepiece model");
    CHECK(write_file(p, "", 0));
    CHECK_ERR(wanc_tokenizer_load(&tok, t.dir), WANC_EFORMAT, "spiece.model");
    free(m.p);
    m = tiny_model(true, TOK_MODEL_BPE);
    CHECK(write_file(p, m.p, m.n));
    CHECK_ERR(wanc_tokenizer_load(&tok, t.dir), WANC_EUNSUPPORTED, "bpe");
    free(m.p);
    tmp_clean(&t);
}

TEST(tokenizer_invalid_utf8_prompt_becomes_replacement_char)
{
    char *s = NULL;
    CHECK_OK(wanc_wan_clean_prompt("a\xff" "b\xc3" "c\xe2\x82", &s));
    CHECK(s && strcmp(s, "a\xEF\xBF\xBD" "b\xEF\xBF\xBD" "c\xEF\xBF\xBD") == 0);
    free(s);
    tmpdir t;
    CHECK(tmp_make(&t));
    wanc_tokenizer *tok = NULL;
    CHECK_OK(load_tiny(&tok, true, &t));
    if (tok) {
        int64_t ids[WANC_WAN_TEXT_LEN];
        uint8_t mask[WANC_WAN_TEXT_LEN];
        int n = 0;
        CHECK_OK(wanc_wan_prompt_ids(tok, "\xff\xfe", ids, mask, &n));
        /* ▁ + two U+FFFD as byte pieces (EF BF BD each) + </s> */
        CHECK(n == 8);
        CHECK(ids[1] == 3 + 0xEF && ids[2] == 3 + 0xBF && ids[3] == 3 + 0xBD && ids[7] == 1 && ids[8] == 0);
        CHECK(mask[7] == 1 && mask[8] == 0);
        /* the raw encoder (sentencepiece semantics): each bad byte is one U+FFFD */
        int64_t r[16];
        CHECK(encode(tok, "\xc3", r, 16) == 4);
        wanc_tokenizer_free(tok);
    }
    tmp_clean(&t);
}

/* ---- pieces of the algorithm ---------------------------------------------------------------- */

TEST(tokenizer_charsmap_longest_prefix)
{
    tmpdir t;
    CHECK(tmp_make(&t));
    wanc_tokenizer *tok = NULL;
    CHECK_OK(load_tiny(&tok, true, &t));
    if (tok) {
        size_t len;
        const char *r;
        CHECK_OK(tok_charsmap_match(tok, "ABC", 3, &len, &r));
        CHECK(len == 2 && strcmp(r, "x") == 0);
        CHECK_OK(tok_charsmap_match(tok, "AC", 2, &len, &r));
        CHECK(len == 1 && strcmp(r, "y") == 0);
        CHECK_OK(tok_charsmap_match(tok, "A", 1, &len, &r)); /* input ends inside the longer rule */
        CHECK(len == 1 && strcmp(r, "y") == 0);
        CHECK_OK(tok_charsmap_match(tok, "\tz", 2, &len, &r));
        CHECK(len == 1 && strcmp(r, " ") == 0);
        CHECK_OK(tok_charsmap_match(tok, "C", 1, &len, &r));
        CHECK(len == 0);
        /* whitespace: the tab maps to a space, so it is stripped/collapsed */
        char *norm = NULL;
        CHECK_OK(wanc_tokenizer_normalize(tok, "\t AB  \t A ", 10, &norm, NULL));
        CHECK(norm && strcmp(norm, "\xE2\x96\x81x\xE2\x96\x81y") == 0);
        free(norm);
        CHECK_OK(wanc_tokenizer_normalize(tok, " \t ", 3, &norm, NULL));
        CHECK(norm && strcmp(norm, "") == 0);
        free(norm);
        wanc_tokenizer_free(tok);
    }
    tmp_clean(&t);
}

TEST(tokenizer_viterbi_and_byte_fallback)
{
    tmpdir t;
    CHECK(tmp_make(&t));
    wanc_tokenizer *tok = NULL;
    CHECK_OK(load_tiny(&tok, true, &t));
    if (tok) {
        int ba = wanc_tokenizer_piece_id(tok, "\xE2\x96\x81" "ab");
        int a = wanc_tokenizer_piece_id(tok, "a"), sp = wanc_tokenizer_piece_id(tok, "\xE2\x96\x81");
        CHECK(ba > 258 && a > 258 && sp == 259);
        int64_t ids[16];
        /* "▁ab" (-1.5) beats "▁"+"ab" (-4.5) and "▁"+"a"+"b" */
        CHECK(encode(tok, "ab", ids, 16) == 1 && ids[0] == ba);
        /* "é" has no piece: its UTF-8 bytes become <0xC3><0xA9> */
        CHECK(encode(tok, "a\xC3\xA9", ids, 16) == 4);
        CHECK(ids[0] == sp && ids[1] == a && ids[2] == 3 + 0xC3 && ids[3] == 3 + 0xA9);
        /* cap: the count is complete, only cap ids are written */
        ids[1] = -7;
        CHECK(encode(tok, "a\xC3\xA9", ids, 1) == 4 && ids[1] == -7);
        wanc_tokenizer_free(tok);
    }
    tmp_clean(&t);
    CHECK(tmp_make(&t));
    CHECK_OK(load_tiny(&tok, false, &t));
    if (tok) {
        int64_t ids[16];
        /* without byte fallback consecutive unknowns merge into one <unk> */
        CHECK(encode(tok, "\xC3\xA9\xC3\xA9" "a", ids, 16) == 3);
        CHECK(ids[0] == 3 && ids[1] == 2 && ids[2] == wanc_tokenizer_piece_id(tok, "a"));
        wanc_tokenizer_free(tok);
    }
    tmp_clean(&t);
}

static bool unescape_is(const char *in, const char *want)
{
    wanc_cps c;
    char *s = NULL;
    bool ok = false;
    if (!wanc_cps_from_utf8(&c, in, strlen(in)) && !wanc_html_unescape(&c) && !wanc_cps_to_utf8(&c, &s, NULL))
        ok = strcmp(s, want) == 0;
    if (!ok) fprintf(stderr, "  html.unescape(%s) = %s, want %s\n", in, s ? s : "(error)", want);
    free(s);
    wanc_cps_free(&c);
    return ok;
}

TEST(tokenizer_html_unescape_matches_python)
{
    CHECK(unescape_is("&amp;", "&"));
    CHECK(unescape_is("&amp", "&"));
    CHECK(unescape_is("&ampx", "&x"));
    CHECK(unescape_is("&notit;", "\xC2\xACit;"));
    CHECK(unescape_is("&bogus; &", "&bogus; &"));
    CHECK(unescape_is("&#x41;&#65&#X42;", "AAB"));
    CHECK(unescape_is("&#128;&#150;", "\xE2\x82\xAC\xE2\x80\x93")); /* windows-1252 table */
    CHECK(unescape_is("&#0;", "\xEF\xBF\xBD"));
    CHECK(unescape_is("a&#1;b&#xFFFF;c", "abc"));                   /* invalid code points dropped */
    CHECK(unescape_is("&#xD800;&#99999999999;", "\xEF\xBF\xBD\xEF\xBF\xBD"));
    CHECK(unescape_is("&#;&#x;", "&#;&#x;"));
    CHECK(unescape_is("&NotEqualTilde;", "\xE2\x89\x82\xCC\xB8"));
}

static bool clean_is(const char *in, const char *want)
{
    char *s = NULL;
    wanc_err e = wanc_wan_clean_prompt(in, &s);
    bool ok = !e && strcmp(s, want) == 0;
    if (!ok) fprintf(stderr, "  clean(%s) = %s, want %s\n", in, s ? s : wanc_error_message(e), want);
    wanc_error_free(e);
    free(s);
    return ok;
}

TEST(tokenizer_wan_cleaning)
{
    CHECK(clean_is("  a \t\n b\xC2\xA0" "c\xE3\x80\x80 ", "a b c"));
    CHECK(clean_is("&amp;amp; &ldquo;x&rdquo;", "& \"x\""));     /* ftfy unescapes, then uncurls */
    CHECK(clean_is("<b> &ldquo;x&rdquo;", "<b> \xE2\x80\x9Cx\xE2\x80\x9D")); /* '<': html.unescape only */
    CHECK(clean_is("cafe\xCC\x81", "caf\xC3\xA9"));             /* NFC */
    CHECK(clean_is("\xE1\x84\x80\xE1\x85\xA1", "\xEA\xB0\x80")); /* Hangul L+V composes */
    CHECK(clean_is("caf\xC3\x83\xC2\xA9", "caf\xC3\xA9"));       /* mojibake */
    CHECK(clean_is("\xEF\xAC\x81" "ne \xEF\xBC\xA1", "fine A")); /* ligature, width */
    CHECK(clean_is("\x1b[1mbold\x1b[0m\x07", "bold"));
    CHECK(clean_is("x\xC2\x85y", "x\xE2\x80\xA6y"));             /* C1 NEL -> windows-1252 ellipsis */
    CHECK(clean_is("", ""));
}

/* ---- tokenizer.json vs spiece.model ------------------------------------------------------------ */

static char *b64(const uint8_t *d, size_t n)
{
    static const char *al = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    char *o = malloc(n / 3 * 4 + 5), *q = o;
    for (size_t i = 0; i < n; i += 3) {
        uint32_t v = (uint32_t)d[i] << 16 | (i + 1 < n ? (uint32_t)d[i + 1] << 8 : 0) | (i + 2 < n ? d[i + 2] : 0);
        *q++ = al[v >> 18 & 63];
        *q++ = al[v >> 12 & 63];
        *q++ = i + 1 < n ? al[v >> 6 & 63] : '=';
        *q++ = i + 2 < n ? al[v & 63] : '=';
    }
    *q = 0;
    return o;
}

/* Write a tokenizer.json holding the loaded spiece model (pieces, scores, charsmap). */
static bool write_json_twin(const wanc_tokenizer *tok, const char *path)
{
    cJSON *root = cJSON_CreateObject(), *added = cJSON_AddArrayToObject(root, "added_tokens");
    cJSON *model = cJSON_AddObjectToObject(root, "model"), *vocab = cJSON_CreateArray();
    cJSON_AddStringToObject(model, "type", "Unigram");
    cJSON_AddNumberToObject(model, "unk_id", tok->unk_id);
    cJSON_AddBoolToObject(model, "byte_fallback", tok->byte_fallback);
    cJSON_AddItemToObject(model, "vocab", vocab);
    for (int i = 0; i < tok->npieces; i++) {
        size_t len;
        const char *p = wanc_tokenizer_piece(tok, i, &len);
        char *s = strndup(p, len);
        cJSON *e = cJSON_CreateArray();
        cJSON_AddItemToArray(e, cJSON_CreateString(s));
        cJSON_AddItemToArray(e, cJSON_CreateNumber(tok->pieces[i].score));
        cJSON_AddItemToArray(vocab, e);
        if (tok->pieces[i].type == TOK_CONTROL) {
            cJSON *a = cJSON_CreateObject();
            cJSON_AddNumberToObject(a, "id", i);
            cJSON_AddStringToObject(a, "content", s);
            cJSON_AddBoolToObject(a, "special", 1);
            cJSON_AddItemToArray(added, a);
        }
        free(s);
    }
    size_t n = 4 + tok->nunits * 4 + tok->norm_len;
    uint8_t *blob = malloc(n);
    uint32_t ts = (uint32_t)(tok->nunits * 4);
    for (int k = 0; k < 4; k++) blob[k] = (uint8_t)(ts >> (8 * k));
    for (size_t i = 0; i < tok->nunits; i++)
        for (int k = 0; k < 4; k++) blob[4 + 4 * i + k] = (uint8_t)(tok->units[i] >> (8 * k));
    memcpy(blob + 4 + ts, tok->norm_blob, tok->norm_len);
    char *enc = b64(blob, n);
    free(blob);
    cJSON *norm = cJSON_AddObjectToObject(root, "normalizer"), *seq = cJSON_AddArrayToObject(norm, "normalizers");
    cJSON_AddStringToObject(norm, "type", "Sequence");
    cJSON *pc = cJSON_CreateObject();
    cJSON_AddStringToObject(pc, "type", "Precompiled");
    cJSON_AddStringToObject(pc, "precompiled_charsmap", enc);
    cJSON_AddItemToArray(seq, pc);
    free(enc);
    cJSON *pre = cJSON_AddObjectToObject(root, "pre_tokenizer");
    cJSON_AddStringToObject(pre, "type", "Metaspace");
    cJSON_AddStringToObject(pre, "replacement", "\xE2\x96\x81");
    cJSON_AddBoolToObject(pre, "add_prefix_space", 1);
    char *text = cJSON_PrintUnformatted(root);
    bool ok = text && write_file(path, text, strlen(text));
    free(text);
    cJSON_Delete(root);
    return ok;
}

static int compare_ids(const wanc_tokenizer *a, const wanc_tokenizer *b, const char *text)
{
    size_t n = encode(a, text, NULL, 0), m = encode(b, text, NULL, 0);
    if (n != m || n == (size_t)-1) return 0;
    int64_t *x = malloc((n + 1) * sizeof *x), *y = malloc((n + 1) * sizeof *y);
    int same = x && y && encode(a, text, x, n) == n && encode(b, text, y, n) == n &&
               memcmp(x, y, n * sizeof *x) == 0;
    free(x);
    free(y);
    return same;
}

TEST(tokenizer_json_gives_same_ids_as_spiece)
{
    tmpdir t;
    CHECK(tmp_make(&t));
    char p[128];
    wanc_tokenizer *sp = NULL, *js = NULL;
    /* the fixture's model when the shared tree is there, else the tiny one */
    const char *fixture = "../shared/fixtures/tokenizer_umt5_sp";
    struct stat st;
    bool have_fixture = stat(fixture, &st) == 0;
    if (have_fixture) CHECK_OK(wanc_tokenizer_load(&sp, fixture));
    else CHECK_OK(load_tiny(&sp, true, &t));
    if (sp) {
        CHECK(write_json_twin(sp, tmp_path(&t, "tokenizer.json", p, sizeof p)));
        CHECK_OK(wanc_tokenizer_load(&js, p));
        if (!have_fixture) { /* both in one folder: spiece.model is preferred */
            wanc_tokenizer *pref = NULL;
            CHECK_OK(wanc_tokenizer_load(&pref, t.dir));
            CHECK(pref && strstr(wanc_tokenizer_source(pref), "spiece.model"));
            wanc_tokenizer_free(pref);
        }
    }
    if (sp && js) {
        CHECK(wanc_tokenizer_vocab_size(sp) == wanc_tokenizer_vocab_size(js));
        int same = 0, total = 0;
        if (have_fixture) {
            char cj[256];
            snprintf(cj, sizeof cj, "%s/case.json", fixture);
            FILE *f = fopen(cj, "rb");
            char *d = NULL;
            long len = 0;
            if (f && fseek(f, 0, SEEK_END) == 0 && (len = ftell(f)) > 0 && fseek(f, 0, SEEK_SET) == 0) {
                d = malloc((size_t)len + 1);
                if (fread(d, 1, (size_t)len, f) != (size_t)len) len = 0;
                d[len] = 0;
            }
            if (f) fclose(f);
            cJSON *root = d ? cJSON_Parse(d) : NULL;
            free(d);
            const cJSON *pr;
            cJSON_ArrayForEach(pr, cJSON_GetObjectItemCaseSensitive(root, "prompts"))
            {
                const char *keys[] = {"raw", "cleaned"};
                for (int k = 0; k < 2; k++) {
                    const char *s = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(pr, keys[k]));
                    if (!s) continue;
                    total++;
                    same += compare_ids(sp, js, s);
                }
            }
            cJSON_Delete(root);
            CHECK(total == 84);
        } else {
            const char *texts[] = {"ab", " a b ", "\tAB A", "\xC3\xA9\xE4\xB8\xAD", "x y  z"};
            for (int k = 0; k < 5; k++, total++) same += compare_ids(sp, js, texts[k]);
        }
        CHECK(total > 0 && same == total);
    }
    wanc_tokenizer_free(sp);
    wanc_tokenizer_free(js);
    tmp_clean(&t);
}

/* Hostile tokenizer files (core/limits.h): a piece claiming 4 GB, a piece past
 * 64 KiB, a file past 256 MiB: each a named error, nothing large allocated. */
TEST(tokenizer_limits_on_hostile_files)
{
    tmpdir t;
    CHECK(tmp_make(&t));
    char p[128];
    wanc_tokenizer *tok = NULL;
    /* a piece whose length field says 4 GiB, in a file of a few bytes */
    buf m = {0};
    varint(&m, 1 << 3 | 2), varint(&m, (uint64_t)1 << 32), put(&m, "abc", 3);
    CHECK(write_file(tmp_path(&t, "spiece.model", p, sizeof p), m.p, m.n));
    test_bound bound = test_bound_start();
    CHECK_ERR(wanc_tokenizer_load(&tok, p), WANC_EFORMAT, "corrupt sentencepiece model");
    CHECK(test_bound_held(bound, 60, 256, "a 4 GiB piece claim"));
    free(m.p);
    /* a real 70 000-byte piece, in spiece.model and in tokenizer.json */
    char *big = malloc(70001);
    CHECK(big != NULL);
    if (big) {
        memset(big, 'a', 70000);
        big[70000] = 0;
        buf b = {0};
        add_piece(&b, "<unk>", 0, TOK_UNKNOWN);
        add_piece(&b, big, -1, TOK_NORMAL);
        CHECK(write_file(tmp_path(&t, "spiece.model", p, sizeof p), b.p, b.n));
        CHECK_ERR(wanc_tokenizer_load(&tok, p), WANC_EFORMAT, "bytes long (at most 65535)");
        free(b.p);
        buf j = {0};
        const char *head = "{\"model\":{\"type\":\"Unigram\",\"unk_id\":0,\"vocab\":[[\"<unk>\",0],[\"";
        put(&j, head, strlen(head)), put(&j, big, 70000), put(&j, "\",-1]]}}", 8);
        CHECK(write_file(tmp_path(&t, "tokenizer.json", p, sizeof p), j.p, j.n));
        CHECK_ERR(wanc_tokenizer_load(&tok, p), WANC_EFORMAT, "bytes long (at most 65535)");
        free(j.p);
        free(big);
    }
    /* a 300 MiB (sparse) file: refused by its size, before it is read */
    FILE *f = fopen(tmp_path(&t, "spiece.model", p, sizeof p), "wb");
    CHECK(f && ftruncate(fileno(f), (off_t)300 << 20) == 0);
    if (f) fclose(f);
    CHECK_ERR(wanc_tokenizer_load(&tok, p), WANC_EFORMAT, "larger than 268435456 bytes");
    CHECK(tok == NULL);
    tmp_clean(&t);
}
