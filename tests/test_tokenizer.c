/* The tokenizer on a tiny hand-made vocabulary, where every expected id follows from the merge rules by hand. */
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "test.h"
#include "generate/stream.h"
#include "text/tokenizer.h"
#include "util/fs.h"

/* Pushes ids one at a time; the pieces handed out, joined. */
static void stream_text(const vt_tokenizer *t, const int32_t *ids, size_t n, char *out, size_t cap, int *pieces) {
    vt_text_stream s = {.tok = t};
    size_t used = 0;
    *pieces = 0, out[0] = '\0';
    for (size_t i = 0; i < n; i++) {
        const char *piece;
        size_t len;
        CHECK_OK(vt_text_stream_push(&s, ids[i], &piece, &len));
        if (len && used + len < cap) memcpy(out + used, piece, len), used += len, out[used] = '\0', ++*pieces;
    }
    vt_text_stream_free(&s);
}

/* 256 byte tokens first (the byte-level alphabet: space is "Ġ" U+0120), then merges. */
static const char *write_tokenizer(void) {
    static char path[64];
    snprintf(path, sizeof path, "/tmp/vt_tok_%d.json", (int)getpid());
    FILE *f = fopen(path, "w");
    fputs("{\"model\": {\"type\": \"BPE\", \"vocab\": {", f);
    int next = 256;
    for (int b = 0; b < 256; b++) { /* byte b's character, in the byte-level alphabet */
        bool printable = (b >= 33 && b <= 126) || (b >= 161 && b <= 172) || (b >= 174 && b <= 255);
        int cp = printable ? b : next++;
        char s[8] = {0};
        if (cp < 0x80) s[0] = (char)cp;
        else s[0] = (char)(0xC0 | (cp >> 6)), s[1] = (char)(0x80 | (cp & 0x3F));
        if (cp == '"' || cp == '\\') fprintf(f, "\"\\%s\": %d, ", s, b);
        else fprintf(f, "\"%s\": %d, ", s, b);
    }
    /* merges (rank order): l+o -> "lo" 256, lo+w -> "low" 257, Ġ+l -> "Ġl" 258, e+r -> 259 */
    fputs("\"lo\": 256, \"low\": 257, \"\\u0120l\": 258, \"er\": 259, \"\\u0120low\": 260},", f);
    fputs("\"merges\": [\"l o\", \"lo w\", \"\\u0120 l\", \"e r\", \"\\u0120 low\"]},", f);
    fputs("\"added_tokens\": [{\"id\": 300, \"content\": \"<|x|>\"}, {\"id\": 301, \"content\": \"<|x|>y\"}]}", f);
    fclose(f);
    return path;
}

static void expect_ids(const vt_tokenizer *t, const char *text, const int32_t *want, size_t n) {
    int32_t *ids = NULL;
    size_t got = 0;
    CHECK_OK(vt_tokenizer_encode(t, text, strlen(text), &ids, &got));
    bool same = got == n && (!n || !memcmp(ids, want, n * sizeof *ids));
    CHECK(same);
    if (!same) {
        fprintf(stderr, "  \"%s\" ->", text);
        for (size_t i = 0; i < got; i++) fprintf(stderr, " %d", ids[i]);
        fprintf(stderr, "\n");
    }
    free(ids);
}

int main(void) {
    TEST_BEGIN();
    const char *path = write_tokenizer();
    vt_tokenizer *t = NULL;
    CHECK_OK(vt_tokenizer_load(&t, path));
    if (!t) return TEST_END();
    /* "low": l+o (rank 0) then lo+w (rank 1) */
    expect_ids(t, "low", (int32_t[]){257}, 1);
    /* " lower": the regex keeps the space with the word: Ġlower; Ġ+l (rank 2) competes with l+o (rank 0):
       l+o first -> Ġ lo w e r; lo+w -> Ġ low e r; e+r -> Ġ low er; Ġ+low (rank 4) -> Ġlow er */
    expect_ids(t, " lower", (int32_t[]){260, 259}, 2);
    /* bytes with no merge stay bytes; "\n" is byte 10 */
    expect_ids(t, "a\n", (int32_t[]){'a', 10}, 2);
    /* added tokens win, longest first, anywhere */
    expect_ids(t, "low<|x|>yo<|x|>", (int32_t[]){257, 301, 'o', 300}, 4);
    expect_ids(t, "", NULL, 0);
    CHECK(vt_tokenizer_token_id(t, "<|x|>") == 300 && vt_tokenizer_token_id(t, "nope") == -1);
    /* bytes a token stands for: "low" 3, "Ġlow" 4 (Ġ is the one byte 0x20), a byte 1 whatever its character's
       UTF-8 length (0xE4 is "ä" in the alphabet, 2 bytes of UTF-8), an added token its string */
    CHECK(vt_tokenizer_token_bytes(t, 257) == 3 && vt_tokenizer_token_bytes(t, 260) == 4);
    CHECK(vt_tokenizer_token_bytes(t, 0xE4) == 1 && vt_tokenizer_token_bytes(t, 10) == 1);
    CHECK(vt_tokenizer_token_bytes(t, 301) == 6 && vt_tokenizer_token_bytes(t, 999) == -1);

    char *text;
    size_t len;
    int32_t ids[] = {257, 300, 'a'};
    CHECK_OK(vt_tokenizer_decode(t, ids, 3, &text, &len));
    CHECK(strcmp(text, "low<|x|>a") == 0);
    free(text);
    int32_t broken[] = {0xE4, 0xBD, 'x', 0xFF}; /* a cut 3-byte sequence, then an invalid byte */
    CHECK_OK(vt_tokenizer_decode(t, broken, 4, &text, &len));
    CHECK(strcmp(text, "\xEF\xBF\xBDx\xEF\xBF\xBD") == 0); /* one U+FFFD per maximal invalid subsequence */
    free(text);
    /* a stream hands out whole characters: "苯" (E8 8B AF) cut over three byte tokens comes out once, whole,
       never as U+FFFD for its first bytes; a byte that starts no character is U+FFFD, as in the decode; a
       character still cut at the end is held back */
    char streamed[64];
    int pieces;
    stream_text(t, (int32_t[]){'a', 0xE8, 0x8B, 0xAF, 'b'}, 5, streamed, sizeof streamed, &pieces);
    CHECK(strcmp(streamed, "a\xE8\x8B\xAF" "b") == 0 && pieces == 3);
    stream_text(t, (int32_t[]){0xFF, 'x', 0xE4, 0xBD}, 4, streamed, sizeof streamed, &pieces);
    CHECK(strcmp(streamed, "\xEF\xBF\xBDx") == 0);
    int32_t unknown[] = {999};
    CHECK_FAILS(vt_tokenizer_decode(t, unknown, 1, &text, &len), "token id 999 (position 0) is not in the vocabulary");
    int32_t *out;
    size_t n;
    CHECK_FAILS(vt_tokenizer_encode(t, "ok\xC3", 3, &out, &n), "not valid UTF-8 (at byte 2)");
    vt_tokenizer_free(t);
    CHECK_FAILS(vt_tokenizer_load(&t, "/nonexistent/tokenizer.json"), "no such tokenizer file");
    unlink(path);
    return TEST_END();
}
