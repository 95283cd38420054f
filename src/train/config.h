/* config.h — the training run's configuration: defaults, a YAML file, CLI overrides.
 *
 * One table (config.c) names every setting once: its YAML key (mlx-lm's and
 * mlx-vlm's names where they have one, nested keys written with dots, e.g.
 * "lora_parameters.rank"), its command-line flag, its type and its help text.
 * Precedence: defaults < --config FILE < flags.  The resolved configuration is
 * written back as YAML into the run directory, so a run can be reproduced. */
#ifndef VT_TRAIN_CONFIG_H
#define VT_TRAIN_CONFIG_H

#include <stdbool.h>
#include <stdio.h>

enum { VT_MAX_LORA_KEYS = 64 };

typedef struct {
    /* files */
    char *model;             /* model directory */
    char *data;              /* training JSONL */
    char *valid;             /* validation JSONL (optional) */
    char *out;               /* run directory (adapters, checkpoints, metrics) */
    char *resume;            /* run directory to resume from (optional) */
    char *cache_dir;         /* encoded rows are cached here (NULL: DATA_DIR/.vlmtune-cache; "none": off) */
    /* adapters */
    char *fine_tune_type;    /* "lora" | "dora" */
    int rank;
    double alpha;            /* scale = alpha / rank */
    double dropout;
    int num_layers;          /* last N decoder layers (-1: all) */
    char *keys;              /* comma-separated module suffixes to adapt, e.g. "q_proj,v_proj" ("": default set) */
    bool train_vision;       /* also adapt the vision tower and mergers */
    /* optimisation */
    double learning_rate;
    char *lr_schedule;       /* constant | linear | cosine */
    double warmup_ratio;     /* share of steps used for warm-up (used when warmup_steps < 0) */
    long warmup_steps;
    double min_lr;
    double weight_decay;
    double max_grad_norm;    /* 0: no clipping */
    int batch_size;
    int grad_accumulation_steps;
    long iters;              /* optimizer steps (<= 0: from epochs) */
    double epochs;
    int max_seq_length;
    bool strict;             /* a row longer than max_seq_length is an error instead of being skipped */
    bool pack;               /* pack several samples into each row (block-diagonal attention) */
    bool length_bucketing;   /* batch samples of similar length together */
    bool grad_checkpoint;
    long seed;
    /* images */
    long image_max_pixels;
    long image_min_pixels;
    /* reporting and saving */
    int steps_per_report;
    int steps_per_eval;
    int val_batches;         /* -1: the whole validation set */
    int save_every;
    int keep_last;
    int max_bad_steps;       /* stop after this many non-finite steps in a row */
} vt_train_config;

/* Defaults (LLaMA-Factory's for Qwen3-VL where it has them: r 8, alpha 16, lr 1e-4, cosine, warm-up 0.1). */
void vt_train_config_defaults(vt_train_config *c);
/* Overlays the settings found in a YAML file.  Unknown keys and wrong types are errors naming the file and line. */
int vt_train_config_load_yaml(vt_train_config *c, const char *path);
/* Overlays "--flag value" pairs (and bare "--flag" for booleans); "--config F" is applied first wherever it is.
 * Unknown flags are errors.  argv[0] is skipped. */
int vt_train_config_parse_args(vt_train_config *c, int argc, char **argv);
/* Everything `vlmtune train ARGS` means, as the CLI and the C API both resolve it: defaults < the run's own
 * config.yaml (with --resume RUN and no configuration file) < config_yaml (may be NULL) < --config FILE <
 * flags; a resumed run continues in its directory unless --out says otherwise. */
int vt_train_config_from_args(vt_train_config *c, const char *config_yaml, int argc, char **argv);
/* Errors for settings that cannot work together (rank < 1, dropout outside [0,1), no model...). */
int vt_train_config_validate(const vt_train_config *c);
/* The resolved configuration as YAML. */
int vt_train_config_write_yaml(const vt_train_config *c, FILE *f);
/* The resolved configuration as YAML into `path`, atomically (util/fs.h). */
int vt_train_config_save(const vt_train_config *c, const char *path);
/* One line per setting: flag, default, help. */
void vt_train_config_print_help(FILE *f);
void vt_train_config_free(vt_train_config *c);

#endif
