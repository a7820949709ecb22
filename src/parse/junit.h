/* junit: a streaming reader for the JUnit XML that pytest writes (--junitxml).
 *
 * Owns nothing between calls. It streams the document once through libxml2's SAX2 push parser
 * (the file is read 16 KiB at a time and pushed; libxml2 is loaded on first use, see xmllib.h)
 * and calls a visitor for every <testcase>; the JunitCase handed to the visitor (and every
 * string in it) is borrowed until the visitor returns. Earlier testcases are not kept, so
 * memory is bounded by the largest single testcase (its failure/error/skipped texts), not by
 * file size, and the file is never mapped.
 * <system-out>/<system-err> are skipped (their text is parsed, never copied) unless the visitor
 * asks for them (JunitVisitor.keep_output); of <properties> only those of the pytestmon plugin
 * (python/pytestmon_hooks/) are kept, see JunitCase.frames/rss_* and JunitSummary.counts. The
 * plugin writes the same dialect plus a `nodeid` attribute and, between testcases, the elements
 * <pytestmon-session rootdir="..."/>, <pytestmon-collected count="N"/> and <pytestmon-start nodeid="..." [worker="gwN"]/> (see
 * JunitVisitor); any other unknown element is ignored, wherever it is. A node id XML cannot carry
 * (control characters) also comes as `nodeid-esc`, which then wins (nodeid.h).
 *
 * Incremental reading: a JunitStream is fed bytes as they arrive (any split, one byte at a time
 * too) while pytest still writes the file, and calls the visitor as soon as each element is
 * complete; junit_read() is the same reader fed from a file at once.
 *
 * Safety: the input must not contain a DOCTYPE (pytest never writes one). Parsing stops at the
 * SAX internalSubset event, raised as soon as "<!DOCTYPE name ...>" has been read and before
 * any internal subset, so entity declarations are never parsed, expanded or fetched; no entity
 * handler is installed either (with XML_PARSE_HUGE, libxml2 2.9 turns its own
 * entity-amplification check off). Options are XML_PARSE_NONET | XML_PARSE_HUGE (texts > 10 MB
 * are legal: captured output is not truncated) | XML_PARSE_IGNORE_ENC (pytest writes UTF-8);
 * never NOENT/DTDLOAD. libxml2 diagnostics are captured, never printed.
 *
 * Outcome mapping (pytest 7.2 .. 9.1, see tests/fixtures/xml/):
 *   no child                                   -> JUNIT_PASSED (also a non-strict xpass)
 *   <failure message="[XPASS(strict)] ...">    -> JUNIT_XPASSED_STRICT
 *   <skipped message="xfail-marked test passes unexpectedly"> -> JUNIT_XPASSED_STRICT (old pytest)
 *   <failure>                                  -> JUNIT_FAILED
 *   <error message="collection failure">       -> JUNIT_COLLECTION_ERROR
 *   <error> (setup/teardown, internal, xdist worker crash) -> JUNIT_ERROR
 *   <skipped type="pytest.xfail">              -> JUNIT_XFAILED
 *   <skipped> (anything else)                  -> JUNIT_SKIPPED
 * A testcase with several failure/error children (pytest 9.1's own junitxml with subtests) gets
 * the outcome of the first failure/error child; all children are in JunitCase.results in
 * document order. The plugin writes each subtest pytest counts as a testcase of its own, with
 * the test's `nodeid` and a `subtest` attribute (JunitCase.subtest), before the test's own. */
#ifndef PYTESTMON_JUNIT_H
#define PYTESTMON_JUNIT_H

#include <errno.h>
#include <stdbool.h>
#include <stddef.h>

#include "base/strbuf.h"

/* Error returns (all negative). I/O failures return -errno from open()/read(). */
#define JUNIT_EMALFORMED (-EBADMSG) /* empty, not XML, truncated, invalid characters/encoding */
#define JUNIT_EDOCTYPE   (-EPERM)   /* the document has a DOCTYPE: rejected before parsing it */
#define JUNIT_ENOTJUNIT  (-EPROTO)  /* well-formed XML whose root is not testsuites/testsuite */

typedef enum {
    JUNIT_PASSED,
    JUNIT_FAILED,
    JUNIT_ERROR,
    JUNIT_COLLECTION_ERROR,
    JUNIT_SKIPPED,
    JUNIT_XFAILED,
    JUNIT_XPASSED_STRICT,
} JunitOutcome;

typedef enum { JUNIT_RESULT_FAILURE, JUNIT_RESULT_ERROR, JUNIT_RESULT_SKIPPED } JunitResultTag;

/* One <failure>, <error> or <skipped> child of a testcase. */
typedef struct {
    JunitResultTag tag;
    const char *message; /* message attribute, NULL if absent (entities decoded, may be multi-line) */
    const char *type;    /* type attribute, NULL if absent (pytest sets it on <skipped> only) */
    const char *text;    /* element text, "" if none; "#x1B"-style escapes are left as-is */
    size_t text_len;
} JunitResult;

/* The values of a testcase's "pytestmon.gc" property (python/pytestmon_hooks/gcrecord.py). */
enum {
    JUNIT_GC_GEN0, JUNIT_GC_GEN1, JUNIT_GC_GEN2, /* collections of each generation */
    JUNIT_GC_COLLECTED,      /* objects they collected */
    JUNIT_GC_UNCOLLECTABLE,  /* objects they found uncollectable */
    JUNIT_GC_NS,             /* time spent in them (ns) */
    JUNIT_GC_GARBAGE,        /* how much gc.garbage grew */
    JUNIT_GC_N
};

/* One <testcase>. Every pointer is borrowed until the visitor returns. */
typedef struct {
    const char *classname; /* NULL if absent; "" for collection errors */
    const char *name;      /* NULL if absent (pytest.exit / Ctrl-C write a nameless testcase) */
    const char *file;      /* relative to rootdir, '/' separated; NULL if absent (xunit2) */
    int line;              /* as in the XML: 0-based def line (first decorator); -1 if absent */
    const char *nodeid;    /* the test's identity: pytest's own node id as the pytestmon plugin writes it
                            * (its `nodeid-esc` decoded when present: control characters, NUL as
                            * U+FFFD, see nodeid_unescape()); NULL if absent */
    const char *frames;    /* "pytestmon.frames" property: JSON [[abs path, 1-based line], ...] of the
                            * failure's traceback in the user's code, outermost first; NULL if absent */
    const char *subtest;   /* the plugin's `subtest` attribute: this testcase is a subtest of test
                            * `nodeid` (pytest 9's subtests, pytest-subtests), described as pytest
                            * does ("[msg] (i=1)"; display text); NULL for a test's own testcase */
    const char *memfail;   /* "pytestmon.memfail" property: JSON facts of a memory failure read in the
                            * process where it happened (src/mem/memfail.h); NULL if absent */
    double time;           /* seconds; 0 if absent or unparsable */
    long long rss_start;   /* "pytestmon.rss" property [rss_at_start, peak(, before)] in bytes, measured */
    long long rss_peak;    /* in the process that ran the test; -1 when absent or unparsable */
    long long rss_before;  /* that process's peak from its start to this test's start (start-up and
                            * collection), told with the first test it measured; else -1 */
    bool has_gc;           /* "pytestmon.gc": the garbage collector during the test, in its process: */
    long long gc[JUNIT_GC_N]; /* JUNIT_GC_* (only when the collector ran or gc.garbage grew) */
    const char *system_out; /* captured output (<system-out>, <system-err>) when the visitor asked */
    const char *system_err; /* for it (keep_output) and the testcase has it; else NULL */
    size_t system_out_len, system_err_len;
    JunitOutcome outcome;
    /* Convenience copies of results[i] for the child that decided the outcome (NULL if passed). */
    const char *message;
    const char *type;
    const char *text;
    const JunitResult *results;
    size_t nresults;
} JunitCase;

/* Suite-level facts gathered while reading. */
typedef struct {
    size_t nsuites;   /* <testsuite> elements seen */
    size_t ncases;    /* <testcase> elements handed to the visitor */
    double seconds;   /* sum of the testsuite time attributes */
    char *counts;     /* owned: the "pytestmon.counts" suite property (JSON: pytest's own counts
                       * by category), or NULL; free with junit_summary_destroy() */
} JunitSummary;

void junit_summary_destroy(JunitSummary *sum);

/* Visitor: return 0 to continue, a negative value to stop; junit_read returns that value. */
typedef int (*JunitCaseFn)(const JunitCase *tc, void *ud);

/* Read the JUnit file at `path`, calling `fn(tc, ud)` for each testcase in document order.
 * `summary` (may be NULL) is filled even on error with what was seen so far. `err` (may be NULL)
 * receives a one-line message on failure (appended), e.g.
 *   "truncated or malformed XML at line 3: Premature end of data in tag testsuite line 1".
 * Returns 0, a JUNIT_E* code, -errno for I/O errors, or the visitor's
 * negative value.
 * Testcases already visited stay visited when a later error is found. The text ends at the
 * first NUL byte, if any (the plugin's memory-mapped report is zeros past what was written: a
 * pytest that died leaves them; XML has no NUL character). */
int junit_read(const char *path, JunitCaseFn fn, void *ud, JunitSummary *summary, StrBuf *err);

/* Same, from a memory buffer (not necessarily NUL-terminated). */
int junit_read_memory(const char *buf, size_t len, JunitCaseFn fn, void *ud, JunitSummary *summary,
                      StrBuf *err);

/* junit_read() with each testcase's <system-out>/<system-err> text kept (JunitCase.system_out,
 * system_err): for one test's output, read off the loop (testoutput.h). */
int junit_read_output(const char *path, JunitCaseFn fn, void *ud, StrBuf *err);

/* What a JunitStream calls; every callback may be NULL, and every string is borrowed until the
 * callback returns. */
typedef struct {
    JunitCaseFn testcase;
    /* <pytestmon-start nodeid=".." [worker=".."]/>: a test started (worker NULL when absent). */
    void (*start)(void *ud, const char *nodeid, const char *worker);
    /* <pytestmon-collected count="N"/>: the number of tests the run will run (N >= 0). */
    void (*collected)(void *ud, long count);
    /* <pytestmon-session rootdir=".."/>: pytest's rootdir, first thing in the plugin's report. */
    void (*session)(void *ud, const char *rootdir);
    void *ud;
    bool keep_output;  /* hand <system-out>/<system-err> texts over in JunitCase */
} JunitVisitor;

typedef struct JunitStream JunitStream;

/* A reader fed as bytes arrive. `v` is copied; `summary` (may be NULL) and `err` (may be NULL)
 * are borrowed until junit_stream_free() and filled as junit_read() fills them. Returns NULL
 * (with the reason in err) when libxml2 cannot be loaded or out of memory. */
JunitStream *junit_stream_new(const JunitVisitor *v, JunitSummary *summary, StrBuf *err);
/* Parses `len` more bytes. Returns 0 while more input is welcome, else the final outcome
 * (malformed XML, DOCTYPE, not JUnit, a visitor's stop): feeding more changes nothing. */
int junit_stream_feed(JunitStream *s, const char *buf, size_t len);
/* The input ended: returns what junit_read() would for the whole input (0 when it was a
 * complete document). */
int junit_stream_end(JunitStream *s);
/* Bytes fed so far. */
size_t junit_stream_bytes(const JunitStream *s);
void junit_stream_free(JunitStream *s);

/* "passed", "failed", "error", "collection error", "skipped", "xfailed", "xpassed strict". */
const char *junit_outcome_name(JunitOutcome o);

#endif
