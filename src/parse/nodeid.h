/* nodeid: pytest's node id rebuilt from the attributes of a JUnit <testcase> (for reports
 * written without our plugin, which records pytest's own node id), and the plugin's escape of a
 * node id that XML cannot carry (its `nodeid-esc` attribute).
 *
 * Pure but for one probe: an inherited test's module is looked for under the rootdir
 * (through the caller's PathCache). No libuv. */
#ifndef PYTESTMON_NODEID_H
#define PYTESTMON_NODEID_H

#include "base/path.h"

/* Rebuild pytest's node id from the testcase attributes:
 * file "tests/test_math.py", classname "tests.test_math.TestCalc.TestNested", name "test_div"
 *   -> "tests/test_math.py::TestCalc::TestNested::test_div"; param ids are copied verbatim
 * ("test_param[a::b]"). Collection errors (classname "", name = dotted module) -> `file`.
 * When classname does not start with the dotted form of `file` (an inherited test: `file` is the
 * base class's module), the module path is searched for under `rootdir` (may be NULL: then `file`
 * is used; `cache` may be NULL: the file system is asked afresh). Returns NULL when name is NULL. */
char *nodeid_rebuild(const char *file, const char *classname, const char *name,
                     const char *rootdir, PathCache *cache);

/* Decodes, in place, the plugin's `nodeid-esc` attribute (python/pytestmon_hooks/text.py, _id_attr):
 * "\\" is a backslash, "\xHH" a character U+0001..U+007F, "\uHHHH" a character of the BMP
 * (in UTF-8); NUL or a surrogate becomes U+FFFD (the test's identity never holds one), any other
 * backslash stays as it is. The result is never longer; returns its length (NUL-terminated). */
size_t nodeid_unescape(char *s);

#endif
