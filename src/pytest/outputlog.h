/* outputlog: one run's full output log, bounded: its head and its tail, with the cut said.
 *
 * Owns the log's file descriptor and, once the output outgrows the head, an anonymous spill
 * file (O_TMPFILE in the log's directory) used as a ring for the latest `tail_max` bytes.
 * outputlog_finish() appends a line saying how much was cut, then the ring's bytes in order, so a
 * 200 MB output leaves at most head_max + tail_max bytes (plus that line) on disk. A log that
 * cannot be opened or written is switched off with the reason kept; the run goes on. */
#ifndef PYTESTMON_OUTPUTLOG_H
#define PYTESTMON_OUTPUTLOG_H

#include <stddef.h>
#include <stdint.h>

typedef struct {
    int fd;              /* the log; -1 when off or finished */
    int ring_fd;         /* the tail ring; -1 until the head is full */
    char *path;          /* owned; NULL when no log */
    char *error;         /* owned: why the log is off, or NULL */
    size_t head_max, tail_max;
    uint64_t written;    /* bytes given to outputlog_write() in all */
    uint64_t ring_bytes; /* bytes that went into the ring in all */
} OutputLog;

/* Opens (O_TRUNC, O_NOFOLLOW, 0600) `path` (copied; NULL: no log, nothing is written).
 * 0 or a negative errno (then `error` says why). */
int outputlog_open(OutputLog *log, const char *path, size_t head_max, size_t tail_max);
void outputlog_write(OutputLog *log, const char *data, size_t len);
/* Writes the cut line and the tail after the head, and closes. Idempotent. */
void outputlog_finish(OutputLog *log);
/* Closes (without finishing) and frees. */
void outputlog_destroy(OutputLog *log);

#endif
