/* child: starting, ending and recognising our child processes. See child.h. */
#include "pytest/child.h"

#include <fcntl.h>
#include <signal.h>
#include <sys/wait.h>
#include <stdlib.h>
#include <unistd.h>

#include "base/strbuf.h"
#include "mem/proctree.h"
#include "pytest/execstep.h"
#include "pytest/project.h"

struct Child {
    uv_process_t proc;
    uv_timer_t kill_timer;
    ChildExited exited;
    void *ud;
    Child *next;      /* the registry of live children */
    int open_handles;
    bool reaped;      /* libuv has reaped it: its pid is no longer ours */
    int stdin_fd;     /* the held end of its stdin (ChildSpec.hold_stdin), or -1 */
};

static void release_stdin(Child *c)
{
    if (c->stdin_fd >= 0)
        close(c->stdin_fd);
    c->stdin_fd = -1;
}

/* Every child started and not reaped yet. The loop is single-threaded: no lock. */
static Child *live;

static void unregister(Child *c)
{
    for (Child **pp = &live; *pp; pp = &(*pp)->next)
        if (*pp == c) {
            *pp = c->next;
            return;
        }
}

static void on_closed(uv_handle_t *h)
{
    Child *c = h->data;
    if (--c->open_handles == 0)
        free(c);
}

/* Kills what is left of the group and of the tree below pid. */
static void kill_tree(int pid, int sig)
{
    kill(-pid, sig);
    int *pids = NULL;
    size_t n = proctree_descendants("", pid, &pids);
    for (size_t i = 0; i < n; i++)
        kill(pids[i], sig);
    free(pids);
}

static void on_child_exit(uv_process_t *p, int64_t status, int term_signal)
{
    Child *c = p->data;
    /* It is gone: whatever is left of its group and tree could hold its pipes open. Its pid is
     * still unique until the handle closes, so this reaches only what it left behind. */
    kill_tree(p->pid, SIGKILL);
    c->reaped = true;
    release_stdin(c);
    unregister(c);
    uv_timer_stop(&c->kill_timer);
    c->exited(c->ud, status, term_signal);
    uv_close((uv_handle_t *)&c->kill_timer, on_closed);
    uv_close((uv_handle_t *)&c->proc, on_closed);
}

Child *child_start(uv_loop_t *loop, const ChildSpec *spec, ChildExited exited, void *ud, int *rc)
{
    Child *c = xcalloc(1, sizeof *c);
    c->exited = exited;
    c->ud = ud;
    c->proc.data = c;
    c->kill_timer.data = c;
    uv_timer_init(loop, &c->kill_timer);
    c->open_handles = 2;
    c->stdin_fd = -1;
    uv_stdio_container_t stdio[3];
    for (int i = 0; i < 3; i++)
        stdio[i] = spec->stdio[i].flags ? spec->stdio[i] : (uv_stdio_container_t){.flags = UV_IGNORE};
    int held[2] = {-1, -1};
    if (spec->hold_stdin && !spec->stdio[0].flags && pipe2(held, O_CLOEXEC) == 0)
        stdio[0] = (uv_stdio_container_t){.flags = UV_INHERIT_FD, .data.fd = held[0]};
    char **step = execstep_argv((int)getpid(), spec->argv);
    uv_process_options_t opt = {
        .exit_cb = on_child_exit,
        .file = spec->exe,
        .args = step,
        .env = (char **)spec->env,
        .cwd = spec->cwd,
        .flags = UV_PROCESS_DETACHED, /* setsid(): its own session and process group */
        .stdio_count = 3,
        .stdio = stdio,
    };
    *rc = uv_spawn(loop, &c->proc, &opt);
    project_free_argv(step);
    if (held[0] >= 0) {
        close(held[0]);
        c->stdin_fd = held[1];
        if (*rc != 0)
            release_stdin(c);
    }
    if (*rc != 0) {
        /* libuv registers the handle even when the spawn fails: close it, free it there. */
        uv_close((uv_handle_t *)&c->kill_timer, on_closed);
        uv_close((uv_handle_t *)&c->proc, on_closed);
        return NULL;
    }
    c->next = live;
    live = c;
    return c;
}

int child_pid(const Child *c)
{
    return c->proc.pid;
}

void child_signal(Child *c, int sig)
{
    /* Once libuv has reaped it the pid is free for reuse: signalling it or its group, or
     * walking its "descendants", could hit an unrelated process. */
    if (sig == SIGKILL)
        release_stdin(c);
    if (c->reaped)
        return;
    kill_tree(c->proc.pid, sig);
    kill(c->proc.pid, sig);
}

static void on_kill_timer(uv_timer_t *t)
{
    child_signal(t->data, SIGKILL);
}

void child_terminate(Child *c, uint64_t grace_ms)
{
    release_stdin(c); /* first: what runs behind a prefix ends at its EOF */
    child_signal(c, SIGTERM);
    if (!c->reaped && !uv_is_active((uv_handle_t *)&c->kill_timer))
        uv_timer_start(&c->kill_timer, on_kill_timer, grace_ms, 0);
}

void child_reap_orphans(void)
{
    int *kids = NULL;
    size_t n = proctree_children_of("", (int)getpid(), &kids);
    for (size_t i = 0; i < n; i++) {
        if (child_is_ours(kids[i]))
            continue; /* libuv reaps it and tells its exit callback */
        /* Unreaped, the pid is still our child's: signalling it is safe. Never wait here: a
         * child in uninterruptible sleep (NFS, FUSE) would freeze the loop; one that has not
         * died yet is reaped by a later call. */
        kill(kids[i], SIGKILL);
        waitpid(kids[i], NULL, WNOHANG);
    }
    free(kids);
}

bool child_is_ours(int pid)
{
    for (const Child *c = live; c; c = c->next)
        if (c->proc.pid == pid)
            return true;
    return false;
}
