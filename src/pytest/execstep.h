/* execstep: the small exec step between fork and pytest that ties pytest's life to the
 * co-process's.
 *
 * uv_spawn has no hook between fork and exec, so the runner execs this same binary as
 * `pytestmon --exec-child PPID -- PROGRAM ARGS...`; it sets PR_SET_PDEATHSIG (SIGKILL), checks
 * that its parent is still PPID (the parent may have died before the prctl) and execs PROGRAM.
 * If the co-process is then killed (SIGKILL, OOM killer) pytest dies with it instead of running
 * on in its own session. pytest's children are not covered by this: xdist workers end when
 * their channel to pytest reaches EOF. */
#ifndef PYTESTMON_EXECSTEP_H
#define PYTESTMON_EXECSTEP_H

#include "base/strbuf.h"

#define EXECSTEP_FLAG "--exec-child"

/* What the runner executes: this binary's path (a heap string). That is what valgrind shows
 * its client, where exec of the /proc/self/exe link would start valgrind's own tool; if the
 * file was deleted since we started, the link itself (it still reaches our inode). */
char *execstep_self_path(void);

/* argv for uv_spawn: {"pytestmon", "--exec-child", PPID, "--", argv...}; heap strings in a
 * NULL-terminated heap array (free with project_free_argv). */
char **execstep_argv(int parent_pid, char *const *argv);

/* Appends how a child ended by a signal: "signal 6 (SIGABRT)" (the number alone for one glibc
 * cannot name). One wording for runs, collections and probes. */
void execstep_describe_signal(StrBuf *out, int sig);

/* main() of the step (argv[1] is EXECSTEP_FLAG). Returns only on failure: 127 after saying
 * why on stderr. Called first thing in main(), before any other initialisation. */
int execstep_main(int argc, char **argv);

#endif
