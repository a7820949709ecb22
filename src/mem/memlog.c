/* memlog: append-only JSON-lines memory log with size rotation shared between writers. */
#include "mem/memlog.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/logdir.h"
#include "base/strbuf.h"

void memlog_init(MemLog *log, size_t max_bytes)
{
    memset(log, 0, sizeof *log);
    log->fd = log->lock_fd = -1;
    log->max_bytes = max_bytes ? max_bytes : 1024 * 1024;
}

static void close_fds(MemLog *log)
{
    if (log->fd >= 0)
        close(log->fd);
    if (log->lock_fd >= 0)
        close(log->lock_fd);
    log->fd = log->lock_fd = -1;
}

static void memlog_off(MemLog *log, const char *what, int err)
{
    StrBuf sb = STRBUF_INIT;
    strbuf_printf(&sb, "memory log is off: %s %s: %s", what, log->path ? log->path : "", strerror(err));
    free(log->error);
    log->error = strbuf_detach(&sb);
    close_fds(log);
}

void memlog_destroy(MemLog *log)
{
    close_fds(log);
    free(log->path);
    free(log->error);
    memset(log, 0, sizeof *log);
    log->fd = log->lock_fd = -1;
}

void memlog_close(MemLog *log, const char *reason)
{
    close_fds(log);
    free(log->path);
    log->path = NULL;
    free(log->error);
    log->error = xstrdup(reason);
}

static int open_current(MemLog *log)
{
    int fd = logdir_open(log->path, O_WRONLY | O_CREAT | O_APPEND, 0600);
    if (fd < 0) {
        memlog_off(log, "cannot open", -fd);
        return fd;
    }
    if (log->fd >= 0)
        close(log->fd);
    log->fd = fd;
    return 0;
}

int memlog_open(MemLog *log, const char *path)
{
    close_fds(log);
    free(log->path);
    free(log->error);
    log->error = NULL;
    log->path = xstrdup(path);
    /* The directory itself is the lock: nothing extra is created beside the log. */
    const char *slash = strrchr(path, '/');
    char *dir = slash ? xstrndup(path, slash == path ? 1 : (size_t)(slash - path)) : xstrdup(".");
    int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    int e = errno;
    free(dir);
    if (fd < 0) {
        memlog_off(log, "cannot open the directory of", e);
        return -e;
    }
    log->lock_fd = fd;
    return open_current(log);
}

/* Under the lock: follow a rotation done by another writer (PATH is gone or is another
 * file than ours), then rotate ourselves if this record would pass the cap. The size is
 * the shared file's, read now, not a count of our own writes. */
static int prepare_locked(MemLog *log, size_t len)
{
    struct stat at_path, ours;
    if (stat(log->path, &at_path) != 0 || fstat(log->fd, &ours) != 0 || at_path.st_ino != ours.st_ino ||
        at_path.st_dev != ours.st_dev) {
        int rc = open_current(log);
        if (rc < 0)
            return rc;
        if (fstat(log->fd, &ours) != 0)
            return 0;
    }
    if (ours.st_size == 0 || (size_t)ours.st_size + len <= log->max_bytes)
        return 0;
    StrBuf old = STRBUF_INIT;
    strbuf_printf(&old, "%s.1", log->path);
    int rc = rename(log->path, strbuf_cstr(&old)) == 0 ? 0 : -errno;
    strbuf_destroy(&old);
    if (rc < 0) {
        memlog_off(log, "cannot rotate", -rc);
        return rc;
    }
    return open_current(log);
}

int memlog_append(MemLog *log, const json_t *record)
{
    if (log->fd < 0)
        return log->path ? -EBADF : 0;
    char *line = json_dumps(record, JSON_COMPACT | JSON_ENSURE_ASCII);
    if (!line)
        return -EINVAL;
    size_t len = strlen(line);
    line[len++] = '\n'; /* replaces the NUL: one write for the whole line */
    /* Held for a stat and one write by whoever has it: waiting for it costs microseconds. */
    int locked;
    while (!(locked = flock(log->lock_fd, LOCK_EX) == 0) && errno == EINTR)
        ;
    int rc = locked ? prepare_locked(log, len) : 0;
    if (rc == 0) {
        ssize_t n = write(log->fd, line, len);
        if (n != (ssize_t)len) {
            rc = n < 0 ? -errno : -ENOSPC;
            memlog_off(log, "cannot write", -rc);
        }
    }
    if (locked && log->lock_fd >= 0)
        flock(log->lock_fd, LOCK_UN);
    free(line);
    return rc;
}
