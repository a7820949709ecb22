/* summary: the terminal-output fallback for failures, used when the JUnit XML is missing or
 * broken. Owns the records parsed from pytest's `-rfE` short test summary:
 *     FAILED nodeid - message        (message cut to the terminal width, may end in "...")
 *     ERROR nodeid - message
 *     ERROR path                     (collection error: no "::", no message)
 * Only lines inside the `=== short test summary info ===` section count (so `-s` output that
 * happens to start with FAILED is ignored). Fed the lines of a TermLine (termline.h: summary_line)
 * or chunk-wise (summary_feed: any split); memory is bounded: of a line it reads the first
 * SUMMARY_LINE_MAX bytes, at most SUMMARY_MAX_RECORDS records are kept.
 * Knows nothing of libuv; summary_locate()/summary_find_def_line() read test files. */
#ifndef PYTESTMON_SUMMARY_H
#define PYTESTMON_SUMMARY_H

#include <stddef.h>

#include "parse/termline.h"

#define SUMMARY_LINE_MAX TERMLINE_HEAD
#define SUMMARY_MAX_RECORDS 10000

typedef enum { SUMMARY_FAILED, SUMMARY_ERROR } SummaryKind;

typedef struct {
    char *nodeid;   /* owned; for a collection error, the path */
    SummaryKind kind;
    char *message;  /* owned; "" when none */
    char *file;     /* owned; node id's file part, relative to rootdir as pytest prints it */
    int line;       /* 1-based line of the test's `def` (or class); 1 if unknown; 0 before locate */
} SummaryRecord;

typedef struct Summary Summary;

Summary *summary_new(void);
void summary_free(Summary *s);
/* One complete line from a TermLine (raw: cleaned here, on a copy). */
void summary_line(Summary *s, const char *line, size_t n);
/* Or, for a caller that feeds only this parser: chunks, framed by a TermLine of its own. */
void summary_feed(Summary *s, const char *buf, size_t len);
void summary_finish(Summary *s);            /* end of stream: parse a last unterminated line */

/* Borrowed until the next feed/finish/locate/free. */
size_t summary_records(const Summary *s, const SummaryRecord **out);

/* Fill `line` of every record by scanning rootdir/file (rootdir NULL or "" = as is). */
void summary_locate(Summary *s, const char *rootdir);

/* 1-based line of the `def`/`async def` of `name` in the Python file at path. name is the node id
 * part after the file: "test_x", "test_x[param]", "TestK::test_m[1]", "TestA::TestB::test_m";
 * classes are matched in order, each inside the previous one (by indentation). The innermost
 * name found wins; nothing found or unreadable file -> 1. */
int summary_find_def_line(const char *path, const char *name);

#endif
