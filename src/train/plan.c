/* plan.c — shuffling, length bucketing and packing of an epoch. */
#include "train/plan.h"

#include <stdlib.h>
#include <string.h>

#include "util/error.h"
#include "util/mix.h"

void vt_epoch_plan_free(vt_epoch_plan *p) {
    if (!p) return;
    for (size_t i = 0; i < p->n; i++) free(p->micro[i].samples), free(p->micro[i].row_of);
    free(p->micro);
    *p = (vt_epoch_plan){0};
}

static void shuffle(size_t *order, size_t n, uint64_t seed, long epoch) {
    uint64_t state = vt_mix64(seed ^ vt_mix64((uint64_t)epoch + 1));
    for (size_t i = n; i > 1; i--) {
        state = vt_mix64(state);
        size_t j = (size_t)(state % i);
        size_t t = order[i - 1];
        order[i - 1] = order[j], order[j] = t;
    }
}

static const size_t *sort_lengths;
static int by_length(const void *a, const void *b) {
    size_t la = sort_lengths[*(const size_t *)a], lb = sort_lengths[*(const size_t *)b];
    return la < lb ? -1 : la > lb;
}

/* Sorts windows of 16 batches by length, then shuffles the batches themselves, so batches hold
 * samples of similar length while the order of batches stays random. */
static void bucket(size_t *order, size_t n, const size_t *lengths, int batch, uint64_t seed, long epoch) {
    size_t window = (size_t)batch * 16;
    sort_lengths = lengths;
    for (size_t at = 0; at < n; at += window) qsort(order + at, n - at < window ? n - at : window, sizeof *order, by_length);
    size_t nb = n / batch; /* full batches are shuffled; a partial one stays last, where the plan cuts it */
    size_t *batches = malloc(nb * sizeof *batches), *copy = malloc(n * sizeof *copy);
    if (!batches || !copy) goto done; /* bucketing is an optimisation: without memory, keep the order */
    for (size_t i = 0; i < nb; i++) batches[i] = i;
    shuffle(batches, nb, seed ^ 0x5bd1e995u, epoch);
    size_t k = 0;
    for (size_t i = 0; i < nb; i++)
        for (size_t j = batches[i] * batch; j < n && j < (batches[i] + 1) * (size_t)batch; j++) copy[k++] = order[j];
    memcpy(order, copy, k * sizeof *order);
done:
    free(batches), free(copy);
}

static int add_micro(vt_epoch_plan *p, const size_t *samples, const int *row_of, size_t n) {
    vt_micro *grown = realloc(p->micro, (p->n + 1) * sizeof *grown);
    if (!grown) return vt_err("out of memory");
    p->micro = grown;
    vt_micro *m = &p->micro[p->n];
    *m = (vt_micro){.samples = malloc(n * sizeof *m->samples), .n = n};
    if (row_of) m->row_of = malloc(n * sizeof *m->row_of);
    if (!m->samples || (row_of && !m->row_of)) {
        free(m->samples), free(m->row_of);
        return vt_err("out of memory");
    }
    memcpy(m->samples, samples, n * sizeof *samples);
    if (row_of) memcpy(m->row_of, row_of, n * sizeof *row_of);
    p->n++;
    return 0;
}

/* Greedy first-fit in plan order: a row takes samples until the next would overflow it. */
static int pack(vt_epoch_plan *p, const size_t *order, size_t n, const size_t *lengths, const vt_plan_options *o) {
    int *row_of = malloc(n * sizeof *row_of);
    if (!row_of) return vt_err("out of memory");
    size_t start = 0, fill = 0;
    int row = 0, rc = 0;
    for (size_t i = 0; rc == 0 && i < n; i++) {
        size_t len = lengths[order[i]];
        if (fill && fill + len > (size_t)o->pack_length) {
            row++, fill = 0;
            if (row == o->batch_size) {
                rc = add_micro(p, order + start, row_of + start, i - start);
                start = i, row = 0;
            }
        }
        row_of[i] = row;
        fill += len;
    }
    if (rc == 0 && start < n) rc = add_micro(p, order + start, row_of + start, n - start);
    free(row_of);
    return rc;
}

int vt_plan_epoch(vt_epoch_plan *out, const size_t *lengths, size_t n, const vt_plan_options *o) {
    *out = (vt_epoch_plan){0};
    if (n == 0) return vt_err("no samples to plan");
    if (o->batch_size < 1) return vt_err("batch size must be at least 1");
    size_t *order = malloc(n * sizeof *order);
    if (!order) return vt_err("out of memory");
    for (size_t i = 0; i < n; i++) order[i] = i;
    if (o->shuffle) shuffle(order, n, o->seed, o->epoch);
    if (o->bucket && o->pack_length <= 0) bucket(order, n, lengths, o->batch_size, o->seed, o->epoch);
    int rc = 0;
    if (o->pack_length > 0) {
        rc = pack(out, order, n, lengths, o);
    } else {
        for (size_t at = 0; rc == 0 && at < n; at += (size_t)o->batch_size)
            rc = add_micro(out, order + at, NULL, n - at < (size_t)o->batch_size ? n - at : (size_t)o->batch_size);
    }
    free(order);
    if (rc) vt_epoch_plan_free(out);
    return rc;
}

void vt_micro_free(vt_micro *m) {
    if (!m) return;
    free(m->samples), free(m->row_of);
    *m = (vt_micro){0};
}

int vt_micro_shard(const vt_micro *m, int rank, int world, vt_micro *out) {
    *out = (vt_micro){0};
    if (world < 1 || rank < 0 || rank >= world) return vt_err("rank %d of a group of %d", rank, world);
    out->samples = malloc((m->n + 1) * sizeof *out->samples);
    if (m->row_of) out->row_of = malloc((m->n + 1) * sizeof *out->row_of);
    if (!out->samples || (m->row_of && !out->row_of)) {
        vt_micro_free(out);
        return vt_err("out of memory");
    }
    for (size_t i = 0; i < m->n; i++) {
        long unit = m->row_of ? m->row_of[i] : (long)i; /* a packed row travels whole */
        if (unit % world != rank) continue;
        if (m->row_of) out->row_of[out->n] = (int)(unit / world);
        out->samples[out->n++] = m->samples[i];
    }
    return 0;
}
