/* memlog: append-only JSON-lines memory log with size rotation. */
#include "memlog.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "strbuf.h"

void memlog_init(MemLog *log, size_t max_bytes)
{
    memset(log, 0, sizeof *log);
    log->fd = -1;
    log->max_bytes = max_bytes ? max_bytes : 1024 * 1024;
}

static void memlog_off(MemLog *log, const char *what, int err)
{
    StrBuf sb = STRBUF_INIT;
    strbuf_printf(&sb, "memory log is off: %s %s: %s", what, log->path ? log->path : "", strerror(err));
    free(log->error);
    log->error = strbuf_detach(&sb);
    if (log->fd >= 0)
        close(log->fd);
    log->fd = -1;
}

void memlog_destroy(MemLog *log)
{
    if (log->fd >= 0)
        close(log->fd);
    free(log->path);
    free(log->error);
    memset(log, 0, sizeof *log);
    log->fd = -1;
}

static int open_current(MemLog *log)
{
    log->fd = open(log->path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
    if (log->fd < 0) {
        int e = errno;
        memlog_off(log, "cannot open", e);
        return -e;
    }
    struct stat st;
    log->size = fstat(log->fd, &st) == 0 ? st.st_size : 0;
    return 0;
}

int memlog_open(MemLog *log, const char *path)
{
    if (log->fd >= 0)
        close(log->fd);
    log->fd = -1;
    free(log->path);
    free(log->error);
    log->error = NULL;
    log->path = xstrdup(path);
    return open_current(log);
}

static int rotate(MemLog *log)
{
    StrBuf old = STRBUF_INIT;
    strbuf_printf(&old, "%s.1", log->path);
    close(log->fd);
    log->fd = -1;
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
    int rc = 0;
    if (log->size > 0 && (size_t)log->size + len > log->max_bytes)
        rc = rotate(log);
    if (rc == 0) {
        ssize_t n = write(log->fd, line, len);
        if (n != (ssize_t)len) {
            rc = n < 0 ? -errno : -ENOSPC;
            memlog_off(log, "cannot write", -rc);
        } else {
            log->size += (off_t)len;
        }
    }
    free(line);
    return rc;
}
