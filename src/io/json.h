/* json.h — reading JSON files with errors that name the file, the line and the field. */
#ifndef VT_JSON_H
#define VT_JSON_H

#include <cjson/cJSON.h>
#include <stdbool.h>

/* Parses a whole file.  Malformed JSON is an error "FILE:LINE:COL: malformed JSON".  Free with cJSON_Delete. */
int vt_json_load(cJSON **out, const char *path);

/* Writes `root` (pretty-printed) to path atomically (util/fs.h) and frees it, success or not. */
int vt_json_write_atomic(const char *path, cJSON *root);

/* Typed field access.  `what` names the object for messages ("config.json: text_config").  The _opt
 * forms leave *out untouched when the field is absent, and fail only on a wrong type. */
int vt_json_int(const cJSON *obj, const char *key, int *out, const char *what);
int vt_json_int_opt(const cJSON *obj, const char *key, int *out, const char *what);
int vt_json_double(const cJSON *obj, const char *key, double *out, const char *what);
int vt_json_double_opt(const cJSON *obj, const char *key, double *out, const char *what);
int vt_json_bool_opt(const cJSON *obj, const char *key, bool *out, const char *what);
/* Borrowed string (valid while obj lives). */
int vt_json_string(const cJSON *obj, const char *key, const char **out, const char *what);
int vt_json_object(const cJSON *obj, const char *key, const cJSON **out, const char *what);
/* An array of up to `cap` integers; *n receives the count. */
int vt_json_int_array(const cJSON *obj, const char *key, int *out, int cap, int *n, const char *what);

#endif
