/* test_proctree: tree discovery (children files and /proc scan), tree samples, the
 * descendants and children of a pid, on fake /proc trees and on live children. */
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "testutil.h"

#include "mem/proctree.h"

static bool has_pid(const ProcTree *t, int pid)
{
    for (size_t i = 0; i < t->n; i++)
        if (t->pids[i] == pid)
            return true;
    return false;
}

static void test_tree_children_files(void **state)
{
    (void)state;
    ProcTree t;
    proctree_init(&t);
    assert_int_equal(proctree_discover(fixture("seed-rlimit-as"), 4242, &t), 0);
    assert_true(t.used_children);
    assert_int_equal(t.pids[0], 4242);
    /* 4243 in thread 4242's children, 4244 in thread 4342's, 4245 a grandchild,
     * 4292 listed though gone (discovery lists it; sampling skips it) */
    assert_true(has_pid(&t, 4243));
    assert_true(has_pid(&t, 4244));
    assert_true(has_pid(&t, 4245));
    assert_int_equal(t.n, 5);
    assert_true(proctree_discover(fixture("seed-rlimit-as"), 5555, &t) < 0);
    proctree_destroy(&t);
}

static void test_tree_scan(void **state)
{
    (void)state;
    ProcTree t;
    proctree_init(&t);
    assert_int_equal(proctree_discover(fixture("tree-scan"), 4242, &t), 0);
    assert_false(t.used_children);
    assert_int_equal(t.n, 3);
    assert_int_equal(t.pids[0], 4242);
    assert_true(has_pid(&t, 4243)); /* comm "my proc) x" */
    assert_true(has_pid(&t, 4249)); /* grandchild */
    assert_false(has_pid(&t, 999));
    assert_false(has_pid(&t, 4251));
    assert_false(has_pid(&t, 1));
    proctree_destroy(&t);
}

static void test_tree_sample_fixture(void **state)
{
    (void)state;
    ProcTreeSample s;
    proctree_sample_init(&s);
    assert_int_equal(proctree_sample(fixture("seed-rlimit-as"), 4242, &s), 0);
    uint64_t ps = (uint64_t)sysconf(_SC_PAGESIZE);
    assert_int_equal(s.nproc, 4); /* the vanished 4292 is skipped, not an error */
    assert_int_equal(s.procs[0].pid, 4242);
    assert_int_equal(s.rss, (39680 + 3 * 1000) * ps);
    assert_int_equal(s.vms, (325837 + 3 * 2500) * ps);
    assert_int_equal(s.max_rss, 39680 * ps);
    /* reuse of the same sample struct */
    assert_int_equal(proctree_sample(fixture("tree-scan"), 4242, &s), 0);
    assert_int_equal(s.nproc, 3);
    assert_true(proctree_sample(fixture("tree-scan"), 31337, &s) < 0);
    proctree_sample_destroy(&s);
}

static void test_live_self_and_children(void **state)
{
    (void)state;
    int pfd[2];
    assert_int_equal(pipe(pfd), 0);
    pid_t kids[3];
    for (int i = 0; i < 3; i++) {
        kids[i] = fork();
        assert_true(kids[i] >= 0);
        if (kids[i] == 0) {
            char c;
            close(pfd[1]);
            while (read(pfd[0], &c, 1) < 0) {
            }
            _exit(0);
        }
    }
    close(pfd[0]);
    ProcTreeSample s;
    proctree_sample_init(&s);
    assert_int_equal(proctree_sample("", getpid(), &s), 0);
    assert_true(s.nproc >= 4);
    for (int i = 0; i < 3; i++) {
        bool found = false;
        for (size_t j = 0; j < s.nproc; j++)
            found |= s.procs[j].pid == kids[i];
        assert_true(found);
    }
    ProcTree t;
    proctree_init(&t);
    assert_int_equal(proctree_discover_scan("", getpid(), &t), 0);
    for (int i = 0; i < 3; i++)
        assert_true(has_pid(&t, kids[i]));
    proctree_destroy(&t);

    /* a dead child disappears from the next sample, without error */
    kill(kids[0], SIGKILL);
    waitpid(kids[0], NULL, 0);
    assert_int_equal(proctree_sample("", getpid(), &s), 0);
    for (size_t j = 0; j < s.nproc; j++)
        assert_int_not_equal(s.procs[j].pid, kids[0]);
    close(pfd[1]);
    for (int i = 1; i < 3; i++)
        waitpid(kids[i], NULL, 0);
    proctree_sample_destroy(&s);
}

static bool in_list(const int *pids, size_t n, int pid)
{
    for (size_t i = 0; i < n; i++)
        if (pids[i] == pid)
            return true;
    return false;
}

/* tree-scan: 1 -> 999 -> 4251; 1 -> 4242 -> 4243 -> 4249 */
static void test_descendants_and_children(void **state)
{
    (void)state;
    int *pids = NULL;
    size_t n = proctree_descendants(fixture("tree-scan"), 4242, &pids);
    assert_int_equal(n, 2);
    assert_int_equal(pids[0], 4243); /* breadth first */
    assert_int_equal(pids[1], 4249);
    free(pids);

    n = proctree_children_of(fixture("tree-scan"), 4242, &pids);
    assert_int_equal(n, 1);
    assert_int_equal(pids[0], 4243); /* not the grandchild 4249 */
    free(pids);

    n = proctree_children_of(fixture("tree-scan"), 4249, &pids); /* a leaf */
    assert_int_equal(n, 0);
    free(pids);
    n = proctree_descendants(fixture("tree-scan"), 31337, &pids); /* gone */
    assert_int_equal(n, 0);
    assert_null(pids);
}

static void test_live_children_of_self(void **state)
{
    (void)state;
    int hold[2], ready[2];
    assert_int_equal(pipe(hold), 0);
    assert_int_equal(pipe(ready), 0);
    pid_t kid = fork();
    assert_true(kid >= 0);
    if (kid == 0) {
        /* a grandchild that waits too: a descendant, not a child */
        pid_t grand = fork();
        char c;
        close(hold[1]);
        if (grand > 0)
            (void)!write(ready[1], "r", 1); /* both exist now */
        while (read(hold[0], &c, 1) < 0) {
        }
        if (grand > 0)
            waitpid(grand, NULL, 0);
        _exit(0);
    }
    close(hold[0]);
    close(ready[1]);
    char c;
    assert_int_equal(read(ready[0], &c, 1), 1);
    close(ready[0]);
    int *pids = NULL;
    size_t n = proctree_descendants("", getpid(), &pids);
    assert_true(n >= 2);
    assert_true(in_list(pids, n, kid));
    free(pids);
    n = proctree_children_of("/", getpid(), &pids);
    assert_int_equal(n, 1);
    assert_int_equal(pids[0], kid);
    free(pids);
    close(hold[1]);
    waitpid(kid, NULL, 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_tree_children_files),
        cmocka_unit_test(test_tree_scan),
        cmocka_unit_test(test_tree_sample_fixture),
        cmocka_unit_test(test_live_self_and_children),
        cmocka_unit_test(test_descendants_and_children),
        cmocka_unit_test(test_live_children_of_self),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
