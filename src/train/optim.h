/* optim.h — AdamW with decoupled weight decay, and clipping by global norm.
 *
 * The update, per parameter p with gradient g at step t (1-based):
 *   m = β1·m + (1−β1)·g          v = β2·v + (1−β2)·g²
 *   m̂ = m/(1−β1ᵗ), v̂ = v/(1−β2ᵗ)   (when bias_correction; else m̂ = m, v̂ = v)
 *   p = p·(1 − lr·wd) − lr·m̂/(√v̂ + ε)
 * which is PyTorch's AdamW; MLX's optimizers.AdamW is the same with bias_correction off, its default.
 *
 * Every parameter, moment and gradient is laid end to end in one float32 vector, so a step is a few fused
 * kernels (one compiled update, one norm) instead of a dozen small ones per adapter matrix: a LoRA run has
 * hundreds of them.  The parameters' arrays become views of the updated vector. */
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
    long step;              /* updates applied so far */
    size_t n;               /* parameters */
    size_t *offsets;        /* [n + 1]: parameter i is elements offsets[i] .. offsets[i+1] of the vectors */
    mx_array p, m, v;       /* float32 [offsets[n]]: master copy of the parameters, first and second moments */
    mx_arena *arena;        /* the three vectors */
    mx_function *kernel;    /* the compiled elementwise update */
} vt_adamw;

/* Zero moments for `params` (whose current values become the master copy). */
int vt_adamw_init(vt_adamw *opt, const vt_adamw_config *cfg, const vt_params *params);
/* Takes the parameters' current values again (after they were replaced, e.g. by loaded adapters). */
int vt_adamw_reset_params(vt_adamw *opt, const vt_params *params);
/* Moment `which` (0: m, 1: v) of parameter i, a view in the current arena. */
int vt_adamw_moment(const vt_adamw *opt, size_t i, int which, mx_array *out);
/* Replaces both moments of every parameter (arrays of their shapes, in parameter order). */
int vt_adamw_set_moments(vt_adamw *opt, const mx_array *m, const mx_array *v);

/* One step from grads[i] (parameter order), lazily: the gradient's global norm into *norm (float32 scalar), the
 * gradient scaled by min(1, max_norm / norm) when max_norm > 0, and the update applied unless `loss` (may be
 * NULL) or the norm is not finite; *applied (bool scalar, may be NULL) says which.  Evaluate the parameters,
 * the optimizer's vectors, *norm and *applied together; when *applied is false, take the step count back
 * (opt->step--): nothing changed.  New handles go to the current arena; the parameters' and the optimizer's
 * own arrays are replaced. */
int vt_adamw_step(vt_adamw *opt, vt_params *params, const mx_array *grads, double lr, double max_norm,
                  mx_array loss, mx_array *norm, mx_array *applied);
/* The same from the gradient already laid end to end (float32 [offsets[n]], as vt_adamw_flatten makes it):
 * data-parallel training sums this one vector over the processes. */
int vt_adamw_step_flat(vt_adamw *opt, vt_params *params, mx_array flat_grad, double lr, double max_norm,
                       mx_array loss, mx_array *norm, mx_array *applied);
/* grads[i] (parameter order) as one float32 vector, in the current arena. */
int vt_adamw_flatten(const vt_adamw *opt, const mx_array *grads, mx_array *flat);
/* The same without clipping or a finiteness check. */
int vt_adamw_update(vt_adamw *opt, vt_params *params, const mx_array *grads, double lr);
void vt_adamw_free(vt_adamw *opt);

/* Global L2 norm of all gradients into *norm (a float32 scalar, lazy), and, when max_norm > 0, grads scaled
 * in place by min(1, max_norm / (norm + 1e-6)).  New handles go to the current arena. */
int vt_clip_grad_norm(mx_array *grads, size_t n, double max_norm, mx_array *norm);

#endif
