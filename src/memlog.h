/* memlog: the memory log, one JSON object per line, appended as each snapshot is taken.
 *
 * Owns its file descriptor. Every record is written with a single write(2) at once (no
 * user-space buffering), so a crash of the co-process or the machine's OOM killer keeps
 * what was logged. Size is bounded by rotation: when the file would grow past max_bytes
 * it is renamed to PATH.1 (replacing an older one) and a new file is started. A log that
 * cannot be opened or written is switched off with the reason kept. */
#ifndef PYTESTMON_MEMLOG_H
#define PYTESTMON_MEMLOG_H

#include <jansson.h>
#include <stddef.h>
#include <sys/types.h>

typedef struct {
    char *path;        /* NULL: off */
    int fd;            /* -1 when closed */
    off_t size;
    size_t max_bytes;
    char *error;       /* why the log is off, or NULL */
} MemLog;

void memlog_init(MemLog *log, size_t max_bytes);
void memlog_destroy(MemLog *log);
/* (Re)directs the log to `path` (copied). 0 or a negative errno (then the log is off). */
int memlog_open(MemLog *log, const char *path);
/* Appends `record` (borrowed) as one line. 0 or a negative errno. */
int memlog_append(MemLog *log, const json_t *record);

#endif
