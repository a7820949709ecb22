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

/* What the runner executes: this binary, through the proc link (the same inode even if the
 * file was replaced or deleted since). */
#define EXECSTEP_FILE "/proc/self/exe"
#define EXECSTEP_FLAG "--exec-child"

/* argv for uv_spawn: {"pytestmon", "--exec-child", PPID, "--", argv...}; heap strings in a
 * NULL-terminated heap array (free with project_free_argv). */
char **execstep_argv(int parent_pid, char *const *argv);

/* main() of the step (argv[1] is EXECSTEP_FLAG). Returns only on failure: 127 after saying
 * why on stderr. Called first thing in main(), before any other initialisation. */
int execstep_main(int argc, char **argv);

#endif
