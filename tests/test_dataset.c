/* Dataset rows: every accepted form, a clear error for each kind of bad row, JSON array files, folders of
 * splits, and images given inline (data: URIs, base64) or by URL made into files. */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "test.h"
#include "data/dataset.h"
#include "data/media.h"
#include "util/fs.h"

static int parse(vt_sample *s, const char *json) { return vt_sample_parse(s, json, strlen(json), "/data"); }

static void check_part(const vt_message *m, size_t i, vt_part_kind kind, const char *text) {
    CHECK(i < m->n_parts);
    if (i >= m->n_parts) return;
    CHECK(m->parts[i].kind == kind);
    CHECK(strcmp(m->parts[i].text, text) == 0);
}

static void test_simple_form(void) {
    vt_sample s;
    CHECK_OK(parse(&s, "{\"image\": \"a.jpg\", \"prompt\": \"Critique.\", \"response\": \"Nice.\", \"system\": \"S\"}"));
    CHECK(s.n_messages == 3);
    if (s.n_messages == 3) {
        CHECK(s.messages[0].role == VT_ROLE_SYSTEM);
        check_part(&s.messages[0], 0, VT_PART_TEXT, "S");
        CHECK(s.messages[1].role == VT_ROLE_USER && s.messages[1].n_parts == 2);
        check_part(&s.messages[1], 0, VT_PART_IMAGE, "/data/a.jpg");
        check_part(&s.messages[1], 1, VT_PART_TEXT, "Critique.");
        CHECK(s.messages[2].role == VT_ROLE_ASSISTANT);
        check_part(&s.messages[2], 0, VT_PART_TEXT, "Nice.");
    }
    vt_sample_clear(&s);

    CHECK_OK(parse(&s, "{\"image\": [\"/abs/a.png\", \"b.png\"], \"prompt\": \"p\", \"response\": \"r\"}"));
    CHECK(s.n_messages == 2);
    if (s.n_messages == 2) {
        check_part(&s.messages[0], 0, VT_PART_IMAGE, "/abs/a.png");
        check_part(&s.messages[0], 1, VT_PART_IMAGE, "/data/b.png");
    }
    vt_sample_clear(&s);
}

static void test_chat_form(void) {
    vt_sample s;
    CHECK_OK(parse(&s, "{\"messages\": [{\"role\": \"user\", \"content\": [{\"type\": \"text\", \"text\": \"A\"},"
                       "{\"type\": \"image\", \"image\": \"x.jpg\"}]}, {\"role\": \"assistant\", \"content\": \"B\"},"
                       "{\"role\": \"user\", \"content\": \"C\"}, {\"role\": \"assistant\", \"content\": \"D\"}]}"));
    CHECK(s.n_messages == 4);
    if (s.n_messages == 4) {
        check_part(&s.messages[0], 0, VT_PART_TEXT, "A");
        check_part(&s.messages[0], 1, VT_PART_IMAGE, "/data/x.jpg");
        check_part(&s.messages[3], 0, VT_PART_TEXT, "D");
    }
    vt_sample_clear(&s);
}

static void test_placeholder_form(void) {
    vt_sample s;
    /* LLaMA-Factory sharegpt: from/value, <image> placeholders in order. */
    CHECK_OK(parse(&s, "{\"conversations\": [{\"from\": \"human\", \"value\": \"<image>Compare with <image>.\"},"
                       "{\"from\": \"gpt\", \"value\": \"Same.\"}], \"images\": [\"1.jpg\", \"2.jpg\"]}"));
    CHECK(s.n_messages == 2);
    if (s.n_messages == 2) {
        CHECK(s.messages[0].n_parts == 4);
        check_part(&s.messages[0], 0, VT_PART_IMAGE, "/data/1.jpg");
        check_part(&s.messages[0], 1, VT_PART_TEXT, "Compare with ");
        check_part(&s.messages[0], 2, VT_PART_IMAGE, "/data/2.jpg");
        check_part(&s.messages[0], 3, VT_PART_TEXT, ".");
        CHECK(s.messages[1].role == VT_ROLE_ASSISTANT);
    }
    vt_sample_clear(&s);
    /* mlx-vlm: no placeholders, the images go before the first user text. */
    CHECK_OK(parse(&s, "{\"messages\": [{\"role\": \"system\", \"content\": \"S\"}, {\"role\": \"user\", "
                       "\"content\": \"Q\"}, {\"role\": \"assistant\", \"content\": \"A\"}], \"images\": [\"i.jpg\"]}"));
    if (s.n_messages == 3) {
        check_part(&s.messages[1], 0, VT_PART_IMAGE, "/data/i.jpg");
        check_part(&s.messages[1], 1, VT_PART_TEXT, "Q");
    }
    vt_sample_clear(&s);
}

static void test_bad_rows(void) {
    vt_sample s;
    CHECK_FAILS(parse(&s, "{\"prompt\": \"p\"}"), "missing field \"response\"");
    CHECK_FAILS(parse(&s, "{\"prompt\": 3, \"response\": \"r\"}"), "\"prompt\" must be a string");
    CHECK_FAILS(parse(&s, "{\"prompt\": \"p\", \"response\": \"r\""), "malformed JSON");
    CHECK_FAILS(parse(&s, "{\"prompt\": \"p\", \"response\": \"r\"} x"), "unexpected text after");
    CHECK_FAILS(parse(&s, "[1, 2]"), "must be a JSON object");
    CHECK_FAILS(parse(&s, "{\"prompt\": \"p\", \"response\": \"r\", \"image\": 5}"), "an image must be a path, a URL");
    CHECK_FAILS(parse(&s, "{\"prompt\": \"\xff\", \"response\": \"r\"}"), "not valid UTF-8");
    CHECK_FAILS(parse(&s, "{\"messages\": [{\"role\": \"robot\", \"content\": \"x\"}]}"), "unknown role \"robot\"");
    CHECK_FAILS(parse(&s, "{\"messages\": [{\"role\": \"user\", \"content\": \"x\"}]}"), "no assistant turn");
    CHECK_FAILS(parse(&s, "{\"messages\": []}"), "empty");
    CHECK_FAILS(parse(&s, "{\"messages\": [{\"role\": \"user\", \"content\": \"<image><image>\"}, {\"role\": "
                          "\"assistant\", \"content\": \"a\"}], \"images\": [\"1.jpg\"]}"),
                "2 image placeholders (<image> or image parts without a source) but 1 images");
    CHECK_FAILS(parse(&s, "{\"messages\": [{\"role\": \"user\", \"content\": \"<image>\"}, {\"role\": "
                          "\"assistant\", \"content\": \"a\"}], \"images\": [\"1.jpg\", \"2.jpg\"]}"),
                "1 image placeholders (<image> or image parts without a source) but 2 images");
    CHECK_FAILS(parse(&s, "{\"messages\": [{\"role\": \"user\", \"content\": [{\"type\": \"video\"}]}]}"),
                "content type \"video\" is not supported");
    CHECK_FAILS(parse(&s, "{\"messages\": [{\"role\": \"assistant\", \"content\": [{\"type\": \"image\", "
                          "\"image\": \"a.jpg\"}]}]}"),
                "user turns only");
    CHECK_FAILS(parse(&s, "{\"messages\": [{\"role\": \"user\", \"content\": \"q\"}, {\"role\": \"system\", "
                          "\"content\": \"s\"}, {\"role\": \"assistant\", \"content\": \"a\"}]}"),
                "may only come first");
}

static void test_file(void) {
    char dir[] = "/tmp/vt_dataset_XXXXXX";
    CHECK(mkdtemp(dir) != NULL);
    char path[256];
    snprintf(path, sizeof path, "%s/train.jsonl", dir);
    FILE *f = fopen(path, "w");
    fputs("{\"image\": \"a.jpg\", \"prompt\": \"p\", \"response\": \"r\"}\r\n\n", f);
    fputs("{\"prompt\": \"p2\", \"response\": \"r2\"}\n", f);
    fputs("{\"prompt\": \"p3\"}\n", f);
    fclose(f);
    vt_dataset *ds = NULL;
    char want[512];
    snprintf(want, sizeof want, "%s:4: missing field \"response\"", path);
    CHECK_FAILS(vt_dataset_load(&ds, path), want);

    f = fopen(path, "w");
    fputs("{\"image\": \"a.jpg\", \"prompt\": \"p\", \"response\": \"r\"}\r\n\n", f);
    fputs("{\"prompt\": \"p2\", \"response\": \"r2\"}", f); /* no final newline */
    fclose(f);
    CHECK_OK(vt_dataset_load(&ds, path));
    if (ds) {
        CHECK(ds->n_samples == 2 && ds->n_images == 1);
        CHECK(ds->samples[1].line == 3);
        snprintf(want, sizeof want, "%s/a.jpg", dir);
        CHECK(strcmp(ds->samples[0].messages[0].parts[0].text, want) == 0);
        vt_dataset_free(ds);
    }
    CHECK_FAILS(vt_dataset_load(&ds, "/nonexistent/x.jsonl"), "/nonexistent/x.jsonl: cannot open");
    CHECK_FAILS(vt_dataset_load(&ds, dir), "is a directory, not a file");
    f = fopen(path, "w");
    fclose(f);
    CHECK_FAILS(vt_dataset_load(&ds, path), "no rows");
    unlink(path);
    rmdir(dir);
}


/* ------------------------------------------------------------ more forms ---- */

/* The image parts of a one-user-turn row, in order, as "I:source" / "T:text", joined by '|'. */
static void user_parts(const vt_sample *s, char *buf, size_t cap) {
    buf[0] = 0;
    for (size_t i = 0; i < s->n_messages; i++) {
        if (s->messages[i].role != VT_ROLE_USER) continue;
        for (size_t k = 0; k < s->messages[i].n_parts; k++) {
            const vt_part *p = &s->messages[i].parts[k];
            size_t n = strlen(buf);
            snprintf(buf + n, cap - n, "%s%s:%s", n ? "|" : "", p->kind == VT_PART_IMAGE ? "I" : "T", p->text);
        }
    }
}

static void check_user(const char *json, const char *want) {
    vt_sample s;
    char got[1024];
    int rc = parse(&s, json);
    CHECK(rc == 0);
    if (rc) {
        fprintf(stderr, "  row %s: %s\n", json, vt_errmsg());
        return;
    }
    user_parts(&s, got, sizeof got);
    if (strcmp(got, want)) fprintf(stderr, "  row %s\n  got  %s\n  want %s\n", json, got, want);
    CHECK(strcmp(got, want) == 0);
    vt_sample_clear(&s);
}

static void test_mlx_vlm_forms(void) {
    /* mlx-vlm's question/answer rows (trainer/vlm/sft/dataset.py), with "image" or "images" */
    check_user("{\"question\": \"What?\", \"answer\": \"A cat.\", \"image\": \"c.jpg\"}", "I:/data/c.jpg|T:What?");
    check_user("{\"question\": \"Q\", \"answer\": \"A\", \"images\": [\"1.jpg\", \"/x/2.jpg\"]}",
               "I:/data/1.jpg|I:/x/2.jpg|T:Q");
    vt_sample s;
    CHECK_OK(parse(&s, "{\"question\": \"Q\", \"answer\": \"A\"}"));
    CHECK(s.n_messages == 2 && s.messages[1].role == VT_ROLE_ASSISTANT);
    if (s.n_messages == 2) check_part(&s.messages[1], 0, VT_PART_TEXT, "A");
    vt_sample_clear(&s);
    /* roles as mlx-vlm maps them: any case, "bot", "speaker" */
    check_user("{\"conversations\": [{\"speaker\": \"Human\", \"value\": \"hi\"}, {\"from\": \"BOT\", \"value\": \"yo\"}]}",
               "T:hi");
    /* "messages" kept as a JSON string (mlx-vlm json.loads it) */
    check_user("{\"messages\": \"[{\\\"role\\\": \\\"user\\\", \\\"content\\\": \\\"q\\\"}, {\\\"role\\\": "
               "\\\"assistant\\\", \\\"content\\\": \\\"a\\\"}]\", \"image\": \"i.png\"}",
               "I:/data/i.png|T:q");
    CHECK_FAILS(parse(&s, "{\"question\": \"Q\", \"prompt\": \"P\", \"answer\": \"A\"}"), "both \"prompt\" and \"question\"");
    CHECK_FAILS(parse(&s, "{\"question\": \"Q\"}"), "missing field \"response\" (or \"answer\")");
    CHECK_FAILS(parse(&s, "{\"prompt\": \"p\", \"response\": \"r\", \"image\": \"a.jpg\", \"images\": [\"b.jpg\"]}"),
                "both \"images\" and \"image\"");
    CHECK_FAILS(parse(&s, "{\"messages\": \"not json\"}"), "does not hold a JSON list of turns");
    CHECK_FAILS(parse(&s, "{\"messages\": [], \"conversations\": []}"), "both \"messages\" and \"conversations\"");
    CHECK_FAILS(parse(&s, "{\"text\": \"x\"}"), "a row needs \"messages\"");
}

static void test_image_markers(void) {
    /* TRL / Hugging Face: {"type": "image"} parts with no path take the top-level images in order */
    check_user("{\"messages\": [{\"role\": \"user\", \"content\": [{\"type\": \"text\", \"text\": \"A\"}, {\"type\": \"image\"},"
               "{\"type\": \"text\", \"text\": \"B\"}, {\"type\": \"image\"}]}, {\"role\": \"assistant\", \"content\": "
               "[{\"type\": \"text\", \"text\": \"C\"}]}], \"images\": [\"1.jpg\", \"2.jpg\"]}",
               "T:A|I:/data/1.jpg|T:B|I:/data/2.jpg");
    /* markers across turns; an image_url part without a url is a marker too (mlx-vlm) */
    vt_sample s;
    CHECK_OK(parse(&s, "{\"messages\": [{\"role\": \"user\", \"content\": [{\"type\": \"image\"}, {\"type\": \"text\", "
                       "\"text\": \"one\"}]}, {\"role\": \"assistant\", \"content\": \"x\"}, {\"role\": \"user\", \"content\": "
                       "[{\"type\": \"image_url\"}, {\"type\": \"text\", \"text\": \"two\"}]}, {\"role\": \"assistant\", "
                       "\"content\": \"y\"}], \"images\": [\"1.jpg\", \"2.jpg\"]}"));
    if (s.n_messages == 4) {
        check_part(&s.messages[0], 0, VT_PART_IMAGE, "/data/1.jpg");
        check_part(&s.messages[2], 0, VT_PART_IMAGE, "/data/2.jpg");
        check_part(&s.messages[2], 1, VT_PART_TEXT, "two");
    }
    vt_sample_clear(&s);
    CHECK_FAILS(parse(&s, "{\"messages\": [{\"role\": \"user\", \"content\": [{\"type\": \"image\"}]}, {\"role\": "
                          "\"assistant\", \"content\": \"a\"}], \"images\": [\"1.jpg\", \"2.jpg\"]}"),
                "1 image placeholders (<image> or image parts without a source) but 2 images");
    CHECK_FAILS(parse(&s, "{\"messages\": [{\"role\": \"user\", \"content\": [{\"type\": \"image\"}]}, {\"role\": "
                          "\"assistant\", \"content\": \"a\"}]}"),
                "turn 1: an image part gives no image");
    CHECK_FAILS(parse(&s, "{\"messages\": [{\"role\": \"user\", \"content\": [{\"type\": \"image\", \"image\": \"a.jpg\"}]},"
                          "{\"role\": \"assistant\", \"content\": \"a\"}], \"images\": [\"b.jpg\"]}"),
                "names its image, so the row cannot also give a top-level image list");
    CHECK_FAILS(parse(&s, "{\"messages\": [{\"role\": \"user\", \"content\": \"q\"}, {\"role\": \"assistant\", \"content\": "
                          "[{\"type\": \"image\"}]}], \"images\": [\"b.jpg\"]}"),
                "turn 2: images are allowed in user turns only");
    CHECK_FAILS(parse(&s, "{\"messages\": [{\"role\": \"user\", \"content\": [{\"type\": \"input_image\", \"file_id\": "
                          "\"f-1\"}]}, {\"role\": \"assistant\", \"content\": \"a\"}]}"),
                "\"file_id\" cannot be read");
    /* "<image>" with no images is text */
    check_user("{\"messages\": [{\"role\": \"user\", \"content\": \"What is <image> in HTML?\"}, {\"role\": \"assistant\", "
               "\"content\": \"Nothing.\"}]}",
               "T:What is <image> in HTML?");
}

static void test_image_sources(void) {
    /* OpenAI parts: image_url as an object or a string; input_image (Responses API); text synonyms */
    check_user("{\"messages\": [{\"role\": \"user\", \"content\": [{\"type\": \"input_text\", \"text\": \"Q\"}, "
               "{\"type\": \"image_url\", \"image_url\": {\"url\": \"https://example.com/a.jpg\"}}, {\"type\": "
               "\"input_image\", \"image_url\": \"http://example.com/b.png\"}]}, {\"role\": \"assistant\", \"content\": "
               "[{\"type\": \"output_text\", \"text\": \"A\"}]}]}",
               "T:Q|I:https://example.com/a.jpg|I:http://example.com/b.png");
    /* transformers' image part keys: image, url, path, base64 */
    check_user("{\"messages\": [{\"role\": \"user\", \"content\": [{\"type\": \"image\", \"url\": \"HTTPS://h/x.png\"}, "
               "{\"type\": \"image\", \"path\": \"p.jpg\"}, {\"type\": \"image\", \"base64\": \"iVBORw==\"}, {\"type\": "
               "\"text\", \"content\": \"T\"}]}, {\"role\": \"assistant\", \"content\": \"A\"}]}",
               "I:HTTPS://h/x.png|I:/data/p.jpg|I:data:;base64,iVBORw==|T:T");
    /* Hugging Face image objects: bytes first, then path */
    check_user("{\"prompt\": \"p\", \"response\": \"r\", \"images\": [{\"bytes\": \"R0lGODdh\", \"path\": \"x.gif\"}, "
               "{\"bytes\": null, \"path\": \"y.jpg\"}, {\"path\": \"data:image/png;base64,AAAA\"}]}",
               "I:data:;base64,R0lGODdh|I:/data/y.jpg|I:data:image/png;base64,AAAA|T:p");
    /* file: URIs (RFC 8089) */
    check_user("{\"prompt\": \"p\", \"response\": \"r\", \"images\": [\"file:///abs/a%20b.jpg\", "
               "\"file://localhost/abs/c.jpg\", \"file:/abs/d.jpg\", \"file:rel/e.jpg\"]}",
               "I:/abs/a b.jpg|I:/abs/c.jpg|I:/abs/d.jpg|I:/data/rel/e.jpg|T:p");
    vt_sample s;
    CHECK_FAILS(parse(&s, "{\"prompt\": \"p\", \"response\": \"r\", \"image\": \"file://server/share/a.jpg\"}"),
                "only local files are read");
    CHECK_FAILS(parse(&s, "{\"prompt\": \"p\", \"response\": \"r\", \"image\": \"file:///a%2\"}"), "bad percent escape");
    CHECK_FAILS(parse(&s, "{\"prompt\": \"p\", \"response\": \"r\", \"image\": \"file:///a%00b\"}"), "bad percent escape");
    CHECK_FAILS(parse(&s, "{\"prompt\": \"p\", \"response\": \"r\", \"image\": \"s3://bucket/a.jpg\"}"),
                "unsupported URL scheme \"s3\"");
    CHECK_FAILS(parse(&s, "{\"prompt\": \"p\", \"response\": \"r\", \"image\": {\"bytes\": [1, 2]}}"),
                "\"bytes\" of an image must be a base64 string");
    CHECK_FAILS(parse(&s, "{\"prompt\": \"p\", \"response\": \"r\", \"image\": {\"size\": 3}}"),
                "an image object needs \"path\", \"bytes\" (base64) or \"url\"");
    CHECK_FAILS(parse(&s, "{\"prompt\": \"p\", \"response\": \"r\", \"images\": [\"a.jpg\", \"\"]}"),
                "field \"images\", image 2: an image path is empty");
    /* a data: URI that is not base64: refused, and the message shows only its start */
    char row[600], uri[400];
    snprintf(uri, sizeof uri, "data:image/svg+xml,%0300d", 0);
    snprintf(row, sizeof row, "{\"prompt\": \"p\", \"response\": \"r\", \"image\": \"%s\"}", uri);
    CHECK_FAILS(parse(&s, row), "data:image/svg+xml,0000000000000\xe2\x80\xa6(319 bytes): an image data: URI must be base64");
    CHECK(strstr(vt_errmsg(), uri) == NULL);
}

static void test_nul_escapes(void) {
    vt_sample s;
    /* cJSON would end the string at the NUL: the row is refused, never cut */
    CHECK_FAILS(parse(&s, "{\"prompt\": \"a\\u0000b\", \"response\": \"r\"}"), "column 14: \\u0000 (a NUL character)");
    /* an escaped backslash followed by "u0000" is text, not a NUL */
    CHECK_OK(parse(&s, "{\"prompt\": \"a\\\\u0000b\", \"response\": \"r\"}"));
    if (s.n_messages == 2) check_part(&s.messages[0], 0, VT_PART_TEXT, "a\\u0000b");
    vt_sample_clear(&s);
}

/* ------------------------------------------------------------ files ---- */

static char tmp_root[64];

static const char *write_file(const char *name, const char *text) {
    static char path[512];
    snprintf(path, sizeof path, "%s/%s", tmp_root, name);
    char dir[512];
    snprintf(dir, sizeof dir, "%s", path);
    *strrchr(dir, '/') = 0;
    vt_mkdir_p(dir);
    FILE *f = fopen(path, "wb");
    if (f) fputs(text, f), fclose(f);
    return path;
}

static void test_json_array(void) {
    /* LLaMA-Factory's mllm_demo.json layout: one array, "<image>" placeholders, "images" */
    const char *path = write_file("demo.json",
        "\xEF\xBB\xBF[\n"
        "  {\n    \"messages\": [{\"content\": \"<image>Who are they?\", \"role\": \"user\"},\n"
        "                 {\"content\": \"Two players.\", \"role\": \"assistant\"}],\n"
        "    \"images\": [\"mllm_demo_data/1.jpg\"]\n  },\n"
        "  {\"prompt\": \"p\", \"response\": \"r\"}\n]\n");
    vt_dataset *ds = NULL;
    CHECK_OK(vt_dataset_load(&ds, path));
    if (ds) {
        CHECK(ds->n_samples == 2 && ds->n_images == 1);
        CHECK(ds->samples[0].line == 2 && ds->samples[1].line == 7);
        char want[512];
        snprintf(want, sizeof want, "%s/mllm_demo_data/1.jpg", tmp_root);
        check_part(&ds->samples[0].messages[0], 0, VT_PART_IMAGE, want);
        check_part(&ds->samples[0].messages[0], 1, VT_PART_TEXT, "Who are they?");
        vt_dataset_free(ds), ds = NULL;
    }
    char want[600];
    /* a bad element names its index and its line; with a log every bad element is listed */
    path = write_file("bad.json", "[{\"prompt\": \"p\", \"response\": \"r\"},\n {\"prompt\": \"p\"},\n"
                                  " {\"prompt\": \"a\\u0000\", \"response\": \"r\"}, 7]");
    snprintf(want, sizeof want, "%s:2: element [1]: missing field \"response\"", path);
    CHECK_FAILS(vt_dataset_load(&ds, path), want);
    char *logged = NULL;
    size_t log_len = 0, bad = 0;
    FILE *log = open_memstream(&logged, &log_len);
    CHECK_OK(vt_dataset_load_checked(&ds, path, log, &bad));
    fclose(log);
    CHECK(bad == 3 && ds && ds->n_samples == 1);
    snprintf(want, sizeof want, "error: %s:3: element [2]: \\u0000 (a NUL character)", path);
    CHECK(logged && strstr(logged, want));
    snprintf(want, sizeof want, "error: %s:3: element [3]: a row must be a JSON object", path);
    CHECK(logged && strstr(logged, want));
    free(logged);
    vt_dataset_free(ds), ds = NULL;
    /* broken arrays stop the reading at a line and column */
    path = write_file("broken.json", "[\n {\"prompt\": \"p\", \"response\": \"r\"},\n {\"prompt\": }\n]");
    snprintf(want, sizeof want, "%s:3:13: element [1]: malformed JSON (the rest of the file is not read)", path);
    CHECK_FAILS(vt_dataset_load(&ds, path), want);
    path = write_file("comma.json", "[{\"prompt\": \"p\", \"response\": \"r\"},\n]");
    CHECK_FAILS(vt_dataset_load(&ds, path), ":2:1: a ',' before ']' (JSON has no trailing comma)");
    path = write_file("open.json", "[{\"prompt\": \"p\", \"response\": \"r\"}\n");
    CHECK_FAILS(vt_dataset_load(&ds, path), ":2:1: expected ',' or ']' after element [0]");
    path = write_file("after.json", "[{\"prompt\": \"p\", \"response\": \"r\"}]\n{}\n");
    CHECK_FAILS(vt_dataset_load(&ds, path), ":2:1: unexpected text after the array");
    path = write_file("empty.json", " [ ] ");
    CHECK_FAILS(vt_dataset_load(&ds, path), "no rows");
    /* JSONL keeps its own rules: a BOM is skipped, a \u0000 names the line and column */
    path = write_file("rows.jsonl", "\xEF\xBB\xBF{\"prompt\": \"p\", \"response\": \"r\"}\n{\"prompt\": \"\\u0000\", "
                                    "\"response\": \"r\"}\n");
    snprintf(want, sizeof want, "%s:2: column 13: \\u0000", path);
    CHECK_FAILS(vt_dataset_load(&ds, path), want);
}

static void test_splits(void) {
    char dir[256], want[600], *p = NULL;
    const char *split;
    snprintf(dir, sizeof dir, "%s/splits", tmp_root);
    vt_mkdir_p(dir);
    CHECK_FAILS(vt_dataset_split(dir, "train", false, &p), "holds none of them");
    CHECK_FAILS(vt_dataset_eval_split(dir, &p, &split), "holds none of them");
    write_file("splits/train.jsonl", "{}\n");
    write_file("splits/validation.json", "[]\n");
    CHECK_OK(vt_dataset_split(dir, "train", true, &p));
    snprintf(want, sizeof want, "%s/train.jsonl", dir);
    CHECK(p && !strcmp(p, want));
    free(p);
    CHECK_OK(vt_dataset_split(dir, "valid", true, &p)); /* mlx-vlm's name for it */
    snprintf(want, sizeof want, "%s/validation.json", dir);
    CHECK(p && !strcmp(p, want));
    free(p);
    CHECK_OK(vt_dataset_split(dir, "test", false, &p));
    CHECK(p == NULL);
    snprintf(want, sizeof want, "%s: the folder has no test split (test.jsonl or test.json)", dir);
    CHECK_FAILS(vt_dataset_split(dir, "test", true, &p), want);
    CHECK_OK(vt_dataset_eval_split(dir, &p, &split)); /* no test: valid */
    CHECK(p && split && !strcmp(split, "valid"));
    free(p);
    write_file("splits/test.jsonl", "{}\n");
    CHECK_OK(vt_dataset_eval_split(dir, &p, &split));
    snprintf(want, sizeof want, "%s/test.jsonl", dir);
    CHECK(p && !strcmp(p, want) && !strcmp(split, "test"));
    free(p);
    write_file("splits/valid.jsonl", "{}\n"); /* valid.jsonl wins over validation.json */
    CHECK_OK(vt_dataset_split(dir, "valid", false, &p));
    snprintf(want, sizeof want, "%s/valid.jsonl", dir);
    CHECK(p && !strcmp(p, want));
    free(p);
    write_file("splits/train.json", "[]\n");
    CHECK_FAILS(vt_dataset_split(dir, "train", false, &p), "both train.jsonl and train.json are there");
    /* a trailing slash is fine; a file is the train split only */
    char slashed[300];
    snprintf(slashed, sizeof slashed, "%s/", dir);
    CHECK_OK(vt_dataset_split(slashed, "test", true, &p));
    snprintf(want, sizeof want, "%s/test.jsonl", dir);
    CHECK(p && !strcmp(p, want));
    free(p);
    CHECK_OK(vt_dataset_split(want, "train", true, &p));
    CHECK(p && !strcmp(p, want));
    free(p);
    CHECK_OK(vt_dataset_split(want, "valid", false, &p));
    CHECK(p == NULL);
    CHECK_FAILS(vt_dataset_split(want, "valid", true, &p), "holds the train split only");
    CHECK_OK(vt_dataset_eval_split(want, &p, &split));
    CHECK(p && !strcmp(p, want) && split == NULL);
    free(p);
    CHECK_FAILS(vt_dataset_split("/nonexistent/d", "train", true, &p), "/nonexistent/d: no such file or folder");
    CHECK_FAILS(vt_dataset_split(dir, "dev", true, &p), "unknown split \"dev\"");
}

/* ------------------------------------------------------------ media ---- */

static void test_base64(void) {
    /* RFC 4648 section 10's test vectors */
    static const char *const plain[] = {"", "f", "fo", "foo", "foob", "fooba", "foobar"};
    static const char *const coded[] = {"", "Zg==", "Zm8=", "Zm9v", "Zm9vYg==", "Zm9vYmE=", "Zm9vYmFy"};
    for (int i = 0; i < 7; i++) {
        uint8_t *out = NULL;
        size_t n = 99;
        CHECK_OK(vt_base64_decode(coded[i], strlen(coded[i]), &out, &n));
        CHECK(n == strlen(plain[i]) && (n == 0 || !memcmp(out, plain[i], n)));
        free(out);
    }
    uint8_t *out = NULL;
    size_t n;
    /* line breaks skipped, padding optional, the URL-safe alphabet (RFC 4648 section 5): 0xfb 0xff = "-_8" */
    CHECK_OK(vt_base64_decode("Zm9v\r\nYmFy\n", 11, &out, &n));
    CHECK(n == 6 && !memcmp(out, "foobar", 6));
    free(out);
    CHECK_OK(vt_base64_decode("-_8", 3, &out, &n));
    CHECK(n == 2 && out[0] == 0xfb && out[1] == 0xff);
    free(out);
    CHECK_FAILS(vt_base64_decode("Zm9v!", 5, &out, &n), "invalid base64 character '!' at offset 4");
    CHECK_FAILS(vt_base64_decode("Zg==Zg==", 8, &out, &n), "data after the '=' padding at offset 4");
    CHECK_FAILS(vt_base64_decode("Zm9vY", 5, &out, &n), "ends in the middle of a byte");
}

static void test_describe(void) {
    char buf[VT_MEDIA_SHOWN], uri[300];
    CHECK(!strcmp(vt_media_describe("data:image/png;base64,AAAA", buf, sizeof buf), "data:image/png;base64,AAAA"));
    snprintf(uri, sizeof uri, "data:image/png;base64,%0100d", 0);
    CHECK(!strcmp(vt_media_describe(uri, buf, sizeof buf), "data:image/png;base64,0000000000\xe2\x80\xa6(122 bytes)"));
    /* a cut never splits a UTF-8 sequence: "é" (2 bytes) straddling byte 32 is left out whole */
    snprintf(uri, sizeof uri, "data:,%025d\xc3\xa9%040d", 0, 0);
    CHECK(!strcmp(vt_media_describe(uri, buf, sizeof buf), "data:,0000000000000000000000000\xe2\x80\xa6(73 bytes)"));
    /* other sources are shown whole up to 255 bytes */
    snprintf(uri, sizeof uri, "https://example.com/%0150d.jpg", 0);
    CHECK(!strcmp(vt_media_describe(uri, buf, sizeof buf), uri));
    snprintf(uri, sizeof uri, "https://example.com/%0250d.jpg", 0);
    CHECK(!strncmp(vt_media_describe(uri, buf, sizeof buf), uri, 200) && !strcmp(buf + 200, "\xe2\x80\xa6(274 bytes)"));
}

static int count_files(const char *dir) {
    char cmd[600];
    snprintf(cmd, sizeof cmd, "ls -1 '%s' 2>/dev/null | wc -l", dir);
    FILE *p = popen(cmd, "r");
    int n = -1;
    if (p) {
        if (fscanf(p, "%d", &n) != 1) n = -1;
        pclose(p);
    }
    return n;
}

static void test_inline_images(void) {
    char dir[256], *path = NULL, *again = NULL;
    snprintf(dir, sizeof dir, "%s/cache/images", tmp_root);
    vt_media_options o = {.dir = dir};
    /* base64 of the 8-byte PNG signature and 4 more bytes */
    const char *uri = "data:image/png;base64,iVBORw0KGgoAAAAA";
    static const uint8_t want[] = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n', 0, 0, 0, 0};
    CHECK_OK(vt_media_fetch(uri, &o, &path));
    char *bytes = NULL;
    size_t n = 0;
    CHECK(path && strstr(path, dir) == path && strlen(path) > 4 && !strcmp(path + strlen(path) - 4, ".png"));
    CHECK(path && vt_read_file(path, &bytes, &n) == 0 && n == sizeof want && !memcmp(bytes, want, n));
    free(bytes);
    /* the same bytes, given again (another media type, HF "bytes" form): the same file, not a second one */
    CHECK_OK(vt_media_fetch("data:;base64,iVBORw0KGgoAAAAA", &o, &again));
    CHECK(path && again && !strcmp(path, again));
    CHECK(count_files(dir) == 1);
    free(again);
    /* a file under that name with other bytes (a collision, or a file cut short) is never taken for it */
    FILE *f = fopen(path, "wb");
    if (f) fputs("\x89PNG\r\n\x1a\nXX", f), fclose(f);
    CHECK_OK(vt_media_fetch(uri, &o, &again));
    CHECK(again && strcmp(again, path) && strstr(again, "-1.png"));
    if (again && vt_read_file(again, &bytes, &n) == 0) {
        CHECK(n == sizeof want && !memcmp(bytes, want, n));
        free(bytes);
    }
    free(again), free(path);
    CHECK_FAILS(vt_media_fetch("data:text/plain;base64,aGVsbG8=", &o, &path), "the 5 bytes are not an image");
    CHECK_FAILS(vt_media_fetch("data:;base64,", &o, &path), "no bytes (an empty image)");
    CHECK_FAILS(vt_media_fetch("data:;base64,iVBO*", &o, &path), "data:;base64,iVBO*: invalid base64 character '*'");
    vt_media_options small = {.dir = dir, .max_bytes = 8};
    CHECK_FAILS(vt_media_fetch(uri, &small, &path), "larger than the limit of 8 bytes");
}

/* A server that takes connections and never answers: a download must give up at its timeout. */
static void test_download_limits(void) {
    char dir[256], url[128], *path = NULL;
    snprintf(dir, sizeof dir, "%s/cache/images", tmp_root);
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t len = sizeof a;
    CHECK(fd >= 0 && bind(fd, (struct sockaddr *)&a, sizeof a) == 0 && listen(fd, 4) == 0 &&
          getsockname(fd, (struct sockaddr *)&a, &len) == 0);
    snprintf(url, sizeof url, "http://127.0.0.1:%d/slow.png", ntohs(a.sin_port));
    vt_media_options o = {.dir = dir, .timeout_s = 1};
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    CHECK_FAILS(vt_media_fetch(url, &o, &path), "download timed out");
    clock_gettime(CLOCK_MONOTONIC, &t1);
    double waited = (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) * 1e-9;
    CHECK(waited >= 0.9 && waited < 10); /* the 1 s limit, not the default 60 s */
    close(fd);
    /* nothing listens there now */
    CHECK_FAILS(vt_media_fetch(url, &o, &path), "download failed");
    CHECK_FAILS(vt_media_fetch("ftp://127.0.0.1/a.png", &o, &path), "not a data: URI or an http(s) URL");
}

/* A dataset's inline images become files in CACHE/images; its parts name them. */
static void test_dataset_inline(void) {
    const char *path = write_file("inline/rows.jsonl",
        "{\"prompt\": \"p\", \"response\": \"r\", \"image\": \"data:image/png;base64,iVBORw0KGgoAAAAA\"}\n"
        "{\"prompt\": \"p\", \"response\": \"r\", \"image\": {\"bytes\": \"iVBORw0KGgoAAAAA\"}}\n"
        "{\"prompt\": \"p\", \"response\": \"r\", \"image\": \"data:image/png;base64,aGVsbG8=\"}\n");
    vt_dataset *ds = NULL;
    char want[600], images[400];
    snprintf(want, sizeof want, "%s:3: image 1: data:image/png;base64,aGVsbG8=: the 5 bytes are not an image", path);
    CHECK_FAILS(vt_dataset_load(&ds, path), want);
    char *logged = NULL;
    size_t log_len = 0, bad = 0;
    FILE *log = open_memstream(&logged, &log_len);
    char cache[300];
    snprintf(cache, sizeof cache, "%s/elsewhere", tmp_root);
    vt_dataset_options o = {.log = log, .cache_dir = cache};
    CHECK_OK(vt_dataset_load_opts(&ds, path, &o, &bad));
    fclose(log);
    CHECK(bad == 1 && logged && strstr(logged, want));
    free(logged);
    snprintf(images, sizeof images, "%s/images/", cache);
    CHECK(ds && ds->n_samples == 2 && ds->n_images == 2);
    if (ds && ds->n_samples == 2) {
        const char *a = ds->samples[0].messages[0].parts[0].text, *b = ds->samples[1].messages[0].parts[0].text;
        CHECK(strstr(a, images) == a && !strcmp(a, b));
    }
    vt_dataset_free(ds);
}

static void remove_tmp(void) {
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", tmp_root);
    if (system(cmd) != 0) fprintf(stderr, "could not remove %s\n", tmp_root);
}

int main(void) {
    TEST_BEGIN();
    snprintf(tmp_root, sizeof tmp_root, "/tmp/vt_dataset_XXXXXX");
    CHECK(mkdtemp(tmp_root) != NULL);
    test_simple_form();
    test_chat_form();
    test_placeholder_form();
    test_bad_rows();
    test_file();
    test_mlx_vlm_forms();
    test_image_markers();
    test_image_sources();
    test_nul_escapes();
    test_json_array();
    test_splits();
    test_base64();
    test_describe();
    test_inline_images();
    test_download_limits();
    test_dataset_inline();
    remove_tmp();
    return TEST_END();
}
