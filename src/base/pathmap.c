/* pathmap: host <-> inside paths by the longest matching entry. See pathmap.h. */
#include "base/pathmap.h"

#include <stdlib.h>
#include <string.h>

#include "base/strbuf.h"

/* Does `path` start with the directory `dir` on a component boundary? The length matched. */
static size_t match(const char *path, const char *dir)
{
    size_t n = strlen(dir);
    while (n > 1 && dir[n - 1] == '/')
        n--; /* "/app/" is "/app" */
    if (n == 1 && dir[0] == '/')
        return path[0] == '/' ? 1 : 0;
    if (strncmp(path, dir, n) != 0)
        return 0;
    return path[n] == '\0' || path[n] == '/' ? n : 0;
}

/* from: 1 = host side (forward), 0 = inside (back). */
static char *map(char *const *pairs, size_t npairs, const char *path, int from)
{
    size_t best = 0, best_len = 0;
    bool found = false;
    for (size_t i = 0; i + 1 < npairs; i += 2) {
        size_t len = match(path, pairs[i + from]);
        if (len && (!found || len > best_len)) {
            best = i, best_len = len, found = true;
        }
    }
    if (!found)
        return xstrdup(path);
    const char *to = pairs[best + 1 - from];
    size_t tolen = strlen(to);
    while (tolen > 1 && to[tolen - 1] == '/')
        tolen--;
    const char *rest = path + best_len;
    StrBuf sb = STRBUF_INIT;
    if (tolen == 1 && to[0] == '/' && *rest == '/')
        strbuf_puts(&sb, rest); /* "/" + "/x" is "/x" */
    else {
        strbuf_append(&sb, to, tolen);
        if (best_len == 1 && *rest && *rest != '/')
            strbuf_putc(&sb, '/'); /* from "/": "/x" keeps its separator */
        strbuf_puts(&sb, rest);
    }
    return strbuf_detach(&sb);
}

char *pathmap_forward(char *const *pairs, size_t npairs, const char *path)
{
    return map(pairs, npairs, path, 1);
}

char *pathmap_back(char *const *pairs, size_t npairs, const char *path)
{
    return map(pairs, npairs, path, 0);
}

/* An absolute path, maybe a node id: the part before "::" is mapped. */
static void forward_path(StrBuf *out, char *const *pairs, size_t npairs, const char *p, size_t n)
{
    char *part = xmalloc(n + 1);
    memcpy(part, p, n);
    part[n] = '\0';
    char *sep = strstr(part, "::");
    char *tail = NULL;
    if (sep) {
        tail = xstrdup(sep);
        *sep = '\0';
    }
    char *m = part[0] == '/' ? pathmap_forward(pairs, npairs, part) : xstrdup(part);
    strbuf_puts(out, m);
    if (tail)
        strbuf_puts(out, tail);
    free(m);
    free(tail);
    free(part);
}

char *pathmap_forward_value(char *const *pairs, size_t npairs, const char *value)
{
    StrBuf sb = STRBUF_INIT;
    const char *v = value;
    if (v[0] == '-') { /* an option: its value after '=' */
        const char *eq = strchr(v, '=');
        if (!eq || eq[1] != '/') {
            strbuf_puts(&sb, v);
            return strbuf_detach(&sb);
        }
        strbuf_append(&sb, v, (size_t)(eq + 1 - v));
        v = eq + 1;
    }
    if (v[0] != '/') {
        strbuf_puts(&sb, v);
        return strbuf_detach(&sb);
    }
    if (strstr(v, "::")) { /* a node id: its path only (':' may be in its parameters) */
        forward_path(&sb, pairs, npairs, v, strlen(v));
        return strbuf_detach(&sb);
    }
    for (;;) { /* a ':'-separated list of paths (one path is a list of one) */
        const char *colon = strchr(v, ':');
        size_t n = colon ? (size_t)(colon - v) : strlen(v);
        forward_path(&sb, pairs, npairs, v, n);
        if (!colon)
            break;
        strbuf_putc(&sb, ':');
        v = colon + 1;
    }
    return strbuf_detach(&sb);
}

static void json_string(StrBuf *sb, const char *s)
{
    strbuf_putc(sb, '"');
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        if (*p == '"' || *p == '\\')
            strbuf_printf(sb, "\\%c", *p);
        else if (*p < 0x20)
            strbuf_printf(sb, "\\u%04x", *p);
        else
            strbuf_putc(sb, (char)*p);
    }
    strbuf_putc(sb, '"');
}

char *pathmap_env(char *const *pairs, size_t npairs)
{
    StrBuf sb = STRBUF_INIT;
    strbuf_puts(&sb, "PYTESTMON_PATHMAP=[");
    for (size_t i = 0; i + 1 < npairs; i += 2) {
        strbuf_puts(&sb, i ? ",[" : "[");
        json_string(&sb, pairs[i]);
        strbuf_putc(&sb, ',');
        json_string(&sb, pairs[i + 1]);
        strbuf_putc(&sb, ']');
    }
    strbuf_putc(&sb, ']');
    return strbuf_detach(&sb);
}

const char *pathmap_check(char *const *pairs, size_t npairs)
{
    if (npairs % 2)
        return "path_map must pair each path inside with a host path";
    for (size_t i = 0; i < npairs; i++)
        if (pairs[i][0] != '/')
            return "path_map's paths must be absolute";
    return NULL;
}
