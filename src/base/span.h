/* span: a borrowed slice of a string, and the lines of a text as slices.
 *
 * Owns nothing: a Span points into a string the caller keeps alive. Used by the parsers
 * that read tracebacks and failure texts line by line (location.c, failmsg.c). A line is
 * the text up to '\n', without the '\n' and a '\r' before it. */
#ifndef PYTESTMON_SPAN_H
#define PYTESTMON_SPAN_H

#include <stdbool.h>
#include <stddef.h>

typedef struct {
    const char *p;
    size_t n;
} Span;

bool span_starts(Span s, const char *prefix);
bool span_eq(Span s, const char *lit);
/* Without leading blanks (space, tab) and trailing blanks and '\r'. */
Span span_trim(Span s);
/* A heap copy, NUL-terminated; the caller frees it. */
char *span_dup(Span s);

/* The lines of `text` (NULL is ""), as an array the caller frees; `text` must outlive it.
 * "" is one empty line; a final '\n' is followed by one more (empty) line. */
Span *span_lines(const char *text, size_t *nlines);

/* Iterates the lines of a C string as span_lines() splits them, without the array. */
typedef struct {
    const char *p, *end;
    bool done;
} SpanIter;
SpanIter span_iter(const char *text);
bool span_next(SpanIter *it, Span *out);

#endif
