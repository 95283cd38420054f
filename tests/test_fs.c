/* File helpers: atomic writes replace whole files, directory commits replace whole directories. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "test.h"
#include "util/fs.h"

int main(void) {
    TEST_BEGIN();
    char root[] = "/tmp/vt_fs_XXXXXX";
    CHECK(mkdtemp(root) != NULL);
    char path[512], nested[512], tmp[512], fin[512];
    snprintf(nested, sizeof nested, "%s/a/b/c", root);
    CHECK_OK(vt_mkdir_p(nested));
    CHECK(vt_is_dir(nested));
    CHECK_OK(vt_mkdir_p(nested)); /* exists already: fine */

    snprintf(path, sizeof path, "%s/file.txt", nested);
    CHECK_OK(vt_write_file_atomic(path, "first", 5));
    CHECK_OK(vt_write_file_atomic(path, "second!", 7));
    char *data;
    size_t len;
    CHECK_OK(vt_read_file(path, &data, &len));
    CHECK(len == 7 && !strcmp(data, "second!"));
    free(data);
    CHECK_FAILS(vt_read_file("/nonexistent/f", &data, &len), "/nonexistent/f: cannot open: No such file or directory");
    CHECK_FAILS(vt_read_file(root, &data, &len), ": is a directory, not a file");
#ifdef __linux__ /* a file that opens but cannot be read */
    CHECK_FAILS(vt_read_file("/proc/self/mem", &data, &len), "/proc/self/mem: read error: Input/output error");
#endif
    FILE *opened;
    CHECK_FAILS(vt_open_file(&opened, root, "the dataset file"), ": is a directory, not a file");
    CHECK_FAILS(vt_open_file(&opened, "/nonexistent/d.jsonl", "the dataset file"),
                "/nonexistent/d.jsonl: cannot open the dataset file: No such file or directory");
    /* a path far over PATH_MAX: the message keeps the cause at its end */
    char *long_path = malloc(20001);
    for (int i = 0; i < 20000; i++) long_path[i] = i % 10 ? 'x' : '/';
    long_path[20000] = '\0';
    CHECK_FAILS(vt_read_file(long_path, &data, &len), "xxx: cannot open: File name too long");
    free(long_path);
    CHECK_FAILS(vt_write_file_atomic("/nonexistent/dir/f", "x", 1), "/nonexistent/dir/f.tmp-");
    CHECK_FAILS(vt_mkdir_p(path), "not a directory");

    snprintf(tmp, sizeof tmp, "%s/.tmp-ckpt", root);
    snprintf(fin, sizeof fin, "%s/ckpt", root);
    CHECK_OK(vt_mkdir_p(tmp));
    snprintf(path, sizeof path, "%s/v", tmp);
    CHECK_OK(vt_write_file_atomic(path, "1", 1));
    CHECK_OK(vt_commit_dir(tmp, fin));
    CHECK(!vt_path_exists(tmp) && vt_is_dir(fin));
    CHECK_OK(vt_mkdir_p(tmp));
    CHECK_OK(vt_write_file_atomic(path, "2", 1));
    CHECK_OK(vt_commit_dir(tmp, fin)); /* replaces the old directory */
    snprintf(path, sizeof path, "%s/v", fin);
    CHECK_OK(vt_read_file(path, &data, &len));
    CHECK(!strcmp(data, "2"));
    free(data);

    CHECK_OK(vt_remove_tree(root));
    CHECK(!vt_path_exists(root));
    CHECK_OK(vt_remove_tree(root)); /* missing: fine */
    return TEST_END();
}
