/* metrics.h — the run's measurements: JSON lines on disk, a loss plot for a browser.
 *
 * Every report and every validation appends one JSON object to
 * RUN/metrics.jsonl (flushed at once, so a killed run keeps its history), and
 * vt_metrics_plot() draws training and validation loss against the step into
 * an SVG file that any browser opens: axis titles, ticks at round values (1, 2 or
 * 5 times a power of ten) where their values are, training as a solid line and
 * validation dashed with open circles (told apart without colour), a legend. */
#ifndef VT_METRICS_H
#define VT_METRICS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

typedef struct {
    long step;
    double value;
} vt_point;

typedef struct {
    FILE *file;          /* metrics.jsonl, append mode; owned */
    vt_point *train;     /* training loss per report; owned */
    size_t n_train, cap_train;
    vt_point *valid;     /* validation loss per evaluation; owned */
    size_t n_valid, cap_valid;
    int world_size;      /* > 0: written as "world_size" in every record (the processes training the run) */
} vt_metrics;

/* One optimizer step, as reported. */
typedef struct {
    long step, total_steps;
    double epoch, loss, lr, grad_norm;
    double tokens_per_s;      /* all tokens of the steps since the last report / their time (validation excluded) */
    double trained_tokens;    /* supervised tokens trained on so far */
    double peak_mem_gb, ms_per_step;
    double host_ms;           /* of ms_per_step, the host's alone before it first waits for the device */
    bool skipped;             /* the loss or gradient was not finite: no update */
} vt_train_report;

/* Opens (appending to) path; previous lines up to keep_through_step are read back into the
 * series so a resumed run plots its whole history, and later ones (from after the checkpoint
 * being resumed) are removed from the file. */
int vt_metrics_open(vt_metrics *m, const char *path, long keep_through_step);
int vt_metrics_train(vt_metrics *m, const vt_train_report *r);
int vt_metrics_valid(vt_metrics *m, long step, double loss);
int vt_metrics_plot(const vt_metrics *m, const char *svg_path);
void vt_metrics_close(vt_metrics *m);

#endif
