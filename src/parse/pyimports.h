/* pyimports: the modules a Python source imports, found without Python.
 *
 * A pure parser: takes a source buffer and the dotted package the file belongs to, and fills
 * a PyImports with absolute dotted module names. A light tokenizer skips strings (any prefix,
 * triple-quoted included), comments and line continuations, and follows bracket depth, so an
 * import statement is recognised where a statement starts: at the start of a logical line,
 * after `;` or after a `:` outside brackets (`try: import x`). Imports inside functions and
 * try/if blocks count too. Per statement:
 *   import a.b as c, d        -> "a.b", "d"
 *   from a import b, c        -> "a", "a.b", "a.c"   (b may be a submodule or a name)
 *   from a import *           -> "a"
 *   from . import x           -> "<package>", "<package>.x"
 *   from ..p import y         -> "<parent of package>.p", "<parent of package>.p.y"
 * A relative import that climbs above the top-level package counts in `unresolved`. A call of
 * `__import__` or `import_module` (importlib) with a plain string literal naming an absolute
 * module is an import of that module; with anything else it sets `dynamic`: what it imports
 * is unknown. */
#ifndef PYTESTMON_PYIMPORTS_H
#define PYTESTMON_PYIMPORTS_H

#include <stdbool.h>
#include <stddef.h>

typedef struct {
    char **names;      /* absolute dotted names, in source order, without duplicates */
    size_t n, cap;
    bool dynamic;      /* __import__(x) or import_module(x) with a computed x seen */
    size_t unresolved; /* relative imports above the top-level package */
} PyImports;

void pyimports_init(PyImports *out);
void pyimports_destroy(PyImports *out);

/* Parses `len` bytes of `src` (need not be NUL-terminated). `package` is the dotted package
 * relative imports are resolved against ("" for a top-level module; for pkg/__init__.py it is
 * "pkg"). Appends to `out`. Never fails: text it does not understand is skipped. */
void pyimports_parse(const char *src, size_t len, const char *package, PyImports *out);

/* I/O wrapper: reads `path` and parses it. 0, or a negative errno (out unchanged): -EFBIG
 * when the file holds more than `max_bytes` (0: no limit), found before reading it (or while
 * reading, if it grows), -EINVAL when it is not a regular file. */
int pyimports_read(const char *path, const char *package, size_t max_bytes, PyImports *out);

#endif
