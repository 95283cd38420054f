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
 *   checkpoints/step-NNNNNNN/                   adapters, optimizer.safetensors, state.json, config.yaml
 *   config.yaml  metrics.jsonl  loss.svg
 * Every file and checkpoint directory is written atomically. */
#ifndef VT_TRAINER_H
#define VT_TRAINER_H

#include <stdbool.h>
#include <stdio.h>

#include "train/config.h"

typedef struct {
    long steps_done;          /* optimizer steps completed in total (including before a resume) */
    double last_loss;         /* training loss of the last report */
    double best_valid_loss;   /* NaN without validation */
    long best_step;
    bool interrupted;         /* stopped by SIGINT/SIGTERM after writing a checkpoint */
    int signal;               /* which signal, when interrupted */
} vt_train_result;

/* Runs (or resumes, when cfg->resume is set) a training run.  Progress goes to `progress`
 * (a live line on a terminal, plain lines otherwise). */
int vt_train(const vt_train_config *cfg, FILE *progress, vt_train_result *result);

#endif
