/* checkpoint.h — a training run's resumable state on disk.
 *
 * RUN/checkpoints/step-NNNNNNN/ holds adapters.safetensors + adapter_config.json (the adapters, in
 * mlx-vlm's format), optimizer.safetensors (AdamW moments "m.<param>", "v.<param>"), state.json
 * (step, epoch, micro-batch, best validation, counters), config.yaml, and last checksums.json: the size
 * and CRC-32 of every other file, so that damage which keeps a file readable (NaN bytes inside
 * optimizer.safetensors, a disk's bit rot, a torn copy) is found before it is trained on.  The
 * directory is filled under the temporary name .tmp-step-NNNNNNN and renamed into place, so a
 * checkpoint is whole or absent; a kill leaves at most that temporary directory, which
 * vt_checkpoint_clean removes. */
#ifndef VT_CHECKPOINT_H
#define VT_CHECKPOINT_H

#include <stdbool.h>
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
/* The newest intact checkpoint of RUN into path, or "" when RUN has none yet (a run killed before its
 * first checkpoint: it starts from step 0).  A newer checkpoint whose files do not match their checksums
 * is reported to `log` (may be NULL) and passed over, left in place.  Errors: RUN holds no checkpoints/
 * (not a run directory), or every checkpoint is damaged. */
int vt_checkpoint_latest(const char *run, char *path, size_t cap, FILE *log);
/* Checks every file of a checkpoint against its checksums.json; the error names the file and the
 * mismatch.  *unverified: the checkpoint has no checksums.json (written by a vlmtune before them). */
int vt_checkpoint_verify(const char *ckpt, bool *unverified);
/* Removes the temporary directories of checkpoint writes that a kill interrupted. */
int vt_checkpoint_clean(const char *run);
/* Reads state.json and the optimizer moments (opt must be initialised for the same params). */
int vt_checkpoint_load_state(const char *ckpt, vt_run_state *st, vt_adamw *opt, const vt_params *params);

#endif
