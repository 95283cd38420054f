#include "io/json.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "util/error.h"
#include "util/fs.h"

int vt_json_load(cJSON **out, const char *path) {
    char *text;
    size_t len;
    TRY(vt_read_file(path, &text, &len));
    const char *end = NULL;
    cJSON *root = cJSON_ParseWithLengthOpts(text, len, &end, false);
    if (!root) {
        int line = 1, col = 1;
        for (const char *p = text; end && p < end && p < text + len; p++) {
            if (*p == '\n') line++, col = 1;
            else col++;
        }
        free(text);
        return vt_err("%s:%d:%d: malformed JSON", path, line, col);
    }
    free(text);
    *out = root;
    return 0;
}

static const cJSON *field(const cJSON *obj, const char *key) { return cJSON_GetObjectItemCaseSensitive(obj, key); }

static int number(const cJSON *v, const char *key, double *out, const char *what, const char *expected) {
    if (!cJSON_IsNumber(v)) return vt_err("%s: field \"%s\" must be %s", what, key, expected);
    *out = v->valuedouble;
    return 0;
}

int vt_json_int(const cJSON *obj, const char *key, int *out, const char *what) {
    const cJSON *v = field(obj, key);
    if (!v) return vt_err("%s: missing field \"%s\" (an integer)", what, key);
    double d = 0;
    TRY(number(v, key, &d, what, "an integer"));
    if (d != floor(d) || fabs(d) > 2147483647.0) return vt_err("%s: field \"%s\" must be an integer, got %g", what, key, d);
    *out = (int)d;
    return 0;
}

int vt_json_int_opt(const cJSON *obj, const char *key, int *out, const char *what) {
    return field(obj, key) && !cJSON_IsNull(field(obj, key)) ? vt_json_int(obj, key, out, what) : 0;
}

int vt_json_double(const cJSON *obj, const char *key, double *out, const char *what) {
    const cJSON *v = field(obj, key);
    if (!v) return vt_err("%s: missing field \"%s\" (a number)", what, key);
    return number(v, key, out, what, "a number");
}

int vt_json_double_opt(const cJSON *obj, const char *key, double *out, const char *what) {
    return field(obj, key) && !cJSON_IsNull(field(obj, key)) ? vt_json_double(obj, key, out, what) : 0;
}

int vt_json_bool_opt(const cJSON *obj, const char *key, bool *out, const char *what) {
    const cJSON *v = field(obj, key);
    if (!v || cJSON_IsNull(v)) return 0;
    if (!cJSON_IsBool(v)) return vt_err("%s: field \"%s\" must be true or false", what, key);
    *out = cJSON_IsTrue(v);
    return 0;
}

int vt_json_string(const cJSON *obj, const char *key, const char **out, const char *what) {
    const cJSON *v = field(obj, key);
    if (!v) return vt_err("%s: missing field \"%s\" (a string)", what, key);
    if (!cJSON_IsString(v)) return vt_err("%s: field \"%s\" must be a string", what, key);
    *out = v->valuestring;
    return 0;
}

int vt_json_object(const cJSON *obj, const char *key, const cJSON **out, const char *what) {
    const cJSON *v = field(obj, key);
    if (!v) return vt_err("%s: missing field \"%s\" (an object)", what, key);
    if (!cJSON_IsObject(v)) return vt_err("%s: field \"%s\" must be an object", what, key);
    *out = v;
    return 0;
}

int vt_json_int_array(const cJSON *obj, const char *key, int *out, int cap, int *n, const char *what) {
    const cJSON *v = field(obj, key);
    if (!v) return vt_err("%s: missing field \"%s\" (a list of integers)", what, key);
    if (!cJSON_IsArray(v)) return vt_err("%s: field \"%s\" must be a list of integers", what, key);
    int count = 0;
    const cJSON *it;
    cJSON_ArrayForEach(it, v) {
        if (!cJSON_IsNumber(it) || it->valuedouble != floor(it->valuedouble))
            return vt_err("%s: field \"%s\" must hold integers", what, key);
        if (count >= cap) return vt_err("%s: field \"%s\" has more than %d entries", what, key, cap);
        out[count++] = (int)it->valuedouble;
    }
    *n = count;
    return 0;
}

int vt_json_write_atomic(const char *path, cJSON *root) {
    char *text = cJSON_Print(root);
    cJSON_Delete(root);
    if (!text) return vt_err("out of memory");
    int rc = vt_write_file_atomic(path, text, strlen(text));
    free(text);
    return rc;
}
