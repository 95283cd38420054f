/* AdamW and gradient clipping against the update rule computed in double precision by hand. */
#include <math.h>

#include "test.h"
#include "train/optim.h"

enum { N = 5 };

/* Three AdamW steps with fixed gradients, compared element by element with the formula. */
static void test_adamw_matches_formula(bool bias_correction) {
    float p0[N] = {0.5f, -1.0f, 2.0f, 0.0f, 3.0f};
    float g[3][N] = {{0.1f, -0.2f, 0.3f, 0.0f, 1.0f}, {0.05f, 0.2f, -0.3f, 0.4f, -1.0f}, {1.0f, 1.0f, 1.0f, 1.0f, 1.0f}};
    int shape[] = {N};
    mx_arena *scope = mx_scope_begin();
    mx_array p;
    CHECK_OK(mx_from_data(&p, p0, shape, 1, MX_FLOAT32));
    vt_params params = {0};
    CHECK_OK(vt_params_add(&params, "w", p));
    vt_adamw_config cfg = {0.9, 0.99, 1e-6, 0.1, bias_correction};
    vt_adamw opt;
    CHECK_OK(vt_adamw_init(&opt, &cfg, &params));
    double ref_p[N], m[N] = {0}, v[N] = {0};
    for (int i = 0; i < N; i++) ref_p[i] = p0[i];
    double lr = 0.01;
    for (int t = 1; t <= 3; t++) {
        mx_array grad;
        CHECK_OK(mx_from_data(&grad, g[t - 1], shape, 1, MX_FLOAT32));
        CHECK_OK(vt_adamw_update(&opt, &params, &grad, lr));
        for (int i = 0; i < N; i++) {
            m[i] = 0.9 * m[i] + 0.1 * g[t - 1][i];
            v[i] = 0.99 * v[i] + 0.01 * g[t - 1][i] * g[t - 1][i];
            double mh = bias_correction ? m[i] / (1 - pow(0.9, t)) : m[i];
            double vh = bias_correction ? v[i] / (1 - pow(0.99, t)) : v[i];
            ref_p[i] = ref_p[i] * (1 - lr * 0.1) - lr * mh / (sqrt(vh) + 1e-6);
        }
    }
    float got[N];
    CHECK_OK(mx_to_f32(params.values[0], got, N));
    for (int i = 0; i < N; i++) CHECK_NEAR(got[i], ref_p[i], 1e-6);
    CHECK(opt.step == 3);
    vt_adamw_free(&opt);
    vt_params_free(&params);
    mx_scope_end(scope);
}

static void test_clip(void) {
    mx_arena *scope = mx_scope_begin();
    float a[2] = {3.0f, 0.0f}, b[1] = {4.0f}; /* global norm 5 */
    int s2[] = {2}, s1[] = {1};
    mx_array grads[2], norm;
    CHECK_OK(mx_from_data(&grads[0], a, s2, 1, MX_FLOAT32));
    CHECK_OK(mx_from_data(&grads[1], b, s1, 1, MX_FLOAT32));
    CHECK_OK(vt_clip_grad_norm(grads, 2, 1.0, &norm));
    float n, ga[2], gb;
    CHECK_OK(mx_item_f32(norm, &n));
    CHECK_NEAR(n, 5.0, 1e-6);
    CHECK_OK(mx_to_f32(grads[0], ga, 2));
    CHECK_OK(mx_to_f32(grads[1], &gb, 1));
    CHECK_NEAR(ga[0], 3.0 / (5.0 + 1e-6), 1e-6);
    CHECK_NEAR(gb, 4.0 / (5.0 + 1e-6), 1e-6);
    /* below the threshold nothing changes */
    CHECK_OK(vt_clip_grad_norm(grads, 2, 10.0, &norm));
    CHECK_OK(mx_to_f32(grads[0], ga, 2));
    CHECK_NEAR(ga[0], 3.0 / (5.0 + 1e-6), 1e-6);
    mx_scope_end(scope);
}

int main(void) {
    TEST_BEGIN();
    test_adamw_matches_formula(true);
    test_adamw_matches_formula(false);
    test_clip();
    return TEST_END();
}
