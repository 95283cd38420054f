/* optim.c — AdamW over one flat float32 vector, and gradient clipping. */
#include "train/optim.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

vt_adamw_config vt_adamw_defaults(void) { return (vt_adamw_config){0.9, 0.999, 1e-8, 0.01, true}; }

/* ------------------------------------------------------------ flat vectors ---- */

/* arrays[0..n) flattened, as float32, end to end. */
/* The pieces live in a scope of their own: callers outside any arena (setup, resume) would own them. */
static int concat_flat(const mx_array *arrays, size_t n, mx_array *out) {
    mx_array *flat = malloc((n + 1) * sizeof *flat);
    if (!flat) return vt_err("out of memory");
    mx_arena *caller = mx_arena_current();
    mx_arena *scope = mx_scope_begin();
    int rc = 0;
    for (size_t i = 0; rc == 0 && i < n; i++) {
        int all = -1;
        rc = mx_reshape(&flat[i], arrays[i], &all, 1) || mx_astype(&flat[i], flat[i], MX_FLOAT32);
    }
    mx_array joined = NULL;
    if (rc == 0) rc = mx_concatenate(&joined, flat, n, 0);
    if (rc == 0) mx_keep(joined, caller), *out = joined;
    mx_scope_end(scope);
    free(flat);
    return rc;
}

/* Element range of parameter i of `vec`, shaped like `like` and of its type. */
static int view_of(const vt_adamw *opt, mx_array vec, size_t i, mx_array like, mx_array *out) {
    TRY(mx_slice_axis(out, vec, 0, (int)opt->offsets[i], (int)opt->offsets[i + 1]));
    TRY(mx_reshape(out, *out, mx_shape(like), mx_ndim(like)));
    return mx_dtype_of(like) == MX_FLOAT32 ? 0 : mx_astype(out, *out, mx_dtype_of(like));
}

/* Replaces one of the optimizer's vectors by `value` (moved into its arena). */
static void keep(vt_adamw *opt, mx_array *slot, mx_array value) {
    mx_free(*slot);
    mx_keep(value, opt->arena);
    *slot = value;
}

int vt_adamw_reset_params(vt_adamw *opt, const vt_params *params) {
    if (params->n != opt->n) return vt_err("optimizer made for %zu parameters, given %zu", opt->n, params->n);
    mx_array p;
    TRY(concat_flat(params->values, params->n, &p));
    keep(opt, &opt->p, p);
    return 0;
}

int vt_adamw_init(vt_adamw *opt, const vt_adamw_config *cfg, const vt_params *params) {
    *opt = (vt_adamw){.cfg = *cfg, .n = params->n};
    opt->offsets = calloc(params->n + 1, sizeof *opt->offsets);
    opt->arena = mx_arena_new();
    if (!opt->offsets || !opt->arena) return vt_err("out of memory");
    for (size_t i = 0; i < params->n; i++) opt->offsets[i + 1] = opt->offsets[i] + mx_size(params->values[i]);
    int total = (int)opt->offsets[params->n];
    mx_array zeros;
    TRY(vt_adamw_reset_params(opt, params));
    TRY(mx_zeros(&zeros, &total, 1, MX_FLOAT32));
    keep(opt, &opt->m, zeros);
    TRY(mx_zeros(&zeros, &total, 1, MX_FLOAT32));
    keep(opt, &opt->v, zeros);
    return 0;
}

int vt_adamw_moment(const vt_adamw *opt, size_t i, int which, mx_array *out) {
    if (i >= opt->n) return vt_err("moment of parameter %zu of %zu", i, opt->n);
    mx_array vec = which ? opt->v : opt->m;
    TRY(mx_slice_axis(out, vec, 0, (int)opt->offsets[i], (int)opt->offsets[i + 1]));
    return 0;
}

int vt_adamw_set_moments(vt_adamw *opt, const mx_array *m, const mx_array *v) {
    for (size_t i = 0; i < opt->n; i++)
        if (mx_size(m[i]) != opt->offsets[i + 1] - opt->offsets[i] || mx_size(v[i]) != mx_size(m[i]))
            return vt_err("moments of parameter %zu: %zu elements, expected %zu", i, mx_size(m[i]),
                          opt->offsets[i + 1] - opt->offsets[i]);
    mx_array fm, fv;
    TRY(concat_flat(m, opt->n, &fm));
    TRY(concat_flat(v, opt->n, &fv));
    keep(opt, &opt->m, fm);
    keep(opt, &opt->v, fv);
    return 0;
}

void vt_adamw_free(vt_adamw *opt) {
    if (!opt) return;
    mx_function_free(opt->kernel);
    mx_arena_free(opt->arena);
    free(opt->offsets);
    *opt = (vt_adamw){0};
}

/* ------------------------------------------------------------- the update ---- */

/* [p, g, m, v, scale, apply, lr, 1/bc1, 1/bc2] -> [p', m', v'], elementwise; compiled into one kernel.  The
 * step's numbers are inputs (a compiled function keeps what it captures fixed). */
static int kernel(void *ctx, const mx_array *in, size_t n_in, mx_array *out, size_t cap, size_t *n_out) {
    const vt_adamw_config *c = ctx;
    mx_array p = in[0], g = in[1], m = in[2], v = in[3], scale = in[4], apply = in[5], lr = in[6];
    mx_array g2, m1, v1, mhat, vhat, den, step, decay, p1, t;
    TRY(mx_multiply(&g, g, scale));
    TRY(mx_mul_scalar(&m1, m, c->beta1));
    TRY(mx_mul_scalar(&t, g, 1.0 - c->beta1));
    TRY(mx_add(&m1, m1, t));
    TRY(mx_square(&g2, g));
    TRY(mx_mul_scalar(&g2, g2, 1.0 - c->beta2));
    TRY(mx_mul_scalar(&v1, v, c->beta2));
    TRY(mx_add(&v1, v1, g2));
    TRY(mx_multiply(&mhat, m1, in[7]));
    TRY(mx_multiply(&vhat, v1, in[8]));
    TRY(mx_sqrt(&den, vhat));
    TRY(mx_add_scalar(&den, den, c->eps));
    TRY(mx_divide(&step, mhat, den));
    TRY(mx_multiply(&step, step, lr));
    TRY(mx_mul_scalar(&decay, lr, -c->weight_decay));
    TRY(mx_add_scalar(&decay, decay, 1.0));
    TRY(mx_multiply(&p1, p, decay));
    TRY(mx_subtract(&p1, p1, step));
    TRY(mx_where(&out[0], apply, p1, p));
    TRY(mx_where(&out[1], apply, m1, m));
    TRY(mx_where(&out[2], apply, v1, v));
    *n_out = 3;
    return 0;
}

static int scalar(double x, mx_array *out) { return mx_scalar(out, x, MX_FLOAT32); }

/* !(isinf(x) || isnan(x)) */
static int all_finite(mx_array x, mx_array *out) {
    mx_array a, b;
    TRY(mx_isinf(&a, x));
    TRY(mx_isnan(&b, x));
    TRY(mx_logical_or(&a, a, b));
    return mx_logical_not(out, a);
}

int vt_adamw_flatten(const vt_adamw *opt, const mx_array *grads, mx_array *flat) {
    return concat_flat(grads, opt->n, flat);
}

int vt_adamw_step(vt_adamw *opt, vt_params *params, const mx_array *grads, double lr, double max_norm,
                  mx_array loss, mx_array *norm_out, mx_array *applied) {
    if (params->n != opt->n) return vt_err("optimizer made for %zu parameters, given %zu", opt->n, params->n);
    mx_array g;
    TRY(concat_flat(grads, params->n, &g));
    return vt_adamw_step_flat(opt, params, g, lr, max_norm, loss, norm_out, applied);
}

int vt_adamw_step_flat(vt_adamw *opt, vt_params *params, mx_array g, double lr, double max_norm, mx_array loss,
                       mx_array *norm_out, mx_array *applied) {
    if (params->n != opt->n) return vt_err("optimizer made for %zu parameters, given %zu", opt->n, params->n);
    if (mx_ndim(g) != 1 || mx_size(g) != opt->offsets[opt->n])
        return vt_err("flat gradient of %zu elements, the parameters have %zu", mx_size(g), opt->offsets[opt->n]);
    if (!opt->kernel) {
        mx_function *f;
        TRY(mx_function_new(&f, kernel, &opt->cfg));
        int rc = mx_function_compile(&opt->kernel, f, true);
        mx_function_free(f);
        TRY(rc);
    }
    long t = opt->step + 1;
    double bc1 = opt->cfg.bias_correction ? 1.0 - pow(opt->cfg.beta1, (double)t) : 1.0;
    double bc2 = opt->cfg.bias_correction ? 1.0 - pow(opt->cfg.beta2, (double)t) : 1.0;
    mx_array norm, scale, ok, in[9], out[3];
    size_t n_out;
    TRY(mx_square(&norm, g));
    TRY(mx_sum(&norm, norm, NULL, 0, false));
    TRY(mx_sqrt(&norm, norm));
    TRY(scalar(1.0, &scale));
    if (max_norm > 0) { /* min(1, max_norm / (norm + 1e-6)) */
        mx_array s;
        TRY(mx_add_scalar(&s, norm, 1e-6));
        TRY(mx_reciprocal(&s, s));
        TRY(mx_mul_scalar(&s, s, max_norm));
        TRY(mx_minimum(&scale, s, scale));
    }
    TRY(all_finite(norm, &ok));
    if (loss) {
        mx_array lf;
        TRY(all_finite(loss, &lf));
        TRY(mx_logical_and(&ok, ok, lf));
    }
    in[0] = opt->p, in[1] = g, in[2] = opt->m, in[3] = opt->v, in[4] = scale, in[5] = ok;
    TRY(scalar(lr, &in[6]));
    TRY(scalar(1.0 / bc1, &in[7]));
    TRY(scalar(1.0 / bc2, &in[8]));
    TRY(mx_function_call(opt->kernel, in, 9, out, 3, &n_out));
    for (size_t i = 0; i < params->n; i++) {
        mx_array view;
        TRY(view_of(opt, out[0], i, params->values[i], &view));
        mx_keep(view, NULL);
        vt_params_replace(params, i, view);
    }
    mx_array p = out[0], m = out[1], v = out[2];
    TRY(mx_ref(&p, p) || mx_ref(&m, m) || mx_ref(&v, v));
    keep(opt, &opt->p, p);
    keep(opt, &opt->m, m);
    keep(opt, &opt->v, v);
    opt->step = t;
    if (norm_out) *norm_out = norm;
    if (applied) *applied = ok;
    return 0;
}

int vt_adamw_update(vt_adamw *opt, vt_params *params, const mx_array *grads, double lr) {
    return vt_adamw_step(opt, params, grads, lr, 0, NULL, NULL, NULL);
}

/* ------------------------------------------------------------- clipping ---- */

int vt_clip_grad_norm(mx_array *grads, size_t n, double max_norm, mx_array *norm) {
    mx_array total;
    TRY(mx_scalar(&total, 0.0, MX_FLOAT32));
    for (size_t i = 0; i < n; i++) {
        mx_array g32, sq, s;
        TRY(mx_astype(&g32, grads[i], MX_FLOAT32));
        TRY(mx_square(&sq, g32));
        TRY(mx_sum(&s, sq, NULL, 0, false));
        TRY(mx_add(&total, total, s));
    }
    TRY(mx_sqrt(norm, total));
    if (max_norm <= 0) return 0;
    /* scale = min(1, max_norm / (norm + 1e-6)), kept lazy so no host read is needed here */
    mx_array den, scale, one;
    TRY(mx_add_scalar(&den, *norm, 1e-6));
    TRY(mx_reciprocal(&scale, den));
    TRY(mx_mul_scalar(&scale, scale, max_norm));
    TRY(mx_scalar(&one, 1.0, MX_FLOAT32));
    TRY(mx_minimum(&scale, scale, one));
    for (size_t i = 0; i < n; i++) {
        mx_array s;
        TRY(mx_astype(&s, scale, mx_dtype_of(grads[i])));
        TRY(mx_multiply(&grads[i], grads[i], s));
    }
    return 0;
}
