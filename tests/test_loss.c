/* Cross-entropy against log-softmax computed in double precision; the chunked, checkpointed head against the
 * whole one, value and gradient. */
#include <math.h>
#include <string.h>

#include "test.h"
#include "eval/loss.h"
#include "model/layers.h"

enum { S = 7, H = 5, V = 11 };

/* logits = rows · W, W captured (a frozen head) */
static int matmul_head(const void *w, mx_array rows, mx_array *logits) { return mx_matmul(logits, rows, *(const mx_array *)w); }

typedef struct {
    mx_array w;
    int chunk; /* 0: the whole head at once */
} loss_ctx;

/* [rows, targets] -> [cross-entropy sum] */
static int loss_fn(void *ctx, const mx_array *in, size_t n_in, mx_array *out, size_t cap, size_t *n_out) {
    const loss_ctx *c = ctx;
    *n_out = 1;
    if (c->chunk) return vt_cross_entropy_chunked(matmul_head, &c->w, in[0], in[1], c->chunk, &out[0]);
    mx_array logits;
    TRY(matmul_head(&c->w, in[0], &logits));
    return vt_cross_entropy_sum(&out[0], logits, in[1]);
}

/* Loss and d loss / d rows of the chunked head equal the whole head's (float32: summation order only). */
static void chunked_equals_whole(void) {
    mx_array key, rows, w, t;
    int rs[] = {S, H}, ws[] = {H, V}, ts[] = {S};
    int32_t targets[S] = {0, 3, 10, 7, 7, 1, 5};
    CHECK_OK(mx_random_key(&key, 7));
    CHECK_OK(mx_random_normal(&rows, rs, 2, MX_FLOAT32, key));
    CHECK_OK(mx_random_key(&key, 8));
    CHECK_OK(mx_random_normal(&w, ws, 2, MX_FLOAT32, key));
    CHECK_OK(mx_from_data(&t, targets, ts, 1, MX_INT32));
    float value[2], grad[2][S * H];
    int chunks[2] = {0, 3}; /* 3 rows a chunk: 3 + 3 + 1, an uneven last chunk */
    for (int k = 0; k < 2; k++) {
        loss_ctx c = {w, chunks[k]};
        mx_function *f;
        mx_array in[2] = {rows, t}, v, g;
        int arg = 0;
        size_t n;
        CHECK_OK(mx_function_new(&f, loss_fn, &c));
        CHECK_OK(mx_value_and_grad(f, in, 2, &arg, 1, &v, 1, &n, &g));
        CHECK_OK(mx_item_f32(v, &value[k]));
        CHECK_OK(mx_to_host(g, grad[k], sizeof grad[k]));
        mx_function_free(f);
    }
    CHECK_NEAR(value[1], value[0], 1e-5 * fabs(value[0]));
    double worst = 0;
    for (int i = 0; i < S * H; i++) worst = fmax(worst, fabs(grad[1][i] - grad[0][i]));
    CHECK(worst < 1e-6);
    CHECK(fabs(grad[0][0]) > 1e-3); /* a gradient that is there */
    mx_array bad;
    CHECK_FAILS(vt_cross_entropy_chunked(matmul_head, &w, rows, rows, 2, &bad), "do not match");
    vt_checkpoint_release();
}

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
    chunked_equals_whole();
    mx_scope_end(scope);
    return TEST_END();
}
