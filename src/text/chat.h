/* chat.h — Qwen3-VL conversations to token ids and a loss mask.
 *
 * The format (Qwen3-VL-Instruct's chat template):
 *   <|im_start|>system\n{text}<|im_end|>\n                       (optional, first)
 *   <|im_start|>user\n{parts}<|im_end|>\n                         parts in order, no separators;
 *                                                                an image is <|vision_start|>
 *                                                                <|image_pad|>×N <|vision_end|>
 *   <|im_start|>assistant\n{text}<|im_end|>\n
 *   <|im_start|>assistant\n                                      the generation prompt, when asked
 * The ids are the reference tokenizer's for the whole rendered string: the text between two special
 * tokens is tokenized as one piece, so a message that opens with "\n" merges with its header's "\n".
 * A system message may only come first and images only in user turns (anything else is an error), as
 * in Qwen3-VL's template (tools/qwen3_vl_chat_template.jinja).
 * The loss mask is 1 on every assistant turn's content, its <|im_end|> and the "\n" after it
 * (what Qwen's own fine-tuning supervises), and 0 everywhere else; a token is supervised when any of its
 * bytes are (an answer opening with "\n" shares a "\n\n" token with its header: that token is in). */
#ifndef VT_CHAT_H
#define VT_CHAT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "text/tokenizer.h"
#include "text/conversation.h"

typedef struct {
    int32_t *ids;     /* owned */
    uint8_t *mask;    /* owned; 1 = a supervised target */
    size_t n, cap;
} vt_token_seq;

/* image_tokens[k]: the number of <|image_pad|> tokens of the k-th image of the conversation. */
int vt_chat_render(const vt_tokenizer *t, const vt_sample *conv, const int *image_tokens, size_t n_images,
                   bool generation_prompt, vt_token_seq *out);
void vt_token_seq_free(vt_token_seq *s);

#endif
