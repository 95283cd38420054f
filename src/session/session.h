/* session.h — everything a command needs about a model, loaded in one call.
 *
 * The CLI's commands, the C API (include/vlmtune.h) and the trainer all open a session, so they share one
 * set of defaults and one set of errors: the model (optional, for commands that only tokenize), an adapter
 * applied on the fly, the tokenizer, the image settings, the generation defaults and the special token ids.
 *
 * Image settings, in order of precedence: the caller's overrides (noted when they differ from what the
 * adapter was trained with) > the adapter's training settings (adapter_config.json's "vlmtune" block, which
 * `vlmtune train` writes) > the model's preprocessor_config.json > Qwen3-VL's defaults.  Generation defaults
 * come from generation_config.json (else config.json's eos_token_id and greedy decoding); <|im_end|> always
 * ends a turn.
 *
 * Ownership: the session owns everything it holds; vt_session_close frees it (NULL-safe, idempotent). */
#ifndef VT_SESSION_H
#define VT_SESSION_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "generate/generate.h"
#include "lora/lora.h"
#include "model/qwen3vl.h"
#include "text/tokenizer.h"
#include "vision/image.h"

typedef struct {
    const char *model;      /* model directory (required) */
    const char *adapter;    /* adapter directory to apply on the fly (optional) */
    const char *tokenizer_path; /* tokenizer file or directory (default: the model's) */
    bool weights;           /* load the model's weights */
    bool tokenizer;         /* load the tokenizer (the special ids and stop ids need it) */
    long image_min_pixels;  /* > 0: override */
    long image_max_pixels;  /* > 0: override */
    FILE *notes;            /* where a setting that overrides the adapter's is noted (NULL: silent) */
} vt_session_options;

typedef struct {
    int32_t im_start, im_end, endoftext, image_pad, vision_start, vision_end; /* -1 when absent */
} vt_special_ids;

enum { VT_MAX_EOS = 8 };

typedef struct {
    vt_model *model;                 /* NULL without weights */
    vt_lora *adapter;                /* NULL without an adapter */
    vt_tokenizer *tok;                /* NULL without the tokenizer */
    vt_image_config images;
    vt_generate_options generation;  /* the defaults; .eos points into eos[] */
    int32_t eos[VT_MAX_EOS];
    vt_special_ids ids;              /* all -1 without the tokenizer */
    int32_t pad_id;                  /* what batches are padded with: <|endoftext|>, else 0 */
} vt_session;

int vt_session_open(vt_session *s, const vt_session_options *o);
/* Reads every weight now, and prepares the adapter for inference in the activations' type (vt_lora_prepare;
 * the session's adapter is only ever applied): MLX loads weights lazily, at first use, which would charge a
 * generation's prompt (and a server's first answer) with reading the files.  Training keeps the lazy load:
 * a frozen vision tower's weights are released once its features are cached. */
int vt_session_make_resident(vt_session *s);
void vt_session_close(vt_session *s);

#endif
