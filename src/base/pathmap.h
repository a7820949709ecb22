/* pathmap: where the tests see the project and where the editor sees it (the `path_map`
 * option: a command prefix runs pytest in a container or on another host).
 *
 * A map is pairs of absolute paths [inside, host, inside, host, ...] (borrowed); the longest
 * matching entry wins, matching whole components only ("/app" maps "/app" and "/app/x", not
 * "/apple"). Forward (host -> inside) is what the co-process sends in (the root, files, node
 * ids, our plugin's files); back (inside -> host) is what comes out (frames, collected items,
 * rootdir, coverage files: our plugin maps them, python/pytestmon_hooks/pathmap.py, with the
 * same rule, given the map by pathmap_env()). Pure: no file system. Returns heap strings. */
#ifndef PYTESTMON_PATHMAP_H
#define PYTESTMON_PATHMAP_H

#include <stdbool.h>
#include <stddef.h>

/* `path` with the host side of its longest matching entry replaced by the inside one (a copy
 * of `path` when none matches). npairs: the number of strings in `pairs` (even). */
char *pathmap_forward(char *const *pairs, size_t npairs, const char *path);
/* The reverse: inside -> host. */
char *pathmap_back(char *const *pairs, size_t npairs, const char *path);

/* One argument or environment value sent inside, mapped forward where it names a host path:
 * an absolute path or node id ("/h/p/t.py::test"), an option's value ("--cov=/h/p"), or a
 * list of them separated by ':' (PYTHONPATH). Anything else is copied as it is. */
char *pathmap_forward_value(char *const *pairs, size_t npairs, const char *value);

/* The map as our plugin reads it ($PYTESTMON_PATHMAP): "PYTESTMON_PATHMAP=" then a JSON
 * list of [inside, host] lists. A new string. */
char *pathmap_env(char *const *pairs, size_t npairs);

/* Whether the map is usable: an even number of absolute paths. NULL, or why not (static). */
const char *pathmap_check(char *const *pairs, size_t npairs);

#endif
