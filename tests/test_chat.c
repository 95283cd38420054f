/* The chat template on a tiny hand-made tokenizer, where every expected id and mask bit follows by hand from
 * the format (docs/TOKENIZER.md) and the one merge: "\n\n" -> 300.  The parity with the real tokenizer and
 * transformers is tests/py/test_chat_parity.py; this pins the loss-mask rule at the header boundary and the
 * errors. */
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "test.h"
#include "text/chat.h"

enum { NL2 = 300, IM_START = 400, IM_END, VISION_START, VISION_END, IMAGE_PAD };

/* 256 byte tokens (the byte-level alphabet: "\n" is "Ċ" U+010A), the merge Ċ+Ċ, Qwen's special tokens. */
static const char *write_tokenizer(void) {
    static char path[64];
    snprintf(path, sizeof path, "/tmp/vt_chat_tok_%d.json", (int)getpid());
    FILE *f = fopen(path, "w");
    fputs("{\"model\": {\"type\": \"BPE\", \"vocab\": {", f);
    int next = 256;
    for (int b = 0; b < 256; b++) {
        bool printable = (b >= 33 && b <= 126) || (b >= 161 && b <= 172) || (b >= 174 && b <= 255);
        int cp = printable ? b : next++;
        if (cp == '"' || cp == '\\') fprintf(f, "\"\\%c\": %d, ", cp, b);
        else fprintf(f, "\"\\u%04x\": %d, ", cp, b);
    }
    fputs("\"\\u010a\\u010a\": 300}, \"merges\": [\"\\u010a \\u010a\"]}, \"added_tokens\": [", f);
    fputs("{\"id\": 400, \"content\": \"<|im_start|>\"}, {\"id\": 401, \"content\": \"<|im_end|>\"}, "
          "{\"id\": 402, \"content\": \"<|vision_start|>\"}, {\"id\": 403, \"content\": \"<|vision_end|>\"}, "
          "{\"id\": 404, \"content\": \"<|image_pad|>\"}]}", f);
    fclose(f);
    return path;
}

/* Appends the byte ids of s with mask m. */
static size_t bytes(int32_t *ids, uint8_t *mask, size_t n, const char *s, uint8_t m) {
    for (; *s; s++) ids[n] = (unsigned char)*s, mask[n++] = m;
    return n;
}

static size_t one(int32_t *ids, uint8_t *mask, size_t n, int32_t id, uint8_t m) {
    ids[n] = id, mask[n] = m;
    return n + 1;
}

static void expect(const vt_tokenizer *t, const vt_sample *s, const int *pads, size_t n_images, bool gen,
                   const int32_t *ids, const uint8_t *mask, size_t n, const char *what) {
    vt_token_seq seq = {0};
    CHECK_OK(vt_chat_render(t, s, pads, n_images, gen, &seq));
    bool same = seq.n == n && !memcmp(seq.ids, ids, n * sizeof *ids) && !memcmp(seq.mask, mask, n);
    CHECK(same);
    if (!same) {
        fprintf(stderr, "  %s:\n   got ", what);
        for (size_t i = 0; i < seq.n; i++) fprintf(stderr, " %d/%d", seq.ids[i], seq.mask[i]);
        fprintf(stderr, "\n  want ");
        for (size_t i = 0; i < n; i++) fprintf(stderr, " %d/%d", ids[i], mask[i]);
        fprintf(stderr, "\n");
    }
    vt_token_seq_free(&seq);
}

int main(void) {
    TEST_BEGIN();
    const char *path = write_tokenizer();
    vt_tokenizer *t = NULL;
    CHECK_OK(vt_tokenizer_load(&t, path));
    if (!t) return TEST_END();
    int32_t ids[64];
    uint8_t mask[64];
    size_t n;

    /* user "\nHi", assistant "\nA": the header's "\n" and the content's merge into one token (300) in both
     * turns; in the assistant's it holds a supervised byte, so it is supervised. */
    vt_part p_user = {VT_PART_TEXT, "\nHi"}, p_asst = {VT_PART_TEXT, "\nA"};
    vt_message msgs[3] = {{VT_ROLE_USER, &p_user, 1}, {VT_ROLE_ASSISTANT, &p_asst, 1}};
    vt_sample s = {msgs, 2, 0};
    n = one(ids, mask, 0, IM_START, 0);
    n = bytes(ids, mask, n, "user", 0);
    n = one(ids, mask, n, NL2, 0);
    n = bytes(ids, mask, n, "Hi", 0);
    n = one(ids, mask, n, IM_END, 0);
    n = bytes(ids, mask, n, "\n", 0);
    n = one(ids, mask, n, IM_START, 0);
    n = bytes(ids, mask, n, "assistant", 0);
    n = one(ids, mask, n, NL2, 1);
    n = bytes(ids, mask, n, "A", 1);
    n = one(ids, mask, n, IM_END, 1);
    n = bytes(ids, mask, n, "\n", 1);
    expect(t, &s, NULL, 0, false, ids, mask, n, "leading newlines");

    /* answer "A\n\n" then the generation prompt: header "\n" alone is not supervised, the content's "\n\n"
     * is; the generation prompt is the header alone */
    p_asst.text = "A\n\n";
    p_user.text = "Hi";
    n = one(ids, mask, 0, IM_START, 0);
    n = bytes(ids, mask, n, "user\nHi", 0);
    n = one(ids, mask, n, IM_END, 0);
    n = bytes(ids, mask, n, "\n", 0);
    n = one(ids, mask, n, IM_START, 0);
    n = bytes(ids, mask, n, "assistant\n", 0);
    n = bytes(ids, mask, n, "A", 1);
    n = one(ids, mask, n, NL2, 1);
    n = one(ids, mask, n, IM_END, 1);
    n = bytes(ids, mask, n, "\n", 1);
    n = one(ids, mask, n, IM_START, 0);
    n = bytes(ids, mask, n, "assistant\n", 0);
    expect(t, &s, NULL, 0, true, ids, mask, n, "trailing newlines, generation prompt");

    /* text, image, text: the image is an exact pad run and splits the text; "\n" + "\n" across it does not
     * merge, "\n" after it with the next part's "\n" does (the parts are joined) */
    vt_part parts[4] = {{VT_PART_TEXT, "a\n"}, {VT_PART_IMAGE, "x.png"}, {VT_PART_TEXT, "\n"}, {VT_PART_TEXT, "\nb"}};
    msgs[0] = (vt_message){VT_ROLE_USER, parts, 4};
    p_asst.text = "c";
    n = one(ids, mask, 0, IM_START, 0);
    n = bytes(ids, mask, n, "user\na\n", 0);
    n = one(ids, mask, n, VISION_START, 0);
    for (int k = 0; k < 3; k++) n = one(ids, mask, n, IMAGE_PAD, 0);
    n = one(ids, mask, n, VISION_END, 0);
    n = one(ids, mask, n, NL2, 0);
    n = bytes(ids, mask, n, "b", 0);
    n = one(ids, mask, n, IM_END, 0);
    n = bytes(ids, mask, n, "\n", 0);
    n = one(ids, mask, n, IM_START, 0);
    n = bytes(ids, mask, n, "assistant\n", 0);
    n = bytes(ids, mask, n, "c", 1);
    n = one(ids, mask, n, IM_END, 1);
    n = bytes(ids, mask, n, "\n", 1);
    expect(t, &s, (int[]){3}, 1, false, ids, mask, n, "around an image");

    vt_token_seq seq;
    CHECK_FAILS(vt_chat_render(t, &s, (int[]){3, 3}, 2, false, &seq), "2 image token counts given for a "
                                                                         "conversation with 1 images");
    CHECK_FAILS(vt_chat_render(t, &s, NULL, 0, false, &seq), "more images than token counts");
    vt_part sys = {VT_PART_TEXT, "S"};
    msgs[0] = (vt_message){VT_ROLE_USER, &p_user, 1};
    msgs[2] = (vt_message){VT_ROLE_SYSTEM, &sys, 1};
    s.n_messages = 3;
    CHECK_FAILS(vt_chat_render(t, &s, NULL, 0, false, &seq), "message 3: a system message may only come first");
    vt_part img = {VT_PART_IMAGE, "x.png"};
    msgs[1] = (vt_message){VT_ROLE_ASSISTANT, &img, 1};
    s.n_messages = 2;
    CHECK_FAILS(vt_chat_render(t, &s, (int[]){1}, 1, false, &seq), "images go in user turns only, not in assistant messages");

    vt_tokenizer_free(t);
    unlink(path);
    return TEST_END();
}
