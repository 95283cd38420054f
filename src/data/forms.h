/* forms.h — the data layer's inside: one dataset row, already parsed as JSON, → a conversation.
 *
 * dataset.h lists the accepted forms.  Nothing here reads
 * or writes a file: image sources are resolved as text (paths against base_dir, file: URIs to paths), and data:
 * URIs and http(s) URLs are left for dataset.c to fetch (media.h). */
#ifndef VT_FORMS_H
#define VT_FORMS_H

#include <cjson/cJSON.h>
#include <stddef.h>

#include "text/conversation.h"

/* Parses one row (a JSON object as text) into *out, resolving image paths against base_dir.  Pure: reads and
 * writes no file, so data: URIs and http(s) URLs stay as they are in image parts (dataset.c fetches them).
 * Errors say "reason" only; callers add the FILE:LINE context. */
int vt_sample_parse(vt_sample *out, const char *json, size_t len, const char *base_dir);
/* `row` (a JSON object) into *out; errors say "reason" only (callers add FILE:LINE). */
int vt_sample_from_json(vt_sample *out, const cJSON *row, const char *base_dir);

/* Byte offset of the first "\u0000" escape in JSON text, or -1.  cJSON ends its strings at a NUL, so a row
 * holding one would lose the rest of that string silently: such rows are refused instead. */
long vt_json_nul_escape_at(const char *json, size_t len);

#endif
