/* `vlmtune smoke` — the foundation's smoke program.  It proves the MLX binding
 * end to end (safetensors out and in, a compiled function, value_and_grad, one
 * optimizer step) until `vlmtune train` exists.  It is a smoke test, not
 * training, and says so. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli/commands.h"
#include "mlx/mx.h"
#include "eval/loss.h"
#include "train/optim.h"
#include "util/fs.h"

enum { N = 16, D = 8, V = 4 };

/* loss(w; x, y) = mean cross-entropy of softmax(x @ w) against labels y */
static int loss_fn(void *ctx, const mx_array *in, size_t n_in, mx_array *out, size_t cap, size_t *n_out) {
    mx_array logits;
    TRY(mx_matmul(&logits, in[1], in[0]));
    TRY(vt_cross_entropy_sum(&out[0], logits, in[2]));
    TRY(mx_mul_scalar(&out[0], out[0], 1.0 / N));
    *n_out = 1;
    return 0;
}

/* A small labelled problem, written to and read back from a safetensors file. */
static int make_data(const char *path, mx_tensors **out) {
    float x[N * D];
    int32_t y[N];
    for (int i = 0; i < N; i++) {
        y[i] = i % V;
        for (int d = 0; d < D; d++) x[i * D + d] = (d == y[i] ? 1.0f : 0.0f) + 0.1f * (float)((i * 7 + d * 3) % 5 - 2);
    }
    int sx[2] = {N, D}, sy[1] = {N};
    mx_array xa, ya;
    mx_tensors *t;
    TRY(mx_tensors_new(&t));
    int rc = mx_from_data(&xa, x, sx, 2, MX_FLOAT32) || mx_from_data(&ya, y, sy, 1, MX_INT32) ||
             mx_tensors_set(t, "x", xa) || mx_tensors_set(t, "y", ya) ||
             mx_tensors_meta_set(t, "what", "vlmtune smoke data") || mx_save_safetensors(path, t);
    mx_tensors_free(t);
    if (rc) return -1;
    return mx_load_safetensors(out, path);
}

static int smoke(const char *path) {
    mx_tensors *data = NULL;
    mx_function *fn = NULL, *compiled = NULL;
    vt_params params = {0};
    vt_adamw opt = {0};
    int rc = -1;
    mx_arena *scope = mx_scope_begin();
    int sw[2] = {D, V};
    mx_array w;
    if (make_data(path, &data) || mx_zeros(&w, sw, 2, MX_FLOAT32) || vt_params_add(&params, "w", w)) goto done;
    vt_adamw_config cfg = vt_adamw_defaults();
    if (vt_adamw_init(&opt, &cfg, &params) || mx_function_new(&fn, loss_fn, NULL) ||
        mx_function_compile(&compiled, fn, false))
        goto done;
    float before = 0, after = 0;
    for (int step = 0; step < 2; step++) {
        mx_array in[3] = {params.values[0], mx_tensors_get(data, "x"), mx_tensors_get(data, "y")}, loss, grad;
        int argnum = 0;
        size_t nv;
        if (mx_value_and_grad(compiled, in, 3, &argnum, 1, &loss, 1, &nv, &grad)) goto done;
        if (mx_item_f32(loss, step == 0 ? &before : &after)) goto done;
        if (step == 0 && vt_adamw_update(&opt, &params, &grad, 0.1)) goto done;
    }
    printf("loss before the step %.4f (ln %d = %.4f), after %.4f\n", before, V, 1.3862944, after);
    if (!(after < before)) {
        vt_err("one AdamW step did not lower the loss (%.4f -> %.4f)", before, after);
        goto done;
    }
    size_t peak = 0;
    mx_memory_peak(&peak);
    printf("smoke test passed on %s (MLX %s), peak memory %.3f MB\n", mx_default_device() == MX_GPU ? "gpu" : "cpu",
           mx_version(), peak / 1e6);
    rc = 0;
done:
    mx_function_free(compiled);
    mx_function_free(fn);
    vt_adamw_free(&opt);
    vt_params_free(&params);
    mx_tensors_free(data);
    mx_scope_end(scope);
    return rc;
}

int cmd_smoke(int argc, char **argv) {
    if (argc > 1 && (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h"))) {
        printf("usage: vlmtune smoke\n\nA smoke program, not training: writes a small safetensors file, loads it\n"
               "back, and takes one AdamW step of a tiny classifier through a compiled value_and_grad.\n");
        return 0;
    }
    printf("vlmtune smoke: this is a smoke program, not training.\n");
    char dir[] = "/tmp/vlmtune-smoke-XXXXXX", path[64];
    if (!mkdtemp(dir)) return vt_err("cannot create a temporary directory");
    snprintf(path, sizeof path, "%s/data.safetensors", dir);
    int rc = smoke(path);
    vt_remove_tree(dir);
    return rc;
}
