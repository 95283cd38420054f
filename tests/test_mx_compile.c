/* compile and checkpoint change how a function runs, never what it computes. */
#include <math.h>
#include <string.h>

#include "test.h"

/* A small MLP block: f(x, w1, w2) = Σ (silu(x @ w1) @ w2)² · scale, scale from ctx */
static int mlp(void *ctx, const mx_array *in, size_t n_in, mx_array *out, size_t cap, size_t *n_out) {
    double scale = *(double *)ctx;
    mx_array h, s, g, y, sq;
    TRY(mx_matmul(&h, in[0], in[1]));
    TRY(mx_sigmoid(&s, h));
    TRY(mx_multiply(&g, h, s));
    TRY(mx_matmul(&y, g, in[2]));
    TRY(mx_square(&sq, y));
    TRY(mx_sum(&out[0], sq, NULL, 0, false));
    TRY(mx_mul_scalar(&out[0], out[0], scale));
    out[1] = y;
    *n_out = 2;
    return 0;
}

static void inputs(mx_array *in, float shift) {
    float x[4 * 6], w1[6 * 5], w2[5 * 3];
    for (int i = 0; i < 24; i++) x[i] = sinf((float)i * 0.7f) + shift;
    for (int i = 0; i < 30; i++) w1[i] = cosf((float)i * 0.3f) * 0.5f;
    for (int i = 0; i < 15; i++) w2[i] = sinf((float)i * 1.1f) * 0.5f;
    int sx[2] = {4, 6}, s1[2] = {6, 5}, s2[2] = {5, 3};
    CHECK_OK(mx_from_data(&in[0], x, sx, 2, MX_FLOAT32));
    CHECK_OK(mx_from_data(&in[1], w1, s1, 2, MX_FLOAT32));
    CHECK_OK(mx_from_data(&in[2], w2, s2, 2, MX_FLOAT32));
}

static double max_diff(mx_array a, mx_array b) {
    mx_array d, m;
    float v = INFINITY;
    if (mx_subtract(&d, a, b) || mx_abs(&d, d) || mx_max(&m, d, NULL, 0, false) || mx_item_f32(m, &v)) return INFINITY;
    return v;
}

/* value and gradients (w.r.t. w1, w2) of fn at `in` */
static void value_and_grads(mx_function *fn, mx_array *in, mx_array *vals, mx_array *grads) {
    int argnums[2] = {1, 2};
    size_t nv;
    CHECK_OK(mx_value_and_grad(fn, in, 3, argnums, 2, vals, 2, &nv, grads));
}

static void test_compiled_equals_plain(void) {
    mx_arena *scope = mx_scope_begin();
    double scale = 0.5;
    mx_function *plain, *compiled, *shapeless, *ckpt;
    CHECK_OK(mx_function_new(&plain, mlp, &scale));
    CHECK_OK(mx_function_compile(&compiled, plain, false));
    CHECK_OK(mx_function_compile(&shapeless, plain, true));
    CHECK_OK(mx_function_checkpoint(&ckpt, plain));
    mx_function *fns[3] = {compiled, shapeless, ckpt};
    const char *names[3] = {"compiled", "compiled shapeless", "checkpointed"};
    for (int round = 0; round < 2; round++) { /* the second call reuses the trace */
        mx_array in[3], pv[2], pg[2];
        inputs(in, (float)round);
        value_and_grads(plain, in, pv, pg);
        for (int k = 0; k < 3; k++) {
            mx_array v[2], g[2], out[2];
            size_t n;
            value_and_grads(fns[k], in, v, g);
            CHECK_OK(mx_function_call(fns[k], in, 3, out, 2, &n));
            double dv = max_diff(v[0], pv[0]), dy = max_diff(out[1], pv[1]);
            double dg = fmax(max_diff(g[0], pg[0]), max_diff(g[1], pg[1]));
            double tol = test_matmul_tol(1e-5);
            CHECK(n == 2);
            CHECK(dv <= tol && dy <= tol && dg <= tol);
            if (!(dv <= tol && dy <= tol && dg <= tol))
                fprintf(stderr, "%s, round %d: value Δ %g, output Δ %g, gradient Δ %g\n", names[k], round, dv, dy, dg);
        }
    }
    /* a captured constant is baked into the trace: a changed scale needs a fresh compile */
    mx_array in[3], before[2], after[2];
    size_t n;
    inputs(in, 0);
    CHECK_OK(mx_function_call(compiled, in, 3, before, 2, &n));
    scale = 1.0;
    mx_function *recompiled;
    CHECK_OK(mx_function_compile(&recompiled, plain, false));
    CHECK_OK(mx_function_call(recompiled, in, 3, after, 2, &n));
    float b, a;
    CHECK_OK(mx_item_f32(before[0], &b));
    CHECK_OK(mx_item_f32(after[0], &a));
    CHECK_NEAR(a, 2 * b, 1e-4 * fabs(b)); /* two compiled functions never share a trace */
    mx_function_free(recompiled);
    CHECK_OK(mx_compile_clear_cache());
    CHECK_OK(mx_function_call(compiled, in, 3, after, 2, &n)); /* still works after clearing */
    mx_function_free(plain);
    mx_function_free(compiled);
    mx_function_free(shapeless);
    mx_function_free(ckpt);
    mx_scope_end(scope);
}

static void test_shapeless_new_shapes(void) {
    mx_arena *scope = mx_scope_begin();
    double scale = 1.0;
    mx_function *plain, *shapeless;
    CHECK_OK(mx_function_new(&plain, mlp, &scale));
    CHECK_OK(mx_function_compile(&shapeless, plain, true));
    for (int rows = 2; rows <= 5; rows += 3) {
        float x[5 * 6], w1[30], w2[15];
        for (int i = 0; i < 30; i++) x[i] = (float)i / 30, w1[i] = (float)(i % 7) / 7;
        for (int i = 0; i < 15; i++) w2[i] = (float)(i % 4) / 4;
        int sx[2] = {rows, 6}, s1[2] = {6, 5}, s2[2] = {5, 3};
        mx_array in[3], a[2], b[2];
        size_t n;
        CHECK_OK(mx_from_data(&in[0], x, sx, 2, MX_FLOAT32));
        CHECK_OK(mx_from_data(&in[1], w1, s1, 2, MX_FLOAT32));
        CHECK_OK(mx_from_data(&in[2], w2, s2, 2, MX_FLOAT32));
        CHECK_OK(mx_function_call(plain, in, 3, a, 2, &n));
        CHECK_OK(mx_function_call(shapeless, in, 3, b, 2, &n));
        CHECK(mx_dim(b[1], 0) == rows);
        CHECK(max_diff(a[0], b[0]) <= 1e-4 * fabs(1.0));
    }
    mx_function_free(plain);
    mx_function_free(shapeless);
    mx_scope_end(scope);
}

int main(void) {
    TEST_BEGIN();
    test_compiled_equals_plain();
    test_shapeless_new_shapes();
    return TEST_END();
}
