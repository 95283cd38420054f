/* dataset.c — JSONL rows → conversations (see dataset.h for the accepted forms). */
#include "data/dataset.h"

#include <cjson/cJSON.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util/error.h"
#include "util/fs.h"
#include "util/utf8.h"

/* ------------------------------------------------------------ helpers ---- */

static int check_utf8(const char *s, const char *what) {
    long bad = vt_utf8_invalid_at(s, strlen(s));
    return bad < 0 ? 0 : vt_err("%s is not valid UTF-8 (byte %ld)", what, bad);
}

/* An image path relative to the dataset file's directory. */
static char *resolve_path(const char *base_dir, const char *path) {
    if (path[0] == '/' || !base_dir || !base_dir[0]) return strdup(path);
    size_t n = strlen(base_dir) + strlen(path) + 2;
    char *p = malloc(n);
    if (p) snprintf(p, n, "%s/%s", base_dir, path);
    return p;
}

static int append_part(vt_message *m, vt_part_kind kind, char *owned_text) {
    if (!owned_text) return vt_err("out of memory");
    vt_part *parts = realloc(m->parts, (m->n_parts + 1) * sizeof *parts);
    if (!parts) {
        free(owned_text);
        return vt_err("out of memory");
    }
    m->parts = parts;
    m->parts[m->n_parts++] = (vt_part){kind, owned_text};
    return 0;
}

static int add_text(vt_message *m, const char *text, const char *what) {
    TRY(check_utf8(text, what));
    return append_part(m, VT_PART_TEXT, strdup(text));
}

static int add_image(vt_message *m, const char *path, const char *base_dir) {
    if (!path[0]) return vt_err("an image path is empty");
    TRY(check_utf8(path, "an image path"));
    return append_part(m, VT_PART_IMAGE, resolve_path(base_dir, path));
}

static int new_message(vt_sample *s, vt_role role, vt_message **out) {
    vt_message *msgs = realloc(s->messages, (s->n_messages + 1) * sizeof *msgs);
    if (!msgs) return vt_err("out of memory");
    s->messages = msgs;
    *out = &s->messages[s->n_messages++];
    **out = (vt_message){role, NULL, 0};
    return 0;
}

static const char *string_field(const cJSON *obj, const char *key) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, key);
    return cJSON_IsString(v) ? v->valuestring : NULL;
}

static int require_string(const cJSON *obj, const char *key, const char **out) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, key);
    if (!v) return vt_err("missing field \"%s\"", key);
    if (!cJSON_IsString(v)) return vt_err("field \"%s\" must be a string", key);
    *out = v->valuestring;
    return 0;
}

static int parse_role(const char *name, vt_role *out) {
    static const struct { const char *name; vt_role role; } map[] = {
        {"system", VT_ROLE_SYSTEM}, {"user", VT_ROLE_USER},      {"human", VT_ROLE_USER},
        {"assistant", VT_ROLE_ASSISTANT}, {"gpt", VT_ROLE_ASSISTANT},
    };
    for (size_t i = 0; i < sizeof map / sizeof *map; i++)
        if (!strcmp(name, map[i].name)) {
            *out = map[i].role;
            return 0;
        }
    return vt_err("unknown role \"%s\" (expected system, user or assistant)", name);
}

/* ------------------------------------------------------- simple form ---- */

static int parse_simple(vt_sample *s, const cJSON *row, const char *base_dir) {
    const char *prompt, *response, *system = string_field(row, "system");
    TRY(require_string(row, "prompt", &prompt));
    TRY(require_string(row, "response", &response));
    if (cJSON_GetObjectItemCaseSensitive(row, "system") && !system)
        return vt_err("field \"system\" must be a string");
    vt_message *m;
    if (system) {
        TRY(new_message(s, VT_ROLE_SYSTEM, &m));
        TRY(add_text(m, system, "field \"system\""));
    }
    TRY(new_message(s, VT_ROLE_USER, &m));
    const cJSON *img = cJSON_GetObjectItemCaseSensitive(row, "image");
    if (!img) img = cJSON_GetObjectItemCaseSensitive(row, "images");
    if (cJSON_IsString(img)) {
        TRY(add_image(m, img->valuestring, base_dir));
    } else if (cJSON_IsArray(img)) {
        const cJSON *it;
        cJSON_ArrayForEach(it, img) {
            if (!cJSON_IsString(it)) return vt_err("field \"image\" must hold strings (image paths)");
            TRY(add_image(m, it->valuestring, base_dir));
        }
    } else if (img && !cJSON_IsNull(img)) {
        return vt_err("field \"image\" must be a path or a list of paths");
    }
    TRY(add_text(m, prompt, "field \"prompt\""));
    TRY(new_message(s, VT_ROLE_ASSISTANT, &m));
    return add_text(m, response, "field \"response\"");
}

/* --------------------------------------------------------- chat forms ---- */

/* Content given as a list of {"type": "text"|"image", ...} parts. */
static int parse_parts(vt_message *m, const cJSON *content, const char *base_dir, size_t turn) {
    const cJSON *part;
    cJSON_ArrayForEach(part, content) {
        const char *type = cJSON_IsObject(part) ? string_field(part, "type") : NULL;
        if (!type) return vt_err("turn %zu: each content part must be an object with a \"type\"", turn);
        if (!strcmp(type, "text")) {
            const char *text;
            if (require_string(part, "text", &text)) return vt_err_context("turn %zu: text part", turn);
            if (add_text(m, text, "a text part")) return vt_err_context("turn %zu", turn);
        } else if (!strcmp(type, "image")) {
            const char *path = string_field(part, "image");
            if (!path) path = string_field(part, "path");
            if (!path) return vt_err("turn %zu: image part needs \"image\": path", turn);
            if (m->role != VT_ROLE_USER) return vt_err("turn %zu: images are allowed in user turns only", turn);
            if (add_image(m, path, base_dir)) return vt_err_context("turn %zu", turn);
        } else {
            return vt_err("turn %zu: unknown content type \"%s\" (expected text or image)", turn, type);
        }
    }
    return 0;
}

/* Text with "<image>" placeholders: each takes the next image from `images`. */
static int parse_placeholders(vt_message *m, const char *text, const cJSON *images, size_t *next_image,
                              const char *base_dir, size_t turn) {
    static const char tag[] = "<image>";
    const char *p = text;
    for (const char *hit; (hit = strstr(p, tag)); p = hit + sizeof tag - 1) {
        if (m->role != VT_ROLE_USER) return vt_err("turn %zu: <image> is allowed in user turns only", turn);
        if (hit > p) {
            char *chunk = strndup(p, (size_t)(hit - p));
            int rc = chunk ? add_text(m, chunk, "content") : vt_err("out of memory");
            free(chunk);
            if (rc) return vt_err_context("turn %zu", turn);
        }
        const cJSON *img = cJSON_GetArrayItem(images, (int)*next_image);
        if (!img) return vt_err("turn %zu: more <image> placeholders than the %d images given", turn,
                                cJSON_GetArraySize(images));
        if (!cJSON_IsString(img)) return vt_err("field \"images\" must hold strings (image paths)");
        TRY(add_image(m, img->valuestring, base_dir));
        (*next_image)++;
    }
    if (*p && add_text(m, p, "content")) return vt_err_context("turn %zu", turn);
    return 0;
}

static size_t count_placeholders(const cJSON *turns) {
    size_t n = 0;
    const cJSON *t;
    cJSON_ArrayForEach(t, turns) {
        const char *text = string_field(t, "content");
        if (!text) text = string_field(t, "value");
        for (const char *p = text; p && (p = strstr(p, "<image>")); p += 7) n++;
    }
    return n;
}

/* No placeholders at all: the images go first in the first user turn. */
static int prepend_images(vt_sample *s, const cJSON *images, const char *base_dir) {
    for (size_t i = 0; i < s->n_messages; i++) {
        vt_message *m = &s->messages[i];
        if (m->role != VT_ROLE_USER) continue;
        vt_message imgs = {VT_ROLE_USER, NULL, 0};
        const cJSON *it;
        cJSON_ArrayForEach(it, images) {
            if (!cJSON_IsString(it) || add_image(&imgs, it->valuestring, base_dir)) {
                for (size_t k = 0; k < imgs.n_parts; k++) free(imgs.parts[k].text);
                free(imgs.parts);
                return cJSON_IsString(it) ? -1 : vt_err("field \"images\" must hold strings (image paths)");
            }
        }
        vt_part *parts = realloc(imgs.parts, (imgs.n_parts + m->n_parts) * sizeof *parts);
        if (!parts) return vt_err("out of memory");
        if (m->n_parts) memcpy(parts + imgs.n_parts, m->parts, m->n_parts * sizeof *parts);
        free(m->parts);
        m->parts = parts;
        m->n_parts += imgs.n_parts;
        return 0;
    }
    return vt_err("\"images\" given but the conversation has no user turn");
}

static int parse_chat(vt_sample *s, const cJSON *row, const cJSON *turns, const char *base_dir) {
    const cJSON *images = cJSON_GetObjectItemCaseSensitive(row, "images");
    if (images && !cJSON_IsArray(images) && !cJSON_IsNull(images))
        return vt_err("field \"images\" must be a list of paths");
    if (cJSON_IsNull(images) || cJSON_GetArraySize(images) == 0) images = NULL;
    bool placeholders = images && count_placeholders(turns) > 0;
    size_t next_image = 0, turn = 0;
    const cJSON *t;
    cJSON_ArrayForEach(t, turns) {
        turn++;
        if (!cJSON_IsObject(t)) return vt_err("turn %zu is not an object", turn);
        const char *role_name = string_field(t, "role");
        if (!role_name) role_name = string_field(t, "from");
        if (!role_name) return vt_err("turn %zu: missing \"role\"", turn);
        vt_role role = VT_ROLE_USER;
        if (parse_role(role_name, &role)) return vt_err_context("turn %zu", turn);
        if (role == VT_ROLE_SYSTEM && s->n_messages > 0)
            return vt_err("turn %zu: a system message may only come first", turn);
        vt_message *m;
        TRY(new_message(s, role, &m));
        const cJSON *content = cJSON_GetObjectItemCaseSensitive(t, "content");
        if (!content) content = cJSON_GetObjectItemCaseSensitive(t, "value");
        if (cJSON_IsString(content) && placeholders) {
            TRY(parse_placeholders(m, content->valuestring, images, &next_image, base_dir, turn));
        } else if (cJSON_IsString(content)) {
            if (add_text(m, content->valuestring, "content")) return vt_err_context("turn %zu", turn);
        } else if (cJSON_IsArray(content)) {
            if (images) return vt_err("turn %zu: content parts cannot be mixed with a top-level \"images\"", turn);
            TRY(parse_parts(m, content, base_dir, turn));
        } else {
            return vt_err("turn %zu: \"content\" must be a string or a list of parts", turn);
        }
    }
    if (turn == 0) return vt_err("the conversation is empty");
    if (placeholders && next_image != (size_t)cJSON_GetArraySize(images))
        return vt_err("%zu <image> placeholders but %d images", next_image, cJSON_GetArraySize(images));
    if (images && !placeholders) TRY(prepend_images(s, images, base_dir));
    return 0;
}

/* ---------------------------------------------------------------- rows ---- */

static int validate_turns(const vt_sample *s) {
    bool has_assistant = false;
    for (size_t i = 0; i < s->n_messages; i++) {
        const vt_message *m = &s->messages[i];
        has_assistant |= m->role == VT_ROLE_ASSISTANT;
        if (m->role == VT_ROLE_ASSISTANT && m->n_parts == 0)
            return vt_err("turn %zu: the assistant turn is empty", i + 1);
    }
    if (!has_assistant) return vt_err("the conversation has no assistant turn to learn from");
    return 0;
}

static bool is_blank(const char *s, size_t n) {
    for (size_t i = 0; i < n; i++)
        if (s[i] != ' ' && s[i] != '\t' && s[i] != '\r' && s[i] != '\n') return false;
    return true;
}

int vt_sample_parse(vt_sample *out, const char *json, size_t len, const char *base_dir) {
    *out = (vt_sample){0};
    const char *end = NULL;
    cJSON *row = cJSON_ParseWithLengthOpts(json, len, &end, false);
    if (!row) {
        size_t col = end && end >= json ? (size_t)(end - json) + 1 : 0;
        return vt_err("malformed JSON near column %zu", col);
    }
    if (!is_blank(end, len - (size_t)(end - json))) {
        cJSON_Delete(row);
        return vt_err("unexpected text after the JSON object at column %zu", (size_t)(end - json) + 1);
    }
    int rc;
    const cJSON *turns = cJSON_GetObjectItemCaseSensitive(row, "messages");
    if (!turns) turns = cJSON_GetObjectItemCaseSensitive(row, "conversations");
    if (!cJSON_IsObject(row)) {
        rc = vt_err("a row must be a JSON object");
    } else if (turns && !cJSON_IsArray(turns)) {
        rc = vt_err("\"messages\" must be a list of turns");
    } else if (turns) {
        rc = parse_chat(out, row, turns, base_dir);
    } else {
        rc = parse_simple(out, row, base_dir);
    }
    if (rc == 0) rc = validate_turns(out);
    cJSON_Delete(row);
    if (rc) vt_sample_clear(out);
    return rc;
}

/* ------------------------------------------------------------- files ---- */

static char *dir_of(const char *path) {
    const char *slash = strrchr(path, '/');
    return slash ? strndup(path, (size_t)(slash - path)) : strdup(".");
}

/* With `log`, a bad row is reported there and counted in *n_bad, and reading goes on. */
static int read_rows(vt_dataset *ds, FILE *f, const char *base_dir, FILE *log, size_t *n_bad) {
    char *line = NULL;
    size_t cap = 0, lineno = 0;
    ssize_t n;
    int rc = 0;
    while (rc == 0 && (n = getline(&line, &cap, f)) >= 0) {
        lineno++;
        if (is_blank(line, (size_t)n)) continue;
        if (memchr(line, '\0', (size_t)n)) {
            rc = vt_err("%s:%zu: the line contains a NUL byte (not a text file?)", ds->path, lineno);
            if (log) {
                fprintf(log, "error: %s\n", vt_errmsg());
                ++*n_bad, rc = 0;
                continue;
            }
            break;
        }
        vt_sample *grown = realloc(ds->samples, (ds->n_samples + 1) * sizeof *grown);
        if (!grown) {
            rc = vt_err("out of memory");
            break;
        }
        ds->samples = grown;
        vt_sample *s = &ds->samples[ds->n_samples];
        if (vt_sample_parse(s, line, (size_t)n, base_dir)) {
            rc = vt_err_context("%s:%zu", ds->path, lineno);
            if (log) {
                fprintf(log, "error: %s\n", vt_errmsg());
                ++*n_bad, rc = 0;
                continue;
            }
            break;
        }
        s->line = lineno;
        ds->n_samples++;
        for (size_t i = 0; i < s->n_messages; i++)
            for (size_t k = 0; k < s->messages[i].n_parts; k++)
                ds->n_images += s->messages[i].parts[k].kind == VT_PART_IMAGE;
    }
    free(line);
    if (rc == 0 && ferror(f)) rc = vt_err("%s: read error", ds->path);
    if (rc == 0 && ds->n_samples == 0 && !(n_bad && *n_bad)) rc = vt_err("%s: no rows (the file is empty)", ds->path);
    return rc;
}

int vt_dataset_load(vt_dataset **out, const char *path) { return vt_dataset_load_checked(out, path, NULL, NULL); }

int vt_dataset_load_checked(vt_dataset **out, const char *path, FILE *log, size_t *n_bad) {
    if (n_bad) *n_bad = 0;
    FILE *f;
    if (vt_open_file(&f, path, "the dataset file")) return -1;
    vt_dataset *ds = calloc(1, sizeof *ds);
    char *base_dir = dir_of(path);
    int rc = (ds && base_dir && (ds->path = strdup(path))) ? read_rows(ds, f, base_dir, log, n_bad) : vt_err("out of memory");
    fclose(f);
    free(base_dir);
    if (rc) {
        vt_dataset_free(ds);
        return rc;
    }
    *out = ds;
    return 0;
}

void vt_dataset_free(vt_dataset *ds) {
    if (!ds) return;
    for (size_t i = 0; i < ds->n_samples; i++) vt_sample_clear(&ds->samples[i]);
    free(ds->samples);
    free(ds->path);
    free(ds);
}
