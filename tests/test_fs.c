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
    CHECK_OK(vt_replace_dir(tmp, fin));
    CHECK(!vt_path_exists(tmp) && vt_is_dir(fin));
    CHECK_OK(vt_mkdir_p(tmp));
    CHECK_OK(vt_write_file_atomic(path, "2", 1));
    CHECK_OK(vt_replace_dir(tmp, fin)); /* replaces the old directory */
    snprintf(path, sizeof path, "%s/v", fin);
    CHECK_OK(vt_read_file(path, &data, &len));
    CHECK(!strcmp(data, "2"));
    free(data);

    /* the replacement is one exchange: no old copy is left next to it; a trailing slash is the same name */
    CHECK_OK(vt_mkdir_p(tmp));
    snprintf(path, sizeof path, "%s/v", tmp);
    CHECK_OK(vt_write_file_atomic(path, "3", 1));
    char fin_slash[600];
    snprintf(fin_slash, sizeof fin_slash, "%s/", fin);
    CHECK_OK(vt_replace_dir(tmp, fin_slash));
    snprintf(path, sizeof path, "%s/v", fin);
    CHECK_OK(vt_read_file(path, &data, &len));
    CHECK(!strcmp(data, "3"));
    free(data);
    CHECK(!vt_path_exists(tmp) && vt_dir_is_empty(nested) == false);
    /* a kill between the fallback's two renames: the old copy comes back */
    char old[600];
    snprintf(old, sizeof old, "%s.old-999999", fin);
    CHECK(rename(fin, old) == 0);
    CHECK_OK(vt_recover_dir(fin));
    CHECK(vt_is_dir(fin) && !vt_path_exists(old));
    CHECK_OK(vt_mkdir_p(old)); /* ... and after the second rename: the stale old copy goes */
    CHECK_OK(vt_recover_dir(fin));
    CHECK(vt_is_dir(fin) && !vt_path_exists(old));

    /* the same directory under other names: trailing slash, "..", a symlink */
    char other[600], link[600];
    snprintf(other, sizeof other, "%s/a/../ckpt/", root);
    snprintf(link, sizeof link, "%s/link", root);
    CHECK(symlink(fin, link) == 0);
    CHECK(vt_same_file(fin, other) && vt_same_file(fin, link) && !vt_same_file(fin, nested));
    CHECK(!vt_same_file(fin, "/nonexistent"));
    snprintf(other, sizeof other, "%s/a/b/c/file.txt", root);
    snprintf(path, sizeof path, "%s/a", root);
    CHECK(vt_dir_holds(path, other) && vt_dir_holds(root, other) && vt_dir_holds(other, other));
    CHECK(!vt_dir_holds(other, path) && !vt_dir_holds(fin, other) && !vt_dir_holds(path, "/nonexistent"));

    /* the output policy: missing, empty, or written by us (every entry listed in the marker) */
    char out[600], note[700];
    snprintf(out, sizeof out, "%s/out", root);
    CHECK_OK(vt_check_out_dir(out, ".marker", "--out"));
    CHECK_OK(vt_mkdir_p(out));
    CHECK_OK(vt_check_out_dir(out, ".marker", "--out"));
    snprintf(note, sizeof note, "%s/notes.txt", out);
    CHECK_OK(vt_write_file_atomic(note, "mine", 4));
    CHECK_FAILS(vt_check_out_dir(out, ".marker", "--out"), "holds 'notes.txt'");
    CHECK_OK(vt_write_dir_marker(out, ".marker", "written by a test"));
    CHECK_OK(vt_check_out_dir(out, ".marker", "--out"));
    snprintf(note, sizeof note, "%s/later.txt", out);
    CHECK_OK(vt_write_file_atomic(note, "added after", 11));
    CHECK_FAILS(vt_check_out_dir(out, ".marker", "--out"), "holds 'later.txt', which vlmtune did not write");
    CHECK_FAILS(vt_check_out_dir(note, ".marker", "--out"), "exists and is not a directory");

    /* CRC-32's check value (the bytes "123456789"), and the size */
    unsigned long crc;
    unsigned long long size;
    snprintf(path, sizeof path, "%s/check", root);
    CHECK_OK(vt_write_file_atomic(path, "123456789", 9));
    CHECK_OK(vt_file_crc32(path, &crc, &size));
    CHECK(crc == 0xCBF43926UL && size == 9);
    CHECK_FAILS(vt_file_crc32("/nonexistent/f", &crc, &size), "/nonexistent/f: cannot open");

    /* one holder of a directory's lock at a time */
    int lock1 = -1, lock2 = -1;
    CHECK_OK(vt_lock_dir(root, "test", &lock1));
    CHECK_FAILS(vt_lock_dir(root, "test", &lock2), "is in use by another test");
    vt_unlock_dir(lock1);
    CHECK_OK(vt_lock_dir(root, "test", &lock2));
    vt_unlock_dir(lock2);

    CHECK_OK(vt_remove_tree(root));
    CHECK(!vt_path_exists(root));
    CHECK_OK(vt_remove_tree(root)); /* missing: fine */
    return TEST_END();
}
