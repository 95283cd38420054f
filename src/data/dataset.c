/* dataset.c — dataset files (JSONL or a JSON array) → conversations; --data folders of splits.
 * One row's forms are in forms.c; inline and remote images become files in media.c. */
#include "data/dataset.h"

#include <cjson/cJSON.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "data/forms.h"
#include "data/media.h"
#include "util/error.h"
#include "util/fs.h"

/* ------------------------------------------------------------ loading ---- */

typedef struct {
    vt_dataset *ds;
    const char *base_dir;   /* the data file's folder: relative image paths start there */
    vt_media_options media;
    FILE *log;
    size_t *n_bad;
} loader;

/* A bad row: with a log it is reported and counted (0: go on), else it is the load's error. */
static int bad_row(loader *L) {
    if (!L->log) return -1;
    fprintf(L->log, "error: %s\n", vt_errmsg());
    ++*L->n_bad;
    return 0;
}

/* Inline and remote images become files; the part then names the file. */
static int fetch_images(loader *L, vt_sample *s) {
    size_t k = 0;
    for (size_t m = 0; m < s->n_messages; m++)
        for (size_t i = 0; i < s->messages[m].n_parts; i++) {
            vt_part *p = &s->messages[m].parts[i];
            if (p->kind != VT_PART_IMAGE) continue;
            k++;
            if (!vt_media_is_inline(p->text) && !vt_media_is_url(p->text)) continue;
            char *path;
            if (vt_media_fetch(p->text, &L->media, &path)) return vt_err_context("image %zu", k);
            free(p->text);
            p->text = path;
        }
    return 0;
}

/* Keeps a parsed row (rc == 0), or reports why it is bad; `where` is ": element [i]" in an array, else "". */
static int add_row(loader *L, vt_sample *s, int rc, size_t line, const char *where) {
    if (rc == 0) rc = fetch_images(L, s);
    if (rc) {
        vt_sample_clear(s);
        vt_err_context("%s:%zu%s", L->ds->path, line, where);
        return bad_row(L);
    }
    vt_dataset *ds = L->ds;
    vt_sample *grown = realloc(ds->samples, (ds->n_samples + 1) * sizeof *grown);
    if (!grown) {
        vt_sample_clear(s);
        return vt_err("out of memory");
    }
    ds->samples = grown;
    s->line = line;
    for (size_t m = 0; m < s->n_messages; m++)
        for (size_t k = 0; k < s->messages[m].n_parts; k++)
            ds->n_images += s->messages[m].parts[k].kind == VT_PART_IMAGE;
    ds->samples[ds->n_samples++] = *s;
    return 0;
}

static bool is_blank(const char *s, size_t n) {
    for (size_t i = 0; i < n; i++)
        if (s[i] != ' ' && s[i] != '\t' && s[i] != '\r' && s[i] != '\n') return false;
    return true;
}

static const char *skip_blank(const char *p, const char *end) {
    while (p < end && (*p == ' ' || *p == '\t' || *p == '\r' || *p == '\n')) p++;
    return p;
}

static size_t skip_bom(const char *s, size_t n) { return n >= 3 && !memcmp(s, "\xEF\xBB\xBF", 3) ? 3 : 0; }

/* JSONL: one row per line. */
static int read_lines(loader *L, FILE *f) {
    char *line = NULL;
    size_t cap = 0, lineno = 0;
    ssize_t n;
    int rc = 0;
    while (rc == 0 && (n = getline(&line, &cap, f)) >= 0) {
        size_t bom = ++lineno == 1 ? skip_bom(line, (size_t)n) : 0;
        const char *text = line + bom;
        size_t len = (size_t)n - bom;
        if (is_blank(text, len)) continue;
        vt_sample s = {0};
        int parsed = memchr(text, '\0', len) ? vt_err("the line contains a NUL byte (not a text file?)")
                                             : vt_sample_parse(&s, text, len, L->base_dir);
        rc = add_row(L, &s, parsed, lineno, "");
    }
    free(line);
    if (rc == 0 && ferror(f)) rc = vt_err("%s: read error", L->ds->path);
    return rc;
}

/* Where a position in the text is: line and column, counted from a cursor that only moves forward. */
typedef struct {
    const char *at, *line_start;
    size_t line;
} cursor;

static void advance(cursor *c, const char *to) {
    for (; c->at < to; c->at++)
        if (*c->at == '\n') c->line++, c->line_start = c->at + 1;
}

/* An error at p that ends the reading of an array: nothing after it can be trusted. */
static int array_stops(loader *L, cursor *c, const char *p, const char *why) {
    advance(c, p);
    vt_err("%s:%zu:%zu: %s (the rest of the file is not read)", L->ds->path, c->line,
           (size_t)(p - c->line_start) + 1, why);
    return bad_row(L);
}

/* One JSON array of rows.  Each element is parsed on its own, so an error names the element and its line. */
static int read_array(loader *L, const char *text, size_t len) {
    const char *end = text + len, *p = skip_blank(text + skip_bom(text, len), end) + 1; /* after '[' */
    cursor c = {text, text, 1};
    char why[96], where[48];
    const char *nul = memchr(text, '\0', len);
    if (nul) return array_stops(L, &c, nul, "the file contains a NUL byte (not a text file?)");
    p = skip_blank(p, end);
    size_t index = 0;
    for (; p < end && *p != ']'; index++) {
        const char *elem_end = NULL;
        cJSON *elem = cJSON_ParseWithLengthOpts(p, (size_t)(end - p), &elem_end, false);
        if (!elem) {
            snprintf(why, sizeof why, "element [%zu]: malformed JSON", index);
            return array_stops(L, &c, elem_end && elem_end >= p ? elem_end : p, why);
        }
        advance(&c, p);
        size_t line = c.line;
        long zero = vt_json_nul_escape_at(p, (size_t)(elem_end - p));
        vt_sample s = {0};
        int rc = zero >= 0 ? vt_err("\\u0000 (a NUL character) cannot be kept in conversation text: remove it")
                           : vt_sample_from_json(&s, elem, L->base_dir);
        cJSON_Delete(elem);
        snprintf(where, sizeof where, ": element [%zu]", index);
        TRY(add_row(L, &s, rc, line, where));
        p = skip_blank(elem_end, end);
        if (p < end && *p == ',') {
            p = skip_blank(p + 1, end);
            if (p < end && *p == ']') return array_stops(L, &c, p, "a ',' before ']' (JSON has no trailing comma)");
        } else if (p >= end || *p != ']') {
            snprintf(why, sizeof why, "expected ',' or ']' after element [%zu]", index);
            return array_stops(L, &c, p, why);
        }
    }
    if (p >= end) return array_stops(L, &c, p, "the array is not closed (no ']')");
    if (!is_blank(p + 1, (size_t)(end - p - 1)))
        return array_stops(L, &c, skip_blank(p + 1, end), "unexpected text after the array");
    return 0;
}

/* '[' first (after blanks and a BOM): one JSON array; else JSONL. */
static int starts_with_bracket(FILE *f, bool *array) {
    unsigned char head[3];
    size_t bom = fread(head, 1, 3, f) == 3 && !memcmp(head, "\xEF\xBB\xBF", 3) ? 3 : 0;
    int ch;
    if (fseek(f, (long)bom, SEEK_SET) != 0) return vt_err("cannot seek in the file");
    while ((ch = fgetc(f)) == ' ' || ch == '\t' || ch == '\r' || ch == '\n') {}
    *array = ch == '[';
    rewind(f);
    return 0;
}

static int read_file(loader *L) {
    FILE *f;
    if (vt_open_file(&f, L->ds->path, "the dataset file")) return -1;
    bool array = false;
    int rc = starts_with_bracket(f, &array);
    if (rc == 0 && !array) rc = read_lines(L, f);
    fclose(f);
    if (rc == 0 && array) {
        char *text = NULL;
        size_t len;
        rc = vt_read_file(L->ds->path, &text, &len);
        if (rc == 0) rc = read_array(L, text, len);
        free(text);
    }
    if (rc == 0 && L->ds->n_samples == 0 && *L->n_bad == 0) rc = vt_err("%s: no rows (the file is empty)", L->ds->path);
    return rc;
}

static char *dir_of(const char *path) {
    const char *slash = strrchr(path, '/');
    return slash ? strndup(path, (size_t)(slash - path)) : strdup(".");
}

const char *vt_dataset_default_cache(const char *data_path, char *buf, size_t cap) {
    const char *slash = strrchr(data_path, '/');
    if (!slash) snprintf(buf, cap, ".vlmtune-cache");
    else snprintf(buf, cap, "%.*s/.vlmtune-cache", (int)(slash - data_path), data_path);
    return buf;
}

int vt_dataset_load_opts(vt_dataset **out, const char *path, const vt_dataset_options *o, size_t *n_bad) {
    static const vt_dataset_options none = {0};
    size_t bad_here = 0;
    if (!o) o = &none;
    if (!n_bad) n_bad = &bad_here;
    *n_bad = 0;
    char cache[4096], media[4200];
    const char *dir = o->cache_dir ? o->cache_dir : vt_dataset_default_cache(path, cache, sizeof cache);
    snprintf(media, sizeof media, "%s/images", dir);
    loader L = {.ds = calloc(1, sizeof(vt_dataset)), .base_dir = NULL, .log = o->log, .n_bad = n_bad,
                .media = {.dir = media, .timeout_s = o->timeout_s, .max_bytes = o->max_image_bytes}};
    char *base_dir = dir_of(path);
    L.base_dir = base_dir;
    int rc = (L.ds && base_dir && (L.ds->path = strdup(path))) ? read_file(&L) : vt_err("out of memory");
    free(base_dir);
    if (rc) {
        vt_dataset_free(L.ds);
        return -1;
    }
    *out = L.ds;
    return 0;
}

int vt_dataset_load(vt_dataset **out, const char *path) { return vt_dataset_load_opts(out, path, NULL, NULL); }

int vt_dataset_load_checked(vt_dataset **out, const char *path, FILE *log, size_t *n_bad) {
    return vt_dataset_load_opts(out, path, &(vt_dataset_options){.log = log}, n_bad);
}

void vt_dataset_free(vt_dataset *ds) {
    if (!ds) return;
    for (size_t i = 0; i < ds->n_samples; i++) vt_sample_clear(&ds->samples[i]);
    free(ds->samples);
    free(ds->path);
    free(ds);
}

/* ------------------------------------------------------------- splits ---- */

/* FOLDER/NAME.jsonl or FOLDER/NAME.json, whichever exists (*path = NULL if neither); both is an error. */
static int split_file(const char *dir, const char *name, char **path) {
    char jsonl[4200], json[4200];
    snprintf(jsonl, sizeof jsonl, "%s/%s.jsonl", dir, name);
    snprintf(json, sizeof json, "%s/%s.json", dir, name);
    bool a = vt_path_exists(jsonl), b = vt_path_exists(json);
    *path = NULL;
    if (a && b) return vt_err("%s: both %s.jsonl and %s.json are there: keep one", dir, name, name);
    if ((a || b) && !(*path = strdup(a ? jsonl : json))) return vt_err("out of memory");
    return 0;
}

static int folder_split(const char *dir, const char *split, char **path) {
    TRY(split_file(dir, split, path));
    if (!*path && !strcmp(split, "valid")) TRY(split_file(dir, "validation", path));
    return 0;
}

/* Does the folder hold any split at all? */
static int any_split(const char *dir, bool *any) {
    static const char *const names[] = {"train", "valid", "test"};
    *any = false;
    for (size_t i = 0; i < 3 && !*any; i++) {
        char *p;
        TRY(folder_split(dir, names[i], &p));
        *any = p != NULL;
        free(p);
    }
    return 0;
}

int vt_dataset_split(const char *data, const char *split, bool required, char **path) {
    *path = NULL;
    if (strcmp(split, "train") && strcmp(split, "valid") && strcmp(split, "test"))
        return vt_err("unknown split \"%s\" (train, valid or test)", split);
    struct stat st;
    if (stat(data, &st) != 0) return vt_err("%s: no such file or folder", data);
    if (!S_ISDIR(st.st_mode)) {
        if (!strcmp(split, "train")) return (*path = strdup(data)) ? 0 : vt_err("out of memory");
        if (required) return vt_err("%s is a file, which holds the train split only: give a folder with %s.jsonl", data, split);
        return 0;
    }
    char dir[4096];
    snprintf(dir, sizeof dir, "%s", data);
    for (size_t n = strlen(dir); n > 1 && dir[n - 1] == '/'; n--) dir[n - 1] = '\0';
    TRY(folder_split(dir, split, path));
    if (*path) return 0;
    bool any;
    TRY(any_split(dir, &any));
    if (!any)
        return vt_err("%s: a data folder holds its splits as train.jsonl, valid.jsonl, test.jsonl (or .json); "
                      "this one holds none of them", dir);
    if (required) return vt_err("%s: the folder has no %s split (%s.jsonl or %s.json)", dir, split, split, split);
    return 0;
}

int vt_dataset_eval_split(const char *data, char **path, const char **split) {
    *path = NULL, *split = NULL;
    if (!vt_is_dir(data)) {
        if (!vt_path_exists(data)) return vt_err("%s: no such file or folder", data);
        return (*path = strdup(data)) ? 0 : vt_err("out of memory");
    }
    TRY(vt_dataset_split(data, "test", false, path));
    if (*path) return *split = "test", 0;
    TRY(vt_dataset_split(data, "valid", false, path));
    if (*path) return *split = "valid", 0;
    return vt_err("%s: the folder has neither a test nor a valid split to evaluate", data);
}
