/* DiffSynth's prompt cleaning for Wan (clean='whitespace'):
 *
 *   text = ftfy.fix_text(text)                     (ftfy 6.3.1, default config)
 *   text = html.unescape(html.unescape(text)).strip()
 *   text = regex.sub(r'\s+', ' ', text).strip()
 *
 * ftfy.fix_text: implemented are its line-by-line segmentation (with the
 * sticky "a '<' switches HTML unescaping off" rule), the loop to a fixed
 * point, and these fixers in ftfy's order:
 *   unescape_html     '&name;' / '&#..;' as ftfy decides (html5 names ending
 *                     in ';', ftfy's upper-case extras, numeric refs only when
 *                     html.unescape consumes the ';')
 *   fix_encoding      only the main case: the whole non-ASCII text encodes to
 *                     latin-1 / sloppy windows-1252 bytes that are valid UTF-8
 *                     with a multi-byte sequence -> decoded ("cafÃ©" -> "café").
 *                     NOT implemented: ftfy's badness heuristic (we decode
 *                     whenever the bytes are valid UTF-8), other single-byte
 *                     encodings (1251, 1250, iso-8859-2, macroman, cp437),
 *                     restore_byte_a0, replace_lossy_sequences,
 *                     decode_inconsistent_utf8 (mojibake inside otherwise
 *                     non-Latin-1 text), utf-8-variants (CESU/Java).
 *   fix_c1_controls   U+0080..U+009F -> sloppy windows-1252
 *   fix_latin_ligatures, fix_character_width (U+3000 and U+FF01..U+FFEF, NFKC),
 *   uncurl_quotes, fix_line_breaks, remove_terminal_escapes (ESC [ digits/; letter,
 *                     ASCII digits only: Python's \d would also take other Nd digits),
 *   remove_control_chars, NFC.
 *   fix_surrogates has nothing to do: UTF-8 input cannot hold surrogates.
 * html.unescape: Python's full semantics: numeric references with the
 * invalid-charref table (0x80..0x9F as windows-1252, 0 -> U+FFFD, 0x0D) and
 * dropped invalid code points, surrogates/out of range -> U+FFFD; named
 * references over the complete HTML5 table (2231 names, generated into
 * text_tables.c), including the no-semicolon longest-prefix rule.
 * \s and strip(): \s is the Unicode White_Space set of the `regex` module;
 * str.strip() additionally strips U+001C..U+001F.
 */
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "text/text_clean.h"
#include "text/text_tables.h"
#include "text/tokenizer.h"

/* ---- code point buffers ----------------------------------------------------- */

static wanc_err cps_push(wanc_cps *b, uint32_t c)
{
    if (b->n == b->cap) {
        size_t cap = b->cap ? b->cap * 2 : 64;
        uint32_t *p = realloc(b->c, cap * sizeof *p);
        if (!p) WANC_FAIL(WANC_ENOMEM, "text cleaning: out of memory");
        b->c = p;
        b->cap = cap;
    }
    b->c[b->n++] = c;
    return NULL;
}

static wanc_err cps_push_utf8(wanc_cps *b, const char *s)
{
    wanc_cps t = {0};
    TRY(wanc_cps_from_utf8(&t, s, strlen(s)));
    wanc_err err = NULL;
    for (size_t i = 0; i < t.n && !err; i++) err = cps_push(b, t.c[i]);
    wanc_cps_free(&t);
    return err;
}

void wanc_cps_free(wanc_cps *c)
{
    free(c->c);
    *c = (wanc_cps){0};
}

/* Replace *t by *o (o's buffer moves into t). */
static void cps_swap(wanc_cps *t, wanc_cps *o)
{
    free(t->c);
    *t = *o;
    *o = (wanc_cps){0};
}

static bool cps_equal(const wanc_cps *a, const wanc_cps *b)
{
    return a->n == b->n && (a->n == 0 || memcmp(a->c, b->c, a->n * sizeof *a->c) == 0);
}

static wanc_err cps_copy(wanc_cps *dst, const wanc_cps *src)
{
    *dst = (wanc_cps){0};
    for (size_t i = 0; i < src->n; i++) TRY(cps_push(dst, src->c[i]));
    return NULL;
}

wanc_err wanc_cps_from_utf8(wanc_cps *out, const char *str, size_t n)
{
    const unsigned char *s = (const unsigned char *)str;
    *out = (wanc_cps){0};
    size_t i = 0;
    while (i < n) {
        unsigned c = s[i];
        if (c < 0x80) {
            TRY(cps_push(out, c));
            i++;
            continue;
        }
        int need;
        unsigned lo = 0x80, hi = 0xBF; /* allowed range of the first continuation byte */
        uint32_t cp;
        if (c >= 0xC2 && c <= 0xDF) need = 1, cp = c & 0x1F;
        else if (c >= 0xE0 && c <= 0xEF) {
            need = 2, cp = c & 0x0F;
            if (c == 0xE0) lo = 0xA0;
            if (c == 0xED) hi = 0x9F;
        } else if (c >= 0xF0 && c <= 0xF4) {
            need = 3, cp = c & 0x07;
            if (c == 0xF0) lo = 0x90;
            if (c == 0xF4) hi = 0x8F;
        } else {
            TRY(cps_push(out, 0xFFFD));
            i++;
            continue;
        }
        size_t j = i + 1;
        int got = 0;
        while (got < need && j < n) {
            unsigned b = s[j];
            unsigned l = got == 0 ? lo : 0x80, h = got == 0 ? hi : 0xBF;
            if (b < l || b > h) break;
            cp = cp << 6 | (b & 0x3F);
            j++;
            got++;
        }
        TRY(cps_push(out, got == need ? cp : 0xFFFD)); /* a maximal subpart -> one U+FFFD */
        i = j;
    }
    return NULL;
}

wanc_err wanc_cps_to_utf8(const wanc_cps *in, char **out, size_t *n)
{
    char *p = malloc(in->n * 4 + 1);
    if (!p) WANC_FAIL(WANC_ENOMEM, "text cleaning: out of memory");
    size_t k = 0;
    for (size_t i = 0; i < in->n; i++) {
        uint32_t c = in->c[i];
        if (c > 0x10FFFF || (c >= 0xD800 && c <= 0xDFFF)) c = 0xFFFD;
        if (c < 0x80) p[k++] = (char)c;
        else if (c < 0x800) {
            p[k++] = (char)(0xC0 | c >> 6);
            p[k++] = (char)(0x80 | (c & 0x3F));
        } else if (c < 0x10000) {
            p[k++] = (char)(0xE0 | c >> 12);
            p[k++] = (char)(0x80 | ((c >> 6) & 0x3F));
            p[k++] = (char)(0x80 | (c & 0x3F));
        } else {
            p[k++] = (char)(0xF0 | c >> 18);
            p[k++] = (char)(0x80 | ((c >> 12) & 0x3F));
            p[k++] = (char)(0x80 | ((c >> 6) & 0x3F));
            p[k++] = (char)(0x80 | (c & 0x3F));
        }
    }
    p[k] = 0;
    *out = p;
    if (n) *n = k;
    return NULL;
}

/* ---- windows-1252 ---------------------------------------------------------------- */

/* Bytes 0x80..0x9F in "sloppy" windows-1252 (undefined bytes map to themselves),
 * also Python's html invalid-charref table for those numbers. */
static const uint16_t cp1252_c1[32] = {
    0x20AC, 0x0081, 0x201A, 0x0192, 0x201E, 0x2026, 0x2020, 0x2021, 0x02C6, 0x2030, 0x0160,
    0x2039, 0x0152, 0x008D, 0x017D, 0x008F, 0x0090, 0x2018, 0x2019, 0x201C, 0x201D, 0x2022,
    0x2013, 0x2014, 0x02DC, 0x2122, 0x0161, 0x203A, 0x0153, 0x009D, 0x017E, 0x0178};

/* Byte for c in sloppy windows-1252, -1 when not encodable. */
static int cp1252_byte(uint32_t c)
{
    if (c < 0x80 || (c >= 0xA0 && c <= 0xFF)) return (int)c;
    for (int i = 0; i < 32; i++)
        if (cp1252_c1[i] == c) return 0x80 + i;
    return -1;
}

/* ---- html.unescape ------------------------------------------------------------------ */

static const char *entity_lookup(const wanc_entity *tab, int count, const char *name)
{
    int lo = 0, hi = count - 1;
    while (lo <= hi) {
        int mid = (lo + hi) / 2, c = strcmp(tab[mid].name, name);
        if (!c) return tab[mid].value;
        if (c < 0) lo = mid + 1;
        else hi = mid - 1;
    }
    return NULL;
}

static bool is_digit(uint32_t c) { return c >= '0' && c <= '9'; }
static bool is_hex(uint32_t c) { return is_digit(c) || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F'); }
static bool is_alnum(uint32_t c) { return is_digit(c) || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'); }

/* Python's html._replace_charref for a number (saturated at 0x110000). */
static wanc_err push_charref(wanc_cps *o, uint32_t num)
{
    if (num == 0) return cps_push(o, 0xFFFD);
    if (num == 0x0D) return cps_push(o, 0x0D);
    if (num >= 0x80 && num <= 0x9F) return cps_push(o, cp1252_c1[num - 0x80]);
    if ((num >= 0xD800 && num <= 0xDFFF) || num > 0x10FFFF) return cps_push(o, 0xFFFD);
    if ((num >= 0x1 && num <= 0x8) || (num >= 0xE && num <= 0x1F) || (num >= 0x7F && num <= 0x9F) ||
        (num >= 0xFDD0 && num <= 0xFDEF) || num == 0xB || (num & 0xFFFE) == 0xFFFE)
        return NULL; /* invalid code points are dropped */
    return cps_push(o, num);
}

/* Try one reference at t[i] == '&'; returns the number of code points
 * consumed (0 = no match: the '&' is literal) and appends its text to o. */
static wanc_err unescape_at(const uint32_t *t, size_t n, size_t i, wanc_cps *o, size_t *used)
{
    *used = 0;
    size_t j = i + 1;
    if (j < n && t[j] == '#') {
        j++;
        uint32_t num = 0;
        size_t k = j;
        bool hex = k < n && (t[k] == 'x' || t[k] == 'X') && k + 1 < n && is_hex(t[k + 1]);
        if (hex) {
            k++;
            while (k < n && is_hex(t[k])) {
                uint32_t d = is_digit(t[k]) ? t[k] - '0' : (t[k] | 0x20) - 'a' + 10;
                num = num > 0x10FFFF ? num : num * 16 + d;
                k++;
            }
        } else if (k < n && is_digit(t[k])) {
            while (k < n && is_digit(t[k])) {
                num = num > 0x10FFFF ? num : num * 10 + (t[k] - '0');
                k++;
            }
        } else return NULL;
        if (k < n && t[k] == ';') k++;
        TRY(push_charref(o, num));
        *used = k - i;
        return NULL;
    }
    /* [^\t\n\f <&#;]{1,32};? */
    size_t k = j;
    while (k < n && k - j < 32 && t[k] != '\t' && t[k] != '\n' && t[k] != '\f' && t[k] != ' ' && t[k] != '<' &&
           t[k] != '&' && t[k] != '#' && t[k] != ';')
        k++;
    if (k == j) return NULL;
    if (k < n && t[k] == ';') k++;
    /* The name as ASCII (entity names are ASCII; a non-ASCII char ends any match). */
    char name[40];
    size_t len = 0;
    while (j + len < k && t[j + len] < 0x80) {
        name[len] = (char)t[j + len];
        len++;
    }
    name[len] = 0;
    size_t slen = k - j, x = slen;
    const char *v = len == slen ? entity_lookup(wanc_html5_entities, wanc_html5_entity_count, name) : NULL;
    if (!v) /* the longest prefix of at least 2 chars that is a name (only ASCII prefixes can be) */
        for (x = slen - 1 < len ? slen - 1 : len; x > 1; x--) {
            name[x] = 0;
            if ((v = entity_lookup(wanc_html5_entities, wanc_html5_entity_count, name))) break;
        }
    if (!v) {
        TRY(cps_push(o, '&'));
        for (size_t q = j; q < k; q++) TRY(cps_push(o, t[q]));
    } else {
        TRY(cps_push_utf8(o, v));
        for (size_t q = j + x; q < k; q++) TRY(cps_push(o, t[q]));
    }
    *used = k - i;
    return NULL;
}

wanc_err wanc_html_unescape(wanc_cps *t)
{
    wanc_cps o = {0};
    wanc_err err = NULL;
    for (size_t i = 0; i < t->n && !err;) {
        size_t used = 0;
        if (t->c[i] == '&') err = unescape_at(t->c, t->n, i, &o, &used);
        if (err) break;
        if (used) i += used;
        else err = cps_push(&o, t->c[i++]);
    }
    if (err) {
        wanc_cps_free(&o);
        return err;
    }
    cps_swap(t, &o);
    return NULL;
}

/* ---- NFC ---------------------------------------------------------------------------- */

static int ccc_of(uint32_t c)
{
    int lo = 0, hi = wanc_ccc_range_count - 1;
    while (lo <= hi) {
        int mid = (lo + hi) / 2;
        if (c < wanc_ccc_ranges[mid].first) hi = mid - 1;
        else if (c > wanc_ccc_ranges[mid].last) lo = mid + 1;
        else return wanc_ccc_ranges[mid].ccc;
    }
    return 0;
}

static const wanc_decomp *decomp_of(uint32_t c)
{
    int lo = 0, hi = wanc_decomp_count - 1;
    while (lo <= hi) {
        int mid = (lo + hi) / 2;
        if (c < wanc_decomps[mid].cp) hi = mid - 1;
        else if (c > wanc_decomps[mid].cp) lo = mid + 1;
        else return &wanc_decomps[mid];
    }
    return NULL;
}

enum { SBASE = 0xAC00, LBASE = 0x1100, VBASE = 0x1161, TBASE = 0x11A7, LCOUNT = 19, VCOUNT = 21, TCOUNT = 28,
       NCOUNT = VCOUNT * TCOUNT, SCOUNT = LCOUNT * NCOUNT };

static wanc_err decompose(wanc_cps *o, uint32_t c, int depth)
{
    if (c >= SBASE && c < SBASE + SCOUNT) {
        uint32_t s = c - SBASE;
        TRY(cps_push(o, LBASE + s / NCOUNT));
        TRY(cps_push(o, VBASE + (s % NCOUNT) / TCOUNT));
        if (s % TCOUNT) TRY(cps_push(o, TBASE + s % TCOUNT));
        return NULL;
    }
    const wanc_decomp *d = depth < 8 ? decomp_of(c) : NULL;
    if (!d) return cps_push(o, c);
    TRY(decompose(o, d->a, depth + 1));
    if (d->b) TRY(decompose(o, d->b, depth + 1));
    return NULL;
}

static uint32_t compose_pair(uint32_t a, uint32_t b)
{
    if (a >= LBASE && a < LBASE + LCOUNT && b >= VBASE && b < VBASE + VCOUNT)
        return SBASE + ((a - LBASE) * VCOUNT + (b - VBASE)) * TCOUNT;
    if (a >= SBASE && a < SBASE + SCOUNT && (a - SBASE) % TCOUNT == 0 && b > TBASE && b < TBASE + TCOUNT)
        return a + (b - TBASE);
    int lo = 0, hi = wanc_composition_count - 1;
    while (lo <= hi) {
        int mid = (lo + hi) / 2;
        const wanc_compose *p = &wanc_compositions[mid];
        if (a < p->a || (a == p->a && b < p->b)) hi = mid - 1;
        else if (a > p->a || b > p->b) lo = mid + 1;
        else return p->cp;
    }
    return 0;
}

wanc_err wanc_nfc(wanc_cps *t)
{
    wanc_cps d = {0};
    wanc_err err = NULL;
    for (size_t i = 0; i < t->n && !err; i++) err = decompose(&d, t->c[i], 0);
    if (err) {
        wanc_cps_free(&d);
        return err;
    }
    /* Canonical ordering: stable insertion sort of each run of non-starters. */
    for (size_t i = 1; i < d.n; i++) {
        int cc = ccc_of(d.c[i]);
        if (!cc) continue;
        size_t j = i;
        uint32_t c = d.c[i];
        while (j > 0 && ccc_of(d.c[j - 1]) > cc) {
            d.c[j] = d.c[j - 1];
            j--;
        }
        d.c[j] = c;
    }
    /* Canonical composition. */
    size_t out = 0;
    long starter = -1;
    for (size_t i = 0; i < d.n; i++) {
        uint32_t c = d.c[i];
        int cc = ccc_of(c);
        if (starter >= 0) {
            bool adjacent = (size_t)starter == out - 1;
            int prev_cc = adjacent ? -1 : ccc_of(d.c[out - 1]);
            if (adjacent || (prev_cc != 0 && prev_cc < cc)) {
                uint32_t comp = compose_pair(d.c[starter], c);
                if (comp) {
                    d.c[starter] = comp;
                    continue;
                }
            }
        }
        if (cc == 0) starter = (long)out;
        d.c[out++] = c;
    }
    d.n = out;
    cps_swap(t, &d);
    return NULL;
}

/* ---- ftfy ------------------------------------------------------------------------------ */

/* ftfy's unescape_html: "&#?[0-9A-Za-z]{1,24};" */
static wanc_err ftfy_unescape_html(wanc_cps *t)
{
    wanc_cps o = {0};
    wanc_err err = NULL;
    size_t i = 0;
    while (i < t->n && !err) {
        uint32_t *c = t->c;
        if (c[i] == '&') {
            size_t j = i + 1;
            bool num = j < t->n && c[j] == '#';
            if (num) j++;
            size_t k = j;
            while (k < t->n && is_alnum(c[k])) k++;
            if (k > j && k - j <= 24 && k < t->n && c[k] == ';') {
                size_t end = k + 1;
                const char *v = NULL;
                char name[32];
                if (!num) {
                    size_t len = 0;
                    for (size_t q = j; q <= k; q++) name[len++] = (char)c[q];
                    name[len] = 0;
                    v = entity_lookup(wanc_html5_entities, wanc_html5_entity_count, name);
                    if (!v) v = entity_lookup(wanc_upper_entities, wanc_upper_entity_count, name);
                    if (v) err = cps_push_utf8(&o, v);
                    else
                        for (size_t q = i; q < end && !err; q++) err = cps_push(&o, c[q]);
                } else {
                    /* html.unescape of the match; kept only if it consumed the ';'. */
                    wanc_cps m = {0};
                    for (size_t q = i; q < end && !err; q++) err = cps_push(&m, c[q]);
                    if (!err) err = wanc_html_unescape(&m);
                    bool semi = false;
                    for (size_t q = 0; q < m.n; q++) semi |= m.c[q] == ';';
                    for (size_t q = 0; q < m.n && !err && !semi; q++) err = cps_push(&o, m.c[q]);
                    for (size_t q = i; q < end && !err && semi; q++) err = cps_push(&o, c[q]);
                    wanc_cps_free(&m);
                }
                i = end;
                continue;
            }
        }
        err = cps_push(&o, c[i++]);
    }
    if (err) {
        wanc_cps_free(&o);
        return err;
    }
    cps_swap(t, &o);
    return NULL;
}

/* The main fix_encoding case (see the top comment). */
static wanc_err ftfy_fix_encoding(wanc_cps *t)
{
    for (;;) {
        bool ascii = true;
        for (size_t i = 0; i < t->n; i++) ascii &= t->c[i] < 0x80;
        if (ascii) return NULL;
        char *bytes = malloc(t->n + 1);
        if (!bytes) WANC_FAIL(WANC_ENOMEM, "text cleaning: out of memory");
        bool ok = true, multibyte = false;
        for (size_t i = 0; i < t->n && ok; i++) {
            int b = t->c[i] <= 0xFF ? (int)t->c[i] : cp1252_byte(t->c[i]);
            ok = b >= 0;
            bytes[i] = (char)b;
        }
        for (size_t i = 0; ok && i < t->n; i++) {
            unsigned char b = (unsigned char)bytes[i];
            if (b == 0xED || b == 0xC0) ok = false; /* utf-8-variants: not handled */
            if (b >= 0x80) multibyte = true;
        }
        wanc_cps dec = {0};
        if (ok && multibyte) {
            wanc_err err = wanc_cps_from_utf8(&dec, bytes, t->n);
            if (err) {
                free(bytes);
                return err;
            }
            for (size_t i = 0; i < dec.n && ok; i++) ok = dec.c[i] != 0xFFFD; /* strict decode must succeed */
        }
        free(bytes);
        if (!ok || !multibyte || cps_equal(&dec, t)) {
            wanc_cps_free(&dec);
            return NULL;
        }
        cps_swap(t, &dec);
    }
}

static bool is_control_removed(uint32_t c)
{
    return c <= 0x08 || c == 0x0B || (c >= 0x0E && c <= 0x1F) || c == 0x7F || (c >= 0x206A && c <= 0x206F) ||
           c == 0xFEFF || (c >= 0xFFF9 && c <= 0xFFFC);
}

static const char *ligature(uint32_t c)
{
    switch (c) {
    case 0x0132: return "IJ";
    case 0x0133: return "ij";
    case 0x0149: return "\xCA\xBCn";
    case 0x01F1: return "DZ";
    case 0x01F2: return "Dz";
    case 0x01F3: return "dz";
    case 0x01C4: return "D\xC5\xBD";
    case 0x01C5: return "D\xC5\xBE";
    case 0x01C6: return "d\xC5\xBE";
    case 0x01C7: return "LJ";
    case 0x01C8: return "Lj";
    case 0x01C9: return "lj";
    case 0x01CA: return "NJ";
    case 0x01CB: return "Nj";
    case 0x01CC: return "nj";
    case 0xFB00: return "ff";
    case 0xFB01: return "fi";
    case 0xFB02: return "fl";
    case 0xFB03: return "ffi";
    case 0xFB04: return "ffl";
    case 0xFB05: return "\xC5\xBFt";
    case 0xFB06: return "st";
    default: return NULL;
    }
}

static const char *width_of(uint32_t c)
{
    int lo = 0, hi = wanc_width_map_count - 1;
    while (lo <= hi) {
        int mid = (lo + hi) / 2;
        if (c < wanc_width_map[mid].cp) hi = mid - 1;
        else if (c > wanc_width_map[mid].cp) lo = mid + 1;
        else return wanc_width_map[mid].value;
    }
    return NULL;
}

/* The character-level fixers from fix_c1_controls to remove_control_chars. */
static wanc_err ftfy_char_fixes(wanc_cps *t)
{
    wanc_cps a = {0}, b = {0};
    wanc_err err = NULL;
    /* fix_c1_controls, fix_latin_ligatures, fix_character_width, uncurl_quotes */
    for (size_t i = 0; i < t->n && !err; i++) {
        uint32_t c = t->c[i];
        if (c >= 0x80 && c <= 0x9F) c = cp1252_c1[c - 0x80];
        const char *s = ligature(c);
        if (s) {
            err = cps_push_utf8(&a, s);
            continue;
        }
        s = width_of(c);
        if (s) {
            wanc_cps w = {0};
            err = wanc_cps_from_utf8(&w, s, strlen(s));
            for (size_t q = 0; q < w.n && !err; q++) {
                uint32_t x = w.c[q];
                if (x == 0x02BC || (x >= 0x2018 && x <= 0x201B)) x = '\'';
                else if (x >= 0x201C && x <= 0x201F) x = '"';
                err = cps_push(&a, x);
            }
            wanc_cps_free(&w);
            continue;
        }
        if (c == 0x02BC || (c >= 0x2018 && c <= 0x201B)) c = '\'';
        else if (c >= 0x201C && c <= 0x201F) c = '"';
        err = cps_push(&a, c);
    }
    /* fix_line_breaks, remove_terminal_escapes, remove_control_chars */
    for (size_t i = 0; i < a.n && !err; i++) {
        uint32_t c = a.c[i];
        if (c == '\r' && i + 1 < a.n && a.c[i + 1] == '\n') continue;
        if (c == '\r' || c == 0x2028 || c == 0x2029 || c == 0x85) c = '\n';
        a.c[i] = c;
    }
    for (size_t i = 0; i < a.n && !err; i++) {
        uint32_t c = a.c[i];
        if (c == '\r' && i + 1 < a.n && a.c[i + 1] == '\n') continue; /* already dropped above */
        if (c == 0x1B && i + 1 < a.n && a.c[i + 1] == '[') {
            size_t k = i + 2;
            while (k < a.n && (is_digit(a.c[k]) || a.c[k] == ';')) k++;
            if (k < a.n && ((a.c[k] | 0x20) >= 'a' && (a.c[k] | 0x20) <= 'z')) {
                i = k;
                continue;
            }
        }
        if (is_control_removed(c)) continue;
        err = cps_push(&b, c);
    }
    wanc_cps_free(&a);
    if (err) {
        wanc_cps_free(&b);
        return err;
    }
    cps_swap(t, &b);
    return NULL;
}

/* ftfy.fix_and_explain on one segment: every fixer, until nothing changes. */
static wanc_err ftfy_fix_segment(wanc_cps *t, bool unescape)
{
    for (int round = 0; round < 64; round++) {
        wanc_cps orig;
        TRY(cps_copy(&orig, t));
        wanc_err err = NULL;
        if (unescape) err = ftfy_unescape_html(t);
        if (!err) err = ftfy_fix_encoding(t);
        if (!err) err = ftfy_char_fixes(t);
        if (!err) err = wanc_nfc(t);
        bool same = cps_equal(&orig, t);
        wanc_cps_free(&orig);
        if (err) return err;
        if (same) return NULL;
    }
    return NULL;
}

wanc_err wanc_ftfy_fix_text(wanc_cps *t)
{
    wanc_cps out = {0};
    wanc_err err = NULL;
    bool unescape = true; /* "auto": switched off for good by the first segment holding '<' */
    size_t pos = 0;
    while (pos < t->n && !err) {
        size_t end = pos;
        while (end < t->n && t->c[end] != '\n') end++;
        if (end < t->n) end++; /* the segment keeps its '\n' */
        wanc_cps seg = {0};
        for (size_t i = pos; i < end && !err; i++) {
            if (t->c[i] == '<') unescape = false;
            err = cps_push(&seg, t->c[i]);
        }
        if (!err) err = ftfy_fix_segment(&seg, unescape);
        for (size_t i = 0; i < seg.n && !err; i++) err = cps_push(&out, seg.c[i]);
        wanc_cps_free(&seg);
        pos = end;
    }
    if (err) {
        wanc_cps_free(&out);
        return err;
    }
    cps_swap(t, &out);
    return NULL;
}

/* ---- whitespace -------------------------------------------------------------------------- */

static bool is_white_space(uint32_t c) /* Unicode White_Space, the `regex` module's \s */
{
    return (c >= 0x09 && c <= 0x0D) || c == 0x20 || c == 0x85 || c == 0xA0 || c == 0x1680 ||
           (c >= 0x2000 && c <= 0x200A) || c == 0x2028 || c == 0x2029 || c == 0x202F || c == 0x205F || c == 0x3000;
}

static bool is_py_space(uint32_t c) /* str.isspace(), what str.strip() removes */
{
    return is_white_space(c) || (c >= 0x1C && c <= 0x1F);
}

wanc_err wanc_wan_clean_prompt(const char *prompt, char **out)
{
    *out = NULL;
    if (!prompt) WANC_FAIL(WANC_EINVAL, "wanc_wan_clean_prompt: NULL prompt");
    wanc_cps t;
    TRY(wanc_cps_from_utf8(&t, prompt, strlen(prompt)));
    wanc_err err = wanc_ftfy_fix_text(&t);
    if (!err) err = wanc_html_unescape(&t);
    if (!err) err = wanc_html_unescape(&t);
    wanc_cps o = {0};
    if (!err) {
        size_t a = 0, b = t.n;
        while (a < b && is_py_space(t.c[a])) a++;
        while (b > a && is_py_space(t.c[b - 1])) b--;
        for (size_t i = a; i < b && !err; i++) {
            if (is_white_space(t.c[i])) {
                while (i + 1 < b && is_white_space(t.c[i + 1])) i++;
                err = cps_push(&o, ' ');
            } else err = cps_push(&o, t.c[i]);
        }
        /* the final strip(): only the collapsed ' ' can remain at the ends */
        size_t s = 0, e = o.n;
        while (s < e && is_py_space(o.c[s])) s++;
        while (e > s && is_py_space(o.c[e - 1])) e--;
        if (!err && (s || e != o.n)) {
            memmove(o.c, o.c + s, (e - s) * sizeof *o.c);
            o.n = e - s;
        }
    }
    if (!err) err = wanc_cps_to_utf8(&o, out, NULL);
    wanc_cps_free(&t);
    wanc_cps_free(&o);
    return err;
}
