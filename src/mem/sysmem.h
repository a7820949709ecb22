/* sysmem: system-wide memory from /proc: /proc/meminfo with psutil 5.9.4's formulas,
 * vm.overcommit_memory, vm.max_map_count and memory pressure (PSI).
 *
 * Values in bytes. Readers take `root` ("" = real system, else a fake tree). */
#ifndef PYTESTMON_SYSMEM_H
#define PYTESTMON_SYSMEM_H

#include <stdbool.h>
#include <stdint.h>

/* virtual_memory() / swap_memory() as psutil 5.9.4 (Debian 12) computes them:
 *   used = total - free - cached - buffers (or total - free when that is negative),
 *   cached = Cached + SReclaimable, available = MemAvailable clamped to [0, total]
 *   (> total -> free), percent = (total - available) / total * 100 rounded to 0.1.
 * used_by_available = total - available (psutil >= 7.1's `used`). */
typedef struct {
    uint64_t total, available, used, free, buffers, cached, shared, active, inactive, slab;
    uint64_t used_by_available;
    double percent;
    uint64_t swap_total, swap_free, swap_used;
    double swap_percent;
    bool has_commit;                 /* CommitLimit and Committed_AS present */
    uint64_t commit_limit, committed_as;
    uint64_t hugepages_total, hugepages_free, hugepages_rsvd, hugepage_size;
} SysMeminfo;
/* -EINVAL without MemTotal/MemFree. */
int sysmem_parse_meminfo(const char *text, SysMeminfo *out);
int sysmem_read_meminfo(const char *root, SysMeminfo *out);

/* /proc/pressure/memory */
typedef struct {
    double avg10, avg60, avg300;
    uint64_t total_us;
} SysPsiLine;
typedef struct {
    bool has_some, has_full;
    SysPsiLine some, full;
} SysPsi;
/* -EINVAL when neither a "some" nor a "full" line parses. */
int sysmem_parse_psi(const char *text, SysPsi *out);
int sysmem_read_psi(const char *root, SysPsi *out);

/* Everything above; meminfo is required, the rest optional (flags say what was read). */
typedef struct {
    SysMeminfo mem;
    int overcommit_memory;      /* 0 heuristic, 1 always, 2 strict; -1 unknown */
    bool has_max_map_count;
    uint64_t max_map_count;
    bool has_psi;
    SysPsi psi;
} SysMem;
int sysmem_read(const char *root, SysMem *out);

#endif
