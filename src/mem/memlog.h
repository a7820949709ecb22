/* memlog: the memory log, one JSON object per line, appended as each snapshot is taken.
 *
 * Owns two file descriptors: the log, and its directory, which serves as the lock. Every
 * record is written with a single write(2) at once (no user-space buffering), so a crash of
 * the co-process or the machine's OOM killer keeps what was logged.
 *
 * Several co-processes (one per editor) may share one log: each append takes an exclusive
 * flock on the log's directory, reopens the log if another writer rotated it (the inode at
 * PATH changed), and rotates when the shared file would grow past max_bytes: PATH is renamed
 * to PATH.1 (replacing the older generation) and a new PATH started. So PATH and PATH.1 hold
 * at most 2 * max_bytes together, and no record lands in a generation already dropped. The
 * lock is held only for a stat and one write. Files are opened with O_NOFOLLOW.
 * A log that cannot be opened or written is switched off with the reason kept. */
#ifndef PYTESTMON_MEMLOG_H
#define PYTESTMON_MEMLOG_H

#include <jansson.h>
#include <stddef.h>
#include <sys/types.h>

typedef struct {
    char *path;        /* NULL: off */
    int fd;            /* -1 when closed */
    int lock_fd;       /* the log's directory (flock), -1 when closed */
    size_t max_bytes;
    char *error;       /* why the log is off, or NULL */
} MemLog;

void memlog_init(MemLog *log, size_t max_bytes);
void memlog_destroy(MemLog *log);
/* (Re)directs the log to `path` (copied). 0 or a negative errno (then the log is off). */
int memlog_open(MemLog *log, const char *path);
/* Switches the log off with `reason` (copied) as its error. */
void memlog_close(MemLog *log, const char *reason);
/* Appends `record` (borrowed) as one line. 0 or a negative errno. */
int memlog_append(MemLog *log, const json_t *record);

#endif
