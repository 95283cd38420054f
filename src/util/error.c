#include "util/error.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum { VT_ERRMSG_CAP = 4096 };
static _Thread_local char errmsg[VT_ERRMSG_CAP];

static const char ELLIPSIS[] = "…"; /* 3 bytes of UTF-8 */

/* The start of the UTF-8 character holding byte i (never the middle of one). */
static size_t char_start(const char *s, size_t i) {
    while (i > 0 && ((unsigned char)s[i] & 0xC0) == 0x80) i--;
    return i;
}

/* Copies s (n bytes) into out (at most cap - 1 bytes, NUL-terminated).  When s does not fit, its middle
 * is replaced by "…": the start (what was being done, and where) and the end (why it failed) both stay.
 * A third of the room goes to the start, the rest to the end, where the reason is. */
static size_t copy_shortened(char *out, size_t cap, const char *s, size_t n) {
    if (n < cap) {
        memcpy(out, s, n);
        out[n] = '\0';
        return n;
    }
    size_t dots = sizeof ELLIPSIS - 1, room = cap - 1 - dots;
    size_t head = char_start(s, room / 3), tail_from = n - (room - head);
    while (tail_from < n && ((unsigned char)s[tail_from] & 0xC0) == 0x80) tail_from++;
    memcpy(out, s, head);
    memcpy(out + head, ELLIPSIS, dots);
    memcpy(out + head + dots, s + tail_from, n - tail_from);
    size_t len = head + dots + (n - tail_from);
    out[len] = '\0';
    return len;
}

/* printf into a fresh heap string (NULL when out of memory); *n gets its length. */
static char *format(size_t *n, const char *fmt, va_list ap) {
    va_list again;
    va_copy(again, ap);
    int len = vsnprintf(NULL, 0, fmt, ap);
    char *s = len >= 0 ? malloc((size_t)len + 1) : NULL;
    if (s) vsnprintf(s, (size_t)len + 1, fmt, again);
    va_end(again);
    *n = s ? (size_t)len : 0;
    return s;
}

int vt_err(const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    size_t n;
    char *s = format(&n, fmt, ap);
    va_end(ap);
    if (s) {
        copy_shortened(errmsg, sizeof errmsg, s, n);
        free(s);
    } else { /* out of memory: the message as far as it fits */
        va_start(ap, fmt);
        vsnprintf(errmsg, sizeof errmsg, fmt, ap);
        va_end(ap);
    }
    return -1;
}

int vt_err_context(const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    size_t plen;
    char *prefix = format(&plen, fmt, ap);
    va_end(ap);
    size_t olen = strlen(errmsg), cap = sizeof errmsg;
    char *whole = prefix ? malloc(plen + 2 + olen + 1) : NULL;
    if (!whole) { /* out of memory: keep the message without its context */
        free(prefix);
        return -1;
    }
    /* Too long: the context gives up its middle first (down to a third of the room), then the whole. */
    size_t want = plen + 2 + olen < cap ? plen : cap - 1 - 2 - olen;
    if (want < cap / 3 || want > plen) want = plen < cap / 3 ? plen : cap / 3;
    size_t k = copy_shortened(whole, want + 1, prefix, plen);
    memcpy(whole + k, ": ", 2);
    memcpy(whole + k + 2, errmsg, olen + 1);
    copy_shortened(errmsg, cap, whole, k + 2 + olen);
    free(whole);
    free(prefix);
    return -1;
}

const char *vt_errmsg(void) { return errmsg; }

void vt_err_clear(void) { errmsg[0] = '\0'; }
