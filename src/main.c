/* main: command-line entry point; dispatches to the RPC server or a CLI mode. */
#include <stdio.h>
#include <string.h>

int main(int argc, char **argv)
{
    (void)argc;
    (void)argv;
    fprintf(stderr, "pytestmon: not yet\n");
    return 2;
}
