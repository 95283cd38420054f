/* adapter.c — the LoRA/DoRA hook on a vt_linear, and the vt_lora object that owns the hooks. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lora/lora.h"
#include "lora/select.h"
#include "util/mix.h"

typedef struct {
    vt_lora *owner;
    vt_linear *lin;   /* borrowed from the model */
    size_t first;     /* index of lora_a in owner->params; lora_b follows, then m (DoRA) */
    mx_array a, b, m; /* what the hook reads: the params' arrays, or bound ones */
    mx_array a_run, b_run; /* prepared for inference (vt_lora_prepare): A and scale·B in the activations' type,
                            * on a GPU padded and laid out for matrix-vector products; NULL until then */
} adapter;

struct vt_lora {
    vt_model *model;  /* borrowed */
    vt_lora_config cfg;
    char *keys;       /* owned copy of cfg.keys */
    adapter *ad;      /* owned */
    size_t n;
    vt_params params;
    mx_arena *prepared; /* the adapters' a_run and b_run (NULL: not prepared) */
    vt_adapter_meta meta;
    bool training;
    uint64_t seed;
};

vt_params *vt_lora_params(vt_lora *l) { return &l->params; }
const vt_lora_config *vt_lora_config_of(const vt_lora *l) { return &l->cfg; }
size_t vt_lora_count(const vt_lora *l) { return l->n; }
const vt_adapter_meta *vt_lora_meta(const vt_lora *l) { return &l->meta; }
void vt_lora_set_meta(vt_lora *l, const vt_adapter_meta *meta) { l->meta = *meta; }

const vt_linear *vt_lora_layer(const vt_lora *l, size_t i, mx_array *a, mx_array *b, mx_array *m) {
    const adapter *ad = &l->ad[i];
    if (a) *a = ad->a;
    if (b) *b = ad->b;
    if (m) *m = ad->m;
    return ad->lin;
}

/* ------------------------------------------------------------ the hook ---- */

/* Inverted dropout, as mlx.nn.Dropout: keep with probability 1 − p and scale by 1/(1 − p). */
static int dropout(const adapter *ad, mx_array x, mx_array *out) {
    double p = ad->owner->cfg.dropout;
    mx_array key, keep, zero, scaled;
    TRY(mx_random_key(&key, vt_mix64(ad->owner->seed ^ vt_mix64(ad->first))));
    TRY(mx_random_bernoulli(&keep, 1.0 - p, mx_shape(x), mx_ndim(x), key));
    TRY(mx_mul_scalar(&scaled, x, 1.0 / (1.0 - p)));
    TRY(mx_zeros_like(&zero, x));
    return mx_where(out, keep, scaled, zero);
}

static int dense_weight(const vt_linear *lin, mx_array *w) {
    if (!lin->scales) return mx_ref(w, lin->weight);
    return mx_dequantize(w, lin->weight, lin->scales, lin->biases, lin->group_size, lin->bits);
}

/* ‖W + scale·(AB)ᵀ‖ per output row, a constant for the backward pass. */
static int dora_norm(const adapter *ad, mx_array *norm) {
    mx_array w, ab, abt, adapted, sq;
    int axis = 1;
    TRY(dense_weight(ad->lin, &w));
    TRY(mx_matmul(&ab, ad->a, ad->b));
    TRY(mx_transpose(&abt, ab, NULL, 0));
    TRY(mx_mul_scalar(&abt, abt, ad->owner->cfg.scale));
    TRY(mx_add(&adapted, w, abt));
    TRY(mx_square(&sq, adapted));
    TRY(mx_sum(&sq, sq, &axis, 1, false));
    TRY(mx_sqrt(&sq, sq));
    return mx_stop_gradient(norm, sq);
}

/* The low-rank path runs in the activations' type (bf16 on a bf16 base: tensor-core products), with A and B
 * cast down from their float32 master copies, as mixed-precision training does; promoting the activations
 * to float32 instead costs a copy of x and float32 products in both passes. */
static int low_rank(const adapter *ad, mx_array x, mx_array *z) {
    mx_dtype dt = mx_dtype_of(x);
    mx_array a = ad->a, b = ad->b;
    if (mx_dtype_of(a) != dt) TRY(mx_astype(&a, a, dt));
    if (mx_dtype_of(b) != dt) TRY(mx_astype(&b, b, dt));
    TRY(mx_matmul(z, x, a));
    TRY(mx_matmul(z, *z, b));
    return mx_mul_scalar(z, *z, ad->owner->cfg.scale);
}

/* The same with the arrays vt_lora_prepare laid out (the scale is in b_run): no casts, no scaling, and on a
 * GPU two matrix-vector kernels per generated token instead of two general products. */
static int low_rank_prepared(const adapter *ad, mx_array x, mx_array *z) {
    TRY(mx_matmul(z, x, ad->a_run));
    return mx_matmul(z, *z, ad->b_run);
}

/* Prepared arrays serve only the params' own A and B: not a transform's bound ones, nor training. */
static bool use_prepared(const adapter *ad) {
    const vt_lora *l = ad->owner;
    return ad->a_run && !l->training && ad->a == l->params.values[ad->first] &&
           ad->b == l->params.values[ad->first + 1];
}

static int hook_forward(void *state, mx_array x, mx_array y_base, mx_array *y) {
    const adapter *ad = state;
    const vt_lora *l = ad->owner;
    mx_array in = x, z;
    if (l->training && l->cfg.dropout > 0) TRY(dropout(ad, x, &in));
    TRY(use_prepared(ad) ? low_rank_prepared(ad, in, &z) : low_rank(ad, in, &z));
    if (l->cfg.kind == VT_ADAPTER_LORA) return mx_add(y, y_base, z);
    mx_array base = y_base, out, norm, gain;
    if (ad->lin->bias) TRY(mx_subtract(&base, y_base, ad->lin->bias));
    TRY(mx_add(&out, base, z));
    TRY(dora_norm(ad, &norm));
    TRY(mx_divide(&gain, ad->m, norm));
    TRY(mx_astype(&gain, gain, mx_dtype_of(x)));
    TRY(mx_multiply(&out, out, gain));
    if (ad->lin->bias) return mx_add(y, out, ad->lin->bias);
    *y = out;
    return 0;
}

static size_t hook_arrays(const void *state, mx_array *out) {
    const adapter *ad = state;
    out[0] = ad->a, out[1] = ad->b;
    if (ad->owner->cfg.kind != VT_ADAPTER_DORA) return 2;
    out[2] = ad->m;
    return 3;
}

static void hook_rebind(void *state, const mx_array *in) {
    adapter *ad = state;
    ad->a = in[0], ad->b = in[1];
    if (ad->owner->cfg.kind == VT_ADAPTER_DORA) ad->m = in[2];
}

static const vt_adapter_ops hook_ops = {hook_forward, hook_arrays, hook_rebind};

void vt_lora_bind(vt_lora *l, const mx_array *values) {
    const mx_array *v = values ? values : l->params.values;
    for (size_t i = 0; i < l->n; i++) hook_rebind(&l->ad[i], v + l->ad[i].first);
}

/* MLX's CUDA backend multiplies one token's row by a matrix with its matrix-vector kernel only when the
 * reduced dimension is a multiple of 32 and the matrix is stored row by row along it (mlx/backend/cuda/gemms/
 * gemv.cu); otherwise a general cuBLAS product, ~20 µs against ~5 at decode shapes on an H200 (bench/README.md).
 * A [in, r] is x's product over `in`, B [r, out] the low-rank row's over r: both become [K, N] views of
 * row-major [N, K] storage, the rank padded with zeros to a multiple of 32 (exact: the padding adds zeros).
 * B carries the scale, multiplied in float32 before rounding to `dt`: one operation less per layer and token.
 * The layout is for GPUs: MLX's CPU products ran 2.4× slower with it (bench/decode_ops.py). */
enum { GEMV_MULTIPLE = 32 };

static int run_layout(mx_array m, int pad_axis, double scale, mx_dtype dt, bool gemv, mx_array *out) {
    int rank = mx_dim(m, pad_axis), padded = (rank + GEMV_MULTIPLE - 1) / GEMV_MULTIPLE * GEMV_MULTIPLE;
    int lo[2] = {0, 0}, hi[2] = {0, 0};
    hi[pad_axis] = padded - rank;
    mx_array t;
    TRY(mx_astype(&t, m, MX_FLOAT32));
    if (scale != 1.0) TRY(mx_mul_scalar(&t, t, scale));
    TRY(mx_astype(out, t, dt));
    if (!gemv) return mx_eval(out, 1);
    t = *out;
    if (padded != rank) TRY(mx_pad(&t, t, lo, hi, 2, 0.0));
    TRY(mx_transpose(&t, t, NULL, 0));
    TRY(mx_contiguous(&t, t));
    TRY(mx_transpose(out, t, NULL, 0));
    return mx_eval(out, 1);
}

/* A and B in `dt`, for the paths that bind the params' arrays (a compiled layer takes them as inputs). */
static int cast_params(vt_lora *l, mx_dtype dt) {
    for (size_t j = 0; j < l->params.n; j++) {
        mx_array v = l->params.values[j];
        if (mx_dtype_of(v) == dt) continue;
        mx_arena *scope = mx_scope_begin();
        int rc = mx_astype(&v, v, dt) || mx_eval(&v, 1);
        if (rc == 0) vt_params_replace(&l->params, j, v); /* moves v to the params' arena */
        mx_scope_end(scope);
        TRY(rc);
    }
    vt_lora_bind(l, NULL);
    return 0;
}

int vt_lora_prepare(vt_lora *l, mx_dtype dt, bool gemv_layout) {
    if (l->cfg.kind == VT_ADAPTER_DORA) return 0; /* its weight norms are computed from A and B in float32 */
    if (!l->prepared && !(l->prepared = mx_arena_new())) return vt_err("out of memory");
    vt_lora_bind(l, NULL);
    for (size_t i = 0; i < l->n; i++) { /* from the float32 masters: the scale folded into B before rounding */
        adapter *ad = &l->ad[i];
        mx_array a, b;
        mx_arena *scope = mx_scope_begin();
        int rc = run_layout(ad->a, 1, 1.0, dt, gemv_layout, &a) ||
                 run_layout(ad->b, 0, l->cfg.scale, dt, gemv_layout, &b);
        if (rc == 0) mx_keep(a, l->prepared), mx_keep(b, l->prepared), ad->a_run = a, ad->b_run = b;
        mx_scope_end(scope);
        TRY(rc);
    }
    return cast_params(l, dt);
}

void vt_lora_set_training(vt_lora *l, bool training, uint64_t seed) {
    l->training = training;
    l->seed = seed;
}

/* --------------------------------------------------------- construction ---- */

static int add_param(vt_lora *l, const char *module, const char *suffix, mx_array value) {
    char name[512];
    snprintf(name, sizeof name, "%s.%s", module, suffix);
    return vt_params_add(&l->params, name, value);
}

static int row_norms(const vt_linear *lin, mx_array *out) {
    mx_array w, sq;
    int axis = 1;
    TRY(dense_weight(lin, &w));
    TRY(mx_astype(&w, w, MX_FLOAT32));
    TRY(mx_square(&sq, w));
    TRY(mx_sum(&sq, sq, &axis, 1, false));
    return mx_sqrt(out, sq);
}

/* Hooks `lin`, whose arrays start at params[first] (the caller appended them). */
static void hook(vt_lora *l, vt_linear *lin, size_t first) {
    adapter *ad = &l->ad[l->n++];
    *ad = (adapter){.owner = l, .lin = lin, .first = first};
    lin->adapter = ad;
    lin->adapter_ops = &hook_ops;
}

static int lora_new(vt_lora **out, vt_model *m, const vt_lora_config *cfg, size_t n_layers) {
    if (cfg->rank < 1) return vt_err("LoRA rank must be at least 1 (got %d)", cfg->rank);
    if (!(cfg->dropout >= 0 && cfg->dropout < 1)) return vt_err("LoRA dropout must be in [0, 1) (got %g)", cfg->dropout);
    if (!isfinite(cfg->scale)) return vt_err("LoRA scale must be finite");
    vt_lora *l = calloc(1, sizeof *l);
    if (!l || !(l->ad = calloc(n_layers + 1, sizeof *l->ad)) || (cfg->keys && !(l->keys = strdup(cfg->keys)))) {
        if (l) free(l->ad);
        free(l);
        return vt_err("out of memory");
    }
    l->model = m;
    l->cfg = *cfg;
    l->cfg.keys = l->keys;
    *out = l;
    return 0;
}

static int init_fresh(vt_lora *l, vt_linear **layers, size_t n, uint64_t seed) {
    mx_arena *scope = mx_scope_begin();
    mx_array key;
    int rc = mx_random_key(&key, seed);
    for (size_t i = 0; rc == 0 && i < n; i++) {
        vt_linear *lin = layers[i];
        int sa[2] = {lin->in, l->cfg.rank}, sb[2] = {l->cfg.rank, lin->out};
        double bound = 1.0 / sqrt((double)lin->in);
        mx_array k1, k2, a, b, norm;
        size_t first = l->params.n;
        rc = mx_random_split(&k1, &k2, key) || mx_random_uniform(&a, -bound, bound, sa, 2, MX_FLOAT32, k2) ||
             mx_zeros(&b, sb, 2, MX_FLOAT32) || add_param(l, lin->name, "lora_a", a) ||
             add_param(l, lin->name, "lora_b", b);
        if (rc == 0 && l->cfg.kind == VT_ADAPTER_DORA) rc = row_norms(lin, &norm) || add_param(l, lin->name, "m", norm);
        if (rc == 0) hook(l, lin, first);
        key = k1;
    }
    if (rc == 0) rc = mx_eval(l->params.values, l->params.n);
    mx_scope_end(scope);
    return rc;
}

/* The end of building adapters: on success the hooks read the params and *out takes l; else l is freed. */
static int finish(vt_lora *l, vt_linear **layers, int rc, vt_lora **out) {
    free(layers);
    if (rc) {
        vt_lora_free(l);
        return -1;
    }
    vt_lora_bind(l, NULL);
    *out = l;
    return 0;
}

int vt_lora_attach(vt_lora **out, vt_model *m, const vt_lora_config *cfg, uint64_t seed) {
    vt_linear **layers;
    size_t n;
    TRY(vt_lora_select(m, cfg, &layers, &n));
    vt_lora *l;
    if (lora_new(&l, m, cfg, n)) {
        free(layers);
        return -1;
    }
    return finish(l, layers, init_fresh(l, layers, n, seed), out);
}

static int take_tensor(vt_lora *l, mx_tensors *t, const char *file, const char *module, const char *suffix,
                       int d0, int d1, int ndim, const char *why) {
    char name[512];
    snprintf(name, sizeof name, "%s.%s", module, suffix);
    mx_array a = mx_tensors_get(t, name);
    if (!a) return vt_err("%s: tensor '%s' is missing", file, name);
    int want[2] = {d0, d1};
    bool ok = mx_ndim(a) == ndim;
    for (int i = 0; ok && i < ndim; i++) ok = mx_dim(a, i) == want[i];
    if (!ok) {
        char got[96], expected[64];
        if (ndim == 2) snprintf(expected, sizeof expected, "[%d, %d]", d0, d1);
        else snprintf(expected, sizeof expected, "[%d]", d0);
        return vt_err("%s: tensor '%s' is %s, expected %s (%s)", file, name, mx_describe(a, got, sizeof got),
                      expected, why);
    }
    TRY(vt_params_add(&l->params, name, a));
    return mx_tensors_remove(t, name);
}

static int take_weights(vt_lora *l, vt_linear **layers, size_t n, mx_tensors *t, const char *file) {
    int r = l->cfg.rank;
    char why[128];
    for (size_t i = 0; i < n; i++) {
        vt_linear *lin = layers[i];
        size_t first = l->params.n;
        snprintf(why, sizeof why, "input %d × rank %d from the adapter's configuration", lin->in, r);
        TRY(take_tensor(l, t, file, lin->name, "lora_a", lin->in, r, 2, why));
        snprintf(why, sizeof why, "rank %d from the adapter's configuration × output %d", r, lin->out);
        TRY(take_tensor(l, t, file, lin->name, "lora_b", r, lin->out, 2, why));
        if (l->cfg.kind == VT_ADAPTER_DORA) TRY(take_tensor(l, t, file, lin->name, "m", lin->out, 0, 1, "output rows"));
        if (lin->adapter_ops) return vt_err("%s: layer %s already carries an adapter", file, lin->name);
        hook(l, lin, first);
    }
    if (mx_tensors_count(t) > 0)
        return vt_err("%s: tensor '%s' belongs to no adapted layer of adapter_config.json (%zu unused tensors)", file,
                      mx_tensors_name(t, 0), mx_tensors_count(t));
    return 0;
}

int vt_lora_assemble(vt_lora **out, vt_model *m, const vt_lora_config *cfg, char *const *modules, size_t n_modules,
                     mx_tensors *weights, const char *label) {
    vt_linear **layers;
    size_t n;
    vt_lora_config c = *cfg;
    if (!modules) c.keys = NULL; /* mlx-vlm's default set */
    TRY(modules ? vt_lora_find(m, modules, n_modules, label, &layers, &n) : vt_lora_select(m, &c, &layers, &n));
    vt_lora *l;
    if (lora_new(&l, m, &c, n)) {
        free(layers);
        return -1;
    }
    return finish(l, layers, take_weights(l, layers, n, weights, label), out);
}

void vt_lora_free(vt_lora *l) {
    if (!l) return;
    for (size_t i = 0; i < l->n; i++) l->ad[i].lin->adapter = NULL, l->ad[i].lin->adapter_ops = NULL;
    free(l->ad);
    vt_params_free(&l->params);
    mx_arena_free(l->prepared);
    free(l->keys);
    free(l);
}

/* ---------------------------------------------------------------- fusing ---- */

int vt_lora_fused_weight(const vt_lora *l, size_t i, mx_array *weight) {
    if (i >= l->n) return vt_err("adapter %zu of %zu", i, l->n);
    const adapter *ad = &l->ad[i];
    mx_array w, ab, delta;
    TRY(dense_weight(ad->lin, &w));
    mx_dtype dt = mx_dtype_of(w);
    TRY(mx_matmul(&ab, ad->a, ad->b));
    TRY(mx_transpose(&delta, ab, NULL, 0));
    TRY(mx_mul_scalar(&delta, delta, l->cfg.scale));
    if (l->cfg.kind == VT_ADAPTER_LORA) {
        TRY(mx_astype(&delta, delta, dt));
        return mx_add(weight, w, delta);
    }
    mx_array adapted, norm, gain;
    int shape[2] = {ad->lin->out, 1};
    TRY(mx_add(&adapted, w, delta));
    TRY(dora_norm(ad, &norm));
    TRY(mx_divide(&gain, ad->m, norm));
    TRY(mx_reshape(&gain, gain, shape, 2));
    TRY(mx_multiply(&adapted, adapted, gain));
    return mx_astype(weight, adapted, dt);
}
