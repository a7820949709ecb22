/* tail: bounded ring of the last bytes of output. See tail.h. */
#include "parse/tail.h"

#include <stdlib.h>
#include <string.h>

#include "base/strbuf.h"

void tail_init(Tail *t, size_t cap)
{
    t->cap = cap ? cap : 1;
    t->buf = NULL;
    t->alloc = 0;
    t->start = t->len = 0;
    t->total = 0;
}

void tail_destroy(Tail *t)
{
    free(t->buf);
    t->buf = NULL;
    t->cap = t->alloc = t->start = t->len = 0;
    t->total = 0;
}

void tail_reset(Tail *t)
{
    t->start = t->len = 0;
    t->total = 0;
}

/* Room for `need` bytes (capped at cap). Only called before anything was dropped, so the
 * bytes held are contiguous from 0 and realloc keeps them in place. */
static void tail_grow(Tail *t, size_t need)
{
    size_t a = t->alloc ? t->alloc : 4096;
    while (a < need && a < t->cap)
        a *= 2;
    if (a > t->cap)
        a = t->cap;
    t->buf = xrealloc(t->buf, a);
    t->alloc = a;
}

void tail_write(Tail *t, const char *data, size_t n)
{
    if (n == 0)
        return;
    if (t->alloc < t->cap && t->len + n > t->alloc)
        tail_grow(t, t->len + n);
    t->total += n;
    if (n >= t->cap) { /* only the last cap bytes survive */
        memcpy(t->buf, data + n - t->cap, t->cap);
        t->start = 0;
        t->len = t->cap;
        return;
    }
    size_t end = (t->start + t->len) % t->cap;
    size_t first = t->cap - end < n ? t->cap - end : n;
    memcpy(t->buf + end, data, first);
    memcpy(t->buf, data + first, n - first);
    if (t->len + n > t->cap) {
        size_t over = t->len + n - t->cap;
        t->start = (t->start + over) % t->cap;
        t->len = t->cap;
    } else {
        t->len += n;
    }
}

char *tail_read(const Tail *t, size_t *len)
{
    char *out = xmalloc(t->len + 1);
    if (t->len == 0) {
        out[0] = '\0';
        if (len)
            *len = 0;
        return out;
    }
    size_t first = t->cap - t->start < t->len ? t->cap - t->start : t->len;
    memcpy(out, t->buf + t->start, first);
    memcpy(out + first, t->buf, t->len - first);
    size_t skip = 0;
    if (tail_truncated(t)) {
        const char *nl = memchr(out, '\n', t->len / 4);
        if (nl) {
            skip = (size_t)(nl - out) + 1;
        } else {
            while (skip < t->len && skip < 3 && ((unsigned char)out[skip] & 0xC0) == 0x80)
                skip++;
        }
    }
    size_t n = t->len - skip;
    memmove(out, out + skip, n);
    out[n] = '\0';
    if (len)
        *len = n;
    return out;
}

unsigned long long tail_total(const Tail *t)
{
    return t->total;
}

bool tail_truncated(const Tail *t)
{
    return t->total > t->len;
}
