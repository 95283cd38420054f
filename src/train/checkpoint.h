/* checkpoint.h — a training run's resumable state on disk.
 *
 * RUN/checkpoints/step-NNNNNNN/ holds adapters.safetensors + adapter_config.json (the adapters, in
 * mlx-vlm's format), optimizer.safetensors (AdamW moments "m.<param>", "v.<param>"), state.json
 * (step, epoch, micro-batch, best validation, counters) and config.yaml.  The directory is filled
 * under a temporary name and renamed into place, so a checkpoint is whole or absent. */
#ifndef VT_CHECKPOINT_H
#define VT_CHECKPOINT_H

#include <stdio.h>

#include "lora/lora.h"
#include "train/config.h"
#include "train/optim.h"

typedef struct {
    long step;             /* optimizer steps done */
    long epoch;            /* epoch of the next micro-batch */
    long micro;            /* next micro-batch within that epoch's plan */
    double trained_tokens; /* supervised tokens trained on so far */
    double best_valid;     /* NaN: no validation yet */
    long best_step;
    int bad_in_row;        /* consecutive non-finite steps */
} vt_run_state;

/* Writes RUN/checkpoints/step-NNNNNNN and removes all but the newest keep_last. */
int vt_checkpoint_save(const char *run, const vt_lora *lora, const vt_adamw *opt, const vt_run_state *st,
                       const vt_train_config *cfg, int keep_last);
/* The newest complete checkpoint of RUN into path (error when there is none). */
int vt_checkpoint_latest(const char *run, char *path, size_t cap);
/* Reads state.json and the optimizer moments (opt must be initialised for the same params). */
int vt_checkpoint_load_state(const char *ckpt, vt_run_state *st, vt_adamw *opt, const vt_params *params);

#endif
