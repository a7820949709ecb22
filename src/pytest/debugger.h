/* debugger: what a debugger needs to run the tests a pytest run would run, and the debugpy
 * process that waits for a debugger to attach (:PytestDebug).
 *
 * One session at a time; a new one (or debugger_cancel) ends the one before. A session first
 * decides what a run would decide (project.h: root and interpreter; the user's arguments
 * rewritten for the root; with a nearest line, the collected node around it, asking pytest
 * with our plugin through a Collector exactly as runner.c does), then either
 *   - answers with a launch configuration for a debug adapter (debugger_start with
 *     listen = false): {python, cwd, module "pytest", args, env}, env holding only the user's
 *     entries (debugpy's launcher adds them to its own environment), our plugin left out; or
 *   - starts `PYTHON -m debugpy --listen 127.0.0.1:PORT --wait-for-client -m pytest ARGS` in
 *     the root, with the environment a run gets, through the exec step (execstep.h: it dies
 *     with us) in its own session, on a port that was free a moment before (bound to port 0
 *     and released), and says where it listens; when it exits, it says so with the end of its
 *     stderr (e.g. "No module named debugpy").
 * Everything is reported through `on_event` as a `debug` event payload (borrowed until the
 * callback returns), always from the loop, never from inside debugger_start:
 *   {debug_id, config: {python, cwd, module, args, env}, target, nearest_found?}  prepared;
 *   the same + {listen: {host, port}, pid}                                    debugpy listens;
 *   {debug_id, exited: true, status, signal, stderr}                          debugpy ended;
 *   {debug_id, error}                                                         it could not.
 *
 * Owns its sessions (heap), their Collector, their private temporary directory (the collection
 * record), the debugpy uv_process_t and its stderr pipe; a Session is freed when its last
 * handle has closed. Knows nothing of RPC. */
#ifndef PYTESTMON_DEBUGGER_H
#define PYTESTMON_DEBUGGER_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <uv.h>

#define DEBUGGER_HOST "127.0.0.1"

typedef struct {
    const char *cwd;       /* the editor's cwd: relative args are meant from here */
    const char *file;      /* the file to debug (absolute or relative to cwd) */
    char *const *args;     /* the user's pytest arguments */
    size_t nargs;
    const char *python;    /* NULL or "": choose (project.h) */
    char *const *env;      /* the user's "KEY=VALUE" entries */
    size_t nenv;
    int nearest_line;      /* > 0: the collected test or class around this line of `file` */
    bool listen;           /* start debugpy listening instead of answering with a config */
} DebugSpec;

typedef struct Debugger Debugger;
typedef void (*DebuggerEventFn)(void *ud, json_t *payload);

/* Sessions start this binary's exec step (execstep.h) for their children. */
Debugger *debugger_new(uv_loop_t *loop, DebuggerEventFn on_event, void *ud);
/* Starts a session (spec borrowed; copied), ending the one before. Returns its id (> 0); the
 * `debug` events follow from the loop. */
int64_t debugger_start(Debugger *d, const DebugSpec *spec);
/* Ends the session being prepared or the listening debugpy; false if there is none. */
bool debugger_cancel(Debugger *d);
/* Is `pid` a child of ours that a session owns (so a reaper of orphans must leave it)? */
bool debugger_owns_pid(const Debugger *d, int pid);
/* Ends every session (SIGKILL) so their handles close while the loop runs down; afterwards
 * debugger_start does nothing. */
void debugger_shutdown(Debugger *d);
/* Frees the Debugger once the loop has run dry (every session's handles closed). */
void debugger_free(Debugger *d);

/* A TCP port on `host` that was free a moment ago (bound to port 0 and released): > 0, or a
 * negative errno. */
int debugger_free_port(const char *host);

#endif
