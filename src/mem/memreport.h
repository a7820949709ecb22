/* memreport: the full memory report for one pid, as JSON and as human text, and the
 * `pytestmon mem` command line.
 *
 * Report (jansson object; all sizes in bytes; a missing limit is JSON null):
 *   pid, name,
 *   process:  rss, vms, shared, text, data (psutil memory_info(), from statm),
 *             vm_peak, vm_hwm, vm_data, vm_stk, vm_lck, vm_swap, rss_anon, rss_file,
 *             rss_shmem, threads, map_count, and when smaps_rollup is readable
 *             pss, uss, swap
 *   tree:     nproc, rss, vms (summed over the pid and its descendants)
 *   limits:   {address_space, data, resident_set, locked_memory, stack}: {soft, hard}
 *   system:   total, available, used (psutil 5.9.4 formula), used_by_available, free,
 *             buffers, cached, shared, percent, swap {total, used, free, percent},
 *             overcommit_memory, commit_limit, committed_as, max_map_count,
 *             psi {some {avg10, avg60, avg300, total}, full {...}} (or null)
 *   cgroup:   null, or {version, path, dir, limit, effective_limit, high, usage, peak,
 *             swap_usage, swap_limit, oom, oom_kill, failcnt}
 *   constraints: [{name, label, used, limit, percent, verdict}] (applicable ones)
 *   binding:  {name, label, verdict, percent} or null
 *   verdict:  worst verdict ("ok" | "near" | "exceeded")
 *   sentence: one plain sentence about the binding constraint
 *   sections: the report as text, the one rendering every front end shows (`pytestmon mem`
 *             prints it, :PytestMemory lists it): [{title, rows = [{label, value, verdict?}]}]
 *             with the titles "Constraints", "Process PID (NAME)", "Limits (soft / hard)",
 *             "System", "cgroup vN PATH" (or "cgroup: none readable"); sizes as
 *             headroom_format_bytes() writes them ("4.7 GB", "155 MB", "12 kB"), "unlimited"
 *             or "none" for no limit; a row is printed as MEMREPORT_ROW_FORMAT (label, value). */
#ifndef PYTESTMON_MEMREPORT_H
#define PYTESTMON_MEMREPORT_H

#include <jansson.h>

#include "mem/cgroup.h"
#include "mem/headroom.h"
#include "mem/procmem.h"
#include "mem/proctree.h"
#include "mem/sysmem.h"

/* What the report says of one process, read once (caller's storage: memreport_process_init /
 * memreport_process_destroy). */
typedef struct {
    int pid;
    char *name;              /* /proc/PID/comm, owned; NULL when unreadable */
    ProcStatus status;
    ProcStatm statm;
    bool has_maps, has_rollup, has_tree;
    uint64_t map_count;
    ProcRollup rollup;
    ProcTreeSample tree;     /* the pid and its descendants */
} MemProcess;

/* Everything the report says, read once: the process, its limits, the system, its cgroup
 * and the headroom judged from them (memreport_facts_init / memreport_facts_destroy). */
typedef struct {
    MemProcess proc;
    ProcLimits limits;
    SysMem sys;
    CgroupMem cg;
    Headroom hr;
} MemFacts;

void memreport_process_init(MemProcess *p);
void memreport_process_destroy(MemProcess *p);
/* Reads the process part only (status, statm, name, map count, smaps_rollup, tree): 0, or a
 * negative errno when status or statm cannot be read (-ENOENT/-ESRCH: no such process). */
int memreport_read_process(const char *root, int pid, MemProcess *p);

void memreport_facts_init(MemFacts *f);
void memreport_facts_destroy(MemFacts *f);
/* Reads everything for `pid` under `root` ("" = real system). 0 or a negative errno. */
int memreport_read(const char *root, int pid, MemFacts *f);

/* Sections, serialised from what was read (new references): the report's `process` and
 * `tree` (null when the tree could not be sampled), and the whole report. */
json_t *memreport_process_json(const MemProcess *p);
json_t *memreport_tree_json(const MemProcess *p);
json_t *memreport_json(const MemFacts *f);

/* Reads and serialises the report for `pid` under `root` ("" = real system). Returns a new
 * reference, or NULL with *err set to a negative errno (-ESRCH when the process does not exist). */
json_t *memreport_build(const char *root, int pid, int *err);

/* The headroom of `pid` alone (status, limits, map count, system, cgroup; no
 * smaps_rollup, no tree): cheap enough for every status push and every sample. The map
 * count is left out (its constraint does not apply) when VmSize proves it under half of
 * vm.max_map_count. Fills `out` (headroom_init'ed by the caller). 0 or a negative errno. */
int memreport_headroom(const char *root, int pid, Headroom *out);

#define MEMREPORT_ROW_FORMAT "  %-18s %s"

/* Renders a report built by memreport_build as text: a head line (pid, name, verdict), the
 * sentence, then its `sections`. Caller frees the result. */
char *memreport_render_text(const json_t *report);

/* `pytestmon mem [--pid PID] [--json] [--root DIR]`. argv[0] is the subcommand name
 * ("mem"); options follow. Default pid: the calling process. Prints to stdout; errors to
 * stderr. Returns the exit code: 0 ok, 1 process not found / unreadable, 2 usage. */
int memreport_cli(int argc, char **argv);

#endif
