#include "train/optim.h"

#include <math.h>
#include <string.h>

vt_adamw_config vt_adamw_defaults(void) { return (vt_adamw_config){0.9, 0.999, 1e-8, 0.01, true}; }

int vt_adamw_init(vt_adamw *opt, const vt_adamw_config *cfg, const vt_params *params) {
    *opt = (vt_adamw){.cfg = *cfg};
    for (size_t i = 0; i < params->n; i++) {
        mx_array zeros;
        TRY(mx_zeros(&zeros, mx_shape(params->values[i]), mx_ndim(params->values[i]), MX_FLOAT32));
        int rc = vt_params_add(&opt->m, params->names[i], zeros) || vt_params_add(&opt->v, params->names[i], zeros);
        mx_free(zeros);
        if (rc) return -1;
    }
    return 0;
}

/* The new (p, m, v) for one parameter, as lazy arrays in the current arena. */
static int adamw_one(const vt_adamw_config *c, long t, double lr, mx_array p, mx_array g, mx_array m,
                     mx_array v, mx_array *p_new, mx_array *m_new, mx_array *v_new) {
    mx_array g32, gm, mm, g2, vv, mhat, vhat, den, step, decayed, p32;
    TRY(mx_astype(&g32, g, MX_FLOAT32));
    TRY(mx_mul_scalar(&mm, m, c->beta1));
    TRY(mx_mul_scalar(&gm, g32, 1.0 - c->beta1));
    TRY(mx_add(m_new, mm, gm));
    TRY(mx_square(&g2, g32));
    TRY(mx_mul_scalar(&g2, g2, 1.0 - c->beta2));
    TRY(mx_mul_scalar(&vv, v, c->beta2));
    TRY(mx_add(v_new, vv, g2));
    double bc1 = c->bias_correction ? 1.0 - pow(c->beta1, (double)t) : 1.0;
    double bc2 = c->bias_correction ? 1.0 - pow(c->beta2, (double)t) : 1.0;
    TRY(mx_mul_scalar(&mhat, *m_new, 1.0 / bc1));
    TRY(mx_mul_scalar(&vhat, *v_new, 1.0 / bc2));
    TRY(mx_sqrt(&den, vhat));
    TRY(mx_add_scalar(&den, den, c->eps));
    TRY(mx_divide(&step, mhat, den));
    TRY(mx_mul_scalar(&step, step, lr));
    TRY(mx_astype(&p32, p, MX_FLOAT32));
    TRY(mx_mul_scalar(&decayed, p32, 1.0 - lr * c->weight_decay));
    TRY(mx_subtract(p_new, decayed, step));
    return mx_astype(p_new, *p_new, mx_dtype_of(p));
}

/* *x = apply ? x_new : x_old, lazily (apply NULL: x_new). */
static int select(mx_array apply, mx_array x_new, mx_array x_old, mx_array *x) {
    if (!apply) return *x = x_new, 0;
    return mx_where(x, apply, x_new, x_old);
}

int vt_adamw_update(vt_adamw *opt, vt_params *params, const mx_array *grads, double lr, mx_array apply) {
    if (opt->m.n != params->n) return vt_err("optimizer state has %zu moments for %zu parameters", opt->m.n, params->n);
    long t = opt->step + 1;
    for (size_t i = 0; i < params->n; i++) {
        mx_arena *scope = mx_scope_begin();
        mx_array p, m, v, p1, m1, v1;
        int rc = adamw_one(&opt->cfg, t, lr, params->values[i], grads[i], opt->m.values[i], opt->v.values[i], &p1,
                           &m1, &v1) ||
                 select(apply, p1, params->values[i], &p) || select(apply, m1, opt->m.values[i], &m) ||
                 select(apply, v1, opt->v.values[i], &v);
        if (rc == 0) {
            vt_params_replace(params, i, p);
            vt_params_replace(&opt->m, i, m);
            vt_params_replace(&opt->v, i, v);
        }
        mx_scope_end(scope);
        if (rc) return vt_err_context("AdamW update of %s", params->names[i]);
    }
    opt->step = t;
    return 0;
}

void vt_adamw_free(vt_adamw *opt) {
    if (!opt) return;
    vt_params_free(&opt->m);
    vt_params_free(&opt->v);
}

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
