/* Gradients of every differentiable op the model uses, against central finite differences.
 *
 * For an op y = op(x0, x1, ...) the test differentiates f = Σ y·W for a fixed
 * random W (so every output element matters), once through value_and_grad and
 * once through vjp with cotangent W, and compares both with
 * (f(x + h·e) − f(x − h·e)) / 2h for every input element.  float32 with
 * h = 1e-2: tolerance 2e-3 + 1e-2·|fd| (truncation O(h²) plus rounding ε·|f|/h).
 * Ops built on matrix products get ten times that on a GPU, where float32
 * matmuls run in TF32 (see test_matmul_tol): its rounding, divided by h, is
 * what the finite difference then sees. */
#include <math.h>
#include <stdint.h>
#include <string.h>

#include "test.h"

enum { MAX_IN = 4, MAX_ELEMS = 256 };

typedef int (*op_fn)(mx_array *out, const mx_array *in);

typedef struct {
    op_fn op;
    mx_array weights; /* same shape as the op's output; set on first call */
    unsigned seed;
} grad_ctx;

static void fill(float *v, size_t n, unsigned seed, float lo, float hi) {
    uint32_t s = seed * 2654435761u + 7;
    for (size_t i = 0; i < n; i++) {
        s = s * 1664525u + 1013904223u;
        v[i] = lo + (hi - lo) * (float)(s >> 8) / (float)(1u << 24);
    }
}

/* f(inputs) = Σ op(inputs) · W */
static int weighted_sum(void *ctx, const mx_array *in, size_t n_in, mx_array *out, size_t cap, size_t *n_out) {
    grad_ctx *c = ctx;
    mx_array y, prod;
    TRY(c->op(&y, in));
    TRY(mx_astype(&y, y, MX_FLOAT32));
    TRY(mx_multiply(&prod, y, c->weights));
    TRY(mx_sum(&out[0], prod, NULL, 0, false));
    *n_out = 1;
    return 0;
}

static int plain_op(void *ctx, const mx_array *in, size_t n_in, mx_array *out, size_t cap, size_t *n_out) {
    grad_ctx *c = ctx;
    TRY(c->op(&out[0], in));
    TRY(mx_astype(&out[0], out[0], MX_FLOAT32));
    *n_out = 1;
    return 0;
}

static double eval_f(mx_function *f, mx_array *in, size_t n) {
    mx_array out;
    size_t n_out;
    float v = NAN;
    if (mx_function_call(f, in, n, &out, 1, &n_out) == 0) mx_item_f32(out, &v);
    return v;
}

/* shapes[i] has ndims[i] dims; inputs drawn uniformly from [lo, hi). */
static void check_grad(const char *name, op_fn op, int n_in, const int shapes[][4], const int *ndims, float lo,
                       float hi) {
    bool tf32 = mx_default_device() == MX_GPU &&
                (strstr(name, "matmul") || strstr(name, "addmm") || strstr(name, "sdpa"));
    double widen = tf32 ? 10.0 : 1.0;
    mx_arena *scope = mx_scope_begin();
    grad_ctx ctx = {op, NULL, 1};
    mx_array in[MAX_IN];
    float data[MAX_IN][MAX_ELEMS];
    size_t sizes[MAX_IN];
    for (int i = 0; i < n_in; i++) {
        sizes[i] = 1;
        for (int d = 0; d < ndims[i]; d++) sizes[i] *= (size_t)shapes[i][d];
        fill(data[i], sizes[i], 100 + (unsigned)i, lo, hi);
        CHECK_OK(mx_from_data(&in[i], data[i], shapes[i], ndims[i], MX_FLOAT32));
    }
    /* W: shaped like the output */
    mx_array y;
    if (op(&y, in) != 0) {
        CHECK_OK(-1);
        fprintf(stderr, "  in %s\n", name);
        mx_scope_end(scope);
        return;
    }
    float w[MAX_ELEMS * 4];
    fill(w, mx_size(y), 99, -1.0f, 1.0f);
    CHECK_OK(mx_from_data(&ctx.weights, w, mx_shape(y), mx_ndim(y), MX_FLOAT32));

    mx_function *f = NULL, *g = NULL;
    CHECK_OK(mx_function_new(&f, weighted_sum, &ctx));
    CHECK_OK(mx_function_new(&g, plain_op, &ctx));
    int argnums[MAX_IN];
    for (int i = 0; i < n_in; i++) argnums[i] = i;
    mx_array values[1], grads[MAX_IN], outs[1], vjps[MAX_IN];
    size_t nv = 0, no = 0;
    CHECK_OK(mx_value_and_grad(f, in, (size_t)n_in, argnums, (size_t)n_in, values, 1, &nv, grads));
    CHECK_OK(mx_vjp(g, in, (size_t)n_in, &ctx.weights, 1, outs, 1, &no, vjps));

    const double h = 1e-2;
    for (int i = 0; i < n_in; i++) {
        float ga[MAX_ELEMS], gv[MAX_ELEMS];
        CHECK_OK(mx_to_f32(grads[i], ga, sizes[i]));
        CHECK_OK(mx_to_f32(vjps[i], gv, sizes[i]));
        double worst = 0;
        size_t at = 0;
        for (size_t e = 0; e < sizes[i]; e++) {
            float saved = data[i][e];
            mx_array probe[MAX_IN];
            memcpy(probe, in, sizeof(mx_array) * (size_t)n_in);
            data[i][e] = saved + (float)h;
            CHECK_OK(mx_from_data(&probe[i], data[i], shapes[i], ndims[i], MX_FLOAT32));
            double fp = eval_f(f, probe, (size_t)n_in);
            data[i][e] = saved - (float)h;
            CHECK_OK(mx_from_data(&probe[i], data[i], shapes[i], ndims[i], MX_FLOAT32));
            double fm = eval_f(f, probe, (size_t)n_in);
            data[i][e] = saved;
            double fd = (fp - fm) / (2 * h);
            double err = fmax(fabs(ga[e] - fd), fabs(gv[e] - fd)) / (widen * (2e-3 + 1e-2 * fabs(fd)));
            if (!(err <= worst)) worst = err, at = e;
        }
        test_checks++;
        if (!(worst <= 1.0)) {
            test_failures++;
            fprintf(stderr, "%s: gradient of input %d off at element %zu (value_and_grad %g, vjp %g; %.2f× tol)\n",
                    name, i, at, ga[at], gv[at], worst);
        }
    }
    mx_function_free(f);
    mx_function_free(g);
    mx_scope_end(scope);
}

/* ------------------------------------------------------------ the ops ---- */

static int op_add(mx_array *o, const mx_array *x) { return mx_add(o, x[0], x[1]); }
static int op_mul(mx_array *o, const mx_array *x) { return mx_multiply(o, x[0], x[1]); }
static int op_div(mx_array *o, const mx_array *x) { return mx_divide(o, x[0], x[1]); }
static int op_matmul(mx_array *o, const mx_array *x) { return mx_matmul(o, x[0], x[1]); }
static int op_addmm(mx_array *o, const mx_array *x) { return mx_addmm(o, x[2], x[0], x[1], 0.7f, 1.3f); }
static int op_exp(mx_array *o, const mx_array *x) { return mx_exp(o, x[0]); }
static int op_log(mx_array *o, const mx_array *x) { return mx_log(o, x[0]); }
static int op_sqrt(mx_array *o, const mx_array *x) { return mx_sqrt(o, x[0]); }
static int op_rsqrt(mx_array *o, const mx_array *x) { return mx_rsqrt(o, x[0]); }
static int op_sigmoid(mx_array *o, const mx_array *x) { return mx_sigmoid(o, x[0]); }
static int op_tanh(mx_array *o, const mx_array *x) { return mx_tanh(o, x[0]); }
static int op_erf(mx_array *o, const mx_array *x) { return mx_erf(o, x[0]); }
static int op_square(mx_array *o, const mx_array *x) { return mx_square(o, x[0]); }
static int op_sin(mx_array *o, const mx_array *x) { return mx_sin(o, x[0]); }
static int op_maximum(mx_array *o, const mx_array *x) { return mx_maximum(o, x[0], x[1]); }
static int op_softmax(mx_array *o, const mx_array *x) {
    int ax = -1;
    return mx_softmax(o, x[0], &ax, 1, true);
}
static int op_logsumexp(mx_array *o, const mx_array *x) {
    int ax = -1;
    return mx_logsumexp(o, x[0], &ax, 1, false);
}
static int op_mean(mx_array *o, const mx_array *x) {
    int ax = 0;
    return mx_mean(o, x[0], &ax, 1, true);
}
static int op_max(mx_array *o, const mx_array *x) {
    int ax = 1;
    return mx_max(o, x[0], &ax, 1, false);
}
static int op_cumsum(mx_array *o, const mx_array *x) { return mx_cumsum(o, x[0], 1, false, true); }
static int op_take_along(mx_array *o, const mx_array *x) {
    int32_t idx[3] = {2, 0, 1};
    int s[2] = {3, 1};
    mx_array i;
    TRY(mx_from_data(&i, idx, s, 2, MX_INT32));
    return mx_take_along_axis(o, x[0], i, 1);
}
static int op_take(mx_array *o, const mx_array *x) {
    int32_t idx[4] = {1, 1, 0, 2};
    int s[1] = {4};
    mx_array i;
    TRY(mx_from_data(&i, idx, s, 1, MX_INT32));
    return mx_take(o, x[0], i, 0);
}
static int op_concat_slice(mx_array *o, const mx_array *x) {
    mx_array c, t;
    mx_array both[2] = {x[0], x[1]};
    TRY(mx_concatenate(&c, both, 2, 1));
    TRY(mx_slice_axis(&t, c, 1, 1, 5));
    return mx_transpose(o, t, NULL, 0);
}
static int op_reshape_pad(mx_array *o, const mx_array *x) {
    int s[2] = {4, 3}, lo[2] = {1, 0}, hi[2] = {0, 2};
    mx_array r;
    TRY(mx_reshape(&r, x[0], s, 2));
    return mx_pad(o, r, lo, hi, 2, 0.5);
}
static int op_slice_update(mx_array *o, const mx_array *x) {
    int st[2] = {1, 1}, sp[2] = {2, 3};
    return mx_slice_update(o, x[0], x[1], st, sp, NULL, 2);
}
static int op_where(mx_array *o, const mx_array *x) {
    mx_array c;
    TRY(mx_greater(&c, x[0], x[1]));
    return mx_where(o, c, x[0], x[1]);
}
static int op_rms_norm(mx_array *o, const mx_array *x) { return mx_rms_norm(o, x[0], x[1], 1e-6f); }
static int op_layer_norm(mx_array *o, const mx_array *x) { return mx_layer_norm(o, x[0], x[1], x[2], 1e-6f); }
static int op_rope(mx_array *o, const mx_array *x) { return mx_rope(o, x[0], 8, false, 10000.0f, 1.0f, 2, NULL); }
static int op_rope_freqs(mx_array *o, const mx_array *x) {
    float periods[4] = {1.0f, 2.0f, 5.0f, 40.0f};
    int s[1] = {4};
    mx_array f;
    TRY(mx_from_data(&f, periods, s, 1, MX_FLOAT32));
    return mx_rope(o, x[0], 8, false, 0.0f, 1.0f, 0, f);
}
static int op_sdpa_causal(mx_array *o, const mx_array *x) {
    return mx_sdpa(o, x[0], x[1], x[2], 0.35f, MX_MASK_CAUSAL, NULL);
}
static int op_sdpa_mask(mx_array *o, const mx_array *x) {
    bool m[16];
    for (int i = 0; i < 16; i++) m[i] = (i / 4) / 2 == (i % 4) / 2; /* two 2×2 blocks */
    int s[2] = {4, 4};
    mx_array mask;
    TRY(mx_from_data(&mask, m, s, 2, MX_BOOL));
    return mx_sdpa(o, x[0], x[1], x[2], 0.35f, MX_MASK_ARRAY, mask);
}
/* A 4 × 64 weight quantized to 4 bits in groups of 32. */
static int quantized_weight(mx_array *q, mx_array *scales, mx_array *biases) {
    float w[4 * 64];
    fill(w, 4 * 64, 5, -1, 1);
    int s[2] = {4, 64};
    mx_array wa;
    TRY(mx_from_data(&wa, w, s, 2, MX_FLOAT32));
    return mx_quantize(q, scales, biases, wa, 32, 4);
}
static int op_qmatmul(mx_array *o, const mx_array *x) {
    mx_array q, sc, b;
    TRY(quantized_weight(&q, &sc, &b));
    return mx_quantized_matmul(o, x[0], q, sc, b, true, 32, 4);
}
/* The same product with vlmtune's own gradient (the weight dequantized first). */
static int op_qlinear(mx_array *o, const mx_array *x) {
    mx_array q, sc, b;
    TRY(quantized_weight(&q, &sc, &b));
    return mx_quantized_linear(o, x[0], q, sc, b, 32, 4);
}

#define SHAPES(...) (const int[][4]){__VA_ARGS__}
#define NDIMS(...) (const int[]){__VA_ARGS__}

static void test_all_ops(void) {
    check_grad("add", op_add, 2, SHAPES({2, 3}, {3}), NDIMS(2, 1), -1, 1);
    check_grad("multiply", op_mul, 2, SHAPES({2, 3}, {2, 3}), NDIMS(2, 2), -1, 1);
    check_grad("divide", op_div, 2, SHAPES({2, 3}, {2, 3}), NDIMS(2, 2), 0.5f, 2);
    check_grad("maximum", op_maximum, 2, SHAPES({2, 3}, {2, 3}), NDIMS(2, 2), -1, 1);
    check_grad("matmul", op_matmul, 2, SHAPES({3, 4}, {4, 2}), NDIMS(2, 2), -1, 1);
    check_grad("addmm", op_addmm, 3, SHAPES({3, 4}, {4, 2}, {3, 2}), NDIMS(2, 2, 2), -1, 1);
    check_grad("exp", op_exp, 1, SHAPES({5}), NDIMS(1), -1, 1);
    check_grad("log", op_log, 1, SHAPES({5}), NDIMS(1), 0.5f, 2);
    check_grad("sqrt", op_sqrt, 1, SHAPES({5}), NDIMS(1), 0.5f, 2);
    check_grad("rsqrt", op_rsqrt, 1, SHAPES({5}), NDIMS(1), 0.5f, 2);
    check_grad("sigmoid", op_sigmoid, 1, SHAPES({5}), NDIMS(1), -2, 2);
    check_grad("tanh", op_tanh, 1, SHAPES({5}), NDIMS(1), -2, 2);
    check_grad("erf", op_erf, 1, SHAPES({5}), NDIMS(1), -2, 2);
    check_grad("square", op_square, 1, SHAPES({5}), NDIMS(1), -2, 2);
    check_grad("sin", op_sin, 1, SHAPES({5}), NDIMS(1), -2, 2);
    check_grad("softmax", op_softmax, 1, SHAPES({2, 5}), NDIMS(2), -2, 2);
    check_grad("logsumexp", op_logsumexp, 1, SHAPES({2, 5}), NDIMS(2), -2, 2);
    check_grad("mean", op_mean, 1, SHAPES({3, 4}), NDIMS(2), -1, 1);
    check_grad("max", op_max, 1, SHAPES({3, 4}), NDIMS(2), -1, 1);
    check_grad("cumsum", op_cumsum, 1, SHAPES({2, 4}), NDIMS(2), -1, 1);
    check_grad("take_along_axis", op_take_along, 1, SHAPES({3, 4}), NDIMS(2), -1, 1);
    check_grad("take", op_take, 1, SHAPES({3, 2}), NDIMS(2), -1, 1);
    check_grad("concatenate+slice+transpose", op_concat_slice, 2, SHAPES({2, 3}, {2, 3}), NDIMS(2, 2), -1, 1);
    check_grad("reshape+pad", op_reshape_pad, 1, SHAPES({2, 6}), NDIMS(2), -1, 1);
    check_grad("slice_update", op_slice_update, 2, SHAPES({3, 4}, {1, 2}), NDIMS(2, 2), -1, 1);
    check_grad("where", op_where, 2, SHAPES({2, 3}, {2, 3}), NDIMS(2, 2), -1, 1);
    check_grad("rms_norm", op_rms_norm, 2, SHAPES({3, 8}, {8}), NDIMS(2, 1), -1, 1);
    check_grad("layer_norm", op_layer_norm, 3, SHAPES({3, 8}, {8}, {8}), NDIMS(2, 1, 1), -1, 1);
    check_grad("rope", op_rope, 1, SHAPES({1, 2, 3, 8}), NDIMS(4), -1, 1);
    check_grad("rope custom freqs", op_rope_freqs, 1, SHAPES({1, 1, 3, 8}), NDIMS(4), -1, 1);
    check_grad("sdpa causal GQA", op_sdpa_causal, 3, SHAPES({1, 4, 4, 8}, {1, 2, 4, 8}, {1, 2, 4, 8}),
               NDIMS(4, 4, 4), -1, 1);
    check_grad("sdpa array mask", op_sdpa_mask, 3, SHAPES({1, 2, 4, 8}, {1, 2, 4, 8}, {1, 2, 4, 8}),
               NDIMS(4, 4, 4), -1, 1);
    check_grad("quantized_matmul (x)", op_qmatmul, 1, SHAPES({2, 64}), NDIMS(2), -1, 1);
    check_grad("quantized_linear (x)", op_qlinear, 1, SHAPES({2, 64}), NDIMS(2), -1, 1);
}

/* ------------------------------------------- transform plumbing checks ---- */

static int two_outputs(void *ctx, const mx_array *in, size_t n_in, mx_array *out, size_t cap, size_t *n_out) {
    mx_array p, s;
    TRY(mx_multiply(&p, in[0], in[1]));
    TRY(mx_sum(&out[0], p, NULL, 0, false)); /* f = Σ a·b */
    TRY(mx_sum(&s, in[0], NULL, 0, false));
    out[1] = s; /* an auxiliary output, returned as a value */
    *n_out = 2;
    return 0;
}

static int failing(void *ctx, const mx_array *in, size_t n_in, mx_array *out, size_t cap, size_t *n_out) {
    return vt_err("the callback refused: %s", (const char *)ctx);
}

static void test_argnums_and_failures(void) {
    mx_arena *scope = mx_scope_begin();
    float a[3] = {1, 2, 3}, b[3] = {4, 5, 6};
    int s[1] = {3};
    mx_array in[2];
    CHECK_OK(mx_from_data(&in[0], a, s, 1, MX_FLOAT32));
    CHECK_OK(mx_from_data(&in[1], b, s, 1, MX_FLOAT32));
    mx_function *f;
    CHECK_OK(mx_function_new(&f, two_outputs, NULL));
    int only_b = 1;
    mx_array vals[2], grad;
    size_t nv;
    CHECK_OK(mx_value_and_grad(f, in, 2, &only_b, 1, vals, 2, &nv, &grad));
    CHECK(nv == 2);
    float g[3], v0, v1;
    CHECK_OK(mx_to_f32(grad, g, 3)); /* ∂(Σ a·b)/∂b = a */
    CHECK(g[0] == 1 && g[1] == 2 && g[2] == 3);
    CHECK_OK(mx_item_f32(vals[0], &v0));
    CHECK_OK(mx_item_f32(vals[1], &v1));
    CHECK(v0 == 32 && v1 == 6);
    int bad = 2;
    CHECK_FAILS(mx_value_and_grad(f, in, 2, &bad, 1, vals, 2, &nv, &grad), "argnum 2 out of range");
    CHECK_FAILS(mx_value_and_grad(f, in, 2, &only_b, 1, vals, 1, &nv, &grad), "room for 1");
    mx_function_free(f);

    mx_function *bad_fn;
    CHECK_OK(mx_function_new(&bad_fn, failing, "no model"));
    CHECK_FAILS(mx_value_and_grad(bad_fn, in, 2, &only_b, 1, vals, 2, &nv, &grad), "the callback refused: no model");
    CHECK_FAILS(mx_function_call(bad_fn, in, 2, vals, 2, &nv), "mx_function_call: the callback refused");
    mx_function_free(bad_fn);
    mx_scope_end(scope);
}

int main(void) {
    TEST_BEGIN();
    test_all_ops();
    test_argnums_and_failures();
    return TEST_END();
}
