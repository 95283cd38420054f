/* tokenizer.c — byte-level BPE as Hugging Face `tokenizers` runs it for Qwen (see tokenizer.h). */
#include "text/tokenizer.h"

#define PCRE2_CODE_UNIT_WIDTH 8
#include <cjson/cJSON.h>
#include <pcre2.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <utf8proc.h>

#include "io/json.h"
#include "util/error.h"
#include "util/fs.h"
#include "util/mix.h"
#include "util/utf8.h"

/* Qwen2/Qwen3's pre-tokenizer, used when the files do not carry one (vocab.json + merges.txt). */
static const char QWEN_PATTERN[] =
    "(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|"
    "\\s+(?!\\S)|\\s+";

/* ------------------------------------------------------------ hash maps ---- */

typedef struct {
    char **keys;       /* owned; NULL = empty slot */
    int32_t *values;
    size_t cap;        /* power of two */
    size_t count;
} str_map;

static uint64_t hash_bytes(const char *s, size_t n) {
    uint64_t h = 1469598103934665603ull;
    for (size_t i = 0; i < n; i++) h = (h ^ (unsigned char)s[i]) * 1099511628211ull;
    return h;
}

static int str_map_init(str_map *m, size_t n) {
    m->cap = 16;
    while (m->cap < 2 * n + 16) m->cap *= 2;
    m->keys = calloc(m->cap, sizeof *m->keys);
    m->values = calloc(m->cap, sizeof *m->values);
    m->count = 0;
    return m->keys && m->values ? 0 : vt_err("out of memory for a vocabulary of %zu tokens", n);
}

static size_t str_map_slot(const str_map *m, const char *s, size_t n) {
    size_t i = hash_bytes(s, n) & (m->cap - 1);
    while (m->keys[i] && !(strlen(m->keys[i]) == n && !memcmp(m->keys[i], s, n))) i = (i + 1) & (m->cap - 1);
    return i;
}

static int32_t str_map_get(const str_map *m, const char *s, size_t n) {
    size_t i = str_map_slot(m, s, n);
    return m->keys[i] ? m->values[i] : -1;
}

/* Adds (or overwrites) key -> value. */
static int str_map_put(str_map *m, const char *s, int32_t value) {
    if (2 * (m->count + 1) > m->cap) return vt_err("internal: vocabulary map full");
    size_t i = str_map_slot(m, s, strlen(s));
    if (!m->keys[i]) {
        if (!(m->keys[i] = strdup(s))) return vt_err("out of memory");
        m->count++;
    }
    m->values[i] = value;
    return 0;
}

static void str_map_free(str_map *m) {
    for (size_t i = 0; m->keys && i < m->cap; i++) free(m->keys[i]);
    free(m->keys);
    free(m->values);
}

typedef struct {
    uint64_t *keys;    /* (left << 32 | right) + 1; 0 = empty */
    int32_t *rank, *merged;
    size_t cap;
} pair_map;

static int pair_map_init(pair_map *m, size_t n) {
    m->cap = 16;
    while (m->cap < 2 * n + 16) m->cap *= 2;
    m->keys = calloc(m->cap, sizeof *m->keys);
    m->rank = malloc(m->cap * sizeof *m->rank);
    m->merged = malloc(m->cap * sizeof *m->merged);
    return m->keys && m->rank && m->merged ? 0 : vt_err("out of memory for %zu merges", n);
}

static size_t pair_slot(const pair_map *m, uint64_t key) {
    size_t i = (size_t)((key * 0x9E3779B97F4A7C15ull) >> 20) & (m->cap - 1);
    while (m->keys[i] && m->keys[i] != key) i = (i + 1) & (m->cap - 1);
    return i;
}

static uint64_t pair_key(int32_t a, int32_t b) { return (((uint64_t)(uint32_t)a << 32) | (uint32_t)b) + 1; }

static void pair_map_free(pair_map *m) {
    free(m->keys);
    free(m->rank);
    free(m->merged);
}

/* -------------------------------------------------------------- the type ---- */

typedef struct {
    char *content;
    size_t len;
    int32_t id;
} added_token;

struct vt_tokenizer {
    str_map vocab;           /* byte-level string -> id (added tokens too) */
    char **id_to_token;      /* [n_ids], owned copies; NULL for holes */
    bool *is_added;          /* [n_ids] */
    size_t n_ids, cap_ids;
    pair_map merges;
    added_token *added;      /* longest first */
    size_t n_added;
    bool added_first_byte[256];
    int32_t byte_id[256];    /* id of each byte's one-character token */
    int byte_of_cp[324];     /* byte-level alphabet, inverse: code point -> byte (-1 none) */
    pcre2_code *pattern;
    pcre2_match_data *match;
    uint64_t pattern_hash;
    uint64_t fingerprint;    /* of everything above that decides the ids (finish()) */
};

/* The byte-level alphabet: printable bytes stand for themselves, the other 68 map to U+0100 onward. */
static void byte_alphabet(int cp_of_byte[256]) {
    int next = 256;
    for (int b = 0; b < 256; b++) {
        bool printable = (b >= 33 && b <= 126) || (b >= 161 && b <= 172) || (b >= 174 && b <= 255);
        cp_of_byte[b] = printable ? b : next++;
    }
}

/* A token id as written in JSON: a whole number in [0, 10⁷). */
static int json_id(const cJSON *v, const char *token, const char *file, int32_t *id) {
    if (!cJSON_IsNumber(v) || !(v->valuedouble >= 0 && v->valuedouble < 1e7) || v->valuedouble != (double)(int32_t)v->valuedouble)
        return vt_err("%s: token '%s' needs an id that is a whole number in [0, 10000000)", file, token);
    *id = (int32_t)v->valuedouble;
    return 0;
}

static int set_id(vt_tokenizer *t, int32_t id, const char *token, bool added, const char *file) {
    if ((size_t)id >= t->n_ids) {
        size_t n = (size_t)id + 1;
        if (n > t->cap_ids) { /* geometric growth: vocabularies come in id order, one id at a time */
            size_t cap = t->cap_ids ? t->cap_ids : 1024;
            while (cap < n) cap *= 2;
            char **grown = realloc(t->id_to_token, cap * sizeof *grown);
            if (grown) t->id_to_token = grown;
            bool *ga = realloc(t->is_added, cap * sizeof *ga);
            if (ga) t->is_added = ga;
            if (!grown || !ga) return vt_err("out of memory");
            t->cap_ids = cap;
        }
        for (size_t i = t->n_ids; i < n; i++) t->id_to_token[i] = NULL, t->is_added[i] = false;
        t->n_ids = n;
    }
    free(t->id_to_token[id]);
    if (!(t->id_to_token[id] = strdup(token))) return vt_err("out of memory");
    t->is_added[id] = added;
    return str_map_put(&t->vocab, token, id);
}

/* ---------------------------------------------------------------- loading ---- */

static int load_vocab(vt_tokenizer *t, const cJSON *vocab, const char *file) {
    if (!cJSON_IsObject(vocab)) return vt_err("%s: the vocabulary must be an object of token -> id", file);
    TRY(str_map_init(&t->vocab, (size_t)cJSON_GetArraySize(vocab) + 1024));
    const cJSON *e;
    cJSON_ArrayForEach(e, vocab) {
        int32_t id = 0;
        TRY(json_id(e, e->string, file, &id));
        TRY(set_id(t, id, e->string, false, file));
    }
    return 0;
}

static int add_merge(vt_tokenizer *t, const char *a, const char *b, int32_t rank, const char *file) {
    int32_t ia = str_map_get(&t->vocab, a, strlen(a)), ib = str_map_get(&t->vocab, b, strlen(b));
    size_t la = strlen(a), lb = strlen(b);
    char *both = malloc(la + lb + 1);
    if (!both) return vt_err("out of memory");
    memcpy(both, a, la), memcpy(both + la, b, lb + 1);
    int32_t merged = str_map_get(&t->vocab, both, la + lb);
    free(both);
    if (ia < 0 || ib < 0 || merged < 0)
        return vt_err("%s: merge %d ('%s' '%s') names a token missing from the vocabulary", file, rank + 1, a, b);
    uint64_t key = pair_key(ia, ib);
    size_t i = pair_slot(&t->merges, key);
    if (t->merges.keys[i]) return 0; /* a repeated merge keeps its first (lowest) rank */
    t->merges.keys[i] = key, t->merges.rank[i] = rank, t->merges.merged[i] = merged;
    return 0;
}

static int load_merges_json(vt_tokenizer *t, const cJSON *merges, const char *file) {
    if (!cJSON_IsArray(merges)) return vt_err("%s: model.merges must be a list", file);
    TRY(pair_map_init(&t->merges, (size_t)cJSON_GetArraySize(merges)));
    int32_t rank = 0;
    const cJSON *m;
    cJSON_ArrayForEach(m, merges) {
        if (cJSON_IsString(m)) { /* "a b" */
            char *sp = strchr(m->valuestring, ' ');
            if (!sp) return vt_err("%s: merge %d ('%s') is not two tokens", file, rank + 1, m->valuestring);
            *sp = '\0';
            int rc = add_merge(t, m->valuestring, sp + 1, rank, file);
            *sp = ' ';
            TRY(rc);
        } else if (cJSON_IsArray(m) && cJSON_GetArraySize(m) == 2 && cJSON_IsString(cJSON_GetArrayItem(m, 0)) &&
                   cJSON_IsString(cJSON_GetArrayItem(m, 1))) {
            TRY(add_merge(t, cJSON_GetArrayItem(m, 0)->valuestring, cJSON_GetArrayItem(m, 1)->valuestring, rank, file));
        } else {
            return vt_err("%s: merge %d must be \"a b\" or [\"a\", \"b\"]", file, rank + 1);
        }
        rank++;
    }
    return 0;
}

static int add_added(vt_tokenizer *t, const char *content, int32_t id, const char *file) {
    if (!content[0]) return vt_err("%s: added token %d is empty", file, id);
    added_token *grown = realloc(t->added, (t->n_added + 1) * sizeof *grown);
    if (!grown) return vt_err("out of memory");
    t->added = grown;
    t->added[t->n_added++] = (added_token){strdup(content), strlen(content), id};
    t->added_first_byte[(unsigned char)content[0]] = true;
    return set_id(t, id, content, true, file);
}

static int cmp_longest(const void *a, const void *b) {
    const added_token *x = a, *y = b;
    return x->len < y->len ? 1 : x->len > y->len ? -1 : 0;
}

static int compile_pattern(vt_tokenizer *t, const char *pattern, const char *file) {
    t->pattern_hash = vt_fnv1a(VT_FNV_START, pattern, strlen(pattern));
    int err;
    PCRE2_SIZE at;
    t->pattern = pcre2_compile((PCRE2_SPTR)pattern, PCRE2_ZERO_TERMINATED, PCRE2_UTF | PCRE2_UCP, &err, &at, NULL);
    if (!t->pattern) {
        PCRE2_UCHAR msg[256];
        pcre2_get_error_message(err, msg, sizeof msg);
        return vt_err("%s: the pre-tokenizer pattern does not compile at offset %zu: %s", file, (size_t)at, msg);
    }
    pcre2_jit_compile(t->pattern, PCRE2_JIT_COMPLETE); /* optional speed-up; the interpreter is the fallback */
    t->match = pcre2_match_data_create_from_pattern(t->pattern, NULL);
    return t->match ? 0 : vt_err("out of memory");
}

/* The Split regex of the pre-tokenizer, wherever the file keeps it. */
static const char *find_pattern(const cJSON *pre) {
    if (!cJSON_IsObject(pre)) return NULL;
    const cJSON *pat = cJSON_GetObjectItemCaseSensitive(pre, "pattern");
    const cJSON *re = cJSON_IsObject(pat) ? cJSON_GetObjectItemCaseSensitive(pat, "Regex") : NULL;
    if (cJSON_IsString(re)) return re->valuestring;
    const cJSON *list = cJSON_GetObjectItemCaseSensitive(pre, "pretokenizers"), *p;
    cJSON_ArrayForEach(p, list) {
        const char *found = find_pattern(p);
        if (found) return found;
    }
    return NULL;
}

/* A parsed tokenizer.json (`file` names it in messages). */
static int load_tokenizer_root(vt_tokenizer *t, cJSON *root, const char *file) {
    int rc = -1;
    const cJSON *model = cJSON_GetObjectItemCaseSensitive(root, "model"), *type, *added, *a;
    if (!cJSON_IsObject(model)) {
        vt_err("%s: missing \"model\"", file);
        goto done;
    }
    type = cJSON_GetObjectItemCaseSensitive(model, "type");
    if (type && (!cJSON_IsString(type) || strcmp(type->valuestring, "BPE"))) {
        vt_err("%s: model type '%s' is not supported (byte-level BPE only)", file,
               cJSON_IsString(type) ? type->valuestring : "?");
        goto done;
    }
    if (!cJSON_GetObjectItemCaseSensitive(model, "vocab")) {
        vt_err("%s: missing model.vocab", file);
        goto done;
    }
    if (load_vocab(t, cJSON_GetObjectItemCaseSensitive(model, "vocab"), file) ||
        load_merges_json(t, cJSON_GetObjectItemCaseSensitive(model, "merges"), file))
        goto done;
    added = cJSON_GetObjectItemCaseSensitive(root, "added_tokens");
    cJSON_ArrayForEach(a, added) {
        const cJSON *content = cJSON_GetObjectItemCaseSensitive(a, "content"), *id = cJSON_GetObjectItemCaseSensitive(a, "id");
        int32_t value = 0;
        if (!cJSON_IsString(content)) {
            vt_err("%s: each added token needs \"content\" and \"id\"", file);
            goto done;
        }
        if (json_id(id, content->valuestring, file, &value) || add_added(t, content->valuestring, value, file)) goto done;
    }
    const char *pattern = find_pattern(cJSON_GetObjectItemCaseSensitive(root, "pre_tokenizer"));
    rc = compile_pattern(t, pattern ? pattern : QWEN_PATTERN, file);
done:
    return rc;
}

static int load_tokenizer_json(vt_tokenizer *t, const char *file) {
    cJSON *root;
    TRY(vt_json_load(&root, file));
    int rc = load_tokenizer_root(t, root, file);
    cJSON_Delete(root);
    return rc;
}

static int load_vocab_merges(vt_tokenizer *t, const char *dir) {
    char vocab_path[4096], merges_path[4096], config_path[4096];
    TRY(vt_path_join(vocab_path, sizeof vocab_path, dir, "vocab.json"));
    TRY(vt_path_join(merges_path, sizeof merges_path, dir, "merges.txt"));
    TRY(vt_path_join(config_path, sizeof config_path, dir, "tokenizer_config.json"));
    cJSON *vocab;
    TRY(vt_json_load(&vocab, vocab_path));
    int rc = load_vocab(t, vocab, vocab_path);
    cJSON_Delete(vocab);
    TRY(rc);
    char *text;
    size_t len;
    TRY(vt_read_file(merges_path, &text, &len));
    size_t lines = 1;
    for (size_t i = 0; i < len; i++) lines += text[i] == '\n';
    rc = pair_map_init(&t->merges, lines);
    int32_t rank = 0;
    char *save = NULL;
    for (char *line = strtok_r(text, "\r\n", &save); rc == 0 && line; line = strtok_r(NULL, "\r\n", &save)) {
        if (!strncmp(line, "#version", 8) || !*line) continue;
        char *sp = strchr(line, ' ');
        if (!sp) rc = vt_err("%s: line '%s' is not two tokens", merges_path, line);
        else *sp = '\0', rc = add_merge(t, line, sp + 1, rank++, merges_path);
    }
    free(text);
    TRY(rc);
    if (vt_path_exists(config_path)) {
        cJSON *cfg;
        TRY(vt_json_load(&cfg, config_path));
        const cJSON *dec = cJSON_GetObjectItemCaseSensitive(cfg, "added_tokens_decoder"), *e;
        cJSON_ArrayForEach(e, dec) {
            const cJSON *content = cJSON_GetObjectItemCaseSensitive(e, "content");
            if (rc == 0 && cJSON_IsString(content)) rc = add_added(t, content->valuestring, atoi(e->string), config_path);
        }
        cJSON_Delete(cfg);
        TRY(rc);
    }
    return compile_pattern(t, QWEN_PATTERN, merges_path);
}

static int finish(vt_tokenizer *t, const char *file) {
    int cp[256];
    byte_alphabet(cp);
    for (int i = 0; i < 324; i++) t->byte_of_cp[i] = -1;
    for (int b = 0; b < 256; b++) {
        char s[4];
        utf8proc_ssize_t n = utf8proc_encode_char(cp[b], (utf8proc_uint8_t *)s);
        t->byte_id[b] = str_map_get(&t->vocab, s, (size_t)n);
        t->byte_of_cp[cp[b]] = b;
        if (t->byte_id[b] < 0) return vt_err("%s: the vocabulary lacks the token for byte 0x%02x", file, b);
    }
    qsort(t->added, t->n_added, sizeof *t->added, cmp_longest);
    /* the vocabulary in id order, the merges as an order-free sum, the pattern: equal for the same
     * tokenizer whichever files it came from */
    uint64_t h = t->pattern_hash, merges = 0;
    for (size_t i = 0; i < t->n_ids; i++) {
        const char *tok = t->id_to_token[i] ? t->id_to_token[i] : "";
        h = vt_fnv1a(h, tok, strlen(tok) + 1);
        h = vt_fnv1a(h, &t->is_added[i], 1);
    }
    for (size_t i = 0; i < t->merges.cap; i++)
        if (t->merges.keys[i])
            merges += vt_mix64(t->merges.keys[i] ^ vt_mix64(((uint64_t)(uint32_t)t->merges.rank[i] << 32) |
                                                            (uint32_t)t->merges.merged[i]));
    t->fingerprint = vt_fnv1a(h, &merges, sizeof merges);
    return 0;
}

uint64_t vt_tokenizer_fingerprint(const vt_tokenizer *t) { return t->fingerprint; }

int vt_tokenizer_load(vt_tokenizer **out, const char *path) {
    vt_tokenizer *t = calloc(1, sizeof *t);
    if (!t) return vt_err("out of memory");
    char file[4096];
    int rc;
    if (vt_is_dir(path)) {
        rc = vt_path_join(file, sizeof file, path, "tokenizer.json");
        if (rc == 0 && vt_path_exists(file)) rc = load_tokenizer_json(t, file);
        else if (rc == 0) {
            snprintf(file, sizeof file, "%s/vocab.json", path);
            rc = vt_path_exists(file) ? load_vocab_merges(t, path)
                                      : vt_err("%s: no tokenizer.json (or vocab.json + merges.txt)", path);
        }
    } else {
        snprintf(file, sizeof file, "%s", path);
        rc = vt_path_exists(path) ? load_tokenizer_json(t, path) : vt_err("%s: no such tokenizer file", path);
    }
    if (rc == 0) rc = finish(t, file);
    if (rc) {
        vt_tokenizer_free(t);
        return -1;
    }
    *out = t;
    return 0;
}

int vt_tokenizer_load_json(vt_tokenizer **out, const char *json, size_t len, const char *name) {
    vt_tokenizer *t = calloc(1, sizeof *t);
    if (!t) return vt_err("out of memory");
    cJSON *root = cJSON_ParseWithLength(json, len);
    int rc = root ? load_tokenizer_root(t, root, name) : vt_err("%s: malformed JSON", name);
    cJSON_Delete(root);
    if (rc == 0) rc = finish(t, name);
    if (rc) {
        vt_tokenizer_free(t);
        return -1;
    }
    *out = t;
    return 0;
}

void vt_tokenizer_free(vt_tokenizer *t) {
    if (!t) return;
    str_map_free(&t->vocab);
    pair_map_free(&t->merges);
    for (size_t i = 0; i < t->n_ids; i++) free(t->id_to_token[i]);
    free(t->id_to_token);
    free(t->is_added);
    for (size_t i = 0; i < t->n_added; i++) free(t->added[i].content);
    free(t->added);
    if (t->match) pcre2_match_data_free(t->match);
    if (t->pattern) pcre2_code_free(t->pattern);
    free(t);
}

int32_t vt_tokenizer_token_id(const vt_tokenizer *t, const char *token) {
    return str_map_get(&t->vocab, token, strlen(token));
}

size_t vt_tokenizer_vocab_size(const vt_tokenizer *t) { return t->n_ids; }

long vt_tokenizer_token_bytes(const vt_tokenizer *t, int32_t id) {
    if (id < 0 || (size_t)id >= t->n_ids || !t->id_to_token[id]) return -1;
    const char *tok = t->id_to_token[id];
    if (t->is_added[id]) return (long)strlen(tok);
    long n = 0; /* one byte per character of the byte-level alphabet: count UTF-8 lead bytes */
    for (const unsigned char *p = (const unsigned char *)tok; *p; p++) n += (*p & 0xC0) != 0x80;
    return n;
}

/* --------------------------------------------------------------- encoding ---- */

typedef struct {
    int32_t *v;
    size_t n, cap;
} ids_vec;

static int push_id(ids_vec *o, int32_t id) {
    if (o->n == o->cap) {
        size_t cap = o->cap ? 2 * o->cap : 64;
        int32_t *g = realloc(o->v, cap * sizeof *g);
        if (!g) return vt_err("out of memory");
        o->v = g, o->cap = cap;
    }
    o->v[o->n++] = id;
    return 0;
}

typedef struct {
    int32_t rank;
    int32_t left;  /* index of the pair's left symbol */
    int32_t lid, rid;
} heap_item;

/* Min-heap on (rank, left index): the reference merges the lowest rank, leftmost first. */
static bool before(const heap_item *a, const heap_item *b) {
    return a->rank < b->rank || (a->rank == b->rank && a->left < b->left);
}

static void heap_push(heap_item *h, size_t *n, heap_item x) {
    size_t i = (*n)++;
    while (i > 0 && before(&x, &h[(i - 1) / 2])) h[i] = h[(i - 1) / 2], i = (i - 1) / 2;
    h[i] = x;
}

static heap_item heap_pop(heap_item *h, size_t *n) {
    heap_item top = h[0], last = h[--(*n)];
    size_t i = 0;
    for (;;) {
        size_t c = 2 * i + 1;
        if (c >= *n) break;
        if (c + 1 < *n && before(&h[c + 1], &h[c])) c++;
        if (!before(&h[c], &last)) break;
        h[i] = h[c], i = c;
    }
    if (*n) h[i] = last;
    return top;
}

static void push_pair(const vt_tokenizer *t, heap_item *h, size_t *n, const int32_t *sym, int32_t left, int32_t right) {
    if (left < 0 || right < 0) return;
    size_t i = pair_slot(&t->merges, pair_key(sym[left], sym[right]));
    if (t->merges.keys[i]) heap_push(h, n, (heap_item){t->merges.rank[i], left, sym[left], sym[right]});
}

/* BPE over one piece's bytes. */
static int bpe(const vt_tokenizer *t, const unsigned char *bytes, size_t len, ids_vec *out) {
    if (len == 1) return push_id(out, t->byte_id[bytes[0]]);
    int32_t *sym = malloc(len * 3 * sizeof(int32_t));
    heap_item *heap = malloc(2 * len * sizeof *heap + sizeof *heap);
    if (!sym || !heap) {
        free(sym), free(heap);
        return vt_err("out of memory");
    }
    int32_t *prev = sym + len, *next = sym + 2 * len;
    for (size_t i = 0; i < len; i++)
        sym[i] = t->byte_id[bytes[i]], prev[i] = (int32_t)i - 1, next[i] = i + 1 < len ? (int32_t)i + 1 : -1;
    size_t hn = 0;
    for (size_t i = 0; i + 1 < len; i++) push_pair(t, heap, &hn, sym, (int32_t)i, (int32_t)i + 1);
    while (hn) {
        heap_item it = heap_pop(heap, &hn);
        int32_t l = it.left, r = next[l];
        if (sym[l] != it.lid || r < 0 || sym[r] != it.rid) continue; /* stale: one side merged since */
        sym[l] = t->merges.merged[pair_slot(&t->merges, pair_key(it.lid, it.rid))];
        sym[r] = -1;
        next[l] = next[r];
        if (next[r] >= 0) prev[next[r]] = l;
        push_pair(t, heap, &hn, sym, prev[l], l);
        push_pair(t, heap, &hn, sym, l, next[l]);
    }
    int rc = 0;
    for (int32_t i = 0; rc == 0 && i >= 0; i = next[i]) rc = push_id(out, sym[i]);
    free(sym), free(heap);
    return rc;
}

/* NFC, then the regex split (pieces are the matches and the gaps between them), then BPE. */
static int encode_plain(const vt_tokenizer *t, const char *text, size_t len, ids_vec *out) {
    if (!len) return 0;
    utf8proc_uint8_t *nfc = NULL;
    utf8proc_ssize_t n = utf8proc_map((const utf8proc_uint8_t *)text, (utf8proc_ssize_t)len, &nfc,
                                      UTF8PROC_STABLE | UTF8PROC_COMPOSE);
    if (n < 0) return vt_err("cannot normalize the text: %s", utf8proc_errmsg(n));
    pcre2_match_data *md = pcre2_match_data_create_from_pattern(t->pattern, NULL);
    if (!md) {
        free(nfc);
        return vt_err("out of memory");
    }
    int rc = 0;
    PCRE2_SIZE start = 0, end = (PCRE2_SIZE)n;
    while (rc == 0 && start < end) {
        int m = pcre2_match(t->pattern, nfc, end, start, PCRE2_NO_UTF_CHECK, md, NULL);
        PCRE2_SIZE ms = end, me = end;
        if (m >= 0) {
            PCRE2_SIZE *ov = pcre2_get_ovector_pointer(md);
            ms = ov[0], me = ov[1];
        } else if (m != PCRE2_ERROR_NOMATCH) {
            rc = vt_err("the pre-tokenizer pattern failed to match (PCRE2 error %d)", m);
            break;
        }
        if (ms > start) rc = bpe(t, nfc + start, ms - start, out);
        if (rc == 0 && me > ms) rc = bpe(t, nfc + ms, me - ms, out);
        if (me == ms && ms < end) { /* an empty match: step over one character */
            utf8proc_int32_t cp;
            me = ms + (PCRE2_SIZE)utf8proc_iterate(nfc + ms, (utf8proc_ssize_t)(end - ms), &cp);
            if (rc == 0) rc = bpe(t, nfc + ms, me - ms, out);
        }
        start = me;
    }
    pcre2_match_data_free(md);
    free(nfc);
    return rc;
}

/* The longest added token starting at text[i], or NULL. */
static const added_token *added_at(const vt_tokenizer *t, const char *text, size_t len, size_t i) {
    if (!t->added_first_byte[(unsigned char)text[i]]) return NULL;
    for (size_t k = 0; k < t->n_added; k++) /* sorted longest first */
        if (t->added[k].len <= len - i && !memcmp(text + i, t->added[k].content, t->added[k].len)) return &t->added[k];
    return NULL;
}

int vt_tokenizer_encode(const vt_tokenizer *t, const char *text, size_t len, int32_t **ids, size_t *n) {
    long bad = vt_utf8_invalid_at(text, len);
    if (bad >= 0) return vt_err("the text is not valid UTF-8 (at byte %ld)", bad);
    ids_vec out = {0};
    size_t seg = 0;
    int rc = 0;
    for (size_t i = 0; rc == 0 && i < len;) {
        const added_token *a = added_at(t, text, len, i);
        if (!a) {
            i++;
            continue;
        }
        rc = encode_plain(t, text + seg, i - seg, &out);
        if (rc == 0) rc = push_id(&out, a->id);
        i += a->len;
        seg = i;
    }
    if (rc == 0) rc = encode_plain(t, text + seg, len - seg, &out);
    if (rc) {
        free(out.v);
        return -1;
    }
    *ids = out.v ? out.v : malloc(sizeof(int32_t));
    *n = out.n;
    return *ids ? 0 : vt_err("out of memory");
}

/* --------------------------------------------------------------- decoding ---- */

typedef struct {
    char *s;
    size_t n, cap;
} bytes_buf;

static int put_bytes(bytes_buf *b, const void *p, size_t n) {
    if (b->n + n + 1 > b->cap) {
        size_t cap = (b->n + n + 1) * 2;
        char *g = realloc(b->s, cap);
        if (!g) return vt_err("out of memory");
        b->s = g, b->cap = cap;
    }
    memcpy(b->s + b->n, p, n);
    b->n += n;
    return 0;
}

int vt_tokenizer_decode_bytes(const vt_tokenizer *t, const int32_t *ids, size_t n, char **bytes, size_t *len) {
    bytes_buf raw = {0};
    int rc = 0;
    for (size_t i = 0; rc == 0 && i < n; i++) {
        int32_t id = ids[i];
        if (id < 0 || (size_t)id >= t->n_ids || !t->id_to_token[id]) {
            rc = vt_err("token id %d (position %zu) is not in the vocabulary", id, i);
            break;
        }
        const char *tok = t->id_to_token[id];
        if (t->is_added[id]) {
            rc = put_bytes(&raw, tok, strlen(tok));
            continue;
        }
        for (const unsigned char *p = (const unsigned char *)tok; rc == 0 && *p;) {
            utf8proc_int32_t cp;
            utf8proc_ssize_t k = utf8proc_iterate(p, -1, &cp);
            if (k < 0 || cp >= 324 || t->byte_of_cp[cp] < 0) {
                rc = vt_err("token %d ('%s') has a character outside the byte-level alphabet", id, tok);
                break;
            }
            char b = (char)t->byte_of_cp[cp];
            rc = put_bytes(&raw, &b, 1);
            p += k;
        }
    }
    if (rc == 0) rc = put_bytes(&raw, "", 0);
    if (rc) {
        free(raw.s);
        return -1;
    }
    raw.s[raw.n] = '\0';
    *bytes = raw.s;
    if (len) *len = raw.n;
    return 0;
}

int vt_tokenizer_decode(const vt_tokenizer *t, const int32_t *ids, size_t n, char **text, size_t *len) {
    char *raw;
    size_t n_raw;
    TRY(vt_tokenizer_decode_bytes(t, ids, n, &raw, &n_raw));
    int rc = vt_utf8_lossy(raw, n_raw, text, len);
    free(raw);
    return rc;
}
