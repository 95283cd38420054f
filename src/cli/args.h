/* args.h — "--flag value" options for the CLI's subcommands.
 *
 *   vt_option opts[] = {{"model", "DIR", "model directory", true}, {"out", ...}, {0}};
 *   if (vt_args_parse(opts, argc, argv)) return -1;   // unknown or missing options are errors
 *   const char *dir = vt_args_value(opts, "model");
 * A value follows its flag ("--model DIR") or is joined to it ("--model=DIR").  A flag whose
 * `value` name is NULL is a switch (no value). */
#ifndef VT_ARGS_H
#define VT_ARGS_H

#include <stdbool.h>
#include <stdio.h>

#include "session/session.h"
#include "vision/image.h"

typedef struct {
    const char *name;    /* without "--" */
    const char *value;   /* placeholder shown in help ("DIR"), NULL for a switch */
    const char *help;
    bool required;
    const char *given;   /* filled by vt_args_parse: the value, or "1" for a switch; NULL if absent */
} vt_option;

/* The image-size options every command that reads images takes (one spelling everywhere). */
#define VT_IMAGE_OPTIONS                                                                      \
    {"image-min-pixels", "N", "smallest resized image area (default: the model's)", false}, \
    {"image-max-pixels", "N", "largest resized image area (default: the model's)", false}

/* Returns 1 (not an error) when --help was asked for and printed. */
int vt_args_parse(vt_option *opts, int argc, char **argv, const char *usage);
const char *vt_args_value(const vt_option *opts, const char *name);
bool vt_args_flag(const vt_option *opts, const char *name);
int vt_args_int(const vt_option *opts, const char *name, long def, long lo, long hi, long *out);
/* The model's image settings (DIR/preprocessor_config.json or the defaults), overridden by
 * --image-min-pixels / --image-max-pixels when the command has and was given them. */
int vt_args_image_config(const vt_option *opts, const char *model_dir, vt_image_config *ic);
void vt_args_help(const vt_option *opts, const char *usage, FILE *f);
/* Opens the session a command's options describe: --model, and where the command has them --adapter,
 * --tokenizer and the image options; with the weights and the tokenizer as asked; notes go to stderr. */
int vt_args_session(const vt_option *opts, bool weights, bool tokenizer, vt_session *s);

#endif
