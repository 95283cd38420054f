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

static int push_text(const vt_tokenizer *t, vt_token_seq *s, const char *text, size_t len, uint8_t supervised) {
    int32_t *ids;
    size_t n;
    TRY(vt_tokenizer_encode(t, text, len, &ids, &n));
    int rc = 0;
    for (size_t i = 0; rc == 0 && i < n; i++) rc = push(s, ids[i], supervised);
    free(ids);
    return rc;
}

typedef struct {
    int32_t im_start, im_end, vision_start, vision_end, image_pad;
} special_ids;

static int lookup(const vt_tokenizer *t, const char *name, int32_t *out) {
    *out = vt_tokenizer_token_id(t, name);
    return *out >= 0 ? 0 : vt_err("the tokenizer has no %s token (is it a Qwen tokenizer?)", name);
}

/* A message's content: adjacent text parts are joined (the reference tokenizes the rendered string). */
static int render_content(const vt_tokenizer *t, const special_ids *sp, const vt_message *m, const int *image_tokens,
                          size_t n_images, size_t *image, uint8_t supervised, vt_token_seq *s) {
    for (size_t i = 0; i < m->n_parts;) {
        if (m->parts[i].kind == VT_PART_IMAGE) {
            if (*image >= n_images) return vt_err("the conversation has more images than token counts given");
            TRY(push(s, sp->vision_start, 0));
            for (int k = 0; k < image_tokens[*image]; k++) TRY(push(s, sp->image_pad, 0));
            TRY(push(s, sp->vision_end, 0));
            (*image)++, i++;
            continue;
        }
        size_t len = 0, j = i;
        for (; j < m->n_parts && m->parts[j].kind == VT_PART_TEXT; j++) len += strlen(m->parts[j].text);
        char *joined = malloc(len + 1), *p = joined;
        if (!joined) return vt_err("out of memory");
        for (size_t k = i; k < j; k++) p = stpcpy(p, m->parts[k].text);
        int rc = push_text(t, s, joined, len, supervised);
        free(joined);
        TRY(rc);
        i = j;
    }
    return 0;
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
    size_t image = 0;
    int rc = 0;
    for (size_t i = 0; rc == 0 && i < conv->n_messages; i++) {
        const vt_message *m = &conv->messages[i];
        uint8_t sup = m->role == VT_ROLE_ASSISTANT;
        const char *role = vt_role_name(m->role);
        rc = push(&s, sp.im_start, 0) || push_text(t, &s, role, strlen(role), 0) || push_text(t, &s, "\n", 1, 0) ||
             render_content(t, &sp, m, image_tokens, n_images, &image, sup, &s) || push(&s, sp.im_end, sup) ||
             push_text(t, &s, "\n", 1, sup);
    }
    if (rc == 0 && generation_prompt)
        rc = push(&s, sp.im_start, 0) || push_text(t, &s, "assistant", 9, 0) || push_text(t, &s, "\n", 1, 0);
    if (rc == 0 && image != n_images)
        rc = vt_err("%zu image token counts given for a conversation with %zu images", n_images, image);
    if (rc) {
        vt_token_seq_free(&s);
        return -1;
    }
    *out = s;
    return 0;
}
