/* The in-memory tokenizer model shared by the loaders (spiece_model.c,
 * tokenizer_json.c) and the encoder (tokenizer.c). Not a public header. */
#ifndef WANC_TEXT_TOKENIZER_INTERNAL_H
#define WANC_TEXT_TOKENIZER_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "text/tokenizer.h"

/* sentencepiece ModelProto.SentencePiece.Type values */
enum { TOK_NORMAL = 1, TOK_UNKNOWN = 2, TOK_CONTROL = 3, TOK_USER_DEFINED = 4, TOK_UNUSED = 5, TOK_BYTE = 6 };
/* TrainerSpec.ModelType */
enum { TOK_MODEL_UNIGRAM = 1, TOK_MODEL_BPE = 2, TOK_MODEL_WORD = 3, TOK_MODEL_CHAR = 4 };

typedef struct {
    uint32_t off, len; /* bytes in tok->strings */
    float score;
    uint8_t type;
} tok_piece;

/* Open-addressing hash of piece ids keyed by their bytes. */
typedef struct {
    int32_t *slots; /* -1 = empty */
    uint32_t mask;
} tok_hash;

struct wanc_tokenizer {
    char source[4096];
    char *strings;
    size_t strings_len, strings_cap;
    tok_piece *pieces;
    int32_t npieces, pieces_cap;

    tok_hash matchable; /* NORMAL, USER_DEFINED, UNUSED: what the Viterbi lattice can use */
    tok_hash reserved;  /* CONTROL, UNKNOWN, BYTE: looked up first by piece_id */
    tok_hash user;      /* USER_DEFINED only: the normaliser's pass-through prefix matcher */
    uint32_t max_len, max_user_len;
    float min_score, max_score;
    int unk_id, eos_id, pad_id;
    bool byte_fallback;
    int byte_ids[256];
    int model_type;

    /* normaliser */
    uint32_t *units; /* Darts double-array units (host order) */
    size_t nunits;
    char *norm_blob; /* NUL-separated replacement strings */
    size_t norm_len;
    bool add_dummy_prefix, remove_extra_ws, escape_ws, ws_as_suffix;
};

wanc_err tok_new(wanc_tokenizer **out, const char *source);
/* Append a piece (ids are given in order). */
wanc_err tok_add_piece(wanc_tokenizer *tok, const char *s, size_t len, float score, int type);
/* Install a precompiled charsmap blob (<u32 trie size LE><trie units LE><strings>); an empty blob = identity. */
wanc_err tok_set_charsmap(wanc_tokenizer *tok, const uint8_t *blob, size_t n);
/* Build the lookup tables and validate (unk defined, no duplicates, byte pieces). */
wanc_err tok_finish(wanc_tokenizer *tok);

/* Longest-prefix lookup in the charsmap over in[0..n): returns the match
 * length (0 = none) and the replacement (NUL-terminated, in norm_blob). */
wanc_err tok_charsmap_match(const wanc_tokenizer *tok, const char *in, size_t n, size_t *len, const char **repl);
/* Read a whole file (malloc'ed). */
wanc_err tok_read_file(const char *path, uint8_t **out, size_t *n);

#endif
