/* location: failure location, message and node id from JUnit testcase strings. See location.h. */
#include "parse/location.h"

#include <ctype.h>
#include <limits.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "base/strbuf.h"

/* ---- small string helpers --------------------------------------------------------------- */

typedef struct {
    const char *p;
    size_t n;
} Span;

static bool span_starts(Span s, const char *prefix)
{
    size_t k = strlen(prefix);
    return s.n >= k && memcmp(s.p, prefix, k) == 0;
}

static Span span_trim(Span s)
{
    while (s.n > 0 && (s.p[0] == ' ' || s.p[0] == '\t'))
        s.p++, s.n--;
    while (s.n > 0 && (s.p[s.n - 1] == ' ' || s.p[s.n - 1] == '\t' || s.p[s.n - 1] == '\r'))
        s.n--;
    return s;
}

static bool span_eq(Span s, const char *lit)
{
    return s.n == strlen(lit) && memcmp(s.p, lit, s.n) == 0;
}

/* Split text into lines (without '\n'). Caller frees the array. */
static Span *split_lines(const char *text, size_t *nlines)
{
    size_t cap = 16, n = 0;
    Span *v = xmalloc(cap * sizeof *v);
    const char *p = text != NULL ? text : "";
    for (;;) {
        const char *nl = strchr(p, '\n');
        size_t len = nl ? (size_t)(nl - p) : strlen(p);
        if (len > 0 && p[len - 1] == '\r')
            len--;
        if (n == cap)
            v = xrealloc(v, (cap *= 2) * sizeof *v);
        v[n++] = (Span){p, len};
        if (nl == NULL)
            break;
        p = nl + 1;
    }
    *nlines = n;
    return v;
}

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

/* ---- paths ---------------------------------------------------------------------------- */

/* base + "/" + path[0..n) (base only when path is relative), normalised lexically in one
 * buffer: components are copied down over the input (the output never outruns the input:
 * "." and repeated slashes only shrink it), ".." pops the previous component. */
static char *normalize_n(const char *base, const char *path, size_t n)
{
    StrBuf buf = STRBUF_INIT;
    if ((n == 0 || path[0] != '/') && base != NULL && base[0] != '\0') {
        strbuf_puts(&buf, base);
        strbuf_putc(&buf, '/');
    }
    strbuf_append(&buf, path, n);
    if (buf.len == 0) {
        strbuf_putc(&buf, '.');
        return strbuf_detach(&buf);
    }
    char *s = buf.data;
    size_t len = buf.len, r = 0;
    bool absolute = s[0] == '/';
    size_t top = absolute ? 1 : 0; /* output before the first component */
    size_t w = top, ncomp = 0, nup = 0; /* output length; components; leading ".." among them */
    while (r < len) {
        while (r < len && s[r] == '/')
            r++;
        if (r == len)
            break;
        size_t start = r;
        while (r < len && s[r] != '/')
            r++;
        size_t clen = r - start;
        if (clen == 1 && s[start] == '.')
            continue;
        if (clen == 2 && s[start] == '.' && s[start + 1] == '.') {
            if (ncomp > nup) { /* drop the previous (ordinary) component */
                while (w > top && s[w - 1] != '/')
                    w--;
                if (ncomp > 1)
                    w--; /* and its separator */
                ncomp--;
                continue;
            }
            if (absolute)
                continue; /* "/.." is "/" */
            nup++;        /* a relative path keeps its leading ".." */
        }
        if (ncomp > 0)
            s[w++] = '/';
        memmove(s + w, s + start, clen);
        w += clen;
        ncomp++;
    }
    if (w == 0)
        s[w++] = '.';
    s[w] = '\0';
    buf.len = w;
    return strbuf_detach(&buf);
}

char *location_normalize(const char *base, const char *path)
{
    return normalize_n(base, path, strlen(path));
}

/* What the file system says about a path, remembered for the length of one report:
 * thousands of failures name the same few files, and realpath() costs a readlink per
 * path component (it dominated reading a 10,000-failure report). */
typedef struct {
    char *path;   /* NULL: free slot */
    char *real;   /* realpath(), or a copy of path when that fails */
    bool regular; /* an existing regular file */
    uint64_t hash;
} PathFacts;

/* Open addressing, power-of-two capacity, at most 3/4 full; holds every distinct path of the
 * current report (a 5,000-failure report names a few hundred files). */
static PathFacts *path_cache;
static size_t path_cache_cap, path_cache_n;

void location_cache_clear(void)
{
    for (size_t i = 0; i < path_cache_cap; i++) {
        free(path_cache[i].path);
        free(path_cache[i].real);
    }
    free(path_cache);
    path_cache = NULL;
    path_cache_cap = path_cache_n = 0;
}

static PathFacts *path_slot(PathFacts *table, size_t cap, const char *path, uint64_t h)
{
    size_t i = (size_t)h & (cap - 1);
    while (table[i].path != NULL && (table[i].hash != h || strcmp(table[i].path, path) != 0))
        i = (i + 1) & (cap - 1);
    return &table[i];
}

static void path_cache_grow(void)
{
    size_t cap = path_cache_cap ? path_cache_cap * 2 : 64;
    PathFacts *t = xcalloc(cap, sizeof *t);
    for (size_t i = 0; i < path_cache_cap; i++)
        if (path_cache[i].path != NULL)
            *path_slot(t, cap, path_cache[i].path, path_cache[i].hash) = path_cache[i];
    free(path_cache);
    path_cache = t;
    path_cache_cap = cap;
}

/* The entry is borrowed until the next call (the table may grow); its strings live until
 * location_cache_clear(). */
static const PathFacts *path_facts(const char *path)
{
    if (4 * (path_cache_n + 1) > 3 * path_cache_cap)
        path_cache_grow();
    uint64_t h = str_hash(path);
    PathFacts *f = path_slot(path_cache, path_cache_cap, path, h);
    if (f->path != NULL)
        return f;
    struct stat st;
    char *r = realpath(path, NULL);
    f->path = xstrdup(path);
    f->real = r != NULL ? r : xstrdup(path);
    f->regular = stat(path, &st) == 0 && S_ISREG(st.st_mode);
    f->hash = h;
    path_cache_n++;
    return f;
}

static bool is_regular_file(const char *path)
{
    return path_facts(path)->regular;
}

/* realpath() or, when that fails, the (already normalised) path itself: borrowed until
 * location_cache_clear(). */
static const char *real_of(const char *path)
{
    return path_facts(path)->real;
}

/* The part of `path` (absolute, normalised) below `root`, starting at its '/'; NULL when the
 * path is not under the root. */
static const char *below_root(const char *path, const char *root)
{
    size_t rl = strlen(root);
    while (rl > 1 && root[rl - 1] == '/')
        rl--;
    if (rl == 1 && root[0] == '/')
        return path; /* project root "/" */
    if (strncmp(path, root, rl) != 0 || path[rl] != '/')
        return NULL;
    return path + rl;
}

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
 * subdirectory or a sibling checkout, the whole path is. */
static bool is_crash_site(const char *path, const char *real, const char *root,
                          const char *root_real)
{
    const char *rest = root != NULL ? below_root(path, root) : NULL;
    if (rest == NULL && root_real != NULL)
        rest = below_root(real, root_real);
    if (rest != NULL)
        return !in_installed_code(rest);
    return !in_installed_code(path) && !in_installed_code(real);
}

/* ---- candidates ------------------------------------------------------------------------- */

typedef struct {
    char *path;       /* owned: absolute, normalised, an existing regular file */
    const char *real; /* realpath (or path), borrowed from the path cache */
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

/* `File "P", line N` anywhere in the line (memmem: this runs on every traceback line). */
static bool match_native(Span s, Span *path, int *line)
{
    const char *end = s.p + s.n;
    for (const char *f = s.p; (f = memmem(f, (size_t)(end - f), "File \"", 6)) != NULL; f++) {
        const char *ps = f + 6;
        const char *q = memmem(ps, (size_t)(end - ps), "\", line ", 8);
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

/* Iterates the lines of a C string as split_lines() would, without the array. */
typedef struct {
    const char *p, *end;
    bool done;
} LineIter;

static LineIter line_iter(const char *text)
{
    const char *t = text != NULL ? text : "";
    return (LineIter){t, t + strlen(t), false};
}

static bool line_next(LineIter *it, Span *out)
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

/* Where the last section of a chained exception starts: after the last separator line. Both
 * separators say "above exception", so most texts are settled by one strstr(). */
static LineIter last_section(const char *text)
{
    LineIter it = line_iter(text), from = it;
    if (strstr(it.p, "above exception") == NULL)
        return from;
    Span s;
    while (line_next(&it, &s))
        if (is_chain_separator(s))
            from = it;
    return from;
}

static Candidate *find_candidates(const char *text, const char *start_dir, size_t *ncand)
{
    size_t n = 0, cap = 0;
    Candidate *v = NULL;
    LineIter it = last_section(text);
    Span s;
    while (line_next(&it, &s)) {
        Span path;
        int line;
        bool hit = match_native(s, &path, &line);
        if (!hit) {
            if (s.n == 0 || span_starts(s, "E ") || span_starts(s, ">") || span_starts(s, "_ _ ") ||
                s.p[0] == ' ' || s.p[0] == '\t')
                continue;
            hit = match_colon(s, &path, &line);
        }
        if (!hit || line <= 0 || path.n == 0)
            continue;
        char *abs = normalize_n(start_dir, path.p, path.n);
        if (abs[0] != '/' || !is_regular_file(abs)) {
            free(abs);
            continue;
        }
        if (n == cap)
            v = xrealloc(v, (cap = cap ? cap * 2 : 8) * sizeof *v);
        v[n++] = (Candidate){abs, real_of(abs), line};
    }
    *ncand = n;
    return v;
}

int location_find(const char *text, const char *case_file, int case_line0, const LocationDirs *dirs,
                  LocationSite *out)
{
    *out = (LocationSite){NULL, 0, NULL, 0};
    const char *rootdir = dirs != NULL ? dirs->rootdir : NULL;
    const char *start = dirs != NULL && dirs->start_dir != NULL ? dirs->start_dir : rootdir;
    const char *proot = dirs != NULL && dirs->project_root != NULL ? dirs->project_root : rootdir;

    size_t nc = 0;
    Candidate *cand = find_candidates(text, start, &nc);

    char *test_abs = NULL;
    const char *test_real = NULL;
    if (case_file != NULL && case_file[0] != '\0') {
        test_abs = location_normalize(rootdir, case_file);
        test_real = real_of(test_abs);
    }

    /* (a) the last candidate in the test's own file */
    const Candidate *a = NULL;
    for (size_t i = nc; i-- > 0 && test_real != NULL;)
        if (strcmp(cand[i].real, test_real) == 0) {
            a = &cand[i];
            break;
        }
    /* (b) the last candidate that is not installed code */
    const Candidate *b = NULL;
    char *proot_norm = proot != NULL ? location_normalize(NULL, proot) : NULL;
    const char *proot_real = proot_norm != NULL ? real_of(proot_norm) : NULL;
    for (size_t i = nc; i-- > 0;)
        if (is_crash_site(cand[i].path, cand[i].real, proot_norm, proot_real)) {
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
        bool same = strcmp(real_of(out->file), b->real) == 0 && out->line == b->line;
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

/* ---- messages ------------------------------------------------------------------------------ */

static char *span_dup(Span s)
{
    return xstrndup(s.p, s.n);
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
    Span *lines = split_lines(text, &n);
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
    Span *lines = split_lines(text, &n);
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

char *location_message(const char *message, const char *text)
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

/* ---- node ids ---------------------------------------------------------------------------- */

/* "tests/test_x.py" -> "tests.test_x" (pytest's mangling of the first node-id part). */
static char *dotted_module(const char *file)
{
    char *d = xstrdup(file);
    for (char *p = d; *p; p++)
        if (*p == '/')
            *p = '.';
    size_t n = strlen(d);
    if (n >= 3 && strcmp(d + n - 3, ".py") == 0)
        d[n - 3] = '\0';
    return d;
}

static void append_classes(StrBuf *sb, const char *classes)
{
    /* "A.B" -> "::A::B" */
    if (classes == NULL || *classes == '\0')
        return;
    strbuf_puts(sb, "::");
    for (const char *p = classes; *p; p++) {
        if (*p == '.')
            strbuf_puts(sb, "::");
        else
            strbuf_putc(sb, *p);
    }
}

/* Find the module file for a dotted classname under rootdir: the longest prefix of the dotted
 * parts that names "<parts joined by />.py". Returns the relative path, *classes_out points into
 * classname at the class part ("" when none). */
static char *search_module(const char *classname, const char *rootdir, const char **classes_out)
{
    if (rootdir == NULL)
        return NULL;
    size_t n = strlen(classname);
    for (size_t cut = n; cut > 0; cut--) {
        if (cut != n && classname[cut] != '.')
            continue;
        char *rel = xstrndup(classname, cut);
        for (char *p = rel; *p; p++)
            if (*p == '.')
                *p = '/';
        StrBuf sb = STRBUF_INIT;
        strbuf_printf(&sb, "%s/%s.py", rootdir, rel);
        bool ok = is_regular_file(strbuf_cstr(&sb));
        strbuf_destroy(&sb);
        if (ok) {
            StrBuf r = STRBUF_INIT;
            strbuf_printf(&r, "%s.py", rel);
            free(rel);
            *classes_out = classname + cut + (cut < n ? 1 : 0);
            return strbuf_detach(&r);
        }
        free(rel);
    }
    return NULL;
}

char *location_nodeid(const char *file, const char *classname, const char *name,
                      const char *rootdir)
{
    if (name == NULL)
        return NULL;
    StrBuf sb = STRBUF_INIT;
    if (classname == NULL || classname[0] == '\0') {
        /* collection error: name is the dotted module; otherwise best effort */
        if (file != NULL && file[0] != '\0') {
            char *d = dotted_module(file);
            bool collect = strcmp(d, name) == 0;
            free(d);
            strbuf_puts(&sb, file);
            if (!collect) {
                strbuf_puts(&sb, "::");
                strbuf_puts(&sb, name);
            }
        } else {
            strbuf_puts(&sb, name);
        }
        return strbuf_detach(&sb);
    }

    const char *classes = NULL;
    char *module = NULL;
    if (file != NULL && file[0] != '\0') {
        char *d = dotted_module(file);
        size_t dl = strlen(d);
        if (strcmp(classname, d) == 0)
            classes = "";
        else if (strncmp(classname, d, dl) == 0 && classname[dl] == '.')
            classes = classname + dl + 1;
        free(d);
        if (classes != NULL)
            module = xstrdup(file);
    }
    if (module == NULL) /* inherited test, or no `file` */
        module = search_module(classname, rootdir, &classes);
    if (module == NULL) { /* give up: keep `file` if any, else the dotted name as-is */
        if (file != NULL && file[0] != '\0') {
            module = xstrdup(file);
            classes = "";
        } else {
            module = xstrdup(classname);
            classes = "";
        }
    }
    strbuf_puts(&sb, module);
    append_classes(&sb, classes);
    strbuf_puts(&sb, "::");
    strbuf_puts(&sb, name);
    free(module);
    return strbuf_detach(&sb);
}

static const char *last_component(const char *p)
{
    const char *slash = strrchr(p, '/');
    return slash ? slash + 1 : p;
}

bool location_same_file(const char *a, const char *b)
{
    if (strcmp(a, b) == 0)
        return true;
    char *na = location_normalize(NULL, a), *nb = location_normalize(NULL, b);
    bool same = strcmp(na, nb) == 0;
    free(na);
    free(nb);
    if (same || strcmp(last_component(a), last_component(b)) != 0)
        return same;
    char *ra = realpath(a, NULL), *rb = realpath(b, NULL);
    same = ra && rb && strcmp(ra, rb) == 0;
    free(ra);
    free(rb);
    return same;
}
