/* Epoch plans: every sample exactly once, repeatable from (seed, epoch), bucketing and packing limits. */
#include <stdlib.h>
#include <string.h>

#include "test.h"
#include "train/plan.h"

enum { N = 37 };

static size_t lengths[N];

static int covers_once(const vt_epoch_plan *p) {
    int seen[N] = {0};
    for (size_t i = 0; i < p->n; i++)
        for (size_t k = 0; k < p->micro[i].n; k++) seen[p->micro[i].samples[k]]++;
    for (int i = 0; i < N; i++)
        if (seen[i] != 1) return 0;
    return 1;
}

/* Σ over batches of (batch size × longest − Σ lengths): the padding a plan costs. */
static size_t padding(const vt_epoch_plan *p) {
    size_t pad = 0;
    for (size_t i = 0; i < p->n; i++) {
        size_t longest = 0, sum = 0;
        for (size_t k = 0; k < p->micro[i].n; k++) {
            size_t l = lengths[p->micro[i].samples[k]];
            longest = l > longest ? l : longest, sum += l;
        }
        pad += p->micro[i].n * longest - sum;
    }
    return pad;
}

/* The shares of micro-batch m over `world` ranks are disjoint, cover it, differ by at most one unit (sample,
 * or packed row), keep the plan's order and keep each packed row whole with its rows renumbered 0, 1, ... */
static int shards_partition(const vt_micro *m, int world) {
    int seen[N] = {0}, ok = 1;
    size_t units = m->row_of ? (size_t)m->row_of[m->n - 1] + 1 : m->n, min = (size_t)-1, max = 0;
    for (int r = 0; r < world; r++) {
        vt_micro s;
        if (vt_micro_shard(m, r, world, &s)) return 0;
        size_t mine = s.row_of ? (s.n ? (size_t)s.row_of[s.n - 1] + 1 : 0) : s.n;
        min = mine < min ? mine : min, max = mine > max ? mine : max;
        for (size_t k = 0; k < s.n; k++) {
            seen[s.samples[k]]++;
            if (s.row_of) { /* the sample's global row is rank + world × its row in the share */
                size_t at = 0;
                while (m->samples[at] != s.samples[k]) at++;
                ok &= m->row_of[at] == r + world * s.row_of[k];
            }
            if (k) { /* plan order kept */
                size_t a = 0, b = 0;
                while (m->samples[a] != s.samples[k - 1]) a++;
                while (m->samples[b] != s.samples[k]) b++;
                ok &= a < b;
            }
        }
        vt_micro_free(&s);
    }
    for (size_t k = 0; k < m->n; k++) ok &= seen[m->samples[k]] == 1;
    return ok && max - min <= 1 && (units >= (size_t)world || min == 0);
}

int main(void) {
    TEST_BEGIN();
    for (int i = 0; i < N; i++) lengths[i] = 10 + (size_t)((i * 7919) % 90);
    vt_plan_options o = {.seed = 5, .epoch = 0, .batch_size = 4, .shuffle = true};
    vt_epoch_plan a, b, c;
    CHECK_OK(vt_plan_epoch(&a, lengths, N, &o));
    CHECK(a.n == 10 && a.micro[9].n == 1 && covers_once(&a));
    CHECK_OK(vt_plan_epoch(&b, lengths, N, &o));
    for (size_t i = 0; i < a.n; i++) CHECK(!memcmp(a.micro[i].samples, b.micro[i].samples, a.micro[i].n * sizeof(size_t)));
    o.epoch = 1;
    CHECK_OK(vt_plan_epoch(&c, lengths, N, &o));
    int differs = 0;
    for (size_t i = 0; i < a.n; i++) differs |= memcmp(a.micro[i].samples, c.micro[i].samples, a.micro[i].n * sizeof(size_t));
    CHECK(differs);
    vt_epoch_plan_free(&b);
    vt_epoch_plan_free(&c);
    for (int world = 1; world <= 5; world++) {
        CHECK(shards_partition(&a.micro[0], world)); /* 4 samples */
        CHECK(shards_partition(&a.micro[9], world)); /* 1 sample: the other ranks' shares are empty */
    }
    vt_micro none;
    CHECK_FAILS(vt_micro_shard(&a.micro[0], 2, 2, &none), "rank 2 of a group of 2");

    o.bucket = true;
    CHECK_OK(vt_plan_epoch(&b, lengths, N, &o));
    CHECK(covers_once(&b) && padding(&b) * 3 < padding(&a));
    vt_epoch_plan_free(&b);
    vt_epoch_plan_free(&a);

    o.bucket = false, o.pack_length = 150, o.batch_size = 2;
    CHECK_OK(vt_plan_epoch(&a, lengths, N, &o));
    CHECK(covers_once(&a));
    for (size_t i = 0; i < a.n; i++) {
        size_t fill[2] = {0, 0};
        for (size_t k = 0; k < a.micro[i].n; k++) {
            int r = a.micro[i].row_of[k];
            CHECK(r >= 0 && r < 2 && (k == 0 || r >= a.micro[i].row_of[k - 1]));
            fill[r] += lengths[a.micro[i].samples[k]];
        }
        CHECK(fill[0] <= 150 && fill[1] <= 150);
        CHECK(shards_partition(&a.micro[i], 1) && shards_partition(&a.micro[i], 2) && shards_partition(&a.micro[i], 3));
    }
    vt_epoch_plan_free(&a);
    CHECK_FAILS(vt_plan_epoch(&a, lengths, 0, &o), "no samples");
    return TEST_END();
}
