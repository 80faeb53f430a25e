/* Reading sentencepiece's spiece.model: a serialized ModelProto (proto2).
 *
 * A minimal protobuf wire-format reader: varints, 64-bit, length-delimited
 * and 32-bit fields; unknown fields are skipped, groups are rejected. Fields
 * read (sentencepiece_model.proto):
 *   ModelProto      1 pieces (repeated SentencePiece), 2 trainer_spec, 3 normalizer_spec
 *   SentencePiece   1 piece, 2 score (float), 3 type (enum, default NORMAL)
 *   TrainerSpec     3 model_type (default UNIGRAM), 24 treat_whitespace_as_suffix,
 *                   35 byte_fallback, 40 unk_id, 41 bos_id, 42 eos_id, 43 pad_id
 *   NormalizerSpec  1 name, 2 precompiled_charsmap, 3 add_dummy_prefix (default
 *                   true), 4 remove_extra_whitespaces (true), 5 escape_whitespaces (true)
 * The trainer ids are informational: like the library, the encoder takes the
 * unknown piece from the piece types.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/limits.h"
#include "io/read_file.h"
#include "text/tokenizer_internal.h"

typedef struct {
    const uint8_t *p, *end;
} pb;

typedef struct {
    uint32_t field, wire;
    uint64_t v;          /* varint / fixed value */
    const uint8_t *data; /* length-delimited payload */
    size_t len;
} pb_field;

/* Next field; 0 at the end, 1 read, -1 malformed. */
static int pb_next(pb *r, pb_field *f)
{
    if (r->p >= r->end) return 0;
    uint64_t key = 0;
    for (int shift = 0;; shift += 7) {
        if (r->p >= r->end || shift > 63) return -1;
        uint8_t b = *r->p++;
        key |= (uint64_t)(b & 0x7F) << shift;
        if (!(b & 0x80)) break;
    }
    f->field = (uint32_t)(key >> 3);
    f->wire = key & 7;
    if (f->field == 0) return -1;
    f->v = 0;
    f->data = NULL;
    f->len = 0;
    switch (f->wire) {
    case 0:
        for (int shift = 0;; shift += 7) {
            if (r->p >= r->end || shift > 63) return -1;
            uint8_t b = *r->p++;
            f->v |= (uint64_t)(b & 0x7F) << shift;
            if (!(b & 0x80)) break;
        }
        return 1;
    case 1:
        if (r->end - r->p < 8) return -1;
        for (int i = 0; i < 8; i++) f->v |= (uint64_t)r->p[i] << (8 * i);
        r->p += 8;
        return 1;
    case 5:
        if (r->end - r->p < 4) return -1;
        for (int i = 0; i < 4; i++) f->v |= (uint64_t)r->p[i] << (8 * i);
        r->p += 4;
        return 1;
    case 2: {
        uint64_t len = 0;
        for (int shift = 0;; shift += 7) {
            if (r->p >= r->end || shift > 63) return -1;
            uint8_t b = *r->p++;
            len |= (uint64_t)(b & 0x7F) << shift;
            if (!(b & 0x80)) break;
        }
        if (len > (uint64_t)(r->end - r->p)) return -1;
        f->data = r->p;
        f->len = (size_t)len;
        r->p += len;
        return 1;
    }
    default: return -1; /* groups (3, 4) and invalid wire types */
    }
}

static float pb_float(uint64_t v)
{
    uint32_t u = (uint32_t)v;
    float x;
    memcpy(&x, &u, sizeof x);
    return x;
}

#define BAD(what) WANC_FAIL(WANC_EFORMAT, "%s: corrupt sentencepiece model (%s)", tok->source, what)

static wanc_err read_piece(wanc_tokenizer *tok, const uint8_t *d, size_t n)
{
    pb r = {d, d + n};
    pb_field f;
    int st;
    const uint8_t *s = NULL;
    size_t len = 0;
    float score = 0;
    int type = TOK_NORMAL;
    while ((st = pb_next(&r, &f)) == 1) {
        if (f.field == 1 && f.wire == 2) s = f.data, len = f.len;
        else if (f.field == 2 && f.wire == 5) score = pb_float(f.v);
        else if (f.field == 3 && f.wire == 0) type = (int)f.v;
        else if (f.field <= 3) BAD("piece field with the wrong wire type");
    }
    if (st < 0) BAD("malformed piece");
    if (!s) BAD("piece without text");
    return tok_add_piece(tok, (const char *)s, len, score, type);
}

static wanc_err read_trainer(wanc_tokenizer *tok, const uint8_t *d, size_t n)
{
    pb r = {d, d + n};
    pb_field f;
    int st;
    while ((st = pb_next(&r, &f)) == 1) {
        if (f.wire != 0) continue;
        if (f.field == 3) tok->model_type = (int)f.v;
        else if (f.field == 24) tok->ws_as_suffix = f.v != 0;
        else if (f.field == 35) tok->byte_fallback = f.v != 0;
    }
    if (st < 0) BAD("malformed trainer_spec");
    return NULL;
}

static wanc_err read_normalizer(wanc_tokenizer *tok, const uint8_t *d, size_t n)
{
    pb r = {d, d + n};
    pb_field f;
    int st;
    while ((st = pb_next(&r, &f)) == 1) {
        if (f.field == 2 && f.wire == 2) TRY(tok_set_charsmap(tok, f.data, f.len));
        else if (f.wire == 0 && f.field == 3) tok->add_dummy_prefix = f.v != 0;
        else if (f.wire == 0 && f.field == 4) tok->remove_extra_ws = f.v != 0;
        else if (f.wire == 0 && f.field == 5) tok->escape_ws = f.v != 0;
    }
    if (st < 0) BAD("malformed normalizer_spec");
    return NULL;
}

static wanc_err parse_model(wanc_tokenizer *tok, const uint8_t *d, size_t n)
{
    pb r = {d, d + n};
    pb_field f;
    int st;
    const uint8_t *trainer = NULL, *norm = NULL;
    size_t trainer_len = 0, norm_len = 0;
    while ((st = pb_next(&r, &f)) == 1) {
        if (f.field >= 1 && f.field <= 3 && f.wire != 2) BAD("top-level field with the wrong wire type");
        if (f.field == 1) TRY(read_piece(tok, f.data, f.len));
        else if (f.field == 2) trainer = f.data, trainer_len = f.len;
        else if (f.field == 3) norm = f.data, norm_len = f.len;
    }
    if (st < 0) BAD("truncated or not a protobuf");
    if (tok->npieces == 0) BAD("no pieces");
    /* Trainer spec before the pieces are checked (byte_fallback decides byte pieces). */
    if (trainer) TRY(read_trainer(tok, trainer, trainer_len));
    if (norm) TRY(read_normalizer(tok, norm, norm_len));
    return tok_finish(tok);
}

wanc_err tok_read_file(const char *path, uint8_t **out, size_t *n)
{
    char *buf;
    TRY(wanc_read_file(path, WANC_LIMIT_TOKENIZER_FILE, "too large for a tokenizer file", &buf, n));
    *out = (uint8_t *)buf;
    return NULL;
}

wanc_err wanc_tokenizer_load_spiece(wanc_tokenizer **out, const char *path)
{
    *out = NULL;
    uint8_t *d;
    size_t n;
    TRY(tok_read_file(path, &d, &n));
    wanc_tokenizer *tok = NULL;
    wanc_err err = tok_new(&tok, path);
    if (!err) err = parse_model(tok, d, n);
    free(d);
    if (err) {
        wanc_tokenizer_free(tok);
        return err;
    }
    *out = tok;
    return NULL;
}
