/* rows.c — dataset file → encoded rows (validated, length-checked). */
#include "data/rows.h"

#include <stdlib.h>
#include <sys/stat.h>
#include <string.h>

#include "data/dataset.h"
#include "util/error.h"
#include "util/fs.h"
#include "util/mix.h"

vt_rows_options vt_rows_options_init(const vt_tokenizer *tok, const vt_image_config *ic, int max_seq_length,
                                     bool strict, FILE *log) {
    return (vt_rows_options){.tokenizer = tok, .images = ic, .max_seq_length = max_seq_length, .strict = strict,
                             .log = log};
}

/* ---------------------------------------------------------------- cache ---- */

enum { ROWS_FORMAT = 2 }; /* 2: whole-segment tokenization of the chat template */

static int cache_key(const vt_rows_options *o, const vt_dataset *ds, char key[17]) {
    char *bytes;
    size_t len;
    TRY(vt_read_file(o->path, &bytes, &len));
    uint64_t h = vt_fnv1a(VT_FNV_START, bytes, len);
    free(bytes);
    uint64_t tokenizer = vt_tokenizer_fingerprint(o->tokenizer);
    h = vt_fnv1a(h, &tokenizer, sizeof tokenizer);
    const vt_image_config *ic = o->images;
    long settings[] = {ROWS_FORMAT, ic->min_pixels, ic->max_pixels, ic->patch, ic->merge, ic->temporal,
                       o->max_seq_length, o->strict};
    h = vt_fnv1a(h, settings, sizeof settings);
    h = vt_fnv1a(h, ic->mean, sizeof ic->mean);
    h = vt_fnv1a(h, ic->std, sizeof ic->std);
    for (size_t i = 0; i < ds->n_samples; i++)
        for (size_t m = 0; m < ds->samples[i].n_messages; m++)
            for (size_t k = 0; k < ds->samples[i].messages[m].n_parts; k++) {
                const vt_part *p = &ds->samples[i].messages[m].parts[k];
                struct stat st;
                if (p->kind != VT_PART_IMAGE) continue;
                h = vt_fnv1a(h, p->text, strlen(p->text) + 1);
                if (stat(p->text, &st) == 0) {
                    long meta[] = {(long)st.st_size, (long)st.st_mtim.tv_sec, (long)st.st_mtim.tv_nsec};
                    h = vt_fnv1a(h, meta, sizeof meta);
                }
            }
    snprintf(key, 17, "%016llx", (unsigned long long)h);
    return 0;
}

/* ------------------------------------------------------------ encoding ---- */

/* Encodes every row; bad rows are reported to the log and counted, too-long ones skipped. */
static int encode_all(vt_rows *out, const vt_dataset *ds, const vt_rows_options *o, size_t *bad) {
    for (size_t i = 0; i < ds->n_samples; i++) {
        const vt_sample *s = &ds->samples[i];
        vt_encoded e;
        int rc = vt_encode_sample(s, o->tokenizer, o->images, false, &e);
        if (rc == 0 && vt_example_targets(&e, 0, NULL, NULL) == 0) rc = vt_err("the row has no assistant tokens to learn from");
        if (rc == 0 && o->max_seq_length > 0 && e.n_tokens > (size_t)o->max_seq_length) {
            if (o->strict) {
                rc = vt_err("%zu tokens (images included) exceed max_seq_length %d", e.n_tokens, o->max_seq_length);
            } else {
                if (o->log)
                    fprintf(o->log, "warning: %s:%zu: skipped: %zu tokens (images included) exceed max_seq_length %d\n",
                            o->path, s->line, e.n_tokens, o->max_seq_length);
                out->skipped++;
                vt_encoded_clear(&e);
                continue;
            }
        }
        if (rc == 0 && vt_rows_append(out, &e, s->line)) {
            vt_encoded_clear(&e);
            return -1;
        }
        if (rc) {
            vt_encoded_clear(&e);
            vt_err_context("%s:%zu", o->path, s->line);
            if (!o->log) return -1;
            fprintf(o->log, "error: %s\n", vt_errmsg());
            ++*bad;
        }
    }
    return 0;
}

int vt_rows_load(vt_rows *out, const vt_rows_options *o) {
    *out = (vt_rows){0};
    vt_dataset *ds;
    size_t bad = 0;
    vt_dataset_options dopt = {.log = o->log, .cache_dir = o->cache_dir};
    TRY(vt_dataset_load_opts(&ds, o->path, &dopt, &bad));
    char key[17] = "", cache[4200] = "";
    int rc = 0;
    if (o->cache_dir && bad == 0) {
        rc = cache_key(o, ds, key) || vt_mkdir_p(o->cache_dir);
        snprintf(cache, sizeof cache, "%s/rows-%s.safetensors", o->cache_dir, key);
        if (rc == 0 && vt_path_exists(cache)) {
            if (vt_rows_read(out, cache) == 0) {
                out->from_cache = true;
                if (o->log) fprintf(o->log, "%s: %zu rows from the cache %s\n", o->path, out->n, cache);
                vt_dataset_free(ds);
                return 0;
            }
            if (o->log) fprintf(o->log, "%s: the cache %s is unreadable (%s): rebuilding it\n", o->path, cache, vt_errmsg());
        }
    }
    size_t total = ds->n_samples + bad; /* rows parsed + rows that did not parse */
    if (rc == 0) rc = encode_all(out, ds, o, &bad);
    vt_dataset_free(ds);
    if (rc == 0 && bad) rc = vt_err("%s: %zu of %zu rows are invalid (each is listed above)", o->path, bad, total);
    if (rc == 0 && out->skipped && o->log)
        fprintf(o->log, "%s: %zu of %zu rows skipped for their length\n", o->path, out->skipped, total);
    if (rc == 0 && *cache && out->n && vt_rows_save(out, cache, o->path))
        rc = vt_err_context("writing the cache %s", cache);
    if (rc) vt_rows_free(out);
    return rc;
}

const char *vt_rows_cache_dir(const char *setting, const char *data_path, char *buf, size_t cap) {
    if (setting && !strcmp(setting, "none")) return NULL;
    if (setting && *setting) {
        snprintf(buf, cap, "%s", setting);
        return buf;
    }
    return vt_dataset_default_cache(data_path, buf, cap);
}
