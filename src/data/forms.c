/* forms.c — one dataset row → a conversation, in every form dataset.h lists (and nothing else: see forms.h). */
#include "data/forms.h"

#include <ctype.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "data/media.h"
#include "util/error.h"
#include "util/utf8.h"

/* ------------------------------------------------------------ helpers ---- */

static int check_utf8(const char *s, const char *what) {
    long bad = vt_utf8_invalid_at(s, strlen(s));
    return bad < 0 ? 0 : vt_err("%s is not valid UTF-8 (byte %ld)", what, bad);
}

static char *concat(const char *a, const char *b) {
    size_t n = strlen(a) + strlen(b) + 1;
    char *p = malloc(n);
    if (p) snprintf(p, n, "%s%s", a, b);
    return p;
}

/* A path relative to the dataset file's directory. */
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

static int new_message(vt_sample *s, vt_role role, vt_message **out) {
    vt_message *msgs = realloc(s->messages, (s->n_messages + 1) * sizeof *msgs);
    if (!msgs) return vt_err("out of memory");
    s->messages = msgs;
    *out = &s->messages[s->n_messages++];
    **out = (vt_message){role, NULL, 0};
    return 0;
}

/* A field that is present and not null. */
static const cJSON *field(const cJSON *obj, const char *key) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, key);
    return cJSON_IsNull(v) ? NULL : v;
}

static const char *string_field(const cJSON *obj, const char *key) {
    const cJSON *v = field(obj, key);
    return cJSON_IsString(v) ? v->valuestring : NULL;
}

/* A field known by two names (synonyms): at most one may be given. */
static int one_of(const cJSON *obj, const char *a, const char *b, const cJSON **out, const char **name) {
    const cJSON *va = field(obj, a), *vb = field(obj, b);
    if (va && vb) return vt_err("the row has both \"%s\" and \"%s\" (synonyms): keep one", a, b);
    *out = va ? va : vb;
    if (name) *name = va ? a : b;
    return 0;
}

static int require_string(const cJSON *obj, const char *key, const char *synonym, const char **out) {
    const cJSON *v;
    const char *name;
    TRY(one_of(obj, key, synonym, &v, &name));
    if (!v) return vt_err("missing field \"%s\" (or \"%s\")", key, synonym);
    if (!cJSON_IsString(v)) return vt_err("field \"%s\" must be a string", name);
    *out = v->valuestring;
    return 0;
}

static int parse_role(const char *name, vt_role *out) {
    static const struct { const char *name; vt_role role; } map[] = {
        {"system", VT_ROLE_SYSTEM},       {"user", VT_ROLE_USER},      {"human", VT_ROLE_USER},
        {"assistant", VT_ROLE_ASSISTANT}, {"gpt", VT_ROLE_ASSISTANT}, {"bot", VT_ROLE_ASSISTANT},
    };
    for (size_t i = 0; i < sizeof map / sizeof *map; i++)
        if (!strcasecmp(name, map[i].name)) {
            *out = map[i].role;
            return 0;
        }
    return vt_err("unknown role \"%s\" (expected system, user or assistant)", name);
}

/* ------------------------------------------------------ image sources ---- */

/* "file:///abs", "file://localhost/abs", "file:/abs" or "file:rel" (percent-decoded) → a path. */
static int file_uri_path(const char *uri, const char *base_dir, char **out) {
    const char *p = uri + 5;
    if (p[0] == '/' && p[1] == '/') {
        const char *host = p + 2, *slash = strchr(host, '/');
        size_t n = slash ? (size_t)(slash - host) : strlen(host);
        if (!slash || (n && !(n == 9 && !strncasecmp(host, "localhost", 9))))
            return vt_err("file URI \"%s\": only local files are read (file:///path or file://localhost/path)", uri);
        p = slash;
    }
    char *path = malloc(strlen(p) + 1);
    if (!path) return vt_err("out of memory");
    size_t n = 0;
    for (; *p; p++) {
        if (*p != '%') {
            path[n++] = *p;
            continue;
        }
        unsigned v;
        bool hex = isxdigit((unsigned char)p[1]) && isxdigit((unsigned char)p[2]);
        if (!hex || sscanf(p + 1, "%2x", &v) != 1 || v == 0) {
            free(path);
            return vt_err("file URI \"%s\": bad percent escape at \"%.3s\"", uri, p);
        }
        path[n++] = (char)v, p += 2;
    }
    path[n] = '\0';
    int rc = n == 0 ? vt_err("file URI \"%s\" names no file", uri) : check_utf8(path, "a file URI's path");
    *out = rc ? NULL : resolve_path(base_dir, path);
    free(path);
    return rc ? rc : *out ? 0 : vt_err("out of memory");
}

/* "scheme://" at the start of s. */
static size_t url_scheme(const char *s) {
    size_t n = 0;
    if (!isalpha((unsigned char)s[0])) return 0;
    while (isalnum((unsigned char)s[n]) || s[n] == '+' || s[n] == '-' || s[n] == '.') n++;
    return !strncmp(s + n, "://", 3) ? n : 0;
}

static int source_from_string(const char *s, const char *base_dir, char **out) {
    char shown[VT_MEDIA_SHOWN];
    if (!s[0]) return vt_err("an image path is empty");
    TRY(check_utf8(s, "an image path"));
    if (vt_media_is_inline(s)) {
        const char *comma = strchr(s, ',');
        if (!comma || comma - s < 12 || strncasecmp(comma - 7, ";base64", 7))
            return vt_err("%s: an image data: URI must be base64 (data:TYPE;base64,DATA)",
                          vt_media_describe(s, shown, sizeof shown));
        *out = strdup(s);
    } else if (vt_media_is_url(s)) {
        *out = strdup(s);
    } else if (!strncasecmp(s, "file:", 5)) {
        return file_uri_path(s, base_dir, out);
    } else if (url_scheme(s)) {
        return vt_err("%s: unsupported URL scheme \"%.*s\" (http, https, file and data are read)",
                      vt_media_describe(s, shown, sizeof shown), (int)url_scheme(s), s);
    } else {
        *out = resolve_path(base_dir, s);
    }
    return *out ? 0 : vt_err("out of memory");
}

static int source_from_base64(const cJSON *v, const char *key, char **out) {
    if (!cJSON_IsString(v)) return vt_err("\"%s\" of an image must be a base64 string", key);
    if (vt_media_is_inline(v->valuestring)) return source_from_string(v->valuestring, NULL, out);
    return (*out = concat("data:;base64,", v->valuestring)) ? 0 : vt_err("out of memory");
}

/* An image as a row may give it: a string (path, file:, data: or http(s) URL), a Hugging Face image object
 * {"bytes": base64, "path": ...} (bytes first, as datasets decodes them), or an OpenAI {"url": ...} object. */
static int image_source(const cJSON *v, const char *base_dir, char **out) {
    *out = NULL;
    if (cJSON_IsString(v)) return source_from_string(v->valuestring, base_dir, out);
    if (cJSON_IsObject(v)) {
        const cJSON *bytes = field(v, "bytes"), *path = field(v, "path"), *url = field(v, "url");
        if (bytes) return source_from_base64(bytes, "bytes", out);
        if (cJSON_IsString(path)) return source_from_string(path->valuestring, base_dir, out);
        if (cJSON_IsString(url)) return source_from_string(url->valuestring, base_dir, out);
        return vt_err("an image object needs \"path\", \"bytes\" (base64) or \"url\"");
    }
    return vt_err("an image must be a path, a URL, a data: URI or an object with \"path\" or \"bytes\"");
}

/* ---------------------------------------------------------- the row ---- */

typedef struct {
    const char *base_dir;
    char **images;      /* the row's top-level images ("images" or "image"), as sources; owned */
    size_t n_images;
    size_t markers;     /* places that took (or wanted) the next of those: <image>, image parts without a source */
} row_ctx;

static void ctx_free(row_ctx *c) {
    for (size_t i = 0; i < c->n_images; i++) free(c->images[i]);
    free(c->images);
}

static int collect_images(row_ctx *c, const cJSON *row) {
    const cJSON *v, *it;
    const char *name;
    TRY(one_of(row, "images", "image", &v, &name));
    if (!v) return 0;
    size_t n = cJSON_IsArray(v) ? (size_t)cJSON_GetArraySize(v) : 1;
    if (n && !(c->images = calloc(n, sizeof *c->images))) return vt_err("out of memory");
    if (!cJSON_IsArray(v)) {
        c->n_images = 1;
        if (image_source(v, c->base_dir, &c->images[0]))
            return vt_err_context("field \"%s\" (an image or a list of images)", name);
        return 0;
    }
    cJSON_ArrayForEach(it, v) {
        if (image_source(it, c->base_dir, &c->images[c->n_images]))
            return vt_err_context("field \"%s\", image %zu", name, c->n_images + 1);
        c->n_images++;
    }
    return 0;
}

/* A place for the next top-level image. */
static int take_marker(row_ctx *c, vt_message *m, size_t turn) {
    if (m->role != VT_ROLE_USER) return vt_err("turn %zu: images are allowed in user turns only", turn);
    size_t k = c->markers++;
    if (c->n_images == 0)
        return vt_err("turn %zu: an image part gives no image (\"image\", \"url\", \"path\", \"image_url\") and the "
                      "row has no \"images\" list to take it from", turn);
    /* one too many is counted here and refused at the end, with both counts */
    return k < c->n_images ? append_part(m, VT_PART_IMAGE, strdup(c->images[k])) : 0;
}

/* Text with "<image>" placeholders (LLaMA-Factory): each takes the next top-level image. */
static int parse_placeholders(row_ctx *c, vt_message *m, const char *text, size_t turn) {
    static const char tag[] = "<image>";
    const char *p = text;
    for (const char *hit; (hit = strstr(p, tag)); p = hit + sizeof tag - 1) {
        if (hit > p) {
            char *chunk = strndup(p, (size_t)(hit - p));
            int rc = chunk ? add_text(m, chunk, "content") : vt_err("out of memory");
            free(chunk);
            if (rc) return vt_err_context("turn %zu", turn);
        }
        TRY(take_marker(c, m, turn));
    }
    if (*p && add_text(m, p, "content")) return vt_err_context("turn %zu", turn);
    return 0;
}

static bool is_type(const char *type, const char *a, const char *b, const char *c) {
    return !strcmp(type, a) || !strcmp(type, b) || (c && !strcmp(type, c));
}

/* {"type": "image", "image"|"url"|"path"|"base64": ...}, {"type": "image_url"|"input_image", "image_url": ...}:
 * the image it names, or the next top-level image when it names none (TRL, mlx-vlm). */
static int image_part(row_ctx *c, vt_message *m, const cJSON *part, const char *type, size_t turn) {
    const cJSON *v = NULL;
    const char *key = "image_url";
    if (!strcmp(type, "image")) {
        static const char *const keys[] = {"image", "url", "path", "base64"};
        for (size_t i = 0; !v && i < 4; i++) v = field(part, key = keys[i]);
    } else {
        v = field(part, key);
        if (!v && field(part, "file_id")) return vt_err("turn %zu: images given by \"file_id\" cannot be read", turn);
    }
    if (!v) return take_marker(c, m, turn);
    if (m->role != VT_ROLE_USER) return vt_err("turn %zu: images are allowed in user turns only", turn);
    if (c->n_images)
        return vt_err("turn %zu: an image part names its image, so the row cannot also give a top-level image list "
                      "(which image goes where would be ambiguous)", turn);
    char *src;
    int rc = !strcmp(key, "base64") ? source_from_base64(v, key, &src) : image_source(v, c->base_dir, &src);
    if (rc) return vt_err_context("turn %zu: \"%s\"", turn, key);
    return append_part(m, VT_PART_IMAGE, src);
}

/* Content given as a list of {"type": ...} parts. */
static int parse_parts(row_ctx *c, vt_message *m, const cJSON *content, size_t turn) {
    const cJSON *part;
    cJSON_ArrayForEach(part, content) {
        const char *type = cJSON_IsObject(part) ? string_field(part, "type") : NULL;
        if (!type) return vt_err("turn %zu: each content part must be an object with a \"type\"", turn);
        if (is_type(type, "text", "input_text", "output_text")) {
            const char *text = string_field(part, "text");
            if (!text) text = string_field(part, "content");
            if (!text) return vt_err("turn %zu: a text part needs \"text\": a string", turn);
            if (add_text(m, text, "a text part")) return vt_err_context("turn %zu", turn);
        } else if (is_type(type, "image", "image_url", "input_image")) {
            TRY(image_part(c, m, part, type, turn));
        } else {
            return vt_err("turn %zu: content type \"%s\" is not supported (text and image parts are)", turn, type);
        }
    }
    return 0;
}

/* With top-level images and no place marked for them: they go first in the first user turn. */
static int prepend_images(vt_sample *s, row_ctx *c) {
    for (size_t i = 0; i < s->n_messages; i++) {
        vt_message *m = &s->messages[i];
        if (m->role != VT_ROLE_USER) continue;
        vt_part *parts = malloc((c->n_images + m->n_parts) * sizeof *parts);
        if (!parts) return vt_err("out of memory");
        for (size_t k = 0; k < c->n_images; k++) parts[k] = (vt_part){VT_PART_IMAGE, c->images[k]};
        memset(c->images, 0, c->n_images * sizeof *c->images); /* now the parts' */
        if (m->n_parts) memcpy(parts + c->n_images, m->parts, m->n_parts * sizeof *parts);
        free(m->parts);
        m->parts = parts;
        m->n_parts += c->n_images;
        return 0;
    }
    return vt_err("images given but the conversation has no user turn");
}

static int parse_turn(row_ctx *c, vt_sample *s, const cJSON *t, size_t turn) {
    if (!cJSON_IsObject(t)) return vt_err("turn %zu is not an object", turn);
    const char *role_name = string_field(t, "role");
    if (!role_name) role_name = string_field(t, "from");
    if (!role_name) role_name = string_field(t, "speaker");
    if (!role_name) return vt_err("turn %zu: missing \"role\" (or \"from\")", turn);
    vt_role role = VT_ROLE_USER;
    if (parse_role(role_name, &role)) return vt_err_context("turn %zu", turn);
    if (role == VT_ROLE_SYSTEM && s->n_messages > 0) return vt_err("turn %zu: a system message may only come first", turn);
    vt_message *m;
    TRY(new_message(s, role, &m));
    const cJSON *content = field(t, "content");
    if (!content) content = field(t, "value");
    if (cJSON_IsString(content) && c->n_images)
        return parse_placeholders(c, m, content->valuestring, turn);
    if (cJSON_IsString(content))
        return add_text(m, content->valuestring, "content") ? vt_err_context("turn %zu", turn) : 0;
    if (cJSON_IsArray(content)) return parse_parts(c, m, content, turn);
    return vt_err("turn %zu: \"content\" must be a string or a list of parts", turn);
}

static int parse_chat(row_ctx *c, vt_sample *s, const cJSON *turns, const char *key) {
    cJSON *owned = NULL;
    if (cJSON_IsString(turns)) { /* a list of turns kept as JSON text (mlx-vlm reads these too) */
        turns = owned = cJSON_Parse(turns->valuestring);
        if (!cJSON_IsArray(turns)) {
            cJSON_Delete(owned);
            return vt_err("field \"%s\" is a string that does not hold a JSON list of turns", key);
        }
    }
    if (!cJSON_IsArray(turns)) return vt_err("field \"%s\" must be a list of turns", key);
    size_t turn = 0;
    const cJSON *t;
    int rc = 0;
    cJSON_ArrayForEach(t, turns) {
        if ((rc = parse_turn(c, s, t, ++turn))) break;
    }
    cJSON_Delete(owned);
    TRY(rc);
    if (turn == 0) return vt_err("the conversation is empty");
    if (c->n_images && c->markers && c->markers != c->n_images)
        return vt_err("%zu image placeholders (<image> or image parts without a source) but %zu images", c->markers,
                      c->n_images);
    return c->n_images && !c->markers ? prepend_images(s, c) : 0;
}

/* {"prompt"|"question", "response"|"answer", "system", "image"|"images"}: the images come before the prompt. */
static int parse_simple(row_ctx *c, vt_sample *s, const cJSON *row) {
    const char *prompt, *response, *system = string_field(row, "system");
    TRY(require_string(row, "prompt", "question", &prompt));
    TRY(require_string(row, "response", "answer", &response));
    if (field(row, "system") && !system) return vt_err("field \"system\" must be a string");
    vt_message *m;
    if (system) {
        TRY(new_message(s, VT_ROLE_SYSTEM, &m));
        TRY(add_text(m, system, "field \"system\""));
    }
    TRY(new_message(s, VT_ROLE_USER, &m));
    TRY(add_text(m, prompt, "field \"prompt\""));
    TRY(new_message(s, VT_ROLE_ASSISTANT, &m));
    TRY(add_text(m, response, "field \"response\""));
    return c->n_images ? prepend_images(s, c) : 0;
}

static int validate_turns(const vt_sample *s) {
    bool has_assistant = false;
    for (size_t i = 0; i < s->n_messages; i++) {
        const vt_message *m = &s->messages[i];
        has_assistant |= m->role == VT_ROLE_ASSISTANT;
        if (m->role == VT_ROLE_ASSISTANT && m->n_parts == 0) return vt_err("turn %zu: the assistant turn is empty", i + 1);
    }
    if (!has_assistant) return vt_err("the conversation has no assistant turn to learn from");
    return 0;
}

int vt_sample_from_json(vt_sample *out, const cJSON *row, const char *base_dir) {
    *out = (vt_sample){0};
    if (!cJSON_IsObject(row)) return vt_err("a row must be a JSON object");
    row_ctx c = {.base_dir = base_dir};
    const cJSON *turns;
    const char *key;
    int rc = one_of(row, "messages", "conversations", &turns, &key) || collect_images(&c, row);
    if (rc == 0) {
        if (turns) rc = parse_chat(&c, out, turns, key);
        else if (field(row, "prompt") || field(row, "question") || field(row, "response") || field(row, "answer"))
            rc = parse_simple(&c, out, row);
        else
            rc = vt_err("a row needs \"messages\" (or \"conversations\"), or \"prompt\" and \"response\" (or "
                        "\"question\" and \"answer\")");
    }
    if (rc == 0) rc = validate_turns(out);
    ctx_free(&c);
    if (rc) vt_sample_clear(out);
    return rc;
}

/* ---------------------------------------------------------- row text ---- */

long vt_json_nul_escape_at(const char *s, size_t len) {
    for (size_t i = 0; i + 5 < len; i++) {
        if (s[i] != '\\') continue;
        if (s[i + 1] == 'u' && !memcmp(s + i + 2, "0000", 4)) return (long)i;
        i++; /* the escaped character */
    }
    return -1;
}

static bool is_blank(const char *s, size_t n) {
    for (size_t i = 0; i < n; i++)
        if (s[i] != ' ' && s[i] != '\t' && s[i] != '\r' && s[i] != '\n') return false;
    return true;
}

int vt_sample_parse(vt_sample *out, const char *json, size_t len, const char *base_dir) {
    *out = (vt_sample){0};
    long nul = vt_json_nul_escape_at(json, len);
    if (nul >= 0)
        return vt_err("column %ld: \\u0000 (a NUL character) cannot be kept in conversation text: remove it", nul + 1);
    const char *end = NULL;
    cJSON *row = cJSON_ParseWithLengthOpts(json, len, &end, false);
    if (!row) {
        size_t col = end && end >= json ? (size_t)(end - json) + 1 : 0;
        return vt_err("malformed JSON near column %zu", col);
    }
    int rc = !is_blank(end, len - (size_t)(end - json))
                 ? vt_err("unexpected text after the JSON object at column %zu", (size_t)(end - json) + 1)
                 : vt_sample_from_json(out, row, base_dir);
    cJSON_Delete(row);
    return rc;
}
