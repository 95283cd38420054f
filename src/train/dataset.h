/* dataset.h — JSONL datasets of (image, prompt, response) conversations.
 *
 * One row per line, in any of three forms (they may be mixed in one file):
 *
 *   simple   {"image": "a.jpg" | ["a.jpg", ...], "prompt": "...", "response": "...", "system": "..."}
 *            ("image" optional; "images" accepted as a synonym; the images come before the prompt)
 *   chat     {"messages": [{"role": "system"|"user"|"assistant",
 *                           "content": "text" | [{"type": "image", "image": "a.jpg"},
 *                                                {"type": "text", "text": "..."}]}]}
 *   mlx-vlm / LLaMA-Factory
 *            {"messages" | "conversations": [{"role" | "from": ..., "content" | "value": "... <image> ..."}],
 *             "images": ["a.jpg", ...]}
 *            each "<image>" placeholder takes the next image of "images"; with no placeholders at all the
 *            images go before the text of the first user turn.  "from" values human/gpt/system are mapped.
 *
 * Image paths are relative to the JSONL file's directory (absolute paths stay as they are).  Every problem is
 * an error naming the file and line: malformed JSON, a missing or mistyped field, an unknown role, invalid
 * UTF-8, a conversation with no assistant turn, placeholders that do not match the images given.  Whether an
 * image file exists and decodes is checked where images are decoded, not here.
 */
#ifndef VT_DATASET_H
#define VT_DATASET_H

#include <stddef.h>
#include <stdio.h>

typedef enum { VT_ROLE_SYSTEM, VT_ROLE_USER, VT_ROLE_ASSISTANT } vt_role;

typedef enum { VT_PART_TEXT, VT_PART_IMAGE } vt_part_kind;

typedef struct {
    vt_part_kind kind;
    char *text;  /* VT_PART_TEXT: UTF-8 text; VT_PART_IMAGE: resolved image path.  Owned. */
} vt_part;

typedef struct {
    vt_role role;
    vt_part *parts;  /* owned */
    size_t n_parts;
} vt_message;

typedef struct {
    vt_message *messages;  /* owned */
    size_t n_messages;
    size_t line;           /* 1-based line in the JSONL file */
} vt_sample;

typedef struct {
    char *path;            /* the JSONL file, as given.  Owned. */
    vt_sample *samples;    /* owned */
    size_t n_samples;
    size_t n_images;       /* total image parts */
} vt_dataset;

/* Reads and validates every row.  Stops at the first bad row with an error
 * "FILE:LINE: reason".  Blank lines are skipped.  Caller frees with vt_dataset_free. */
int vt_dataset_load(vt_dataset **out, const char *path);
/* The same, but every bad row is reported to `log` ("error: FILE:LINE: reason") and counted in *n_bad
 * instead of stopping the load; the good rows are kept. */
int vt_dataset_load_checked(vt_dataset **out, const char *path, FILE *log, size_t *n_bad);
void vt_dataset_free(vt_dataset *ds);

/* Parses one row (a JSON object as text) into *out, resolving image paths against
 * base_dir.  Errors say "reason" only; callers add the file:line context. */
int vt_sample_parse(vt_sample *out, const char *json, size_t len, const char *base_dir);
void vt_sample_clear(vt_sample *s);

const char *vt_role_name(vt_role role);

#endif
