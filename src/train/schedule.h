/* schedule.h — learning-rate schedules with linear warm-up.
 *
 * The shapes follow Hugging Face's schedulers (the reference most users know):
 * during warm-up the rate rises linearly from warmup_init to lr, reaching lr at
 * step == warmup; after it, constant stays at lr, linear decays to min_lr at
 * `total` steps, cosine follows half a cosine from lr to min_lr.  Steps are
 * optimizer steps, counted from 0.  mlx-lm's schedules (cosine_decay,
 * linear_schedule) decay over their own number of steps (decay_steps) and join
 * the warm-up one step later (hold 1: the peak rate is used twice). */
#ifndef VT_SCHEDULE_H
#define VT_SCHEDULE_H

typedef enum { VT_SCHED_CONSTANT, VT_SCHED_LINEAR, VT_SCHED_COSINE } vt_sched_kind;

typedef struct {
    vt_sched_kind kind;
    double lr;          /* peak learning rate */
    double min_lr;      /* end of linear/cosine decay */
    long warmup;        /* warm-up steps (0: none) */
    double warmup_init; /* rate at step 0 of the warm-up */
    long total;         /* total optimizer steps (decay length + warm-up) */
    long decay_steps;   /* steps from lr to min_lr after warm-up and hold (0: until `total`) */
    long hold;          /* steps at lr between warm-up and decay */
} vt_schedule;

double vt_schedule_lr(const vt_schedule *s, long step);
/* "constant" | "linear" | "cosine" (mlx-lm's "cosine_decay" and "linear_schedule" too). */
int vt_schedule_kind_parse(const char *name, vt_sched_kind *out);
const char *vt_schedule_kind_name(vt_sched_kind kind);

#endif
