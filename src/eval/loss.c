#include "eval/loss.h"

int vt_cross_entropy_sum(mx_array *sum, mx_array logits, mx_array targets) {
    if (mx_ndim(logits) != 2 || mx_ndim(targets) != 1 || mx_dim(logits, 0) != mx_dim(targets, 0)) {
        char a[64], b[64];
        return vt_err("cross-entropy: logits %s and targets %s do not match ([S,V] and [S])",
                      mx_describe(logits, a, sizeof a), mx_describe(targets, b, sizeof b));
    }
    int last = -1;
    mx_array l32, lse, idx, picked, diff;
    TRY(mx_astype(&l32, logits, MX_FLOAT32));
    TRY(mx_logsumexp(&lse, l32, &last, 1, false));
    TRY(mx_expand_dims(&idx, targets, 1));
    TRY(mx_take_along_axis(&picked, l32, idx, 1));
    TRY(mx_squeeze(&picked, picked, 1));
    TRY(mx_subtract(&diff, lse, picked));
    return mx_sum(sum, diff, NULL, 0, false);
}

int vt_model_loss_sum(const vt_model *m, const vt_model_inputs *in, mx_array positions, mx_array targets,
                      mx_array *sum) {
    vt_model_outputs o;
    mx_array flat, rows, logits;
    int shape[2] = {in->B * in->T, m->config.hidden};
    int rc = vt_model_forward(m, in, &o);
    if (rc == 0)
        rc = mx_reshape(&flat, o.hidden, shape, 2) || mx_take(&rows, flat, positions, 0) ||
             vt_model_logits(m, rows, &logits) || vt_cross_entropy_sum(sum, logits, targets);
    vt_model_outputs_clear(&o);
    return rc;
}
