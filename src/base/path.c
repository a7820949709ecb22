/* path: the lexical normaliser and the stat()/realpath() cache (see path.h). */
#include "base/path.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "base/strbuf.h"

/* base + "/" + path[0..n) (base only when path is relative), normalised lexically in one
 * buffer: components are copied down over the input (the output never outruns the input:
 * "." and repeated slashes only shrink it), ".." pops the previous component. */
char *path_normalize_n(const char *base, const char *path, size_t n)
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

char *path_normalize(const char *base, const char *path)
{
    return path_normalize_n(base, path, strlen(path));
}

static const char *last_component(const char *p)
{
    const char *slash = strrchr(p, '/');
    return slash ? slash + 1 : p;
}

bool path_same_file(const char *a, const char *b)
{
    if (strcmp(a, b) == 0)
        return true;
    char *na = path_normalize(NULL, a), *nb = path_normalize(NULL, b);
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

const char *path_below(const char *path, const char *root)
{
    size_t rl = strlen(root);
    while (rl > 1 && root[rl - 1] == '/')
        rl--;
    if (rl == 1 && root[0] == '/')
        return path; /* root "/" */
    if (strncmp(path, root, rl) != 0 || path[rl] != '/')
        return NULL;
    return path + rl;
}

/* ---- the cache ------------------------------------------------------------------------- */

struct PathFacts {
    char *path;   /* NULL: free slot */
    char *real;   /* realpath(), or a copy of path when that fails; NULL until asked for */
    bool regular; /* an existing regular file */
    uint64_t hash;
};

void path_cache_init(PathCache *c)
{
    *c = (PathCache){NULL, 0, 0};
}

void path_cache_destroy(PathCache *c)
{
    for (size_t i = 0; i < c->cap; i++) {
        free(c->slots[i].path);
        free(c->slots[i].real);
    }
    free(c->slots);
    path_cache_init(c);
}

static PathFacts *slot_of(PathFacts *table, size_t cap, const char *path, uint64_t h)
{
    size_t i = (size_t)h & (cap - 1);
    while (table[i].path != NULL && (table[i].hash != h || strcmp(table[i].path, path) != 0))
        i = (i + 1) & (cap - 1);
    return &table[i];
}

static void grow(PathCache *c)
{
    size_t cap = c->cap ? c->cap * 2 : 64;
    PathFacts *t = xcalloc(cap, sizeof *t);
    for (size_t i = 0; i < c->cap; i++)
        if (c->slots[i].path != NULL)
            *slot_of(t, cap, c->slots[i].path, c->slots[i].hash) = c->slots[i];
    free(c->slots);
    c->slots = t;
    c->cap = cap;
}

/* The entry is borrowed until the next call (the table may grow); its strings live until
 * path_cache_destroy(). */
static PathFacts *facts(PathCache *c, const char *path)
{
    if (4 * (c->n + 1) > 3 * c->cap)
        grow(c);
    uint64_t h = str_hash(path);
    PathFacts *f = slot_of(c->slots, c->cap, path, h);
    if (f->path != NULL)
        return f;
    struct stat st;
    f->path = xstrdup(path);
    f->real = NULL;
    f->regular = stat(path, &st) == 0 && S_ISREG(st.st_mode);
    f->hash = h;
    c->n++;
    return f;
}

bool path_cache_regular(PathCache *c, const char *path)
{
    return facts(c, path)->regular;
}

const char *path_cache_real(PathCache *c, const char *path)
{
    PathFacts *f = facts(c, path);
    if (f->real == NULL) { /* asked for only where two paths' strings differ */
        char *r = realpath(path, NULL);
        f->real = r != NULL ? r : xstrdup(path);
    }
    return f->real;
}
