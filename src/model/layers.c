#include "model/layers.h"

#include <math.h>
#include <stdarg.h>

int vt_reshape(mx_array *out, mx_array x, int ndim, ...) {
    int shape[MX_MAX_NDIM];
    va_list ap;
    va_start(ap, ndim);
    for (int i = 0; i < ndim && i < MX_MAX_NDIM; i++) shape[i] = va_arg(ap, int);
    va_end(ap);
    return mx_reshape(out, x, shape, ndim);
}

int vt_linear_forward(const vt_linear *lin, mx_array x, mx_array *y) {
    mx_array base;
    if (lin->scales) {
        TRY(mx_quantized_matmul(&base, x, lin->weight, lin->scales, lin->biases, true, lin->group_size, lin->bits));
    } else {
        mx_array wt;
        TRY(mx_transpose(&wt, lin->weight, NULL, 0));
        TRY(mx_matmul(&base, x, wt));
    }
    if (lin->bias) TRY(mx_add(&base, base, lin->bias));
    if (lin->adapter_fn) return lin->adapter_fn(lin->adapter, x, base, y);
    *y = base;
    return 0;
}

int vt_embedding_lookup(const vt_embedding *e, mx_array ids, mx_array *out) {
    if (!e->scales) return mx_take(out, e->weight, ids, 0);
    mx_array w, s, b, flat;
    int n = (int)mx_size(ids);
    TRY(vt_reshape(&flat, ids, 1, n));
    TRY(mx_take(&w, e->weight, flat, 0));
    TRY(mx_take(&s, e->scales, flat, 0));
    TRY(mx_take(&b, e->biases, flat, 0));
    mx_array rows;
    TRY(mx_dequantize(&rows, w, s, b, e->group_size, e->bits));
    int shape[MX_MAX_NDIM];
    int nd = mx_ndim(ids);
    for (int i = 0; i < nd; i++) shape[i] = mx_dim(ids, i);
    shape[nd] = e->dim;
    return mx_reshape(out, rows, shape, nd + 1);
}

int vt_embedding_as_linear(const vt_embedding *e, mx_array x, mx_array *out) {
    if (e->scales) return mx_quantized_matmul(out, x, e->weight, e->scales, e->biases, true, e->group_size, e->bits);
    mx_array wt;
    TRY(mx_transpose(&wt, e->weight, NULL, 0));
    return mx_matmul(out, x, wt);
}

int vt_gelu(mx_array x, bool tanh_approx, mx_array *out) {
    mx_array inner, t;
    if (tanh_approx) {
        /* 0.5·x·(1 + tanh(√(2/π)·(x + 0.044715·x³))) */
        mx_array x3;
        TRY(mx_pow_scalar(&x3, x, 3.0));
        TRY(mx_mul_scalar(&x3, x3, 0.044715));
        TRY(mx_add(&inner, x, x3));
        TRY(mx_mul_scalar(&inner, inner, sqrt(2.0 / M_PI)));
        TRY(mx_tanh(&t, inner));
    } else {
        /* 0.5·x·(1 + erf(x/√2)) */
        TRY(mx_mul_scalar(&inner, x, M_SQRT1_2));
        TRY(mx_erf(&t, inner));
    }
    TRY(mx_add_scalar(&t, t, 1.0));
    TRY(mx_multiply(&t, t, x));
    return mx_mul_scalar(out, t, 0.5);
}

int vt_silu(mx_array x, mx_array *out) {
    mx_array s;
    TRY(mx_sigmoid(&s, x));
    return mx_multiply(out, x, s);
}

int vt_rotate_half(mx_array x, mx_array *out) {
    mx_array halves[2], neg, parts[2];
    TRY(mx_split(halves, 2, x, -1));
    TRY(mx_neg(&neg, halves[1]));
    parts[0] = neg;
    parts[1] = halves[0];
    return mx_concatenate(out, parts, 2, -1);
}

int vt_apply_rotary(mx_array x, mx_array cos, mx_array sin, bool in_f32, mx_array *out) {
    mx_dtype dt = in_f32 ? MX_FLOAT32 : mx_dtype_of(x);
    mx_array xs, rot, a, b, c, s, sum;
    TRY(mx_astype(&xs, x, dt));
    TRY(mx_astype(&c, cos, dt));
    TRY(mx_astype(&s, sin, dt));
    TRY(vt_rotate_half(xs, &rot));
    TRY(mx_multiply(&a, xs, c));
    TRY(mx_multiply(&b, rot, s));
    TRY(mx_add(&sum, a, b));
    return mx_astype(out, sum, mx_dtype_of(x));
}
