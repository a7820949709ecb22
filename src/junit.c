/* junit: streaming reader for pytest's JUnit XML. See junit.h. */
#include "junit.h"

#include <fcntl.h>
#include <stdbool.h>
#include <limits.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <libxml/globals.h>
#include <libxml/parser.h>
#include <libxml/xmlerror.h>
#include <libxml/xmlreader.h>

/* ---- the prolog guard ---------------------------------------------------------------------- */

/* Scans the bytes before the root element (BOM, whitespace, <?..?>, <!--..-->) and trips on
 * any other "<!" there: a DOCTYPE (or any markup declaration) never reaches libxml2. */
typedef enum {
    G_BOM, G_MISC, G_LT, G_PI, G_PI_Q, G_BANG, G_BANG_DASH, G_COMMENT, G_COMMENT_D1,
    G_COMMENT_D2, G_DONE
} GuardState;

typedef struct {
    GuardState gs;
    size_t bom_pos;
    bool doctype; /* tripped: a DOCTYPE / declaration in the prolog */
} Source;

/* Returns false when the guard trips (a "<!" that does not open a comment in the prolog). */
static bool guard_scan(Source *s, const char *buf, size_t n)
{
    static const unsigned char bom[3] = {0xEF, 0xBB, 0xBF};
    for (size_t i = 0; i < n && s->gs != G_DONE; i++) {
        unsigned char c = (unsigned char)buf[i];
        switch (s->gs) {
        case G_BOM:
            if (s->bom_pos < 3 && c == bom[s->bom_pos]) {
                if (++s->bom_pos == 3)
                    s->gs = G_MISC;
                break;
            }
            if (s->bom_pos != 0) { /* partial BOM: garbage, libxml2 will say so */
                s->gs = G_DONE;
                break;
            }
            s->gs = G_MISC;
            /* fall through */
        case G_MISC:
            if (c == ' ' || c == '\t' || c == '\r' || c == '\n')
                break;
            s->gs = (c == '<') ? G_LT : G_DONE;
            break;
        case G_LT:
            s->gs = (c == '?') ? G_PI : (c == '!') ? G_BANG : G_DONE;
            break;
        case G_PI:
            if (c == '?')
                s->gs = G_PI_Q;
            break;
        case G_PI_Q:
            s->gs = (c == '>') ? G_MISC : (c == '?') ? G_PI_Q : G_PI;
            break;
        case G_BANG:
            if (c != '-') {
                s->doctype = true;
                return false;
            }
            s->gs = G_BANG_DASH;
            break;
        case G_BANG_DASH:
            s->gs = (c == '-') ? G_COMMENT : G_DONE;
            break;
        case G_COMMENT:
            if (c == '-')
                s->gs = G_COMMENT_D1;
            break;
        case G_COMMENT_D1:
            s->gs = (c == '-') ? G_COMMENT_D2 : G_COMMENT;
            break;
        case G_COMMENT_D2:
            s->gs = (c == '>') ? G_MISC : (c == '-') ? G_COMMENT_D2 : G_COMMENT;
            break;
        case G_DONE:
            break;
        }
    }
    return true;
}

/* ---- error capture ---------------------------------------------------------------------- */

typedef struct {
    bool have;
    int line;
    StrBuf msg;
} XmlErr;

static void capture_structured(void *ctx, xmlErrorPtr e)
{
    XmlErr *xe = ctx;
    if (xe == NULL || e == NULL || e->level < XML_ERR_ERROR || xe->have)
        return;
    xe->have = true;
    xe->line = e->line;
    strbuf_reset(&xe->msg);
    if (e->message != NULL) {
        size_t n = strlen(e->message);
        while (n > 0 && (e->message[n - 1] == '\n' || e->message[n - 1] == ' '))
            n--;
        strbuf_append(&xe->msg, e->message, n);
    }
}

static void ignore_generic(void *ctx, const char *fmt, ...)
{
    (void)ctx;
    (void)fmt;
}

/* ---- the testcase being assembled --------------------------------------------------------- */

typedef struct {
    JunitResultTag tag;
    char *message;
    char *type;
    StrBuf text;
} ResultBuf;

typedef struct {
    char *classname, *name, *file;
    int line;
    double time;
    ResultBuf *results;
    size_t nresults, cap;
} CaseBuf;

static void casebuf_clear(CaseBuf *c)
{
    free(c->classname);
    free(c->name);
    free(c->file);
    for (size_t i = 0; i < c->nresults; i++) {
        free(c->results[i].message);
        free(c->results[i].type);
        strbuf_destroy(&c->results[i].text);
    }
    free(c->results);
    memset(c, 0, sizeof *c);
}

static char *attr(xmlTextReaderPtr r, const char *name)
{
    xmlChar *v = xmlTextReaderGetAttribute(r, (const xmlChar *)name);
    if (v == NULL)
        return NULL;
    char *s = xstrdup((const char *)v);
    xmlFree(v);
    return s;
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
        .classname = c->classname, .name = c->name, .file = c->file, .line = c->line,
        .time = c->time, .outcome = JUNIT_PASSED, .results = res, .nresults = c->nresults,
    };
    size_t decider = (size_t)-1;
    for (size_t i = 0; i < c->nresults; i++) {
        res[i] = (JunitResult){
            .tag = c->results[i].tag, .message = c->results[i].message,
            .type = c->results[i].type, .text = strbuf_cstr(&c->results[i].text),
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
    casebuf_clear(c);
    return rc < 0 ? rc : 0;
}

/* ---- the reader loop ------------------------------------------------------------------------ */

/* For a file mapping: gives back the pages the parser has passed (they are clean file
 * pages and reload from the file if libxml2 ever looks back), so resident memory stays
 * bounded by what is being parsed, not by the file size. Never used on heap buffers. */
#define JUNIT_RELEASE_STEP (4u << 20)

static void release_consumed(const char *map, xmlTextReaderPtr r, size_t *released)
{
    long consumed = xmlTextReaderByteConsumed(r);
    if (consumed < 0 || (size_t)consumed < *released + 2 * JUNIT_RELEASE_STEP)
        return;
    size_t upto = ((size_t)consumed - JUNIT_RELEASE_STEP) & ~((size_t)4095);
    if (upto > *released && madvise((void *)map, upto, MADV_DONTNEED) == 0)
        *released = upto;
}

static int read_buffer(const char *buf, size_t len, bool mapped, const char *url, JunitCaseFn fn, void *ud,
                       JunitSummary *sum, StrBuf *err)
{
    if (len == 0) {
        if (err != NULL)
            strbuf_puts(err, "empty JUnit XML file (0 bytes)");
        return JUNIT_EMALFORMED;
    }
    if (len > INT_MAX) {
        if (err != NULL)
            strbuf_puts(err, "JUnit XML file larger than 2 GiB");
        return -EFBIG;
    }
    /* The prolog is checked before libxml2 sees a single byte: no DOCTYPE, no entities. */
    Source src = {.gs = G_BOM};
    if (!guard_scan(&src, buf, len)) {
        if (err != NULL)
            strbuf_puts(err, "DOCTYPE not allowed in JUnit XML (entity declarations are refused)");
        return JUNIT_EDOCTYPE;
    }

    XmlErr xe = {false, 0, STRBUF_INIT};
    xmlStructuredErrorFunc old_serr = xmlStructuredError;
    void *old_sctx = xmlStructuredErrorContext;
    xmlGenericErrorFunc old_gerr = xmlGenericError;
    void *old_gctx = xmlGenericErrorContext;
    xmlSetStructuredErrorFunc(&xe, capture_structured);
    xmlSetGenericErrorFunc(NULL, ignore_generic);

    CaseBuf c = {0};
    int rc = 0;
    bool seen_root = false, root_closed = false, in_case = false, collecting = false;
    int case_depth = -1;
    ResultBuf *cur = NULL;

    /* Encoding forced to UTF-8 and the declaration ignored: the guard saw the same bytes.
     * Memory input, not a push stream: libxml2 2.9.14's push-mode reader (xmlReaderForFile,
     * xmlReaderForIO) keeps growing its input buffer on large text nodes (~1.6x the input). */
    xmlTextReaderPtr r = xmlReaderForMemory(buf, (int)len, url, "UTF-8",
                                            XML_PARSE_NONET | XML_PARSE_HUGE | XML_PARSE_IGNORE_ENC);
    if (r == NULL) {
        rc = JUNIT_EMALFORMED;
        goto error;
    }
    xmlTextReaderSetStructuredErrorHandler(r, capture_structured, &xe);

    int ret;
    size_t released = 0;
    while ((ret = xmlTextReaderRead(r)) == 1) {
        if (mapped)
            release_consumed(buf, r, &released);
        int type = xmlTextReaderNodeType(r);
        int depth = xmlTextReaderDepth(r);
        const char *nm = (const char *)xmlTextReaderConstName(r);
        if (nm == NULL)
            nm = "";
        if (type == XML_READER_TYPE_DOCUMENT_TYPE) { /* unreachable: the guard trips first */
            src.doctype = true;
            break;
        }
        if (type == XML_READER_TYPE_ELEMENT) {
            bool empty = xmlTextReaderIsEmptyElement(r) == 1;
            if (depth == 0) {
                seen_root = true;
                root_closed = empty;
                if (strcmp(nm, "testsuites") != 0 && strcmp(nm, "testsuite") != 0) {
                    rc = JUNIT_ENOTJUNIT;
                    if (err != NULL)
                        strbuf_printf(err, "not a JUnit XML document (root element <%s>)", nm);
                    goto error;
                }
            }
            if (!in_case && strcmp(nm, "testsuite") == 0) {
                if (sum != NULL) {
                    char *t = attr(r, "time");
                    sum->nsuites++;
                    sum->seconds += parse_seconds(t);
                    free(t);
                }
            } else if (!in_case && strcmp(nm, "testcase") == 0) {
                c.classname = attr(r, "classname");
                c.name = attr(r, "name");
                c.file = attr(r, "file");
                char *s = attr(r, "line");
                c.line = parse_line(s);
                free(s);
                s = attr(r, "time");
                c.time = parse_seconds(s);
                free(s);
                if (empty) {
                    if ((rc = emit_case(&c, fn, ud, sum)) < 0)
                        goto error;
                } else {
                    in_case = true;
                    case_depth = depth;
                }
            } else if (in_case && depth == case_depth + 1 &&
                       (strcmp(nm, "failure") == 0 || strcmp(nm, "error") == 0 ||
                        strcmp(nm, "skipped") == 0)) {
                if (c.nresults == c.cap) {
                    c.cap = c.cap ? c.cap * 2 : 2;
                    c.results = xrealloc(c.results, c.cap * sizeof *c.results);
                }
                cur = &c.results[c.nresults++];
                cur->tag = nm[0] == 'f'   ? JUNIT_RESULT_FAILURE
                           : nm[0] == 'e' ? JUNIT_RESULT_ERROR
                                          : JUNIT_RESULT_SKIPPED;
                cur->message = attr(r, "message");
                cur->type = attr(r, "type");
                strbuf_init(&cur->text);
                collecting = !empty;
            }
        } else if (type == XML_READER_TYPE_TEXT || type == XML_READER_TYPE_CDATA ||
                   type == XML_READER_TYPE_WHITESPACE ||
                   type == XML_READER_TYPE_SIGNIFICANT_WHITESPACE) {
            if (collecting && cur != NULL && depth == case_depth + 2) {
                const char *v = (const char *)xmlTextReaderConstValue(r);
                if (v != NULL)
                    strbuf_puts(&cur->text, v);
            }
        } else if (type == XML_READER_TYPE_END_ELEMENT) {
            if (depth == 0)
                root_closed = true;
            if (collecting && depth == case_depth + 1) {
                collecting = false;
                cur = NULL;
            } else if (in_case && depth == case_depth) {
                in_case = false;
                collecting = false;
                cur = NULL;
                if ((rc = emit_case(&c, fn, ud, sum)) < 0)
                    goto error;
            }
        }
    }
    if (src.doctype) {
        rc = JUNIT_EDOCTYPE;
        if (err != NULL)
            strbuf_puts(err, "DOCTYPE not allowed in JUnit XML (entity declarations are refused)");
        goto error;
    }
    if (ret < 0 || xe.have) {
        rc = JUNIT_EMALFORMED;
        if (err != NULL) {
            /* libxml2's reader often calls a cut-off document "Extra content at the end" */
            const char *what = (seen_root && !root_closed)
                                   ? "truncated XML (unexpected end of file)"
                                   : "truncated or malformed XML";
            if (xe.have)
                strbuf_printf(err, "%s at line %d: %s", what, xe.line, strbuf_cstr(&xe.msg));
            else
                strbuf_puts(err, what);
        }
        goto error;
    }
    if (!seen_root) {
        rc = JUNIT_EMALFORMED;
        if (err != NULL)
            strbuf_puts(err, "empty JUnit XML document (no root element)");
        goto error;
    }
    if (in_case) { /* cannot happen with a well-formed document */
        rc = JUNIT_EMALFORMED;
        if (err != NULL)
            strbuf_puts(err, "truncated XML inside <testcase>");
        goto error;
    }
    rc = 0;

error:
    casebuf_clear(&c);
    if (r != NULL)
        xmlFreeTextReader(r);
    xmlSetStructuredErrorFunc(old_sctx, old_serr);
    xmlSetGenericErrorFunc(old_gctx, old_gerr);
    strbuf_destroy(&xe.msg);
    return rc;
}

int junit_read(const char *path, JunitCaseFn fn, void *ud, JunitSummary *summary, StrBuf *err)
{
    if (summary != NULL)
        *summary = (JunitSummary){0, 0, 0};
    int fd;
    do {
        fd = open(path, O_RDONLY | O_CLOEXEC);
    } while (fd < 0 && errno == EINTR);
    if (fd < 0) {
        int e = errno;
        if (err != NULL)
            strbuf_printf(err, "cannot open %s: %s", path, strerror(e));
        return -e;
    }
    struct stat st;
    if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
        int e = S_ISDIR(st.st_mode) ? EISDIR : errno != 0 ? errno : EINVAL;
        close(fd);
        if (err != NULL)
            strbuf_printf(err, "cannot read %s: %s", path, strerror(e));
        return -e;
    }
    if (st.st_size == 0) {
        close(fd);
        return read_buffer("", 0, false, path, fn, ud, summary, err);
    }
    /* A read-only private mapping: file-backed pages, not heap; released page by page. */
    void *map = mmap(NULL, (size_t)st.st_size, PROT_READ, MAP_PRIVATE, fd, 0);
    int e = errno;
    close(fd);
    if (map == MAP_FAILED) {
        if (err != NULL)
            strbuf_printf(err, "cannot map %s: %s", path, strerror(e));
        return -e;
    }
    (void)madvise(map, (size_t)st.st_size, MADV_SEQUENTIAL);
    int rc = read_buffer(map, (size_t)st.st_size, true, path, fn, ud, summary, err);
    munmap(map, (size_t)st.st_size);
    return rc;
}

int junit_read_memory(const char *buf, size_t len, JunitCaseFn fn, void *ud, JunitSummary *summary,
                      StrBuf *err)
{
    if (summary != NULL)
        *summary = (JunitSummary){0, 0, 0};
    return read_buffer(buf != NULL ? buf : "", buf != NULL ? len : 0, false, "memory", fn, ud, summary,
                       err);
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
