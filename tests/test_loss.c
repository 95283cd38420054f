/* Cross-entropy against log-softmax computed in double precision. */
#include <math.h>

#include "test.h"
#include "eval/loss.h"

int main(void) {
    TEST_BEGIN();
    mx_arena *scope = mx_scope_begin();
    float logits[2 * 4] = {1.0f, 2.0f, 3.0f, 4.0f, -1.0f, 0.5f, 0.0f, 10.0f};
    int32_t targets[2] = {2, 0};
    int ls[] = {2, 4}, ts[] = {2};
    mx_array l, t, sum;
    CHECK_OK(mx_from_data(&l, logits, ls, 2, MX_FLOAT32));
    CHECK_OK(mx_from_data(&t, targets, ts, 1, MX_INT32));
    CHECK_OK(vt_cross_entropy_sum(&sum, l, t));
    double want = 0;
    for (int s = 0; s < 2; s++) {
        double z = 0;
        for (int v = 0; v < 4; v++) z += exp(logits[s * 4 + v]);
        want += log(z) - logits[s * 4 + targets[s]];
    }
    float got;
    CHECK_OK(mx_item_f32(sum, &got));
    CHECK_NEAR(got, want, 1e-5);
    CHECK_FAILS(vt_cross_entropy_sum(&sum, t, t), "do not match");
    mx_scope_end(scope);
    return TEST_END();
}
