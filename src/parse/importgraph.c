/* importgraph: static import graph of a project (see importgraph.h). */
#include "parse/importgraph.h"

#include <dirent.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/monotime.h"
#include "base/strbuf.h"

static bool ends_with(const char *s, const char *suffix)
{
    size_t n = strlen(s), m = strlen(suffix);
    return n >= m && strcmp(s + n - m, suffix) == 0;
}

static bool file_exists(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0 && S_ISREG(st.st_mode);
}

static bool skipped_dir(const char *parent, const char *name)
{
    if (name[0] == '.' || strcmp(name, "__pycache__") == 0 || strcmp(name, "node_modules") == 0 ||
        strcmp(name, "site-packages") == 0 || strcmp(name, "build") == 0 || strcmp(name, "dist") == 0 ||
        ends_with(name, ".egg-info"))
        return true;
    StrBuf cfg = STRBUF_INIT;
    strbuf_printf(&cfg, "%s/%s/pyvenv.cfg", parent, name);
    bool venv = file_exists(strbuf_cstr(&cfg));
    strbuf_destroy(&cfg);
    return venv;
}

ImportGraph *importgraph_new(const char *root, size_t max_files)
{
    ImportGraph *g = xcalloc(1, sizeof *g);
    size_t len = strlen(root);
    while (len > 1 && root[len - 1] == '/')
        len--;
    g->root = xstrndup(root, len);
    g->max_files = max_files;
    return g;
}

void importgraph_limit(ImportGraph *g, uint64_t max_ms, const atomic_bool *cancel)
{
    g->max_ms = max_ms;
    g->cancel = cancel;
}

static void file_destroy(GraphFile *f)
{
    free(f->path);
    for (size_t i = 0; i < f->nnames; i++)
        free(f->names[i]);
    free(f->names);
    free(f->package);
    pyimports_destroy(&f->imports);
}

void importgraph_free(ImportGraph *g)
{
    if (!g)
        return;
    for (size_t i = 0; i < g->n; i++)
        file_destroy(&g->files[i]);
    free(g->files);
    free(g->index);
    free(g->root);
    free(g);
}

void importgraph_free_list(char **list, size_t n)
{
    for (size_t i = 0; i < n; i++)
        free(list[i]);
    free(list);
}

/* "a/b/c" (without .py) -> "a.b.c"; NULL when a component is not an identifier-like name. */
static char *dotted_from(const char *rel, size_t len)
{
    if (len == 0)
        return NULL;
    char *s = xstrndup(rel, len);
    for (char *p = s; *p; p++) {
        if (*p == '/')
            *p = '.';
        else if (*p == '.' || *p == '-' || *p == ' ')
            goto bad; /* not importable under this name */
    }
    return s;
bad:
    free(s);
    return NULL;
}

static void add_unique(char ***list, size_t *n, char *s)
{
    if (!s)
        return;
    for (size_t i = 0; i < *n; i++)
        if (strcmp((*list)[i], s) == 0) {
            free(s);
            return;
        }
    *list = xrealloc(*list, (*n + 1) * sizeof **list);
    (*list)[(*n)++] = s;
}

/* Names and package of the file at root-relative `rel`. */
static void name_file(const ImportGraph *g, GraphFile *f, const char *rel)
{
    const char *base = strrchr(rel, '/');
    base = base ? base + 1 : rel;
    bool init = strcmp(base, "__init__.py") == 0;
    /* The module's path without .py, or the package directory for __init__.py. */
    size_t mlen = init ? (size_t)(base - rel) - (base > rel ? 1 : 0) : strlen(rel) - 3;
    add_unique(&f->names, &f->nnames, dotted_from(rel, mlen));
    if (strncmp(rel, "src/", 4) == 0 && mlen > 4)
        add_unique(&f->names, &f->nnames, dotted_from(rel + 4, mlen - 4));
    /* The topmost directory above the file that still has __init__.py all the way down. */
    size_t dir_len = base > rel ? (size_t)(base - rel) - 1 : 0; /* rel's directory */
    size_t start = dir_len;                                     /* where the package name begins */
    StrBuf p = STRBUF_INIT;
    while (start > 0) {
        strbuf_reset(&p);
        strbuf_printf(&p, "%s/%.*s/__init__.py", g->root, (int)start, rel);
        if (!file_exists(strbuf_cstr(&p)))
            break;
        const char *slash = NULL;
        for (size_t j = start; j > 0; j--)
            if (rel[j - 1] == '/') {
                slash = rel + j - 1;
                break;
            }
        start = slash ? (size_t)(slash - rel) : 0;
    }
    strbuf_destroy(&p);
    size_t from = start == 0 ? 0 : start + 1;
    char *pkgname = mlen > from ? dotted_from(rel + from, mlen - from) : NULL;
    if (init) {
        f->package = xstrdup(pkgname ? pkgname : "");
    } else if (pkgname) {
        char *dot = strrchr(pkgname, '.');
        f->package = dot ? xstrndup(pkgname, (size_t)(dot - pkgname)) : xstrdup("");
    } else {
        f->package = xstrdup("");
    }
    add_unique(&f->names, &f->nnames, pkgname);
    f->is_conftest = strcmp(base, "conftest.py") == 0;
    f->is_test = !f->is_conftest && ((strncmp(base, "test_", 5) == 0) || ends_with(base, "_test.py"));
}

/* Index of `path` in the graph, or g->n. */
static size_t find_file(const ImportGraph *g, const char *path)
{
    for (size_t i = 0; i < g->n; i++)
        if (strcmp(g->files[i].path, path) == 0)
            return i;
    return g->n;
}

/* Parses the file at absolute `path` (root-relative `rel`) into a new entry; one too big
 * to read is an entry without imports (-EFBIG). */
static int add_file(ImportGraph *g, const char *path, const char *rel)
{
    GraphFile f = {0};
    pyimports_init(&f.imports);
    f.path = xstrdup(path);
    name_file(g, &f, rel);
    int rc = pyimports_read(path, f.package, IMPORTGRAPH_MAX_FILE_BYTES, &f.imports);
    if (rc == -EFBIG) {
        f.too_big = true;
    } else if (rc != 0) {
        file_destroy(&f);
        return rc;
    }
    if (g->n == g->cap) {
        g->cap = g->cap ? g->cap * 2 : 64;
        g->files = xrealloc(g->files, g->cap * sizeof *g->files);
    }
    g->files[g->n++] = f;
    g->index_stale = true;
    return rc;
}

static int cmp_file_path(const void *a, const void *b)
{
    return strcmp(((const GraphFile *)a)->path, ((const GraphFile *)b)->path);
}

/* Sets why the scan stops, when it must. */
static bool scan_cut(ImportGraph *g, uint64_t deadline)
{
    if (g->cancel && atomic_load_explicit(g->cancel, memory_order_relaxed))
        g->cut = IMPORTGRAPH_CUT_CANCELLED;
    else if (deadline && (monotime_ns() / 1000000) >= deadline)
        g->cut = IMPORTGRAPH_CUT_TIME;
    else
        return false;
    g->truncated = true;
    return true;
}

int importgraph_scan(ImportGraph *g)
{
    size_t rootlen = strlen(g->root);
    uint64_t deadline = g->max_ms ? (monotime_ns() / 1000000) + g->max_ms : 0;
    char **stack = xmalloc(sizeof *stack);
    size_t nstack = 1, capstack = 1;
    stack[0] = xstrdup(g->root);
    int rc = 0;
    bool first = true;
    while (nstack > 0) {
        char *dir = stack[--nstack];
        DIR *d = opendir(dir);
        if (!d) {
            if (first)
                rc = -errno;
            free(dir);
            first = false;
            continue;
        }
        first = false;
        struct dirent *e;
        StrBuf path = STRBUF_INIT;
        while ((e = readdir(d)) != NULL) {
            if (scan_cut(g, deadline))
                break;
            if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
                continue;
            strbuf_reset(&path);
            strbuf_printf(&path, "%s/%s", dir, e->d_name);
            unsigned char type = e->d_type;
            if (type == DT_UNKNOWN) {
                struct stat st;
                if (lstat(strbuf_cstr(&path), &st) != 0)
                    continue;
                type = S_ISDIR(st.st_mode) ? DT_DIR : S_ISREG(st.st_mode) ? DT_REG : DT_UNKNOWN;
            }
            if (type == DT_DIR) {
                if (skipped_dir(dir, e->d_name))
                    continue;
                if (nstack == capstack) {
                    capstack *= 2;
                    stack = xrealloc(stack, capstack * sizeof *stack);
                }
                stack[nstack++] = xstrdup(strbuf_cstr(&path));
            } else if (type == DT_REG && ends_with(e->d_name, ".py")) {
                if (g->n >= g->max_files) {
                    g->truncated = true;
                    g->cut = IMPORTGRAPH_CUT_FILES;
                    break;
                }
                add_file(g, strbuf_cstr(&path), strbuf_cstr(&path) + rootlen + 1);
            }
        }
        strbuf_destroy(&path);
        closedir(d);
        free(dir);
        if (g->truncated)
            break;
    }
    while (nstack > 0)
        free(stack[--nstack]);
    free(stack);
    if (g->n > 1)
        qsort(g->files, g->n, sizeof *g->files, cmp_file_path);
    g->index_stale = true;
    return rc;
}

/* The root-relative path of `path` when it is a .py file under the root outside skipped
 * directories; NULL otherwise. Borrowed from `path`. */
static const char *relative_to_root(const ImportGraph *g, const char *path)
{
    size_t rootlen = strlen(g->root);
    if (strncmp(path, g->root, rootlen) != 0 || path[rootlen] != '/' || !ends_with(path, ".py"))
        return NULL;
    const char *rel = path + rootlen + 1;
    /* Every directory component must be one the scan enters. */
    StrBuf parent = STRBUF_INIT;
    strbuf_puts(&parent, g->root);
    const char *p = rel;
    const char *slash;
    bool ok = true;
    while ((slash = strchr(p, '/')) != NULL) {
        char *name = xstrndup(p, (size_t)(slash - p));
        if (strcmp(name, "..") == 0 || skipped_dir(strbuf_cstr(&parent), name))
            ok = false;
        strbuf_putc(&parent, '/');
        strbuf_puts(&parent, name);
        free(name);
        if (!ok)
            break;
        p = slash + 1;
    }
    strbuf_destroy(&parent);
    return ok ? rel : NULL;
}

static void remove_file(ImportGraph *g, size_t i)
{
    file_destroy(&g->files[i]);
    memmove(&g->files[i], &g->files[i + 1], (g->n - i - 1) * sizeof *g->files);
    g->n--;
    g->index_stale = true;
}

int importgraph_update(ImportGraph *g, const char *path)
{
    const char *rel = relative_to_root(g, path);
    if (!rel)
        return -EXDEV;
    size_t i = find_file(g, path);
    if (i < g->n)
        remove_file(g, i);
    if (!file_exists(path))
        return -ENOENT;
    if (g->n >= g->max_files) {
        g->truncated = true;
        g->cut = IMPORTGRAPH_CUT_FILES;
        return 0;
    }
    return add_file(g, path, rel);
}

static int cmp_name(const void *a, const void *b)
{
    const GraphName *x = a, *y = b;
    int c = strcmp(x->name, y->name);
    return c ? c : (x->file > y->file) - (x->file < y->file);
}

static void rebuild_index(ImportGraph *g)
{
    if (!g->index_stale)
        return;
    size_t n = 0;
    for (size_t i = 0; i < g->n; i++)
        n += g->files[i].nnames;
    g->index = xrealloc(g->index, (n ? n : 1) * sizeof *g->index);
    g->nindex = 0;
    for (size_t i = 0; i < g->n; i++)
        for (size_t j = 0; j < g->files[i].nnames; j++)
            g->index[g->nindex++] = (GraphName){g->files[i].names[j], i};
    qsort(g->index, g->nindex, sizeof *g->index, cmp_name);
    g->index_stale = false;
}

/* First index entry named `name` (len bytes), or g->nindex. */
static size_t lookup(const ImportGraph *g, const char *name, size_t len)
{
    size_t lo = 0, hi = g->nindex;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        int c = strncmp(g->index[mid].name, name, len);
        if (c == 0 && g->index[mid].name[len] != '\0')
            c = 1;
        if (c < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo;
}

typedef struct {
    size_t *v;
    size_t n, cap;
} SizeVec;

static void vec_push(SizeVec *v, size_t x)
{
    if (v->n == v->cap) {
        v->cap = v->cap ? v->cap * 2 : 4;
        v->v = xrealloc(v->v, v->cap * sizeof *v->v);
    }
    v->v[v->n++] = x;
}

/* rev[t] gets f for every project file t that file f imports (with the packages on the way:
 * `import a.b` runs a/__init__.py too). */
static void reverse_edges(const ImportGraph *g, SizeVec *rev)
{
    for (size_t f = 0; f < g->n; f++) {
        const PyImports *im = &g->files[f].imports;
        for (size_t k = 0; k < im->n; k++) {
            const char *name = im->names[k];
            size_t len = strlen(name);
            for (size_t plen = 1; plen <= len; plen++) {
                if (plen < len && name[plen] != '.')
                    continue;
                for (size_t e = lookup(g, name, plen);
                     e < g->nindex && strncmp(g->index[e].name, name, plen) == 0 && g->index[e].name[plen] == '\0';
                     e++) {
                    size_t t = g->index[e].file;
                    if (t != f && (rev[t].n == 0 || rev[t].v[rev[t].n - 1] != f))
                        vec_push(&rev[t], f);
                }
            }
        }
    }
}

size_t importgraph_dynamic_files(const ImportGraph *g)
{
    size_t n = 0;
    for (size_t i = 0; i < g->n; i++)
        n += g->files[i].imports.dynamic;
    return n;
}

size_t importgraph_too_big_files(const ImportGraph *g)
{
    size_t n = 0;
    for (size_t i = 0; i < g->n; i++)
        n += g->files[i].too_big;
    return n;
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

bool importgraph_affected(ImportGraph *g, const char *path, char ***tests, size_t *n, const char **why)
{
    *tests = NULL;
    *n = 0;
    if (g->truncated) {
        *why = g->cut == IMPORTGRAPH_CUT_TIME        ? "the import graph's scan took too long"
               : g->cut == IMPORTGRAPH_CUT_CANCELLED ? "the import graph's scan was cancelled"
                                                     : "the project has too many files for the import graph";
        return false;
    }
    if (!relative_to_root(g, path)) {
        *why = "the file is not a module of the project";
        return false;
    }
    size_t seed = find_file(g, path);
    if (seed == g->n) {
        *why = "the file is not in the import graph (unreadable?)";
        return false;
    }
    rebuild_index(g);
    SizeVec *rev = xcalloc(g->n ? g->n : 1, sizeof *rev);
    reverse_edges(g, rev);
    bool *mark = xcalloc(g->n ? g->n : 1, sizeof *mark);
    SizeVec queue = {0};
    mark[seed] = true;
    vec_push(&queue, seed);
    for (size_t q = 0; q < queue.n; q++) {
        size_t x = queue.v[q];
        for (size_t k = 0; k < rev[x].n; k++)
            if (!mark[rev[x].v[k]]) {
                mark[rev[x].v[k]] = true;
                vec_push(&queue, rev[x].v[k]);
            }
        if (g->files[x].is_conftest) {
            /* Fixtures and hooks of a conftest.py reach every test file at and below it. */
            const char *slash = strrchr(g->files[x].path, '/');
            size_t dlen = (size_t)(slash - g->files[x].path) + 1;
            for (size_t t = 0; t < g->n; t++)
                if (!mark[t] && g->files[t].is_test && strncmp(g->files[t].path, g->files[x].path, dlen) == 0) {
                    mark[t] = true;
                    vec_push(&queue, t);
                }
        }
    }
    for (size_t i = 0; i < g->n; i++) {
        if (mark[i] && g->files[i].is_test) {
            *tests = xrealloc(*tests, (*n + 1) * sizeof **tests);
            (*tests)[(*n)++] = xstrdup(g->files[i].path);
        }
        free(rev[i].v);
    }
    if (*n > 1)
        qsort(*tests, *n, sizeof **tests, cmp_str);
    free(rev);
    free(mark);
    free(queue.v);
    *why = NULL;
    return true;
}
