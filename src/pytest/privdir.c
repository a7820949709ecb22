/* privdir: private per-run temporary directories (see privdir.h). */
#include "pytest/privdir.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include "mem/procmem.h"
#include "base/strbuf.h"

#define PREFIX "pytestmon-"

int privdir_owner_of(const char *root, int pid, PrivdirOwner *out)
{
    StrBuf path = STRBUF_INIT, text = STRBUF_INIT;
    struct stat st;
    int rc;
    procmem_path(&path, root, "/proc/%d/stat", pid);
    if ((rc = procmem_read_file(strbuf_cstr(&path), &text)) < 0)
        goto error;
    if ((rc = procmem_parse_stat_start(strbuf_cstr(&text), &out->start)) < 0)
        goto error;
    procmem_path(&path, root, "/proc/%d/ns/pid", pid);
    if (stat(strbuf_cstr(&path), &st) != 0) {
        rc = -errno;
        goto error;
    }
    out->ns = (uint64_t)st.st_ino;
    out->pid = pid;
error:
    strbuf_destroy(&path);
    strbuf_destroy(&text);
    return rc;
}

const char *privdir_base(void)
{
    const char *base = getenv("TMPDIR");
    return base && *base ? base : "/tmp";
}

char *privdir_create_error(const char *base, int rc)
{
    StrBuf sb = STRBUF_INIT;
    if (rc == -ENOSPC || rc == -EDQUOT)
        strbuf_printf(&sb, "no space left in $TMPDIR (%s) for a private temporary directory", base);
    else
        strbuf_printf(&sb, "cannot create a private temporary directory in %s: %s", base, strerror(-rc));
    return strbuf_detach(&sb);
}

bool privdir_nearly_full(const char *path)
{
    struct statvfs st;
    return statvfs(path, &st) == 0 && (uint64_t)st.f_bavail * st.f_frsize < PRIVDIR_LOW_SPACE;
}

int privdir_create(const char *base, const PrivdirOwner *owner, char **path)
{
    StrBuf sb = STRBUF_INIT;
    strbuf_printf(&sb, "%s/" PREFIX "%" PRIu64 "-%d-%" PRIu64 "-XXXXXX", base, owner->ns, owner->pid,
                  owner->start);
    char *tmpl = strbuf_detach(&sb);
    if (!mkdtemp(tmpl)) { /* mkdtemp creates it 0700 */
        int e = errno;
        free(tmpl);
        return -e;
    }
    *path = tmpl;
    return 0;
}

static int remove_at(int dirfd, const char *name, int depth);

/* Empties the directory open as `fd` (consumed). */
static int clear_dir(int fd, int depth)
{
    DIR *d = fdopendir(fd);
    if (!d) {
        int e = -errno;
        close(fd);
        return e;
    }
    int rc = 0;
    struct dirent *de;
    /* Removing the entry just read does not disturb readdir on Linux (systemd's rm_rf does
     * the same). */
    while ((de = readdir(d)) != NULL) {
        if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
            continue;
        int r = remove_at(dirfd(d), de->d_name, depth + 1);
        if (r < 0 && rc == 0)
            rc = r;
    }
    closedir(d);
    return rc;
}

/* Removes the entry `name` of the directory `dirfd`: a file or symlink by unlinkat, a
 * directory after emptying it through a descriptor opened with O_NOFOLLOW. */
static int remove_at(int dirfd, const char *name, int depth)
{
    if (unlinkat(dirfd, name, 0) == 0 || errno == ENOENT)
        return 0;
    if (errno != EISDIR && errno != EPERM)
        return -errno;
    if (depth > PRIVDIR_MAX_DEPTH)
        return -ELOOP;
    int fd = openat(dirfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (fd < 0)
        return errno == ENOENT ? 0 : -errno;
    int rc = clear_dir(fd, depth);
    if (unlinkat(dirfd, name, AT_REMOVEDIR) != 0 && errno != ENOENT && rc == 0)
        rc = -errno;
    return rc;
}

int privdir_remove(const char *path)
{
    return remove_at(AT_FDCWD, path, 0);
}

/* Parses "pytestmon-NS-PID-START-XXXXXX" (6 template characters); false for anything else. */
static bool parse_name(const char *name, PrivdirOwner *o)
{
    if (strncmp(name, PREFIX, strlen(PREFIX)) != 0)
        return false;
    const char *p = name + strlen(PREFIX);
    uint64_t v[3];
    for (int i = 0; i < 3; i++) {
        if (*p < '0' || *p > '9')
            return false;
        char *end;
        errno = 0;
        v[i] = strtoull(p, &end, 10);
        if (errno || *end != '-')
            return false;
        p = end + 1;
    }
    if (strlen(p) != 6 || v[1] == 0 || v[1] > INT32_MAX)
        return false;
    o->ns = v[0];
    o->pid = (int)v[1];
    o->start = v[2];
    return true;
}

/* True unless the owner is certainly gone: its /proc entry is missing or names a process
 * started at another time. Anything unclear keeps the directory. */
static bool owner_alive(const char *root, const PrivdirOwner *o)
{
    StrBuf path = STRBUF_INIT, text = STRBUF_INIT;
    procmem_path(&path, root, "/proc/%d/stat", o->pid);
    int rc = procmem_read_file(strbuf_cstr(&path), &text);
    uint64_t start = 0;
    bool alive = true;
    if (rc == -ENOENT || rc == -ESRCH)
        alive = false;
    else if (rc == 0 && procmem_parse_stat_start(strbuf_cstr(&text), &start) == 0)
        alive = start == o->start;
    strbuf_destroy(&path);
    strbuf_destroy(&text);
    return alive;
}

size_t privdir_sweep(const char *base, const char *root, const PrivdirOwner *self)
{
    int bfd = open(base, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (bfd < 0)
        return 0;
    DIR *d = fdopendir(bfd);
    if (!d) {
        close(bfd);
        return 0;
    }
    size_t removed = 0;
    struct dirent *de;
    while ((de = readdir(d)) != NULL) {
        PrivdirOwner o;
        struct stat st;
        if (!parse_name(de->d_name, &o) || o.ns != self->ns || owner_alive(root, &o))
            continue;
        if (fstatat(dirfd(d), de->d_name, &st, AT_SYMLINK_NOFOLLOW) != 0 || !S_ISDIR(st.st_mode) ||
            st.st_uid != geteuid())
            continue;
        if (remove_at(dirfd(d), de->d_name, 0) == 0)
            removed++;
    }
    closedir(d);
    return removed;
}
