#include "train/schedule.h"

#include <math.h>
#include <string.h>

#include "util/error.h"

double vt_schedule_lr(const vt_schedule *s, long step) {
    if (step < 0) step = 0;
    if (step < s->warmup) return s->warmup_init + (s->lr - s->warmup_init) * (double)step / (double)s->warmup;
    long start = s->warmup + s->hold;
    long decay_steps = s->decay_steps > 0 ? s->decay_steps : s->total - start;
    double progress = decay_steps > 0 ? (double)(step - start) / (double)decay_steps : 1.0;
    if (progress < 0.0) progress = 0.0;
    if (progress > 1.0) progress = 1.0;
    switch (s->kind) {
    case VT_SCHED_LINEAR: return s->min_lr + (s->lr - s->min_lr) * (1.0 - progress);
    case VT_SCHED_COSINE: return s->min_lr + (s->lr - s->min_lr) * 0.5 * (1.0 + cos(M_PI * progress));
    case VT_SCHED_CONSTANT: break;
    }
    return s->lr;
}

static const struct {
    const char *name;
    vt_sched_kind kind;
} kinds[] = {
    {"constant", VT_SCHED_CONSTANT}, {"linear", VT_SCHED_LINEAR},          {"cosine", VT_SCHED_COSINE},
    {"cosine_decay", VT_SCHED_COSINE}, {"linear_schedule", VT_SCHED_LINEAR},
};

int vt_schedule_kind_parse(const char *name, vt_sched_kind *out) {
    for (size_t i = 0; i < sizeof kinds / sizeof *kinds; i++)
        if (name && !strcmp(name, kinds[i].name)) {
            *out = kinds[i].kind;
            return 0;
        }
    return vt_err("unknown learning-rate schedule '%s' (expected constant, linear or cosine)", name ? name : "");
}

const char *vt_schedule_kind_name(vt_sched_kind kind) {
    for (size_t i = 0; i < sizeof kinds / sizeof *kinds; i++)
        if (kinds[i].kind == kind) return kinds[i].name;
    return "?";
}
