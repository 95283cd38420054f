#include "util/error.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

enum { VT_ERRMSG_CAP = 4096 };
static _Thread_local char errmsg[VT_ERRMSG_CAP];

int vt_err(const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(errmsg, sizeof errmsg, fmt, ap);
    va_end(ap);
    return -1;
}

int vt_err_context(const char *fmt, ...) {
    char prefix[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(prefix, sizeof prefix, fmt, ap);
    va_end(ap);
    /* Shift the old message right to make room; a message too long is cut at the end. */
    size_t plen = strlen(prefix) + 2, olen = strlen(errmsg);
    if (plen >= sizeof errmsg) plen = sizeof errmsg - 1;
    if (plen + olen >= sizeof errmsg) olen = sizeof errmsg - 1 - plen;
    memmove(errmsg + plen, errmsg, olen);
    errmsg[plen + olen] = '\0';
    memcpy(errmsg, prefix, plen - 2);
    memcpy(errmsg + plen - 2, ": ", 2);
    return -1;
}

const char *vt_errmsg(void) { return errmsg; }

void vt_err_clear(void) { errmsg[0] = '\0'; }
