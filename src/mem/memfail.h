/* memfail: which limit refused one failed allocation, told at the failing test.
 *
 * Owns the reading of the facts our pytest plugin gathers in the process where a test failed for
 * want of memory (python/pytestmon_hooks/memfacts.py: the report's `pytestmon.memfail`, one JSON
 * object), the decision of which limit refused the allocation, and its one-line wording, e.g.
 * "address-space limit (RLIMIT_AS 1.4 GB) reached: VmSize 1.3 GB, RSS 160 MB" (sizes as
 * headroom_format_bytes writes them). Pure: no I/O.
 *
 * Facts (every key optional; bytes unless said): what ("MemoryError", "OSError: [Errno 12]",
 * "crash": an xdist worker that died), vm_size, vm_rss, vm_data, rlimit_as and rlimit_data
 * ([soft, hard], -1 unlimited), map_count, max_map_count, overcommit_memory (0 1 2), mem_total,
 * mem_available, swap_total, swap_free, commit_limit, committed_as, vm_oom_kill (/proc/vmstat),
 * vm_oom_kill_before, cgroup {version, path, limit (the lowest of it and its ancestors, -1
 * none), usage, oom_kill, oom_kill_before}.
 *
 * The decision, for an allocation that failed (the size of the request is not known): of the
 * limits that return ENOMEM and apply (a finite RLIMIT_AS against VmSize, RLIMIT_DATA against
 * VmData, strict overcommit's CommitLimit against Committed_AS, vm.max_map_count against the
 * mappings when within 64 of it), and a cgroup at 90 % or more of its limit, the one with the least
 * room left is the one any request that failed was over. When none applies, or the least room is
 * more than RAM + swap (heuristic overcommit refuses a single request larger than that first):
 * "none: the allocation itself is larger than available". For a worker that died (what
 * "crash"): the OOM killer when its cgroup's oom_kill (then the system's, /proc/vmstat) rose
 * since the run started; else nothing is said. */
#ifndef PYTESTMON_MEMFAIL_H
#define PYTESTMON_MEMFAIL_H

#include <jansson.h>

typedef struct {
    const char *cause; /* "RLIMIT_AS", "RLIMIT_DATA", "max_map_count", "CommitLimit", "cgroup",
                        * "cgroup_oom_kill", "system_oom_kill", "none" (static) */
    char *sentence;    /* owned */
} MemFailVerdict;

/* The verdict on `facts` (an object as above): 0, or -ENOENT when they say nothing about a
 * limit (a crash without an OOM kill, facts that are not an object). */
int memfail_explain(const json_t *facts, MemFailVerdict *out);

/* A pytest that was killed (SIGKILL) behind a command prefix (a container), where our plugin read
 * these facts at its start (what "start": its cgroup {limit, ...}): "killed (SIGKILL) where its
 * memory limit is the cgroup's (memory.max 512 MB, cgroup v2 /): most likely the OOM killer, past
 * that limit" (cause "cgroup_oom_kill"). 0, or -ENOENT when its cgroup has no limit. */
int memfail_explain_killed(const json_t *facts, MemFailVerdict *out);
void memfail_verdict_destroy(MemFailVerdict *v);

/* The memory limits where pytest runs behind a command prefix (a container), from the facts our
 * plugin read there at its start (as for memfail_explain_killed()), for every run and not only
 * one that failed: {binding, binding_bytes?, sentence, cgroup_limit?, cgroup_usage?,
 * rlimit_as?, rlimit_data?, mem_total?, mem_available?} (bytes; a limit that is unlimited or
 * unknown is left out). `binding` is the lowest limit: "cgroup", "RLIMIT_AS", "RLIMIT_DATA",
 * "system" (RAM), or "none" when the facts name none; `sentence` says it, e.g. "cgroup
 * memory.max 512 MB, cgroup v2 /docker/x (used 40 MB)". NULL when facts is no object. A new
 * reference. */
json_t *memfail_limits_where(const json_t *facts);

/* One failure of a result (report.h's report_failure_json(): {nodeid, message, ...}) that carries
 * the plugin's facts under "memfail": the verdict is added to its message ("MemoryError: <sentence>")
 * and as `memory_limit` {cause, sentence}; "memfail" goes. A failure without facts is left alone. */
void memfail_apply(json_t *failure);
/* memfail_apply() on every element of an array of failures (NULL: nothing). */
void memfail_apply_all(json_t *failures);

#endif
