/* JSONL dataset rows: the three accepted forms, and a clear error for each kind of bad row. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "test.h"
#include "data/dataset.h"

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
    CHECK_FAILS(parse(&s, "{\"prompt\": \"p\", \"response\": \"r\", \"image\": 5}"), "path or a list");
    CHECK_FAILS(parse(&s, "{\"prompt\": \"\xff\", \"response\": \"r\"}"), "not valid UTF-8");
    CHECK_FAILS(parse(&s, "{\"messages\": [{\"role\": \"robot\", \"content\": \"x\"}]}"), "unknown role \"robot\"");
    CHECK_FAILS(parse(&s, "{\"messages\": [{\"role\": \"user\", \"content\": \"x\"}]}"), "no assistant turn");
    CHECK_FAILS(parse(&s, "{\"messages\": []}"), "empty");
    CHECK_FAILS(parse(&s, "{\"messages\": [{\"role\": \"user\", \"content\": \"<image><image>\"}, {\"role\": "
                          "\"assistant\", \"content\": \"a\"}], \"images\": [\"1.jpg\"]}"),
                "more <image> placeholders");
    CHECK_FAILS(parse(&s, "{\"messages\": [{\"role\": \"user\", \"content\": \"<image>\"}, {\"role\": "
                          "\"assistant\", \"content\": \"a\"}], \"images\": [\"1.jpg\", \"2.jpg\"]}"),
                "1 <image> placeholders but 2 images");
    CHECK_FAILS(parse(&s, "{\"messages\": [{\"role\": \"user\", \"content\": [{\"type\": \"video\"}]}]}"),
                "unknown content type \"video\"");
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

int main(void) {
    TEST_BEGIN();
    test_simple_form();
    test_chat_form();
    test_placeholder_form();
    test_bad_rows();
    test_file();
    return TEST_END();
}
