#include "util/utf8.h"

#include <utf8proc.h>

long vt_utf8_invalid_at(const char *text, size_t len) {
    size_t i = 0;
    while (i < len) {
        utf8proc_int32_t cp;
        utf8proc_ssize_t n = utf8proc_iterate((const utf8proc_uint8_t *)text + i, (utf8proc_ssize_t)(len - i), &cp);
        if (n < 0) return (long)i;
        i += (size_t)n;
    }
    return -1;
}
