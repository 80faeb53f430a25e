/* The SentencePiece unigram encoder and the Wan prompt wrapper.
 *
 * Behaviour follows the sentencepiece library (0.1.97, the version the
 * fixtures were made with), which is the reference for ids:
 *   - normaliser: longest-prefix match in the precompiled charsmap (a Darts
 *     double-array trie over UTF-8 bytes whose values index NUL-terminated
 *     replacements), user-defined pieces passed through untouched, malformed
 *     UTF-8 bytes become U+FFFD one byte at a time; remove_extra_whitespaces
 *     drops leading spaces, collapses runs and drops trailing ones;
 *     add_dummy_prefix puts one U+2581 in front; escape_whitespaces writes
 *     spaces as U+2581.
 *   - model: the "optimized" Viterbi of unigram_model.cc: for every start
 *     (one UTF-8 character at a time) every piece that is a prefix is a
 *     candidate; a start with no single-character piece gets <unk> with
 *     score min_score - 10; ties keep the earlier start. Scores are float
 *     sums, candidates computed in double as the C++ code does.
 *   - unknown pieces become <0xXX> byte pieces when byte_fallback is set,
 *     else consecutive unknowns merge into one <unk>.
 */
#include <errno.h>
#include <float.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "core/limits.h"
#include "text/text_clean.h"
#include "text/tokenizer_internal.h"

/* ---- building the model ---------------------------------------------------- */

wanc_err tok_new(wanc_tokenizer **out, const char *source)
{
    wanc_tokenizer *tok = calloc(1, sizeof *tok);
    if (!tok) WANC_FAIL(WANC_ENOMEM, "tokenizer: out of memory");
    snprintf(tok->source, sizeof tok->source, "%s", source);
    tok->unk_id = tok->eos_id = tok->pad_id = -1;
    tok->model_type = TOK_MODEL_UNIGRAM;
    tok->add_dummy_prefix = tok->remove_extra_ws = tok->escape_ws = true;
    *out = tok;
    return NULL;
}

wanc_err tok_add_piece(wanc_tokenizer *tok, const char *s, size_t len, float score, int type)
{
    if (len == 0) WANC_FAIL(WANC_EFORMAT, "%s: piece %d is empty", tok->source, tok->npieces);
    if (len > 0xFFFF) WANC_FAIL(WANC_EFORMAT, "%s: piece %d is %zu bytes long (at most 65535)", tok->source, tok->npieces, len);
    if (type < TOK_NORMAL || type > TOK_BYTE)
        WANC_FAIL(WANC_EFORMAT, "%s: piece %d has unknown type %d", tok->source, tok->npieces, type);
    if (tok->npieces >= WANC_LIMIT_TOKENIZER_PIECES)
        WANC_FAIL(WANC_EFORMAT, "%s: more than %d pieces (the limit)", tok->source, WANC_LIMIT_TOKENIZER_PIECES);
    if (tok->npieces == tok->pieces_cap) {
        int32_t cap = tok->pieces_cap ? tok->pieces_cap * 2 : 1024;
        tok_piece *p = realloc(tok->pieces, (size_t)cap * sizeof *p);
        if (!p) WANC_FAIL(WANC_ENOMEM, "%s: out of memory for %d pieces", tok->source, cap);
        tok->pieces = p;
        tok->pieces_cap = cap;
    }
    if (tok->strings_len + len > tok->strings_cap) {
        size_t cap = tok->strings_cap ? tok->strings_cap * 2 : 65536;
        while (cap < tok->strings_len + len) cap *= 2;
        char *p = realloc(tok->strings, cap);
        if (!p) WANC_FAIL(WANC_ENOMEM, "%s: out of memory for piece strings", tok->source);
        tok->strings = p;
        tok->strings_cap = cap;
    }
    if (tok->strings_len > UINT32_MAX - len) WANC_FAIL(WANC_EFORMAT, "%s: vocabulary too large", tok->source);
    memcpy(tok->strings + tok->strings_len, s, len);
    tok->pieces[tok->npieces++] = (tok_piece){(uint32_t)tok->strings_len, (uint32_t)len, score, (uint8_t)type};
    tok->strings_len += len;
    return NULL;
}

static uint32_t rd_le32(const uint8_t *p) { return p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24; }

wanc_err tok_set_charsmap(wanc_tokenizer *tok, const uint8_t *blob, size_t n)
{
    free(tok->units);
    free(tok->norm_blob);
    tok->units = NULL;
    tok->norm_blob = NULL;
    tok->nunits = tok->norm_len = 0;
    if (n == 0) return NULL; /* identity normaliser */
    if (n <= 4) WANC_FAIL(WANC_EFORMAT, "%s: precompiled charsmap is broken (%zu bytes)", tok->source, n);
    uint32_t trie_size = rd_le32(blob);
    if (trie_size >= n - 4 + 1 || trie_size % 4 || trie_size == 0)
        WANC_FAIL(WANC_EFORMAT, "%s: precompiled charsmap is broken (trie of %u bytes in a %zu-byte blob)",
                  tok->source, trie_size, n);
    tok->nunits = trie_size / 4;
    tok->norm_len = n - 4 - trie_size;
    tok->units = malloc(tok->nunits * sizeof *tok->units);
    tok->norm_blob = malloc(tok->norm_len + 1);
    if (!tok->units || !tok->norm_blob) WANC_FAIL(WANC_ENOMEM, "%s: out of memory for the charsmap", tok->source);
    for (size_t i = 0; i < tok->nunits; i++) tok->units[i] = rd_le32(blob + 4 + 4 * i);
    memcpy(tok->norm_blob, blob + 4 + trie_size, tok->norm_len);
    tok->norm_blob[tok->norm_len] = 0;
    return NULL;
}

static uint32_t fnv_step(uint32_t h, unsigned char c) { return (h ^ c) * 16777619u; }
#define FNV_INIT 2166136261u
static uint32_t fnv(const char *s, size_t n)
{
    uint32_t h = FNV_INIT;
    for (size_t i = 0; i < n; i++) h = fnv_step(h, (unsigned char)s[i]);
    return h;
}

static int32_t hash_find(const wanc_tokenizer *tok, const tok_hash *h, const char *s, size_t n, uint32_t hv)
{
    if (!h->slots) return -1;
    for (uint32_t i = hv & h->mask;; i = (i + 1) & h->mask) {
        int32_t id = h->slots[i];
        if (id < 0) return -1;
        const tok_piece *p = &tok->pieces[id];
        if (p->len == n && memcmp(tok->strings + p->off, s, n) == 0) return id;
    }
}

static wanc_err hash_build(wanc_tokenizer *tok, tok_hash *h, int which)
{
    int32_t count = 0;
    for (int32_t i = 0; i < tok->npieces; i++)
        if ((which >> tok->pieces[i].type) & 1) count++;
    if (!count) return NULL;
    uint32_t cap = 16;
    while (cap < (uint32_t)count * 2) cap *= 2;
    h->slots = malloc(cap * sizeof *h->slots);
    if (!h->slots) WANC_FAIL(WANC_ENOMEM, "%s: out of memory for the piece table", tok->source);
    memset(h->slots, 0xff, cap * sizeof *h->slots);
    h->mask = cap - 1;
    for (int32_t i = 0; i < tok->npieces; i++) {
        const tok_piece *p = &tok->pieces[i];
        if (!((which >> p->type) & 1)) continue;
        const char *s = tok->strings + p->off;
        uint32_t hv = fnv(s, p->len);
        int32_t dup = hash_find(tok, h, s, p->len, hv);
        if (dup >= 0)
            WANC_FAIL(WANC_EFORMAT, "%s: piece %d \"%.*s\" is already defined as id %d", tok->source, i,
                      (int)p->len, s, dup);
        uint32_t j = hv & h->mask;
        while (h->slots[j] >= 0) j = (j + 1) & h->mask;
        h->slots[j] = i;
    }
    return NULL;
}

#define SET(t) (1 << (t))

wanc_err tok_finish(wanc_tokenizer *tok)
{
    if (tok->model_type != TOK_MODEL_UNIGRAM) {
        static const char *names[] = {"?", "unigram", "bpe", "word", "char"};
        const char *n = tok->model_type >= 1 && tok->model_type <= 4 ? names[tok->model_type] : "unknown";
        WANC_FAIL(WANC_EUNSUPPORTED, "%s: model type %s (%d) is not supported; only unigram is", tok->source, n,
                  tok->model_type);
    }
    if (tok->npieces == 0) WANC_FAIL(WANC_EFORMAT, "%s: the model has no pieces", tok->source);
    TRY(hash_build(tok, &tok->matchable, SET(TOK_NORMAL) | SET(TOK_USER_DEFINED) | SET(TOK_UNUSED)));
    TRY(hash_build(tok, &tok->reserved, SET(TOK_CONTROL) | SET(TOK_UNKNOWN) | SET(TOK_BYTE)));
    TRY(hash_build(tok, &tok->user, SET(TOK_USER_DEFINED)));
    /* sentencepiece starts max_score at FLT_MIN (the smallest positive float),
     * so with all-negative scores user-defined pieces score len*FLT_MIN - 0.1. */
    tok->min_score = FLT_MAX;
    tok->max_score = FLT_MIN;
    tok->unk_id = -1;
    for (int32_t i = 0; i < tok->npieces; i++) {
        const tok_piece *p = &tok->pieces[i];
        if (p->type == TOK_NORMAL) {
            if (p->score < tok->min_score) tok->min_score = p->score;
            if (p->score > tok->max_score) tok->max_score = p->score;
        }
        if (p->type == TOK_NORMAL || p->type == TOK_USER_DEFINED || p->type == TOK_UNUSED)
            if (p->len > tok->max_len) tok->max_len = p->len;
        if (p->type == TOK_USER_DEFINED && p->len > tok->max_user_len) tok->max_user_len = p->len;
        if (p->type == TOK_UNKNOWN) {
            if (tok->unk_id >= 0) WANC_FAIL(WANC_EFORMAT, "%s: <unk> is defined twice (ids %d and %d)", tok->source, tok->unk_id, i);
            tok->unk_id = i;
        }
        if (p->type == TOK_BYTE && !tok->byte_fallback)
            WANC_FAIL(WANC_EFORMAT, "%s: byte piece %d found although byte_fallback is false", tok->source, i);
    }
    if (tok->unk_id < 0) WANC_FAIL(WANC_EFORMAT, "%s: the model defines no unknown piece", tok->source);
    for (int b = 0; b < 256; b++) {
        char name[8];
        snprintf(name, sizeof name, "<0x%02X>", b);
        int id = wanc_tokenizer_piece_id(tok, name);
        tok->byte_ids[b] = id >= 0 ? id : tok->unk_id; /* PieceToId falls back to unk */
    }
    tok->eos_id = wanc_tokenizer_piece_id(tok, "</s>");
    tok->pad_id = wanc_tokenizer_piece_id(tok, "<pad>");
    return NULL;
}

void wanc_tokenizer_free(wanc_tokenizer *tok)
{
    if (!tok) return;
    free(tok->strings);
    free(tok->pieces);
    free(tok->matchable.slots);
    free(tok->reserved.slots);
    free(tok->user.slots);
    free(tok->units);
    free(tok->norm_blob);
    free(tok);
}

int wanc_tokenizer_vocab_size(const wanc_tokenizer *tok) { return tok->npieces; }
const char *wanc_tokenizer_source(const wanc_tokenizer *tok) { return tok->source; }

const char *wanc_tokenizer_piece(const wanc_tokenizer *tok, int id, size_t *len)
{
    if (id < 0 || id >= tok->npieces) return NULL;
    if (len) *len = tok->pieces[id].len;
    return tok->strings + tok->pieces[id].off;
}

int wanc_tokenizer_piece_id(const wanc_tokenizer *tok, const char *piece)
{
    size_t n = strlen(piece);
    uint32_t hv = fnv(piece, n);
    int32_t id = hash_find(tok, &tok->reserved, piece, n, hv);
    if (id < 0) id = hash_find(tok, &tok->matchable, piece, n, hv);
    return id;
}

/* ---- loading ------------------------------------------------------------ */

static bool is_file(const char *p)
{
    struct stat st;
    return stat(p, &st) == 0 && S_ISREG(st.st_mode);
}

wanc_err wanc_tokenizer_load(wanc_tokenizer **out, const char *path)
{
    *out = NULL;
    struct stat st;
    if (stat(path, &st) != 0)
        WANC_FAIL(WANC_EIO, "tokenizer %s: %s (expected a folder with spiece.model or tokenizer.json)", path,
                  strerror(errno));
    if (S_ISDIR(st.st_mode)) {
        char p[4200];
        snprintf(p, sizeof p, "%s/spiece.model", path);
        if (is_file(p)) return wanc_tokenizer_load_spiece(out, p);
        snprintf(p, sizeof p, "%s/tokenizer.json", path);
        if (is_file(p)) return wanc_tokenizer_load_json(out, p);
        WANC_FAIL(WANC_EIO, "tokenizer folder %s holds neither spiece.model nor tokenizer.json", path);
    }
    size_t n = strlen(path);
    if (n >= 5 && strcmp(path + n - 5, ".json") == 0) return wanc_tokenizer_load_json(out, path);
    return wanc_tokenizer_load_spiece(out, path);
}

/* ---- normaliser ------------------------------------------------------------ */

/* Darts-clone unit fields. */
static bool unit_has_leaf(uint32_t u) { return (u >> 8) & 1; }
static uint32_t unit_value(uint32_t u) { return u & ((1u << 31) - 1); }
static uint32_t unit_label(uint32_t u) { return u & ((1u << 31) | 0xFF); }
static uint32_t unit_offset(uint32_t u) { return (u >> 10) << ((u & (1u << 9)) >> 6); }

wanc_err tok_charsmap_match(const wanc_tokenizer *tok, const char *in, size_t n, size_t *len, const char **repl)
{
    *len = 0;
    *repl = NULL;
    if (!tok->units) return NULL;
    /* commonPrefixSearch; sentencepiece keeps the first 32 results and takes the longest. */
    enum { MAX_RESULTS = 32 };
    int results = 0;
    uint32_t id = unit_offset(tok->units[0]);
    uint32_t best_value = 0;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)in[i];
        id ^= c;
        if (id >= tok->nunits) break;
        uint32_t u = tok->units[id];
        if (unit_label(u) != c) break;
        id ^= unit_offset(u);
        if (unit_has_leaf(u)) {
            if (id >= tok->nunits)
                WANC_FAIL(WANC_EFORMAT, "%s: precompiled charsmap is corrupt (unit %u out of %zu)", tok->source,
                          id, tok->nunits);
            if (results < MAX_RESULTS) {
                *len = i + 1;
                best_value = unit_value(tok->units[id]);
            }
            results++;
        }
    }
    if (*len) {
        if (best_value >= tok->norm_len || !memchr(tok->norm_blob + best_value, 0, tok->norm_len - best_value))
            WANC_FAIL(WANC_EFORMAT, "%s: precompiled charsmap is corrupt (replacement offset %u of %zu)",
                      tok->source, best_value, tok->norm_len);
        *repl = tok->norm_blob + best_value;
    }
    return NULL;
}

/* sentencepiece's DecodeUTF8 validity: length of a valid character, 0 when malformed. */
static size_t sp_utf8_len(const unsigned char *s, size_t n)
{
    if (s[0] < 0x80) return 1;
    uint32_t cp;
    if (n >= 2 && (s[0] & 0xE0) == 0xC0 && (s[1] & 0xC0) == 0x80) {
        cp = (uint32_t)(s[0] & 0x1F) << 6 | (s[1] & 0x3F);
        if (cp >= 0x80) return 2;
    } else if (n >= 3 && (s[0] & 0xF0) == 0xE0 && (s[1] & 0xC0) == 0x80 && (s[2] & 0xC0) == 0x80) {
        cp = (uint32_t)(s[0] & 0x0F) << 12 | (uint32_t)(s[1] & 0x3F) << 6 | (s[2] & 0x3F);
        if (cp >= 0x800 && (cp < 0xD800 || cp >= 0xE000)) return 3;
    } else if (n >= 4 && (s[0] & 0xF8) == 0xF0 && (s[1] & 0xC0) == 0x80 && (s[2] & 0xC0) == 0x80 &&
               (s[3] & 0xC0) == 0x80) {
        cp = (uint32_t)(s[0] & 0x07) << 18 | (uint32_t)(s[1] & 0x3F) << 12 | (uint32_t)(s[2] & 0x3F) << 6 |
             (s[3] & 0x3F);
        if (cp >= 0x10000 && cp <= 0x10FFFF) return 4;
    }
    return 0;
}

/* One step of the normaliser: the replacement for the longest rule at `in`,
 * and how many input bytes it consumes. */
static wanc_err normalize_prefix(const wanc_tokenizer *tok, const char *in, size_t n, const char **sp, size_t *sp_len,
                                 size_t *consumed)
{
    if (tok->user.slots) { /* user-defined symbols pass through unnormalised */
        uint32_t hv = FNV_INIT;
        size_t best = 0;
        for (size_t l = 1; l <= n && l <= tok->max_user_len; l++) {
            hv = fnv_step(hv, (unsigned char)in[l - 1]);
            if (hash_find(tok, &tok->user, in, l, hv) >= 0) best = l;
        }
        if (best) {
            *sp = in;
            *sp_len = *consumed = best;
            return NULL;
        }
    }
    size_t len;
    const char *repl;
    TRY(tok_charsmap_match(tok, in, n, &len, &repl));
    if (len) {
        *sp = repl;
        *sp_len = strlen(repl);
        *consumed = len;
        return NULL;
    }
    len = sp_utf8_len((const unsigned char *)in, n);
    if (!len) {
        *sp = "\xEF\xBF\xBD";
        *sp_len = 3;
        *consumed = 1;
    } else {
        *sp = in;
        *sp_len = *consumed = len;
    }
    return NULL;
}

typedef struct {
    char *p;
    size_t n, cap;
} strbuf;

static wanc_err sb_put(strbuf *b, const char *s, size_t n)
{
    if (b->n + n + 1 > b->cap) {
        size_t cap = b->cap ? b->cap : 64;
        while (cap < b->n + n + 1) cap *= 2;
        char *p = realloc(b->p, cap);
        if (!p) WANC_FAIL(WANC_ENOMEM, "tokenizer: out of memory");
        b->p = p;
        b->cap = cap;
    }
    memcpy(b->p + b->n, s, n);
    b->n += n;
    b->p[b->n] = 0;
    return NULL;
}

#define SPACE_SYMBOL "\xE2\x96\x81"

static wanc_err normalize_into(const wanc_tokenizer *tok, const char *in, size_t n, strbuf *out)
{
    TRY(sb_put(out, "", 0));
    const char *sp;
    size_t sp_len, used;
    if (tok->remove_extra_ws) { /* drop leading spaces (after normalisation) */
        while (n) {
            TRY(normalize_prefix(tok, in, n, &sp, &sp_len, &used));
            if (!(sp_len == 1 && sp[0] == ' ')) break;
            in += used;
            n -= used;
        }
    }
    if (!n) return NULL;
    const char *ws = tok->escape_ws ? SPACE_SYMBOL : " ";
    size_t ws_len = strlen(ws);
    if (!tok->ws_as_suffix && tok->add_dummy_prefix) TRY(sb_put(out, ws, ws_len));
    bool prev_space = tok->remove_extra_ws;
    while (n) {
        TRY(normalize_prefix(tok, in, n, &sp, &sp_len, &used));
        while (prev_space && sp_len && sp[0] == ' ') {
            sp++;
            sp_len--;
        }
        if (sp_len) {
            for (size_t i = 0; i < sp_len; i++) {
                if (tok->escape_ws && sp[i] == ' ') TRY(sb_put(out, SPACE_SYMBOL, 3));
                else TRY(sb_put(out, sp + i, 1));
            }
            prev_space = sp[sp_len - 1] == ' ';
        }
        in += used;
        n -= used;
        if (!tok->remove_extra_ws) prev_space = false;
    }
    if (tok->remove_extra_ws)
        while (out->n >= ws_len && memcmp(out->p + out->n - ws_len, ws, ws_len) == 0) out->p[out->n -= ws_len] = 0;
    if (tok->ws_as_suffix && tok->add_dummy_prefix) TRY(sb_put(out, ws, ws_len));
    return NULL;
}

wanc_err wanc_tokenizer_normalize(const wanc_tokenizer *tok, const char *text, size_t len, char **out,
                                  size_t *out_len)
{
    strbuf b = {0};
    wanc_err err = normalize_into(tok, text, len, &b);
    if (err) {
        free(b.p);
        *out = NULL;
        return err;
    }
    *out = b.p;
    if (out_len) *out_len = b.n;
    return NULL;
}

/* ---- Viterbi ------------------------------------------------------------------ */

typedef struct {
    float score;
    int32_t starts_at; /* -1: not reached yet */
    int32_t id;
} best_node;

static size_t one_char_len(unsigned char c)
{
    static const unsigned char len[16] = {1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 2, 2, 3, 4};
    return len[c >> 4];
}

/* Emit ids for normalized[0..size); *n counts all, at most cap written. */
static wanc_err viterbi(const wanc_tokenizer *tok, const char *s, size_t size, int64_t *ids, size_t cap, size_t *n)
{
    *n = 0;
    if (!size) return NULL;
    if (size > INT32_MAX - 1) WANC_FAIL(WANC_EINVAL, "tokenizer: text of %zu bytes is too long", size);
    best_node *best = malloc((size + 1) * sizeof *best);
    int32_t *path = malloc((size + 1) * sizeof *path);
    if (!best || !path) {
        free(best);
        free(path);
        WANC_FAIL(WANC_ENOMEM, "tokenizer: out of memory for a %zu-byte lattice", size);
    }
    for (size_t i = 0; i <= size; i++) best[i] = (best_node){0.0f, -1, -1};
    const float unk_score = tok->min_score - 10.0f;
    size_t start = 0;
    while (start < size) {
        const float till_here = best[start].score;
        size_t mblen = one_char_len((unsigned char)s[start]);
        if (mblen > size - start) mblen = size - start;
        bool has_single = false;
        uint32_t hv = FNV_INIT;
        for (size_t l = 1; l <= tok->max_len && start + l <= size; l++) {
            hv = fnv_step(hv, (unsigned char)s[start + l - 1]);
            int32_t id = hash_find(tok, &tok->matchable, s + start, l, hv);
            if (id < 0) continue;
            const tok_piece *p = &tok->pieces[id];
            if (p->type == TOK_UNUSED) continue;
            /* As in the C++: user-defined score is computed in double. */
            double score = p->type == TOK_USER_DEFINED ? (double)((float)l * tok->max_score) - 0.1 : (double)p->score;
            double cand = score + (double)till_here;
            best_node *t = &best[start + l];
            if (t->starts_at == -1 || cand > (double)t->score) {
                t->score = (float)cand;
                t->starts_at = (int32_t)start;
                t->id = id;
            }
            if (l == mblen) has_single = true;
        }
        if (!has_single) {
            best_node *t = &best[start + mblen];
            double cand = (double)unk_score + (double)till_here;
            if (t->starts_at == -1 || cand > (double)t->score) {
                t->score = (float)cand;
                t->starts_at = (int32_t)start;
                t->id = tok->unk_id;
            }
        }
        start += mblen;
    }
    /* Backtrack: path holds the piece end positions, last first. */
    size_t npath = 0;
    for (size_t end = size; end > 0;) {
        if (best[end].starts_at < 0 || (size_t)best[end].starts_at >= end) {
            free(best);
            free(path);
            WANC_FAIL(WANC_EINTERNAL, "tokenizer: broken lattice at byte %zu", end);
        }
        path[npath++] = (int32_t)end;
        end = (size_t)best[end].starts_at;
    }
    bool prev_unk = false;
    for (size_t k = npath; k-- > 0;) {
        size_t end = (size_t)path[k], begin = (size_t)best[end].starts_at;
        int32_t id = best[end].id;
        bool is_unk = id == tok->unk_id;
        if (is_unk && tok->byte_fallback) {
            for (size_t i = begin; i < end; i++) {
                if (*n < cap) ids[*n] = tok->byte_ids[(unsigned char)s[i]];
                (*n)++;
            }
        } else if (!(is_unk && prev_unk)) { /* consecutive unknowns merge into one <unk> */
            if (*n < cap) ids[*n] = id;
            (*n)++;
        }
        prev_unk = is_unk;
    }
    free(best);
    free(path);
    return NULL;
}

wanc_err wanc_tokenizer_encode(const wanc_tokenizer *tok, const char *text, int64_t *ids, size_t cap, size_t *n)
{
    *n = 0;
    if (!tok || !text) WANC_FAIL(WANC_EINVAL, "wanc_tokenizer_encode: NULL argument");
    strbuf b = {0};
    wanc_err err = normalize_into(tok, text, strlen(text), &b);
    if (!err) err = viterbi(tok, b.p, b.n, ids, cap, n);
    free(b.p);
    return err;
}

/* ---- the Wan wrapper -------------------------------------------------------------- */

wanc_err wanc_wan_prompt_ids(const wanc_tokenizer *tok, const char *prompt, int64_t ids[WANC_WAN_TEXT_LEN],
                             uint8_t mask[WANC_WAN_TEXT_LEN], int *n_tokens)
{
    if (!tok || !prompt) WANC_FAIL(WANC_EINVAL, "wanc_wan_prompt_ids: NULL argument");
    if (tok->eos_id < 0) WANC_FAIL(WANC_ENOTFOUND, "%s: the vocabulary has no </s> piece", tok->source);
    if (tok->pad_id < 0) WANC_FAIL(WANC_ENOTFOUND, "%s: the vocabulary has no <pad> piece", tok->source);
    char *clean;
    TRY(wanc_wan_clean_prompt(prompt, &clean));
    size_t n;
    /* HF truncation: keep the first 511 ids, then </s>. */
    wanc_err err = wanc_tokenizer_encode(tok, clean, ids, WANC_WAN_TEXT_LEN - 1, &n);
    free(clean);
    if (err) return wanc_error_context(err, "encoding the prompt");
    if (n > WANC_WAN_TEXT_LEN - 1) n = WANC_WAN_TEXT_LEN - 1;
    ids[n++] = tok->eos_id;
    for (size_t i = 0; i < WANC_WAN_TEXT_LEN; i++) {
        if (i >= n) ids[i] = tok->pad_id;
        mask[i] = i < n;
    }
    if (n_tokens) *n_tokens = (int)n;
    return NULL;
}
