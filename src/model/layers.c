#include "model/layers.h"

#include <math.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

int vt_reshape(mx_array *out, mx_array x, int ndim, ...) {
    int shape[MX_MAX_NDIM];
    va_list ap;
    va_start(ap, ndim);
    for (int i = 0; i < ndim && i < MX_MAX_NDIM; i++) shape[i] = va_arg(ap, int);
    va_end(ap);
    return mx_reshape(out, x, shape, ndim);
}

/* x @ dequant(W)ᵀ for a quantized W [out, in].  A projection's gradient dequantizes W first (mx_quantized_linear:
 * a plain matmul, fast on every backend, one layer's weight in the activations' type for the moment); a
 * vocabulary-sized head keeps MLX's own gradient, which never holds the whole table dequantized (778 MB at
 * 4B size, against 50 MB for the largest projection). */
static int quantized_product(mx_array x, mx_array w, mx_array scales, mx_array biases, int out, int in, int group_size,
                             int bits, mx_array *y) {
    if ((size_t)out * (size_t)in > ((size_t)64 << 20))
        return mx_quantized_matmul(y, x, w, scales, biases, true, group_size, bits);
    return mx_quantized_linear(y, x, w, scales, biases, group_size, bits);
}

int vt_linear_forward(const vt_linear *lin, mx_array x, mx_array *y) {
    mx_array base;
    if (lin->scales) {
        TRY(quantized_product(x, lin->weight, lin->scales, lin->biases, lin->out, lin->in, lin->group_size, lin->bits,
                              &base));
    } else {
        mx_array wt;
        TRY(mx_transpose(&wt, lin->weight, NULL, 0));
        TRY(mx_matmul(&base, x, wt));
    }
    if (lin->bias) TRY(mx_add(&base, base, lin->bias));
    if (lin->adapter_ops) return lin->adapter_ops->forward(lin->adapter, x, base, y);
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
    if (e->scales)
        return quantized_product(x, e->weight, e->scales, e->biases, e->rows, e->dim, e->group_size, e->bits, out);
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

/* ------------------------------------------- checkpointed and compiled blocks ---- */

enum { MAX_BLOCK_LINEARS = 8, MAX_BLOCK_ARRAYS = MAX_BLOCK_LINEARS * VT_MAX_ADAPTER_ARRAYS, MAX_BLOCK_INPUTS = 8 };

/* A block as MLX calls it: the adapters' arrays come first in its inputs, the block's own after them. */
typedef struct {
    vt_block_fn fn;
    vt_linear *linears[MAX_BLOCK_LINEARS];
    size_t n_linears;
    size_t n_arrays;                      /* the adapters' arrays at the head of the inputs */
    const void *adapters[MAX_BLOCK_LINEARS]; /* the adapter states it was made for */
    max_align_t ctx[];                    /* the block's context, copied */
} closure;

struct vt_block_cache {
    closure *c;
    mx_function *fn, *compiled;
};

static _Thread_local struct {
    closure **items;
    size_t n;
} retained;

void vt_checkpoint_release(void) {
    for (size_t i = 0; i < retained.n; i++) free(retained.items[i]);
    free(retained.items);
    retained.items = NULL, retained.n = 0;
}

void vt_block_cache_free(vt_block_cache *b) {
    if (!b) return;
    mx_function_free(b->compiled);
    mx_function_free(b->fn);
    free(b->c);
    free(b);
}

/* Points each adapter at `arrays` (consumed in order), remembering what it read before in `saved`. */
static size_t rebind_all(const closure *c, const mx_array *arrays, mx_array *saved) {
    size_t k = 0;
    for (size_t i = 0; i < c->n_linears; i++) {
        vt_linear *lin = c->linears[i];
        if (!lin->adapter_ops) continue;
        size_t n = lin->adapter_ops->arrays(lin->adapter, saved + k);
        lin->adapter_ops->rebind(lin->adapter, arrays + k);
        k += n;
    }
    return k;
}

static int closure_call(void *ctx, const mx_array *in, size_t n_in, mx_array *out, size_t cap, size_t *n_out) {
    (void)cap;
    const closure *c = ctx;
    mx_array saved[MAX_BLOCK_ARRAYS], ignored[MAX_BLOCK_ARRAYS];
    rebind_all(c, in, saved);
    int rc = c->fn(c->ctx, in + c->n_arrays, n_in - c->n_arrays, &out[0]);
    rebind_all(c, saved, ignored);
    *n_out = 1;
    return rc;
}

/* The adapters' arrays into `all` (at most MAX_BLOCK_ARRAYS); returns their count. */
static size_t adapter_arrays(vt_linear *const *linears, size_t n, mx_array *all) {
    size_t k = 0;
    for (size_t i = 0; i < n; i++)
        if (linears[i]->adapter_ops) k += linears[i]->adapter_ops->arrays(linears[i]->adapter, all + k);
    return k;
}

static closure *closure_new(vt_block_fn fn, const void *ctx, size_t ctx_size, vt_linear *const *linears, size_t n) {
    closure *c = malloc(sizeof *c + ctx_size);
    if (!c) return NULL;
    *c = (closure){.fn = fn, .n_linears = n};
    memcpy(c->linears, linears, n * sizeof *linears);
    memcpy(c->ctx, ctx, ctx_size);
    mx_array scratch[MAX_BLOCK_ARRAYS];
    c->n_arrays = adapter_arrays(linears, n, scratch);
    for (size_t i = 0; i < n; i++) c->adapters[i] = linears[i]->adapter;
    return c;
}

static bool same_adapters(const closure *c, vt_linear *const *linears, size_t n) {
    if (c->n_linears != n) return false;
    for (size_t i = 0; i < n; i++)
        if (c->linears[i] != linears[i] || c->adapters[i] != linears[i]->adapter) return false;
    return true;
}

/* The block's compiled function, made at its first call and again whenever its adapters change. */
static int compiled_of(vt_block_cache **cache, vt_block_fn fn, const void *ctx, size_t ctx_size,
                       vt_linear *const *linears, size_t n, mx_function **out) {
    vt_block_cache *b = *cache;
    if (b && same_adapters(b->c, linears, n)) return *out = b->compiled, 0;
    vt_block_cache_free(b);
    *cache = NULL;
    if (!(b = calloc(1, sizeof *b)) || !(b->c = closure_new(fn, ctx, ctx_size, linears, n))) {
        vt_block_cache_free(b);
        return vt_err("out of memory");
    }
    if (mx_function_new(&b->fn, closure_call, b->c) || mx_function_compile(&b->compiled, b->fn, false)) {
        vt_block_cache_free(b);
        return -1;
    }
    *cache = b;
    *out = b->compiled;
    return 0;
}

int vt_block_call(vt_block_fn fn, const void *ctx, size_t ctx_size, vt_linear *const *linears, size_t n_linears,
                  const mx_array *in, size_t n_in, bool checkpoint, vt_block_cache **compiled, mx_array *out) {
    if (n_linears > MAX_BLOCK_LINEARS || n_in > MAX_BLOCK_INPUTS) return vt_err("internal: block too large");
    mx_array all[MAX_BLOCK_ARRAYS + MAX_BLOCK_INPUTS];
    size_t n = adapter_arrays(linears, n_linears, all);
    memcpy(all + n, in, n_in * sizeof *in);
    n += n_in;
    mx_function *f = NULL, *ck = NULL, *run = NULL;
    if (compiled) {
        TRY(compiled_of(compiled, fn, ctx, ctx_size, linears, n_linears, &run));
    } else {
        /* a recomputed block calls back after this function returns: its closure lives until released */
        closure *c = closure_new(fn, ctx, ctx_size, linears, n_linears);
        closure **grown = c ? realloc(retained.items, (retained.n + 1) * sizeof *grown) : NULL;
        if (!grown) {
            free(c);
            return vt_err("out of memory");
        }
        retained.items = grown;
        retained.items[retained.n++] = c;
        TRY(mx_function_new(&f, closure_call, c));
        run = f;
    }
    size_t n_out;
    int rc = checkpoint ? mx_function_checkpoint(&ck, run) : 0;
    if (rc == 0) rc = mx_function_call(ck ? ck : run, all, n, out, 1, &n_out);
    mx_function_free(ck);
    mx_function_free(f);
    return rc;
}
