/* privdir: a run's private temporary directory (it holds pytest's JUnit report), named
 * after the co-process that owns it.
 *
 * Names are "pytestmon-NS-PID-START-XXXXXX": the owner's pid namespace (inode of
 * /proc/self/ns/pid), pid and start time (field 22 of /proc/PID/stat), so a directory left
 * by a co-process that died (SIGKILL, OOM killer) is told from one still in use, even after
 * its pid was reused. Owns: creating one (mkdtemp, 0700), removing one with whatever a test
 * dropped into it without ever following a symlink (openat/unlinkat), and sweeping those of
 * dead co-processes. Directories of other pid namespaces, of other users and in the old
 * "pytestmon-XXXXXX" form tell no owner we can check and are left alone. */
#ifndef PYTESTMON_PRIVDIR_H
#define PYTESTMON_PRIVDIR_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Who owns a directory. */
typedef struct {
    uint64_t ns;    /* inode of the pid namespace */
    int pid;
    uint64_t start; /* clock ticks after boot */
} PrivdirOwner;

/* The owner record of process `pid` read from ROOT/proc (root "" is the real system).
 * 0 or a negative errno (-ENOENT: no such process). */
int privdir_owner_of(const char *root, int pid, PrivdirOwner *out);

/* $TMPDIR, or /tmp when unset or empty. Borrowed from the environment. */
const char *privdir_base(void);

/* Creates BASE/pytestmon-NS-PID-START-XXXXXX, mode 0700; *path is the caller's. 0 or -errno. */
int privdir_create(const char *base, const PrivdirOwner *owner, char **path);

/* Why privdir_create(base, ...) failed with `rc`, as a sentence (a new string): "no space left
 * in $TMPDIR (BASE) ..." for ENOSPC and EDQUOT, else the error and the directory. */
char *privdir_create_error(const char *base, int rc);

/* Whether the file system of `path` has (nearly) no room left for us: less than
 * PRIVDIR_LOW_SPACE bytes available to an unprivileged user (statvfs). False when it cannot tell. */
#define PRIVDIR_LOW_SPACE (1u << 20)
bool privdir_nearly_full(const char *path);

/* Removes `path` and everything in it. A symlink met anywhere (`path` itself included) is
 * removed, never followed. 0, or the first negative errno (-ELOOP when nested deeper than
 * PRIVDIR_MAX_DEPTH); what could be removed is removed anyway. */
#define PRIVDIR_MAX_DEPTH 128
int privdir_remove(const char *path);

/* Removes every directory in BASE named for an owner of namespace `self->ns` that no longer
 * runs (ROOT/proc/PID gone or started at another time), and only ours (same uid). Returns
 * how many were removed. */
size_t privdir_sweep(const char *base, const char *root, const PrivdirOwner *self);

#endif
