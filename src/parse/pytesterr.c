/* pytesterr: pytest's error output before any test ran. See pytesterr.h. */
#include "parse/pytesterr.h"

#include <stdlib.h>
#include <string.h>

#include "base/path.h"
#include "base/strbuf.h"

static const char MARK[] = "ImportError while loading conftest '";

/* The next line of [*p, end) (without its newline); advances *p. */
static bool next_line(const char **p, const char *end, const char **line, size_t *len)
{
    if (*p >= end)
        return false;
    const char *nl = memchr(*p, '\n', (size_t)(end - *p));
    *line = *p;
    *len = (size_t)((nl ? nl : end) - *p);
    *p = nl ? nl + 1 : end;
    return true;
}

/* "PATH:LINE: in NAME" -> PATH and LINE. */
static bool entry_location(const char *s, size_t n, char **path, int *line)
{
    const char *in = NULL;
    for (size_t i = 0; i + 5 <= n; i++)
        if (memcmp(s + i, ": in ", 5) == 0)
            in = s + i;
    if (!in || in == s)
        return false;
    const char *colon = in - 1;
    while (colon > s && *colon >= '0' && *colon <= '9')
        colon--;
    if (*colon != ':' || colon == in - 1 || colon == s)
        return false;
    long v = strtol(colon + 1, NULL, 10);
    if (v <= 0 || v > 100000000)
        return false;
    *path = xstrndup(s, (size_t)(colon - s));
    *line = (int)v;
    return true;
}

bool pytesterr_conftest(const char *text, size_t len, const char *start_dir, PytestConftestError *out)
{
    *out = (PytestConftestError){0};
    const char *end = text + len;
    const char *at = text ? memmem(text, len, MARK, sizeof MARK - 1) : NULL;
    if (!at)
        return false;
    const char *name = at + sizeof MARK - 1;
    const char *quote = memchr(name, '\'', (size_t)(end - name));
    if (!quote)
        return false;
    out->conftest = xstrndup(name, (size_t)(quote - name));
    const char *p = quote, *line;
    size_t n;
    next_line(&p, end, &line, &n); /* the rest of the marker line */
    while (next_line(&p, end, &line, &n)) {
        char *path = NULL;
        int lno = 0;
        if (n >= 4 && memcmp(line, "E   ", 4) == 0) {
            if (!out->message) /* the first E line after the deepest entry names the error */
                out->message = xstrndup(line + 4, n - 4);
        } else if (line[0] != ' ' && entry_location(line, n, &path, &lno)) {
            free(out->file);
            out->file = path_normalize(start_dir, path);
            out->line = lno;
            free(out->message);
            out->message = NULL;
        }
        free(path);
    }
    if (!out->file)
        out->file = path_normalize(start_dir, out->conftest);
    if (!out->message)
        out->message = xstrdup("ImportError");
    return true;
}

void pytesterr_conftest_destroy(PytestConftestError *e)
{
    free(e->conftest);
    free(e->file);
    free(e->message);
    *e = (PytestConftestError){0};
}
