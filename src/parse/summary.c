/* summary: `-rfE` short test summary fallback parser. See summary.h. */
#include "parse/summary.h"

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/strbuf.h"
#include "parse/termline.h"

struct Summary {
    TermLine *own_lines;  /* summary_feed()'s framing (NULL until used) */
    char line[SUMMARY_LINE_MAX + 1]; /* the line being parsed (cleaned in place) */
    bool in_section;
    SummaryRecord *recs;
    size_t nrecs, caprecs;
};

Summary *summary_new(void)
{
    return xcalloc(1, sizeof(Summary));
}

void summary_free(Summary *s)
{
    if (!s)
        return;
    for (size_t i = 0; i < s->nrecs; i++) {
        free(s->recs[i].nodeid);
        free(s->recs[i].message);
        free(s->recs[i].file);
    }
    free(s->recs);
    free(s->own_lines);
    free(s);
}

#define starts termline_starts

static void add_record(Summary *s, SummaryKind kind, const char *id, size_t idn, const char *msg,
                       size_t msgn)
{
    if (s->nrecs == SUMMARY_MAX_RECORDS)
        return;
    if (s->nrecs == s->caprecs) {
        s->caprecs = s->caprecs ? s->caprecs * 2 : 8;
        s->recs = xrealloc(s->recs, s->caprecs * sizeof *s->recs);
    }
    const char *sep = memmem(id, idn, "::", 2);
    size_t fn = sep ? (size_t)(sep - id) : idn;
    s->recs[s->nrecs++] = (SummaryRecord){xstrndup(id, idn), kind, xstrndup(msg, msgn),
                                          xstrndup(id, fn), 0};
}

void summary_line(Summary *s, const char *line, size_t n)
{
    if (n > SUMMARY_LINE_MAX)
        n = SUMMARY_LINE_MAX; /* the head of a long line */
    memcpy(s->line, line, n);
    char *l = s->line;
    /* --color=yes, and whatever control sequences a test message holds: the message is shown */
    n = termline_clean(l, n, 0);
    if (!n)
        return;
    if (l[0] == '=' && l[n - 1] == '=') {
        s->in_section = memmem(l, n, " short test summary info ", 25) != NULL;
        return;
    }
    if (!s->in_section)
        return;
    SummaryKind kind;
    size_t skip;
    if (starts(l, n, "FAILED ")) {
        kind = SUMMARY_FAILED;
        skip = 7;
    } else if (starts(l, n, "ERROR ")) {
        kind = SUMMARY_ERROR;
        skip = 6;
    } else {
        return;
    }
    const char *r = l + skip;
    size_t rn = n - skip;
    size_t idn = rn;
    const char *sep = memmem(r, rn, "::", 2);
    const char *dash = memmem(sep ? sep : r, rn - (size_t)((sep ? sep : r) - r), " - ", 3);
    const char *br = sep ? memchr(sep, '[', rn - (size_t)(sep - r)) : NULL;
    if (br && (!dash || br < dash)) {
        /* parametrized: the id ends at the first "] - " (ids containing "] - " are ambiguous) */
        const char *e = memmem(br, rn - (size_t)(br - r), "] - ", 4);
        idn = e ? (size_t)(e - r) + 1 : rn;
    } else if (dash) {
        idn = (size_t)(dash - r);
    }
    const char *msg = r + idn;
    size_t msgn = rn - idn;
    if (msgn >= 3 && memcmp(msg, " - ", 3) == 0) {
        msg += 3;
        msgn -= 3;
    } else {
        msgn = 0;
    }
    add_record(s, kind, r, idn, msg, msgn);
}

static void on_own_line(void *ud, const char *line, size_t n)
{
    summary_line(ud, line, n);
}

void summary_feed(Summary *s, const char *buf, size_t len)
{
    termline_feed_own(&s->own_lines, buf, len, on_own_line, s);
}

void summary_finish(Summary *s)
{
    if (s->own_lines)
        termline_finish(s->own_lines, on_own_line, s);
}

size_t summary_records(const Summary *s, const SummaryRecord **out)
{
    *out = s->recs;
    return s->nrecs;
}

void summary_locate(Summary *s, const char *rootdir)
{
    StrBuf path = STRBUF_INIT;
    for (size_t i = 0; i < s->nrecs; i++) {
        SummaryRecord *r = &s->recs[i];
        size_t fl = strlen(r->file);
        if (strncmp(r->nodeid, r->file, fl) != 0 || r->nodeid[fl] != ':') {
            r->line = 1; /* collection error: the file itself */
            continue;
        }
        strbuf_reset(&path);
        if (rootdir && *rootdir && r->file[0] != '/') {
            strbuf_puts(&path, rootdir);
            strbuf_putc(&path, '/');
        }
        strbuf_puts(&path, r->file);
        r->line = summary_find_def_line(strbuf_cstr(&path), r->nodeid + fl + 2);
    }
    strbuf_destroy(&path);
}

/* `def NAME(` / `async def NAME(` (want_class false) or `class NAME[(:]` at p. */
static bool is_def(const char *p, const char *name, size_t nl, bool want_class)
{
    if (want_class) {
        if (strncmp(p, "class", 5) != 0 || (p[5] != ' ' && p[5] != '\t'))
            return false;
        p += 5;
    } else {
        if (strncmp(p, "async", 5) == 0 && (p[5] == ' ' || p[5] == '\t')) {
            p += 5;
            while (*p == ' ' || *p == '\t')
                p++;
        }
        if (strncmp(p, "def", 3) != 0 || (p[3] != ' ' && p[3] != '\t'))
            return false;
        p += 3;
    }
    while (*p == ' ' || *p == '\t')
        p++;
    if (strncmp(p, name, nl) != 0)
        return false;
    p += nl;
    while (*p == ' ' || *p == '\t')
        p++;
    return want_class ? (*p == '(' || *p == ':') : *p == '(';
}

int summary_find_def_line(const char *path, const char *name)
{
    FILE *f = fopen(path, "r");
    if (!f)
        return 1;
    /* split "A::B::f[param]" into parts, param dropped */
    size_t nn = strcspn(name, "[");
    char *names = xstrndup(name, nn);
    const char *parts[32];
    size_t nparts = 0;
    for (char *p = names; p && *p && nparts < 32;) {
        parts[nparts++] = p;
        char *sep = strstr(p, "::");
        if (sep) {
            *sep = '\0';
            p = sep + 2;
        } else {
            p = NULL;
        }
    }
    int best = 1, fallback = 0;
    size_t idx = 0;
    long parent_indent = -1;
    char *buf = NULL;
    size_t cap = 0;
    ssize_t len;
    int lineno = 0;
    while (nparts && (len = getline(&buf, &cap, f)) >= 0) {
        lineno++;
        long indent = 0;
        const char *p = buf;
        while (*p == ' ' || *p == '\t') {
            indent += *p == '\t' ? 8 - indent % 8 : 1;
            p++;
        }
        if (*p == '\0' || *p == '\n' || *p == '\r' || *p == '#')
            continue;
        if (idx > 0 && indent <= parent_indent)
            break; /* left the enclosing class */
        bool last = idx + 1 == nparts;
        size_t pl = strlen(parts[idx]);
        /* the last part is a function, or a class (node id of a whole class) */
        if (!is_def(p, parts[idx], pl, !last) && !(last && is_def(p, parts[idx], pl, true)))
            continue;
        if (idx == 0 && indent != 0) {
            if (!fallback)
                fallback = lineno; /* e.g. defined under `if`: used if no top-level one */
            continue;
        }
        best = lineno;
        if (last) {
            fallback = 0;
            goto done;
        }
        parent_indent = indent;
        idx++;
    }
    if (idx == 0 && fallback)
        best = fallback;
done:
    free(buf);
    free(names);
    fclose(f);
    return best;
}
