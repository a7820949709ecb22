/* warmattach: the step that stands for a run served by the warm pytest (warm.h).
 *
 * The runner starts it as it would start pytest (a Child, through the exec step, in the run's
 * cwd and environment, with the run's stdout/stderr pipes), as
 * `pytestmon --warm-attach STATUSFILE -- PYTHON -m pytest ARGS...`, its stdin one end of a
 * connection to the warm process (python/pytestmon_warm.py, whose docstring is the protocol).
 * It sends its cwd, argv after `--`, environment and stdout/stderr there; the warm process forks
 * and runs pytest with them. The step then relays SIGTERM, SIGINT, SIGHUP and SIGQUIT to the
 * fork's process group and exits as the fork did (its status, or the same signal), so that the
 * runner sees the run exactly as a cold pytest's. When the warm process says "cold REASON" (or is
 * gone before it forked) the step execs the command itself: the cold run, same pid, same pipes.
 *
 * STATUSFILE gets one line: "warm PID" (the fork, for memory sampling) or "cold REASON". */
#ifndef PYTESTMON_WARMATTACH_H
#define PYTESTMON_WARMATTACH_H

#define WARMATTACH_FLAG "--warm-attach"

/* main() of the step (argv[1] is WARMATTACH_FLAG). Returns the exit status (or dies by the
 * fork's signal). */
int warmattach_main(int argc, char **argv);

#endif
