/* location: where a failure happened, from its traceback text. See location.h. */
#include "parse/location.h"

#include <ctype.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "base/span.h"
#include "base/strbuf.h"

/* ---- installed code ---------------------------------------------------------------------- */

/* Does a directory of `path` (not its last component) mark installed code: a virtualenv, an
 * installed-packages directory, or a Python installation's standard library (lib/python3.11,
 * lib64/pypy3.9)? */
static bool in_installed_code(const char *path)
{
    static const char *const excluded[] = {"site-packages", "dist-packages", ".venv", "venv",
                                           ".tox"};
    bool after_lib = false;
    for (const char *c = path; *c;) {
        while (*c == '/')
            c++;
        const char *e = strchr(c, '/');
        if (e == NULL)
            break; /* the last component is the file name itself */
        Span comp = {c, (size_t)(e - c)};
        for (size_t i = 0; i < sizeof excluded / sizeof *excluded; i++)
            if (span_eq(comp, excluded[i]))
                return true;
        if (after_lib && (span_starts(comp, "python") || span_starts(comp, "pypy"))) {
            size_t skip = span_starts(comp, "python") ? 6 : 4;
            if (comp.n > skip && isdigit((unsigned char)comp.p[skip]))
                return true;
        }
        after_lib = span_eq(comp, "lib") || span_eq(comp, "lib64");
        c = e;
    }
    return false;
}

/* May candidate `c` be shown as the crash site? Any file that is not installed code: under the
 * project root only the part below the root is judged (the project itself may live in a
 * directory named venv); outside it, e.g. `../src/pkg/mod.py` when pytest started in a
 * subdirectory or a sibling checkout, the whole path is. realpath()s are asked for only when the
 * paths as written do not settle it (see Candidate). */
static bool is_crash_site(PathCache *cache, const char *path, const char *root)
{
    const char *rest = root != NULL ? path_below(path, root) : NULL;
    if (rest == NULL && root != NULL)
        rest = path_below(path_cache_real(cache, path), path_cache_real(cache, root));
    if (rest != NULL)
        return !in_installed_code(rest);
    return !in_installed_code(path) && !in_installed_code(path_cache_real(cache, path));
}

/* ---- candidates ------------------------------------------------------------------------- */

/* A place a traceback names. Its realpath() is asked of the PathCache only when the path as
 * written does not match: it costs a readlink() per component, and the 100 test files of a
 * 10,000-test report were a tenth of its reading time. */
typedef struct {
    char *path;       /* owned: absolute, normalised, an existing regular file */
    int line;
} Candidate;

static int parse_int(const char *p, size_t n)
{
    long v = 0;
    for (size_t i = 0; i < n; i++) {
        if (v > 100000000)
            return -1;
        v = v * 10 + (p[i] - '0');
    }
    return (int)v;
}

/* The first `needle` (of length k >= 1) in [p, end), or NULL. memchr for its first byte, then a
 * compare: on traceback lines, which are short and rarely hold that byte, this is several
 * times faster than memmem(), whose set-up is paid at every call (this runs on every line). */
static const char *find_lit(const char *p, const char *end, const char *needle, size_t k)
{
    while (p < end && (size_t)(end - p) >= k && (p = memchr(p, needle[0], (size_t)(end - p) - k + 1)) != NULL) {
        if (memcmp(p + 1, needle + 1, k - 1) == 0)
            return p;
        p++;
    }
    return NULL;
}

/* `File "P", line N` anywhere in the line. */
static bool match_native(Span s, Span *path, int *line)
{
    const char *end = s.p + s.n;
    for (const char *f = s.p; (f = find_lit(f, end, "File \"", 6)) != NULL; f++) {
        const char *ps = f + 6;
        const char *q = find_lit(ps, end, "\", line ", 8);
        if (q == NULL)
            return false; /* and no later `File "` can have one either */
        const char *ds = q + 8, *de = ds;
        while (de < end && *de >= '0' && *de <= '9')
            de++;
        if (de == ds || q == ps)
            continue;
        *path = (Span){ps, (size_t)(q - ps)};
        *line = parse_int(ds, (size_t)(de - ds));
        return *line >= 0;
    }
    return false;
}

/* ^(.+?):([0-9]+)(:( .*)?)?$ : the leftmost colon that fits. */
static bool match_colon(Span s, Span *path, int *line)
{
    const char *end = s.p + s.n;
    for (const char *c = s.n > 1 ? s.p + 1 : end; (c = memchr(c, ':', (size_t)(end - c))) != NULL; c++) {
        const char *ds = c + 1, *de = ds;
        while (de < end && *de >= '0' && *de <= '9')
            de++;
        if (de == ds)
            continue;
        bool ok = de == end || (*de == ':' && (de + 1 == end || de[1] == ' '));
        if (!ok)
            continue;
        *path = (Span){s.p, (size_t)(c - s.p)};
        *line = parse_int(ds, (size_t)(de - ds));
        return *line >= 0;
    }
    return false;
}

static bool is_chain_separator(Span s)
{
    while (s.n > 0 && (s.p[0] == ' ' || s.p[0] == '\t' || s.p[0] == '|' || s.p[0] == '+'))
        s.p++, s.n--;
    s = span_trim(s);
    return span_eq(s, "The above exception was the direct cause of the following exception:") ||
           span_eq(s, "During handling of the above exception, another exception occurred:");
}

/* Where the last section of a chained exception starts: after the last separator line. Both
 * separators say "above exception", so most texts are settled by one strstr(). */
static SpanIter last_section(const char *text)
{
    SpanIter it = span_iter(text), from = it;
    if (strstr(it.p, "above exception") == NULL)
        return from;
    Span s;
    while (span_next(&it, &s))
        if (is_chain_separator(s))
            from = it;
    return from;
}

static Candidate *find_candidates(const char *text, const char *start_dir, PathCache *cache,
                                  size_t *ncand)
{
    size_t n = 0, cap = 0;
    Candidate *v = NULL;
    SpanIter it = last_section(text);
    Span s;
    while (span_next(&it, &s)) {
        Span path;
        int line;
        bool hit = match_native(s, &path, &line);
        if (!hit) {
            /* pytest's "E   ..." and "> ..." lines, "_ _ _" separators, indented source */
            if (s.n == 0 || s.p[0] == ' ' || s.p[0] == '\t' || s.p[0] == '>' ||
                (s.n >= 2 && s.p[0] == 'E' && s.p[1] == ' ') ||
                (s.n >= 4 && s.p[0] == '_' && s.p[1] == ' ' && s.p[2] == '_' && s.p[3] == ' '))
                continue;
            hit = match_colon(s, &path, &line);
        }
        if (!hit || line <= 0 || path.n == 0)
            continue;
        char *abs = path_normalize_n(start_dir, path.p, path.n);
        if (abs[0] != '/' || !path_cache_regular(cache, abs)) {
            free(abs);
            continue;
        }
        if (n == cap)
            v = xrealloc(v, (cap = cap ? cap * 2 : 8) * sizeof *v);
        v[n++] = (Candidate){abs, line};
    }
    *ncand = n;
    return v;
}

int location_find(const char *text, const char *case_file, int case_line0, const LocationDirs *dirs,
                  PathCache *cache, LocationSite *out)
{
    PathCache own;
    if (cache == NULL) {
        path_cache_init(&own);
        cache = &own;
    }
    *out = (LocationSite){NULL, 0, NULL, 0};
    const char *rootdir = dirs != NULL ? dirs->rootdir : NULL;
    const char *start = dirs != NULL && dirs->start_dir != NULL ? dirs->start_dir : rootdir;
    const char *proot = dirs != NULL && dirs->project_root != NULL ? dirs->project_root : rootdir;

    size_t nc = 0;
    Candidate *cand = find_candidates(text, start, cache, &nc);

    char *test_abs = NULL;
    if (case_file != NULL && case_file[0] != '\0')
        test_abs = path_normalize(rootdir, case_file);

    /* (a) the last candidate in the test's own file: by its path as written, else (a symlinked
     * directory on the way) by realpath */
    const Candidate *a = NULL;
    for (size_t i = nc; i-- > 0 && test_abs != NULL && a == NULL;)
        if (strcmp(cand[i].path, test_abs) == 0)
            a = &cand[i];
    for (size_t i = nc; i-- > 0 && test_abs != NULL && a == NULL;)
        if (strcmp(path_cache_real(cache, cand[i].path), path_cache_real(cache, test_abs)) == 0)
            a = &cand[i];
    /* (b) the last candidate that is not installed code */
    const Candidate *b = NULL;
    char *proot_norm = proot != NULL ? path_normalize(NULL, proot) : NULL;
    for (size_t i = nc; i-- > 0;)
        if (is_crash_site(cache, cand[i].path, proot_norm)) {
            b = &cand[i];
            break;
        }

    if (test_abs != NULL) {
        out->file = xstrdup(test_abs);
        out->line = a != NULL ? a->line : case_line0 >= 0 ? case_line0 + 1 : 1;
    } else if (b != NULL) { /* no `file` attribute (internal error, xunit2): best effort */
        out->file = xstrdup(b->path);
        out->line = b->line;
    }
    if (b != NULL && out->file != NULL) {
        bool same = out->line == b->line && path_same_file(out->file, b->path);
        if (!same) {
            out->crash_file = xstrdup(b->path);
            out->crash_line = b->line;
        }
    }

    for (size_t i = 0; i < nc; i++)
        free(cand[i].path);
    free(cand);
    free(test_abs);
    free(proot_norm);
    if (cache == &own)
        path_cache_destroy(&own);
    return 0;
}

void location_site_destroy(LocationSite *s)
{
    if (s == NULL)
        return;
    free(s->file);
    free(s->crash_file);
    *s = (LocationSite){NULL, 0, NULL, 0};
}
