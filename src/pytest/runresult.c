/* runresult: output streaming, progress and the result document of a run. */
#include "pytest/execstep.h"
#include "pytest/runresult.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "mem/headroom.h"
#include "mem/memfail.h"
#include "parse/junit.h"
#include "parse/pytesterr.h"
#include "parse/report.h"
#include "base/monotime.h"
#include "base/strbuf.h"
#include "base/textclean.h"

#define KEEP_SLOWEST 50
#define MAX_SEEN_FAILED 10000

void runresult_init(RunResult *o, size_t tail_bytes, const char *log_path)
{
    memset(o, 0, sizeof *o);
    tail_init(&o->tail, tail_bytes ? tail_bytes : 64 * 1024);
    tail_init(&o->err_tail, 8 * 1024);
    o->progress = progress_new();
    o->summary = summary_new();
    o->seen_failed = json_object();
    termline_init(&o->lines);
    outputlog_open(&o->log, log_path, RUNRESULT_LOG_HEAD, RUNRESULT_LOG_TAIL);
}

void runresult_destroy(RunResult *o)
{
    outputlog_destroy(&o->log);
    tail_destroy(&o->tail);
    tail_destroy(&o->err_tail);
    progress_free(o->progress);
    summary_free(o->summary);
    json_decref(o->seen_failed);
    reportfeed_free(o->feed);
    memset(o, 0, sizeof *o);
}

/* Keeps the node ids that progress lines reported FAILED/ERROR: when pytest dies
 * before its short summary, they are all the fallback has. */
static void remember_failed(RunResult *o)
{
    ProgressResult *res = NULL;
    size_t dropped = 0;
    size_t n = progress_take_finished(o->progress, &res, &dropped);
    for (size_t i = 0; i < n; i++) {
        ProgressStatus st = res[i].status;
        if ((st == PROGRESS_FAILED || st == PROGRESS_ERROR) &&
            json_object_size(o->seen_failed) < MAX_SEEN_FAILED)
            json_object_set_new(o->seen_failed, res[i].nodeid,
                                json_string(st == PROGRESS_FAILED ? "failed" : "error"));
    }
    progress_results_free(res, n);
}

/* What the plugin says on stderr when it switched itself off because its report's file system
 * is full (python/pytestmon_hooks/env.py, _warn_off). */
#define NOSPACE_PHRASE "pytestmon plugin: no space left"

static bool says_nospace(const char *text, size_t len)
{
    return memmem(text, len, NOSPACE_PHRASE, sizeof NOSPACE_PHRASE - 1) != NULL;
}

/* Scans each chunk together with the end of the one before it. */
static void watch_output(RunResult *o, const char *data, size_t len)
{
    if (o->saw_enomem && o->saw_nospace)
        return;
    char joined[sizeof o->edge * 2];
    size_t head = len < sizeof o->edge ? len : sizeof o->edge;
    memcpy(joined, o->edge, o->edge_len);
    memcpy(joined + o->edge_len, data, head);
    size_t jlen = o->edge_len + head;
    if (!o->saw_enomem && (headroom_text_says_enomem(joined, jlen) || headroom_text_says_enomem(data, len)))
        o->saw_enomem = true;
    if (!o->saw_nospace && (says_nospace(joined, jlen) || says_nospace(data, len)))
        o->saw_nospace = true;
    const char *end = len >= sizeof o->edge ? data + len : joined + jlen;
    size_t avail = len >= sizeof o->edge ? len : jlen;
    o->edge_len = avail < sizeof o->edge ? avail : sizeof o->edge;
    memmove(o->edge, end - o->edge_len, o->edge_len);
}

bool runresult_saw_enomem(const RunResult *o)
{
    return o->saw_enomem;
}

/* One line of pytest's stdout, to both line parsers. */
static void on_line(void *ud, const char *line, size_t n)
{
    RunResult *o = ud;
    progress_line(o->progress, line, n);
    summary_line(o->summary, line, n);
}

void runresult_feed(RunResult *o, const char *data, size_t len, bool is_stderr)
{
    watch_output(o, data, len);
    tail_write(&o->tail, data, len);
    outputlog_write(&o->log, data, len);
    if (is_stderr) {
        o->bytes_err += len;
        tail_write(&o->err_tail, data, len);
        return;
    }
    o->bytes_out += len;
    termline_feed(&o->lines, data, len, on_line, o);
    size_t n = 0;
    const char *head = termline_partial(&o->lines, &n);
    progress_partial(o->progress, head, n);
    remember_failed(o);
}

bool runresult_progress_changed(RunResult *o)
{
    bool changed = progress_take_changed(o->progress);
    if (reportfeed_active(o->feed)) { /* the plugin's stream, not the terminal */
        changed = o->feed_changed;
        o->feed_changed = false;
    }
    return changed;
}

const char *runresult_current_test(const RunResult *o)
{
    return reportfeed_active(o->feed) ? reportfeed_current(o->feed) : progress_current(o->progress);
}

void runresult_follow_report(RunResult *o, const char *path, const char *root, uint64_t budget)
{
    reportfeed_free(o->feed);
    o->feed = reportfeed_new(path, root, KEEP_SLOWEST);
    reportfeed_set_budget(o->feed, budget);
}

json_t *runresult_over_budget(const RunResult *o)
{
    return o->feed != NULL ? reportfeed_over_budget(o->feed) : NULL;
}

bool runresult_poll_report(RunResult *o)
{
    if (o->feed == NULL || !reportfeed_poll(o->feed))
        return false;
    o->feed_changed = true;
    return true;
}

void runresult_finish_report(RunResult *o)
{
    if (o->feed != NULL)
        reportfeed_finish(o->feed);
}

json_t *runresult_take_tests(RunResult *o, int64_t run_id)
{
    json_t *tests = o->feed != NULL ? reportfeed_take_tests(o->feed) : NULL;
    json_t *failures = o->feed != NULL ? reportfeed_take_failures(o->feed) : NULL;
    if (tests == NULL && failures == NULL)
        return NULL;
    json_t *ev = json_pack("{s:I, s:o}", "run_id", (json_int_t)run_id, "tests", tests ? tests : json_array());
    if (failures != NULL)
        json_object_set_new(ev, "failures", failures);
    return ev;
}

json_t *runresult_top_growth(const RunResult *o, size_t n)
{
    json_t *top = o->feed != NULL ? reportfeed_top_growth(o->feed, n) : NULL;
    if (top != NULL && json_array_size(top) == 0) {
        json_decref(top);
        top = NULL;
    }
    return top;
}

json_t *runresult_top(const RunResult *o, size_t n, ReportFeedTop by)
{
    json_t *top = o->feed != NULL ? reportfeed_top(o->feed, n, by) : NULL;
    if (top != NULL && json_array_size(top) == 0) {
        json_decref(top);
        top = NULL;
    }
    return top;
}

json_t *runresult_exact_peak(const RunResult *o)
{
    return o->feed != NULL ? reportfeed_peak(o->feed) : NULL;
}

/* A copy of `s` with invalid UTF-8 replaced by U+FFFD, so JSON output never fails. */
static json_t *utf8_string(const char *s, size_t len)
{
    StrBuf sb = STRBUF_INIT;
    size_t i = 0;
    while (i < len) {
        unsigned char c = (unsigned char)s[i];
        size_t n = c < 0x80 ? 1 : (c >> 5) == 6 ? 2 : (c >> 4) == 14 ? 3 : (c >> 3) == 30 ? 4 : 0;
        bool ok = n > 0 && i + n <= len && (n != 2 || c >= 0xc2);
        for (size_t k = 1; ok && k < n; k++)
            ok = ((unsigned char)s[i + k] & 0xc0) == 0x80;
        if (ok && n == 3) {
            unsigned char c1 = (unsigned char)s[i + 1];
            ok = !(c == 0xe0 && c1 < 0xa0) && !(c == 0xed && c1 >= 0xa0);
        } else if (ok && n == 4) {
            unsigned char c1 = (unsigned char)s[i + 1];
            ok = c <= 0xf4 && !(c == 0xf0 && c1 < 0x90) && !(c == 0xf4 && c1 >= 0x90);
        }
        if (ok) {
            strbuf_append(&sb, s + i, n);
            i += n;
        } else {
            strbuf_puts(&sb, "\xef\xbf\xbd");
            i++;
        }
    }
    json_t *j = json_stringn(strbuf_cstr(&sb), sb.len);
    strbuf_destroy(&sb);
    return j ? j : json_string("");
}

static json_t *utf8_cstring(const char *s)
{
    return utf8_string(s, strlen(s));
}

/* `s` made safe to show (textclean.h: no control sequences, valid UTF-8), at most max bytes. */
static json_t *display_cstring(const char *s, unsigned flags, size_t max)
{
    char *t = textclean_dup(s, strlen(s), flags, max);
    json_t *j = json_string(t);
    free(t);
    return j ? j : json_string("");
}

json_t *runresult_progress_json(RunResult *o)
{
    if (reportfeed_active(o->feed))
        return reportfeed_progress_json(o->feed);
    const ProgressCounts *c = progress_counts(o->progress);
    json_t *j = json_pack("{s:i, s:i, s:i, s:i}", "done", (int)c->done, "total",
                          (int)(c->collected > 0 ? c->collected : 0), "failed", (int)c->failed_so_far,
                          "percent", c->percent < 0 ? 0 : c->percent);
    const char *cur = progress_current(o->progress);
    if (cur)
        json_object_set_new(j, "current", display_cstring(cur, 0, TEXTCLEAN_ID_MAX));
    return j;
}

const char *runresult_exit_meaning(int64_t code)
{
    switch (code) {
    case 0: return "all tests passed";
    case 1: return "tests failed";
    case 2: return "interrupted";
    case 3: return "internal error";
    case 4: return "usage error";
    case 5: return "no tests collected";
    case 6: return "too many warnings";
    default: return "unknown exit code";
    }
}

const char *const RUNRESULT_NOT_INSTALLED = "pytest is not installed";
const char *const RUNRESULT_COULD_NOT_START = "pytest could not start";

int runresult_cli_exit_code(json_t *result)
{
    const char *meaning = json_string_value(json_object_get(result, "exit_meaning"));
    const char *status = json_string_value(json_object_get(result, "status"));
    json_t *code = json_object_get(result, "exit_code");
    if (meaning && (strcmp(meaning, RUNRESULT_NOT_INSTALLED) == 0 || strcmp(meaning, RUNRESULT_COULD_NOT_START) == 0))
        return RUNRESULT_EXIT_DID_NOT_RUN;
    if (json_is_integer(code))
        return (int)json_integer_value(code);
    /* no exit code and no signal: it was never spawned (no interpreter, no such directory) */
    if (status && strcmp(status, "error") == 0 && !json_object_get(result, "signal"))
        return RUNRESULT_EXIT_DID_NOT_RUN;
    return 1;
}

static const char *status_for_exit(int64_t code)
{
    switch (code) {
    case 0: return "passed";
    case 1: return "failed";
    case 2: return "interrupted";
    case 3: return "internal_error";
    case 4: return "usage_error";
    case 5: return "no_tests";
    default: return "error";
    }
}

/* "3 failed, 120 passed, 2 skipped in 2.14s", pytest's own order and words. */
static char *counts_line(json_t *counts, double seconds)
{
    static const char *const order[][2] = {{"failed", "failed"},   {"passed", "passed"},
                                           {"skipped", "skipped"}, {"deselected", "deselected"},
                                           {"xfailed", "xfailed"}, {"xpassed", "xpassed"},
                                           {"errors", "error"}, {"subtests_passed", "subtests passed"}};
    StrBuf sb = STRBUF_INIT;
    for (size_t i = 0; i < sizeof order / sizeof order[0]; i++) {
        json_int_t n = json_integer_value(json_object_get(counts, order[i][0]));
        if (n <= 0)
            continue;
        const char *word = order[i][1];
        bool plural = n != 1 && strcmp(word, "error") == 0;
        strbuf_printf(&sb, "%s%lld %s%s", sb.len ? ", " : "", (long long)n, word, plural ? "s" : "");
    }
    if (!sb.len)
        strbuf_puts(&sb, "no tests ran");
    strbuf_printf(&sb, " in %.2fs", seconds);
    return strbuf_detach(&sb);
}

/* The last line of `text` that says "error:" (pytest's usage message names the
 * reason there, then prints its rootdir), else the last non-blank line. */
static char *last_line(const char *text, size_t len);

static char *usage_reason(const char *text, size_t len)
{
    size_t end = len;
    while (end > 0) {
        size_t start = end;
        while (start > 0 && text[start - 1] != '\n')
            start--;
        if (memmem(text + start, end - start, "error:", 6))
            return xstrndup(text + start, end - start);
        end = start > 0 ? start - 1 : 0;
    }
    return last_line(text, len);
}

/* The last non-blank line of `text`. */
static char *last_line(const char *text, size_t len)
{
    while (len > 0 && (text[len - 1] == '\n' || text[len - 1] == '\r' || text[len - 1] == ' '))
        len--;
    size_t start = len;
    while (start > 0 && text[start - 1] != '\n')
        start--;
    return xstrndup(text + start, len - start);
}

static bool contains(const char *hay, size_t len, const char *needle)
{
    return memmem(hay, len, needle, strlen(needle)) != NULL;
}

/* From the first `needle` in `text` to the end of its line, or NULL. Caller frees. */
static char *line_from(const char *text, size_t len, const char *needle)
{
    const char *p = memmem(text, len, needle, strlen(needle));
    if (!p)
        return NULL;
    const char *nl = memchr(p, '\n', len - (size_t)(p - text));
    size_t n = (size_t)((nl ? nl : text + len) - p);
    while (n > 0 && (p[n - 1] == '\r' || p[n - 1] == ' '))
        n--;
    return xstrndup(p, n);
}

static const char *rootdir_of(const RunResult *o, const RunFacts *f)
{
    const char *rd = reportfeed_active(o->feed) ? reportfeed_rootdir(o->feed) : NULL;
    if (rd && *rd)
        return rd;
    rd = progress_rootdir(o->progress);
    return rd && *rd ? rd : f->root;
}

/* Failures from the terminal's FAILED/ERROR lines when there is no usable XML. */
/* "rootdir/file" unless `file` is absolute (only its first `len` bytes are used). */
static void join_root(StrBuf *out, const char *rootdir, const char *file, size_t len)
{
    if (file[0] != '/')
        strbuf_printf(out, "%s/", rootdir);
    strbuf_append(out, file, len);
}

/* Appends one terminal-fallback failure and counts it. */
static void add_fallback(json_t *list, const char *nodeid, bool is_error, const char *message,
                         const char *path, int line, int *failed, int *errors)
{
    if (is_error)
        (*errors)++;
    else
        (*failed)++;
    json_array_append_new(list, json_pack("{s:o, s:s, s:o, s:o, s:i}", "nodeid",
                                          display_cstring(nodeid, 0, 0), "kind",
                                          is_error ? "error" : "failed", "message",
                                          display_cstring(message, TEXTCLEAN_KEEP_LF,
                                                          TEXTCLEAN_MESSAGE_MAX),
                                          "file", utf8_cstring(path), "line",
                                          line > 0 ? line : 1));
}

static json_t *fallback_failures(RunResult *o, const RunFacts *f, json_t *counts)
{
    const SummaryRecord *recs;
    const char *rootdir = rootdir_of(o, f);
    summary_locate(o->summary, rootdir);
    size_t n = summary_records(o->summary, &recs);
    json_t *list = json_array();
    int failed = 0, errors = 0;
    StrBuf path = STRBUF_INIT;
    for (size_t i = 0; i < n; i++) {
        strbuf_reset(&path);
        join_root(&path, rootdir, recs[i].file, strlen(recs[i].file));
        add_fallback(list, recs[i].nodeid, recs[i].kind == SUMMARY_ERROR, recs[i].message,
                     strbuf_cstr(&path), recs[i].line, &failed, &errors);
    }
    /* Failures the progress lines announced but no summary line repeated. */
    const char *nodeid;
    json_t *kind;
    json_object_foreach(o->seen_failed, nodeid, kind) {
        bool listed = false;
        for (size_t i = 0; i < n && !listed; i++)
            listed = strcmp(recs[i].nodeid, nodeid) == 0;
        if (listed)
            continue;
        const char *sep = strstr(nodeid, "::");
        strbuf_reset(&path);
        join_root(&path, rootdir, nodeid, sep ? (size_t)(sep - nodeid) : strlen(nodeid));
        int line = sep ? summary_find_def_line(strbuf_cstr(&path), sep + 2) : 1;
        add_fallback(list, nodeid, strcmp(json_string_value(kind), "error") == 0, "",
                     strbuf_cstr(&path), line, &failed, &errors);
    }
    strbuf_destroy(&path);
    ProgressCounts c = *progress_counts(o->progress);
    const ProgressFinal *fin = progress_final(o->progress);
    if (fin->seen) { /* pytest's closing line: its own counts, whatever the report or stream got */
        c.passed = fin->passed, c.failed = fin->failed, c.errors = fin->errors;
        c.skipped = fin->skipped, c.xfailed = fin->xfailed, c.xpassed = fin->xpassed;
    } else if (reportfeed_active(o->feed)) { /* no -v lines: what the stream told */
        reportfeed_counts(o->feed, &c.passed, &c.failed, &c.errors, &c.skipped, &c.xfailed, &c.xpassed);
    }
    json_object_set_new(counts, "failed", json_integer(failed > c.failed ? failed : c.failed));
    json_object_set_new(counts, "errors", json_integer(errors > c.errors ? errors : c.errors));
    json_object_set_new(counts, "passed", json_integer(c.passed));
    json_object_set_new(counts, "skipped", json_integer(c.skipped));
    json_object_set_new(counts, "xfailed", json_integer(c.xfailed));
    json_object_set_new(counts, "xpassed", json_integer(c.xpassed));
    return list;
}

static json_t *empty_counts(void)
{
    return json_pack("{s:i, s:i, s:i, s:i, s:i, s:i}", "passed", 0, "failed", 0, "errors", 0,
                     "skipped", 0, "xfailed", 0, "xpassed", 0);
}

/* Why the run ended the way it did, when it is not pytest's own verdict. */
/* `path` relative to the project root when under it (borrowed from path), else path. */
static const char *root_relative(const RunFacts *f, const char *path)
{
    size_t rl = f->root ? strlen(f->root) : 0;
    return rl && strncmp(path, f->root, rl) == 0 && path[rl] == '/' ? path + rl + 1 : path;
}

/* "pytest could not import tests/conftest.py: ModuleNotFoundError: ..." into sb, when pytest
 * stopped on a conftest that failed to import. */
static bool conftest_error(const RunResult *o, const RunFacts *f, const char *err_text, size_t err_len,
                           StrBuf *sb)
{
    PytestConftestError e;
    if (!pytesterr_conftest(err_text, err_len, rootdir_of(o, f), &e))
        return false;
    const char *rel = root_relative(f, e.conftest);
    strbuf_printf(sb, "pytest could not import %s: %s", rel, e.message);
    pytesterr_conftest_destroy(&e);
    return true;
}

/* The conftest.py that failed to import, as a failure at its failing line. */
static void add_conftest_failure(const RunResult *o, const RunFacts *f, const char *err_text,
                                 size_t err_len, json_t *failures)
{
    PytestConftestError e;
    if (f->exit_status != 4 || !pytesterr_conftest(err_text, err_len, rootdir_of(o, f), &e))
        return;
    const char *rel = root_relative(f, e.conftest);
    json_t *file = utf8_cstring(e.file);
    json_array_append_new(failures, json_pack("{s:o, s:s, s:o, s:o, s:i}", "nodeid", display_cstring(rel, 0, 0),
                                              "kind", "error", "message",
                                              display_cstring(e.message, 0, TEXTCLEAN_MESSAGE_MAX),
                                              "file", file, "line", e.line > 0 ? e.line : 1));
    pytesterr_conftest_destroy(&e);
}

/* The one sentence that says why a run did not give results, or NULL. report_complete: the
 * JUnit report was read to its end. */
static char *run_error(const RunResult *o, const RunFacts *f, const char *err_text, size_t err_len,
                       bool report_complete, const char **did_not_run)
{
    StrBuf sb = STRBUF_INIT;
    if (f->start_error)
        strbuf_puts(&sb, f->start_error);
    else if (f->timed_out)
        strbuf_printf(&sb, "timed out after %g s", (double)f->timeout_ms / 1000.0);
    else if (f->cancelled)
        strbuf_puts(&sb, "cancelled");
    else if (f->term_signal) {
        strbuf_puts(&sb, "pytest was killed by ");
        execstep_describe_signal(&sb, f->term_signal);
    }
    else if (f->exit_status == 1 && contains(err_text, err_len, "No module named pytest")) {
        strbuf_printf(&sb, "pytest is not installed for %s (No module named pytest)", f->python);
        *did_not_run = RUNRESULT_NOT_INSTALLED;
    }
    else if (f->exit_status == 4 && conftest_error(o, f, err_text, err_len, &sb))
        ;
    else if (f->exit_status == 4) {
        char *line = usage_reason(err_text, err_len);
        strbuf_printf(&sb, "pytest usage error: %s", line);
        free(line);
    } else if (f->exit_status != 0 && !report_complete) {
        /* pytest did not reach the end of its session: a Python traceback on stderr (pytest
         * itself crashed, e.g. its working directory was deleted under it), or the
         * interpreter could not start at all (the loader exits 127). Say so, with its last line. */
        /* The interpreter's own start-up failed (it exits 1 after "Fatal Python error:
         * <function>: <reason>"; a fatal error later aborts, told above by the signal): that
         * line says why, the last one is often a frame or "lost sys.stderr". */
        char *fatal = line_from(err_text, err_len, "Fatal Python error: ");
        bool traceback = contains(err_text, err_len, "Traceback (most recent call last):");
        bool no_start = f->exit_status == 126 || f->exit_status == 127 || fatal;
        if (traceback || no_start) {
            char *line = fatal ? fatal : last_line(err_text, err_len);
            strbuf_printf(&sb, "%s: %s", no_start ? "pytest could not start" : "pytest crashed", line);
            if (no_start)
                *did_not_run = RUNRESULT_COULD_NOT_START;
            if (line != fatal)
                free(line);
        }
        free(fatal);
    }
    (void)o;
    return sb.len ? strbuf_detach(&sb) : (strbuf_destroy(&sb), NULL);
}

/* The run's status: how it ended first (could not start, timed out, cancelled, killed or an
 * error sentence from run_error()), else pytest's exit code. */
static const char *run_status(const RunFacts *f, bool have_error)
{
    if (f->start_error)
        return "error";
    if (f->timed_out)
        return "timed_out";
    if (f->cancelled)
        return "cancelled";
    if (f->term_signal || have_error)
        return f->exit_status == 4 ? "usage_error" : "error";
    return status_for_exit(f->exit_status);
}

static bool any_counted(json_t *counts)
{
    const char *key;
    json_t *v;
    json_object_foreach(counts, key, v)
        if (json_integer_value(v) > 0)
            return true;
    return false;
}

/* The run in one sentence that says nothing twice (the editor shows it as it is):
 * "3 failed, 120 passed in 2.14s", "timed out after 1 s", "run cancelled: 2 passed in 1.55s",
 * "pytest usage error: ...", "could not run pytest: ...", "no tests collected in 0.01s". The
 * counts are added only when something was counted. */
static void summary_sentence(StrBuf *sb, const RunFacts *f, const char *status, const char *error,
                             const char *line, bool counted, double seconds)
{
    if (f->start_error) {
        strbuf_printf(sb, "could not run pytest: %s", error);
    } else if (f->timed_out || f->cancelled) {
        strbuf_puts(sb, f->timed_out ? error : "run cancelled");
        if (counted)
            strbuf_printf(sb, ": %s", line);
    } else if (error && strcmp(status, "failed") != 0) {
        strbuf_puts(sb, error);
        if (counted)
            strbuf_printf(sb, " (%s)", line);
    } else if (strcmp(status, "no_tests") == 0 && !counted) {
        strbuf_printf(sb, "no tests collected in %.2fs", seconds);
    } else if (strcmp(status, "interrupted") == 0) {
        strbuf_printf(sb, "interrupted: %s", line);
    } else if (strcmp(status, "internal_error") == 0) {
        strbuf_printf(sb, "pytest internal error: %s", line);
    } else {
        strbuf_puts(sb, line);
    }
}

/* A test the plugin's stream told failed: what the terminal fallback lists when the report is
 * unusable (pytest died mid-write), as -v progress lines were before the stream. */
static void remember_streamed_failure(void *ud, const char *nodeid, bool is_error)
{
    RunResult *o = ud;
    if (json_object_size(o->seen_failed) < MAX_SEEN_FAILED && !json_object_get(o->seen_failed, nodeid))
        json_object_set_new(o->seen_failed, nodeid, json_string(is_error ? "error" : "failed"));
}

json_t *runresult_string_list(char *const *v)
{
    json_t *a = json_array();
    for (; v && *v; v++)
        json_array_append_new(a, json_string_nocheck(*v));
    return a;
}

/* A coverage run's report (a heap Coverage, or NULL), and `coverage` in the result: the totals,
 * or why there are none. pytest's usage error about our --cov arguments becomes the run's error:
 * pytest-cov is not installed for that interpreter. */
static Coverage *result_coverage(const RunFacts *f, json_t *result)
{
    const char *error = json_string_value(json_object_get(result, "error"));
    if (!f->spawned || f->cancelled || f->timed_out)
        return NULL;
    if (coverage_plugin_missing(error)) {
        char *raw = coverage_missing_message(f->python);
        char *msg = textclean_dup(raw, strlen(raw), 0, TEXTCLEAN_MESSAGE_MAX); /* display text */
        json_object_set_new(result, "error", json_string(msg));
        json_object_set_new(result, "summary", json_string(msg));
        json_object_set_new(result, "coverage", json_pack("{s:s}", "error", msg));
        free(raw);
        free(msg);
        return NULL;
    }
    Coverage *cov = xmalloc(sizeof *cov);
    StrBuf err = STRBUF_INIT;
    int rc = f->coverage_path ? coverage_read(f->coverage_path, f->root, cov, &err) : -ENOENT;
    if (rc != 0) {
        coverage_destroy(cov);
        free(cov);
        cov = NULL;
        if (rc == -ENOENT) {
            strbuf_reset(&err);
            if (error) /* pytest crashed or was refused: its error says why, once */
                strbuf_puts(&err, "no coverage data: pytest did not get to its tests (the run's error says why)");
            else
                strbuf_puts(&err, f->have_plugin ? "no coverage data: pytest-cov wrote none (--no-cov, or the "
                                                   "run ended before its tests did)"
                                                 : "no coverage data: pytestmon's pytest plugin was not found");
        }
        char *msg = textclean_dup(err.data ? err.data : "", err.len, 0, TEXTCLEAN_MESSAGE_MAX);
        json_object_set_new(result, "coverage", json_pack("{s:s}", "error", msg));
        free(msg);
    } else {
        json_object_set_new(result, "coverage",
                            json_pack("{s:f, s:I, s:I, s:I}", "percent", cov->percent, "statements",
                                      (json_int_t)cov->statements, "missing", (json_int_t)cov->missing,
                                      "nfiles", (json_int_t)cov->nfiles));
    }
    strbuf_destroy(&err);
    return cov;
}

/* What the runner's owner saw beside the run: the co-process's and the editor's size for the
 * leak trend, and the logs that are off. The run's own log_error (its output log) wins over
 * the log directory's: it is the more specific. */
static void result_observed(const RunObserved *obs, json_t *r)
{
    if (!obs)
        return;
    if (obs->coprocess_rss >= 0)
        json_object_set_new(r, "coprocess_rss", json_integer(obs->coprocess_rss));
    if (obs->editor_rss >= 0)
        json_object_set_new(r, "editor_rss", json_integer(obs->editor_rss));
    if (obs->memlog_error)
        json_object_set_new(r, "memlog_error", utf8_cstring(obs->memlog_error));
    if (obs->log_dir_error && !json_object_get(r, "log_error")) {
        StrBuf sb = STRBUF_INIT;
        strbuf_printf(&sb, "log is off: %s", obs->log_dir_error);
        json_object_set_new(r, "log_error", utf8_cstring(strbuf_cstr(&sb)));
        strbuf_destroy(&sb);
    }
}

/* The first memory failure's limit (memfail.h: read by our plugin in the failing process) as
 * the memory's diagnosis, when it has none. */
static void diagnosis_from_failures(json_t *memory, const json_t *failures)
{
    size_t i;
    json_t *f;
    if (json_object_get(memory, "diagnosis"))
        return;
    json_array_foreach(failures, i, f) {
        json_t *lim = json_object_get(f, "memory_limit");
        if (!json_is_object(lim))
            continue;
        json_object_set(memory, "diagnosis", json_object_get(lim, "sentence"));
        json_object_set(memory, "diagnosis_cause", json_object_get(lim, "cause"));
        json_object_set_new(memory, "memory_related", json_true());
        return;
    }
}

json_t *runresult_result(RunResult *o, const RunFacts *f, Coverage **cov)
{
    if (cov)
        *cov = NULL;
    termline_finish(&o->lines, on_line, o);
    remember_failed(o);
    if (o->feed != NULL) {
        reportfeed_finish(o->feed);
        reportfeed_foreach_failed(o->feed, remember_streamed_failure, o);
    }
    size_t err_len = 0, tail_len = 0;
    char *err_text = tail_read(&o->err_tail, &err_len);
    char *tail_text = tail_read(&o->tail, &tail_len);
    json_t *r = json_object();
    json_object_set_new(r, "run_id", json_integer(f->id));
    json_object_set_new(r, "cwd", utf8_cstring(f->cwd ? f->cwd : ""));
    if (f->root)
        json_object_set_new(r, "root", utf8_cstring(f->root));
    if (f->python)
        json_object_set_new(r, "python", utf8_cstring(f->python));
    json_object_set_new(r, "seconds", json_real(f->seconds));
    json_object_set_new(r, "timed_out", json_boolean(f->timed_out));
    json_object_set_new(r, "output_tail", utf8_string(tail_text, tail_len));
    outputlog_finish(&o->log); /* complete on disk before anyone hears of the result */
    if (o->log.path)
        json_object_set_new(r, "log_path", utf8_cstring(o->log.path));
    if (o->log.error)
        json_object_set_new(r, "log_error", utf8_cstring(o->log.error));
    if (f->term_signal)
        json_object_set_new(r, "signal", json_integer(f->term_signal));

    /* Results: the JUnit report, else the terminal summary. */
    Report rep = {0};
    StrBuf why = STRBUF_INIT;
    json_t *counts = NULL, *failures = NULL;
    size_t failures_streamed = 0;
    double pytest_seconds = -1; /* pytest's own duration, when it told one */
    bool have_xml = false;
    if (f->spawned) {
        const char *rootdir = rootdir_of(o, f);
        /* Read as pytest wrote it, when the stream got the whole report; else from the file. */
        int rc = o->feed != NULL ? reportfeed_take_report(o->feed, &rep) : -ENOENT;
        /* Every failure of the report went out in `tests` events already (runresult_take_tests):
         * the result says so, and whoever pushes `finished` may leave the list out. */
        if (rc == 0 && rep.nfailures > 0 && reportfeed_failures_taken(o->feed) == rep.nfailures)
            failures_streamed = rep.nfailures;
        if (rc != 0)
            rc = report_from_junit(f->junit_path, rootdir, f->root, f->root, KEEP_SLOWEST, &rep, &why);
        if (rc == 0) {
            have_xml = true;
            json_t *rj = report_to_json(&rep);
            counts = json_incref(json_object_get(rj, "counts"));
            failures = json_incref(json_object_get(rj, "failures"));
            memfail_apply_all(failures); /* a memory failure names the limit that refused it */
            json_object_set(r, "slowest", json_object_get(rj, "slowest"));
            if (rep.seconds > 0) /* pytest's junitxml: the testsuite's time */
                pytest_seconds = rep.seconds;
            if (!counts) {
                counts = json_pack("{s:i, s:i, s:i, s:i, s:i, s:i, s:i}", "passed", rep.passed, "failed",
                                   rep.failed, "errors", rep.errors, "skipped", rep.skipped,
                                   "xfailed", rep.xfailed, "xpassed", rep.xpassed, "deselected",
                                   rep.deselected);
                if (rep.subtests_passed > 0) /* pytest's closing line says it last */
                    json_object_set_new(counts, "subtests_passed", json_integer(rep.subtests_passed));
            }
            json_decref(rj);
        } else if (rc == -ENOENT) {
            strbuf_reset(&why);
            strbuf_puts(&why, f->term_signal ? "pytest was killed before writing its JUnit report"
                                             : "pytest wrote no JUnit report");
        } else if (rc == JUNIT_EMALFORMED && rep.passed + rep.failed + rep.errors + rep.skipped > 0) {
            /* The plugin writes as tests end: a cut-off report means pytest died mid-run. */
            StrBuf cut = STRBUF_INIT;
            strbuf_printf(&cut, "pytest died before its JUnit report was complete (%s)", strbuf_cstr(&why));
            strbuf_destroy(&why);
            why = cut;
        }
        report_destroy(&rep);
    }
    /* The plugin stopped writing for want of space: the report is cut short (or empty), and
     * the answer is pytest's own, from its terminal. */
    bool no_space = f->spawned && !have_xml && o->saw_nospace;
    if (no_space) {
        strbuf_reset(&why);
        strbuf_printf(&why, "no space left in $TMPDIR (%s)", f->tmp_base ? f->tmp_base : "?");
    }
    if (!have_xml) {
        counts = empty_counts();
        failures = f->spawned ? fallback_failures(o, f, counts) : json_array();
        if (f->spawned)
            add_conftest_failure(o, f, err_text, err_len, failures);
        if (f->spawned) {
            json_object_set_new(r, "source", json_string("terminal"));
            json_object_set_new(r, "source_reason", display_cstring(strbuf_cstr(&why), 0, 0));
        }
    } else {
        json_object_set_new(r, "source", json_string("junit"));
    }
    strbuf_destroy(&why);
    /* The duration the run is told with is pytest's, as its closing line says it ("== 3 passed
     * in 0.44s =="), else its JUnit report's; our clock (`seconds`, spawn to exit: the
     * interpreter's start and pytest's collection too) only when pytest told none. */
    const ProgressFinal *fin = progress_final(o->progress);
    if (fin->seen && fin->seconds >= 0)
        pytest_seconds = fin->seconds;
    if (pytest_seconds >= 0)
        json_object_set_new(r, "pytest_seconds", json_real(pytest_seconds));
    double seconds = pytest_seconds >= 0 ? pytest_seconds : f->seconds;

    const char *did_not_run = NULL;
    char *error = run_error(o, f, err_text, err_len, have_xml, &did_not_run);
    const char *status = run_status(f, error != NULL);
    json_object_set_new(r, "status", json_string(status));
    if (f->spawned && !f->term_signal) {
        /* pytest's meaning of its exit code, unless pytest never ran: then the code is the
         * interpreter's (python -m pytest without pytest exits 1, which is no "tests failed") */
        json_object_set_new(r, "exit_code", json_integer(f->exit_status));
        json_object_set_new(r, "exit_meaning", json_string(did_not_run ? did_not_run
                                                                       : runresult_exit_meaning(f->exit_status)));
    }
    char *line = counts_line(counts, seconds);
    StrBuf summary = STRBUF_INIT;
    summary_sentence(&summary, f, status, error, line, any_counted(counts), seconds);
    if (no_space)
        strbuf_printf(&summary, " (no space left in $TMPDIR (%s): read from pytest's output)",
                      f->tmp_base ? f->tmp_base : "?");
    json_object_set_new(r, "summary", display_cstring(strbuf_cstr(&summary), 0, TEXTCLEAN_MESSAGE_MAX));
    strbuf_destroy(&summary);
    free(line);
    if (error)
        json_object_set_new(r, "error", display_cstring(error, TEXTCLEAN_KEEP_LF, TEXTCLEAN_MESSAGE_MAX));
    free(error);
    json_object_set_new(r, "counts", counts);
    if (failures_streamed > 0 && json_array_size(failures) == failures_streamed)
        json_object_set_new(r, "failures_streamed", json_integer((json_int_t)failures_streamed));
    json_object_set_new(r, "failures", failures);
    if (!json_object_get(r, "slowest"))
        json_object_set_new(r, "slowest", json_array());
    free(err_text);
    free(tail_text);
    json_object_set_new(r, "args", runresult_string_list(f->args));
    json_object_set_new(r, "cmd", runresult_string_list(f->cmd));
    if (f->python_why)
        json_object_set_new(r, "python_why", json_string(f->python_why));
    if (f->memory) {
        if (f->diagnose_from_failures)
            diagnosis_from_failures(f->memory, json_object_get(r, "failures"));
        json_object_set_new(r, "memory", f->memory);
    }
    if (f->coverage) {
        Coverage *c = result_coverage(f, r);
        if (cov)
            *cov = c;
        else if (c) {
            coverage_destroy(c);
            free(c);
        }
    }
    if (f->spawned) {
        json_object_set_new(r, "warm", json_boolean(f->warm));
        if (f->warm_reason) /* display text: it may name a file */
            json_object_set_new(r, "warm_reason", display_cstring(f->warm_reason, 0, TEXTCLEAN_MESSAGE_MAX));
        if (f->nearest_lookup)
            json_object_set_new(r, "nearest_lookup", json_string(f->nearest_lookup));
    }
    result_observed(f->observed, r);
    if (f->exited_ns) /* how long the result took once pytest had exited (bench/run.py reads it) */
        json_object_set_new(r, "exit_to_finished_ms", json_real((double)(monotime_ns() - f->exited_ns) / 1e6));
    return r;
}
