/* textclean: strip terminal control sequences and controls from display text. See textclean.h. */
#include "base/textclean.h"

#include <stdlib.h>
#include <string.h>

#define ESC 0x1b

/* ESC + one of these (or the C1 control 0x40 above) opens a control string. */
static bool string_intro(unsigned char c)
{
    return c == ']' || c == 'P' || c == 'X' || c == '^' || c == '_';
}

/* Index after the control string whose body starts at s[i]: its ST (ESC \ or U+009C), its BEL,
 * CAN or SUB; a following ESC starts another sequence and ends the string before it. */
static size_t skip_string(const unsigned char *s, size_t n, size_t i)
{
    for (; i < n; i++) {
        unsigned char c = s[i];
        if (c == 0x07 || c == 0x18 || c == 0x1a)
            return i + 1;
        if (c == ESC)
            return i + 1 < n && s[i + 1] == '\\' ? i + 2 : i;
        if (c == 0xc2 && i + 1 < n && s[i + 1] == 0x9c)
            return i + 2;
    }
    return n;
}

/* Index after the escape sequence whose introducer (the byte after ESC, or a C1 control minus
 * 0x40) is `c` and whose rest starts at s[i]. */
static size_t skip_sequence(const unsigned char *s, size_t n, unsigned char c, size_t i)
{
    if (c == '[') { /* CSI: parameters 0x30-0x3f, intermediates 0x20-0x2f, final 0x40-0x7e */
        for (; i < n; i++) {
            if (s[i] >= 0x40 && s[i] <= 0x7e)
                return i + 1;
            if (s[i] < 0x20 || s[i] > 0x3f)
                return i; /* broken: that byte is not part of it */
        }
        return n;
    }
    if (string_intro(c))
        return skip_string(s, n, i);
    if (c >= 0x20 && c <= 0x2f) { /* nF: more intermediates, then a final 0x30-0x7e */
        while (i < n && s[i] >= 0x20 && s[i] <= 0x2f)
            i++;
        return i < n && s[i] >= 0x30 && s[i] <= 0x7e ? i + 1 : i;
    }
    return i; /* single-character sequence: the introducer was all of it */
}

size_t textclean(char *buf, size_t n, unsigned flags)
{
    unsigned char *s = (unsigned char *)buf;
    size_t o = 0, i = 0;
    while (i < n) {
        unsigned char c = s[i];
        if (c == ESC) {
            if (i + 1 < n && s[i + 1] >= 0x20 && s[i + 1] <= 0x7e)
                i = skip_sequence(s, n, s[i + 1], i + 2);
            else
                i++; /* a lone ESC */
        } else if (c == 0xc2 && i + 1 < n && s[i + 1] >= 0x80 && s[i + 1] <= 0x9f) {
            i = skip_sequence(s, n, (unsigned char)(s[i + 1] - 0x40), i + 2);
        } else if (c == 0xc2 && !(i + 1 < n && s[i + 1] >= 0xa0 && s[i + 1] <= 0xbf)) {
            /* a lone lead byte (invalid UTF-8): kept, it could meet a 0x80-0x9f byte after
             * a removed sequence and make a C1 control */
            i++;
        } else if ((c < 0x20 && c != '\t' && !(c == '\n' && (flags & TEXTCLEAN_KEEP_LF)) &&
                    !(c == '\r' && (flags & TEXTCLEAN_KEEP_CR))) ||
                   c == 0x7f) {
            i++;
        } else {
            s[o++] = c;
            i++;
        }
    }
    return o;
}

/* Length of the valid UTF-8 character at s[0..n), or 0 when it is not one. */
static size_t utf8_char(const unsigned char *s, size_t n)
{
    unsigned char c = s[0];
    size_t k = c < 0x80 ? 1 : (c >> 5) == 6 ? 2 : (c >> 4) == 14 ? 3 : (c >> 3) == 30 ? 4 : 0;
    if (k == 0 || k > n || (k == 2 && c < 0xc2))
        return 0;
    for (size_t j = 1; j < k; j++)
        if ((s[j] & 0xc0) != 0x80)
            return 0;
    if (k == 3 && ((c == 0xe0 && s[1] < 0xa0) || (c == 0xed && s[1] >= 0xa0)))
        return 0;
    if (k == 4 && (c > 0xf4 || (c == 0xf0 && s[1] < 0x90) || (c == 0xf4 && s[1] >= 0x90)))
        return 0;
    return k;
}

/* Whether the k-byte character at s is a bidi control: U+061C, U+200E, U+200F, U+202A..U+202E,
 * U+2066..U+2069 (they reorder the text shown around them: a node id or a message could show
 * other than what it is). */
static bool is_bidi(const unsigned char *s, size_t k)
{
    if (k == 2)
        return s[0] == 0xd8 && s[1] == 0x9c;
    if (k != 3 || s[0] != 0xe2)
        return false;
    return (s[1] == 0x80 && (s[2] == 0x8e || s[2] == 0x8f || (s[2] >= 0xaa && s[2] <= 0xae))) ||
           (s[1] == 0x81 && s[2] >= 0xa6 && s[2] <= 0xa9);
}

bool textclean_display(StrBuf *out, const char *s, size_t n, unsigned flags, size_t max)
{
    char *copy = xmalloc(n ? n : 1);
    memcpy(copy, s, n);
    size_t m = textclean(copy, n, flags);
    const unsigned char *u = (const unsigned char *)copy;
    /* Valid characters are appended a run at a time (per character, this was most of the time
     * the co-process takes to build `finished` for thousands of failures). */
    size_t i = 0, run = 0, produced = 0;
    bool cut = false;
    while (i < m) {
        size_t k = utf8_char(u + i, m - i);
        if (k >= 2 && is_bidi(u + i, k)) { /* removed: characters, not bytes, so nothing joins */
            strbuf_append(out, copy + run, i - run);
            run = i += k;
            continue;
        }
        size_t plen = k ? k : 3;
        if (max && produced + plen > max) {
            cut = true;
            break;
        }
        produced += plen;
        if (k) {
            i += k;
            continue;
        }
        strbuf_append(out, copy + run, i - run);
        strbuf_append(out, "\xef\xbf\xbd", 3);
        run = ++i;
    }
    strbuf_append(out, copy + run, i - run);
    if (cut)
        strbuf_printf(out, " [... cut: %zu bytes in all]", n);
    free(copy);
    return cut;
}

char *textclean_dup(const char *s, size_t n, unsigned flags, size_t max)
{
    StrBuf sb = STRBUF_INIT;
    textclean_display(&sb, s, n, flags, max);
    return strbuf_detach(&sb);
}
