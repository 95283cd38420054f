/* media.c — inline and remote images made into content-addressed files (see media.h). */
#include "data/media.h"

#include <curl/curl.h>
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "util/error.h"
#include "util/fs.h"
#include "util/mix.h"

bool vt_media_is_inline(const char *s) { return !strncasecmp(s, "data:", 5); }

bool vt_media_is_url(const char *s) { return !strncasecmp(s, "http://", 7) || !strncasecmp(s, "https://", 8); }

const char *vt_media_describe(const char *s, char *buf, size_t cap) {
    bool data = vt_media_is_inline(s);
    size_t n = strlen(s), limit = data ? 64 : 256, keep = data ? 32 : 200;
    if (n < limit) {
        snprintf(buf, cap, "%s", s);
        return buf;
    }
    while (keep > 0 && ((unsigned char)s[keep] & 0xC0) == 0x80) keep--; /* not inside a UTF-8 sequence */
    snprintf(buf, cap, "%.*s\xe2\x80\xa6(%zu bytes)", (int)keep, s, n);
    return buf;
}

const char *vt_media_image_type(const uint8_t *d, size_t n) {
    if (n >= 3 && d[0] == 0xFF && d[1] == 0xD8 && d[2] == 0xFF) return "jpg";
    if (n >= 8 && !memcmp(d, "\x89PNG\r\n\x1a\n", 8)) return "png";
    if (n >= 12 && !memcmp(d, "RIFF", 4) && !memcmp(d + 8, "WEBP", 4)) return "webp";
    if (n >= 6 && (!memcmp(d, "GIF87a", 6) || !memcmp(d, "GIF89a", 6))) return "gif";
    if (n >= 2 && d[0] == 'B' && d[1] == 'M') return "bmp";
    return NULL;
}

/* -------------------------------------------------------------- base64 ---- */

static int b64_value(unsigned char c) {
    if (c >= 'A' && c <= 'Z') return c - 'A';
    if (c >= 'a' && c <= 'z') return c - 'a' + 26;
    if (c >= '0' && c <= '9') return c - '0' + 52;
    if (c == '+' || c == '-') return 62;
    if (c == '/' || c == '_') return 63;
    return -1;
}

int vt_base64_decode(const char *text, size_t len, uint8_t **out, size_t *out_len) {
    uint8_t *buf = malloc(len / 4 * 3 + 3);
    if (!buf) return vt_err("out of memory");
    size_t n = 0, pad = 0;
    uint32_t acc = 0;
    int bits = 0, rc = 0;
    for (size_t i = 0; rc == 0 && i < len; i++) {
        unsigned char c = (unsigned char)text[i];
        int v = b64_value(c);
        if (c == ' ' || c == '\t' || c == '\r' || c == '\n') continue;
        if (c == '=') {
            if (++pad > 2) rc = vt_err("invalid base64: more than two '=' at offset %zu", i);
        } else if (v < 0) {
            rc = (c >= 0x20 && c < 0x7F) ? vt_err("invalid base64 character '%c' at offset %zu", c, i)
                                         : vt_err("invalid base64 byte 0x%02x at offset %zu", c, i);
        } else if (pad) {
            rc = vt_err("invalid base64: data after the '=' padding at offset %zu", i);
        } else {
            acc = (acc << 6) | (uint32_t)v, bits += 6;
            if (bits >= 8) bits -= 8, buf[n++] = (uint8_t)(acc >> bits);
        }
    }
    /* a last group of one character carries no whole byte */
    if (rc == 0 && bits >= 6) rc = vt_err("invalid base64: the data ends in the middle of a byte");
    if (rc) {
        free(buf);
        return rc;
    }
    *out = buf, *out_len = n;
    return 0;
}

/* A data: URI's bytes.  Only base64 data URIs carry binary images (RFC 2397). */
static int decode_data_uri(const char *uri, uint8_t **out, size_t *len) {
    const char *comma = strchr(uri, ',');
    if (!comma) return vt_err("a data: URI needs a ',' before its data");
    size_t head = (size_t)(comma - uri);
    if (head < 5 + 7 || strncasecmp(comma - 7, ";base64", 7))
        return vt_err("only base64 data: URIs are supported (data:TYPE;base64,...)");
    return vt_base64_decode(comma + 1, strlen(comma + 1), out, len);
}

/* ------------------------------------------------------- stored files ---- */

/* Writes path through a temporary name, so that a reader sees the whole file or none.  No fsync: a file cut
 * short by a crash is detected on reuse (its bytes differ) and never used. */
static int write_whole(const char *path, const void *data, size_t len) {
    char tmp[4200];
    snprintf(tmp, sizeof tmp, "%s.tmp-%ld", path, (long)getpid());
    FILE *f = fopen(tmp, "wb");
    if (!f) return vt_err("%s: cannot create: %s", tmp, strerror(errno));
    bool ok = fwrite(data, 1, len, f) == len;
    ok = fclose(f) == 0 && ok;
    if (!ok || rename(tmp, path) != 0) {
        int e = errno;
        unlink(tmp);
        return vt_err("%s: cannot write: %s", path, strerror(e));
    }
    return 0;
}

static bool same_bytes(const char *path, const uint8_t *data, size_t len) {
    char *have;
    size_t n;
    if (vt_read_file(path, &have, &n)) {
        vt_err_clear();
        return false;
    }
    bool same = n == len && !memcmp(have, data, len);
    free(have);
    return same;
}

/* The content-addressed file for data: reused when present with the same bytes, else written. */
static int store(const char *dir, const uint8_t *data, size_t len, char **path) {
    const char *ext = vt_media_image_type(data, len);
    if (!ext) {
        if (len == 0) return vt_err("no bytes (an empty image)");
        return vt_err("the %zu bytes are not an image (JPEG, PNG, WebP, GIF or BMP expected; they start "
                      "%02x %02x %02x %02x)", len, data[0], len > 1 ? data[1] : 0, len > 2 ? data[2] : 0,
                      len > 3 ? data[3] : 0);
    }
    TRY(vt_mkdir_p(dir));
    unsigned long long h = (unsigned long long)vt_fnv1a(VT_FNV_START, data, len);
    char buf[4200];
    for (int k = 0; k < 100; k++) {
        if (k == 0) snprintf(buf, sizeof buf, "%s/%016llx.%s", dir, h, ext);
        else snprintf(buf, sizeof buf, "%s/%016llx-%d.%s", dir, h, k, ext);
        bool exists = vt_path_exists(buf);
        if (!exists) TRY(write_whole(buf, data, len));
        if (!exists || same_bytes(buf, data, len)) {
            if (!(*path = strdup(buf))) return vt_err("out of memory");
            return 0;
        }
    }
    return vt_err("%s: 100 files share the name %016llx with other bytes", dir, h);
}

/* ----------------------------------------------------------- downloads ---- */

static pthread_once_t curl_once = PTHREAD_ONCE_INIT;
static CURLcode curl_init_rc;

static void curl_init(void) { curl_init_rc = curl_global_init(CURL_GLOBAL_DEFAULT); }

typedef struct {
    uint8_t *data;
    size_t len, cap, max;
    bool too_big, no_memory;
} sink;

static size_t on_data(char *ptr, size_t size, size_t nmemb, void *user) {
    sink *s = user;
    size_t n = size * nmemb;
    if (n > s->max - s->len) {
        s->too_big = true;
        return 0; /* aborts the transfer */
    }
    if (s->len + n > s->cap) {
        size_t cap = (s->len + n) * 2 < s->max ? (s->len + n) * 2 : s->max;
        uint8_t *grown = realloc(s->data, cap ? cap : 1);
        if (!grown) {
            s->no_memory = true;
            return 0;
        }
        s->data = grown, s->cap = cap;
    }
    memcpy(s->data + s->len, ptr, n);
    s->len += n;
    return n;
}

static int download(const char *url, const vt_media_options *o, sink *s) {
    pthread_once(&curl_once, curl_init);
    if (curl_init_rc != CURLE_OK) return vt_err("libcurl cannot start: %s", curl_easy_strerror(curl_init_rc));
    CURL *c = curl_easy_init();
    if (!c) return vt_err("libcurl cannot start");
    char why[CURL_ERROR_SIZE] = "";
    long connect_s = o->connect_timeout_s > 0 ? o->connect_timeout_s : VT_MEDIA_CONNECT_TIMEOUT_S;
    long total_s = o->timeout_s > 0 ? o->timeout_s : VT_MEDIA_TIMEOUT_S;
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_data);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, s);
    curl_easy_setopt(c, CURLOPT_ERRORBUFFER, why);
    curl_easy_setopt(c, CURLOPT_FAILONERROR, 1L);
    curl_easy_setopt(c, CURLOPT_FOLLOWLOCATION, 1L);
    curl_easy_setopt(c, CURLOPT_MAXREDIRS, 5L);
#if LIBCURL_VERSION_NUM >= 0x075500
    curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(c, CURLOPT_REDIR_PROTOCOLS_STR, "http,https");
#else
    curl_easy_setopt(c, CURLOPT_PROTOCOLS, (long)(CURLPROTO_HTTP | CURLPROTO_HTTPS));
    curl_easy_setopt(c, CURLOPT_REDIR_PROTOCOLS, (long)(CURLPROTO_HTTP | CURLPROTO_HTTPS));
#endif
    curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT, connect_s);
    curl_easy_setopt(c, CURLOPT_TIMEOUT, total_s);
    curl_easy_setopt(c, CURLOPT_MAXFILESIZE_LARGE, (curl_off_t)s->max);
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(c, CURLOPT_USERAGENT, "vlmtune");
    CURLcode rc = curl_easy_perform(c);
    long status = 0;
    curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
    curl_easy_cleanup(c);
    if (rc == CURLE_OK) return 0;
    if (s->too_big || rc == CURLE_FILESIZE_EXCEEDED)
        return vt_err("the image is larger than the limit of %zu bytes", s->max);
    if (s->no_memory) return vt_err("out of memory");
    if (rc == CURLE_HTTP_RETURNED_ERROR) return vt_err("the server answered HTTP %ld", status);
    if (rc == CURLE_OPERATION_TIMEDOUT)
        return vt_err("download timed out (%s; limits: %lds to connect, %lds in all)", why[0] ? why : "no answer",
                      connect_s, total_s);
    return vt_err("download failed: %s", why[0] ? why : curl_easy_strerror(rc));
}

/* The record of a URL already downloaded: "URL\nFILE\n" in dir/url-UHASH. */
static void record_path(const char *dir, const char *url, char *buf, size_t cap) {
    snprintf(buf, cap, "%s/url-%016llx", dir, (unsigned long long)vt_fnv1a(VT_FNV_START, url, strlen(url)));
}

/* The file a record names, when the record is for this URL and the file still holds the bytes its name says. */
static char *recorded_file(const char *dir, const char *url) {
    char rec[4200], *text, *file = NULL;
    size_t len, ulen = strlen(url);
    record_path(dir, url, rec, sizeof rec);
    if (!vt_path_exists(rec)) return NULL;
    if (vt_read_file(rec, &text, &len)) {
        vt_err_clear();
        return NULL;
    }
    bool ours = len > ulen + 2 && !memcmp(text, url, ulen) && text[ulen] == '\n' && text[len - 1] == '\n';
    if (ours) {
        const char *name = text + ulen + 1;
        text[len - 1] = '\0';
        char path[4200], *bytes;
        size_t n;
        unsigned long long h;
        snprintf(path, sizeof path, "%s/%s", dir, name);
        if (!strchr(name, '/') && sscanf(name, "%16llx", &h) == 1 && vt_read_file(path, &bytes, &n) == 0) {
            if ((unsigned long long)vt_fnv1a(VT_FNV_START, bytes, n) == h) file = strdup(path);
            free(bytes);
        }
        vt_err_clear();
    }
    free(text);
    return file;
}

static int fetch_url(const char *url, const vt_media_options *o, char **path) {
    if ((*path = recorded_file(o->dir, url))) return 0;
    sink s = {.max = o->max_bytes ? o->max_bytes : VT_MEDIA_MAX_BYTES};
    int rc = download(url, o, &s) || store(o->dir, s.data, s.len, path);
    free(s.data);
    if (rc) return -1;
    char rec[4200];
    const char *name = strrchr(*path, '/') + 1;
    size_t n = strlen(url) + strlen(name) + 3;
    char *text = malloc(n);
    if (!text) return vt_err("out of memory");
    snprintf(text, n, "%s\n%s\n", url, name);
    record_path(o->dir, url, rec, sizeof rec);
    rc = write_whole(rec, text, n - 1);
    free(text);
    if (rc) free(*path), *path = NULL;
    return rc;
}

/* ---------------------------------------------------------------- API ---- */

int vt_media_fetch(const char *source, const vt_media_options *o, char **path) {
    *path = NULL;
    int rc;
    if (vt_media_is_url(source)) {
        rc = fetch_url(source, o, path);
    } else if (vt_media_is_inline(source)) {
        uint8_t *bytes = NULL;
        size_t len = 0, max = o->max_bytes ? o->max_bytes : VT_MEDIA_MAX_BYTES;
        rc = decode_data_uri(source, &bytes, &len);
        if (rc == 0 && len > max) rc = vt_err("the image is larger than the limit of %zu bytes", max);
        if (rc == 0) rc = store(o->dir, bytes, len, path);
        free(bytes);
    } else {
        rc = vt_err("not a data: URI or an http(s) URL");
    }
    if (rc) {
        char shown[VT_MEDIA_SHOWN];
        return vt_err_context("%s", vt_media_describe(source, shown, sizeof shown));
    }
    return 0;
}
