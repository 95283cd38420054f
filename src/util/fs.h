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
/* Puts the finished directory `tmp_dir` at `final_dir`, replacing an old one, and fsyncs the parent: at
 * every instant final_dir is the old directory or the new one, whole (see fs.c for how). */
int vt_replace_dir(const char *tmp_dir, const char *final_dir);
/* After a kill in the middle of vt_replace_dir's fallback (two renames): puts the old copy back when
 * final_dir is missing.  A no-op where nothing was interrupted. */
int vt_recover_dir(const char *final_dir);
/* "out/" → "out" (trailing slashes dropped; "/" stays); error if it does not fit. */
int vt_path_trim(char *buf, size_t cap, const char *path);
/* Whether a and b exist and are the same file or directory (symlinks, "..", trailing slashes resolved:
 * st_dev/st_ino compared). */
bool vt_same_file(const char *a, const char *b);
/* Whether existing `dir` is `path` or a directory above it (so replacing dir would replace path). */
bool vt_dir_holds(const char *dir, const char *path);
/* Whether a directory has no entries (besides . and ..); false when it cannot be read. */
bool vt_dir_is_empty(const char *dir);
/* The output policy for a directory a command replaces as a whole: `dir` may be missing, empty, or one the
 * same command wrote earlier — recognised by its `marker` file, which lists every entry the command wrote
 * (vt_write_dir_marker); a directory holding anything else is refused, naming the first such entry.
 * marker NULL: only a missing or empty directory.  `what` names the option in the message ("--out"). */
int vt_check_out_dir(const char *dir, const char *marker, const char *what);
/* Puts the finished directory `tmp_dir` at `final_dir` where that is missing or an empty directory (one
 * rename: never over anything). */
int vt_place_dir(const char *tmp_dir, const char *final_dir);
/* Removes the temporary files of atomic writes a kill interrupted (NAME.tmp-PID, NAME.tmp-PID.safetensors)
 * from dir; nothing else. */
int vt_remove_temp_files(const char *dir);
/* The output policy for a file: `out` (an option's value, named by `what`) may replace a file of that name —
 * the user named it — but it may not be a directory, nor be (or hold) one of `inputs` (NULL entries skipped),
 * however spelled.  Error says nothing was written. */
int vt_check_out_file(const char *out, const char *what, const char *const *inputs, int n_inputs);
/* Writes dir/marker: the line `header`, then the name of every entry of dir, one a line. */
int vt_write_dir_marker(const char *dir, const char *marker, const char *header);
/* CRC-32 (zlib's polynomial) and size of a file's bytes, which are also flushed to disk. */
int vt_file_crc32(const char *path, unsigned long *crc, unsigned long long *size);
/* An exclusive advisory lock (flock) on a directory, held until *fd is closed (or the process ends, kill -9
 * included): a second holder gets an error naming `what`. */
int vt_lock_dir(const char *dir, const char *what, int *fd);
void vt_unlock_dir(int fd);
int vt_fsync_path(const char *path);              /* a file or a directory */
int vt_remove_tree(const char *path);             /* like rm -rf; a missing path is fine */
/* "dir/name" into buf; error if it does not fit. */
int vt_path_join(char *buf, size_t cap, const char *dir, const char *name);

#ifdef __cplusplus
}
#endif

#endif
