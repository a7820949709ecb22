/* junit: streaming reader for pytest's JUnit XML. See junit.h. */
#include "parse/junit.h"

#include <fcntl.h>
#include <stdbool.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <libxml/parser.h>
#include <libxml/xmlerror.h>

#include "parse/nodeid.h"
#include "parse/xmllib.h"

/* Bytes handed to libxml2 per xmlParseChunk(): its input buffer stays about this size
 * (it drops consumed input as it goes), whatever the file size. Small enough for the
 * stack: no per-read heap block in a co-process that reads a report after every run. */
#define JUNIT_CHUNK (16u << 10)

/* ---- the testcase being assembled --------------------------------------------------------- */

/* Offsets into CaseBuf.strings; NO_ATTR when the attribute is absent. */
#define NO_ATTR ((size_t)-1)

typedef struct {
    JunitResultTag tag;
    size_t message, type;
    StrBuf text;
} ResultBuf;

/* One testcase being assembled. Its buffers are reused from testcase to testcase (a file of
 * 100,000 testcases costs a handful of allocations, not five per testcase), so they hold at
 * most the largest testcase seen. */
typedef struct {
    StrBuf strings; /* this testcase's attribute values, each NUL-terminated */
    size_t classname, name, file, nodeid, frames, subtest, memfail;
    int line;
    double time;
    long long rss_start, rss_peak, rss_before;
    long long gc[JUNIT_GC_N];
    bool has_gc;
    StrBuf out, err; /* <system-out>, <system-err> (kept only when the visitor asks) */
    bool has_out, has_err;
    ResultBuf *results; /* results[0..cap) keep their text buffers between testcases */
    size_t nresults, cap;
} CaseBuf;

static void casebuf_reset(CaseBuf *c)
{
    strbuf_reset(&c->strings);
    c->classname = c->name = c->file = c->nodeid = c->frames = c->subtest = c->memfail = NO_ATTR;
    c->rss_start = c->rss_peak = c->rss_before = -1;
    c->has_gc = false;
    strbuf_reset(&c->out);
    strbuf_reset(&c->err);
    c->has_out = c->has_err = false;
    c->nresults = 0;
}

static void casebuf_destroy(CaseBuf *c)
{
    strbuf_destroy(&c->strings);
    strbuf_destroy(&c->out);
    strbuf_destroy(&c->err);
    for (size_t i = 0; i < c->cap; i++)
        strbuf_destroy(&c->results[i].text);
    free(c->results);
    memset(c, 0, sizeof *c);
}

static const char *casebuf_str(const CaseBuf *c, size_t off)
{
    return off == NO_ATTR ? NULL : c->strings.data + off;
}

/* Locale-independent "123.456" (pytest writes "%.3f"); 0 when unparsable or absurd (>= 1e12 s:
 * 400 digits made it inf, which report_to_json() cannot encode -- found by fuzz_junit). */
static double parse_seconds(const char *s)
{
    if (s == NULL)
        return 0;
    double v = 0, scale = 1;
    bool any = false, frac = false;
    for (; *s; s++) {
        if (*s >= '0' && *s <= '9') {
            any = true;
            if (frac) {
                scale /= 10;
                v += (*s - '0') * scale;
            } else {
                v = v * 10 + (*s - '0');
            }
        } else if (*s == '.' && !frac) {
            frac = true;
        } else {
            break;
        }
    }
    return any && v < 1e12 ? v : 0;
}

static int parse_line(const char *s)
{
    if (s == NULL || *s == '\0')
        return -1;
    long v = 0;
    for (; *s; s++) {
        if (*s < '0' || *s > '9' || v > 100000000)
            return -1;
        v = v * 10 + (*s - '0');
    }
    return (int)v;
}

static bool starts_with(const char *s, const char *prefix)
{
    return s != NULL && strncmp(s, prefix, strlen(prefix)) == 0;
}

static JunitOutcome result_outcome(const JunitResult *r)
{
    switch (r->tag) {
    case JUNIT_RESULT_FAILURE:
        return starts_with(r->message, "[XPASS(strict)]") ? JUNIT_XPASSED_STRICT : JUNIT_FAILED;
    case JUNIT_RESULT_ERROR:
        return (r->message != NULL && strcmp(r->message, "collection failure") == 0)
                   ? JUNIT_COLLECTION_ERROR
                   : JUNIT_ERROR;
    case JUNIT_RESULT_SKIPPED:
        if (r->type != NULL && strcmp(r->type, "pytest.xfail") == 0)
            return JUNIT_XFAILED;
        if (r->message != NULL && strcmp(r->message, "xfail-marked test passes unexpectedly") == 0)
            return JUNIT_XPASSED_STRICT;
        return JUNIT_SKIPPED;
    }
    return JUNIT_FAILED;
}

static int emit_case(CaseBuf *c, JunitCaseFn fn, void *ud, JunitSummary *sum)
{
    JunitResult stackres[4];
    JunitResult *res = c->nresults <= 4 ? stackres : xcalloc(c->nresults, sizeof *res);
    JunitCase tc = {
        .classname = casebuf_str(c, c->classname), .name = casebuf_str(c, c->name),
        .file = casebuf_str(c, c->file), .line = c->line,
        .nodeid = casebuf_str(c, c->nodeid), .frames = casebuf_str(c, c->frames),
        .subtest = casebuf_str(c, c->subtest),
        .memfail = casebuf_str(c, c->memfail),
        .time = c->time, .rss_start = c->rss_start, .rss_peak = c->rss_peak,
        .rss_before = c->rss_before, .has_gc = c->has_gc,
        .system_out = c->has_out ? strbuf_cstr(&c->out) : NULL, .system_out_len = c->out.len,
        .system_err = c->has_err ? strbuf_cstr(&c->err) : NULL, .system_err_len = c->err.len,
        .outcome = JUNIT_PASSED, .results = res, .nresults = c->nresults,
    };
    if (c->has_gc)
        memcpy(tc.gc, c->gc, sizeof tc.gc);
    size_t decider = (size_t)-1;
    for (size_t i = 0; i < c->nresults; i++) {
        res[i] = (JunitResult){
            .tag = c->results[i].tag, .message = casebuf_str(c, c->results[i].message),
            .type = casebuf_str(c, c->results[i].type), .text = strbuf_cstr(&c->results[i].text),
            .text_len = c->results[i].text.len,
        };
        /* the first failure/error decides; a skipped child only when there is nothing else */
        if (decider == (size_t)-1 ||
            (res[decider].tag == JUNIT_RESULT_SKIPPED && res[i].tag != JUNIT_RESULT_SKIPPED))
            decider = i;
    }
    if (decider != (size_t)-1) {
        tc.outcome = result_outcome(&res[decider]);
        tc.message = res[decider].message;
        tc.type = res[decider].type;
        tc.text = res[decider].text;
    }
    if (sum != NULL)
        sum->ncases++;
    int rc = fn != NULL ? fn(&tc, ud) : 0;
    if (res != stackres)
        free(res);
    casebuf_reset(c);
    return rc < 0 ? rc : 0;
}

/* ---- SAX2 callbacks ------------------------------------------------------------------------- */

/* The element and attribute names the reader looks for, as the parser's dictionary holds them:
 * libxml2 hands every name to the callbacks as a pointer into that dictionary, so a name is
 * compared by pointer first (strcmp() per attribute of every testcase was a tenth of the time). */
typedef struct {
    const xmlChar *testsuites, *testsuite, *testcase, *failure, *error, *skipped, *property,
        *system_out, *system_err, *classname, *name, *nodeid, *file, *line, *time, *value,
        *message, *type;
} Names;

/* Whether `name` (from the parser) is `lit`, whose dictionary entry is `interned` (NULL when it
 * could not be made: then by its characters). */
static inline bool name_is(const xmlChar *name, const xmlChar *interned, const char *lit)
{
    if (name == interned)
        return true;
    return interned == NULL && strcmp((const char *)name, lit) == 0;
}

/* State of one reading; libxml2's user data for every callback. */
struct JunitStream {
    Names nm;
    const XmlLib *xml;
    xmlParserCtxtPtr ctxt;
    JunitCaseFn fn;
    void *ud;
    JunitVisitor v;
    JunitSummary *sum;
    StrBuf *err;
    int depth;          /* elements open now */
    int case_depth;     /* depth of the open <testcase>, -1 outside one */
    bool seen_root, root_closed, doctype;
    ResultBuf *cur;     /* the failure/error/skipped whose text is being gathered, or NULL */
    StrBuf *cur_out;    /* the <system-out>/<system-err> text being gathered (keep_output), or NULL */
    size_t total;       /* bytes fed */
    int final;          /* the outcome once known (feeding stops), 0 before */
    bool ended;
    CaseBuf c;
    int rc;             /* first JUNIT_ENOTJUNIT / visitor stop; parsing halts on it */
    bool at_eof;        /* all input has been pushed: libxml2 is told it ended */
    bool have_xml_err;  /* first libxml2 error, kept for the message */
    bool xml_err_at_eof; /* ... raised only once the input ended: a cut-off document */
    int xml_err_line;
    StrBuf xml_err;
};
typedef struct JunitStream Reader;

/* Where pytest-plugin elements of the stream start with this prefix (cheap test first). */
#define PLUGIN_PREFIX "pytestmon-"

static void reader_stop(Reader *r, int rc)
{
    if (r->rc == 0)
        r->rc = rc;
    r->xml->StopParser(r->ctxt);
}

/* libxml2 hands attribute values as [value, end) slices with character and predefined entity
 * references decoded, except that '&' itself stays as "&#38;" (so that a tree builder can
 * reparse it). Every '&' in a slice therefore opens "&#38;". Appends the decoded value and a
 * NUL to c->strings; returns its offset. */
static size_t attr_store(CaseBuf *c, const xmlChar *value, const xmlChar *end)
{
    size_t off = c->strings.len;
    const char *v = (const char *)value, *e = (const char *)end;
    const char *amp;
    while ((amp = memchr(v, '&', (size_t)(e - v))) != NULL) {
        strbuf_append(&c->strings, v, (size_t)(amp - v) + 1);
        v = amp + (e - amp >= 5 && memcmp(amp, "&#38;", 5) == 0 ? 5 : 1);
    }
    strbuf_append(&c->strings, v, (size_t)(e - v));
    strbuf_putc(&c->strings, '\0');
    return off;
}

/* The string at `off` decoded from the plugin's `nodeid-esc` form (nodeid.h), in place. */
static size_t unescaped(CaseBuf *c, size_t off)
{
    nodeid_unescape(c->strings.data + off); /* shorter: the bytes after its NUL stay unused */
    return off;
}

/* attrs: nb 5-tuples (localname, prefix, URI, value, end). NO_ATTR if `name` (interned as
 * `interned`, see Names) is absent. */
static size_t attr_get(CaseBuf *c, const xmlChar **attrs, int nb, const xmlChar *interned, const char *name)
{
    for (int i = 0; i < nb; i++, attrs += 5)
        if (attrs[1] == NULL && name_is(attrs[0], interned, name))
            return attr_store(c, attrs[3], attrs[4]);
    return NO_ATTR;
}

/* Where a <testcase> attribute goes, or NULL for one we do not keep. One comparison per
 * attribute: this runs for every testcase of the file. */
static size_t *testcase_slot(const Names *n, CaseBuf *c, const xmlChar *name, size_t *line, size_t *time,
                             size_t *esc)
{
    switch (name[0]) {
    case 'c': return name_is(name, n->classname, "classname") ? &c->classname : NULL;
    case 'n':
        if (name_is(name, n->name, "name"))
            return &c->name;
        if (name_is(name, n->nodeid, "nodeid"))
            return &c->nodeid;
        return strcmp((const char *)name, "nodeid-esc") == 0 ? esc : NULL;
    case 'f': return name_is(name, n->file, "file") ? &c->file : NULL;
    case 'l': return name_is(name, n->line, "line") ? line : NULL;
    case 's': return strcmp((const char *)name, "subtest") == 0 ? &c->subtest : NULL;
    case 't': return name_is(name, n->time, "time") ? time : NULL;
    }
    return NULL;
}

/* attrs: nb 5-tuples (localname, prefix, URI, value, end); libxml2 drops a repeated
 * attribute, so each name comes at most once. */
static void open_testcase(Reader *r, const xmlChar **attrs, int nb)
{
    CaseBuf *c = &r->c;
    size_t line = NO_ATTR, time = NO_ATTR, esc = NO_ATTR;
    c->classname = c->name = c->file = c->nodeid = c->frames = c->subtest = c->memfail = NO_ATTR;
    for (int i = 0; i < nb; i++, attrs += 5) {
        size_t *slot = attrs[1] == NULL ? testcase_slot(&r->nm, c, attrs[0], &line, &time, &esc) : NULL;
        if (slot != NULL)
            *slot = attr_store(c, attrs[3], attrs[4]);
    }
    if (esc != NO_ATTR) /* the identity of a node id XML cannot carry */
        c->nodeid = unescaped(c, esc);
    c->line = parse_line(casebuf_str(c, line));
    c->time = parse_seconds(casebuf_str(c, time));
    r->case_depth = r->depth;
}

static void open_result(Reader *r, const char *nm, const xmlChar **attrs, int nb)
{
    CaseBuf *c = &r->c;
    if (c->nresults == c->cap) {
        size_t cap = c->cap ? c->cap * 2 : 2;
        c->results = xrealloc(c->results, cap * sizeof *c->results);
        for (size_t i = c->cap; i < cap; i++)
            strbuf_init(&c->results[i].text);
        c->cap = cap;
    }
    ResultBuf *res = &c->results[c->nresults++];
    res->tag = nm[0] == 'f' ? JUNIT_RESULT_FAILURE
               : nm[0] == 'e' ? JUNIT_RESULT_ERROR
                              : JUNIT_RESULT_SKIPPED;
    res->message = attr_get(c, attrs, nb, r->nm.message, "message");
    res->type = attr_get(c, attrs, nb, r->nm.type, "type");
    strbuf_reset(&res->text);
    r->cur = res;
}

/* One non-negative integer of at most 18 digits at *p (spaces before it skipped); -1 if none. */
static long long parse_count(const char **p, const char *end)
{
    const char *s = *p;
    while (s < end && *s == ' ')
        s++;
    long long v = 0;
    int digits = 0;
    for (; s < end && *s >= '0' && *s <= '9' && digits < 18; s++, digits++)
        v = v * 10 + (*s - '0');
    *p = s;
    return digits > 0 && (s == end || *s < '0' || *s > '9') ? v : -1;
}

/* A JSON array of at most `max` counts ("[1, 2, 3]") into out: how many, or -1 when it is not
 * one (out is then partly written). */
static int parse_counts(const char *s, const char *end, long long *out, int max)
{
    while (s < end && *s == ' ')
        s++;
    if (s == end || *s++ != '[')
        return -1;
    for (int n = 0; n < max; n++) {
        long long v = parse_count(&s, end);
        while (s < end && *s == ' ')
            s++;
        if (v < 0 || s == end)
            return -1;
        out[n] = v;
        if (*s == ']')
            return n + 1;
        if (*s++ != ',')
            return -1;
    }
    return -1;
}

/* "[rss_at_start, peak]" or "[rss_at_start, peak, before]" (JSON, bytes); all stay -1 unless
 * the array parses. */
static void parse_rss(CaseBuf *c, const char *s, const char *end)
{
    long long v[3];
    int n = parse_counts(s, end, v, 3);
    if (n < 2)
        return;
    c->rss_start = v[0];
    c->rss_peak = v[1];
    c->rss_before = n == 3 ? v[2] : -1;
}

/* The pytestmon plugin's properties: "pytestmon.frames", "pytestmon.memfail", "pytestmon.rss" and
 * "pytestmon.gc" of a testcase (kept with it) and
 * "pytestmon.counts" of the suite (kept in the summary). Other properties are skipped. */
static void on_property(Reader *r, bool in_case, const xmlChar **attrs, int nb)
{
    const xmlChar **name = NULL, **value = NULL;
    for (int i = 0; i < nb; i++, attrs += 5) {
        if (attrs[1] != NULL)
            continue;
        if (name_is(attrs[0], r->nm.name, "name"))
            name = attrs;
        else if (name_is(attrs[0], r->nm.value, "value"))
            value = attrs;
    }
    if (name == NULL || value == NULL || name[4] - name[3] < 10 ||
        memcmp(name[3], "pytestmon.", 10) != 0)
        return;
    size_t len = (size_t)(name[4] - name[3]);
    if (in_case && len == 16 && memcmp(name[3], "pytestmon.frames", 16) == 0) {
        r->c.frames = attr_store(&r->c, value[3], value[4]);
    } else if (in_case && len == 17 && memcmp(name[3], "pytestmon.memfail", 17) == 0) {
        r->c.memfail = attr_store(&r->c, value[3], value[4]);
    } else if (in_case && len == 12 && memcmp(name[3], "pytestmon.gc", 12) == 0) {
        long long v[JUNIT_GC_N];
        if (parse_counts((const char *)value[3], (const char *)value[4], v, JUNIT_GC_N) == JUNIT_GC_N) {
            memcpy(r->c.gc, v, sizeof v);
            r->c.has_gc = true;
        }
    } else if (in_case && len == 13 && memcmp(name[3], "pytestmon.rss", 13) == 0) {
        parse_rss(&r->c, (const char *)value[3], (const char *)value[4]);
    } else if (!in_case && len == 16 && memcmp(name[3], "pytestmon.counts", 16) == 0 &&
               r->sum != NULL) {
        size_t off = attr_store(&r->c, value[3], value[4]); /* c->strings is free outside a testcase */
        free(r->sum->counts);
        r->sum->counts = xstrdup(casebuf_str(&r->c, off));
        strbuf_reset(&r->c.strings);
    }
}

/* <pytestmon-session rootdir/>, <pytestmon-start nodeid worker?/> and <pytestmon-collected count/> (outside testcases; the
 * testcase buffer is free then). Others of ours from a later plugin are ignored. */
static void on_plugin_element(Reader *r, const char *what, const xmlChar **attrs, int nb)
{
    CaseBuf *c = &r->c;
    if (strcmp(what, "start") == 0 && r->v.start != NULL) {
        size_t nodeid = attr_get(c, attrs, nb, NULL, "nodeid-esc");
        nodeid = nodeid != NO_ATTR ? unescaped(c, nodeid) : attr_get(c, attrs, nb, r->nm.nodeid, "nodeid");
        size_t worker = attr_get(c, attrs, nb, NULL, "worker");
        if (nodeid != NO_ATTR)
            r->v.start(r->v.ud, casebuf_str(c, nodeid), casebuf_str(c, worker));
    } else if (strcmp(what, "session") == 0 && r->v.session != NULL) {
        size_t rootdir = attr_get(c, attrs, nb, NULL, "rootdir");
        if (rootdir != NO_ATTR)
            r->v.session(r->v.ud, casebuf_str(c, rootdir));
    } else if (strcmp(what, "collected") == 0 && r->v.collected != NULL) {
        size_t count = attr_get(c, attrs, nb, NULL, "count");
        const char *s = casebuf_str(c, count);
        long long n = s != NULL ? parse_count(&s, s + strlen(s)) : -1;
        if (n >= 0 && *s == '\0' && n <= 1000000000)
            r->v.collected(r->v.ud, (long)n);
    }
    strbuf_reset(&c->strings);
}

static void on_start(void *ctx, const xmlChar *localname, const xmlChar *prefix, const xmlChar *uri,
                     int nb_namespaces, const xmlChar **namespaces, int nb_attributes,
                     int nb_defaulted, const xmlChar **attrs)
{
    (void)prefix, (void)uri, (void)nb_namespaces, (void)namespaces, (void)nb_defaulted;
    Reader *r = ctx;
    const char *nm = (const char *)localname;
    const Names *n = &r->nm;
    bool in_case = r->case_depth >= 0;
    if (r->depth == 0) {
        r->seen_root = true;
        if (!name_is(localname, n->testsuites, "testsuites") && !name_is(localname, n->testsuite, "testsuite")) {
            if (r->err != NULL)
                strbuf_printf(r->err, "not a JUnit XML document (root element <%s>)", nm);
            reader_stop(r, JUNIT_ENOTJUNIT);
            return;
        }
    }
    if (!in_case && name_is(localname, n->testsuite, "testsuite")) {
        if (r->sum != NULL) { /* c->strings is free outside a testcase */
            size_t t = attr_get(&r->c, attrs, nb_attributes, r->nm.time, "time");
            r->sum->nsuites++;
            r->sum->seconds += parse_seconds(casebuf_str(&r->c, t));
            strbuf_reset(&r->c.strings);
        }
    } else if (!in_case && name_is(localname, n->testcase, "testcase")) {
        open_testcase(r, attrs, nb_attributes);
    } else if (in_case && r->depth == r->case_depth + 1 &&
               (name_is(localname, n->failure, "failure") || name_is(localname, n->error, "error") ||
                name_is(localname, n->skipped, "skipped"))) {
        open_result(r, nm, attrs, nb_attributes);
    } else if (name_is(localname, n->property, "property")) {
        on_property(r, in_case, attrs, nb_attributes);
    } else if (in_case && r->v.keep_output && r->depth == r->case_depth + 1 &&
               (name_is(localname, n->system_out, "system-out") || name_is(localname, n->system_err, "system-err"))) {
        bool is_out = nm[7] == 'o';
        r->cur_out = is_out ? &r->c.out : &r->c.err;
        *(is_out ? &r->c.has_out : &r->c.has_err) = true;
    } else if (!in_case && nm[0] == 'p' && strncmp(nm, PLUGIN_PREFIX, 10) == 0) {
        on_plugin_element(r, nm + 10, attrs, nb_attributes);
    }
    r->depth++;
}

static void on_end(void *ctx, const xmlChar *localname, const xmlChar *prefix, const xmlChar *uri)
{
    (void)localname, (void)prefix, (void)uri;
    Reader *r = ctx;
    r->depth--;
    if (r->depth == 0)
        r->root_closed = true;
    if ((r->cur != NULL || r->cur_out != NULL) && r->depth == r->case_depth + 1) {
        r->cur = NULL;
        r->cur_out = NULL;
    } else if (r->case_depth >= 0 && r->depth == r->case_depth) {
        r->case_depth = -1;
        r->cur = NULL;
        r->cur_out = NULL;
        int rc = emit_case(&r->c, r->fn, r->ud, r->sum);
        if (rc < 0)
            reader_stop(r, rc);
    }
}

/* Text (and CDATA) directly inside a failure/error/skipped element; deeper text is dropped. */
static void on_text(void *ctx, const xmlChar *s, int len)
{
    Reader *r = ctx;
    if (r->depth != r->case_depth + 2)
        return;
    if (r->cur != NULL)
        strbuf_append(&r->cur->text, (const char *)s, (size_t)len);
    else if (r->cur_out != NULL)
        strbuf_append(r->cur_out, (const char *)s, (size_t)len);
}

/* Called as soon as "<!DOCTYPE name ...>" has been read, before any internal subset is parsed:
 * no entity is ever declared, expanded or fetched. (No entityDecl handler is set either, so an
 * entity would stay undefined even if parsing went on.) */
static void on_doctype(void *ctx, const xmlChar *name, const xmlChar *external_id,
                       const xmlChar *system_id)
{
    (void)name, (void)external_id, (void)system_id;
    Reader *r = ctx;
    r->doctype = true;
    r->xml->StopParser(r->ctxt);
}

static void on_xml_error(void *ctx, xmlErrorPtr e)
{
    Reader *r = ctx;
    if (r == NULL || e == NULL || e->level < XML_ERR_ERROR || r->have_xml_err)
        return;
    r->have_xml_err = true;
    r->xml_err_at_eof = r->at_eof;
    r->xml_err_line = e->line;
    if (e->message != NULL) {
        size_t n = strlen(e->message);
        while (n > 0 && (e->message[n - 1] == '\n' || e->message[n - 1] == ' '))
            n--;
        strbuf_append(&r->xml_err, e->message, n);
    }
}

/* ---- the reader --------------------------------------------------------------------------- */

static const xmlSAXHandler junit_sax = {
    .internalSubset = on_doctype,
    .characters = on_text,
    .cdataBlock = on_text,
    .ignorableWhitespace = on_text,
    .initialized = XML_SAX2_MAGIC,
    .startElementNs = on_start,
    .endElementNs = on_end,
    .serror = on_xml_error,
};

/* Options: no network, texts over 10 MB allowed (captured output is not truncated), the
 * encoding declaration ignored (pytest writes UTF-8); never NOENT/DTDLOAD. */
#define JUNIT_XML_OPTIONS (XML_PARSE_NONET | XML_PARSE_HUGE | XML_PARSE_IGNORE_ENC)

/* The names in the parser's dictionary (a name that cannot be added stays NULL: compared by
 * its characters). */
static void names_intern(Reader *r)
{
    static const struct { size_t offset; const char *lit; } table[] = {
        {offsetof(Names, testsuites), "testsuites"}, {offsetof(Names, testsuite), "testsuite"},
        {offsetof(Names, testcase), "testcase"},     {offsetof(Names, failure), "failure"},
        {offsetof(Names, error), "error"},           {offsetof(Names, skipped), "skipped"},
        {offsetof(Names, property), "property"},     {offsetof(Names, system_out), "system-out"},
        {offsetof(Names, system_err), "system-err"}, {offsetof(Names, classname), "classname"},
        {offsetof(Names, name), "name"},             {offsetof(Names, nodeid), "nodeid"},
        {offsetof(Names, file), "file"},             {offsetof(Names, line), "line"},
        {offsetof(Names, time), "time"},             {offsetof(Names, value), "value"},
        {offsetof(Names, message), "message"},       {offsetof(Names, type), "type"},
    };
    for (size_t i = 0; i < sizeof table / sizeof table[0]; i++)
        *(const xmlChar **)((char *)&r->nm + table[i].offset) =
            r->ctxt->dict != NULL ? r->xml->DictLookup(r->ctxt->dict, (const xmlChar *)table[i].lit, -1) : NULL;
}

static int reader_init(Reader *r, const char *url, const JunitVisitor *v, JunitSummary *sum,
                       StrBuf *err)
{
    *r = (Reader){.fn = v->testcase, .ud = v->ud, .v = *v, .sum = sum, .err = err, .case_depth = -1};
    if (sum != NULL)
        *sum = (JunitSummary){0, 0, 0, NULL};
    int rc = xmllib_get(&r->xml, err);
    if (rc != 0)
        return rc;
    xmlSAXHandler sax = junit_sax; /* libxml2 copies it; the const table stays untouched */
    r->ctxt = r->xml->CreatePushParserCtxt(&sax, r, NULL, 0, url);
    if (r->ctxt == NULL) {
        if (err != NULL)
            strbuf_puts(err, "cannot create an XML parser (out of memory)");
        return -ENOMEM;
    }
    r->xml->CtxtUseOptions(r->ctxt, JUNIT_XML_OPTIONS);
    names_intern(r);
    strbuf_init(&r->xml_err);
    strbuf_init(&r->c.strings);
    strbuf_init(&r->c.out);
    strbuf_init(&r->c.err);
    casebuf_reset(&r->c);
    return 0;
}

/* Feeds bytes; false once the reader has a result (stop feeding). */
static bool reader_push(Reader *r, const char *buf, size_t len)
{
    r->xml->ParseChunk(r->ctxt, buf, (int)len, 0);
    return r->rc == 0 && !r->doctype && r->ctxt->wellFormed && !r->have_xml_err;
}

/* Tells libxml2 the input ended: what it reports now is about a document cut short. */
static void reader_end(Reader *r)
{
    r->at_eof = true;
    r->xml->ParseChunk(r->ctxt, NULL, 0, 1);
}

/* The outcome once input ended (or parsing stopped), with the message for it. */
static int reader_finish(Reader *r, size_t total)
{
    StrBuf *err = r->err;
    int rc = 0;
    if (r->rc != 0) {
        rc = r->rc;
    } else if (total == 0) {
        rc = JUNIT_EMALFORMED;
        if (err != NULL)
            strbuf_puts(err, "empty JUnit XML file (0 bytes)");
    } else if (r->doctype) {
        rc = JUNIT_EDOCTYPE;
        if (err != NULL)
            strbuf_puts(err, "DOCTYPE not allowed in JUnit XML (entity declarations are refused)");
    } else if (r->have_xml_err || !r->ctxt->wellFormed) {
        rc = JUNIT_EMALFORMED;
        if (err != NULL) {
            const char *what = (r->xml_err_at_eof && r->seen_root && !r->root_closed)
                                   ? "truncated XML (unexpected end of file)"
                                   : "truncated or malformed XML";
            if (r->have_xml_err)
                strbuf_printf(err, "%s at line %d: %s", what, r->xml_err_line,
                              strbuf_cstr(&r->xml_err));
            else
                strbuf_puts(err, what);
        }
    } else if (!r->seen_root) {
        rc = JUNIT_EMALFORMED;
        if (err != NULL)
            strbuf_puts(err, "empty JUnit XML document (no root element)");
    }
    return rc;
}

static void reader_destroy(Reader *r)
{
    casebuf_destroy(&r->c);
    r->xml->FreeParserCtxt(r->ctxt);
    strbuf_destroy(&r->xml_err);
}

/* ---- the stream ------------------------------------------------------------------------- */

JunitStream *junit_stream_new(const JunitVisitor *v, JunitSummary *summary, StrBuf *err)
{
    JunitStream *s = xmalloc(sizeof *s);
    if (reader_init(s, "stream", v, summary, err) != 0) {
        free(s);
        return NULL;
    }
    return s;
}

int junit_stream_feed(JunitStream *s, const char *buf, size_t len)
{
    if (s->final != 0 || s->ended)
        return s->final;
    size_t off = 0;
    while (off < len) { /* libxml2 takes an int length, and works best on modest chunks */
        size_t n = len - off < JUNIT_CHUNK ? len - off : JUNIT_CHUNK;
        s->total += n;
        bool more = reader_push(s, buf + off, n);
        off += n;
        if (!more) {
            s->final = reader_finish(s, s->total);
            if (s->final == 0) /* stopped without an error code: cannot happen, but never hang */
                s->final = JUNIT_EMALFORMED;
            return s->final;
        }
    }
    return 0;
}

int junit_stream_end(JunitStream *s)
{
    if (s->ended || s->final != 0)
        return s->final;
    s->ended = true;
    reader_end(s);
    s->final = reader_finish(s, s->total);
    return s->final;
}

size_t junit_stream_bytes(const JunitStream *s)
{
    return s->total;
}

void junit_stream_free(JunitStream *s)
{
    if (s == NULL)
        return;
    reader_destroy(s);
    free(s);
}

/* ---- whole files -------------------------------------------------------------------------- */

static int read_fd(int fd, const char *path, JunitStream *s, StrBuf *err)
{
    char buf[JUNIT_CHUNK];
    for (;;) {
        ssize_t n = read(fd, buf, sizeof buf);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0) {
            int rc = -errno;
            if (err != NULL)
                strbuf_printf(err, "cannot read %s: %s", path, strerror(errno));
            return rc;
        }
        if (n == 0)
            return junit_stream_end(s);
        /* A NUL ends the text: the plugin's file, memory-mapped, is zeros past what pytest wrote
         * before it died (XML has no NUL character). */
        const char *nul = memchr(buf, '\0', (size_t)n);
        int rc = junit_stream_feed(s, buf, nul != NULL ? (size_t)(nul - buf) : (size_t)n);
        if (rc != 0)
            return rc;
        if (nul != NULL)
            return junit_stream_end(s);
    }
}

static int read_path(const char *path, bool keep_output, JunitCaseFn fn, void *ud,
                     JunitSummary *summary, StrBuf *err)
{
    if (summary != NULL)
        *summary = (JunitSummary){0, 0, 0, NULL};
    JunitStream *s = NULL;
    int rc, fd;
    /* O_NONBLOCK: opening a FIFO would otherwise wait for a writer (regular files ignore it). */
    do {
        fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK);
    } while (fd < 0 && errno == EINTR);
    if (fd < 0) {
        rc = -errno;
        if (err != NULL)
            strbuf_printf(err, "cannot open %s: %s", path, strerror(-rc));
        return rc;
    }
    /* Only regular files: a FIFO would block the caller, a directory is a mistake. */
    struct stat st;
    rc = fstat(fd, &st) != 0 ? -errno : S_ISREG(st.st_mode) ? 0 : S_ISDIR(st.st_mode) ? -EISDIR : -EINVAL;
    if (rc != 0) {
        if (err != NULL)
            strbuf_printf(err, "cannot read %s: %s", path, strerror(-rc));
        goto error;
    }
    JunitVisitor v = {.testcase = fn, .ud = ud, .keep_output = keep_output};
    if ((s = junit_stream_new(&v, summary, err)) == NULL) {
        rc = -ELIBACC;
        goto error;
    }
    rc = read_fd(fd, path, s, err);
error:
    junit_stream_free(s);
    close(fd);
    return rc;
}

int junit_read(const char *path, JunitCaseFn fn, void *ud, JunitSummary *summary, StrBuf *err)
{
    return read_path(path, false, fn, ud, summary, err);
}

int junit_read_output(const char *path, JunitCaseFn fn, void *ud, StrBuf *err)
{
    return read_path(path, true, fn, ud, NULL, err);
}

int junit_read_memory(const char *buf, size_t len, JunitCaseFn fn, void *ud, JunitSummary *summary,
                      StrBuf *err)
{
    if (buf == NULL)
        len = 0;
    JunitVisitor v = {.testcase = fn, .ud = ud};
    JunitStream *s = junit_stream_new(&v, summary, err);
    if (s == NULL)
        return -ELIBACC;
    int rc = junit_stream_feed(s, buf, len);
    if (rc == 0)
        rc = junit_stream_end(s);
    junit_stream_free(s);
    return rc;
}

const char *junit_outcome_name(JunitOutcome o)
{
    switch (o) {
    case JUNIT_PASSED: return "passed";
    case JUNIT_FAILED: return "failed";
    case JUNIT_ERROR: return "error";
    case JUNIT_COLLECTION_ERROR: return "collection error";
    case JUNIT_SKIPPED: return "skipped";
    case JUNIT_XFAILED: return "xfailed";
    case JUNIT_XPASSED_STRICT: return "xpassed strict";
    }
    return "unknown";
}

void junit_summary_destroy(JunitSummary *sum)
{
    free(sum->counts);
    sum->counts = NULL;
}
