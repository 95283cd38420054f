/* `vlmtune prepare` — check a dataset, describe it, and cache it encoded for training.
 *
 *   vlmtune prepare --model DIR --data FILE|DIR [--valid FILE] [--max-seq-length N] [--strict]
 *                   [--cache-dir DIR|none] [--image-min-pixels N] [--image-max-pixels N]
 *
 * --data DIR is a folder of splits (DIR/train.jsonl, and DIR/valid.jsonl when there and no --valid).
 * Every row is parsed, its images decoded and resized, its chat rendered: each bad row is listed on
 * stderr as "error: FILE:LINE: reason" and the command fails with their count.  For a good file it prints
 * rows, images, tokens (image tokens apart), supervised tokens and a histogram of row lengths, and
 * leaves the encoded rows in the cache `vlmtune train` reads (docs/DATA.md, "Prepared rows"). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/args.h"
#include "cli/commands.h"
#include "data/dataset.h"
#include "data/rows.h"
#include "util/error.h"

typedef struct {
    size_t rows, images, tokens, image_tokens, supervised, longest;
    size_t hist[24]; /* rows with length in [2^k, 2^(k+1)) */
} stats;

static void measure(const vt_rows *r, int32_t image_pad, stats *s) {
    *s = (stats){.rows = r->n};
    for (size_t i = 0; i < r->n; i++) {
        const vt_encoded *e = &r->rows[i];
        s->images += e->n_images, s->tokens += e->n_tokens;
        for (size_t t = 0; t < e->n_tokens; t++) s->image_tokens += e->ids[t] == image_pad;
        s->supervised += vt_example_targets(e, 0, NULL, NULL);
        s->longest = e->n_tokens > s->longest ? e->n_tokens : s->longest;
        int k = 0;
        while (k < 23 && ((size_t)2 << k) <= e->n_tokens) k++;
        s->hist[k]++;
    }
}

static void print_stats(const char *path, const vt_rows *r, const stats *s) {
    printf("%s: %zu rows (%zu skipped for length)%s\n", path, s->rows, r->skipped, r->from_cache ? ", from the cache" : "");
    printf("  images %zu; tokens %zu (image tokens %zu, text %zu); supervised %zu; longest row %zu, mean %.1f\n",
           s->images, s->tokens, s->image_tokens, s->tokens - s->image_tokens, s->supervised, s->longest,
           s->rows ? (double)s->tokens / (double)s->rows : 0.0);
    size_t most = 1;
    for (int k = 0; k < 24; k++) most = s->hist[k] > most ? s->hist[k] : most;
    printf("  row length (tokens, images included):\n");
    for (int k = 0; k < 24; k++) {
        if (!s->hist[k]) continue;
        char bar[41];
        size_t w = (s->hist[k] * 40 + most - 1) / most;
        memset(bar, '#', w), bar[w] = 0;
        printf("  %7zu-%-7zu %6zu %s\n", (size_t)1 << k, ((size_t)2 << k) - 1, s->hist[k], bar);
    }
}

int cmd_prepare(int argc, char **argv) {
    vt_option opts[] = {{"model", "DIR", "model directory (tokenizer, image settings)", true},
                        {"data", "FILE|DIR", "training rows, or a folder with train.jsonl [valid.jsonl]", true},
                        {"valid", "FILE.jsonl", "validation rows (default with a folder: its valid split)", false},
                        {"max-seq-length", "N", "longest row in tokens, images included [2048]", false},
                        {"strict", NULL, "a row longer than that is an error, not skipped", false},
                        {"cache-dir", "DIR", "where to keep the encoded rows [next to the data; none: off]", false},
                        VT_IMAGE_OPTIONS,
                        {0}};
    int rc = vt_args_parse(opts, argc, argv, "vlmtune prepare --model DIR --data FILE.jsonl|DIR [--valid FILE.jsonl]");
    if (rc) return rc > 0 ? 0 : -1;
    long max_seq;
    TRY(vt_args_int(opts, "max-seq-length", VT_DEFAULT_MAX_SEQ_LENGTH, 16, 1 << 24, &max_seq));
    const char *data = vt_args_value(opts, "data"), *valid = vt_args_value(opts, "valid");
    char *train_file = NULL, *valid_file = NULL;
    vt_session s = {0};
    rc = vt_dataset_split(data, "train", true, &train_file) ||
         (!valid && vt_dataset_split(data, "valid", false, &valid_file)) || vt_args_session(opts, false, true, &s);
    vt_rows_options o = vt_rows_options_init(s.tok, &s.images, (int)max_seq, vt_args_flag(opts, "strict"), stderr);
    const char *files[2] = {train_file, valid ? valid : valid_file};
    char cache[4200];
    for (int i = 0; rc == 0 && i < 2 && files[i]; i++) {
        vt_rows rows;
        stats st;
        o.path = files[i];
        o.cache_dir = vt_rows_cache_dir(vt_args_value(opts, "cache-dir"), files[i], cache, sizeof cache);
        rc = vt_rows_load(&rows, &o);
        if (rc == 0) {
            measure(&rows, s.ids.image_pad, &st);
            print_stats(files[i], &rows, &st);
            if (o.cache_dir) printf("  cached in %s\n", o.cache_dir);
        }
        vt_rows_free(&rows);
    }
    vt_session_close(&s);
    free(train_file), free(valid_file);
    return rc;
}
