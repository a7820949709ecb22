/* path: file paths as text, and what the file system says about them.
 *
 * Owns the one lexical normaliser of the co-process (project root choice, argument
 * rewriting, traceback locations, collection records all use it) and PathCache: the
 * stat()/realpath() answers for the paths one report names, kept by the caller for the
 * length of that report (files come and go between runs, so answers must not outlive it).
 * No process-wide state. */
#ifndef PYTESTMON_PATH_H
#define PYTESTMON_PATH_H

#include <stdbool.h>
#include <stddef.h>

/* `path` (relative paths first joined to `base`, which may be NULL or "") normalised
 * lexically: collapses "//", "/./" and "x/.." without touching the file system; "/.." is
 * "/", a relative path keeps its leading "..", "" is ".". Heap-allocated.
 * With base "/" the result is always absolute. */
char *path_normalize(const char *base, const char *path);
/* As path_normalize() on the first `n` bytes of `path` (not NUL-terminated). */
char *path_normalize_n(const char *base, const char *path, size_t n);

/* Whether two absolute paths name one file: equal once normalised lexically, or (only when
 * their last components match, to keep it cheap) the same realpath(). */
bool path_same_file(const char *a, const char *b);

/* The part of `path` (absolute, normalised) below `root`, starting at its '/'; NULL when
 * the path is not under the root (root "/": the whole path). Borrowed from `path`. */
const char *path_below(const char *path, const char *root);

/* stat()/realpath() answers remembered per distinct path: thousands of failures name the
 * same few files, and realpath() costs a readlink per path component (it dominated reading
 * a 10,000-failure report). Caller's storage: path_cache_init / path_cache_destroy. */
typedef struct PathFacts PathFacts;
typedef struct {
    PathFacts *slots; /* open addressing, power-of-two capacity, at most 3/4 full */
    size_t cap, n;
} PathCache;

void path_cache_init(PathCache *c);
void path_cache_destroy(PathCache *c);
/* Is `path` an existing regular file (stat() follows symlinks)? */
bool path_cache_regular(PathCache *c, const char *path);
/* realpath() or, when that fails, `path` itself: borrowed until path_cache_destroy(). Made on
 * the first call for a path (path_cache_regular() does not need it). */
const char *path_cache_real(PathCache *c, const char *path);

#endif
