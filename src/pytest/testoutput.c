/* testoutput: one test's report from a run's report file. See testoutput.h. */
#include "pytest/testoutput.h"

#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "base/textclean.h"
#include "mem/memfail.h"
#include "parse/junit.h"
#include "parse/xmllib.h"

/* What the reader found for the test: plain strings, so that the thread pool never touches
 * jansson objects the loop thread may use. */
typedef struct {
    const char *nodeid;          /* the test asked for */
    char *classname, *name;      /* its names in pytest's junitxml (no nodeid attribute there) */
    size_t ncases;               /* the test's own testcases */
    size_t nsubtests;            /* its subtests' (junit.h: JunitCase.subtest) */
    JunitOutcome outcome;
    bool has_message, has_out, has_err;
    StrBuf message, text, out, err;
    char *memfail;               /* the plugin's facts of a memory failure (memfail.h), or NULL */
    long long rss_start, rss_peak; /* its exact memory (the last testcase's), -1 unknown */
    bool has_gc;
    long long gc[JUNIT_GC_N];    /* the garbage collector during it (junit.h) */
} Found;

/* pytest's junitxml classname and name of a node id, as its mangle_test_address():
 * "d/test_a.py::C::test[x::y]" -> "d.test_a.C", "test[x::y]" (parameters, from the first '[',
 * stay as they are; the path's '/' become '.' and its ".py" goes). */
static void mangle(const char *nodeid, char **classname, char **name)
{
    const char *bracket = strchr(nodeid, '[');
    char *path = bracket ? xstrndup(nodeid, (size_t)(bracket - nodeid)) : xstrdup(nodeid);
    char *sep = strstr(path, "::");
    size_t first = sep ? (size_t)(sep - path) : strlen(path);
    for (size_t i = 0; i < first; i++)
        if (path[i] == '/')
            path[i] = '.';
    if (first >= 3 && memcmp(path + first - 3, ".py", 3) == 0)
        memmove(path + first - 3, path + first, strlen(path + first) + 1);
    char *last = NULL;
    for (char *q = strstr(path, "::"); q; q = strstr(q + 2, "::"))
        last = q;
    StrBuf cls = STRBUF_INIT, nm = STRBUF_INIT;
    for (const char *q = path; last && q < last; q++) {
        if (q[0] == ':' && q[1] == ':') {
            strbuf_putc(&cls, '.');
            q++;
        } else {
            strbuf_putc(&cls, *q);
        }
    }
    strbuf_puts(&nm, last ? last + 2 : path);
    if (bracket)
        strbuf_puts(&nm, bracket);
    *classname = strbuf_detach(&cls);
    *name = strbuf_detach(&nm);
    free(path);
}

static void found_init(Found *f, const char *nodeid)
{
    memset(f, 0, sizeof *f);
    f->nodeid = nodeid;
    f->rss_start = f->rss_peak = -1;
    mangle(nodeid, &f->classname, &f->name);
    strbuf_init(&f->message);
    strbuf_init(&f->text);
    strbuf_init(&f->out);
    strbuf_init(&f->err);
}

static void found_destroy(Found *f)
{
    free(f->classname);
    free(f->name);
    free(f->memfail);
    strbuf_destroy(&f->message);
    strbuf_destroy(&f->text);
    strbuf_destroy(&f->out);
    strbuf_destroy(&f->err);
}

/* Appends display text, a blank line between two testcases' texts. */
static void add_text(StrBuf *to, const char *s, size_t n)
{
    if (!s || n == 0 || to->len >= TESTOUTPUT_TEXT_MAX)
        return;
    if (to->len)
        strbuf_puts(to, "\n\n");
    textclean_display(to, s, n, TEXTCLEAN_KEEP_LF, TESTOUTPUT_TEXT_MAX);
}

/* The plugin's testcases carry the node id; pytest's own junitxml only classname and name. */
static bool is_wanted(const Found *f, const JunitCase *tc)
{
    if (tc->nodeid)
        return strcmp(tc->nodeid, f->nodeid) == 0;
    return tc->classname && tc->name && strcmp(tc->classname, f->classname) == 0 &&
           strcmp(tc->name, f->name) == 0;
}

/* A subtest's testcase: its text under a line naming it, its output with the test's; the
 * test's status is the test's own (a subtest's only when the report has none of the test's). */
static void on_subtest(Found *f, const JunitCase *tc)
{
    if (f->nsubtests++ == 0 && f->ncases == 0)
        f->outcome = tc->outcome;
    for (size_t i = 0; i < tc->nresults; i++) {
        const JunitResult *res = &tc->results[i];
        if (res->text_len == 0 || f->text.len >= TESTOUTPUT_TEXT_MAX)
            continue;
        StrBuf head = STRBUF_INIT;
        strbuf_printf(&head, "subtest %s:\n", tc->subtest);
        add_text(&f->text, head.data, head.len);
        strbuf_destroy(&head);
        textclean_display(&f->text, res->text, res->text_len, TEXTCLEAN_KEEP_LF, TESTOUTPUT_TEXT_MAX);
    }
    f->has_out |= tc->system_out != NULL;
    f->has_err |= tc->system_err != NULL;
    add_text(&f->out, tc->system_out, tc->system_out_len);
    add_text(&f->err, tc->system_err, tc->system_err_len);
}

static int on_case(const JunitCase *tc, void *ud)
{
    Found *f = ud;
    if (!is_wanted(f, tc))
        return 0;
    if (tc->subtest != NULL) {
        on_subtest(f, tc);
        return 0;
    }
    if (f->ncases++ == 0) {
        f->outcome = tc->outcome;
        if (tc->message) {
            f->has_message = true;
            textclean_display(&f->message, tc->message, strlen(tc->message), TEXTCLEAN_KEEP_LF,
                              TEXTCLEAN_MESSAGE_MAX);
        }
    }
    if (tc->memfail && !f->memfail)
        f->memfail = xstrdup(tc->memfail);
    if (tc->rss_start >= 0 && tc->rss_peak >= 0) {
        f->rss_start = tc->rss_start;
        f->rss_peak = tc->rss_peak;
    }
    if (tc->has_gc) {
        f->has_gc = true;
        memcpy(f->gc, tc->gc, sizeof f->gc);
    }
    for (size_t i = 0; i < tc->nresults; i++)
        if (tc->results[i].tag != JUNIT_RESULT_SKIPPED || tc->outcome == JUNIT_SKIPPED)
            add_text(&f->text, tc->results[i].text, tc->results[i].text_len);
    f->has_out |= tc->system_out != NULL;
    f->has_err |= tc->system_err != NULL;
    add_text(&f->out, tc->system_out, tc->system_out_len);
    add_text(&f->err, tc->system_err, tc->system_err_len);
    return 0;
}

/* The contract's status names (the `tests` event's). */
static const char *status_name(JunitOutcome o)
{
    switch (o) {
    case JUNIT_PASSED: return "passed";
    case JUNIT_FAILED: return "failed";
    case JUNIT_ERROR:
    case JUNIT_COLLECTION_ERROR: return "error";
    case JUNIT_SKIPPED: return "skipped";
    case JUNIT_XFAILED: return "xfailed";
    case JUNIT_XPASSED_STRICT: return "xpassed";
    }
    return "failed";
}

/* 0 when the test was found (a report cut short still answers for what it holds), else -1
 * with err set. */
static int read_found(const char *path, const char *nodeid, Found *f, StrBuf *err)
{
    StrBuf why = STRBUF_INIT;
    int rc = junit_read_output(path, on_case, f, &why);
    if (f->ncases + f->nsubtests > 0 || rc == 0 || rc == JUNIT_EMALFORMED) {
        if (f->ncases + f->nsubtests == 0) {
            StrBuf cleaned = STRBUF_INIT;
            textclean_display(&cleaned, nodeid, strlen(nodeid), 0, TEXTCLEAN_MESSAGE_MAX);
            strbuf_printf(err, "no test '%s' in the run's report%s", strbuf_cstr(&cleaned),
                          rc == 0 ? "" : " so far (it is cut short: the run is still writing it, or was killed)");
            strbuf_destroy(&cleaned);
            rc = -1;
        } else {
            rc = 0;
        }
    } else {
        strbuf_printf(err, "cannot read the run's report: %s", strbuf_cstr(&why));
        rc = -1;
    }
    strbuf_destroy(&why);
    return rc;
}

static json_t *found_json(const Found *f, int64_t run_id, const char *nodeid)
{
    json_t *r = json_object();
    json_object_set_new(r, "run_id", json_integer(run_id));
    json_object_set_new(r, "nodeid", json_stringn_nocheck(nodeid, strlen(nodeid))); /* as asked */
    json_object_set_new(r, "status", json_string(status_name(f->outcome)));
    if (f->has_message)
        json_object_set_new(r, "message", json_string(strbuf_cstr(&f->message)));
    if (f->rss_peak >= 0 || f->has_gc) { /* the plugin's exact measures (see `tests`) */
        json_t *m = json_object();
        if (f->rss_peak >= 0) {
            json_object_set_new(m, "rss_start", json_integer((json_int_t)f->rss_start));
            json_object_set_new(m, "rss_peak", json_integer((json_int_t)f->rss_peak));
            json_object_set_new(m, "rss_growth", json_integer((json_int_t)(f->rss_peak > f->rss_start
                                                                               ? f->rss_peak - f->rss_start : 0)));
        }
        if (f->has_gc) {
            json_t *gc = json_array();
            for (int i = 0; i < JUNIT_GC_N; i++)
                json_array_append_new(gc, json_integer((json_int_t)f->gc[i]));
            json_object_set_new(m, "gc", gc);
        }
        json_object_set_new(r, "memory", m);
    }
    json_t *facts = f->memfail ? json_loads(f->memfail, 0, NULL) : NULL;
    if (json_is_object(facts)) { /* a memory failure: the limit that refused it, as in `failures` */
        json_object_set_new(r, "memfail", facts);
        memfail_apply(r);
    } else {
        json_decref(facts);
    }
    if (f->text.len)
        json_object_set_new(r, "text", json_string(strbuf_cstr(&f->text)));
    if (f->has_out)
        json_object_set_new(r, "stdout", json_string(strbuf_cstr(&f->out)));
    if (f->has_err)
        json_object_set_new(r, "stderr", json_string(strbuf_cstr(&f->err)));
    return r;
}

json_t *testoutput_read(const char *path, int64_t run_id, const char *nodeid, StrBuf *err)
{
    Found f;
    found_init(&f, nodeid);
    json_t *r = read_found(path, nodeid, &f, err) == 0 ? found_json(&f, run_id, nodeid) : NULL;
    found_destroy(&f);
    return r;
}

/* ---- in the thread pool --------------------------------------------------------- */

typedef struct {
    uv_work_t work;
    char *path, *nodeid;
    int64_t run_id;
    TestOutputDone done;
    void *ud;
    Found found;
    StrBuf err;
    int rc;
} Request;

static void work(uv_work_t *w)
{
    Request *q = w->data;
    q->rc = read_found(q->path, q->nodeid, &q->found, &q->err);
}

static void after_work(uv_work_t *w, int status)
{
    Request *q = w->data;
    json_t *r = NULL;
    if (status == 0 && q->rc == 0)
        r = found_json(&q->found, q->run_id, q->nodeid);
    else if (status != 0)
        strbuf_printf(&q->err, "reading the report was cancelled: %s", uv_strerror(status));
    q->done(q->ud, r, r ? NULL : strbuf_cstr(&q->err));
    json_decref(r);
    found_destroy(&q->found);
    strbuf_destroy(&q->err);
    free(q->path);
    free(q->nodeid);
    free(q);
}

int testoutput_start(uv_loop_t *loop, const char *path, int64_t run_id, const char *nodeid,
                     TestOutputDone done, void *ud)
{
    /* The worker must find libxml2 loaded: xmllib_get() is not thread-safe. */
    const XmlLib *xml;
    if (xmllib_get(&xml, NULL) != 0)
        return UV_ENOSYS;
    Request *q = xcalloc(1, sizeof *q);
    q->path = xstrdup(path);
    q->nodeid = xstrdup(nodeid);
    found_init(&q->found, q->nodeid);
    strbuf_init(&q->err);
    q->run_id = run_id;
    q->done = done;
    q->ud = ud;
    q->work.data = q;
    int rc = uv_queue_work(loop, &q->work, work, after_work);
    if (rc != 0) {
        found_destroy(&q->found);
        strbuf_destroy(&q->err);
        free(q->path);
        free(q->nodeid);
        free(q);
    }
    return rc;
}
