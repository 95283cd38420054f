/* utf8.h — UTF-8 validity, for the places that take text from outside. */
#ifndef VT_UTF8_H
#define VT_UTF8_H

#include <stddef.h>

/* -1 when text[0..len) is valid UTF-8, else the byte offset of the first invalid sequence. */
long vt_utf8_invalid_at(const char *text, size_t len);

#endif
