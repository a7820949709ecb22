/* nodeid: pytest's node id rebuilt from JUnit testcase attributes (see nodeid.h). */
#include "parse/nodeid.h"

#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "base/strbuf.h"

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
static char *search_module(const char *classname, const char *rootdir, PathCache *cache,
                           const char **classes_out)
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
        bool ok = path_cache_regular(cache, strbuf_cstr(&sb));
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

char *nodeid_rebuild(const char *file, const char *classname, const char *name,
                     const char *rootdir, PathCache *cache)
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
    if (module == NULL) { /* inherited test, or no `file` */
        PathCache own;
        path_cache_init(&own);
        module = search_module(classname, rootdir, cache != NULL ? cache : &own, &classes);
        path_cache_destroy(&own);
    }
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

static int hex_digit(char c)
{
    return c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10 : c >= 'A' && c <= 'F' ? c - 'A' + 10 : -1;
}

/* The value of `n` hex digits at s, or -1. */
static long hex_value(const char *s, int n)
{
    long v = 0;
    for (int i = 0; i < n; i++) {
        int d = hex_digit(s[i]); /* stops at the NUL: it is no digit */
        if (d < 0)
            return -1;
        v = v * 16 + d;
    }
    return v;
}

size_t nodeid_unescape(char *s)
{
    char *o = s;
    const char *i = s;
    while (*i) {
        long cp = -1;
        int used = 1;
        if (i[0] == '\\' && i[1] == '\\') {
            cp = '\\', used = 2;
        } else if (i[0] == '\\' && i[1] == 'x' && (cp = hex_value(i + 2, 2)) >= 0 && cp < 0x80) {
            used = 4;
        } else if (i[0] == '\\' && i[1] == 'u' && (cp = hex_value(i + 2, 4)) >= 0) {
            used = 6;
        } else {
            *o++ = *i++;
            continue;
        }
        if (cp == 0 || (cp >= 0xd800 && cp <= 0xdfff))
            cp = 0xfffd;
        if (cp < 0x80) {
            *o++ = (char)cp;
        } else if (cp < 0x800) {
            *o++ = (char)(0xc0 | (cp >> 6));
            *o++ = (char)(0x80 | (cp & 0x3f));
        } else {
            *o++ = (char)(0xe0 | (cp >> 12));
            *o++ = (char)(0x80 | ((cp >> 6) & 0x3f));
            *o++ = (char)(0x80 | (cp & 0x3f));
        }
        i += used;
    }
    *o = '\0';
    return (size_t)(o - s);
}
