/* collector: a `pytest --collect-only` child with no pipes. See collector.h. */
#include "pytest/collector.h"

#include <errno.h>
#include <signal.h>
#include <stdbool.h>
#include <stdlib.h>
#include <unistd.h>

#include "pytest/execstep.h"
#include "pytest/project.h"
#include "base/strbuf.h"

struct Collector {
    uv_process_t proc;
    CollectorDone done;
    void *ud;
    bool cancelled;
};

static void on_closed(uv_handle_t *h)
{
    free(h->data);
}

static void on_collector_exit(uv_process_t *p, int64_t status, int term_signal)
{
    Collector *c = p->data;
    kill(-p->pid, SIGKILL); /* anything it left in its session */
    c->done(c->ud, c->cancelled ? -ECANCELED : status, c->cancelled ? 0 : term_signal);
    uv_close((uv_handle_t *)&c->proc, on_closed);
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
    c->proc.data = c;
    uv_stdio_container_t stdio[3] = {{.flags = UV_IGNORE}, {.flags = UV_IGNORE}, {.flags = UV_IGNORE}};
    if (err_fd >= 0)
        stdio[2] = (uv_stdio_container_t){.flags = UV_INHERIT_FD, .data.fd = err_fd};
    char **step = execstep_argv((int)getpid(), argv);
    uv_process_options_t opt = {
        .exit_cb = on_collector_exit,
        .file = exe,
        .args = step,
        .env = (char **)env,
        .cwd = cwd,
        .flags = UV_PROCESS_DETACHED, /* its own session: cancel reaches what it starts */
        .stdio_count = 3,
        .stdio = stdio,
    };
    *rc = uv_spawn(loop, &c->proc, &opt);
    project_free_argv(step);
    if (*rc != 0) {
        /* libuv registers the handle even when the spawn fails: close it, free it there. */
        uv_close((uv_handle_t *)&c->proc, on_closed);
        return NULL;
    }
    return c;
}

int collector_pid(const Collector *c)
{
    return c->proc.pid;
}

void collector_cancel(Collector *c)
{
    c->cancelled = true;
    kill(-c->proc.pid, SIGKILL);
}
