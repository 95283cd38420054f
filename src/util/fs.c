#include "util/fs.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

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

int vt_commit_dir(const char *tmp_dir, const char *final_dir) {
    char old[4096];
    if (snprintf(old, sizeof old, "%s.old-%d", final_dir, (int)getpid()) >= (int)sizeof old)
        return vt_err("path too long: %s", final_dir);
    /* Replacing a directory is two renames; between them the old copy still exists under `old`. */
    bool had_old = vt_path_exists(final_dir);
    if (had_old && rename(final_dir, old) != 0)
        return vt_err("%s: cannot move the old copy aside: %s", final_dir, strerror(errno));
    if (rename(tmp_dir, final_dir) != 0) {
        int e = errno;
        if (had_old) rename(old, final_dir);
        return vt_err("%s: cannot rename into place: %s", final_dir, strerror(e));
    }
    TRY(fsync_parent(final_dir));
    return had_old ? vt_remove_tree(old) : 0;
}
