/* termline: bounded line framing and cleaning of pytest's terminal output (see termline.h). */
#include "parse/termline.h"

#include <string.h>

#include "base/strbuf.h"
#include "base/textclean.h"

void termline_init(TermLine *t)
{
    t->head_len = 0;
    t->tail_pos = 0;
    t->line_len = 0;
    t->fed = t->skipped = 0;
}

static void append(TermLine *t, const char *s, size_t n)
{
    if (t->head_len < TERMLINE_HEAD) {
        size_t k = TERMLINE_HEAD - t->head_len;
        if (k > n)
            k = n;
        memcpy(t->head + t->head_len, s, k);
        t->head_len += k;
    }
    if (t->line_len + n > TERMLINE_HEAD) {
        /* bytes past the head go to the tail ring; only the last TAIL of them matter */
        size_t skip = t->line_len >= TERMLINE_HEAD ? 0 : (size_t)(TERMLINE_HEAD - t->line_len);
        const char *r = s + skip;
        size_t rn = n - skip;
        if (rn > TERMLINE_TAIL) {
            r += rn - TERMLINE_TAIL;
            rn = TERMLINE_TAIL;
        }
        for (size_t i = 0; i < rn; i++) {
            t->tail[t->tail_pos] = r[i];
            t->tail_pos = (t->tail_pos + 1) % TERMLINE_TAIL;
        }
    }
    t->line_len += n;
}

static void line_end(TermLine *t, TermLineFn on_line, void *ud)
{
    size_t n = t->head_len;
    memcpy(t->line, t->head, n);
    if (t->line_len > TERMLINE_HEAD) {
        unsigned long long extra = t->line_len - TERMLINE_HEAD;
        size_t tn = extra < TERMLINE_TAIL ? (size_t)extra : TERMLINE_TAIL;
        size_t start = (t->tail_pos + TERMLINE_TAIL - tn) % TERMLINE_TAIL;
        for (size_t i = 0; i < tn; i++)
            t->line[n++] = t->tail[(start + i) % TERMLINE_TAIL];
        t->skipped += extra - tn;
    }
    t->line[n] = '\0';
    t->head_len = 0;
    t->tail_pos = 0;
    t->line_len = 0;
    on_line(ud, t->line, n);
}

void termline_feed(TermLine *t, const char *buf, size_t len, TermLineFn on_line, void *ud)
{
    t->fed += len;
    while (len) {
        const char *nl = memchr(buf, '\n', len);
        size_t k = nl ? (size_t)(nl - buf) : len;
        append(t, buf, k);
        if (!nl)
            break;
        line_end(t, on_line, ud);
        buf += k + 1;
        len -= k + 1;
    }
}

void termline_feed_own(TermLine **t, const char *buf, size_t len, TermLineFn on_line, void *ud)
{
    if (!*t) {
        *t = xmalloc(sizeof **t);
        termline_init(*t);
    }
    termline_feed(*t, buf, len, on_line, ud);
}

void termline_finish(TermLine *t, TermLineFn on_line, void *ud)
{
    if (t->line_len)
        line_end(t, on_line, ud);
}

const char *termline_partial(const TermLine *t, size_t *n)
{
    if (t->line_len > TERMLINE_HEAD)
        return NULL;
    *n = t->head_len;
    return t->head;
}

size_t termline_clean(char *s, size_t n, unsigned flags)
{
    bool redraw = flags & TERMLINE_REDRAW;
    n = textclean(s, n, redraw ? TEXTCLEAN_KEEP_CR : 0);
    if (redraw) {
        for (size_t i = n; i-- > 0;)
            if (s[i] == '\r' && i + 1 < n) {
                memmove(s, s + i + 1, n - i - 1);
                n -= i + 1;
                break;
            }
    }
    while (n && (s[n - 1] == ' ' || s[n - 1] == '\t' || s[n - 1] == '\r'))
        n--;
    return n;
}

bool termline_starts(const char *s, size_t n, const char *prefix)
{
    size_t k = strlen(prefix);
    return n >= k && memcmp(s, prefix, k) == 0;
}
