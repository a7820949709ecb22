/* collector: a pipeless child whose product is its exit status and the files it writes: a
 * `pytest --collect-only` whose collection record the pytestmon plugin writes (collection.h),
 * or a probe of the interpreter (can it import our plugin?). Its output is thrown away (its
 * stderr can go to a file: collector_start_to).
 *
 * Owns its Child (child.h: started through the exec step, so it dies with us, in its own
 * session, so collector_cancel() can end it and all it started) and nothing else: the
 * argv/env/cwd handed to collector_start() are borrowed for the call only. `done` is called exactly once, from the
 * loop, with the exit status (-ECANCELED when cancelled) and the signal that ended it; after it
 * returns the Collector must not be used. Knows nothing of pytest's output. */
#ifndef PYTESTMON_COLLECTOR_H
#define PYTESTMON_COLLECTOR_H

#include <stdint.h>
#include <uv.h>

typedef struct Collector Collector;
/* status: the exit status, or -ECANCELED when cancelled; term_signal: the signal that ended
 * the child (0 when it exited). */
typedef void (*CollectorDone)(void *ud, int64_t status, int term_signal);

/* exe: this binary (the exec step); argv: pytest's argv (NULL-terminated). Returns the
 * collector, or NULL with *rc a libuv error (then `done` is never called). */
Collector *collector_start(uv_loop_t *loop, const char *exe, char *const *argv, char *const *env,
                           const char *cwd, CollectorDone done, void *ud, int *rc);
/* The same with the child's stderr written to `err_fd` (>= 0; borrowed: the caller closes it
 * after this call), for a caller that reports why pytest collected nothing. */
Collector *collector_start_to(uv_loop_t *loop, const char *exe, char *const *argv, char *const *env,
                              const char *cwd, int err_fd, CollectorDone done, void *ud, int *rc);
/* The child's pid (for a reaper that must leave it to libuv). */
int collector_pid(const Collector *c);
/* SIGKILL to its process group; `done` follows with -ECANCELED. */
void collector_cancel(Collector *c);

#endif
