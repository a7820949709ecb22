/* procmem: memory of one process, read from /proc.
 *
 * Owns: parsers for /proc/PID/{statm,status,limits,smaps_rollup,stat}, the mapping count
 * (lines of /proc/PID/maps). Also the whole-file reader and the number parser that
 * sysmem.c, cgroup.c and proctree.c (process trees) share.
 *
 * Every reader takes `root`: "" (or "/") for the real system, or a directory holding a
 * fake tree (`ROOT/proc/...`). All values are bytes unless named otherwise. A limit of
 * "unlimited" is PROCMEM_UNLIMITED, never a real number. I/O functions return 0 or a
 * negative errno (-ENOENT/-ESRCH when the process is gone). */
#ifndef PYTESTMON_PROCMEM_H
#define PYTESTMON_PROCMEM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/strbuf.h"

/* "unlimited" in /proc/PID/limits. */
#define PROCMEM_UNLIMITED UINT64_MAX

/* Reads the whole file at `path` into `out` (reset first). 0 or negative errno. */
int procmem_read_file(const char *path, StrBuf *out);
/* Builds "ROOT" + `rel` (rel starts with '/') with a trailing printf part. */
void procmem_path(StrBuf *out, const char *root, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* /proc/PID/statm, first 7 columns x page size: what psutil memory_info() reports. */
typedef struct {
    uint64_t vms, rss, shared, text, lib, data, dirty;
} ProcStatm;
/* -EINVAL when fewer than 7 numbers. */
int procmem_parse_statm(const char *text, uint64_t page_size, ProcStatm *out);
int procmem_read_statm(const char *root, int pid, ProcStatm *out);

/* /proc/PID/status memory lines (kB in the file, bytes here). Missing lines stay 0. */
typedef struct {
    int pid, ppid, threads;
    uint64_t vm_peak, vm_size, vm_lck, vm_hwm, vm_rss;
    uint64_t rss_anon, rss_file, rss_shmem;
    uint64_t vm_data, vm_stk, vm_swap;
} ProcStatus;
/* -EINVAL when there is no VmSize line (kernel threads and zombies have none). */
int procmem_parse_status(const char *text, ProcStatus *out);
int procmem_read_status(const char *root, int pid, ProcStatus *out);

/* One row of /proc/PID/limits; soft/hard are PROCMEM_UNLIMITED for "unlimited". */
typedef struct {
    uint64_t soft, hard;
} ProcLimit;
typedef struct {
    ProcLimit as;      /* "Max address space"   RLIMIT_AS, vs VmSize */
    ProcLimit data;    /* "Max data size"       RLIMIT_DATA, vs VmData */
    ProcLimit rss;     /* "Max resident set"    RLIMIT_RSS (not enforced) */
    ProcLimit memlock; /* "Max locked memory"   RLIMIT_MEMLOCK, vs VmLck */
    ProcLimit stack;   /* "Max stack size"      RLIMIT_STACK */
} ProcLimits;
/* Rows not found stay unlimited. -EINVAL when no "Max address space" row. */
int procmem_parse_limits(const char *text, ProcLimits *out);
int procmem_read_limits(const char *root, int pid, ProcLimits *out);

/* /proc/PID/smaps_rollup: costly, read on demand only. */
typedef struct {
    uint64_t rss, pss, uss, swap, swap_pss;  /* uss = sum of Private_* lines */
} ProcRollup;
int procmem_parse_rollup(const char *text, ProcRollup *out);
int procmem_read_rollup(const char *root, int pid, ProcRollup *out);

/* Number of lines in /proc/PID/maps (what vm.max_map_count limits). */
size_t procmem_count_lines(const char *text, size_t len);
int procmem_read_map_count(const char *root, int pid, uint64_t *out);

/* Parses an unsigned decimal at *p (leading blanks skipped), advancing *p past it. */
bool procmem_parse_u64(const char **p, uint64_t *out);

/* Reads the file ROOT + printf(fmt, ...) and parses its text with `parse` into `out`.
 * 0, the read's negative errno, or the parser's result. */
typedef int (*ProcmemParseFn)(const char *text, void *out);
/* Defines `static int name(const char *text, void *out)`, the ProcmemParseFn of the typed
 * parser `parse` (int parse(const char *text, T *out)). */
#define PROCMEM_PARSE_FN(name, parse)                                                             \
    static int name(const char *text, void *out)                                                  \
    {                                                                                             \
        return parse(text, out);                                                                  \
    }
int procmem_read_parsed(const char *root, ProcmemParseFn parse, void *out, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

/* One row of a key table: the line of `key` fills the field at offset `off` of the caller's
 * struct. Lines are "Key: value" (/proc/PID/status, smaps_rollup, /proc/meminfo): the key is
 * exactly the text before ':' and the value a decimal after blanks; with PROCMEM_LIMIT the
 * /proc/PID/limits row "Key<blanks>soft<blanks>hard" ("unlimited": PROCMEM_UNLIMITED). */
typedef struct {
    const char *key;
    size_t off;
    unsigned flags;
} ProcmemKey;
#define PROCMEM_KB 1u    /* the value is in kB: stored in bytes */
#define PROCMEM_INT 2u   /* the field is an int (else a uint64_t) */
#define PROCMEM_SUM 4u   /* `key` is a prefix: every matching line adds to the field */
#define PROCMEM_LIMIT 8u /* a limits row: the field is a ProcLimit */
/* Fills the fields of `out` from the lines of `text` (fields of missing lines are left as
 * they are; a line whose value does not parse is skipped). Returns a bit mask: bit i is set
 * when keys[i] was found with a value (at most 64 keys). */
uint64_t procmem_parse_keys(const char *text, const ProcmemKey *keys, size_t nkeys, void *out);

/* ppid from the text of /proc/PID/stat (comm may hold spaces and ')'). */
int procmem_parse_stat_ppid(const char *text, int *ppid);
/* starttime (field 22: clock ticks after boot) from the text of /proc/PID/stat: with the
 * pid it names one process for good, since a reused pid starts later. */
int procmem_parse_stat_start(const char *text, uint64_t *start);

#endif
