/* pyimports: import statements of a Python source (see pyimports.h). */
#include "parse/pyimports.h"

#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/strbuf.h"

typedef enum { T_END, T_NAME, T_DOT, T_COMMA, T_LPAR, T_RPAR, T_STAR, T_STMT, T_OTHER } TokKind;

typedef struct {
    const char *p, *end;
    int depth;        /* open brackets: newlines inside them do not end a statement */
    TokKind kind;
    const char *tok;  /* T_NAME: the name */
    size_t toklen;
} Lexer;

static int is_ident_start(unsigned char c)
{
    return c == '_' || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c >= 0x80;
}

static int is_ident(unsigned char c)
{
    return is_ident_start(c) || (c >= '0' && c <= '9');
}

/* Skips a string literal starting at the quote lx->p points to. */
static void skip_string(Lexer *lx)
{
    char q = *lx->p;
    int triple = lx->end - lx->p >= 3 && lx->p[1] == q && lx->p[2] == q;
    lx->p += triple ? 3 : 1;
    while (lx->p < lx->end) {
        char c = *lx->p;
        if (c == '\\') {
            lx->p += lx->end - lx->p >= 2 ? 2 : 1;
            continue;
        }
        if (c == q) {
            if (!triple) {
                lx->p++;
                return;
            }
            if (lx->end - lx->p >= 3 && lx->p[1] == q && lx->p[2] == q) {
                lx->p += 3;
                return;
            }
        } else if (c == '\n' && !triple) {
            return; /* unterminated: the line ends it */
        }
        lx->p++;
    }
}

/* The next token. Newlines outside brackets, `;` and a `:` outside brackets are T_STMT. */
static TokKind next(Lexer *lx)
{
    for (;;) {
        if (lx->p >= lx->end)
            return lx->kind = T_END;
        unsigned char c = (unsigned char)*lx->p;
        if (c == ' ' || c == '\t' || c == '\r' || c == '\f') {
            lx->p++;
        } else if (c == '\\' && lx->p + 1 < lx->end && (lx->p[1] == '\n' || lx->p[1] == '\r')) {
            lx->p += 2; /* line continuation */
        } else if (c == '#') {
            while (lx->p < lx->end && *lx->p != '\n')
                lx->p++;
        } else if (c == '\n') {
            lx->p++;
            if (lx->depth == 0)
                return lx->kind = T_STMT;
        } else if (c == '"' || c == '\'') {
            skip_string(lx);
            return lx->kind = T_OTHER;
        } else if (is_ident_start(c)) {
            const char *s = lx->p;
            while (lx->p < lx->end && is_ident((unsigned char)*lx->p))
                lx->p++;
            /* A string prefix (r, b, f, rb, ...) glued to its quote: the string is one token. */
            if (lx->p < lx->end && (*lx->p == '"' || *lx->p == '\'') && lx->p - s <= 2) {
                skip_string(lx);
                return lx->kind = T_OTHER;
            }
            lx->tok = s;
            lx->toklen = (size_t)(lx->p - s);
            return lx->kind = T_NAME;
        } else {
            lx->p++;
            switch (c) {
            case '.': return lx->kind = T_DOT;
            case ',': return lx->kind = T_COMMA;
            case '*': return lx->kind = T_STAR;
            case '(': case '[': case '{':
                lx->depth++;
                return lx->kind = c == '(' ? T_LPAR : T_OTHER;
            case ')': case ']': case '}':
                if (lx->depth > 0)
                    lx->depth--;
                return lx->kind = c == ')' ? T_RPAR : T_OTHER;
            case ';':
                return lx->kind = T_STMT;
            case ':':
                return lx->kind = lx->depth == 0 ? T_STMT : T_OTHER;
            default:
                return lx->kind = T_OTHER;
            }
        }
    }
}

static int is_name(const Lexer *lx, const char *word)
{
    return lx->kind == T_NAME && lx->toklen == strlen(word) && memcmp(lx->tok, word, lx->toklen) == 0;
}

static void add_name(PyImports *out, const char *name)
{
    if (!*name)
        return;
    for (size_t i = 0; i < out->n; i++)
        if (strcmp(out->names[i], name) == 0)
            return;
    if (out->n == out->cap) {
        out->cap = out->cap ? out->cap * 2 : 8;
        out->names = xrealloc(out->names, out->cap * sizeof *out->names);
    }
    out->names[out->n++] = xstrdup(name);
}

/* A dotted name (`a.b.c`) into sb; the lexer is left on the token after it. 0 if none. */
static int dotted(Lexer *lx, StrBuf *sb)
{
    if (lx->kind != T_NAME)
        return 0;
    for (;;) {
        strbuf_append(sb, lx->tok, lx->toklen);
        if (next(lx) != T_DOT)
            return 1;
        if (next(lx) != T_NAME)
            return 1;
        strbuf_putc(sb, '.');
    }
}

/* Skips `as name`, if present. */
static void skip_alias(Lexer *lx)
{
    if (is_name(lx, "as"))
        next(lx), next(lx);
}

/* `import a.b as c, d`: the lexer is after `import`. */
static void parse_import(Lexer *lx, PyImports *out)
{
    StrBuf sb = STRBUF_INIT;
    next(lx);
    for (;;) {
        strbuf_reset(&sb);
        if (!dotted(lx, &sb))
            break;
        add_name(out, strbuf_cstr(&sb));
        skip_alias(lx);
        if (lx->kind != T_COMMA)
            break;
        next(lx);
    }
    strbuf_destroy(&sb);
}

/* The package `level` dots up from `package`: 1 is the package itself. 0 when it climbs
 * above the top level. */
static int relative_base(const char *package, int level, StrBuf *base)
{
    size_t len = strlen(package);
    if (len == 0)
        return 0;
    for (int i = 1; i < level; i++) {
        const char *dot = NULL;
        for (size_t j = len; j > 0; j--)
            if (package[j - 1] == '.') {
                dot = package + j - 1;
                break;
            }
        if (!dot)
            return 0;
        len = (size_t)(dot - package);
    }
    strbuf_append(base, package, len);
    return 1;
}

/* `from [.]*[a.b] import x, y` or `import (x, y)` or `import *`: after `from`. */
static void parse_from(Lexer *lx, const char *package, PyImports *out)
{
    int level = 0;
    StrBuf mod = STRBUF_INIT, name = STRBUF_INIT;
    next(lx);
    for (; lx->kind == T_DOT; next(lx))
        level++;
    /* `...` may come as three T_DOTs: counted above. */
    if (level > 0) {
        if (!relative_base(package, level, &mod)) {
            out->unresolved++;
            goto done;
        }
    }
    if (lx->kind == T_NAME && !is_name(lx, "import")) {
        if (mod.len)
            strbuf_putc(&mod, '.');
        dotted(lx, &mod);
    }
    if (!is_name(lx, "import") || mod.len == 0)
        goto done;
    add_name(out, strbuf_cstr(&mod));
    next(lx);
    int paren = lx->kind == T_LPAR;
    if (paren)
        next(lx);
    while (lx->kind == T_NAME) {
        strbuf_reset(&name);
        strbuf_printf(&name, "%s.%.*s", strbuf_cstr(&mod), (int)lx->toklen, lx->tok);
        add_name(out, strbuf_cstr(&name));
        next(lx);
        skip_alias(lx);
        if (lx->kind != T_COMMA)
            break;
        next(lx);
        if (paren && lx->kind == T_RPAR)
            break; /* trailing comma */
    }
done:
    strbuf_destroy(&mod);
    strbuf_destroy(&name);
}

static const char *skip_blanks(const char *p, const char *end)
{
    while (p < end && (*p == ' ' || *p == '\t' || *p == '\n' || *p == '\r'))
        p++;
    return p;
}

/* `__import__(` or `import_module(`: a plain string literal naming an absolute module as the
 * whole first argument is an import like any other (importlib.import_module('numpy'));
 * anything else is unknown. `lx` is on the function's name and is not moved. */
static void dynamic_call(const Lexer *lx, PyImports *out)
{
    const char *end = lx->end;
    const char *p = skip_blanks(lx->p, end);
    if (p >= end || *p != '(')
        return; /* not a call: a name that is only mentioned */
    p = skip_blanks(p + 1, end);
    if (p < end && (*p == '\'' || *p == '"')) {
        char q = *p;
        const char *s = p + 1, *e = s;
        while (e < end && *e != q && *e != '\\' && *e != '\n')
            e++;
        const char *after = e < end && *e == q ? skip_blanks(e + 1, end) : end;
        if (after < end && (*after == ',' || *after == ')') && s < e && *s != '.') {
            bool ok = true;
            for (const char *c = s; c < e; c++)
                if (!is_ident((unsigned char)*c) && *c != '.')
                    ok = false;
            if (ok) {
                char *name = xstrndup(s, (size_t)(e - s));
                add_name(out, name);
                free(name);
                return;
            }
        }
    }
    out->dynamic = true;
}

void pyimports_init(PyImports *out)
{
    *out = (PyImports){0};
}

void pyimports_destroy(PyImports *out)
{
    for (size_t i = 0; i < out->n; i++)
        free(out->names[i]);
    free(out->names);
    *out = (PyImports){0};
}

void pyimports_parse(const char *src, size_t len, const char *package, PyImports *out)
{
    Lexer lx = {.p = src, .end = src + len};
    int at_stmt = 1;
    next(&lx);
    while (lx.kind != T_END) {
        if (lx.kind == T_STMT) {
            at_stmt = 1;
            next(&lx);
            continue;
        }
        if (lx.kind == T_NAME && (is_name(&lx, "__import__") || is_name(&lx, "import_module")))
            dynamic_call(&lx, out);
        if (at_stmt && is_name(&lx, "import")) {
            at_stmt = 0;
            parse_import(&lx, out);
            continue; /* the lexer is on the token after the statement's names */
        }
        if (at_stmt && is_name(&lx, "from")) {
            at_stmt = 0;
            parse_from(&lx, package, out);
            continue;
        }
        at_stmt = 0;
        next(&lx);
    }
}

int pyimports_read(const char *path, const char *package, size_t max_bytes, PyImports *out)
{
    int rc = 0;
    char *buf = NULL;
    /* O_NONBLOCK: a FIFO named like a module must not hang the reader in open(). */
    int fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK);
    if (fd < 0)
        return -errno;
    struct stat st;
    if (fstat(fd, &st) != 0) {
        rc = -errno;
        goto error;
    }
    if (!S_ISREG(st.st_mode)) {
        rc = -EINVAL;
        goto error;
    }
    if (max_bytes && (uint64_t)st.st_size > max_bytes) {
        rc = -EFBIG; /* not read at all */
        goto error;
    }
    size_t cap = (size_t)st.st_size + 1, len = 0;
    buf = xmalloc(cap);
    for (;;) {
        if (len == cap) {
            cap *= 2;
            buf = xrealloc(buf, cap);
        }
        ssize_t n = read(fd, buf + len, cap - len);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            rc = -errno;
            goto error;
        }
        if (n == 0)
            break;
        len += (size_t)n;
        if (max_bytes && len > max_bytes) {
            rc = -EFBIG; /* it grew while we read it */
            goto error;
        }
    }
    pyimports_parse(buf, len, package, out);
error:
    free(buf);
    close(fd);
    return rc;
}
