/* `vlmtune tokenize` — text to token ids (and back) with a model's tokenizer.
 *
 *   vlmtune tokenize --model DIR --text "Hello"          ids on one line
 *   vlmtune tokenize --model DIR --file notes.txt --decode   ids, then the round trip
 *   vlmtune tokenize --model DIR --jsonl strings.jsonl    one JSON string per line -> one line of ids each
 *   vlmtune tokenize --model DIR --decode-ids ids.txt     one line of ids per line -> one JSON string each
 * The last two exist for testing against other implementations in bulk.  Their JSON strings keep U+0000
 * ("\u0000") as Hugging Face tokenizers do: it is text, encoded like any other character, never an end. */
#include <cjson/cJSON.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/args.h"
#include "cli/commands.h"
#include "text/tokenizer.h"
#include "util/error.h"
#include "util/fs.h"

static void print_ids(const int32_t *ids, size_t n) {
    for (size_t i = 0; i < n; i++) printf("%s%d", i ? " " : "", ids[i]);
    putchar('\n');
}

static int encode_one(const vt_tokenizer *t, const char *text, size_t len, bool decode) {
    int32_t *ids;
    size_t n;
    TRY(vt_tokenizer_encode(t, text, len, &ids, &n));
    print_ids(ids, n);
    int rc = 0;
    if (decode) {
        char *back;
        size_t blen;
        rc = vt_tokenizer_decode(t, ids, n, &back, &blen);
        if (rc == 0) {
            fwrite(back, 1, blen, stdout);
            putchar('\n');
            free(back);
        }
    }
    free(ids);
    return rc;
}

static int each_line(const char *path, int (*fn)(const vt_tokenizer *, const char *, size_t, const char *, size_t),
                     const vt_tokenizer *t) {
    FILE *f = fopen(path, "rb");
    if (!f) return vt_err("%s: cannot open", path);
    char *line = NULL;
    size_t cap = 0, no = 0;
    ssize_t n;
    int rc = 0;
    while (rc == 0 && (n = getline(&line, &cap, f)) >= 0) {
        no++;
        while (n > 0 && (line[n - 1] == '\n' || line[n - 1] == '\r')) line[--n] = '\0';
        rc = fn(t, line, (size_t)n, path, no);
    }
    free(line);
    fclose(f);
    return rc;
}

/* One JSON string literal (blanks around it allowed) → its bytes and their length.  cJSON checks the syntax,
 * but its strings end at the first NUL, so the bytes are decoded here, "\u0000" included. */
static int json_string(const char *line, size_t len, char **out, size_t *out_len) {
    const char *end = NULL;
    cJSON *s = cJSON_ParseWithLengthOpts(line, len, &end, false);
    bool ok = cJSON_IsString(s);
    cJSON_Delete(s);
    for (const char *p = end; ok && p < line + len; p++) ok = *p == ' ' || *p == '\t' || *p == '\r';
    if (!ok) return vt_err("expected one JSON string");
    const char *p = (const char *)memchr(line, '"', len) + 1, *stop = end - 1; /* the quotes: checked by cJSON */
    char *buf = malloc((size_t)(stop - p) + 1), *w = buf;
    if (!buf) return vt_err("out of memory");
    while (p < stop) {
        if (*p != '\\') {
            *w++ = *p++;
            continue;
        }
        char c = p[1];
        p += 2;
        if (c != 'u') {
            *w++ = c == 'n' ? '\n' : c == 't' ? '\t' : c == 'r' ? '\r' : c == 'b' ? '\b' : c == 'f' ? '\f' : c;
            continue;
        }
        unsigned cp = (unsigned)strtoul((char[5]){p[0], p[1], p[2], p[3], 0}, NULL, 16);
        p += 4;
        if (cp >= 0xD800 && cp < 0xDC00) { /* a surrogate pair: cJSON has checked the low half follows */
            unsigned lo = (unsigned)strtoul((char[5]){p[2], p[3], p[4], p[5], 0}, NULL, 16);
            cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
            p += 6;
        }
        if (cp < 0x80) {
            *w++ = (char)cp;
        } else if (cp < 0x800) {
            *w++ = (char)(0xC0 | cp >> 6), *w++ = (char)(0x80 | (cp & 0x3F));
        } else if (cp < 0x10000) {
            *w++ = (char)(0xE0 | cp >> 12), *w++ = (char)(0x80 | ((cp >> 6) & 0x3F)), *w++ = (char)(0x80 | (cp & 0x3F));
        } else {
            *w++ = (char)(0xF0 | cp >> 18), *w++ = (char)(0x80 | ((cp >> 12) & 0x3F));
            *w++ = (char)(0x80 | ((cp >> 6) & 0x3F)), *w++ = (char)(0x80 | (cp & 0x3F));
        }
    }
    *out = buf, *out_len = (size_t)(w - buf);
    return 0;
}

/* text[0..len) as one JSON string on a line of its own; control characters (NUL included) escaped. */
static void print_json_string(const char *text, size_t len) {
    putchar('"');
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)text[i];
        if (c == '"' || c == '\\') printf("\\%c", c);
        else if (c < 0x20) printf("\\u%04x", c);
        else putchar(c);
    }
    fputs("\"\n", stdout);
}

static int jsonl_line(const vt_tokenizer *t, const char *line, size_t len, const char *path, size_t no) {
    char *text = NULL;
    size_t tlen = 0;
    if (json_string(line, len, &text, &tlen)) return vt_err_context("%s:%zu", path, no);
    int rc = encode_one(t, text, tlen, false);
    free(text);
    return rc ? vt_err_context("%s:%zu", path, no) : 0;
}

static int ids_line(const vt_tokenizer *t, const char *line, size_t len, const char *path, size_t no) {
    int32_t *ids = malloc((len / 2 + 2) * sizeof *ids);
    size_t n = 0;
    char *end;
    for (const char *p = line; ids;) {
        long v = strtol(p, &end, 10);
        if (end == p) break;
        ids[n++] = (int32_t)v;
        p = end;
    }
    char *text = NULL;
    size_t tlen;
    int rc = ids ? vt_tokenizer_decode(t, ids, n, &text, &tlen) : vt_err("out of memory");
    if (rc == 0) print_json_string(text, tlen);
    free(text);
    free(ids);
    return rc ? vt_err_context("%s:%zu", path, no) : 0;
}

int cmd_tokenize(int argc, char **argv) {
    vt_option opts[] = {{"model", "DIR", "model directory (or a tokenizer.json)", true},
                        {"text", "TEXT", "text to tokenize", false},
                        {"file", "FILE", "tokenize a whole file", false},
                        {"decode", NULL, "also print the decoded round trip", false},
                        {"jsonl", "FILE", "one JSON string per line; one line of ids each", false},
                        {"decode-ids", "FILE", "one line of ids per line; one JSON string each", false},
                        {0}};
    int rc = vt_args_parse(opts, argc, argv, "vlmtune tokenize --model DIR (--text T | --file F) [--decode]");
    if (rc) return rc > 0 ? 0 : -1;
    const char *text = vt_args_value(opts, "text"), *file = vt_args_value(opts, "file"),
               *jsonl = vt_args_value(opts, "jsonl"), *ids = vt_args_value(opts, "decode-ids");
    if (!!text + !!file + !!jsonl + !!ids != 1) return vt_err("give exactly one of --text, --file, --jsonl, --decode-ids");
    vt_tokenizer *t;
    TRY(vt_tokenizer_load(&t, vt_args_value(opts, "model")));
    if (text) rc = encode_one(t, text, strlen(text), vt_args_flag(opts, "decode"));
    else if (jsonl) rc = each_line(jsonl, jsonl_line, t);
    else if (ids) rc = each_line(ids, ids_line, t);
    else {
        char *data;
        size_t len;
        rc = vt_read_file(file, &data, &len);
        if (rc == 0) {
            rc = encode_one(t, data, len, vt_args_flag(opts, "decode"));
            if (rc) vt_err_context("%s", file);
            free(data);
        }
    }
    vt_tokenizer_free(t);
    return rc;
}
