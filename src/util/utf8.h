/* utf8.h — UTF-8 validity, for the places that take text from outside. */
#ifndef VT_UTF8_H
#define VT_UTF8_H

#include <stddef.h>

/* -1 when text[0..len) is valid UTF-8, else the byte offset of the first invalid sequence. */
long vt_utf8_invalid_at(const char *text, size_t len);
/* bytes[0..n) as valid UTF-8 (a new NUL-terminated string, *len its length; len may be NULL), the way Rust's
 * from_utf8_lossy and Python's errors="replace" do it: each maximal invalid subsequence becomes U+FFFD. */
int vt_utf8_lossy(const char *bytes, size_t n, char **text, size_t *len);

#endif
