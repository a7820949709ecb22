/* outputlog: bounded run log (head + ring-buffered tail in an anonymous spill file). */
#include "pytest/outputlog.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "base/logdir.h"
#include "base/strbuf.h"

static void outputlog_off(OutputLog *log, const char *what, int err)
{
    StrBuf sb = STRBUF_INIT;
    strbuf_printf(&sb, "log is off: %s %s: %s", what, log->path, strerror(err));
    free(log->error);
    log->error = strbuf_detach(&sb);
    if (log->fd >= 0)
        close(log->fd);
    if (log->ring_fd >= 0)
        close(log->ring_fd);
    log->fd = log->ring_fd = -1;
}

int outputlog_open(OutputLog *log, const char *path, size_t head_max, size_t tail_max)
{
    memset(log, 0, sizeof *log);
    log->fd = log->ring_fd = -1;
    log->head_max = head_max;
    log->tail_max = tail_max;
    if (!path)
        return 0;
    log->path = xstrdup(path);
    int fd = logdir_open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
    if (fd < 0) {
        outputlog_off(log, "cannot open", -fd);
        return fd;
    }
    log->fd = fd;
    return 0;
}

static int write_all(int fd, const char *data, size_t len)
{
    while (len > 0) {
        ssize_t n = write(fd, data, len);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            return n < 0 ? -errno : -ENOSPC;
        data += n;
        len -= (size_t)n;
    }
    return 0;
}

static int pwrite_all(int fd, const char *data, size_t len, off_t off)
{
    while (len > 0) {
        ssize_t n = pwrite(fd, data, len, off);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            return n < 0 ? -errno : -ENOSPC;
        data += n;
        len -= (size_t)n;
        off += n;
    }
    return 0;
}

/* The spill file lives beside the log (same filesystem, same permissions) without a name. */
static int open_ring(OutputLog *log)
{
    char *slash = strrchr(log->path, '/');
    char *dir = slash ? xstrndup(log->path, slash == log->path ? 1 : (size_t)(slash - log->path)) : xstrdup(".");
    int fd = open(dir, O_TMPFILE | O_RDWR | O_CLOEXEC, 0600);
    int e = errno;
    free(dir);
    if (fd < 0)
        return -e;
    log->ring_fd = fd;
    return 0;
}

/* Bytes into the ring at their position modulo tail_max. */
static int ring_write(OutputLog *log, const char *data, size_t len)
{
    if (len > log->tail_max) { /* only the last tail_max bytes can survive */
        log->ring_bytes += len - log->tail_max;
        data += len - log->tail_max;
        len = log->tail_max;
    }
    while (len > 0) {
        size_t at = (size_t)(log->ring_bytes % log->tail_max);
        size_t n = len < log->tail_max - at ? len : log->tail_max - at;
        int rc = pwrite_all(log->ring_fd, data, n, (off_t)at);
        if (rc < 0)
            return rc;
        log->ring_bytes += n;
        data += n;
        len -= n;
    }
    return 0;
}

void outputlog_write(OutputLog *log, const char *data, size_t len)
{
    if (log->fd < 0 || len == 0)
        return;
    if (log->written < log->head_max) {
        size_t n = log->head_max - log->written < len ? (size_t)(log->head_max - log->written) : len;
        int rc = write_all(log->fd, data, n);
        if (rc < 0) {
            outputlog_off(log, "writing", -rc);
            return;
        }
        log->written += n;
        data += n;
        len -= n;
        if (len == 0)
            return;
    }
    if (log->ring_fd < 0 && log->tail_max > 0) {
        int rc = open_ring(log);
        if (rc < 0) {
            /* No place for a tail: the head stays, the rest is only counted. */
            log->tail_max = 0;
        }
    }
    log->written += len;
    if (log->tail_max == 0) {
        log->ring_bytes += len;
        return;
    }
    int rc = ring_write(log, data, len);
    if (rc < 0)
        outputlog_off(log, "writing the tail of", -rc);
}

/* Copies `len` bytes at `off` of the ring to the end of the log. */
static int copy_ring(OutputLog *log, off_t off, size_t len)
{
    char buf[64 * 1024];
    while (len > 0) {
        size_t want = len < sizeof buf ? len : sizeof buf;
        ssize_t n = pread(log->ring_fd, buf, want, off);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            return n < 0 ? -errno : -EIO;
        int rc = write_all(log->fd, buf, (size_t)n);
        if (rc < 0)
            return rc;
        off += n;
        len -= (size_t)n;
    }
    return 0;
}

void outputlog_finish(OutputLog *log)
{
    if (log->fd < 0)
        return;
    if (log->written > log->head_max) {
        uint64_t kept = log->ring_bytes < log->tail_max ? log->ring_bytes : log->tail_max;
        uint64_t cut = log->written - log->head_max - kept;
        StrBuf line = STRBUF_INIT;
        strbuf_printf(&line,
                      "\n[pytestmon: %llu bytes of output cut here; this log keeps the first %zu and the "
                      "last %llu of %llu bytes]\n",
                      (unsigned long long)cut, log->head_max, (unsigned long long)kept,
                      (unsigned long long)log->written);
        int rc = write_all(log->fd, line.data, line.len);
        strbuf_destroy(&line);
        if (rc == 0 && kept > 0) {
            size_t start = (size_t)(log->ring_bytes % log->tail_max);
            if (log->ring_bytes < log->tail_max)
                rc = copy_ring(log, 0, (size_t)kept);
            else if ((rc = copy_ring(log, (off_t)start, log->tail_max - start)) == 0)
                rc = copy_ring(log, 0, start);
        }
        if (rc < 0) {
            outputlog_off(log, "writing the tail of", -rc);
            return;
        }
    }
    close(log->fd);
    log->fd = -1;
    if (log->ring_fd >= 0)
        close(log->ring_fd);
    log->ring_fd = -1;
}

void outputlog_destroy(OutputLog *log)
{
    if (log->fd >= 0)
        close(log->fd);
    if (log->ring_fd >= 0)
        close(log->ring_fd);
    free(log->path);
    free(log->error);
    memset(log, 0, sizeof *log);
    log->fd = log->ring_fd = -1;
}
