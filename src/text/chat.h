/* chat.h — Qwen3-VL conversations to token ids and a loss mask.
 *
 * The format (Qwen3-VL-Instruct's chat template):
 *   <|im_start|>system\n{text}<|im_end|>\n                       (optional, first)
 *   <|im_start|>user\n{parts}<|im_end|>\n                         parts in order, no separators;
 *                                                                an image is <|vision_start|>
 *                                                                <|image_pad|>×N <|vision_end|>
 *   <|im_start|>assistant\n{text}<|im_end|>\n
 *   <|im_start|>assistant\n                                      the generation prompt, when asked
 * The loss mask is 1 on every assistant turn's content, its <|im_end|> and the "\n" after it
 * (what Qwen's own fine-tuning supervises), and 0 everywhere else. */
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
