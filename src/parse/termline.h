/* termline: pytest's terminal output cut into bounded lines and cleaned, for the line
 * parsers (progress.c, summary.c). runresult.c feeds the bytes it reads to one TermLine,
 * which hands each complete line to both parsers.
 *
 * Owns the framing of a byte stream that arrives in any split (mid-line, mid-UTF-8): of
 * one line it keeps the first TERMLINE_HEAD bytes and the last TERMLINE_TAIL bytes (so a
 * status after 100 MB of `-s` output is still seen) and counts what it skipped; and the
 * one line cleaner: control sequences and characters go (textclean.h), optionally all but
 * what follows the last carriage return (a tty redraw), then trailing blanks. Pure: no
 * libuv, no file system. */
#ifndef PYTESTMON_TERMLINE_H
#define PYTESTMON_TERMLINE_H

#include <stdbool.h>
#include <stddef.h>

#define TERMLINE_HEAD 4096
#define TERMLINE_TAIL 512

/* A complete line without its '\n': its first TERMLINE_HEAD bytes, then (when it was
 * longer) its last TERMLINE_TAIL bytes. NUL-terminated at n; borrowed until the call returns. */
typedef void (*TermLineFn)(void *ud, const char *line, size_t n);

/* Caller's storage (about 9 KiB); termline_init() before use, nothing to destroy. */
typedef struct {
    char head[TERMLINE_HEAD];
    size_t head_len;
    char tail[TERMLINE_TAIL];
    size_t tail_pos;                 /* next write index in the ring */
    unsigned long long line_len;     /* of the current line, in full */
    char line[TERMLINE_HEAD + TERMLINE_TAIL + 1]; /* the complete line handed out */
    unsigned long long fed, skipped; /* bytes fed; bytes of long lines not kept */
} TermLine;

void termline_init(TermLine *t);
/* Calls on_line for every line `buf` completes. */
void termline_feed(TermLine *t, const char *buf, size_t len, TermLineFn on_line, void *ud);
/* termline_feed() on *t, made (heap, freed by the caller) on first use: for a parser fed on
 * its own rather than by runresult.c's shared TermLine. */
void termline_feed_own(TermLine **t, const char *buf, size_t len, TermLineFn on_line, void *ud);
/* End of stream: a last line without '\n' is handed out too. */
void termline_finish(TermLine *t, TermLineFn on_line, void *ud);
/* The line still being received (first bytes only), or NULL when it is already longer than
 * TERMLINE_HEAD. *n is 0 right after a complete line. Borrowed until the next feed. */
const char *termline_partial(const TermLine *t, size_t *n);

/* termline_clean() flags */
#define TERMLINE_REDRAW 1u /* keep only what follows the last carriage return */

/* Cleans s[0..n) in place for parsing (and showing): textclean(), then with TERMLINE_REDRAW
 * only what follows the last CR (else every CR is dropped), then no trailing space, tab or
 * CR. Returns the new length. */
size_t termline_clean(char *s, size_t n, unsigned flags);

/* Does s[0..n) start with the C string `prefix`? */
bool termline_starts(const char *s, size_t n, const char *prefix);

#endif
