/* clirun: `pytestmon run ...`, the run engine without an editor.
 *
 * Prints one `file:line: message` line per failure (what Vim's default 'errorformat'
 * reads with :cfile) and a one-line summary, or with --json one JSON document; exits
 * with pytest's own exit code (2 for its own usage errors, RUNRESULT_EXIT_DID_NOT_RUN (127) if
 * pytest never ran: runresult_cli_exit_code). `-h`/`--help` before any pytest argument prints
 * its usage (`run -- --help` hands --help to pytest). */
#ifndef PYTESTMON_CLIRUN_H
#define PYTESTMON_CLIRUN_H

/* argv[0] is "run". */
int clirun_main(int argc, char **argv);

#endif
