/* optim.h — AdamW with decoupled weight decay, and clipping by global norm.
 *
 * The update, per parameter p with gradient g at step t (1-based):
 *   m = β1·m + (1−β1)·g          v = β2·v + (1−β2)·g²
 *   m̂ = m/(1−β1ᵗ), v̂ = v/(1−β2ᵗ)   (when bias_correction; else m̂ = m, v̂ = v)
 *   p = p·(1 − lr·wd) − lr·m̂/(√v̂ + ε)
 * which is PyTorch's AdamW; MLX's optimizers.AdamW is the same with
 * bias_correction off, its default.  Moments are kept in float32. */
#ifndef VT_OPTIM_H
#define VT_OPTIM_H

#include <stdbool.h>

#include "lora/params.h"

typedef struct {
    double beta1, beta2, eps, weight_decay;
    bool bias_correction;
} vt_adamw_config;

/* Defaults: β 0.9/0.999, ε 1e-8, weight decay 0.01, bias correction on. */
vt_adamw_config vt_adamw_defaults(void);

typedef struct {
    vt_adamw_config cfg;
    long step;     /* updates applied so far */
    vt_params m;   /* first moments, named like the parameters */
    vt_params v;   /* second moments */
} vt_adamw;

/* Zero moments shaped like `params`. */
int vt_adamw_init(vt_adamw *opt, const vt_adamw_config *cfg, const vt_params *params);
/* One update of every parameter from grads[i] (same order as params).  The new values are lazy;
 * evaluate params and moments together once per step.  apply (a bool scalar array, or NULL for always)
 * decides lazily whether the update happens: where it is false every parameter and moment keeps its
 * value, and the caller, having read it, takes the step count back (opt->step--). */
int vt_adamw_update(vt_adamw *opt, vt_params *params, const mx_array *grads, double lr, mx_array apply);
void vt_adamw_free(vt_adamw *opt);

/* Global L2 norm of all gradients into *norm (a float32 scalar, lazy), and, when
 * max_norm > 0, grads scaled in place by min(1, max_norm / norm).  New handles
 * go to the current arena. */
int vt_clip_grad_norm(mx_array *grads, size_t n, double max_norm, mx_array *norm);

#endif
