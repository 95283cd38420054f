/* tokenizer.h — Qwen's byte-level BPE tokenizer (Hugging Face `tokenizers` semantics).
 *
 * Encoding, as the reference does it:
 *   1. added tokens (<|im_start|>, <|image_pad|>, ...) are split out first, longest match, on the raw text;
 *   2. the rest is NFC-normalized (utf8proc);
 *   3. and split into pieces by the pre-tokenizer's regex (PCRE2 with Unicode classes), read from the file;
 *   4. each piece's UTF-8 bytes are mapped to printable characters (the byte-level alphabet);
 *   5. BPE merges the adjacent pair of lowest rank until none applies; symbols are looked up in the vocabulary.
 * Decoding maps tokens back to bytes; bytes that are not valid UTF-8 become U+FFFD, one per maximal invalid
 * subsequence, as Rust's String::from_utf8_lossy (which the reference uses) does.
 *
 * Files: tokenizer.json, or vocab.json + merges.txt (+ added tokens from tokenizer_config.json). */
#ifndef VT_TOKENIZER_H
#define VT_TOKENIZER_H

#include <stddef.h>
#include <stdint.h>

typedef struct vt_tokenizer vt_tokenizer;

/* `path` is a tokenizer.json file or a directory holding tokenizer.json or vocab.json + merges.txt. */
int vt_tokenizer_load(vt_tokenizer **out, const char *path);
/* The same from tokenizer.json text in memory (`name` is used in messages). */
int vt_tokenizer_load_json(vt_tokenizer **out, const char *json, size_t len, const char *name);
void vt_tokenizer_free(vt_tokenizer *t);

/* Token ids of UTF-8 text (invalid UTF-8 is an error naming the byte offset).  *ids is malloc'd. */
int vt_tokenizer_encode(const vt_tokenizer *t, const char *text, size_t len, int32_t **ids, size_t *n);
/* Text of ids (NUL-terminated, *len without the NUL), valid UTF-8: bytes that do not form a character become
 * U+FFFD, as Hugging Face's decoder gives them.  Unknown ids are an error.  *text is malloc'd. */
int vt_tokenizer_decode(const vt_tokenizer *t, const int32_t *ids, size_t n, char **text, size_t *len);
/* The bytes the ids stand for, as they are: a character may be cut between two tokens (what a stream of
 * tokens holds back until it is whole).  NUL-terminated, *len without the NUL; *bytes is malloc'd. */
int vt_tokenizer_decode_bytes(const vt_tokenizer *t, const int32_t *ids, size_t n, char **bytes, size_t *len);
/* Id of a token by its string (added tokens included), or -1. */
int32_t vt_tokenizer_token_id(const vt_tokenizer *t, const char *token);
size_t vt_tokenizer_vocab_size(const vt_tokenizer *t); /* largest id + 1 */
/* How many bytes of (NFC-normalized) text token `id` stands for: an added token's string length, else the
 * length of its byte-level string in bytes.  -1 for an id not in the vocabulary.  Summed over an encoding, it
 * gives each token's end offset in the normalized text (the chat template's loss mask uses this). */
long vt_tokenizer_token_bytes(const vt_tokenizer *t, int32_t id);
/* A hash of what decides the ids (vocabulary, merges, added tokens, pattern): cache keys use it. */
uint64_t vt_tokenizer_fingerprint(const vt_tokenizer *t);

#endif
