/* renameat2 (Linux) is a GNU extension of stdio.h */
#define _GNU_SOURCE
#include "util/fs.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

#include "util/error.h"

int vt_path_join(char *buf, size_t cap, const char *dir, const char *name) {
    int n = snprintf(buf, cap, "%s/%s", dir, name);
    if (n < 0 || (size_t)n >= cap) return vt_err("path too long: %s/%s", dir, name);
    return 0;
}

bool vt_path_exists(const char *path) {
    struct stat st;
    return stat(path, &st) == 0;
}

bool vt_is_dir(const char *path) {
    struct stat st;
    return stat(path, &st) == 0 && S_ISDIR(st.st_mode);
}

int vt_mkdir_p(const char *path) {
    char buf[4096];
    if (snprintf(buf, sizeof buf, "%s", path) >= (int)sizeof buf) return vt_err("path too long: %s", path);
    for (char *p = buf + 1; *p; p++) {
        if (*p != '/') continue;
        *p = '\0';
        if (mkdir(buf, 0755) != 0 && errno != EEXIST) return vt_err("%s: cannot create directory: %s", buf, strerror(errno));
        *p = '/';
    }
    if (mkdir(buf, 0755) != 0 && errno != EEXIST) return vt_err("%s: cannot create directory: %s", buf, strerror(errno));
    if (!vt_is_dir(buf)) return vt_err("%s: exists and is not a directory", buf);
    return 0;
}

int vt_open_file(FILE **out, const char *path, const char *what) {
    const char *sep = what ? " " : "", *name = what ? what : "";
    FILE *f = fopen(path, "rb");
    if (!f) return vt_err("%s: cannot open%s%s: %s", path, sep, name, strerror(errno));
    struct stat st;
    if (fstat(fileno(f), &st) == 0 && S_ISDIR(st.st_mode)) { /* fopen opens a directory; reading it fails */
        fclose(f);
        return vt_err("%s: is a directory, not a file", path);
    }
    *out = f;
    return 0;
}

int vt_read_file(const char *path, char **data, size_t *len) {
    FILE *f;
    TRY(vt_open_file(&f, path, NULL));
    char *buf = NULL;
    size_t n = 0, cap = 0;
    for (;;) {
        if (n + 65536 + 1 > cap) {
            cap = (n + 65536 + 1) * 2;
            char *grown = realloc(buf, cap);
            if (!grown) {
                free(buf);
                fclose(f);
                return vt_err("%s: out of memory reading the file", path);
            }
            buf = grown;
        }
        size_t got = fread(buf + n, 1, cap - n - 1, f);
        n += got;
        if (got == 0) break;
    }
    int failed = ferror(f), cause = errno;
    fclose(f);
    if (failed) {
        free(buf);
        return vt_err("%s: read error: %s", path, strerror(cause));
    }
    buf[n] = '\0';
    *data = buf;
    if (len) *len = n;
    return 0;
}

int vt_fsync_path(const char *path) {
    int fd = open(path, O_RDONLY);
    if (fd < 0) return vt_err("%s: cannot open to sync: %s", path, strerror(errno));
    int rc = fsync(fd);
    close(fd);
    /* Some file systems refuse fsync on directories (EINVAL); the rename is still atomic there. */
    if (rc != 0 && errno != EINVAL) return vt_err("%s: fsync failed: %s", path, strerror(errno));
    return 0;
}

static int fsync_parent(const char *path) {
    char dir[4096];
    snprintf(dir, sizeof dir, "%s", path);
    char *slash = strrchr(dir, '/');
    if (!slash) return vt_fsync_path(".");
    if (slash == dir) slash[1] = '\0';
    else *slash = '\0';
    return vt_fsync_path(dir);
}

int vt_write_file_atomic(const char *path, const void *data, size_t len) {
    char tmp[4096];
    if (snprintf(tmp, sizeof tmp, "%s.tmp-%d", path, (int)getpid()) >= (int)sizeof tmp)
        return vt_err("path too long: %s", path);
    int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    if (fd < 0) return vt_err("%s: cannot create: %s", tmp, strerror(errno));
    const char *p = data;
    size_t left = len;
    while (left > 0) {
        ssize_t w = write(fd, p, left);
        if (w < 0 && errno == EINTR) continue;
        if (w <= 0) {
            int e = errno;
            close(fd);
            unlink(tmp);
            return vt_err("%s: write failed: %s", tmp, strerror(e));
        }
        p += w;
        left -= (size_t)w;
    }
    if (fsync(fd) != 0 || close(fd) != 0) {
        unlink(tmp);
        return vt_err("%s: could not flush to disk: %s", tmp, strerror(errno));
    }
    if (rename(tmp, path) != 0) {
        int e = errno;
        unlink(tmp);
        return vt_err("%s: cannot rename into place: %s", path, strerror(e));
    }
    return fsync_parent(path);
}

int vt_remove_tree(const char *path) {
    struct stat st;
    if (lstat(path, &st) != 0) return errno == ENOENT ? 0 : vt_err("%s: %s", path, strerror(errno));
    if (S_ISDIR(st.st_mode)) {
        DIR *d = opendir(path);
        if (!d) return vt_err("%s: cannot open directory: %s", path, strerror(errno));
        struct dirent *e;
        char child[4096];
        int rc = 0;
        while (rc == 0 && (e = readdir(d))) {
            if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, "..")) continue;
            rc = vt_path_join(child, sizeof child, path, e->d_name) || vt_remove_tree(child);
        }
        closedir(d);
        if (rc) return -1;
        if (rmdir(path) != 0) return vt_err("%s: cannot remove: %s", path, strerror(errno));
        return 0;
    }
    if (unlink(path) != 0) return vt_err("%s: cannot remove: %s", path, strerror(errno));
    return 0;
}

int vt_path_trim(char *buf, size_t cap, const char *path) {
    size_t n = strlen(path);
    while (n > 1 && path[n - 1] == '/') n--;
    if (n + 1 > cap) return vt_err("path too long: %s", path);
    memcpy(buf, path, n);
    buf[n] = '\0';
    return 0;
}

/* Swaps two directory entries in one step, where the system can. */
static int exchange(const char *a, const char *b) {
#if defined(__linux__) && defined(RENAME_EXCHANGE)
    return renameat2(AT_FDCWD, a, AT_FDCWD, b, RENAME_EXCHANGE);
#elif defined(__APPLE__) && defined(RENAME_SWAP)
    return renamex_np(a, b, RENAME_SWAP);
#else
    (void)a, (void)b;
    errno = ENOSYS;
    return -1;
#endif
}

/* Why not two renames (old aside, new in): a kill between them leaves no directory at the final name.
 * So the new directory and the old one are exchanged atomically (renameat2 RENAME_EXCHANGE on Linux,
 * renamex_np RENAME_SWAP on macOS) and the old one, now under the temporary name, is removed after; a kill
 * before that removal leaves a stale temporary directory, which the next run cleans up.  Only where the
 * file system cannot exchange (EINVAL, ENOTSUP: some network file systems) do we fall back to two renames,
 * keeping the old copy as FINAL.old-PID, which vt_recover_dir puts back if a kill came between them. */
int vt_replace_dir(const char *tmp_dir, const char *final_dir) {
    char tmp[4096], fin[4096], old[4200];
    TRY(vt_path_trim(tmp, sizeof tmp, tmp_dir));
    TRY(vt_path_trim(fin, sizeof fin, final_dir));
    struct stat st;
    if (lstat(fin, &st) != 0) { /* nothing to replace: one rename */
        if (rename(tmp, fin) != 0) return vt_err("%s: cannot rename into place: %s", fin, strerror(errno));
        return fsync_parent(fin);
    }
    if (exchange(tmp, fin) == 0) {
        TRY(fsync_parent(fin));
        return vt_remove_tree(tmp); /* the old copy */
    }
    if (errno != EINVAL && errno != ENOSYS && errno != ENOTSUP && errno != EOPNOTSUPP)
        return vt_err("%s: cannot replace the directory: %s", fin, strerror(errno));
    snprintf(old, sizeof old, "%s.old-%d", fin, (int)getpid());
    if (rename(fin, old) != 0) return vt_err("%s: cannot move the old copy aside: %s", fin, strerror(errno));
    if (rename(tmp, fin) != 0) {
        int e = errno;
        rename(old, fin);
        return vt_err("%s: cannot rename into place: %s", fin, strerror(e));
    }
    TRY(fsync_parent(fin));
    return vt_remove_tree(old);
}

/* Splits "a/b/name" into the directory "a/b" (or ".") and "name". */
static int split_path(const char *path, char *dir, size_t cap, const char **base) {
    TRY(vt_path_trim(dir, cap, path));
    char *slash = strrchr(dir, '/');
    *base = path + (slash ? (size_t)(slash - dir) + 1 : 0);
    if (!slash) snprintf(dir, cap, ".");
    else if (slash == dir) slash[1] = '\0';
    else *slash = '\0';
    return 0;
}

int vt_recover_dir(const char *final_dir) {
    char fin[4096], parent[4096], old[8200];
    const char *base;
    TRY(vt_path_trim(fin, sizeof fin, final_dir));
    TRY(split_path(fin, parent, sizeof parent, &base));
    size_t blen = strlen(base);
    DIR *d = opendir(parent);
    if (!d) return 0;
    struct dirent *e;
    int rc = 0;
    while (rc == 0 && (e = readdir(d))) {
        if (strncmp(e->d_name, base, blen) || strncmp(e->d_name + blen, ".old-", 5)) continue;
        snprintf(old, sizeof old, "%s/%s", parent, e->d_name);
        if (!vt_path_exists(fin)) rc = rename(old, fin) ? vt_err("%s: cannot restore: %s", old, strerror(errno)) : 0;
        else rc = vt_remove_tree(old); /* the replacement finished: the old copy is stale */
    }
    closedir(d);
    return rc;
}

bool vt_same_file(const char *a, const char *b) {
    struct stat sa, sb;
    return stat(a, &sa) == 0 && stat(b, &sb) == 0 && sa.st_dev == sb.st_dev && sa.st_ino == sb.st_ino;
}

bool vt_dir_holds(const char *dir, const char *path) {
    struct stat sd, sp;
    char *real = realpath(path, NULL);
    if (!real || stat(dir, &sd) != 0) {
        free(real);
        return false;
    }
    bool found = false;
    for (;;) { /* path, then each directory above it, up to / */
        if (stat(real, &sp) == 0 && sp.st_dev == sd.st_dev && sp.st_ino == sd.st_ino) {
            found = true;
            break;
        }
        char *slash = strrchr(real, '/');
        if (!slash || (slash == real && real[1] == '\0')) break;
        if (slash == real) slash[1] = '\0';
        else *slash = '\0';
    }
    free(real);
    return found;
}

bool vt_dir_is_empty(const char *dir) {
    DIR *d = opendir(dir);
    if (!d) return false;
    struct dirent *e;
    bool empty = true;
    while (empty && (e = readdir(d))) empty = !strcmp(e->d_name, ".") || !strcmp(e->d_name, "..");
    closedir(d);
    return empty;
}

/* Whether `name` is one of the lines after the first of the marker's text. */
static bool listed(const char *marker_text, const char *name) {
    const char *line = strchr(marker_text, '\n');
    size_t n = strlen(name);
    while (line) {
        line++;
        const char *end = strchr(line, '\n');
        size_t len = end ? (size_t)(end - line) : strlen(line);
        if (len == n && !strncmp(line, name, n)) return true;
        line = end;
    }
    return false;
}

int vt_check_out_dir(const char *dir, const char *marker, const char *what) {
    struct stat st;
    if (stat(dir, &st) != 0) return errno == ENOENT ? 0 : vt_err("%s %s: %s", what, dir, strerror(errno));
    if (!S_ISDIR(st.st_mode)) return vt_err("%s %s: exists and is not a directory", what, dir);
    char path[4200], *text = NULL;
    if (marker) TRY(vt_path_join(path, sizeof path, dir, marker));
    if (marker && vt_path_exists(path)) TRY(vt_read_file(path, &text, NULL));
    DIR *d = opendir(dir);
    if (!d) {
        free(text);
        return vt_err("%s %s: cannot list the directory: %s", what, dir, strerror(errno));
    }
    struct dirent *e;
    int rc = 0;
    while (rc == 0 && (e = readdir(d))) {
        const char *n = e->d_name;
        if (!strcmp(n, ".") || !strcmp(n, "..") || (text && (!strcmp(n, marker) || listed(text, n)))) continue;
        rc = text ? vt_err("%s %s: holds '%s', which vlmtune did not write there; it would be lost: choose a new or "
                           "empty directory (nothing was written)", what, dir, n)
                  : vt_err("%s %s: the directory is not empty (it holds '%s') and vlmtune did not write it; its "
                           "contents would be lost: choose a new or empty directory (nothing was written)",
                           what, dir, n);
    }
    closedir(d);
    free(text);
    return rc;
}

int vt_write_dir_marker(const char *dir, const char *marker, const char *header) {
    DIR *d = opendir(dir);
    if (!d) return vt_err("%s: cannot list the directory: %s", dir, strerror(errno));
    size_t len = strlen(header) + 1, cap = len + 256;
    char *text = malloc(cap);
    int rc = text ? 0 : vt_err("out of memory");
    if (text) snprintf(text, cap, "%s\n", header);
    struct dirent *e;
    while (rc == 0 && (e = readdir(d))) {
        const char *n = e->d_name;
        if (!strcmp(n, ".") || !strcmp(n, "..") || !strcmp(n, marker)) continue;
        size_t nl = strlen(n);
        if (len + nl + 2 > cap) {
            char *grown = realloc(text, cap = (len + nl + 2) * 2);
            if (!grown) {
                rc = vt_err("out of memory");
                break;
            }
            text = grown;
        }
        memcpy(text + len, n, nl);
        text[len + nl] = '\n';
        len += nl + 1;
    }
    closedir(d);
    char path[4200];
    if (rc == 0) rc = vt_path_join(path, sizeof path, dir, marker) || vt_write_file_atomic(path, text, len);
    free(text);
    return rc;
}

int vt_file_crc32(const char *path, unsigned long *crc, unsigned long long *size) {
    int fd = open(path, O_RDONLY);
    if (fd < 0) return vt_err("%s: cannot open: %s", path, strerror(errno));
    enum { CHUNK = 1 << 20 };
    unsigned char *buf = malloc(CHUNK);
    if (!buf) {
        close(fd);
        return vt_err("out of memory");
    }
    uLong c = crc32(0L, Z_NULL, 0);
    unsigned long long total = 0;
    ssize_t got;
    while ((got = read(fd, buf, CHUNK)) != 0) {
        if (got < 0 && errno == EINTR) continue;
        if (got < 0) break;
        c = crc32(c, buf, (uInt)got);
        total += (unsigned long long)got;
    }
    int e = got < 0 ? errno : 0, synced = got < 0 ? 0 : fsync(fd);
    if (synced != 0 && errno != EINVAL) e = errno;
    free(buf);
    close(fd);
    if (e) return vt_err("%s: cannot read or sync: %s", path, strerror(e));
    *crc = c, *size = total;
    return 0;
}

int vt_lock_dir(const char *dir, const char *what, int *fd) {
    int f = open(dir, O_RDONLY);
    if (f < 0) return vt_err("%s: cannot open to lock: %s", dir, strerror(errno));
    if (flock(f, LOCK_EX | LOCK_NB) != 0) {
        int e = errno;
        close(f);
        if (e == EWOULDBLOCK) return vt_err("%s is in use by another %s (it holds the directory's lock)", dir, what);
        return vt_err("%s: cannot lock: %s", dir, strerror(e));
    }
    *fd = f;
    return 0;
}

void vt_unlock_dir(int fd) {
    if (fd >= 0) close(fd);
}

int vt_place_dir(const char *tmp_dir, const char *final_dir) {
    char fin[4096];
    TRY(vt_path_trim(fin, sizeof fin, final_dir));
    /* rename(2) replaces an empty directory and refuses (ENOTEMPTY, EEXIST) one that holds anything */
    if (rename(tmp_dir, fin) != 0) return vt_err("%s: cannot put the directory in place: %s", fin, strerror(errno));
    return fsync_parent(fin);
}

/* "NAME.tmp-DIGITS" or "NAME.tmp-DIGITS.safetensors": vt_write_file_atomic's and mx_save_safetensors's. */
static bool is_temp_name(const char *n) {
    const char *t = strstr(n, ".tmp-");
    if (!t || t == n) return false;
    const char *p = t + 5, *digits = p;
    while (*p >= '0' && *p <= '9') p++;
    return p > digits && (!*p || !strcmp(p, ".safetensors"));
}

int vt_remove_temp_files(const char *dir) {
    DIR *d = opendir(dir);
    if (!d) return vt_err("%s: cannot list the directory: %s", dir, strerror(errno));
    struct dirent *e;
    char path[4400];
    int rc = 0;
    while (rc == 0 && (e = readdir(d))) {
        if (!is_temp_name(e->d_name)) continue;
        struct stat st;
        rc = vt_path_join(path, sizeof path, dir, e->d_name);
        if (rc == 0 && lstat(path, &st) == 0 && S_ISREG(st.st_mode) && unlink(path) != 0)
            rc = vt_err("%s: cannot remove: %s", path, strerror(errno));
    }
    closedir(d);
    return rc;
}

int vt_check_out_file(const char *out, const char *what, const char *const *inputs, int n_inputs) {
    if (vt_is_dir(out)) return vt_err("%s %s: is a directory; give a file name (nothing was written)", what, out);
    for (int i = 0; i < n_inputs; i++)
        if (inputs[i] && vt_dir_holds(out, inputs[i]))
            return vt_err("%s %s: is the input %s; it would be overwritten: choose another file (nothing was "
                          "written)", what, out, inputs[i]);
    return 0;
}
