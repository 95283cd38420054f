/* dataset.h — dataset files of (image, prompt, response) conversations, parsed into text/conversation.h's types.
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

#include "text/conversation.h"

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

#endif
