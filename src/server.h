/* server: the co-process in --rpc mode: owns the event loop's RPC transport on
 * stdin/stdout, the signal watchers, and the method table that maps RPC names onto the
 * run engine, memory reports and history. Pushes events to Neovim as `nvim_exec_lua`
 * notifications. Ends on stdin EOF, SIGTERM, SIGINT or SIGHUP: any pytest it started is
 * ended first, then every handle is closed. */
#ifndef PYTESTMON_SERVER_H
#define PYTESTMON_SERVER_H

#include <stdio.h>

/* What the co-process uses when the editor leaves an option unset: the one place these defaults
 * live (the `version` answer carries them, for :checkhealth and the docs' test). */
#define SERVER_HISTORY_SIZE 5        /* configure.history_size */
#define SERVER_SAMPLE_INTERVAL_MS 100 /* configure.sample_interval_ms */

/* Runs until shutdown; returns the process exit code (0 on a clean shutdown). */
int server_main(void);
/* Writes the method table as HACKING.md's RPC contract lists it, one method a line. */
void server_print_methods(FILE *f);
/* Writes the event table as HACKING.md lists it, one event a line. */
void server_print_events(FILE *f);

#endif
