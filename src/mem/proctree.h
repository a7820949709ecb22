/* proctree: a process and its descendants, read from /proc.
 *
 * Owns: process-tree discovery (task/TID/children, else one scan of /proc/ * /stat), a
 * summed + per-process statm sample of a tree (what the sampler and the memory report
 * read), and the pid lists the runner and the debugger kill or reap (descendants of a
 * pid, children of a pid). Every reader takes `root`: "" (or "/") for the real system, or
 * a directory holding a fake tree (`ROOT/proc/...`). */
#ifndef PYTESTMON_PROCTREE_H
#define PYTESTMON_PROCTREE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "mem/procmem.h"

/* Process tree: `pid` first, then its descendants (breadth first). */
typedef struct {
    int *pids;
    size_t n, cap;
    bool used_children; /* discovered through task/TID/children (else a /proc scan) */
} ProcTree;
void proctree_init(ProcTree *t);
void proctree_destroy(ProcTree *t);
/* Fills `t` (reset first). -ESRCH/-ENOENT when `pid` itself is gone. */
int proctree_discover(const char *root, int pid, ProcTree *t);
/* Force the /proc/ * /stat scan (tests; also the fallback). */
int proctree_discover_scan(const char *root, int pid, ProcTree *t);

/* One process in a tree sample. */
typedef struct {
    int pid;
    ProcStatm statm;
} ProcSample;

/* Summed statm over a tree (rss sum double-counts shared pages: an upper bound). */
typedef struct {
    int root_pid;
    size_t nproc;                 /* processes sampled (vanished ones skipped) */
    uint64_t rss, vms, shared;    /* sums */
    uint64_t max_rss, max_vms;    /* largest single process */
    ProcSample *procs;            /* nproc entries, root first when alive */
    size_t cap;
    ProcTree tree;                /* scratch, reused between samples */
} ProcTreeSample;
void proctree_sample_init(ProcTreeSample *s);
void proctree_sample_destroy(ProcTreeSample *s);
/* Discovers the tree of `pid` and reads statm of each. Processes that vanish mid-sample
 * are skipped. -ESRCH/-ENOENT only when `pid` itself is gone. */
int proctree_sample(const char *root, int pid, ProcTreeSample *s);

/* The descendants of `pid` (not `pid` itself), breadth first: a heap array in *pids the
 * caller frees (NULL when there are none or `pid` is gone). Returns their number. */
size_t proctree_descendants(const char *root, int pid, int **pids);
/* The direct children of `pid` (their ppid is `pid`), as proctree_descendants. */
size_t proctree_children_of(const char *root, int pid, int **pids);

#endif
