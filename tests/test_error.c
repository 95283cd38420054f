/* Error messages keep their reason: an overlong message or context loses its middle, never its end. */
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "test.h"
#include "util/error.h"

static bool ends_with(const char *s, const char *end) {
    size_t n = strlen(s), k = strlen(end);
    return n >= k && !strcmp(s + n - k, end);
}

/* Every multi-byte UTF-8 sequence is whole (the cut never splits a character). */
static bool valid_utf8(const char *s) {
    const unsigned char *p = (const unsigned char *)s;
    while (*p) {
        int k = *p < 0x80         ? 0
            : (*p & 0xE0) == 0xC0 ? 1
            : (*p & 0xF0) == 0xE0 ? 2
            : (*p & 0xF8) == 0xF0 ? 3
                                  : -1;
        if (k < 0) return false;
        p++;
        for (int i = 0; i < k; i++, p++)
            if ((*p & 0xC0) != 0x80) return false;
    }
    return true;
}

static char *repeat(const char *unit, size_t times) {
    size_t n = strlen(unit);
    char *s = malloc(n * times + 1);
    for (size_t i = 0; i < times; i++) memcpy(s + i * n, unit, n);
    s[n * times] = '\0';
    return s;
}

int main(void) {
    TEST_BEGIN();
    vt_err("%s: cannot open: %s", "a.jpg", "No such file or directory");
    CHECK(!strcmp(vt_errmsg(), "a.jpg: cannot open: No such file or directory"));
    vt_err_context("row %d", 3);
    CHECK(!strcmp(vt_errmsg(), "row 3: a.jpg: cannot open: No such file or directory"));

    /* a path of 10000 bytes: the start of the path and the whole reason stay, the middle goes */
    char *path = repeat("/very/long/directory", 500);
    vt_err("%s: cannot open: %s", path, "No such file or directory");
    const char *m = vt_errmsg();
    CHECK(strlen(m) < 4096 && strlen(m) > 3000);
    CHECK(!strncmp(m, "/very/long/directory/very", 25));
    CHECK(ends_with(m, "/directory: cannot open: No such file or directory"));
    CHECK(strstr(m, "…") != NULL);

    /* a long context over a short reason: the context is shortened, the reason is whole */
    vt_err("image is 0×0 pixels");
    vt_err_context("loading %s", path);
    m = vt_errmsg();
    CHECK(!strncmp(m, "loading /very/long", 18) && ends_with(m, "directory: image is 0×0 pixels") &&
          strlen(m) < 4096);

    /* contexts stacked over a long message: the first context and the reason both stay */
    vt_err("%s: cannot open: %s", path, "Permission denied");
    vt_err_context("row 7");
    vt_err_context("dataset %s", path);
    m = vt_errmsg();
    CHECK(!strncmp(m, "dataset /very/long", 18) && ends_with(m, ": cannot open: Permission denied"));
    CHECK(strlen(m) < 4096);

    /* multi-byte characters are never cut in half */
    char *wide = repeat("é漢字😀", 1000);
    for (int shift = 0; shift < 4; shift++) {
        vt_err("%.*s%s: no such file", shift, "abc", wide);
        CHECK(valid_utf8(vt_errmsg()) && ends_with(vt_errmsg(), "😀: no such file"));
        vt_err_context("%.*s%s", shift, "xyz", wide);
        CHECK(valid_utf8(vt_errmsg()) && ends_with(vt_errmsg(), "😀: no such file"));
    }
    free(wide);
    free(path);
    vt_err_clear();
    CHECK(!strcmp(vt_errmsg(), ""));
    return TEST_END();
}
