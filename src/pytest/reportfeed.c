/* reportfeed: the plugin's report read while it grows. See reportfeed.h. */
#include "pytest/reportfeed.h"

#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "base/strbuf.h"
#include "base/textclean.h"
#include "mem/memfail.h"
#include "parse/junit.h"

/* Read per poll at most (the rest waits for the next poll): a poll stays short on the loop. */
#define FEED_POLL_MAX (4u << 20)
#define FEED_READ (64u << 10)
/* Tests started and not finished kept as "running" at once (xdist: one per worker). */
#define FEED_MAX_RUNNING 256

typedef enum { T_RUNNING, T_PASSED, T_FAILED, T_ERROR, T_SKIPPED, T_XFAILED, T_XPASSED } TestStatus;

static const char *const status_names[] = {"running", "passed", "failed", "error",
                                           "skipped", "xfailed", "xpassed"};

typedef struct {
    char *nodeid;
    char *subtest;     /* a subtest of test `nodeid` (its description), else NULL */
    TestStatus status;
    double seconds;
    long long growth;  /* peak - rss at start, -1 unknown */
    long long peak;    /* its exact peak RSS, -1 unknown */
    bool has_gc;       /* the garbage collector ran during it (or gc.garbage grew): gc[] */
    long long gc[JUNIT_GC_N];
    bool finished;     /* a testcase was read for it */
    bool dirty;        /* changed since the last reportfeed_take_tests() */
    bool failure_listed; /* in failed_order */
    bool over_budget;  /* its growth is above the run's memory budget */
    char *file;        /* over the budget: its file (absolute) and 1-based definition line, 0 unknown */
    int line;
} TestEntry;

struct ReportFeed {
    char *path;
    int fd;               /* -1 until the file exists */
    off_t offset;         /* bytes of the file fed so far (the document's end: the first NUL) */
    size_t failures_taken; /* reportfeed_take_failures() has handed out the builder's first ones */
    JunitStream *stream;  /* NULL when libxml2 cannot be loaded: the feed then stays inactive */
    StrBuf err;
    int outcome;          /* the stream's result once it stopped (or ended), else 0 */
    bool ended, active, changed;
    char *rootdir;
    char *root;           /* the run's root: start and project directory of the report */
    size_t keep_slowest;
    ReportBuilder *builder; /* the result, aggregated as testcases arrive (after the session) */
    JunitSummary sum;     /* the stream's suite-level facts */
    long total;           /* -1 until collected */
    long done, failed;
    TestEntry *tests;
    size_t ntests, cap;
    json_t *index;        /* nodeid [NUL subtest] -> index into tests (a json object: a hash table
                           * we have; a node id holds no NUL, junit.h) */
    size_t *dirty;        /* indices of dirty entries, in the order they changed */
    size_t ndirty, cap_dirty;
    size_t running[FEED_MAX_RUNNING]; /* indices of running tests, oldest first */
    size_t nrunning;
    size_t *failed_order; /* indices of failed/errored tests, in the order they finished */
    size_t nfailed_order, cap_failed_order;
    long long peak_rss;   /* the highest exact peak (pytestmon.rss), -1 while none */
    size_t peak_at;       /* the test it is of */
    bool peak_before;     /* it is the peak before that test (its process's start-up and collection) */
    long long budget;     /* a test's memory budget in bytes (reportfeed_set_budget), 0 none */
    size_t nover;         /* tests over it */
};

/* The entry of test `nodeid`, or of its subtest `subtest` (NULL: the test's own), made when new. */
static TestEntry *entry_for(ReportFeed *f, const char *nodeid, const char *subtest, size_t *at)
{
    StrBuf key = STRBUF_INIT;
    const char *k = nodeid;
    size_t klen = strlen(nodeid);
    if (subtest != NULL) {
        strbuf_append(&key, nodeid, klen);
        strbuf_append(&key, "", 1);
        strbuf_puts(&key, subtest);
        k = key.data, klen = key.len;
    }
    json_t *i = json_object_getn(f->index, k, klen);
    if (i != NULL) {
        *at = (size_t)json_integer_value(i);
    } else {
        if (f->ntests == f->cap) {
            f->cap = f->cap ? f->cap * 2 : 256;
            f->tests = xrealloc(f->tests, f->cap * sizeof *f->tests);
        }
        *at = f->ntests++;
        f->tests[*at] = (TestEntry){.nodeid = xstrdup(nodeid), .subtest = subtest ? xstrdup(subtest) : NULL,
                                    .status = T_RUNNING, .growth = -1, .peak = -1};
        json_object_setn_new(f->index, k, klen, json_integer((json_int_t)*at));
    }
    strbuf_destroy(&key);
    return &f->tests[*at];
}

static void mark_dirty(ReportFeed *f, TestEntry *t, size_t at)
{
    f->changed = true;
    if (t->dirty)
        return;
    t->dirty = true;
    if (f->ndirty == f->cap_dirty) {
        f->cap_dirty = f->cap_dirty ? f->cap_dirty * 2 : 64;
        f->dirty = xrealloc(f->dirty, f->cap_dirty * sizeof *f->dirty);
    }
    f->dirty[f->ndirty++] = at;
}

static void running_remove(ReportFeed *f, size_t at)
{
    for (size_t i = 0; i < f->nrunning; i++) {
        if (f->running[i] == at) {
            memmove(&f->running[i], &f->running[i + 1], (f->nrunning - i - 1) * sizeof f->running[0]);
            f->nrunning--;
            return;
        }
    }
}

static void on_session(void *ud, const char *rootdir)
{
    ReportFeed *f = ud;
    free(f->rootdir);
    f->rootdir = xstrdup(rootdir);
    f->active = true;
    report_builder_free(f->builder);
    f->builder = report_builder_new(rootdir, f->root, f->root, f->keep_slowest);
    f->failures_taken = 0;
}

static void on_collected(void *ud, long count)
{
    ReportFeed *f = ud;
    f->total = count;
    f->active = f->changed = true;
}

static void on_start(void *ud, const char *nodeid, const char *worker)
{
    (void)worker;
    ReportFeed *f = ud;
    size_t at;
    TestEntry *t = entry_for(f, nodeid, NULL, &at);
    if (t->finished) /* run again (a rerun plugin): running anew */
        t->finished = false;
    t->status = T_RUNNING;
    t->seconds = 0;
    mark_dirty(f, t, at);
    running_remove(f, at);
    if (f->nrunning == FEED_MAX_RUNNING) { /* never told finished: the oldest goes */
        memmove(&f->running[0], &f->running[1], (FEED_MAX_RUNNING - 1) * sizeof f->running[0]);
        f->nrunning--;
    }
    f->running[f->nrunning++] = at;
}

static TestStatus status_of(JunitOutcome o)
{
    switch (o) {
    case JUNIT_PASSED: return T_PASSED;
    case JUNIT_FAILED: return T_FAILED;
    case JUNIT_ERROR:
    case JUNIT_COLLECTION_ERROR: return T_ERROR;
    case JUNIT_SKIPPED: return T_SKIPPED;
    case JUNIT_XFAILED: return T_XFAILED;
    case JUNIT_XPASSED_STRICT: return T_XPASSED;
    }
    return T_ERROR;
}

static bool is_failure(TestStatus s)
{
    return s == T_FAILED || s == T_ERROR || s == T_XPASSED;
}

static void list_failure(ReportFeed *f, TestEntry *t, size_t at)
{
    if (!is_failure(t->status) || t->failure_listed)
        return;
    t->failure_listed = true;
    if (f->nfailed_order == f->cap_failed_order) {
        f->cap_failed_order = f->cap_failed_order ? f->cap_failed_order * 2 : 16;
        f->failed_order = xrealloc(f->failed_order, f->cap_failed_order * sizeof *f->failed_order);
    }
    f->failed_order[f->nfailed_order++] = at;
    f->failed++;
}

/* A subtest's testcase (written while its test runs, before the test's own): an entry of its
 * own, finished at once, counted among the failures when it failed (pytest's "3 failed" counts
 * it) but not among the tests done; its test stays running. */
static void on_subtest(ReportFeed *f, const JunitCase *tc)
{
    size_t at;
    TestEntry *t = entry_for(f, tc->nodeid, tc->subtest, &at);
    TestStatus st = status_of(tc->outcome);
    if (!t->finished || (!is_failure(t->status) && is_failure(st)))
        t->status = st;
    if (tc->time > t->seconds)
        t->seconds = tc->time;
    t->finished = true;
    mark_dirty(f, t, at);
    list_failure(f, t, at);
}

/* A test whose growth is above the budget: where it is defined, for the warning's place. */
static void note_over_budget(ReportFeed *f, TestEntry *t, const JunitCase *tc)
{
    t->over_budget = true;
    f->nover++;
    const char *base = f->rootdir != NULL ? f->rootdir : f->root;
    if (tc->file != NULL && tc->file[0] != '\0') {
        StrBuf sb = STRBUF_INIT;
        if (tc->file[0] != '/' && base != NULL)
            strbuf_printf(&sb, "%s/", base);
        strbuf_puts(&sb, tc->file);
        free(t->file);
        t->file = strbuf_detach(&sb);
    }
    t->line = tc->line >= 0 ? tc->line + 1 : 0;
}

/* A testcase: the test's result. A test whose call failed and whose teardown errored has two
 * testcases: it stays "failed" (the first verdict), and takes the memory of the last. */
static int on_case(const JunitCase *tc, void *ud)
{
    ReportFeed *f = ud;
    if (f->builder != NULL)
        report_builder_case(tc, f->builder);
    if (tc->nodeid == NULL || tc->nodeid[0] == '\0' || tc->name == NULL || tc->name[0] == '\0')
        return 0; /* pytest's own junitxml (no nodeid), or pytest.exit's nameless placeholder */
    if (tc->subtest != NULL) {
        on_subtest(f, tc);
        return 0;
    }
    size_t at;
    TestEntry *t = entry_for(f, tc->nodeid, NULL, &at);
    TestStatus st = status_of(tc->outcome);
    bool again = t->finished;
    if (!again || (!is_failure(t->status) && is_failure(st)))
        t->status = st;
    if (tc->time > t->seconds)
        t->seconds = tc->time;
    if (tc->rss_start >= 0 && tc->rss_peak >= 0) {
        t->growth = tc->rss_peak >= tc->rss_start ? tc->rss_peak - tc->rss_start : 0;
        t->peak = tc->rss_peak;
    }
    if (tc->has_gc) {
        t->has_gc = true;
        memcpy(t->gc, tc->gc, sizeof t->gc);
    }
    if (f->budget > 0 && t->growth > f->budget && !t->over_budget)
        note_over_budget(f, t, tc);
    if (tc->rss_before > f->peak_rss) {
        f->peak_rss = tc->rss_before;
        f->peak_at = at;
        f->peak_before = true;
    }
    if (tc->rss_peak > f->peak_rss) {
        f->peak_rss = tc->rss_peak;
        f->peak_at = at;
        f->peak_before = false;
    }
    t->finished = true;
    running_remove(f, at);
    mark_dirty(f, t, at);
    if (tc->outcome == JUNIT_COLLECTION_ERROR)
        return 0; /* not a test of the run: no done, as pytest's progress counts */
    if (!again)
        f->done++;
    list_failure(f, t, at);
    return 0;
}

ReportFeed *reportfeed_new(const char *path, const char *root, size_t keep_slowest)
{
    ReportFeed *f = xcalloc(1, sizeof *f);
    f->path = xstrdup(path);
    f->root = root != NULL ? xstrdup(root) : NULL;
    f->keep_slowest = keep_slowest;
    f->fd = -1;
    f->total = -1;
    f->peak_rss = -1;
    f->index = json_object();
    strbuf_init(&f->err);
    JunitVisitor v = {.testcase = on_case, .start = on_start, .collected = on_collected,
                      .session = on_session, .ud = f};
    f->stream = junit_stream_new(&v, &f->sum, &f->err);
    return f;
}

void reportfeed_free(ReportFeed *f)
{
    if (f == NULL)
        return;
    junit_stream_free(f->stream);
    junit_summary_destroy(&f->sum);
    report_builder_free(f->builder);
    free(f->root);
    if (f->fd >= 0)
        close(f->fd);
    for (size_t i = 0; i < f->ntests; i++) {
        free(f->tests[i].nodeid);
        free(f->tests[i].subtest);
        free(f->tests[i].file);
    }
    free(f->tests);
    free(f->dirty);
    free(f->failed_order);
    json_decref(f->index);
    strbuf_destroy(&f->err);
    free(f->rootdir);
    free(f->path);
    free(f);
}

/* Feeds what was appended (at most `max` bytes). The plugin writes through a memory map whose
 * window ahead of its text is zeros: the text ends at the first NUL byte, and the next poll
 * reads again from there. */
static void read_more(ReportFeed *f, size_t max)
{
    if (f->stream == NULL || f->outcome != 0 || f->ended)
        return;
    if (f->fd < 0) {
        f->fd = open(f->path, O_RDONLY | O_CLOEXEC | O_NONBLOCK);
        if (f->fd < 0)
            return; /* not written yet */
    }
    char buf[FEED_READ];
    size_t got = 0;
    while (got < max) {
        ssize_t n = pread(f->fd, buf, sizeof buf, f->offset);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            return; /* what there is has been read (or it cannot be read: the final reader says) */
        const char *nul = memchr(buf, '\0', (size_t)n);
        size_t text = nul != NULL ? (size_t)(nul - buf) : (size_t)n;
        got += text;
        f->offset += (off_t)text;
        if (text > 0)
            f->outcome = junit_stream_feed(f->stream, buf, text);
        if (f->outcome != 0 || nul != NULL)
            return;
    }
}

bool reportfeed_poll(ReportFeed *f)
{
    read_more(f, FEED_POLL_MAX);
    bool changed = f->changed;
    f->changed = false;
    return changed;
}

int reportfeed_finish(ReportFeed *f)
{
    read_more(f, SIZE_MAX);
    if (f->stream == NULL)
        return -ELIBACC;
    if (f->fd < 0)
        return -ENOENT;
    if (!f->ended && f->outcome == 0) {
        f->ended = true;
        f->outcome = junit_stream_end(f->stream);
    }
    f->nrunning = 0; /* nothing runs any more */
    return f->outcome;
}

int reportfeed_take_report(ReportFeed *f, Report *out)
{
    if (!f->ended || f->outcome != 0)
        return f->outcome != 0 ? f->outcome : -EAGAIN;
    if (f->builder == NULL)
        return -ENOENT;
    report_builder_finish(f->builder, &f->sum, out);
    f->builder = NULL;
    return 0;
}

bool reportfeed_active(const ReportFeed *f)
{
    return f != NULL && f->active;
}

const char *reportfeed_rootdir(const ReportFeed *f)
{
    return f->rootdir;
}

const char *reportfeed_current(const ReportFeed *f)
{
    return f->nrunning ? f->tests[f->running[f->nrunning - 1]].nodeid : NULL;
}

/* Node id `s` made safe to show in the editor (textclean.h), capped. */
static json_t *display(const char *s)
{
    char *t = textclean_dup(s, strlen(s), 0, TEXTCLEAN_ID_MAX);
    json_t *j = json_string(t);
    free(t);
    return j ? j : json_string("");
}

/* Node id `s` as the test's identity, whole (the plugin's report is valid UTF-8 without NUL:
 * junit.h), for the editor to select it by: not display text. */
static json_t *identity(const char *s)
{
    return json_stringn_nocheck(s, strlen(s));
}

json_t *reportfeed_progress_json(const ReportFeed *f)
{
    long total = f->total > 0 ? f->total : 0;
    int percent = total > 0 ? (int)(f->done * 100 / total) : 0;
    json_t *j = json_pack("{s:i, s:i, s:i, s:i}", "done", (int)f->done, "total", (int)total, "failed",
                          (int)f->failed, "percent", percent > 100 ? 100 : percent);
    const char *cur = reportfeed_current(f);
    if (cur)
        json_object_set_new(j, "current", display(cur));
    return j;
}

/* [gen0, gen1, gen2, collected, uncollectable, gc_ns, garbage_growth] (junit.h JUNIT_GC_*). */
static json_t *gc_json(const long long *gc)
{
    json_t *a = json_array();
    for (int i = 0; i < JUNIT_GC_N; i++)
        json_array_append_new(a, json_integer((json_int_t)gc[i]));
    return a;
}

json_t *reportfeed_take_tests(ReportFeed *f)
{
    if (f->ndirty == 0)
        return NULL;
    json_t *a = json_array();
    for (size_t i = 0; i < f->ndirty; i++) {
        TestEntry *t = &f->tests[f->dirty[i]];
        t->dirty = false;
        json_t *e = json_pack("{s:o, s:s, s:f, s:I}", "nodeid", identity(t->nodeid), "status",
                              status_names[t->status], "duration_s", t->finished ? t->seconds : 0.0,
                              "rss_growth_bytes", (json_int_t)t->growth);
        if (t->subtest != NULL) /* display text, as report_failure_json() cleans it */
            json_object_set_new(e, "subtest", display(t->subtest));
        if (t->peak >= 0)
            json_object_set_new(e, "rss_peak_bytes", json_integer((json_int_t)t->peak));
        if (t->has_gc)
            json_object_set_new(e, "gc", gc_json(t->gc));
        if (t->over_budget)
            json_object_set_new(e, "over_budget", json_true());
        json_array_append_new(a, e);
    }
    f->ndirty = 0;
    return a;
}

json_t *reportfeed_take_failures(ReportFeed *f)
{
    size_t n = f->builder != NULL ? report_builder_nfailures(f->builder) : 0;
    if (n <= f->failures_taken)
        return NULL;
    json_t *a = json_array();
    for (size_t i = f->failures_taken; i < n; i++) {
        json_t *one = report_failure_json(report_builder_failure(f->builder, i));
        memfail_apply(one); /* a memory failure names the limit that refused it */
        json_array_append_new(a, one);
    }
    f->failures_taken = n;
    return a;
}

size_t reportfeed_failures_taken(const ReportFeed *f)
{
    return f->failures_taken;
}

void reportfeed_foreach_failed(const ReportFeed *f, void (*fn)(void *ud, const char *nodeid, bool is_error),
                               void *ud)
{
    for (size_t i = 0; i < f->nfailed_order; i++) {
        const TestEntry *t = &f->tests[f->failed_order[i]];
        fn(ud, t->nodeid, t->status == T_ERROR);
    }
}

void reportfeed_counts(const ReportFeed *f, long *passed, long *failed, long *errors, long *skipped,
                       long *xfailed, long *xpassed)
{
    long n[T_XPASSED + 1] = {0};
    for (size_t i = 0; i < f->ntests; i++)
        if (f->tests[i].finished)
            n[f->tests[i].status]++;
    *passed = n[T_PASSED], *failed = n[T_FAILED], *errors = n[T_ERROR];
    *skipped = n[T_SKIPPED], *xfailed = n[T_XFAILED], *xpassed = n[T_XPASSED];
}

/* A test's measure by which the tops are ordered: -1 when it has none. */
static long long measure(const TestEntry *t, ReportFeedTop by)
{
    switch (by) {
    case REPORTFEED_TOP_GROWTH: return t->growth;
    case REPORTFEED_TOP_PEAK: return t->peak;
    case REPORTFEED_TOP_GC: return t->has_gc ? t->gc[JUNIT_GC_NS] : -1;
    }
    return -1;
}

static int cmp_desc(const void *a, const void *b, void *by)
{
    const TestEntry *x = *(const TestEntry *const *)a, *y = *(const TestEntry *const *)b;
    long long mx = measure(x, *(ReportFeedTop *)by), my = measure(y, *(ReportFeedTop *)by);
    return mx != my ? (mx < my ? 1 : -1) : strcmp(x->nodeid, y->nodeid);
}

json_t *reportfeed_peak(const ReportFeed *f)
{
    if (f->peak_rss < 0)
        return NULL;
    return json_pack("{s:I, s:o, s:s}", "rss", (json_int_t)f->peak_rss, "nodeid",
                     display(f->tests[f->peak_at].nodeid), "when", f->peak_before ? "before" : "test");
}

void reportfeed_set_budget(ReportFeed *f, long long bytes)
{
    f->budget = bytes > 0 ? bytes : 0;
}

json_t *reportfeed_over_budget(const ReportFeed *f)
{
    if (f->budget <= 0)
        return NULL;
    json_t *a = json_array();
    for (size_t i = 0; i < f->ntests && json_array_size(a) < f->nover; i++) {
        const TestEntry *t = &f->tests[i];
        if (!t->over_budget)
            continue;
        json_t *e = json_pack("{s:o, s:I, s:i}", "nodeid", identity(t->nodeid), "growth", (json_int_t)t->growth,
                              "line", t->line);
        if (t->file != NULL) {
            json_t *file = json_string(t->file);
            if (file != NULL)
                json_object_set_new(e, "file", file);
        }
        json_array_append_new(a, e);
    }
    return a;
}

json_t *reportfeed_top(const ReportFeed *f, size_t n, ReportFeedTop by)
{
    const TestEntry **measured = xcalloc(f->ntests + 1, sizeof *measured);
    size_t m = 0;
    for (size_t i = 0; i < f->ntests; i++)
        if (measure(&f->tests[i], by) >= 0)
            measured[m++] = &f->tests[i];
    qsort_r(measured, m, sizeof *measured, cmp_desc, &by);
    json_t *a = json_array();
    for (size_t i = 0; i < m && i < n; i++) {
        const TestEntry *t = measured[i];
        json_t *e = json_pack("{s:o, s:s}", "nodeid", display(t->nodeid), "status", status_names[t->status]);
        if (t->growth >= 0)
            json_object_set_new(e, "growth", json_integer((json_int_t)t->growth));
        if (t->peak >= 0)
            json_object_set_new(e, "peak", json_integer((json_int_t)t->peak));
        if (t->has_gc)
            json_object_set_new(e, "gc", gc_json(t->gc));
        if (t->over_budget)
            json_object_set_new(e, "over_budget", json_true());
        json_array_append_new(a, e);
    }
    free(measured);
    return a;
}

json_t *reportfeed_top_growth(const ReportFeed *f, size_t n)
{
    return reportfeed_top(f, n, REPORTFEED_TOP_GROWTH);
}
