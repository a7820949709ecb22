/* trust: whether a file or directory is safe from the other local users, for what we write
 * into (the log directory) and what we run (an interpreter we chose ourselves).
 *
 * Owns the one rule, as ssh applies it to its own files: a thing is safe when it is owned by
 * the effective user (or by root, where the caller allows it) and is not writable by its
 * group or by others (a symlink's own mode means nothing; a sticky directory may be writable
 * by others where the caller allows it: others cannot rename or remove what is not theirs).
 * Holds no state; reads the file system with stat(2), lstat(2), readlink(2), realpath(3). */
#ifndef PYTESTMON_TRUST_H
#define PYTESTMON_TRUST_H

#include <sys/stat.h>

#include "base/strbuf.h"

enum {
    TRUST_ROOT_OK = 1,   /* root (uid 0) may own it too */
    TRUST_STICKY_OK = 2, /* a sticky directory writable by group or others is safe */
};

/* Whether `st` (of one file, directory or symlink) follows the rule with `flags`. 0, or
 * -EPERM (another owner) / -EACCES (writable by group or others) with the reason appended to
 * `why`, without a subject: "owned by uid 65534, not by you (uid 1000)" (or "... (not you
 * or root)" with TRUST_ROOT_OK), "writable by others (mode 0777)". */
int trust_stat(const struct stat *st, unsigned flags, StrBuf *why);

/* Whether the executable `path` (absolute) is safe to run, root-owned parts being fine:
 * the file itself (lstat: a symlink is judged by its owner), every directory from its own up
 * to `top` (an ancestor of `path`, inclusive; NULL: its own directory only; stat: a
 * symlinked directory is judged by what it points to), every link `path` leads through and
 * the file it ends at (lstat), and the real directories (realpath) holding each of those
 * links and that file, up to "/" (sticky ones may be writable by others). 0, or a negative
 * errno with one clause appended to `why` naming what is wrong: "owned by uid 65534 (not you
 * or root)" for `path` itself, else "directory /p/.venv is writable by others (mode 0777)",
 * "link target /o/python3 is owned by uid 1001 (not you or root)", "cannot stat /p/x: ...". */
int trust_executable(const char *path, const char *top, StrBuf *why);

#endif
