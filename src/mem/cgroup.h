/* cgroup: the memory cgroup of a process, v1 or v2.
 *
 * Owns: parsing /proc/PID/cgroup (v1 line listing `memory`, else the v2 `0::` line,
 * ` (deleted)` suffix dropped), finding the mount in /proc/self/mountinfo (`cgroup2`, or
 * `cgroup` with `memory` in super options; `\040`-style escapes undone), and reading
 * limit/usage/peak/swap/OOM counters. Effective limit = min of the limit over the cgroup
 * and its ancestors (up to the mount point).
 *
 * "No limit" is CGROUP_NO_LIMIT: v2 `max`, v1 9223372036854771712 (any value >= 2^62). */
#ifndef PYTESTMON_CGROUP_H
#define PYTESTMON_CGROUP_H

#include <stdbool.h>
#include <stdint.h>

#include "base/strbuf.h"

#define CGROUP_NO_LIMIT UINT64_MAX

typedef enum { CGROUP_NONE = 0, CGROUP_V1 = 1, CGROUP_V2 = 2 } CgroupVersion;

typedef struct {
    CgroupVersion version;  /* CGROUP_NONE: no memory cgroup found */
    char *path;             /* as in /proc/PID/cgroup, e.g. "/user.slice/x.scope" */
    char *dir;              /* directory on the system (without the `root` prefix) */
    uint64_t limit;         /* this cgroup: memory.max / memory.limit_in_bytes */
    uint64_t effective_limit; /* min over ancestors (and v1 hierarchical_memory_limit) */
    char *limit_dir;        /* directory whose limit is effective_limit (NULL if none) */
    uint64_t high;          /* v2 memory.high; CGROUP_NO_LIMIT when max/absent */
    uint64_t usage;         /* memory.current / memory.usage_in_bytes */
    bool has_peak;
    uint64_t peak;          /* memory.peak (5.19+) / memory.max_usage_in_bytes */
    bool has_swap;
    uint64_t swap_usage;    /* memory.swap.current / memsw.usage - usage */
    uint64_t swap_limit;    /* memory.swap.max / memsw.limit (memory+swap on v1) */
    bool has_events;
    uint64_t oom;           /* v2 memory.events `oom`; v1 failcnt is separate */
    uint64_t oom_kill;      /* v2 memory.events / v1 memory.oom_control `oom_kill` */
    uint64_t failcnt;       /* v1 memory.failcnt */
    bool under_oom;         /* v1 memory.oom_control */
} CgroupMem;

void cgroup_mem_init(CgroupMem *m);
void cgroup_mem_destroy(CgroupMem *m);

/* Picks the memory cgroup path from /proc/PID/cgroup text. Fills `path` (reset) and
 * `*ver`. -ENOENT when neither a v1 memory line nor a v2 line exists. */
int cgroup_parse_proc_cgroup(const char *text, CgroupVersion *ver, StrBuf *path);

/* Finds the mount for `ver` in mountinfo text: fills `mount_root` (the mount's root
 * within the hierarchy) and `mount_point`, both unescaped. -ENOENT when absent. */
int cgroup_parse_mountinfo(const char *text, CgroupVersion ver, StrBuf *mount_root,
                           StrBuf *mount_point);

/* Undoes mountinfo's octal escapes (`\040` space, `\011`, `\012`, `\134`). */
void cgroup_unescape(const char *s, size_t n, StrBuf *out);

/* Parses a limit file's text: "max" or any value >= 2^62 -> CGROUP_NO_LIMIT. */
int cgroup_parse_limit(const char *text, uint64_t *out);

/* Looks `key` up in "key value" lines (memory.events, memory.stat, oom_control). */
int cgroup_parse_keyed(const char *text, const char *key, uint64_t *out);

/* Reads everything for `pid`. 0 with version CGROUP_NONE when the process has no
 * memory cgroup (or no readable controller files); negative errno when the process is
 * gone. `m` must be initialised; it is reset first. */
int cgroup_read(const char *root, int pid, CgroupMem *m);

#endif
