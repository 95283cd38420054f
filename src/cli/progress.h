/* progress.h — what `vlmtune train` shows while it runs.
 *
 * On a terminal: a live bar (bar, percentage, step/total, ETA, loss, tokens/s, memory) redrawn in place
 * ("\r", clear to the end of the line) and fitted to the terminal's width (TIOCGWINSZ, else $COLUMNS, else
 * 80) so it never wraps, with a report line kept in the scrollback every steps_per_report steps (as mlx-lm
 * and tqdm do), broken between its fields where the width needs it.  Piped: the report lines alone, one
 * line each.  Validation results, skipped steps and the start and end of the run are lines of their own
 * either way.  What goes as the width shrinks is progress.c's first comment. */
#ifndef VT_PROGRESS_H
#define VT_PROGRESS_H

#include <stdbool.h>
#include <stdio.h>

#include "train/trainer.h"

typedef struct {
    FILE *out;
    bool tty;
    bool bar_shown;     /* a live bar is on the last row */
    double started;     /* when this process's first step began */
    long first_step;    /* the run's step count when this process started */
    vt_train_report last; /* the step the bar shows, to draw it again under a line of its own */
} vt_progress;

/* Callbacks that draw on `out`; should_stop is left for the caller. */
vt_train_callbacks vt_progress_callbacks(vt_progress *p, FILE *out);
/* Clears the live bar (before the caller prints its own last lines). */
void vt_progress_end(vt_progress *p);
/* The live bar for `width` columns into out (cap >= 256): every field while they fit, then the bar narrows
 * (40 cells to 10) and fields go in this order: memory, tokens/s, the bar, ETA, loss. */
void vt_progress_bar_text(const vt_train_report *r, double eta_seconds, int width, char *out, size_t cap);
/* "1h02m", "4m05s", "12s" or "?" into buf. */
void vt_format_duration(double seconds, char *buf, size_t cap);

#endif
