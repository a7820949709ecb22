/* collection: what pytest collected, as the pytestmon plugin records it (PYTESTMON_COLLECT,
 * see python/pytestmon_hooks/collection.py), and which collected node is nearest to a line of a file.
 *
 * A Collection lives in caller's storage: collection_parse()/collection_read() fill it and
 * collection_destroy() frees everything it owns. Pure apart from the I/O wrapper and
 * realpath() when two paths name one file differently. Knows nothing of libuv. */
#ifndef PYTESTMON_COLLECTION_H
#define PYTESTMON_COLLECTION_H

#include <stddef.h>

#include "base/strbuf.h"

typedef struct {
    char *nodeid;   /* pytest's node id */
    char *file;     /* absolute path of the definition (an inherited test: its base class's file) */
    int line, end;  /* 1-based first (decorators included) and last line; 0 when unknown */
} CollectedNode;

/* A collector that failed (an import or syntax error in a test module, a conftest hook that
 * raised), at its file. */
typedef struct {
    char *nodeid;   /* pytest's node id of the failed collector ("" for the session) */
    char *file;     /* absolute path (the module; a directory when a package failed) */
    char *message;  /* pytest's report text, as written (not cleaned, not capped) */
} CollectionError;

typedef struct {
    char *rootdir;          /* pytest's rootdir, which node ids are relative to; NULL if unsaid */
    CollectedNode *items;   /* the tests, in collection order */
    size_t nitems;
    CollectedNode *classes; /* the classes around them (nested ones too) */
    size_t nclasses;
    CollectionError *errors; /* collection errors, in the order pytest reported them */
    size_t nerrors;
} Collection;

/* Parses the plugin's JSON ({"items": [...], "classes": [...], "errors": [...]}) from buf. 0, or -EINVAL with a
 * sentence in err (appended); *out is always initialised and must be destroyed. */
int collection_parse(const char *buf, size_t len, Collection *out, StrBuf *err);
/* The same from a file: 0, -errno, or -EINVAL. */
int collection_read(const char *path, Collection *out, StrBuf *err);
void collection_destroy(Collection *c);

/* The node to run for a cursor at `line` of `file` (absolute): the innermost collected test or
 * class whose source contains the line, else the one that ends last above it (the cursor on a
 * blank line after a test); a parametrized test's cases share their function, so they are all
 * selected (the node id without its "[...]"). The result is a selection for a pytest started
 * in `run_dir` (absolute): node ids are relative to pytest's rootdir, which can be an ancestor
 * of run_dir (a parent pytest.ini, a monorepo), so the id's path is made relative to run_dir
 * (absolute when outside it). A new string, or NULL when there is no such node, e.g. in a
 * helper above every test (the caller runs the whole file). */
char *collection_nearest(const Collection *c, const char *file, int line, const char *run_dir);

#endif
