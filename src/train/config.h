/* config.h — the training run's configuration: defaults, YAML files, CLI flags.
 *
 * One table (config.c) names every setting once: its YAML key (mlx-lm's and
 * mlx-vlm's names where they have one, nested keys written with dots, e.g.
 * "lora_parameters.rank"), its command-line flag, its value name, its type and
 * its help text.  A second table (config_peers.c) reads the names the other
 * tools write for the same settings — mlx-lm's and mlx-vlm's LoRA YAML,
 * LLaMA-Factory's — with the meaning those tools give them; a key it knows but
 * cannot honour harmlessly is a warning, one that would change the run is an
 * error, and an unknown key is an error; all of them name FILE:LINE.  Two keys
 * for one setting in one file must agree, or it is an error naming both lines.
 *
 * Precedence (vt_train_config_from_args): defaults < RUN/config.yaml (with
 * --resume RUN and no --config) < --config FILE < flags.  The resolved
 * configuration is written back as YAML into the run directory, and reading
 * that file again gives the same configuration. */
#ifndef VT_TRAIN_CONFIG_H
#define VT_TRAIN_CONFIG_H

#include <stdbool.h>
#include <stdio.h>

#include "train/optim.h"
#include "train/schedule.h"

enum { VT_MAX_LORA_KEYS = 64 };

/* Owns every string (free with vt_train_config_free). */
typedef struct {
    /* files */
    char *model;             /* model directory */
    char *data;              /* training data: a JSONL file, or a folder with train.jsonl (mlx-lm's layout) */
    char *valid;             /* validation JSONL (optional) */
    char *out;               /* run directory (adapters, checkpoints, metrics) */
    char *resume;            /* run directory to resume from (optional) */
    char *resume_adapter_file; /* adapters.safetensors to start from, without optimizer state (optional) */
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
    char *optimizer;         /* "adamw" | "adam" (AdamW without weight decay) */
    double adam_betas[2];
    double adam_eps;
    bool bias_correction;
    double learning_rate;
    char *lr_schedule;       /* constant | linear | cosine | cosine_decay | linear_schedule (mlx-lm's) */
    double warmup_ratio;     /* share of steps used for warm-up (used when warmup_steps < 0) */
    long warmup_steps;
    double warmup_init;      /* rate at the first warm-up step */
    double min_lr;
    long decay_steps;        /* length of the decay after warm-up (0: until the last step) */
    double weight_decay;
    double max_grad_norm;    /* 0: no clipping */
    int batch_size;
    int grad_accumulation_steps;
    long iters;              /* optimizer steps (0: from epochs) */
    double epochs;
    int max_seq_length;
    bool strict;             /* a row longer than max_seq_length is an error instead of being skipped */
    bool pack;               /* pack several samples into each row (block-diagonal attention) */
    bool length_bucketing;   /* batch samples of similar length together */
    bool grad_checkpoint;
    bool compile;            /* trace and fuse each decoder layer (not with dropout) */
    bool dry_run;            /* set up and check everything, then stop before the run directory is made */
    bool memory_check;       /* refuse a run whose estimated peak exceeds the device's memory */
    double memory_limit_gb;  /* the memory the run may use (0: the device's) */
    int pad_to_multiple;     /* batch lengths rounded up to a multiple of this (0: automatic) */
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
    /* data-parallel training (docs/DISTRIBUTED.md) */
    double distributed_timeout; /* seconds a collective may wait for the other ranks before the run stops */
    int world_size;          /* recorded: the processes that trained the run (the launcher decides, not this) */
} vt_train_config;

/* Defaults (LLaMA-Factory's for Qwen3-VL where it has them: r 8, alpha 16, lr 1e-4, cosine, warm-up 0.1;
 * accumulation 1, so batch_size is the samples of one optimizer step as in mlx-lm). */
void vt_train_config_defaults(vt_train_config *c);
/* Overlays the settings found in a YAML file (vlmtune's keys and the peers' names, see above). */
int vt_train_config_load_yaml(vt_train_config *c, const char *path);
/* Overlays "--flag value" / "--flag=value" pairs (a switch alone means true); "--config F" is
 * applied first wherever it is.  Unknown flags are errors.  argv[0] is skipped. */
int vt_train_config_parse_args(vt_train_config *c, int argc, char **argv);
/* Everything `vlmtune train ARGS` means, as the CLI and the C API both resolve it, overlaid on `c`
 * (initialised with vt_train_config_defaults): the run's own config.yaml (with --resume RUN and no
 * configuration file) < config_yaml (may be NULL) < --config FILE < flags.  A resumed run continues in
 * the directory given to --resume, wherever the run was first written, unless --out says otherwise.
 * "--print-config" in argv is left to the caller (the CLI prints the result instead of training). */
int vt_train_config_from_args(vt_train_config *c, const char *config_yaml, int argc, char **argv);
/* Errors for settings that cannot work (rank < 1, dropout outside [0,1), iters < 0, no model...),
 * each saying what is allowed. */
int vt_train_config_validate(const vt_train_config *c);
/* The checks that need the model: num_layers against its decoder layer count. */
int vt_train_config_check_model(const vt_train_config *c, int n_decoder_layers);
/* The optimizer and the learning-rate schedule these settings describe (total: planned optimizer steps). */
vt_adamw_config vt_train_config_adamw(const vt_train_config *c);
int vt_train_config_schedule(const vt_train_config *c, long total, vt_schedule *out);
/* The resolved configuration as YAML: each key once, numbers in their shortest exact form. */
int vt_train_config_write_yaml(const vt_train_config *c, FILE *f);
/* The resolved configuration as YAML into `path`, atomically (util/fs.h). */
int vt_train_config_save(const vt_train_config *c, const char *path);
/* `vlmtune train --help`: usage and one entry per setting (flag, value, help, YAML key, default). */
void vt_train_config_print_help(FILE *f);
/* The other tools' keys that are read, as a Markdown table (docs/TRAIN.md holds the same table). */
void vt_train_config_print_peer_keys(FILE *f);
/* Where warnings about keys that have no effect go (default stderr; NULL: nowhere). */
void vt_train_config_set_warnings(FILE *f);
void vt_train_config_free(vt_train_config *c);

#endif
