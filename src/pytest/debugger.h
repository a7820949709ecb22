/* debugger: what a debugger needs to run the tests a pytest run would run, and the debugpy
 * process that waits for a debugger to attach (:PytestDebug).
 *
 * One session at a time; a new one (or debugger_cancel) ends the one before. A session first
 * decides what a run would decide (project.h: root and interpreter; the user's arguments
 * rewritten for the root; with a nearest line, the collected node around it, asking pytest
 * with our plugin exactly as runner.c does: launch.h's LAUNCH_NEAREST), then either
 *   - answers with a launch configuration for a debug adapter (debugger_start with
 *     listen = false): {python, cwd, module "pytest", args, env}, env holding only the user's
 *     entries (debugpy's launcher adds them to its own environment), our plugin left out; or
 *   - starts `PYTHON -m debugpy --connect 127.0.0.1:SERVER --configure-subProcess false
 *     --wait-for-client -m pytest ARGS` in the root, with the environment a run gets, through
 *     the exec step (execstep.h: it dies with us) in its own session, behind an endpoint of
 *     ours (dapbridge.h): the debugger attaches to our client port, which only our uid can
 *     use, and we relay to debugpy's debug server, which connected to our server port (only
 *     from the pid we spawned). Both listen before debugpy starts; the endpoint is announced
 *     once debugpy's server has connected, so a client that connects then is served at once.
 *     Nobody attached within the attach timeout (counted from the announcement; a debugpy
 *     that never connects ends after DEBUGGER_CONNECT_GRACE_MS more): debugpy is ended and
 *     says so. When it
 *     exits, it says so with the end of its stderr (e.g. "No module named debugpy").
 * Everything is reported through `on_event` as a `debug` event payload (borrowed until the
 * callback returns), always from the loop, never from inside debugger_start:
 *   {debug_id, config: {python, cwd, module, args, env}, target, nearest_found?}  prepared;
 *   the same + {listen: {host, port}, pid, cmd, attach_timeout_ms}           it can attach;
 *   {debug_id, refused: {uid, endpoint}}    a connection of another user was closed unread
 *                                           (the first of a session; uid -1: not found);
 *   {debug_id, exited: true, status, signal, cancelled, stderr, timed_out?,
 *    attach_timeout_ms?}                                                      debugpy ended;
 *   {debug_id, error}                                                         it could not.
 *
 * Owns its sessions (heap), their Children (child.h: the lookup, then debugpy), their private
 * temporary directory (the collection record), debugpy's stderr pipe, its bridge and attach
 * timer; a Session is freed when its last handle has closed. Knows nothing of RPC. */
#ifndef PYTESTMON_DEBUGGER_H
#define PYTESTMON_DEBUGGER_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <uv.h>

#include "pytest/launch.h"

#define DEBUGGER_HOST "127.0.0.1"
/* How long a listening debugpy waits for a debugger by default: 5 minutes. */
#define DEBUGGER_ATTACH_TIMEOUT_MS 300000
/* How long debugpy may take to start and connect to us before the attach timeout starts
 * counting: importing debugpy and pytest on a loaded machine takes seconds. A debugpy that has
 * not connected by (this + the attach timeout) is ended all the same. */
#define DEBUGGER_CONNECT_GRACE_MS 60000

typedef struct {
    LaunchRequest req;     /* cwd, file (the file to debug: required), python, args, env */
    int nearest_line;      /* > 0: the collected test or class around this line of req.file */
    bool listen;           /* start debugpy listening instead of answering with a config */
    uint64_t attach_timeout_ms; /* listen: end it when nobody attached by then (0: default) */
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
/* Ends every session (SIGKILL) so their handles close while the loop runs down; afterwards
 * debugger_start does nothing. */
void debugger_shutdown(Debugger *d);
/* Frees the Debugger once the loop has run dry (every session's handles closed). */
void debugger_free(Debugger *d);

#endif
