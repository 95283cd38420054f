/* dataset.h — dataset files of conversations with images, parsed into text/conversation.h's types.
 *
 * A dataset file is JSONL (one row per line) or one JSON array of rows (LLaMA-Factory's mllm_demo.json): a file
 * whose first character (after blanks and a UTF-8 BOM) is '[' is read as an array.  Every row is one of these
 * forms (docs/DATA.md has examples; they may be mixed in one file):
 *
 *   simple   {"prompt"|"question": "...", "response"|"answer": "...", "system": "...",
 *             "image"|"images": IMAGE | [IMAGE, ...]}          the images come before the prompt
 *   chat     {"messages"|"conversations": [TURN, ...], "images"|"image": IMAGE | [IMAGE, ...]}
 *            TURN: {"role"|"from"|"speaker": system|user|human|assistant|gpt|bot (any case),
 *                   "content"|"value": "text" | [PART, ...]}
 *            PART: {"type": "text"|"input_text"|"output_text", "text": "..."}
 *                  {"type": "image", "image"|"url"|"path"|"base64": IMAGE}            (transformers)
 *                  {"type": "image_url"|"input_image", "image_url": IMAGE | {"url": IMAGE}}   (OpenAI)
 *                  {"type": "image"} with no image                 (TRL, mlx-vlm: takes the next of "images")
 *            "<image>" in a string content takes the next of "images" (LLaMA-Factory) when the row has images.
 *            With images and no such place at all, the images go first in the first user turn.  "messages" may
 *            also be a string holding the JSON list (as mlx-vlm accepts).
 *   IMAGE:   a path (relative to the file's folder), a file: URI, a data: URI (base64), an http(s) URL, or a
 *            Hugging Face image object {"path": ...} / {"bytes": base64} ("bytes" first when both are given).
 *
 * Every problem is an error naming the file and line (and, in an array, the element): malformed JSON, a missing
 * or mistyped field, two synonyms given at once, an unknown role, invalid UTF-8, "\u0000" in a row (a NUL cannot
 * be kept in conversation text: refused, never cut), a conversation with no assistant turn, image places that do
 * not match the images given, parts that name their image next to a top-level list (ambiguous), an inline or
 * downloaded image that does not arrive or is not an image.  Whether an image *file* exists and decodes is
 * checked where images are decoded, not here.
 *
 * Images given inline or by URL become files (data/media.h) in CACHE/images, CACHE being the rows cache folder
 * (`.vlmtune-cache` next to the data file unless set), so that every image part of a loaded dataset is a path. */
#ifndef VT_DATASET_H
#define VT_DATASET_H

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

#include "data/forms.h"
#include "text/conversation.h"

typedef struct {
    char *path;            /* the dataset file, as given.  Owned. */
    vt_sample *samples;    /* owned; samples[i].line is the row's line (an array element's first line) */
    size_t n_samples;
    size_t n_images;       /* total image parts */
} vt_dataset;

typedef struct {
    FILE *log;              /* NULL: the first bad row fails the load.  Else each bad row is reported here
                               ("error: FILE:LINE: reason"), counted in *n_bad and left out. */
    const char *cache_dir;  /* inline and downloaded images go to CACHE_DIR/images; NULL: the default cache */
    long timeout_s;         /* a whole download; 0: media.h's default */
    size_t max_image_bytes; /* the largest inline or downloaded image; 0: media.h's default */
} vt_dataset_options;

/* Reads and validates every row, stopping at the first bad one ("FILE:LINE: reason").  Blank lines are
 * skipped.  Caller frees with vt_dataset_free. */
int vt_dataset_load(vt_dataset **out, const char *path);
/* The same, but every bad row is reported to `log` and counted in *n_bad instead of stopping the load. */
int vt_dataset_load_checked(vt_dataset **out, const char *path, FILE *log, size_t *n_bad);
/* The general form (o may be NULL; n_bad may be NULL when o->log is). */
int vt_dataset_load_opts(vt_dataset **out, const char *path, const vt_dataset_options *o, size_t *n_bad);
void vt_dataset_free(vt_dataset *ds);

/* One row's text into a conversation: vt_sample_parse, in data/forms.h. */

/* The default cache folder of a data file: .vlmtune-cache next to it.  Written into buf. */
const char *vt_dataset_default_cache(const char *data_path, char *buf, size_t cap);

/* --data as users give it: a file, or a folder of splits in mlx-lm's layout (train.jsonl, valid.jsonl,
 * test.jsonl; each may also be a .json array, and "valid" may be named validation.*, as mlx-vlm does).
 *
 * vt_dataset_split: the file holding `split` ("train", "valid" or "test") of `data`, into *path (malloc'd), or
 * *path = NULL when that split is absent (0 is returned either way, unless `required`).
 *   - data is a file: it is the train split; "valid" and "test" are absent (a caller with a separate --valid
 *     FILE uses that).  So `train = split(data, "train", true); valid = --valid ? --valid : split(data, "valid",
 *     false)` is right for a file and a folder alike.
 *   - data is a folder: FOLDER/SPLIT.jsonl or FOLDER/SPLIT.json.  Errors: both exist (ambiguous); the folder
 *     holds no split at all (the message names the files looked for); `required` and the split is absent.
 *   - data does not exist: an error. */
int vt_dataset_split(const char *data, const char *split, bool required, char **path);
/* What an evaluation of --data reads: a file as it is (*split = NULL), else the folder's test split, else its
 * valid split (*split = "test" / "valid"); a folder with neither is an error. */
int vt_dataset_eval_split(const char *data, char **path, const char **split);

#endif
