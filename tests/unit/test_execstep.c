/* test_execstep: the exec step of the real binary ($PYTESTMON_BIN --exec-child): the program
 * dies with the parent it was started for, is not started at all when that parent is already
 * gone, and bad invocations exit 127. */
#include <errno.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "pytest/execstep.h"
#include "pytest/project.h"

static const char *bin(void)
{
    const char *b = getenv("PYTESTMON_BIN");
    return b ? b : "build/pytestmon";
}

/* Runs BIN with argv (argv[0] replaced) and returns its wait status. */
static int run_bin(char **argv)
{
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        execv(bin(), argv);
        _exit(126);
    }
    int st;
    assert_int_equal(waitpid(pid, &st, 0), pid);
    return st;
}

static void test_argv_wraps_the_program(void **state)
{
    (void)state;
    char *prog[] = {"/usr/bin/python3", "-m", "pytest", NULL};
    char **argv = execstep_argv(4242, prog);
    const char *want[] = {"pytestmon", EXECSTEP_FLAG, "4242", "--", "/usr/bin/python3", "-m", "pytest"};
    for (size_t i = 0; i < sizeof want / sizeof want[0]; i++)
        assert_string_equal(argv[i], want[i]);
    assert_null(argv[7]);
    project_free_argv(argv);
}

/* Our own binary, by a path valgrind would also run (not valgrind's tool). */
static void test_self_path_is_this_binary(void **state)
{
    (void)state;
    char *p = execstep_self_path();
    struct stat st;
    bool ok = p[0] == '/' && stat(p, &st) == 0 && S_ISREG(st.st_mode) && strrchr(p, '/') &&
              strcmp(strrchr(p, '/'), "/test_execstep") == 0;
    if (!ok)
        print_error("self path: %s\n", p);
    free(p);
    assert_true(ok);
}

static void test_runs_the_program_for_its_parent(void **state)
{
    (void)state;
    char ppid[32];
    snprintf(ppid, sizeof ppid, "%d", (int)getpid());
    char *argv[] = {"pytestmon", EXECSTEP_FLAG, ppid, "--", "sh", "-c", "exit 5", NULL};
    int st = run_bin(argv);
    assert_true(WIFEXITED(st));
    assert_int_equal(WEXITSTATUS(st), 5);
}

/* The parent it was meant for is not its parent (it died before the prctl): nothing runs. */
static void test_refuses_when_the_parent_is_gone(void **state)
{
    (void)state;
    char *argv[] = {"pytestmon", EXECSTEP_FLAG, "1", "--", "sh", "-c", "exit 5", NULL};
    int st = run_bin(argv);
    assert_true(WIFEXITED(st));
    assert_int_equal(WEXITSTATUS(st), 127);
}

static void test_bad_invocations_exit_127(void **state)
{
    (void)state;
    char *no_sep[] = {"pytestmon", EXECSTEP_FLAG, "1", "sh", "-c", "exit 5", NULL};
    char *bad_pid[] = {"pytestmon", EXECSTEP_FLAG, "12x", "--", "sh", NULL};
    char *no_prog[] = {"pytestmon", EXECSTEP_FLAG, "1", "--", NULL};
    char ppid[32];
    snprintf(ppid, sizeof ppid, "%d", (int)getpid());
    char *missing[] = {"pytestmon", EXECSTEP_FLAG, ppid, "--", "/nonexistent/python", NULL};
    char **cases[] = {no_sep, bad_pid, no_prog, missing};
    for (size_t i = 0; i < 4; i++) {
        int st = run_bin(cases[i]);
        assert_true(WIFEXITED(st));
        assert_int_equal(WEXITSTATUS(st), 127);
    }
}

/* A middle process starts `sleep` through the step and dies: the sleep is SIGKILLed. We are a
 * subreaper, so the orphaned sleep becomes our child and we see how it ended. */
static void test_program_dies_with_its_parent(void **state)
{
    (void)state;
    assert_int_equal(prctl(PR_SET_CHILD_SUBREAPER, 1), 0);
    int pfd[2];
    assert_int_equal(pipe(pfd), 0);
    pid_t middle = fork();
    assert_true(middle >= 0);
    if (middle == 0) {
        pid_t step = fork();
        if (step == 0) {
            char ppid[32];
            snprintf(ppid, sizeof ppid, "%d", (int)getppid());
            char *argv[] = {"pytestmon", EXECSTEP_FLAG, ppid, "--", "sleep", "60", NULL};
            execv(bin(), argv);
            _exit(126);
        }
        if (write(pfd[1], &step, sizeof step) != sizeof step)
            _exit(1);
        /* Die once the step has exec'd sleep (so it is past the prctl): dying earlier is
         * covered too (it then refuses to run), but this test would not see the signal. */
        char path[64], comm[64] = "";
        snprintf(path, sizeof path, "/proc/%d/comm", (int)step);
        for (int i = 0; i < 10 * 1000 && strcmp(comm, "sleep\n") != 0; i++) {
            FILE *f = fopen(path, "r");
            if (f) {
                if (!fgets(comm, sizeof comm, f))
                    comm[0] = '\0';
                fclose(f);
            }
            usleep(1000); /* polling /proc for the exec, 10 s at most */
        }
        _exit(0);
    }
    close(pfd[1]);
    pid_t step;
    assert_int_equal(read(pfd[0], &step, sizeof step), sizeof step);
    close(pfd[0]);
    int st;
    assert_int_equal(waitpid(middle, &st, 0), middle);
    assert_int_equal(waitpid(step, &st, 0), step);
    assert_true(WIFSIGNALED(st));
    assert_int_equal(WTERMSIG(st), SIGKILL);
    assert_int_equal(prctl(PR_SET_CHILD_SUBREAPER, 0), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_argv_wraps_the_program),
        cmocka_unit_test(test_self_path_is_this_binary),
        cmocka_unit_test(test_runs_the_program_for_its_parent),
        cmocka_unit_test(test_refuses_when_the_parent_is_gone),
        cmocka_unit_test(test_bad_invocations_exit_127),
        cmocka_unit_test(test_program_dies_with_its_parent),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
