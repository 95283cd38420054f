#include "util/utf8.h"

#include <stdlib.h>
#include <string.h>
#include <utf8proc.h>

#include "util/error.h"

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

/* Length of the valid UTF-8 sequence at p, or -(length of its maximal invalid prefix) (at least 1). */
static int utf8_sequence(const unsigned char *p, size_t left) {
    unsigned char b = p[0];
    if (b < 0x80) return 1;
    int need;
    unsigned char lo = 0x80, hi = 0xBF;
    if (b >= 0xC2 && b <= 0xDF) need = 1;
    else if (b == 0xE0) need = 2, lo = 0xA0;
    else if ((b >= 0xE1 && b <= 0xEC) || b == 0xEE || b == 0xEF) need = 2;
    else if (b == 0xED) need = 2, hi = 0x9F;
    else if (b == 0xF0) need = 3, lo = 0x90;
    else if (b >= 0xF1 && b <= 0xF3) need = 3;
    else if (b == 0xF4) need = 3, hi = 0x8F;
    else return -1;
    for (int k = 1; k <= need; k++) {
        if ((size_t)k >= left) return -k;
        unsigned char c = p[k];
        unsigned char l = k == 1 ? lo : 0x80, h = k == 1 ? hi : 0xBF;
        if (c < l || c > h) return -k;
    }
    return need + 1;
}

int vt_utf8_lossy(const char *in, size_t n, char **text, size_t *len) {
    static const char replacement[] = "\xEF\xBF\xBD";
    char *out = malloc(3 * n + 1), *o = out; /* each byte becomes at most one U+FFFD */
    if (!out) return vt_err("out of memory for %zu bytes of text", n);
    for (size_t i = 0; i < n;) {
        int k = utf8_sequence((const unsigned char *)in + i, n - i);
        if (k > 0) memcpy(o, in + i, (size_t)k), o += k, i += (size_t)k;
        else memcpy(o, replacement, 3), o += 3, i += (size_t)-k;
    }
    *o = '\0';
    *text = out;
    if (len) *len = (size_t)(o - out);
    return 0;
}
