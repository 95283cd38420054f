/* fs.h — small file-system helpers that keep what is written whole.
 *
 * Checkpoints must survive a crash or a kill at any moment: a file is written
 * under a temporary name, flushed to disk, then renamed over the final name;
 * a checkpoint directory is filled under a temporary name and renamed into
 * place the same way, so a reader sees the old version or the new one, never
 * half of either. */
#ifndef VT_FS_H
#define VT_FS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

#ifdef __cplusplus
extern "C" {
#endif

int vt_mkdir_p(const char *path);                 /* like mkdir -p */
bool vt_path_exists(const char *path);
bool vt_is_dir(const char *path);
/* Opens a file for reading ("rb"); the error names the cause (strerror) and says when the path is a
 * directory.  `what` ("the dataset file") names the file in the message when it cannot be opened; may be NULL. */
int vt_open_file(FILE **out, const char *path, const char *what);
/* Reads a whole file; *data is NUL-terminated (not counted in *len).  Caller frees.  Errors as vt_open_file's,
 * and a failed read names its cause. */
int vt_read_file(const char *path, char **data, size_t *len);
/* Writes path.tmp-PID, fsyncs it, renames it to path, fsyncs the directory. */
int vt_write_file_atomic(const char *path, const void *data, size_t len);
/* Renames the finished directory `tmp_dir` to `final_dir` (replacing an old one) and fsyncs the parent. */
int vt_commit_dir(const char *tmp_dir, const char *final_dir);
int vt_fsync_path(const char *path);              /* a file or a directory */
int vt_remove_tree(const char *path);             /* like rm -rf; a missing path is fine */
/* "dir/name" into buf; error if it does not fit. */
int vt_path_join(char *buf, size_t cap, const char *dir, const char *name);

#ifdef __cplusplus
}
#endif

#endif
