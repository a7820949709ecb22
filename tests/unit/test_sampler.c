/* test_sampler: bounded timeline and per-test growth on synthetic samples, and a real
 * child tree sampled by a real uv loop (deadline by uv timer, every handle closed). */
#include <errno.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "testutil.h"

#include "mem/procmem.h"
#include "mem/proctree.h"
#include "mem/sampler.h"


/* ---- synthetic ------------------------------------------------------------------------ */

typedef struct {
    const char *test;
} Script;

static const char *script_test(void *ud)
{
    return ((Script *)ud)->test;
}

static void close_and_drain(uv_loop_t *loop, Sampler *s)
{
    sampler_close(s, NULL);
    assert_int_equal(uv_run(loop, UV_RUN_DEFAULT), 0);
}

static void test_timeline_bounded(void **state)
{
    (void)state;
    uv_loop_t loop;
    assert_int_equal(uv_loop_init(&loop), 0);
    Sampler *s = sampler_new(&loop, "", getpid(), 10, NULL, NULL);
    uint64_t max_rss = 0;
    for (uint32_t i = 0; i < 10000; i++) {
        uint64_t rss = 100 * MIB + (i % 97) * 4096;
        if (i == 5001)
            rss = 900 * MIB; /* one spike must survive merging */
        if (rss > max_rss)
            max_rss = rss;
        sampler_add(s, i * 10, rss, 2 * rss, 1 + i % 3);
        size_t n;
        sampler_timeline(s, &n);
        assert_true(n <= SAMPLER_MAX_POINTS);
    }
    size_t n;
    const SamplerPoint *p = sampler_timeline(s, &n);
    assert_true(n >= SAMPLER_MAX_POINTS / 2 && n <= SAMPLER_MAX_POINTS);
    uint64_t count = 0, tl_max = 0;
    for (size_t i = 0; i < n; i++) {
        count += p[i].count;
        assert_true(p[i].rss <= sampler_peak_rss(s));
        assert_true(p[i].vms <= sampler_peak_vms(s));
        assert_true(p[i].t_first_ms <= p[i].t_last_ms);
        if (i)
            assert_true(p[i - 1].t_last_ms < p[i].t_first_ms); /* ordered, disjoint */
        if (p[i].rss > tl_max)
            tl_max = p[i].rss;
    }
    assert_int_equal(count, 10000);
    assert_int_equal(sampler_samples(s), 10000);
    assert_int_equal(tl_max, 900 * MIB);
    assert_int_equal(sampler_peak_rss(s), max_rss);
    assert_int_equal(sampler_peak_vms(s), 2 * max_rss);
    assert_int_equal(sampler_peak_nproc(s), 3);
    assert_int_equal(p[0].t_first_ms, 0);
    assert_int_equal(p[n - 1].t_last_ms, 99990);
    close_and_drain(&loop, s);
    assert_int_equal(uv_loop_close(&loop), 0);
}

static void test_growth_and_peak_test(void **state)
{
    (void)state;
    uv_loop_t loop;
    assert_int_equal(uv_loop_init(&loop), 0);
    Script sc = {NULL};
    Sampler *s = sampler_new(&loop, "", getpid(), 10, script_test, &sc);
    /* (test, rss MiB) per sample */
    static const struct {
        const char *test;
        uint64_t rss;
    } seq[] = {
        {NULL, 100},     {"t::a", 110}, {"t::a", 150}, /* a: 100 -> 150 = +50 */
        {"t::b", 151},   {"t::b", 152},                /* b: 150 -> 152 = +2 */
        {"t::c", 400},                                 /* c: 152 -> 400 = +248, peak */
        {"t::d", 300},                                 /* d: 400 -> 300 = -100 */
        {"t::e", 310},   {"t::f", 330}, {"t::g", 340}, /* +10, +20, +10 */
        {NULL, 340},     {"t::h", 345},                /* g ends at NULL; h still running */
    };
    for (size_t i = 0; i < sizeof seq / sizeof seq[0]; i++) {
        sc.test = seq[i].test;
        sampler_add(s, i * 10, seq[i].rss * MIB, 0, 1);
    }
    sampler_finish(s); /* h: 340 -> 345 = +5 */
    assert_string_equal(sampler_peak_test(s), "t::c");
    assert_int_equal(sampler_peak_rss(s), 400 * MIB);
    size_t n;
    const SamplerTestGrowth *top = sampler_top_tests(s, &n);
    assert_int_equal(n, SAMPLER_TOP_TESTS);
    static const char *want[] = {"t::c", "t::a", "t::f", "t::e", "t::g"};
    static const int64_t want_growth[] = {248, 50, 20, 10, 10};
    for (size_t i = 0; i < n; i++) {
        assert_string_equal(top[i].test, want[i]);
        assert_int_equal(top[i].growth, want_growth[i] * (int64_t)MIB);
    }
    assert_int_equal(top[0].rss_before, 152 * MIB);
    assert_int_equal(top[0].rss_after, 400 * MIB);
    close_and_drain(&loop, s);
    assert_int_equal(uv_loop_close(&loop), 0);
}

/* ---- real tree on a real loop ----------------------------------------------------------- */

typedef struct {
    uv_loop_t *loop;
    uv_process_t proc;
    uv_timer_t deadline;
    Sampler *sampler;
    int want_nproc;
    bool found;
    bool timed_out;
    bool exited;
    int term_signal;
    int samplers_closed;
    int tick;
} Live;

static const char *live_test(void *ud)
{
    Live *l = ud;
    return l->tick++ < 3 ? "test_live::first" : "test_live::second";
}

static void on_sample(Sampler *s, void *ud)
{
    Live *l = ud;
    if (sampler_peak_nproc(s) >= (uint32_t)l->want_nproc && !l->found) {
        l->found = true;
        sampler_stop(s);
        uv_timer_stop(&l->deadline);
        uv_process_kill(&l->proc, SIGKILL);
        kill(-l->proc.pid, SIGKILL); /* the sleeps too (own process group) */
    }
}

static void on_deadline(uv_timer_t *t)
{
    Live *l = t->data;
    l->timed_out = true;
    sampler_stop(l->sampler);
    kill(-l->proc.pid, SIGKILL);
}

static void on_exit_cb(uv_process_t *p, int64_t status, int sig)
{
    (void)status;
    Live *l = p->data;
    l->exited = true;
    l->term_signal = sig;
    uv_close((uv_handle_t *)p, NULL);
}

static void on_sampler_closed(void *ud)
{
    ((Live *)ud)->samplers_closed++;
}

static void run_live_tree(int nsleep, int want_nproc, uint64_t *cost_ns_out)
{
    uv_loop_t loop;
    assert_int_equal(uv_loop_init(&loop), 0);
    Live l = {0};
    l.loop = &loop;
    l.want_nproc = want_nproc;
    char script[512] = "";
    for (int i = 0; i < nsleep; i++)
        strcat(script, "sleep 30 & ");
    strcat(script, "wait");
    char *args[] = {"/bin/sh", "-c", script, NULL};
    uv_process_options_t opts = {0};
    opts.file = "/bin/sh";
    opts.args = args;
    opts.exit_cb = on_exit_cb;
    opts.flags = UV_PROCESS_DETACHED; /* setsid: one group to kill */
    l.proc.data = &l;
    assert_int_equal(uv_spawn(&loop, &l.proc, &opts), 0);

    uv_timer_init(&loop, &l.deadline);
    l.deadline.data = &l;
    uv_timer_start(&l.deadline, on_deadline, 5000, 0);

    l.sampler = sampler_new(&loop, "", l.proc.pid, 2, live_test, &l);
    sampler_set_on_sample(l.sampler, on_sample);
    assert_int_equal(sampler_start(l.sampler), 0);

    /* runs until the tree is found (or the deadline) and the child has exited */
    while (!l.exited)
        uv_run(&loop, UV_RUN_ONCE);
    assert_false(l.timed_out);
    assert_true(l.found);
    assert_int_equal(l.term_signal, SIGKILL);
    assert_true(sampler_peak_nproc(l.sampler) >= (uint32_t)want_nproc);
    assert_true(sampler_peak_rss(l.sampler) > 0);
    size_t n;
    const SamplerPoint *p = sampler_timeline(l.sampler, &n);
    assert_true(n >= 1);
    for (size_t i = 0; i < n; i++)
        assert_true(p[i].rss <= sampler_peak_rss(l.sampler));
    assert_non_null(sampler_peak_test(l.sampler));

    if (cost_ns_out)
        *cost_ns_out = sampler_last_cost_ns(l.sampler);

    /* the root is gone: a sample says so, the sampler is not broken */
    assert_int_equal(sampler_sample_now(l.sampler), -ESRCH);
    assert_true(sampler_gone(l.sampler));

    sampler_close(l.sampler, on_sampler_closed);
    uv_close((uv_handle_t *)&l.deadline, NULL);
    assert_int_equal(uv_run(&loop, UV_RUN_DEFAULT), 0);
    assert_int_equal(l.samplers_closed, 1);
    assert_int_equal(uv_loop_close(&loop), 0);
}

static void test_live_tree(void **state)
{
    (void)state;
    run_live_tree(2, 3, NULL);
}

/* Cost of one sample of a 10-process tree (statm of each + discovery). Printed; asserted
 * loosely (sanitizers and valgrind are slow). */
static void test_sample_cost(void **state)
{
    (void)state;
    pid_t root = fork();
    assert_true(root >= 0);
    if (root == 0) {
        for (int i = 0; i < 9; i++)
            if (fork() == 0) {
                pause();
                _exit(0);
            }
        pause();
        _exit(0);
    }
    ProcTreeSample s;
    proctree_sample_init(&s);
    /* wait (bounded) until all 9 grandchildren exist */
    struct timespec t0, t1, nap = {0, 1000000};
    clock_gettime(CLOCK_MONOTONIC, &t0);
    for (;;) {
        assert_int_equal(proctree_sample("", root, &s), 0);
        if (s.nproc == 10)
            break;
        clock_gettime(CLOCK_MONOTONIC, &t1);
        assert_true(t1.tv_sec - t0.tv_sec < 5);
        nanosleep(&nap, NULL); /* polling pace, not synchronisation */
    }
    const int N = 2000;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    for (int i = 0; i < N; i++)
        proctree_sample("", root, &s);
    clock_gettime(CLOCK_MONOTONIC, &t1);
    double us = ((double)(t1.tv_sec - t0.tv_sec) * 1e9 + (double)(t1.tv_nsec - t0.tv_nsec)) / N /
                1000.0;
    ProcTree t;
    proctree_init(&t);
    clock_gettime(CLOCK_MONOTONIC, &t0);
    for (int i = 0; i < 200; i++)
        proctree_discover_scan("", root, &t);
    clock_gettime(CLOCK_MONOTONIC, &t1);
    double scan_us =
        ((double)(t1.tv_sec - t0.tv_sec) * 1e9 + (double)(t1.tv_nsec - t0.tv_nsec)) / 200 / 1000.0;
    printf("# tree sample of %zu processes: %.1f us (children files: %s); /proc scan "
           "discovery: %.1f us\n",
           s.nproc, us, s.tree.used_children ? "yes" : "no", scan_us);
    assert_int_equal(s.nproc, 10);
    assert_int_equal(t.n, 10);
    assert_true(us < 20000.0); /* sanity only: the budget (<1 ms) is checked in bench/ */
    for (size_t i = s.nproc; i-- > 0;)
        kill(s.procs[i].pid, SIGKILL); /* grandchildren first, then the root */
    proctree_destroy(&t);
    proctree_sample_destroy(&s);
    waitpid(root, NULL, 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_timeline_bounded),
        cmocka_unit_test(test_growth_and_peak_test),
        cmocka_unit_test(test_live_tree),
        cmocka_unit_test(test_sample_cost),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
