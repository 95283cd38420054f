/* `vlmtune tokenize` — text to token ids (and back) with a model's tokenizer.
 *
 *   vlmtune tokenize --model DIR --text "Hello"          ids on one line
 *   vlmtune tokenize --model DIR --file notes.txt --decode   ids, then the round trip
 *   vlmtune tokenize --model DIR --jsonl strings.jsonl    one JSON string per line -> one line of ids each
 *   vlmtune tokenize --model DIR --decode-ids ids.txt     one line of ids per line -> one JSON string each
 * The last two exist for testing against other implementations in bulk. */
#include <cjson/cJSON.h>
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

static int jsonl_line(const vt_tokenizer *t, const char *line, size_t len, const char *path, size_t no) {
    cJSON *s = cJSON_ParseWithLength(line, len);
    if (!cJSON_IsString(s)) {
        cJSON_Delete(s);
        return vt_err("%s:%zu: expected a JSON string", path, no);
    }
    /* cJSON stops at an embedded NUL; the reference strings have none */
    int rc = encode_one(t, s->valuestring, strlen(s->valuestring), false);
    cJSON_Delete(s);
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
    if (rc == 0) {
        cJSON *s = cJSON_CreateString(text);
        char *json = cJSON_PrintUnformatted(s);
        puts(json);
        free(json);
        cJSON_Delete(s);
    }
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
