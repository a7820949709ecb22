/* logdir: the directory of run logs and the memory log, and the rules for files in it.
 *
 * Holds no state. A log directory is used only if it is safe to write predictable names into
 * it, as ssh checks its own files: a real directory (not a symlink), owned by the effective
 * user, not writable by group or others (base/trust.h's rule, root not excepted). Missing parts are created with mode 0700. Files in
 * it are opened with O_NOFOLLOW | O_CLOEXEC, so a symlink planted under a log's name is
 * refused instead of followed.
 *
 * Run logs are named run-<pid>-<id>.log (pid of the co-process that wrote them). Co-processes
 * of several editors may share one directory: logdir_prune_runs() bounds the logs left by
 * co-processes that are gone, and never touches those of a live one (it prunes its own). */
#ifndef PYTESTMON_LOGDIR_H
#define PYTESTMON_LOGDIR_H

#include <stddef.h>
#include <sys/types.h>

#include "base/strbuf.h"

/* Creates `path` (mkdir -p, 0700 for created parts) and checks it is safe to use. 0, or a
 * negative errno with one sentence in `why` (appended) saying what is wrong. An empty path
 * is -EINVAL. */
int logdir_prepare(const char *path, StrBuf *why);

/* open(2) of a file in a log directory with O_NOFOLLOW | O_CLOEXEC added to `flags`.
 * A file descriptor, or a negative errno (-ELOOP for a symlink). */
int logdir_open(const char *path, int flags, mode_t mode);

/* "<dir>/run-<pid>-<id>.log": a new string the caller frees. */
char *logdir_run_log_path(const char *dir, int pid, long long id);

/* Deletes run logs of co-processes that are gone (oldest first by mtime) until the logs of
 * `own_pid` and of dead co-processes number at most `keep`; logs of other live processes are
 * neither counted nor deleted. Only regular files are deleted (unlinkat, no symlink is
 * followed). Returns how many were deleted. */
size_t logdir_prune_runs(const char *dir, int own_pid, size_t keep);

#endif
