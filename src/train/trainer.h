/* trainer.h — the LoRA training loop.
 *
 *   files → prepared rows → micro-batches → model + adapters → loss → AdamW → checkpoint
 *
 * One optimizer step takes grad_accumulation_steps micro-batches of batch_size samples (or of
 * packed rows); the loss is the cross-entropy of the assistant tokens summed over every
 * micro-batch of the step and divided by the step's supervised-token count, so accumulation and
 * batching change nothing but memory.  Everything random is a pure function of (seed, epoch) or
 * (seed, step, micro-batch): data order, dropout masks.  With the adapters and the optimizer
 * moments saved exactly, a resumed run therefore repeats the uninterrupted run's losses.
 *
 * The run directory holds:
 *   adapters.safetensors, adapter_config.json   the latest adapters (what mlx_vlm.load reads)
 *   best/                                       the adapters of the best validation loss
 *   checkpoints/step-NNNNNNN/                   adapters, optimizer.safetensors, state.json, config.yaml,
 *                                               checksums.json
 *   config.yaml  metrics.jsonl  loss.svg
 * Every file and checkpoint directory is written atomically, best/ replaced in one step, and the directory
 * itself appears whole (config.yaml + checkpoints/) once every check has passed: a refused run leaves
 * nothing, a killed one a directory that resume continues (from step 0 before the first checkpoint).  A
 * resume uses the newest checkpoint whose files match their checksums, after removing what a kill left.
 *
 * Data-parallel (docs/DISTRIBUTED.md): started by MLX's launcher or mpirun, every process joins the group,
 * processes its share of each micro-batch, and the gradients, loss and token counts are summed in one
 * all-reduce per step; rank 0 alone writes files and calls on_start/on_step/on_valid and `log`.
 *
 * The trainer prints nothing and touches nothing of its host (no signal handlers): what happens is
 * reported to the callbacks, and the host asks it to stop through should_stop (the CLI turns SIGINT and
 * SIGTERM into that; the C API a flag another thread may set). */
#ifndef VT_TRAINER_H
#define VT_TRAINER_H

#include <stdbool.h>
#include <stdio.h>

#include "train/config.h"
#include "train/metrics.h"

/* What a run is about to do (after setup, before step 1). */
typedef struct {
    const char *fine_tune_type;
    size_t adapted_layers, trainable_params;
    double model_params;          /* all parameters of the model */
    size_t train_rows, valid_rows;
    long total_steps, first_step; /* first_step > 0 when resuming */
    const char *resumed_from;     /* the checkpoint directory, or NULL */
    /* memory, in bytes: what setup holds (weights, adapters, optimizer, cached image features), the estimated
     * peak of a step (setup + the largest micro-batch's pass + the update), and the device's (0: unknown) */
    double setup_bytes, estimated_peak_bytes, device_bytes;
    int world_size;               /* processes training data-parallel (1: this one alone) */
} vt_train_start;

typedef struct {
    void *ctx;
    FILE *log;  /* data problems (skipped or bad rows), notes; NULL: silent */
    void (*on_start)(void *ctx, const vt_train_start *start);
    /* Every optimizer step; `report` is true on the steps_per_report cadence (and the last step), when the
     * step was also written to metrics.jsonl. */
    void (*on_step)(void *ctx, const vt_train_report *r, bool report);
    void (*on_valid)(void *ctx, long step, double loss, bool best);
    /* Asked after every step: true stops the run after writing a checkpoint. */
    bool (*should_stop)(void *ctx);
} vt_train_callbacks;

typedef struct {
    long steps_done;          /* optimizer steps completed in total (including before a resume) */
    double last_loss;         /* training loss of the last step */
    double best_valid_loss;   /* NaN without validation */
    long best_step;
    bool interrupted;         /* stopped by should_stop after writing a checkpoint */
    int rank, world_size;     /* this process in the data-parallel group (0 of 1 when alone) */
} vt_train_result;

/* Runs (or resumes, when cfg->resume is set) a training run.  cb may be NULL (no callbacks). */
int vt_train(const vt_train_config *cfg, const vt_train_callbacks *cb, vt_train_result *result);

#endif
