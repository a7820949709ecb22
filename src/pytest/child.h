/* child: every process the co-process starts (pytest for a run, a collection, an interpreter
 * probe, a listening debugpy), supervised one way.
 *
 * A child is started through the exec step (execstep.h: PR_SET_PDEATHSIG, so it dies with us)
 * in its own session and process group, so that ending it reaches everything it started;
 * child_signal() signals the group and every descendant still in our process tree (we are a
 * child subreaper: a grandchild that left the group with setsid() is still seen), never after
 * libuv has reaped it (its pid may be reused then). When it exits, what is left of its group and
 * tree is killed (leftovers could hold its pipes open) and `exited` is called once, from the
 * loop, with its exit status and the signal that ended it.
 *
 * Every live child is in one registry per loop thread, so "is this pid one of ours" is one
 * question (child_is_ours(), for the reaper of orphans).
 *
 * Owns its uv_process_t and the timer of child_terminate() (heap; freed in the close callbacks,
 * never before) and nothing else: the
 * argv/env/cwd and stdio containers handed to child_start() are borrowed for the call; the
 * pipes in them stay the caller's. After `exited` has returned the Child must not be used. */
#ifndef PYTESTMON_CHILD_H
#define PYTESTMON_CHILD_H

#include <stdbool.h>
#include <stdint.h>
#include <uv.h>

typedef struct Child Child;
/* status: the exit status; term_signal: the signal that ended it (0 when it exited). */
typedef void (*ChildExited)(void *ud, int64_t status, int term_signal);

typedef struct {
    const char *exe;            /* this binary: the exec step */
    char *const *argv;          /* the program and its arguments (NULL-terminated) */
    char *const *env;           /* its whole environment (NULL-terminated) */
    const char *cwd;
    uv_stdio_container_t stdio[3]; /* stdin/stdout/stderr as libuv takes them (zeroed: ignored) */
    bool hold_stdin;            /* stdin (when stdio[0] is zeroed) a pipe nobody writes to, held
                                 * open until child_terminate(), a SIGKILL or its exit: a program
                                 * behind `docker exec -i` or ssh sees EOF then (and when we die) */
} ChildSpec;

/* Returns the child, or NULL with *rc a libuv error (then `exited` is never called). */
Child *child_start(uv_loop_t *loop, const ChildSpec *spec, ChildExited exited, void *ud, int *rc);
int child_pid(const Child *c);
/* `sig` to its process group and every descendant of it, and to itself. */
void child_signal(Child *c, int sig);
/* SIGTERM now and SIGKILL after grace_ms (once: a second call does not restart the delay). */
void child_terminate(Child *c, uint64_t grace_ms);
/* Whether `pid` is a live child started here (libuv reaps it: nobody else may). */
bool child_is_ours(int pid);
/* Ends and reaps our children that no Child owns: descendants a child left behind reach us
 * when it ends (we are a child subreaper), perhaps after it was reaped. Never waits: one that
 * has not died yet is reaped by a later call. Call it now and then (the server does on every
 * status tick) and when a child ends. */
void child_reap_orphans(void);

#endif
