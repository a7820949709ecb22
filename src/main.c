/* main: command-line entry point; dispatches to the RPC server or a CLI mode. */
#include <stdio.h>
#include <string.h>

#include "pytest/clirun.h"
#include "pytest/execstep.h"
#include "pytest/warmattach.h"
#include "mem/memreport.h"
#include "server.h"
#include "version.h"

static void usage(FILE *f)
{
    fprintf(f,
            "usage: pytestmon --rpc                 serve msgpack-RPC on stdin/stdout (Neovim)\n"
            "       pytestmon --rpc-methods         list the RPC methods and their params\n"
            "       pytestmon --rpc-events          list the events and their payload fields\n"
            "       pytestmon run [--cwd DIR] [--python PY] [--timeout SEC] [--json]\n"
            "                     [--prefix WORD]... [--path-map INSIDE=HOST]... [--] [ARGS]\n"
            "       pytestmon mem [--pid PID] [--json]\n"
            "       pytestmon --version\n");
}

int main(int argc, char **argv)
{
    /* Between fork and pytest's exec: nothing else may run first (see execstep.h). */
    if (argc > 1 && strcmp(argv[1], EXECSTEP_FLAG) == 0)
        return execstep_main(argc, argv);
    if (argc > 1 && strcmp(argv[1], WARMATTACH_FLAG) == 0) /* a run the warm pytest serves (warm.h) */
        return warmattach_main(argc, argv);
    if (argc < 2) {
        usage(stderr);
        return 2;
    }
    const char *cmd = argv[1];
    if (strcmp(cmd, "--rpc") == 0)
        return server_main();
    if (strcmp(cmd, "--rpc-methods") == 0) {
        server_print_methods(stdout);
        return 0;
    }
    if (strcmp(cmd, "--rpc-events") == 0) {
        server_print_events(stdout);
        return 0;
    }
    if (strcmp(cmd, "run") == 0)
        return clirun_main(argc - 1, argv + 1);
    if (strcmp(cmd, "mem") == 0)
        return memreport_cli(argc - 1, argv + 1);
    if (strcmp(cmd, "--version") == 0 || strcmp(cmd, "version") == 0) {
        printf("pytestmon %s\n", PYTESTMON_VERSION);
        return 0;
    }
    if (strcmp(cmd, "--help") == 0 || strcmp(cmd, "-h") == 0) {
        usage(stdout);
        return 0;
    }
    fprintf(stderr, "pytestmon: unknown command '%s'\n", cmd);
    usage(stderr);
    return 2;
}
