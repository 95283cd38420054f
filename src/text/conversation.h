/* conversation.h — a chat as the model sees it before tokenization: messages made of text and image parts.
 *
 * Everything above the tokenizer speaks in these: dataset rows (data/dataset.h) are parsed into them, the
 * chat template (chat.h) renders them, generation builds a one-turn prompt from them.
 *
 * Ownership: a vt_sample owns its messages, a message its parts, a part its text, when built by the dataset
 * loader (free with vt_sample_clear).  vt_conversation_prompt builds one over borrowed strings in storage the
 * caller provides (nothing to free). */
#ifndef VT_CONVERSATION_H
#define VT_CONVERSATION_H

#include <stddef.h>

typedef enum { VT_ROLE_SYSTEM, VT_ROLE_USER, VT_ROLE_ASSISTANT } vt_role;

typedef enum { VT_PART_TEXT, VT_PART_IMAGE } vt_part_kind;

typedef struct {
    vt_part_kind kind;
    char *text;  /* VT_PART_TEXT: UTF-8 text; VT_PART_IMAGE: resolved image path */
} vt_part;

typedef struct {
    vt_role role;
    vt_part *parts;
    size_t n_parts;
} vt_message;

typedef struct {
    vt_message *messages;
    size_t n_messages;
    size_t line;           /* 1-based line in its dataset file (0: not from a file) */
} vt_sample;

/* "system", "user", "assistant": the names the chat template writes. */
const char *vt_role_name(vt_role role);
/* Frees what a loader-built sample owns and zeroes it; NULL is fine. */
void vt_sample_clear(vt_sample *s);

/* A one-turn conversation (the system message if given; the user's images, then the text) in storage the
 * caller provides: parts needs n_images + 2 slots, msgs 2.  Strings are borrowed. */
void vt_conversation_prompt(vt_sample *s, vt_part *parts, vt_message *msgs, const char *system,
                            const char *const *images, size_t n_images, const char *prompt);

#endif
