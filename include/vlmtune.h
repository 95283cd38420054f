/* vlmtune.h — the public C API of libvlmtune.
 *
 * Load a Qwen3-VL model (Hugging Face or mlx-vlm layout, quantized or not), optionally with an adapter
 * (mlx-vlm or PEFT layout) applied on the fly; tokenize; generate answers to prompts with images; train
 * adapters from a configuration.  Every fallible call returns 0 on success and -1 on failure, with the
 * reason in vlmtune_last_error() (valid until the next call on the same thread).  Strings and arrays a
 * call returns are malloc'd: the caller frees them with free().  A model handle is used by one thread at
 * a time.  examples/critique.c shows the whole flow. */
#ifndef VLMTUNE_H
#define VLMTUNE_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct vlmtune_model vlmtune_model;

const char *vlmtune_version(void);
const char *vlmtune_last_error(void);

/* adapter_dir may be NULL. */
int vlmtune_load(vlmtune_model **out, const char *model_dir, const char *adapter_dir);
void vlmtune_free(vlmtune_model *m);   /* NULL is fine */

/* Token ids of plain text (no chat template). */
int vlmtune_tokenize(const vlmtune_model *m, const char *text, int32_t **ids, size_t *n);

typedef struct {
    int max_tokens;             /* default 256 */
    double temperature;         /* default 0: greedy */
    double top_p;               /* default 1: off */
    int top_k;                  /* default 0: off */
    double repetition_penalty;  /* default 1: off */
    uint64_t seed;
} vlmtune_generate_options;

vlmtune_generate_options vlmtune_generate_defaults(void);

/* Called with each new piece of the answer (whole UTF-8 characters); a non-zero return stops. */
typedef int (*vlmtune_text_fn)(void *ctx, const char *piece, size_t len);

/* Answers `prompt` (after the images, in order; system may be NULL) until the end of the turn or
 * max_tokens; *answer (may be NULL) receives the whole text. */
int vlmtune_generate(vlmtune_model *m, const char *system, const char *const *images, size_t n_images,
                     const char *prompt, const vlmtune_generate_options *options, vlmtune_text_fn on_text,
                     void *ctx, char **answer);

/* Trains as `vlmtune train` does: a YAML configuration (may be NULL) and "--flag value" overrides
 * (argv style, argv[0] ignored).  Progress goes to stdout.  Returns 0 when the run finished or was
 * stopped by a signal after writing its checkpoint. */
int vlmtune_train(const char *config_yaml, int argc, char **argv);

#ifdef __cplusplus
}
#endif

#endif
