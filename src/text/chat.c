/* chat.c — the chat template, tokenized as the reference tokenizes the rendered string.
 *
 * The reference renders the whole conversation to one string and tokenizes it; its tokenizer splits the
 * special tokens out first, so every stretch of text between two of them is tokenized on its own.  We do the
 * same: the text between the special tokens the template writes (e.g. "assistant\n" + the answer, or a
 * user's text parts after an image) is gathered into one segment and tokenized whole, so that a newline or
 * space that opens a message merges with the "\n" of the role header exactly as it does there.  Special-token
 * strings inside message text are split out by the tokenizer, as the reference's are.
 *
 * The loss mask comes from byte offsets: a segment may start supervision at a byte offset (right after
 * "assistant\n"; 0 for the "\n" after an assistant's <|im_end|>), and a token is supervised when it ends
 * after that offset — when any of its bytes are supervised, the rule transformers' assistant-token mask
 * follows (the token holding the span's first character is in).  So an answer that opens with "\n" puts the "\n\n"
 * token it shares with the header into the mask.  Offsets are counted in NFC-normalized text; the header
 * before the offset is ASCII ending in "\n", which NFC neither changes nor composes with what follows, so the
 * offset is the same in both. */
#include "text/chat.h"

#include <stdlib.h>
#include <string.h>

#include "util/error.h"

void vt_token_seq_free(vt_token_seq *s) {
    if (!s) return;
    free(s->ids);
    free(s->mask);
    *s = (vt_token_seq){0};
}

static int push(vt_token_seq *s, int32_t id, uint8_t supervised) {
    if (s->n == s->cap) {
        size_t cap = s->cap ? 2 * s->cap : 256;
        int32_t *ids = realloc(s->ids, cap * sizeof *ids);
        if (ids) s->ids = ids;
        uint8_t *mask = realloc(s->mask, cap);
        if (mask) s->mask = mask;
        if (!ids || !mask) return vt_err("out of memory");
        s->cap = cap;
    }
    s->ids[s->n] = id;
    s->mask[s->n++] = supervised;
    return 0;
}

enum { UNSUPERVISED = -1 };

/* Text waiting for the next special token. */
typedef struct {
    char *text;   /* owned */
    size_t len, cap;
    long supervised_from; /* byte offset where supervision starts, or UNSUPERVISED */
} segment;

static int append(segment *g, const char *text, size_t len) {
    if (g->len + len + 1 > g->cap) {
        size_t cap = 2 * (g->len + len + 1);
        char *p = realloc(g->text, cap);
        if (!p) return vt_err("out of memory");
        g->text = p, g->cap = cap;
    }
    memcpy(g->text + g->len, text, len);
    g->len += len;
    return 0;
}

static int append_str(segment *g, const char *text) { return append(g, text, strlen(text)); }

/* Where the text appended next starts being supervised (UNSUPERVISED: it is not). */
static void supervise_from_here(segment *g, bool supervised) {
    if (!supervised) return;
    if (g->supervised_from == UNSUPERVISED) g->supervised_from = (long)g->len;
}

/* Tokenizes the pending text whole and appends it with its mask; the segment is then empty. */
static int flush(const vt_tokenizer *t, segment *g, vt_token_seq *s) {
    int rc = 0;
    if (g->len) {
        int32_t *ids;
        size_t n;
        TRY(vt_tokenizer_encode(t, g->text, g->len, &ids, &n));
        long end = 0;
        for (size_t i = 0; rc == 0 && i < n; i++) {
            long bytes = vt_tokenizer_token_bytes(t, ids[i]);
            if (bytes < 0) rc = vt_err("token id %d is not in the vocabulary", ids[i]);
            end += bytes;
            if (rc == 0) rc = push(s, ids[i], g->supervised_from != UNSUPERVISED && end > g->supervised_from);
        }
        free(ids);
    }
    g->len = 0;
    g->supervised_from = UNSUPERVISED;
    return rc;
}

/* A special token: it ends the pending segment. */
static int special(const vt_tokenizer *t, segment *g, vt_token_seq *s, int32_t id, uint8_t supervised) {
    TRY(flush(t, g, s));
    return push(s, id, supervised);
}

typedef struct {
    int32_t im_start, im_end, vision_start, vision_end, image_pad;
} special_ids;

static int lookup(const vt_tokenizer *t, const char *name, int32_t *out) {
    *out = vt_tokenizer_token_id(t, name);
    return *out >= 0 ? 0 : vt_err("the tokenizer has no %s token (is it a Qwen tokenizer?)", name);
}

/* <|im_start|>role\n{parts}<|im_end|>\n, the parts in order with nothing between them. */
static int render_message(const vt_tokenizer *t, const special_ids *sp, const vt_message *m,
                          const int *image_tokens, size_t n_images, size_t *image, segment *g,
                          vt_token_seq *s) {
    bool sup = m->role == VT_ROLE_ASSISTANT;
    TRY(special(t, g, s, sp->im_start, 0));
    TRY(append_str(g, vt_role_name(m->role)));
    TRY(append_str(g, "\n"));
    supervise_from_here(g, sup);
    for (size_t i = 0; i < m->n_parts; i++) {
        const vt_part *p = &m->parts[i];
        if (p->kind == VT_PART_TEXT) {
            TRY(append_str(g, p->text));
            continue;
        }
        if (m->role != VT_ROLE_USER)
            return vt_err("images go in user turns only, not in %s messages", vt_role_name(m->role));
        if (*image >= n_images) return vt_err("the conversation has more images than token counts given");
        TRY(special(t, g, s, sp->vision_start, 0));
        for (int k = 0; k < image_tokens[*image]; k++) TRY(push(s, sp->image_pad, 0));
        TRY(push(s, sp->vision_end, 0));
        (*image)++;
    }
    TRY(special(t, g, s, sp->im_end, sup));
    supervise_from_here(g, sup);
    return append_str(g, "\n");
}

int vt_chat_render(const vt_tokenizer *t, const vt_sample *conv, const int *image_tokens, size_t n_images,
                   bool generation_prompt, vt_token_seq *out) {
    special_ids sp;
    TRY(lookup(t, "<|im_start|>", &sp.im_start));
    TRY(lookup(t, "<|im_end|>", &sp.im_end));
    TRY(lookup(t, "<|vision_start|>", &sp.vision_start));
    TRY(lookup(t, "<|vision_end|>", &sp.vision_end));
    TRY(lookup(t, "<|image_pad|>", &sp.image_pad));
    vt_token_seq s = {0};
    segment g = {.supervised_from = UNSUPERVISED};
    size_t image = 0;
    int rc = 0;
    for (size_t i = 0; rc == 0 && i < conv->n_messages; i++) {
        const vt_message *m = &conv->messages[i];
        if (m->role == VT_ROLE_SYSTEM && i > 0)
            rc = vt_err("message %zu: a system message may only come first (the template drops others)",
                        i + 1);
        else
            rc = render_message(t, &sp, m, image_tokens, n_images, &image, &g, &s);
    }
    if (rc == 0 && generation_prompt)
        rc = special(t, &g, &s, sp.im_start, 0) || append_str(&g, "assistant\n");
    if (rc == 0) rc = flush(t, &g, &s);
    if (rc == 0 && image != n_images)
        rc = vt_err("%zu image token counts given for a conversation with %zu images", n_images, image);
    free(g.text);
    if (rc) {
        vt_token_seq_free(&s);
        return -1;
    }
    *out = s;
    return 0;
}
