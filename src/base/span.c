/* span: borrowed string slices and line splitting (see span.h). */
#include "base/span.h"

#include <string.h>

#include "base/strbuf.h"

bool span_starts(Span s, const char *prefix)
{
    size_t k = strlen(prefix);
    return s.n >= k && memcmp(s.p, prefix, k) == 0;
}

bool span_eq(Span s, const char *lit)
{
    return s.n == strlen(lit) && memcmp(s.p, lit, s.n) == 0;
}

Span span_trim(Span s)
{
    while (s.n > 0 && (s.p[0] == ' ' || s.p[0] == '\t'))
        s.p++, s.n--;
    while (s.n > 0 && (s.p[s.n - 1] == ' ' || s.p[s.n - 1] == '\t' || s.p[s.n - 1] == '\r'))
        s.n--;
    return s;
}

char *span_dup(Span s)
{
    return xstrndup(s.p, s.n);
}

Span *span_lines(const char *text, size_t *nlines)
{
    size_t cap = 16, n = 0;
    Span *v = xmalloc(cap * sizeof *v);
    SpanIter it = span_iter(text);
    Span s;
    while (span_next(&it, &s)) {
        if (n == cap)
            v = xrealloc(v, (cap *= 2) * sizeof *v);
        v[n++] = s;
    }
    *nlines = n;
    return v;
}

SpanIter span_iter(const char *text)
{
    const char *t = text != NULL ? text : "";
    return (SpanIter){t, t + strlen(t), false};
}

bool span_next(SpanIter *it, Span *out)
{
    if (it->done)
        return false;
    const char *nl = memchr(it->p, '\n', (size_t)(it->end - it->p));
    size_t len = nl != NULL ? (size_t)(nl - it->p) : (size_t)(it->end - it->p);
    if (len > 0 && it->p[len - 1] == '\r')
        len--;
    *out = (Span){it->p, len};
    if (nl != NULL)
        it->p = nl + 1;
    else
        it->done = true;
    return true;
}
