/* progress: incremental parser of pytest's `-v` terminal output. See progress.h. */
#include "parse/progress.h"

#include <ctype.h>
#include <stdlib.h>
#include <string.h>

#include "base/strbuf.h"
#include "parse/termline.h"

#define MAX_WORKERS 64

enum { PHASE_HEADER, PHASE_RUNNING, PHASE_REPORT };

struct Progress {
    TermLine *own_lines;    /* progress_feed()'s framing (NULL until used) */
    size_t partial_checked; /* length at the last start-of-test check of a partial line */
    bool partial_started;   /* the partial line already produced its start */
    char line[TERMLINE_HEAD + TERMLINE_TAIL + 1]; /* the line being parsed (cleaned in place) */

    int phase;
    bool xdist;
    ProgressCounts c;
    ProgressFinal fin;
    char *rootdir;
    char *running[PROGRESS_MAX_RUNNING];
    size_t nrunning;
    char *last_done[MAX_WORKERS + 1]; /* last finished node id per worker (slot 0 = serial) */

    ProgressResult *finished;
    size_t nfinished, capfinished, dropped;

    bool changed;
};

static const char *const status_names[] = {"PASSED", "FAILED", "ERROR", "SKIPPED", "XFAIL", "XPASS"};
#define NSTATUS (sizeof status_names / sizeof status_names[0])

Progress *progress_new(void)
{
    Progress *p = xcalloc(1, sizeof *p);
    p->c.collected = -1;
    p->c.percent = -1;
    p->fin.seconds = -1;
    return p;
}

static void clear_running(Progress *p)
{
    for (size_t i = 0; i < p->nrunning; i++)
        free(p->running[i]);
    p->nrunning = 0;
}

void progress_results_free(ProgressResult *r, size_t n)
{
    if (!r)
        return;
    for (size_t i = 0; i < n; i++)
        free(r[i].nodeid);
    free(r);
}

void progress_free(Progress *p)
{
    if (!p)
        return;
    clear_running(p);
    for (size_t i = 0; i <= MAX_WORKERS; i++)
        free(p->last_done[i]);
    progress_results_free(p->finished, p->nfinished);
    free(p->fin.text);
    free(p->rootdir);
    free(p->own_lines);
    free(p);
}

/* ---- small string helpers (all on explicit lengths; lines may hold NUL bytes) ---- */

#define starts termline_starts

static size_t rtrim(const char *s, size_t n)
{
    while (n && (s[n - 1] == ' ' || s[n - 1] == '\t' || s[n - 1] == '\r'))
        n--;
    return n;
}

/* Copy of s[0..n) cut back to a UTF-8 character boundary if it ends mid-sequence. */
static char *dup_utf8(const char *s, size_t n)
{
    size_t k = n, back = 0;
    while (k && back < 4 && ((unsigned char)s[k - 1] & 0xC0) == 0x80) {
        k--;
        back++;
    }
    if (k && ((unsigned char)s[k - 1] & 0x80)) {
        unsigned char lead = (unsigned char)s[k - 1];
        size_t need = lead >= 0xF0 ? 4 : lead >= 0xE0 ? 3 : lead >= 0xC0 ? 2 : 1;
        if (need != back + 1)
            n = k - 1; /* incomplete sequence at the end: drop it */
    }
    return xstrndup(s, n);
}

static bool parse_long(const char *s, size_t n, size_t *i, long *out)
{
    size_t j = *i;
    long v = 0;
    if (j >= n || !isdigit((unsigned char)s[j]))
        return false;
    while (j < n && isdigit((unsigned char)s[j])) {
        if (v < 1000000000000L)
            v = v * 10 + (s[j] - '0');
        j++;
    }
    *i = j;
    *out = v;
    return true;
}

/* Status word at s (whole word: followed by end, space or '('). */
static int status_at(const char *s, size_t n, size_t *wlen)
{
    for (size_t k = 0; k < NSTATUS; k++) {
        size_t l = strlen(status_names[k]);
        if (n >= l && memcmp(s, status_names[k], l) == 0 && (n == l || s[l] == ' ' || s[l] == '(')) {
            *wlen = l;
            return (int)k;
        }
    }
    return -1;
}

/* s is exactly `STATUS` or `STATUS (reason)`. */
static int status_exact(const char *s, size_t n)
{
    size_t l;
    int st = status_at(s, n, &l);
    if (st < 0)
        return -1;
    if (n == l)
        return st;
    if (n >= l + 3 && s[l] == ' ' && s[l + 1] == '(' && s[n - 1] == ')')
        return st;
    return -1;
}

/* s ends with `STATUS` or `STATUS (reason)`, possibly glued to preceding output (-s). */
static int status_suffix(const char *s, size_t n)
{
    for (size_t k = 0; k < NSTATUS; k++) {
        size_t l = strlen(status_names[k]);
        if (n >= l && memcmp(s + n - l, status_names[k], l) == 0)
            return (int)k;
    }
    if (n && s[n - 1] == ')') {
        size_t best = n;
        int st = -1;
        for (size_t k = 0; k < NSTATUS; k++) {
            size_t l = strlen(status_names[k]);
            for (size_t i = 0; i + l + 2 < n; i++) {
                if (s[i] == status_names[k][0] && memcmp(s + i, status_names[k], l) == 0 &&
                    s[i + l] == ' ' && s[i + l + 1] == '(') {
                    if (i < best) {
                        best = i;
                        st = (int)k;
                    }
                    break;
                }
            }
        }
        return st;
    }
    return -1;
}

/* Strip a trailing `[ 42%]` or `[ 3/28]`; returns true and sets *pct (0..100) if present. */
static bool strip_progress_suffix(const char *s, size_t *n, int *pct, long *cnt, long *tot)
{
    size_t m = rtrim(s, *n);
    if (!m || s[m - 1] != ']')
        return false;
    size_t open = m - 1;
    while (open && s[open] != '[')
        open--;
    if (s[open] != '[')
        return false;
    size_t i = open + 1;
    while (i < m && s[i] == ' ')
        i++;
    long a, b;
    if (!parse_long(s, m - 1, &i, &a))
        return false;
    if (i == m - 2 && s[i] == '%') {
        *pct = a > 100 ? 100 : (int)a;
        *cnt = *tot = -1;
    } else if (s[i] == '/') {
        i++;
        if (!parse_long(s, m - 1, &i, &b) || i != m - 1 || b <= 0)
            return false;
        *pct = (int)(a * 100 / b);
        *cnt = a;
        *tot = b;
    } else {
        return false;
    }
    *n = rtrim(s, open);
    return true;
}

/* Length of a node id at the start of s (`path.ext::name[::name][param]`), or 0.
 * When need_space, the id must be followed by a space (a partial line still growing). */
static size_t nodeid_prefix(const char *s, size_t n, bool need_space)
{
    if (!n)
        return 0;
    unsigned char c0 = (unsigned char)s[0];
    if (!(isalnum(c0) || c0 == '.' || c0 == '/' || c0 == '_' || c0 == '~' || c0 >= 0x80))
        return 0;
    size_t wl;
    if (status_at(s, n, &wl) >= 0)
        return 0; /* "FAILED tests/x.py::t - msg" (summary) */
    const char *sep = memmem(s, n, "::", 2);
    if (!sep)
        return 0;
    size_t p = (size_t)(sep - s);
    /* path: no '[', has an extension after the last '/' */
    const char *dot = NULL;
    for (size_t i = 0; i < p; i++) {
        if (s[i] == '[' || s[i] == '\n' || s[i] == '\t')
            return 0;
        if (s[i] == '/')
            dot = NULL;
        else if (s[i] == '.')
            dot = s + i;
    }
    if (!dot || dot == s + p - 1)
        return 0;
    size_t i = p + 2;
    size_t name_start = i;
    while (i < n && s[i] != ' ' && s[i] != '[')
        i++;
    if (i == name_start)
        return 0;
    if (i < n && s[i] == '[') {
        const char *close = NULL;
        for (size_t j = i + 1; j + 1 < n; j++)
            if (s[j] == ']' && s[j + 1] == ' ') {
                close = s + j;
                break;
            }
        if (close)
            return (size_t)(close - s) + 1;
        if (!need_space && s[n - 1] == ']')
            return n;
        return 0;
    }
    if (i < n) /* space */
        return i;
    return need_space ? 0 : n;
}

/* ---- state updates ---- */

static void start_test(Progress *p, const char *id, size_t n)
{
    for (size_t i = 0; i < p->nrunning; i++)
        if (strlen(p->running[i]) == n && memcmp(p->running[i], id, n) == 0)
            return;
    if (!p->xdist)
        clear_running(p);
    if (p->nrunning == PROGRESS_MAX_RUNNING) {
        free(p->running[0]);
        memmove(p->running, p->running + 1, (PROGRESS_MAX_RUNNING - 1) * sizeof p->running[0]);
        p->nrunning--;
    }
    p->running[p->nrunning++] = dup_utf8(id, n);
    p->changed = true;
}

static void record_result(Progress *p, const char *id, size_t n, int st, int worker)
{
    ProgressCounts *c = &p->c;
    switch ((ProgressStatus)st) {
    case PROGRESS_PASSED: c->passed++; break;
    case PROGRESS_FAILED: c->failed++; c->failed_so_far++; break;
    case PROGRESS_ERROR: c->errors++; c->failed_so_far++; break;
    case PROGRESS_SKIPPED: c->skipped++; break;
    case PROGRESS_XFAIL: c->xfailed++; break;
    case PROGRESS_XPASS: c->xpassed++; break;
    }
    char *nid = dup_utf8(id, n);
    size_t slot = worker < 0 ? 0 : worker < MAX_WORKERS ? (size_t)worker + 1 : MAX_WORKERS;
    bool teardown = st == PROGRESS_ERROR && p->last_done[slot] && strcmp(p->last_done[slot], nid) == 0;
    if (!teardown)
        c->done++;
    free(p->last_done[slot]);
    p->last_done[slot] = xstrdup(nid);

    if (!p->xdist) {
        clear_running(p);
    } else {
        for (size_t i = 0; i < p->nrunning; i++)
            if (strcmp(p->running[i], nid) == 0) {
                free(p->running[i]);
                memmove(p->running + i, p->running + i + 1, (p->nrunning - i - 1) * sizeof p->running[0]);
                p->nrunning--;
                break;
            }
    }

    if (p->nfinished == PROGRESS_MAX_FINISHED) { /* caller is not asking: drop the older half */
        size_t half = PROGRESS_MAX_FINISHED / 2;
        for (size_t i = 0; i < half; i++)
            free(p->finished[i].nodeid);
        memmove(p->finished, p->finished + half, (p->nfinished - half) * sizeof *p->finished);
        p->nfinished -= half;
        p->dropped += half;
    }
    if (p->nfinished == p->capfinished) {
        p->capfinished = p->capfinished ? p->capfinished * 2 : 16;
        p->finished = xrealloc(p->finished, p->capfinished * sizeof *p->finished);
    }
    p->finished[p->nfinished++] = (ProgressResult){nid, (ProgressStatus)st, teardown, worker};
    p->changed = true;
}

static void set_percent(Progress *p, int pct, long cnt, long tot)
{
    if (tot > 0 && p->c.collected < 0)
        p->c.collected = tot;
    (void)cnt;
    if (pct != p->c.percent) {
        p->c.percent = pct;
        p->changed = true;
    }
}

/* `collected 15 items[ / 1 error][ / 3 deselected / 12 selected]` anywhere after "collect". */
static bool parse_collected(Progress *p, const char *s, size_t n)
{
    const char *k = memmem(s, n, "collected ", 10);
    if (!k)
        return false;
    size_t i = (size_t)(k - s) + 10;
    long total, v;
    if (!parse_long(s, n, &i, &total))
        return false;
    long selected = -1, errors = 0;
    while (i < n) {
        if (s[i] == ' ' || s[i] == '/') {
            i++;
            continue;
        }
        if (!parse_long(s, n, &i, &v)) {
            while (i < n && s[i] != ' ')
                i++;
            continue;
        }
        if (i + 1 < n && s[i] == ' ') {
            if (starts(s + i + 1, n - i - 1, "selected"))
                selected = v;
            else if (starts(s + i + 1, n - i - 1, "error"))
                errors = v;
        }
    }
    p->c.collected = selected >= 0 ? selected : total;
    p->c.collect_errors = errors;
    p->changed = true;
    return true;
}

/* xdist headers: `gw0 I / gw1 I`, `gw0 [15] / gw1 [15]`, `2 workers [15 items]`. */
static bool parse_xdist_header(Progress *p, const char *s, size_t n)
{
    size_t i = 0;
    long v;
    if (starts(s, n, "gw")) {
        int workers = 0;
        long items = -1;
        while (i < n) {
            if (!starts(s + i, n - i, "gw"))
                return false;
            i += 2;
            if (!parse_long(s, n, &i, &v) || i >= n || s[i] != ' ')
                return false;
            i++;
            workers++;
            if (i < n && s[i] == '[') {
                i++;
                if (!parse_long(s, n, &i, &items) || i >= n || s[i] != ']')
                    return false;
                i++;
            } else {
                while (i < n && s[i] != ' ')
                    i++;
            }
            if (i == n)
                break;
            if (!starts(s + i, n - i, " / "))
                return false;
            i += 3;
        }
        p->xdist = true;
        p->c.workers = workers;
        if (items >= 0) {
            p->c.collected = items;
            p->phase = PHASE_RUNNING;
        }
        p->changed = true;
        return true;
    }
    long workers, items;
    if (parse_long(s, n, &i, &workers) && starts(s + i, n - i, " workers [")) {
        i += 10;
        if (parse_long(s, n, &i, &items) && starts(s + i, n - i, " item")) {
            p->xdist = true;
            p->c.workers = (int)workers;
            p->c.collected = items;
            p->phase = PHASE_RUNNING;
            p->changed = true;
            return true;
        }
    }
    return false;
}

/* `1 failed, 2 passed, 3 warnings in 0.05s` / `no tests ran in 0.00s` (without `=` fill). A
 * category of several words (pytest-subtests' and pytest 9's `3 subtests passed`, a plugin's
 * own) is read and, unknown, left out. */
static bool parse_final(Progress *p, const char *s, size_t n)
{
    const char *in = NULL;
    for (size_t i = 0; i + 4 <= n; i++)
        if (memcmp(s + i, " in ", 4) == 0)
            in = s + i; /* last " in " */
    if (!in)
        return false;
    size_t body = (size_t)(in - s);
    ProgressFinal f = {0};
    f.seen = true;
    /* time: digits[.digits]s */
    char tbuf[32];
    size_t tl = n - body - 4;
    if (tl == 0 || !isdigit((unsigned char)in[4]))
        return false;
    if (tl >= sizeof tbuf)
        tl = sizeof tbuf - 1; /* "75.21s (0:01:15)": only the leading number matters */
    memcpy(tbuf, in + 4, tl);
    tbuf[tl] = '\0';
    char *end;
    f.seconds = strtod(tbuf, &end);
    if (end == tbuf || *end != 's')
        return false;
    if (!(body == 12 && memcmp(s, "no tests ran", 12) == 0)) {
        size_t i = 0;
        while (i < body) {
            long v;
            if (!parse_long(s, body, &i, &v) || i >= body || s[i] != ' ')
                return false;
            i++;
            size_t w = i;
            while (i < body && isalpha((unsigned char)s[i]))
                i++;
            if (i == w)
                return false;
            while (i + 1 < body && s[i] == ' ' && isalpha((unsigned char)s[i + 1])) {
                i++; /* "subtests passed" */
                while (i < body && isalpha((unsigned char)s[i]))
                    i++;
            }
            const char *word = s + w;
            size_t wl = i - w;
#define IS(x) (wl == strlen(x) && memcmp(word, x, wl) == 0)
            if (IS("failed")) f.failed = v;
            else if (IS("passed")) f.passed = v;
            else if (IS("skipped")) f.skipped = v;
            else if (IS("xfailed")) f.xfailed = v;
            else if (IS("xpassed")) f.xpassed = v;
            else if (IS("error") || IS("errors")) f.errors = v;
            else if (IS("deselected")) f.deselected = v;
            else if (IS("warning") || IS("warnings")) f.warnings = v;
#undef IS
            if (i == body)
                break;
            if (!starts(s + i, body - i, ", "))
                return false;
            i += 2;
        }
    }
    free(p->fin.text);
    f.text = dup_utf8(s, n);
    p->fin = f;
    p->phase = PHASE_REPORT;
    p->changed = true;
    return true;
}

/* `[gw0] [  7%] FAILED tests/x.py::t` */
static bool parse_xdist_result(Progress *p, const char *s, size_t n)
{
    size_t i = 3;
    long w;
    if (!starts(s, n, "[gw") || !parse_long(s, n, &i, &w) || !starts(s + i, n - i, "] ["))
        return false;
    i += 2;
    size_t close = i;
    while (close < n && s[close] != ']')
        close++;
    if (close >= n)
        return false;
    size_t sl = close + 1 - i;
    int pct;
    long cnt, tot;
    if (!strip_progress_suffix(s + i, &sl, &pct, &cnt, &tot))
        return false;
    i = close + 1;
    if (i >= n || s[i] != ' ')
        return false;
    i++;
    size_t wl;
    int st = status_at(s + i, n - i, &wl);
    if (st < 0 || i + wl >= n || s[i + wl] != ' ')
        return false;
    i += wl + 1;
    if (i >= n)
        return false;
    p->xdist = true;
    if (p->phase == PHASE_HEADER)
        p->phase = PHASE_RUNNING;
    set_percent(p, pct, cnt, tot);
    record_result(p, s + i, n - i, st, (int)w);
    return true;
}

/* ---- one line, by phase ---- */

/* A `===` fill line: the final summary, the start of the report sections, or a header. True
 * when the line is dealt with. */
static bool handle_fill_line(Progress *p, char *s, size_t n)
{
    size_t a = 0, b = n;
    while (a < b && (s[a] == '=' || s[a] == ' '))
        a++;
    while (b > a && (s[b - 1] == '=' || s[b - 1] == ' '))
        b--;
    if (b > a && parse_final(p, s + a, b - a))
        return true;
    if (b > a && p->phase != PHASE_HEADER && (p->xdist || p->nrunning == 0)) {
        p->phase = PHASE_REPORT; /* ERRORS / FAILURES / short test summary info ... */
        return true;
    }
    return p->phase == PHASE_HEADER; /* "test session starts" */
}

/* Before the tests: rootdir, the collection count, xdist's workers. True when dealt with. */
static bool handle_header(Progress *p, const char *s, size_t n)
{
    if (starts(s, n, "rootdir: ")) {
        size_t e = n;
        static const char *const tails[] = {", configfile: ", ", inifile: ", ", testpaths: "};
        for (size_t k = 0; k < 3; k++) {
            const char *t = memmem(s + 9, n - 9, tails[k], strlen(tails[k]));
            if (t && (size_t)(t - s) < e)
                e = (size_t)(t - s);
        }
        free(p->rootdir);
        p->rootdir = dup_utf8(s + 9, e - 9);
        p->changed = true;
        return true;
    }
    if (starts(s, n, "collect") && parse_collected(p, s, n)) {
        p->phase = PHASE_RUNNING;
        return true;
    }
    return parse_xdist_header(p, s, n);
}

/* `NODEID[ STATUS[ (reason)]]` (serial -v), or a bare status ending the running test's line. */
static void handle_test_line(Progress *p, char *s, size_t n)
{
    int pct = -1;
    long cnt = -1, tot = -1;
    bool has_suffix = strip_progress_suffix(s, &n, &pct, &cnt, &tot);
    size_t idl = nodeid_prefix(s, n, false);
    int st = -1;
    if (idl) {
        /* `NODEID STATUS[ (reason)]`: the leftmost split after "::" whose right side is exactly
         * a status; this keeps param ids containing "] " or " - " whole. */
        const char *sep = memmem(s, n, "::", 2);
        for (size_t i = (size_t)(sep - s) + 2; i < n; i++) {
            if (s[i] == ' ' && (st = status_exact(s + i + 1, n - i - 1)) >= 0) {
                if (has_suffix)
                    set_percent(p, pct, cnt, tot);
                record_result(p, s, rtrim(s, i), st, -1);
                return;
            }
        }
        size_t r = idl;
        while (r < n && s[r] == ' ')
            r++;
        if (r == n) {
            start_test(p, s, idl);
            return;
        }
        st = status_exact(s + r, n - r);
        if (st < 0)
            st = status_suffix(s + r, n - r);
        if (st < 0) {
            start_test(p, s, idl); /* -s: the test's output follows its id */
            return;
        }
        if (has_suffix)
            set_percent(p, pct, cnt, tot);
        record_result(p, s, idl, st, -1);
        return;
    }
    if (p->nrunning && !p->xdist) {
        st = status_exact(s, n);
        if (st < 0)
            st = status_suffix(s, n);
        if (st >= 0) {
            const char *cur = p->running[p->nrunning - 1];
            char *id = xstrdup(cur);
            if (has_suffix)
                set_percent(p, pct, cnt, tot);
            record_result(p, id, strlen(id), st, -1);
            free(id);
        }
    }
}

void progress_line(Progress *p, const char *line, size_t n)
{
    p->partial_checked = 0;
    p->partial_started = false;
    memcpy(p->line, line, n);
    p->line[n] = '\0';
    char *s = p->line;
    /* drop colours (`--color=yes`) and any other control sequence a test printed, and all but
     * a tty redraw's last state: node ids and the summary line from here on are shown */
    n = termline_clean(s, n, TERMLINE_REDRAW);
    if (!n)
        return;
    if (s[0] == '[' && parse_xdist_result(p, s, n))
        return;
    if (s[0] == '=' && s[n - 1] == '=' && handle_fill_line(p, s, n))
        return;
    if (p->phase == PHASE_HEADER && handle_header(p, s, n))
        return;
    if (p->phase == PHASE_REPORT) {
        if (!p->fin.seen)
            parse_final(p, s, n); /* -q: no `=` fill */
        return;
    }
    handle_test_line(p, s, n);
}

/* Serial -v writes `NODEID ` at test start and the rest of the line only at its end: detect the
 * start on the partial line so "current test" is known while it runs. */
void progress_partial(Progress *p, const char *head, size_t n)
{
    if (!head || p->partial_started || p->phase == PHASE_REPORT || n == p->partial_checked)
        return;
    p->partial_checked = n;
    if (head[0] == '[' || head[0] == '=')
        return;
    size_t idl = nodeid_prefix(head, n, true);
    if (idl) {
        p->partial_started = true;
        start_test(p, head, idl);
    }
}

static void on_own_line(void *ud, const char *line, size_t n)
{
    progress_line(ud, line, n);
}

void progress_feed(Progress *p, const char *buf, size_t len)
{
    termline_feed_own(&p->own_lines, buf, len, on_own_line, p);
    size_t n = 0;
    const char *head = termline_partial(p->own_lines, &n);
    progress_partial(p, head, n);
}

void progress_finish(Progress *p)
{
    if (p->own_lines)
        termline_finish(p->own_lines, on_own_line, p);
}

const ProgressCounts *progress_counts(const Progress *p) { return &p->c; }
const ProgressFinal *progress_final(const Progress *p) { return &p->fin; }
const char *progress_rootdir(const Progress *p) { return p->rootdir; }

const char *progress_current(const Progress *p)
{
    return p->nrunning ? p->running[p->nrunning - 1] : NULL;
}

size_t progress_running(const Progress *p, const char *const **ids)
{
    if (ids)
        *ids = (const char *const *)p->running;
    return p->nrunning;
}

bool progress_take_changed(Progress *p)
{
    bool c = p->changed;
    p->changed = false;
    return c;
}

size_t progress_take_finished(Progress *p, ProgressResult **out, size_t *dropped)
{
    size_t n = p->nfinished;
    *out = n ? p->finished : NULL;
    if (!n)
        free(p->finished);
    if (dropped)
        *dropped = p->dropped;
    p->finished = NULL;
    p->nfinished = p->capfinished = 0;
    p->dropped = 0;
    return n;
}

unsigned long long progress_bytes_fed(const Progress *p) { return p->own_lines ? p->own_lines->fed : 0; }
unsigned long long progress_bytes_skipped(const Progress *p)
{
    return p->own_lines ? p->own_lines->skipped : 0;
}
