/* warm: the warm pytests, one per project key, that runs are forked from (issue #26).
 *
 * A warm pytest (python/pytestmon_warm.py; its docstring is the protocol) is a Python that has
 * imported pytest and the modules the previous run of its project imported from outside the
 * project, then waits; each run it serves is a fork of it (runner.c starts the stand-in,
 * warmattach.h, in place of pytest). Its key is what the imports could depend on: the
 * interpreter, the root (its cwd) and the run's environment without what is one run's own
 * (launch_env_is_per_run). It is planned by launch.h (LAUNCH_WARM) and started as a Child
 * (child.h: the exec step ties it to us; its forks die with it, PR_SET_PDEATHSIG), its stdin one
 * end of a private socket pair (no file system name another user could reach) on which it says
 * when it is ready and through which each run's connection is handed to it (SCM_RIGHTS).
 *
 * Owns the live warm pytests (at most WARM_MAX: the least recently used idle one ends for a new
 * key), their control channels (the first thing sent there is what to preload: the previous
 * run's record of its imports), idle timers and the reasons a key is not served: a warm pytest that refused (a preload started a thread)
 * stays refused for the co-process's life; one that found a preloaded file changed ("stale")
 * ends once its forks are done and is started again after the run that found it. */
#ifndef PYTESTMON_WARM_H
#define PYTESTMON_WARM_H

#include <jansson.h>
#include <stdint.h>
#include <uv.h>

#include "pytest/launch.h"

#define WARM_MAX 3
#define WARM_IDLE_MS_DEFAULT (10u * 60u * 1000u)

typedef struct WarmPool WarmPool;

/* `exe`: this binary (the exec step), copied. */
WarmPool *warm_pool_new(uv_loop_t *loop, const char *exe);
/* Ends every warm pytest (SIGKILL) and frees the pool once their handles are closed. */
void warm_pool_free(WarmPool *p);
/* How long a warm pytest waits for a run before it ends (0: WARM_IDLE_MS_DEFAULT). */
void warm_pool_set_idle_ms(WarmPool *p, uint64_t ms);

/* A connection to the warm pytest of target t whose runs get `env` (the run's plan env): 0
 * with *fd (the stand-in's end, the caller's to close after spawning it) and *serial (for
 * warm_pool_release), or -1 with *reason (static or the pool's, borrowed until the next call)
 * saying why the run goes cold. */
int warm_pool_attach(WarmPool *p, const LaunchTarget *t, char *const *env, int *fd, uint64_t *serial,
                     const char **reason);
/* The run attached as `serial` is over: its warm pytest may go idle. */
void warm_pool_release(WarmPool *p, uint64_t serial);

/* After a run of target t with plan env `env`: makes sure a warm pytest of that key runs (or is
 * starting), preloading what `imports` (the run's record, may be NULL or missing) lists. */
void warm_pool_prepare(WarmPool *p, const LaunchTarget *t, char *const *env, const char *imports,
                       const char *plugin_dir);

/* [{pid, root, python, state, reason?, rss}]: the warm pytests and refusals, for :PytestMemory. */
json_t *warm_pool_json(const WarmPool *p);
/* The summed RSS of the live warm pytests (bytes; their forks are the runs'). */
uint64_t warm_pool_rss(const WarmPool *p);

#endif
