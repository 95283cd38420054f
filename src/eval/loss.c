/* loss.c — cross-entropy over the supervised positions, its logits made a chunk at a time.
 *
 * At the 4B size one supervised row's logits are 151,936 floats: 0.6 MB, and several times that while the
 * backward pass runs (float32 logits, their softmax, the cast back to the head's type).  A batch of 8 rows
 * with 256 supervised tokens each would hold 2,048 such rows (several GB) at once.  So the head runs over
 * chunks of rows, each under gradient checkpointing: the forward keeps only the chunk's scalar loss, and the
 * backward recomputes one chunk's logits at a time. */
#include "eval/loss.h"

#include "model/layers.h"

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

typedef struct {
    vt_logits_fn logits;
    const void *ctx;
} head;

/* [rows, targets] -> summed cross-entropy; the targets carry no gradient (indices have none). */
static int head_chunk(const void *ctx, const mx_array *in, size_t n_in, mx_array *out) {
    const head *h = ctx;
    mx_array targets, logits;
    TRY(mx_stop_gradient(&targets, in[1]));
    TRY(h->logits(h->ctx, in[0], &logits));
    return vt_cross_entropy_sum(out, logits, targets);
}

int vt_cross_entropy_chunked(vt_logits_fn logits, const void *ctx, mx_array rows, mx_array targets, int chunk_rows,
                             mx_array *sum) {
    if (mx_ndim(rows) != 2 || mx_ndim(targets) != 1 || mx_dim(rows, 0) != mx_dim(targets, 0)) {
        char a[64], b[64];
        return vt_err("cross-entropy: rows %s and targets %s do not match ([S,H] and [S])",
                      mx_describe(rows, a, sizeof a), mx_describe(targets, b, sizeof b));
    }
    if (chunk_rows < 1) return vt_err("cross-entropy: chunk of %d rows", chunk_rows);
    int S = mx_dim(rows, 0);
    head h = {logits, ctx};
    TRY(mx_scalar(sum, 0.0, MX_FLOAT32));
    for (int s = 0; s < S; s += chunk_rows) {
        int e = s + chunk_rows < S ? s + chunk_rows : S;
        mx_array in[2], part;
        TRY(mx_slice_axis(&in[0], rows, 0, s, e));
        TRY(mx_slice_axis(&in[1], targets, 0, s, e));
        TRY(vt_block_call(head_chunk, &h, sizeof h, NULL, 0, in, 2, true, NULL, &part));
        TRY(mx_add(sum, *sum, part));
    }
    return 0;
}

int vt_loss_chunk_rows(int vocab) {
    int rows = (int)((64L << 20) / (vocab > 0 ? vocab : 1));
    return rows > 0 ? rows : 1;
}

static int model_logits(const void *m, mx_array rows, mx_array *logits) { return vt_model_logits(m, rows, logits); }

int vt_model_loss_sum(const vt_model *m, const vt_model_inputs *in, mx_array positions, mx_array targets,
                      mx_array *sum) {
    vt_model_outputs o;
    mx_array flat, rows;
    int shape[2] = {in->B * in->T, m->config.hidden};
    int rc = vt_model_forward(m, in, &o);
    if (rc == 0)
        rc = mx_reshape(&flat, o.hidden, shape, 2) || mx_take(&rows, flat, positions, 0) ||
             vt_cross_entropy_chunked(model_logits, m, rows, targets, vt_loss_chunk_rows(m->config.vocab), sum);
    vt_model_outputs_clear(&o);
    return rc;
}
