/* report: aggregate a pytest run from its JUnit XML. See report.h. */
#include "parse/report.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "parse/frames.h"
#include "parse/junit.h"
#include "parse/failmsg.h"
#include "parse/location.h"
#include "parse/nodeid.h"
#include "base/textclean.h"

typedef struct {
    Report *r;
    LocationDirs dirs;
    PathCache paths; /* the file system's answers, for this report only */
    size_t keep;
    size_t cap_failures;
    size_t min_slow; /* index of the shortest kept slow test (valid when nslowest > 0) */
    uint64_t *slow_hash; /* hash of r->slowest[i].nodeid: most duplicate checks skip strcmp */
} Ctx;

static bool starts_with(const char *s, const char *p)
{
    return s != NULL && strncmp(s, p, strlen(p)) == 0;
}

static bool result_is_failure(const JunitResult *res, FailureKind *kind)
{
    switch (res->tag) {
    case JUNIT_RESULT_FAILURE:
        *kind = starts_with(res->message, "[XPASS(strict)]") ? FAILURE_XPASS_STRICT
                                                              : FAILURE_FAILED;
        return true;
    case JUNIT_RESULT_ERROR:
        *kind = (res->message != NULL && strcmp(res->message, "collection failure") == 0)
                    ? FAILURE_COLLECTION
                    : FAILURE_ERROR;
        return true;
    case JUNIT_RESULT_SKIPPED:
        if (res->message != NULL &&
            strcmp(res->message, "xfail-marked test passes unexpectedly") == 0) {
            *kind = FAILURE_XPASS_STRICT;
            return true;
        }
        return false;
    }
    return false;
}

static const char *when_of(FailureKind kind, const char *message)
{
    switch (kind) {
    case FAILURE_FAILED:
    case FAILURE_XPASS_STRICT:
        return "call";
    case FAILURE_ERROR:
        if (starts_with(message, "failed on setup with"))
            return "setup";
        if (starts_with(message, "failed on teardown with"))
            return "teardown";
        return NULL;
    case FAILURE_COLLECTION:
        return NULL;
    }
    return NULL;
}

/* pytest's own node id when the plugin wrote it, else rebuilt from the mangled names. */
static char *case_nodeid(Ctx *c, const JunitCase *tc)
{
    if (tc->nodeid != NULL && tc->nodeid[0] != '\0')
        return xstrdup(tc->nodeid);
    return nodeid_rebuild(tc->file, tc->classname, tc->name, c->dirs.rootdir, &c->paths);
}

/* Exact frames when the plugin recorded them, else the traceback text. */
static void locate(Ctx *c, const JunitCase *tc, const JunitResult *res, LocationSite *site)
{
    if (tc->frames != NULL) {
        char *test_file = tc->file != NULL ? path_normalize(c->dirs.rootdir, tc->file) : NULL;
        int rc = frames_locate(tc->frames, test_file, tc->line >= 0 ? tc->line + 1 : 0, site);
        free(test_file);
        if (rc == 0)
            return;
    }
    location_find(res->text, tc->file, tc->line, &c->dirs, &c->paths, site);
}

static void recompute_min(Report *r, Ctx *c)
{
    c->min_slow = 0;
    for (size_t i = 1; i < r->nslowest; i++)
        if (r->slowest[i].seconds < r->slowest[c->min_slow].seconds)
            c->min_slow = i;
}

/* Keeps the `keep` longest testcases. Runs for every testcase, so it stays cheap: the file
 * stays as the XML wrote it (relative) until ctx_finish() normalizes the few kept ones. */
static void consider_slow(Ctx *c, const JunitCase *tc)
{
    Report *r = c->r;
    if (c->keep == 0)
        return;
    if (r->nslowest == c->keep && tc->time <= r->slowest[c->min_slow].seconds)
        return; /* cannot enter, and cannot raise a kept duplicate either */
    char *nodeid = case_nodeid(c, tc);
    uint64_t h = str_hash(nodeid);
    for (size_t i = 0; i < r->nslowest; i++) {
        if (c->slow_hash[i] == h && strcmp(r->slowest[i].nodeid, nodeid) == 0) {
            /* call + teardown testcases of one test */
            if (tc->time > r->slowest[i].seconds)
                r->slowest[i].seconds = tc->time;
            free(nodeid);
            recompute_min(r, c);
            return;
        }
    }
    SlowTest st = {
        .nodeid = nodeid,
        .file = tc->file != NULL ? xstrdup(tc->file) : NULL,
        .line = tc->line >= 0 ? tc->line + 1 : 0,
        .seconds = tc->time,
    };
    size_t at;
    if (r->nslowest < c->keep) {
        at = r->nslowest++;
    } else { /* replaces the shortest */
        at = c->min_slow;
        free(r->slowest[at].nodeid);
        free(r->slowest[at].file);
    }
    r->slowest[at] = st;
    c->slow_hash[at] = h;
    recompute_min(r, c);
}

/* Whether res is the testcase's first failure or error (a memory failure's facts are its). */
static bool first_failure(const JunitCase *tc, const JunitResult *res)
{
    for (size_t i = 0; i < tc->nresults; i++)
        if (tc->results[i].tag != JUNIT_RESULT_SKIPPED)
            return &tc->results[i] == res;
    return false;
}

static void add_failure(Ctx *c, const JunitCase *tc, const JunitResult *res, FailureKind kind)
{
    Report *r = c->r;
    if (r->nfailures == c->cap_failures) {
        c->cap_failures = c->cap_failures ? c->cap_failures * 2 : 16;
        r->failures = xrealloc(r->failures, c->cap_failures * sizeof *r->failures);
    }
    LocationSite site;
    locate(c, tc, res, &site);
    const char *when = when_of(kind, res->message);
    r->failures[r->nfailures++] = (Failure){
        .nodeid = case_nodeid(c, tc),
        .subtest = tc->subtest != NULL ? xstrdup(tc->subtest) : NULL,
        .kind = kind,
        .when = when != NULL ? xstrdup(when) : NULL,
        .message = failmsg_line(res->message, res->text),
        .file = site.file,
        .line = site.line,
        .crash_file = site.crash_file,
        .crash_line = site.crash_line,
        .memfail = tc->memfail != NULL && first_failure(tc, res) ? xstrdup(tc->memfail) : NULL,
    }; /* the site's strings move into the Failure */
}

static int on_case(const JunitCase *tc, void *ud)
{
    Ctx *c = ud;
    Report *r = c->r;
    if (tc->name == NULL || tc->name[0] == '\0')
        return 0; /* pytest.exit / KeyboardInterrupt placeholder */
    switch (tc->outcome) {
    case JUNIT_PASSED: r->passed++; break;
    case JUNIT_FAILED: r->failed++; break;
    case JUNIT_ERROR:
    case JUNIT_COLLECTION_ERROR: r->errors++; break;
    case JUNIT_SKIPPED: r->skipped++; break;
    case JUNIT_XFAILED: r->xfailed++; break;
    case JUNIT_XPASSED_STRICT: r->xpassed++; break;
    }
    for (size_t i = 0; i < tc->nresults; i++) {
        FailureKind kind;
        if (result_is_failure(&tc->results[i], &kind))
            add_failure(c, tc, &tc->results[i], kind);
    }
    if (tc->subtest == NULL) /* the test's own time holds its subtests' */
        consider_slow(c, tc);
    return 0;
}

static int cmp_slow_desc(const void *a, const void *b)
{
    const SlowTest *x = a, *y = b;
    if (x->seconds != y->seconds)
        return x->seconds < y->seconds ? 1 : -1;
    return strcmp(x->nodeid, y->nodeid);
}

static void ctx_init(Ctx *c, Report *out, const char *rootdir, const char *start_dir,
                     const char *project_root, size_t keep_slowest)
{
    *out = (Report){0};
    *c = (Ctx){
        .r = out,
        .dirs = {rootdir, start_dir != NULL ? start_dir : rootdir,
                 project_root != NULL ? project_root : rootdir},
        .keep = keep_slowest,
    };
    path_cache_init(&c->paths);
    if (keep_slowest > 0) {
        out->slowest = xcalloc(keep_slowest, sizeof *out->slowest);
        c->slow_hash = xcalloc(keep_slowest, sizeof *c->slow_hash);
    }
}

/* The plugin's "pytestmon.counts": pytest's own numbers, as its terminal summary counts them
 * (a test that passed and errored in teardown is one passed and one error; a strict XPASS is
 * failed), replace those counted from the testcases. */
static void take_pytest_counts(Report *r, const char *json)
{
    json_t *counts = json_loads(json, 0, NULL);
    if (!json_is_object(counts)) {
        json_decref(counts);
        return;
    }
    static const struct { const char *category; size_t offset; } map[] = {
        {"passed", offsetof(Report, passed)},   {"failed", offsetof(Report, failed)},
        {"error", offsetof(Report, errors)},    {"skipped", offsetof(Report, skipped)},
        {"xfailed", offsetof(Report, xfailed)}, {"xpassed", offsetof(Report, xpassed)},
        {"deselected", offsetof(Report, deselected)},
        {"subtests passed", offsetof(Report, subtests_passed)},
    };
    for (size_t i = 0; i < sizeof map / sizeof map[0]; i++) {
        json_int_t n = json_integer_value(json_object_get(counts, map[i].category));
        *(int *)((char *)r + map[i].offset) = n > 0 && n < INT32_MAX ? (int)n : 0;
    }
    r->pytest_counts = true;
    json_decref(counts);
}

static void ctx_finish(Ctx *c, const JunitSummary *sum)
{
    free(c->slow_hash);
    c->slow_hash = NULL;
    path_cache_destroy(&c->paths);
    for (size_t i = 0; i < c->r->nslowest; i++) {
        SlowTest *st = &c->r->slowest[i];
        if (st->file != NULL) {
            char *abs = path_normalize(c->dirs.rootdir, st->file);
            free(st->file);
            st->file = abs;
        }
    }
    c->r->seconds = sum->seconds;
    if (sum->counts != NULL)
        take_pytest_counts(c->r, sum->counts);
    if (c->r->nslowest > 1)
        qsort(c->r->slowest, c->r->nslowest, sizeof *c->r->slowest, cmp_slow_desc);
}

int report_from_junit(const char *xml_path, const char *rootdir, const char *start_dir,
                      const char *project_root, size_t keep_slowest, Report *out, StrBuf *err)
{
    Ctx c;
    JunitSummary sum;
    ctx_init(&c, out, rootdir, start_dir, project_root, keep_slowest);
    int rc = junit_read(xml_path, on_case, &c, &sum, err);
    ctx_finish(&c, &sum);
    junit_summary_destroy(&sum);
    return rc;
}

int report_from_junit_memory(const char *buf, size_t len, const char *rootdir,
                             const char *start_dir, const char *project_root, size_t keep_slowest,
                             Report *out, StrBuf *err)
{
    Ctx c;
    JunitSummary sum;
    ctx_init(&c, out, rootdir, start_dir, project_root, keep_slowest);
    int rc = junit_read_memory(buf, len, on_case, &c, &sum, err);
    ctx_finish(&c, &sum);
    junit_summary_destroy(&sum);
    return rc;
}

struct ReportBuilder {
    Ctx c;
    Report r;
    char *rootdir, *start_dir, *project_root; /* c.dirs points here */
};

ReportBuilder *report_builder_new(const char *rootdir, const char *start_dir, const char *project_root,
                                  size_t keep_slowest)
{
    ReportBuilder *b = xcalloc(1, sizeof *b);
    b->rootdir = xstrdup(rootdir);
    b->start_dir = start_dir != NULL ? xstrdup(start_dir) : NULL;
    b->project_root = project_root != NULL ? xstrdup(project_root) : NULL;
    ctx_init(&b->c, &b->r, b->rootdir, b->start_dir, b->project_root, keep_slowest);
    return b;
}

int report_builder_case(const JunitCase *tc, void *builder)
{
    ReportBuilder *b = builder;
    return on_case(tc, &b->c);
}

void report_builder_finish(ReportBuilder *b, const JunitSummary *sum, Report *out)
{
    JunitSummary none = {0, 0, 0, NULL};
    ctx_finish(&b->c, sum != NULL ? sum : &none); /* frees the context's own parts */
    *out = b->r;
    free(b->rootdir);
    free(b->start_dir);
    free(b->project_root);
    free(b);
}

size_t report_builder_nfailures(const ReportBuilder *b)
{
    return b->r.nfailures;
}

const Failure *report_builder_failure(const ReportBuilder *b, size_t i)
{
    return &b->r.failures[i];
}

void report_builder_free(ReportBuilder *b)
{
    if (b == NULL)
        return;
    free(b->c.slow_hash);
    path_cache_destroy(&b->c.paths);
    report_destroy(&b->r);
    free(b->rootdir);
    free(b->start_dir);
    free(b->project_root);
    free(b);
}

void report_destroy(Report *r)
{
    if (r == NULL)
        return;
    for (size_t i = 0; i < r->nfailures; i++) {
        Failure *f = &r->failures[i];
        free(f->nodeid);
        free(f->subtest);
        free(f->when);
        free(f->message);
        free(f->file);
        free(f->crash_file);
        free(f->memfail);
    }
    free(r->failures);
    for (size_t i = 0; i < r->nslowest; i++) {
        free(r->slowest[i].nodeid);
        free(r->slowest[i].file);
    }
    free(r->slowest);
    *r = (Report){0};
}

const char *report_failure_kind_name(FailureKind k)
{
    switch (k) {
    case FAILURE_FAILED: return "failed";
    case FAILURE_ERROR: return "error";
    case FAILURE_COLLECTION: return "collection error";
    case FAILURE_XPASS_STRICT: return "xpass strict";
    }
    return "unknown";
}

/* Sets key to the string s, or leaves it out when s is NULL. */
static void set_str(json_t *obj, const char *key, const char *s)
{
    if (s == NULL)
        return;
    json_t *j = json_string(s); /* NULL only for invalid UTF-8, which libxml2 never produces */
    json_object_set_new_nocheck(obj, key, j != NULL ? j : json_string("?"));
}

/* Sets key to s made safe to show (textclean.h), at most max bytes (0: all); absent when NULL.
 * textclean_display() makes valid UTF-8: jansson need not check it again. */
static void set_display(json_t *obj, const char *key, const char *s, unsigned flags, size_t max)
{
    if (s == NULL)
        return;
    StrBuf sb = STRBUF_INIT;
    textclean_display(&sb, s, strlen(s), flags, max);
    json_object_set_new_nocheck(obj, key, json_stringn_nocheck(strbuf_cstr(&sb), sb.len));
    strbuf_destroy(&sb);
}

/* Built key by key rather than with json_pack: a report may hold thousands of failures, and
 * this runs between pytest's exit and the editor's quickfix list. */
json_t *report_failure_json(const Failure *f)
{
    json_t *o = json_object();
    /* The test's identity (junit.h), whole: the editor selects, reruns and asks for the output of
     * the test by it. Not display text: the editor cleans and caps it where it shows it. */
    json_object_set_new_nocheck(o, "nodeid", json_stringn_nocheck(f->nodeid, strlen(f->nodeid)));
    /* Display text, cleaned and capped as the `tests` event's (reportfeed.c): the editor matches
     * the two. */
    set_display(o, "subtest", f->subtest, 0, TEXTCLEAN_ID_MAX);
    set_str(o, "kind", report_failure_kind_name(f->kind));
    set_display(o, "when", f->when, 0, 0);
    /* A 10 MB assertion message would make `finished` 20 MB and stall the editor: the log
     * has the whole text. */
    set_display(o, "message", f->message, TEXTCLEAN_KEEP_LF, TEXTCLEAN_MESSAGE_MAX);
    set_str(o, "file", f->file);
    json_object_set_new_nocheck(o, "line", json_integer(f->line));
    if (f->crash_file) {
        set_str(o, "crash_file", f->crash_file);
        json_object_set_new_nocheck(o, "crash_line", json_integer(f->crash_line));
    }
    if (f->memfail) { /* worded by the co-process (src/mem/memfail.h), which removes it */
        json_t *facts = json_loads(f->memfail, 0, NULL);
        if (json_is_object(facts))
            json_object_set_new_nocheck(o, "memfail", facts);
        else
            json_decref(facts);
    }
    return o;
}

json_t *report_to_json(const Report *r)
{
    json_t *failures = json_array();
    for (size_t i = 0; i < r->nfailures; i++)
        json_array_append_new(failures, report_failure_json(&r->failures[i]));
    json_t *slowest = json_array();
    for (size_t i = 0; i < r->nslowest; i++) {
        const SlowTest *s = &r->slowest[i];
        json_t *o = json_object();
        set_display(o, "nodeid", s->nodeid, 0, TEXTCLEAN_ID_MAX);
        set_str(o, "file", s->file);
        json_object_set_new_nocheck(o, "line", json_integer(s->line));
        json_object_set_new_nocheck(o, "seconds", json_real(s->seconds));
        json_array_append_new(slowest, o);
    }
    json_t *j = json_pack("{s:i, s:i, s:i, s:i, s:i, s:i, s:i, s:f, s:o, s:o}",
                          "passed", r->passed, "failed", r->failed, "errors", r->errors,
                          "skipped", r->skipped, "xfailed", r->xfailed, "xpassed", r->xpassed,
                          "deselected", r->deselected,
                          "seconds", r->seconds, "failures", failures, "slowest", slowest);
    if (r->subtests_passed > 0)
        json_object_set_new_nocheck(j, "subtests_passed", json_integer(r->subtests_passed));
    return j;
}
