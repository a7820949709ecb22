/* test_procmem: statm/status/limits/smaps_rollup/stat parsers on literal /proc text,
 * fixture-tree readers, live reads. Process trees: test_proctree.c. */
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
#include <unistd.h>

#include <cmocka.h>

#include "testutil.h"

#include "mem/procmem.h"

static const uint64_t PS = 4096;

static void test_parse_statm(void **state)
{
    (void)state;
    ProcStatm s;
    assert_int_equal(procmem_parse_statm("765 408 352 5 0 120 0\n", PS, &s), 0);
    assert_int_equal(s.vms, 765 * PS);
    assert_int_equal(s.rss, 408 * PS);
    assert_int_equal(s.shared, 352 * PS);
    assert_int_equal(s.text, 5 * PS);
    assert_int_equal(s.data, 120 * PS);
    /* huge values must not overflow 32 bits */
    assert_int_equal(procmem_parse_statm("325837 39680 9920 715 0 275033 0", PS, &s), 0);
    assert_int_equal(s.vms, 325837ULL * 4096);
    assert_int_equal(procmem_parse_statm("765 408 352", PS, &s), -EINVAL);
    assert_int_equal(procmem_parse_statm("", PS, &s), -EINVAL);
}

static const char STATUS_TEXT[] =
    "Name:\tcat\nUmask:\t0022\nState:\tR (running)\nTgid:\t3861\nNgid:\t0\nPid:\t3861\n"
    "PPid:\t3847\nTracerPid:\t0\nUid:\t0\t0\t0\t0\nFDSize:\t256\nGroups:\t \n"
    "VmPeak:\t    3060 kB\nVmSize:\t    3060 kB\nVmLck:\t       8 kB\nVmPin:\t       0 kB\n"
    "VmHWM:\t    1680 kB\nVmRSS:\t    1680 kB\nRssAnon:\t     112 kB\nRssFile:\t    1568 kB\n"
    "RssShmem:\t       0 kB\nVmData:\t     360 kB\nVmStk:\t     132 kB\nVmExe:\t      20 kB\n"
    "VmLib:\t    1528 kB\nVmPTE:\t      52 kB\nVmSwap:\t      16 kB\nHugetlbPages:\t       0 kB\n"
    "Threads:\t3\nSigQ:\t0/96365\n";

static void test_parse_status(void **state)
{
    (void)state;
    ProcStatus s;
    assert_int_equal(procmem_parse_status(STATUS_TEXT, &s), 0);
    assert_int_equal(s.pid, 3861);
    assert_int_equal(s.ppid, 3847);
    assert_int_equal(s.threads, 3);
    assert_int_equal(s.vm_peak, 3060 * 1024);
    assert_int_equal(s.vm_size, 3060 * 1024);
    assert_int_equal(s.vm_lck, 8 * 1024);
    assert_int_equal(s.vm_hwm, 1680 * 1024);
    assert_int_equal(s.vm_rss, 1680 * 1024);
    assert_int_equal(s.rss_anon, 112 * 1024);
    assert_int_equal(s.rss_file, 1568 * 1024);
    assert_int_equal(s.vm_data, 360 * 1024);
    assert_int_equal(s.vm_stk, 132 * 1024);
    assert_int_equal(s.vm_swap, 16 * 1024);
    /* kernel threads and zombies have no Vm lines */
    assert_int_equal(procmem_parse_status("Name:\tkthreadd\nPid:\t2\nPPid:\t0\nThreads:\t1\n", &s),
                     -EINVAL);
}

static const char LIMITS_TEXT[] =
    "Limit                     Soft Limit           Hard Limit           Units     \n"
    "Max cpu time              unlimited            unlimited            seconds   \n"
    "Max data size             536870912            unlimited            bytes     \n"
    "Max stack size            8388608              unlimited            bytes     \n"
    "Max resident set          unlimited            unlimited            bytes     \n"
    "Max locked memory         8388608              8388608              bytes     \n"
    "Max address space         1073741824           2147483648           bytes     \n"
    "Max realtime timeout      unlimited            unlimited            us        \n";

static void test_parse_limits(void **state)
{
    (void)state;
    ProcLimits l;
    assert_int_equal(procmem_parse_limits(LIMITS_TEXT, &l), 0);
    assert_int_equal(l.as.soft, 1073741824ULL);
    assert_int_equal(l.as.hard, 2147483648ULL);
    assert_int_equal(l.data.soft, 536870912ULL);
    assert_true(l.data.hard == PROCMEM_UNLIMITED);
    assert_true(l.rss.soft == PROCMEM_UNLIMITED);
    assert_int_equal(l.memlock.soft, 8388608);
    assert_int_equal(l.stack.soft, 8388608);
    assert_true(l.stack.hard == PROCMEM_UNLIMITED);

    const char all_unl[] =
        "Limit                     Soft Limit           Hard Limit           Units     \n"
        "Max address space         unlimited            unlimited            bytes     \n";
    assert_int_equal(procmem_parse_limits(all_unl, &l), 0);
    assert_true(l.as.soft == PROCMEM_UNLIMITED && l.as.hard == PROCMEM_UNLIMITED);
    assert_true(l.data.soft == PROCMEM_UNLIMITED); /* row absent -> unlimited */
    assert_int_equal(procmem_parse_limits("Limit Soft\n", &l), -EINVAL);
}

static void test_parse_rollup(void **state)
{
    (void)state;
    const char text[] =
        "562974b6b000-7fffa0486000 ---p 00000000 00:00 0                          [rollup]\n"
        "Rss:                1612 kB\nPss:                 410 kB\nPss_Dirty:           112 kB\n"
        "Pss_Anon:            112 kB\nShared_Clean:       1460 kB\nShared_Dirty:          0 kB\n"
        "Private_Clean:        40 kB\nPrivate_Dirty:       112 kB\nSwap:                 24 kB\n"
        "SwapPss:               8 kB\nPrivate_Hugetlb:       4 kB\nLocked:                0 kB\n";
    ProcRollup r;
    assert_int_equal(procmem_parse_rollup(text, &r), 0);
    assert_int_equal(r.rss, 1612 * 1024);
    assert_int_equal(r.pss, 410 * 1024); /* not Pss_Dirty / Pss_Anon */
    assert_int_equal(r.uss, (40 + 112 + 4) * 1024);
    assert_int_equal(r.swap, 24 * 1024); /* not SwapPss */
    assert_int_equal(r.swap_pss, 8 * 1024);
    assert_int_equal(procmem_parse_rollup("", &r), -EINVAL);
}

static void test_parse_stat_ppid(void **state)
{
    (void)state;
    int ppid = 0;
    assert_int_equal(procmem_parse_stat_ppid("4243 (my proc) x) S 4242 4243 4243 0 -1\n", &ppid), 0);
    assert_int_equal(ppid, 4242);
    assert_int_equal(procmem_parse_stat_ppid("1 (systemd) S 0 1 1 0", &ppid), 0);
    assert_int_equal(ppid, 0);
    assert_int_equal(procmem_parse_stat_ppid("garbage", &ppid), -EINVAL);
    assert_int_equal(procmem_parse_stat_ppid("5 (x)", &ppid), -EINVAL);
}

/* Field 22; priority and tpgid may be negative; comm may hold ") ". */
static void test_parse_stat_start(void **state)
{
    (void)state;
    uint64_t start = 0;
    assert_int_equal(procmem_parse_stat_start("7285 (a) b) R 7282 7282 27300 0 -1 4194304 99 0 0 0 0 0 "
                                              "0 0 -2 0 1 0 76544 3133440 379 18446744073709551615\n",
                                              &start), 0);
    assert_int_equal(start, 76544);
    assert_int_equal(procmem_parse_stat_start("7285 (cat) R 7282 7282 27300 0 -1 4194304 99 0 0\n", &start),
                     -EINVAL);
    assert_int_equal(procmem_parse_stat_start("garbage", &start), -EINVAL);
}

typedef struct {
    uint64_t a, kb, sum;
    int i;
    ProcLimit lim;
} KeyOut;

/* The key table: exact keys before ':', kB, int fields, prefix sums, limits rows, the found
 * mask; a line whose value does not parse is skipped. */
static void test_parse_keys(void **state)
{
    (void)state;
    static const ProcmemKey keys[] = {
        {"A", offsetof(KeyOut, a), 0},
        {"Kb", offsetof(KeyOut, kb), PROCMEM_KB},
        {"Priv_", offsetof(KeyOut, sum), PROCMEM_KB | PROCMEM_SUM},
        {"Int", offsetof(KeyOut, i), PROCMEM_INT},
        {"Max x", offsetof(KeyOut, lim), PROCMEM_LIMIT},
    };
    KeyOut o = {0};
    uint64_t found = procmem_parse_keys("AB: 7\nA:\t 42\nKb: 3 kB\nPriv_x: 1 kB\nPriv_y: 2 kB\n"
                                        "Priv_: 100 kB\nInt: 9\nMax xy 1 2\nMax x  unlimited  5 bytes",
                                        keys, 5, &o);
    assert_int_equal(found, 0x1f);
    assert_int_equal(o.a, 42);      /* "AB" is not "A" */
    assert_int_equal(o.kb, 3072);
    assert_int_equal(o.sum, 3072);  /* "Priv_" alone is no Priv_* key */
    assert_int_equal(o.i, 9);
    assert_int_equal(o.lim.soft, PROCMEM_UNLIMITED);
    assert_int_equal(o.lim.hard, 5);
    KeyOut z = {0};
    assert_int_equal(procmem_parse_keys("A: x\nKb:\nInt: -1\nMax x 1\n", keys, 5, &z), 0);
    assert_int_equal(procmem_parse_keys("", keys, 5, &z), 0);
}

static int parse_first_char(const char *text, void *out)
{
    if (text[0] == '\0')
        return -EINVAL;
    *(char *)out = text[0];
    return 0;
}

/* Read, then parse: the read's error, else the parser's. */
static void test_read_parsed(void **state)
{
    (void)state;
    char c = 0;
    assert_int_equal(procmem_read_parsed(fixture("v2-limit"), parse_first_char, &c, "/proc/%d/statm", 4242), 0);
    assert_true(c >= '0' && c <= '9');
    assert_int_equal(procmem_read_parsed(fixture("v2-limit"), parse_first_char, &c, "/proc/%d/nothing", 4242),
                     -ENOENT);
    assert_int_equal(procmem_read_parsed("/", parse_first_char, &c, "/dev/null"), -EINVAL);
}

static void test_count_lines(void **state)
{
    (void)state;
    assert_int_equal(procmem_count_lines("", 0), 0);
    assert_int_equal(procmem_count_lines("a\n", 2), 1);
    assert_int_equal(procmem_count_lines("a\nb", 3), 2);
    assert_int_equal(procmem_count_lines("a\nb\n", 4), 2);
}

static void test_fixture_readers(void **state)
{
    (void)state;
    const char *root = fixture("seed-rlimit-as");
    ProcStatm sm;
    ProcStatus st;
    ProcLimits lim;
    ProcRollup ru;
    uint64_t maps = 0;
    assert_int_equal(procmem_read_statm(root, 4242, &sm), 0);
    assert_int_equal(sm.vms, 325837ULL * (uint64_t)sysconf(_SC_PAGESIZE));
    assert_int_equal(procmem_read_status(root, 4242, &st), 0);
    assert_int_equal(st.vm_size, 1303348ULL * 1024);
    assert_int_equal(st.vm_rss, 158720ULL * 1024);
    assert_int_equal(st.threads, 2);
    assert_int_equal(procmem_read_limits(root, 4242, &lim), 0);
    assert_int_equal(lim.as.soft, 1073741824ULL);
    assert_true(lim.data.soft == PROCMEM_UNLIMITED);
    assert_int_equal(procmem_read_map_count(root, 4242, &maps), 0);
    assert_int_equal(maps, 120);
    assert_int_equal(procmem_read_rollup(root, 4242, &ru), 0);
    assert_int_equal(ru.uss, (30720 + 118000) * 1024ULL);
    assert_int_equal(procmem_read_map_count(fixture("mapcount"), 4242, &maps), 0);
    assert_int_equal(maps, 960);
    assert_int_equal(procmem_read_statm(root, 77777, &sm), -ENOENT);
    assert_int_equal(procmem_read_statm("/nonexistent-root", 1, &sm), -ENOENT);
}

static void test_live_self(void **state)
{
    (void)state;
    ProcStatus st;
    ProcLimits l;
    uint64_t maps;
    assert_int_equal(procmem_read_status("/", getpid(), &st), 0);
    assert_int_equal(st.pid, getpid());
    assert_true(st.vm_size > 0);
    assert_int_equal(procmem_read_limits("", getpid(), &l), 0);
    assert_int_equal(procmem_read_map_count("", getpid(), &maps), 0);
    assert_true(maps > 5);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_parse_statm),
        cmocka_unit_test(test_parse_status),
        cmocka_unit_test(test_parse_limits),
        cmocka_unit_test(test_parse_rollup),
        cmocka_unit_test(test_parse_stat_ppid),
        cmocka_unit_test(test_parse_stat_start),
        cmocka_unit_test(test_count_lines),
        cmocka_unit_test(test_parse_keys),
        cmocka_unit_test(test_read_parsed),
        cmocka_unit_test(test_fixture_readers),
        cmocka_unit_test(test_live_self),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
