/* collector: a `pytest --collect-only` child (or a probe) with no pipes, on child.h. See
 * collector.h. */
#include "pytest/collector.h"

#include <errno.h>
#include <signal.h>
#include <stdbool.h>
#include <stdlib.h>

#include "base/strbuf.h"
#include "pytest/child.h"

struct Collector {
    Child *child;
    CollectorDone done;
    void *ud;
    bool cancelled;
};

static void on_exited(void *ud, int64_t status, int term_signal)
{
    Collector *c = ud;
    c->done(c->ud, c->cancelled ? -ECANCELED : status, c->cancelled ? 0 : term_signal);
    free(c);
}

Collector *collector_start(uv_loop_t *loop, const char *exe, char *const *argv, char *const *env,
                           const char *cwd, CollectorDone done, void *ud, int *rc)
{
    return collector_start_to(loop, exe, argv, env, cwd, -1, done, ud, rc);
}

Collector *collector_start_to(uv_loop_t *loop, const char *exe, char *const *argv, char *const *env,
                              const char *cwd, int err_fd, CollectorDone done, void *ud, int *rc)
{
    Collector *c = xcalloc(1, sizeof *c);
    c->done = done;
    c->ud = ud;
    ChildSpec spec = {.exe = exe, .argv = argv, .env = env, .cwd = cwd};
    if (err_fd >= 0)
        spec.stdio[2] = (uv_stdio_container_t){.flags = UV_INHERIT_FD, .data.fd = err_fd};
    c->child = child_start(loop, &spec, on_exited, c, rc);
    if (!c->child) {
        free(c);
        return NULL;
    }
    return c;
}

int collector_pid(const Collector *c)
{
    return child_pid(c->child);
}

void collector_cancel(Collector *c)
{
    c->cancelled = true;
    child_signal(c->child, SIGKILL);
}
