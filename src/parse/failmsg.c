/* failmsg: the one-line message of a failure (see failmsg.h). */
#include "parse/failmsg.h"

#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "base/span.h"
#include "base/strbuf.h"

/* "E       foo" -> "foo" (the text after "E" and its indentation). */
static Span strip_e(Span s)
{
    s.p++, s.n--;
    return span_trim(s);
}

static bool is_e_line(Span s)
{
    return s.n >= 2 && s.p[0] == 'E' && (s.p[1] == ' ' || s.p[1] == '\t');
}

static char *first_line(const char *s)
{
    if (s == NULL)
        return xstrdup("");
    size_t n = strcspn(s, "\n");
    if (n > 0 && s[n - 1] == '\r')
        n--;
    return xstrndup(s, n);
}

/* Last "E " line of text, stripped; NULL if none. */
static char *last_e_line(const char *text)
{
    size_t n;
    Span *lines = span_lines(text, &n);
    char *r = NULL;
    for (size_t i = n; i-- > 0;)
        if (is_e_line(lines[i])) {
            Span s = strip_e(lines[i]);
            if (s.n == 0)
                continue;
            r = span_dup(s);
            break;
        }
    free(lines);
    return r;
}

/* Does the last non-blank line end with ": DocTestFailure" / ": UnexpectedException"?
 * (Walks back from the end: this runs for every failure.) */
static bool is_doctest_text(const char *text)
{
    if (text == NULL)
        return false;
    const char *end = text + strlen(text);
    for (;;) {
        const char *ls = end;
        while (ls > text && ls[-1] != '\n')
            ls--;
        Span last = span_trim((Span){ls, (size_t)(end - ls)});
        if (last.n > 0) {
            static const char *const ends[] = {": DocTestFailure", ": UnexpectedException"};
            for (size_t k = 0; k < 2; k++) {
                size_t el = strlen(ends[k]);
                if (last.n >= el && memcmp(last.p + last.n - el, ends[k], el) == 0)
                    return true;
            }
            return false;
        }
        if (ls == text)
            return false;
        end = ls - 1; /* before that line's '\n' */
    }
}

static char *doctest_message(const char *text)
{
    char *e = last_e_line(text);
    if (e != NULL)
        return e;
    size_t n;
    Span *lines = span_lines(text, &n);
    char *r = NULL;
    Span expected = {NULL, 0}, got = {NULL, 0};
    bool have_exp = false, have_got = false;
    for (size_t i = 0; i < n && r == NULL; i++) {
        Span s = lines[i];
        if (span_starts(s, "UNEXPECTED EXCEPTION: ")) {
            r = span_dup(s);
        } else if (span_eq(span_trim(s), "Expected:") && i + 1 < n && !have_exp) {
            expected = span_trim(lines[i + 1]);
            have_exp = true;
        } else if (span_eq(span_trim(s), "Expected nothing")) {
            expected = (Span){"nothing", 7};
            have_exp = true;
        } else if (span_eq(span_trim(s), "Got:") && i + 1 < n && !have_got) {
            got = span_trim(lines[i + 1]);
            have_got = true;
        } else if (span_eq(span_trim(s), "Got nothing")) {
            got = (Span){"nothing", 7};
            have_got = true;
        }
    }
    if (r == NULL && (have_exp || have_got)) {
        StrBuf sb = STRBUF_INIT;
        strbuf_puts(&sb, "Expected: ");
        strbuf_append(&sb, have_exp ? expected.p : "?", have_exp ? expected.n : 1);
        strbuf_puts(&sb, ", Got: ");
        strbuf_append(&sb, have_got ? got.p : "?", have_got ? got.n : 1);
        r = strbuf_detach(&sb);
    }
    if (r == NULL) { /* "PATH:N: DocTestFailure" -> "DocTestFailure" */
        size_t i = n;
        while (i > 0 && span_trim(lines[i - 1]).n == 0)
            i--;
        if (i > 0) {
            Span last = span_trim(lines[i - 1]);
            size_t k = last.n;
            while (k > 0 && last.p[k - 1] != ' ')
                k--;
            r = xstrndup(last.p + k, last.n - k);
        }
    }
    free(lines);
    return r != NULL ? r : xstrdup("");
}

char *failmsg_line(const char *message, const char *text)
{
    if (message != NULL && strcmp(message, "collection failure") == 0) {
        char *e = last_e_line(text);
        return e != NULL ? e : first_line(text);
    }
    if (is_doctest_text(text))
        return doctest_message(text);

    static const char *const wrappers[] = {"failed on setup with \"", "failed on teardown with \""};
    for (size_t k = 0; message != NULL && k < 2; k++) {
        size_t wl = strlen(wrappers[k]);
        if (strncmp(message, wrappers[k], wl) != 0)
            continue;
        const char *inner = message + wl;
        size_t il = strlen(inner);
        if (il > 0 && inner[il - 1] == '"')
            il--;
        char *x = xstrndup(inner, il);
        /* fixture lookup error: "file /abs/test_x.py, line 7\n  def ...\nE  fixture 'y' not found" */
        if (strncmp(x, "file ", 5) == 0 && strstr(x, ", line ") != NULL) {
            char *e = last_e_line(text);
            if (e == NULL)
                e = last_e_line(x);
            if (e != NULL) {
                free(x);
                return e;
            }
        }
        char *r = first_line(x);
        free(x);
        return r;
    }

    char *r = first_line(message);
    if (r[0] != '\0')
        return r;
    free(r);
    char *e = last_e_line(text);
    return e != NULL ? e : first_line(text);
}
