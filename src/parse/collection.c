/* collection: the plugin's record of collected tests, and the nearest one. See collection.h. */
#include "parse/collection.h"

#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <limits.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "base/path.h"

static int json_line(json_t *v)
{
    json_int_t n = json_integer_value(v);
    return n > 0 && n < INT_MAX ? (int)n : 0;
}

/* A copy of string `v` (NULL when it is none) in which a NUL is U+FFFD: a test's identity (the
 * plugin writes it so: python/pytestmon_hooks/text.py, _ident; a record of another writer too). */
static char *text_of(json_t *v)
{
    const char *s = json_string_value(v);
    if (s == NULL)
        return NULL;
    size_t n = json_string_length(v);
    if (memchr(s, '\0', n) == NULL)
        return xstrndup(s, n);
    StrBuf sb = STRBUF_INIT;
    for (size_t i = 0; i < n; i++) {
        if (s[i] == '\0')
            strbuf_puts(&sb, "\xef\xbf\xbd");
        else
            strbuf_putc(&sb, s[i]);
    }
    return strbuf_detach(&sb);
}

/* Appends the nodes of array `key` of doc; false when an entry is malformed. */
static bool parse_nodes(json_t *doc, const char *key, CollectedNode **out, size_t *n)
{
    json_t *arr = json_object_get(doc, key);
    if (arr == NULL)
        return true;
    if (!json_is_array(arr))
        return false;
    *out = xcalloc(json_array_size(arr) + 1, sizeof **out);
    size_t i;
    json_t *v;
    json_array_foreach(arr, i, v) {
        const char *file = json_string_value(json_object_get(v, "file"));
        if (file == NULL || file[0] != '/' || !json_is_string(json_object_get(v, "nodeid")))
            return false;
        (*out)[(*n)++] = (CollectedNode){
            .nodeid = text_of(json_object_get(v, "nodeid")),
            .file = path_normalize(NULL, file),
            .line = json_line(json_object_get(v, "line")),
            .end = json_line(json_object_get(v, "end")),
        };
    }
    return true;
}

/* The collection errors of doc; false when an entry is malformed. */
static bool parse_errors(json_t *doc, CollectionError **out, size_t *n)
{
    json_t *arr = json_object_get(doc, "errors");
    if (arr == NULL)
        return true;
    if (!json_is_array(arr))
        return false;
    *out = xcalloc(json_array_size(arr) + 1, sizeof **out);
    size_t i;
    json_t *v;
    json_array_foreach(arr, i, v) {
        const char *file = json_string_value(json_object_get(v, "file"));
        char *message = text_of(json_object_get(v, "message"));
        if (file == NULL || file[0] != '/' || !json_is_string(json_object_get(v, "nodeid"))) {
            free(message);
            return false;
        }
        (*out)[(*n)++] = (CollectionError){
            .nodeid = text_of(json_object_get(v, "nodeid")),
            .file = path_normalize(NULL, file),
            .message = message ? message : xstrdup(""),
        };
    }
    return true;
}

int collection_parse(const char *buf, size_t len, Collection *out, StrBuf *err)
{
    *out = (Collection){0};
    json_error_t je;
    json_t *doc = json_loadb(buf, len, JSON_ALLOW_NUL, &je); /* a NUL in one id must not lose them all */
    if (!json_is_object(doc)) {
        strbuf_printf(err, "unreadable collection record: %s", doc ? "not an object" : je.text);
        json_decref(doc);
        return -EINVAL;
    }
    const char *rootdir = json_string_value(json_object_get(doc, "rootdir"));
    if (rootdir && rootdir[0] == '/')
        out->rootdir = path_normalize(NULL, rootdir);
    bool ok = parse_nodes(doc, "items", &out->items, &out->nitems) &&
              parse_nodes(doc, "classes", &out->classes, &out->nclasses) &&
              parse_errors(doc, &out->errors, &out->nerrors);
    json_decref(doc);
    if (!ok) {
        strbuf_puts(err, "unreadable collection record: a node or error without nodeid or absolute file");
        return -EINVAL;
    }
    return 0;
}

int collection_read(const char *path, Collection *out, StrBuf *err)
{
    *out = (Collection){0};
    StrBuf text = STRBUF_INIT;
    int rc = strbuf_read_file(&text, path, O_NOFOLLOW);
    if (rc == 0)
        rc = collection_parse(text.data, text.len, out, err);
    else
        strbuf_printf(err, "cannot read the collection record %s: %s", path, strerror(-rc));
    strbuf_destroy(&text);
    return rc;
}

static void free_nodes(CollectedNode *v, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        free(v[i].nodeid);
        free(v[i].file);
    }
    free(v);
}

void collection_destroy(Collection *c)
{
    free(c->rootdir);
    free_nodes(c->items, c->nitems);
    free_nodes(c->classes, c->nclasses);
    for (size_t i = 0; i < c->nerrors; i++) {
        free(c->errors[i].nodeid);
        free(c->errors[i].file);
        free(c->errors[i].message);
    }
    free(c->errors);
    *c = (Collection){0};
}

/* The smallest range of `v` that contains file:line, or NULL. */
static const CollectedNode *innermost(const CollectedNode *v, size_t n, const char *file, int line,
                                      const CollectedNode *best)
{
    for (size_t i = 0; i < n; i++) {
        const CollectedNode *c = &v[i];
        if (c->line <= 0 || c->line > line || c->end < line)
            continue;
        if (best && c->end - c->line >= best->end - best->line)
            continue;
        if (path_same_file(c->file, file))
            best = c;
    }
    return best;
}

/* "f.py::test_p[1]" -> "f.py::test_p". The path (before the first "::") may hold '[', and the
 * parameter id may hold "::" and '[': the id starts at the first '[' after the path. */
static char *without_params(const char *nodeid)
{
    const char *after_path = strstr(nodeid, "::");
    const char *bracket = after_path ? strchr(after_path, '[') : NULL;
    return bracket ? xstrndup(nodeid, (size_t)(bracket - nodeid)) : xstrdup(nodeid);
}

/* The node that ends last above `line` (a blank line or a comment after a test), the larger
 * one when a class and its last method end together; or `best`. */
static const CollectedNode *above(const CollectedNode *v, size_t n, const char *file, int line,
                                  const CollectedNode *best)
{
    for (size_t i = 0; i < n; i++) {
        const CollectedNode *c = &v[i];
        if (c->end <= 0 || c->end >= line)
            continue;
        if (best && (c->end < best->end || (c->end == best->end && c->line >= best->line)))
            continue;
        if (path_same_file(c->file, file))
            best = c;
    }
    return best;
}

/* `nodeid` as a pytest started in run_dir must be given it: its path (before the first "::")
 * is relative to the rootdir; relative to run_dir when below it, absolute otherwise. */
static char *for_run_dir(const Collection *c, const char *nodeid, const char *run_dir)
{
    if (!c->rootdir || !run_dir || strcmp(c->rootdir, run_dir) == 0)
        return xstrdup(nodeid);
    const char *sep = strstr(nodeid, "::");
    size_t path_len = sep ? (size_t)(sep - nodeid) : strlen(nodeid);
    char *abs = path_normalize_n(c->rootdir, nodeid, path_len);
    char *dir = path_normalize(NULL, run_dir);
    const char *below = path_below(abs, dir);
    StrBuf out = STRBUF_INIT;
    strbuf_puts(&out, below && below[0] == '/' ? below + 1 : abs);
    strbuf_puts(&out, nodeid + path_len);
    free(abs);
    free(dir);
    return strbuf_detach(&out);
}

char *collection_nearest(const Collection *c, const char *file, int line, const char *run_dir)
{
    char *norm = path_normalize(NULL, file);
    const CollectedNode *best = innermost(c->classes, c->nclasses, norm, line, NULL);
    best = innermost(c->items, c->nitems, norm, line, best);
    if (!best) {
        best = above(c->classes, c->nclasses, norm, line, NULL);
        best = above(c->items, c->nitems, norm, line, best);
    }
    free(norm);
    if (!best)
        return NULL;
    char *id = without_params(best->nodeid);
    char *sel = for_run_dir(c, id, run_dir);
    free(id);
    return sel;
}
