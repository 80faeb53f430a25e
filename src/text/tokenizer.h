/* The UMT5 tokenizer (SentencePiece unigram) and Wan's prompt wrapper.
 *
 * Loading: `wanc_tokenizer_load(&tok, path)` takes a folder (google/umt5-xxl/)
 * or a file. In a folder, spiece.model is preferred over tokenizer.json when
 * both exist (the sentencepiece library is the reference for ids). Either file
 * becomes the same in-memory model: pieces with scores and types, the
 * normaliser (precompiled charsmap + whitespace options) and byte fallback.
 *
 * Encoding follows the sentencepiece library (0.1.9x, unigram, optimized
 * Viterbi): normalise, Viterbi over piece scores, unknown characters to byte
 * pieces <0xXX> when byte_fallback is on, else to <unk> (consecutive unknowns
 * merged). No bos/eos is added by `wanc_tokenizer_encode`.
 *
 * The Wan wrapper reproduces DiffSynth's HuggingfaceTokenizer(seq_len=512,
 * clean='whitespace'): clean the prompt (ftfy subset, html.unescape twice,
 * strip, collapse Unicode whitespace), encode, keep at most 511 ids, append
 * </s>, pad with <pad> to 512; mask 1 up to and including </s>.
 */
#ifndef WANC_TEXT_TOKENIZER_H
#define WANC_TEXT_TOKENIZER_H

#include <stddef.h>
#include <stdint.h>

#include "core/error.h"

#define WANC_WAN_TEXT_LEN 512

typedef struct wanc_tokenizer wanc_tokenizer;

/* Load from a folder holding spiece.model and/or tokenizer.json, or from one
 * of those files directly. Errors: WANC_EIO (folder/file missing: names the
 * folder and the files looked for), WANC_EFORMAT (truncated or garbage file),
 * WANC_EUNSUPPORTED (a model type other than unigram). */
wanc_err wanc_tokenizer_load(wanc_tokenizer **out, const char *dir_or_file);
/* Load one specific file format. */
wanc_err wanc_tokenizer_load_spiece(wanc_tokenizer **out, const char *path);
wanc_err wanc_tokenizer_load_json(wanc_tokenizer **out, const char *path);
void wanc_tokenizer_free(wanc_tokenizer *tok);

/* Number of pieces (ids are 0 .. n-1). */
int wanc_tokenizer_vocab_size(const wanc_tokenizer *tok);
/* The bytes of piece `id` (not NUL-terminated; *len receives its length), NULL when out of range. */
const char *wanc_tokenizer_piece(const wanc_tokenizer *tok, int id, size_t *len);
/* Id of a piece by its text, -1 when absent. */
int wanc_tokenizer_piece_id(const wanc_tokenizer *tok, const char *piece);
/* Which file the model came from ("spiece.model" or "tokenizer.json" path). */
const char *wanc_tokenizer_source(const wanc_tokenizer *tok);

/* The sentencepiece normaliser alone: UTF-8 in (len bytes), a malloc'ed
 * NUL-terminated UTF-8 string out (spaces escaped as U+2581). */
wanc_err wanc_tokenizer_normalize(const wanc_tokenizer *tok, const char *text, size_t len, char **out,
                                  size_t *out_len);

/* Encode NUL-terminated UTF-8 text to ids (no eos). Writes min(*n, cap) ids;
 * *n receives the full count, so a call with cap 0 measures. */
wanc_err wanc_tokenizer_encode(const wanc_tokenizer *tok, const char *text, int64_t *ids, size_t cap, size_t *n);

/* DiffSynth's Wan cleaning ('whitespace'): malloc'ed NUL-terminated UTF-8.
 * Invalid UTF-8 in the prompt becomes U+FFFD (as Python's 'replace'). */
wanc_err wanc_wan_clean_prompt(const char *prompt, char **out);

/* The 512-token rows the Wan text encoder takes: ids [512] (int64, as torch),
 * mask [512] (1 = token incl. </s>, 0 = padding). *n_tokens (may be NULL)
 * receives the number of mask ones (1..512). */
wanc_err wanc_wan_prompt_ids(const wanc_tokenizer *tok, const char *prompt, int64_t ids[WANC_WAN_TEXT_LEN],
                             uint8_t mask[WANC_WAN_TEXT_LEN], int *n_tokens);

#endif
