/* tail: a bounded byte ring keeping the last `cap` bytes of a run's output (for the editor).
 *
 * Owns its buffer (caller's Tail storage: tail_init/tail_destroy), which grows with the output
 * up to cap: a quiet run's tail stays a few KiB instead of a 64 KiB block per run in a
 * long-lived heap. Counts every byte written.
 * tail_read() hands back a copy that starts cleanly: once bytes were dropped, the copy starts
 * after the first newline if one is in the first quarter of the kept bytes, else after any
 * leading UTF-8 continuation bytes (never in the middle of a character). The end is returned
 * as is (more output may complete a character there). */
#ifndef PYTESTMON_TAIL_H
#define PYTESTMON_TAIL_H

#include <stdbool.h>
#include <stddef.h>

typedef struct {
    char *buf;                 /* alloc bytes, owned (NULL until the first write) */
    size_t cap;
    size_t alloc;              /* <= cap; below cap, nothing was dropped and start == 0 */
    size_t start;              /* index of the oldest byte */
    size_t len;                /* bytes held, <= cap */
    unsigned long long total;  /* bytes ever written */
} Tail;

void tail_init(Tail *t, size_t cap);   /* cap 0 is treated as 1 */
void tail_destroy(Tail *t);
void tail_reset(Tail *t);              /* empty, total = 0, keeps the buffer */
void tail_write(Tail *t, const char *data, size_t n);
/* NUL-terminated copy of the contents (caller frees); *len (may be NULL) gets its length. */
char *tail_read(const Tail *t, size_t *len);
unsigned long long tail_total(const Tail *t);
bool tail_truncated(const Tail *t);    /* some output was dropped */

#endif
