/* testtree: the suite as pytest itself collects it (the `collect` RPC method, the test tree).
 *
 * A request decides what a run would decide (launch.h: root and interpreter; the user's
 * arguments rewritten for the root; the run's environment with the user's entries), waits
 * `debounce_ms`, then runs `PYTHON -m pytest -p pytestmon_plugin ARGS --collect-only` in the
 * root as a Child (child.h: the exec step, its own session) with PYTESTMON_COLLECT
 * naming a file in a private directory; the plugin writes there every item and class with its
 * file and line range and the collection errors (collection.h). No report file, no terminal
 * options are added: the collection costs what pytest's own does.
 *
 * One collection at a time: a newer request supersedes the older one, whether it is still
 * waiting out its delay (the delay restarts with the newer request's) or collecting (its pytest
 * is killed). A superseded request reports nothing. Every other request ends with exactly one
 * `collection` event payload through `on_event` (borrowed until the callback returns), always
 * from the loop, never from inside testtree_start:
 *   {collect_id, root, items: [{nodeid, file, line, end}], classes: [...same],
 *    errors: [{nodeid, file, message}], ms}                 pytest collected (errors included);
 *   {collect_id, root?, error}                               it could not (no plugin, pytest
 *                                                            failed before collecting, ...).
 * line/end are 1-based (decorators included), 0 when unknown; node ids and files are passed as
 * pytest wrote them (byte strings); messages are display text (textclean.h, capped).
 * More than TESTTREE_PART_ITEMS items come in parts: payloads {collect_id, root, items, more:
 * true} with TESTTREE_PART_ITEMS items each, in order, before the one above with the rest (the
 * editor decodes each event in one go: 20,000 items at once stalled Neovim 0.7 for 10-17 ms).
 *
 * Owns its requests (heap), each one's debounce timer, Collector and private temporary
 * directory (removed when the request ends); a request is freed in its timer's close callback.
 * Knows nothing of RPC and nothing of runs: a collection never touches the run's processes or
 * files. */
#ifndef PYTESTMON_TESTTREE_H
#define PYTESTMON_TESTTREE_H

#define TESTTREE_PART_ITEMS 2000

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <uv.h>

#include "pytest/launch.h"

typedef struct {
    LaunchRequest req;     /* cwd, file, python, args, env: as a run's (launch.h) */
    uint64_t debounce_ms;  /* wait this long first; a newer request in between restarts it */
} TestTreeSpec;

typedef struct TestTree TestTree;
typedef void (*TestTreeEventFn)(void *ud, json_t *payload);

TestTree *testtree_new(uv_loop_t *loop, TestTreeEventFn on_event, void *ud);
/* Starts a request (spec borrowed; copied), superseding the pending one. Returns its id (> 0). */
int64_t testtree_start(TestTree *d, const TestTreeSpec *spec);
/* Ends every request (SIGKILL to a collecting pytest) so their handles close while the loop
 * runs down; no event follows; afterwards testtree_start only returns ids. */
void testtree_shutdown(TestTree *d);
/* Frees the TestTree once the loop has run dry (every request's handles closed). */
void testtree_free(TestTree *d);

#endif
