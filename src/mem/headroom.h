/* headroom: verdicts on how close a process is to each memory limit, the binding
 * constraint and one plain sentence about it; plus `headroom_diagnose` for a run that
 * died (which limit was reached, or "no memory limit was near").
 *
 * Pure: takes values already read by procmem/sysmem/cgroup, does no I/O.
 * Verdicts: ok, near (>= 90 % of the limit), exceeded (>= the limit). */
#ifndef PYTESTMON_HEADROOM_H
#define PYTESTMON_HEADROOM_H

#include <stdbool.h>
#include <stdint.h>

#include "mem/cgroup.h"
#include "mem/procmem.h"
#include "mem/sysmem.h"

#define HEADROOM_NEAR_PERCENT 90.0

typedef enum { HEADROOM_OK = 0, HEADROOM_NEAR = 1, HEADROOM_EXCEEDED = 2 } HeadroomVerdict;

/* In the order ENOMEM causes are checked (see linux-memory.md). */
typedef enum {
    HEADROOM_RLIMIT_AS = 0, /* VmSize vs "Max address space" soft limit */
    HEADROOM_RLIMIT_DATA,   /* VmData vs "Max data size" */
    HEADROOM_MAP_COUNT,     /* lines of maps vs vm.max_map_count */
    HEADROOM_COMMIT,        /* Committed_AS vs CommitLimit, only overcommit_memory == 2 */
    HEADROOM_CGROUP,        /* cgroup usage vs effective limit */
    HEADROOM_CGROUP_SWAP,   /* cgroup swap usage vs swap limit */
    HEADROOM_SYSTEM,        /* MemTotal - MemAvailable vs MemTotal */
    HEADROOM_SWAP,          /* swap used vs SwapTotal */
    HEADROOM_N
} HeadroomKind;

typedef struct {
    HeadroomKind kind;
    const char *name;   /* stable id: "RLIMIT_AS", "RLIMIT_DATA", "max_map_count",
                           "CommitLimit", "cgroup", "cgroup_swap", "system", "swap" */
    const char *label;  /* "address space", "data segment", ... */
    bool applies;       /* false: no such limit (unlimited, not strict, no swap...) */
    uint64_t used, limit; /* bytes; a count for HEADROOM_MAP_COUNT */
    double percent;
    HeadroomVerdict verdict;
} HeadroomConstraint;

typedef struct {
    HeadroomConstraint c[HEADROOM_N];
    int binding;        /* index into c of the binding constraint, -1 if none applies */
    char *sentence;     /* owned; one plain sentence about the binding constraint */
    uint64_t available; /* system MemAvailable used in sentences */
    bool has_oom_kill;  /* cgroup OOM-kill counter, kept for headroom_diagnose */
    uint64_t oom_kill;
} Headroom;

/* What headroom_eval needs; NULL members are skipped (their constraints don't apply). */
typedef struct {
    const ProcStatus *status;   /* VmSize, VmData */
    const ProcLimits *limits;
    bool has_map_count;
    uint64_t map_count;
    const SysMem *sys;
    const CgroupMem *cgroup;    /* version CGROUP_NONE counts as absent */
} HeadroomInput;

void headroom_init(Headroom *h);
void headroom_destroy(Headroom *h);
/* Fills `h` (destroying what it held). */
void headroom_eval(const HeadroomInput *in, Headroom *h);

const char *headroom_verdict_name(HeadroomVerdict v); /* "ok" | "near" | "exceeded" */

/* Human sizes: "4.7 GB" (>= 1 GiB), "155 MB", "12 kB"; MiB/GiB units. */
void headroom_format_bytes(char *buf, size_t size, uint64_t bytes);

/* True when text says an allocation failed: MemoryError, "Cannot allocate memory", Python's
 * start-up words for it, or any of glibc's dynamic loader's (e.g. "failed to map segment from
 * shared object", "cannot map zero-fill pages": the interpreter could not even start). The list
 * and what is left out, and why, are in headroom.c. */
bool headroom_text_says_enomem(const char *text, size_t len);
/* No phrase headroom_text_says_enomem looks for is longer than this: a reader scanning a stream
 * in chunks keeps this many bytes of the previous chunk (headroom_enomem_phrase_max() is the
 * longest one, checked against it by the unit test). */
#define HEADROOM_ENOMEM_PHRASE_MAX 64
size_t headroom_enomem_phrase_max(void);

/* A run that died. `before`/`after` are evaluations taken before the run and at its
 * last sample (or after it, for cgroup counters); either may be NULL. */
typedef struct {
    const Headroom *before;
    const Headroom *after;
    int exit_signal;        /* 0 when it exited normally */
    int exit_status;
    bool saw_enomem;        /* output had MemoryError / "Cannot allocate memory" */
} HeadroomDeath;

typedef struct {
    bool memory_related;    /* a limit was reached (or is the likely cause) */
    int kind;               /* HeadroomKind of the limit reached, or -1 */
    const char *cause;      /* "RLIMIT_AS", "RLIMIT_DATA", "max_map_count", "CommitLimit",
                               "cgroup_oom_kill", "system_oom", "unknown_enomem", "none" */
    char *sentence;         /* owned */
} HeadroomDiagnosis;

void headroom_diagnose(const HeadroomDeath *d, HeadroomDiagnosis *out);
void headroom_diagnosis_destroy(HeadroomDiagnosis *out);

#endif
