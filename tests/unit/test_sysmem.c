/* test_sysmem: /proc/meminfo with psutil 5.9.4 formulas, PSI, overcommit, max_map_count. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include <cmocka.h>

#include "testutil.h"

#include "mem/sysmem.h"

/* Real text from kernel 6.x (this machine), trimmed. */
static const char MEMINFO[] =
    "MemTotal:       24684092 kB\nMemFree:        24369676 kB\nMemAvailable:   24354884 kB\n"
    "Buffers:            4096 kB\nCached:           137096 kB\nSwapCached:            0 kB\n"
    "Active:            35444 kB\nInactive:         103256 kB\nActive(anon):       1528 kB\n"
    "SwapTotal:        2097148 kB\nSwapFree:         1572860 kB\nShmem:              8856 kB\n"
    "KReclaimable:      81072 kB\nSlab:             103780 kB\nSReclaimable:      81072 kB\n"
    "SUnreclaim:        22708 kB\nCommitLimit:    12342044 kB\nCommitted_AS:      55584 kB\n"
    "HugePages_Total:       4\nHugePages_Free:        3\nHugePages_Rsvd:        1\n"
    "Hugepagesize:       2048 kB\n";

static void test_parse_meminfo_psutil_594(void **state)
{
    (void)state;
    SysMeminfo m;
    assert_int_equal(sysmem_parse_meminfo(MEMINFO, &m), 0);
    uint64_t total = 24684092ULL * 1024, free_ = 24369676ULL * 1024;
    uint64_t cached = (137096ULL + 81072ULL) * 1024, buffers = 4096ULL * 1024;
    uint64_t avail = 24354884ULL * 1024;
    assert_int_equal(m.total, total);
    assert_int_equal(m.free, free_);
    assert_int_equal(m.available, avail);
    assert_int_equal(m.cached, cached);       /* Cached + SReclaimable */
    assert_int_equal(m.buffers, buffers);
    assert_int_equal(m.shared, 8856ULL * 1024);
    assert_int_equal(m.slab, 103780ULL * 1024);
    /* psutil 5.9.4: used = total - free - cached - buffers (not total - available) */
    assert_int_equal(m.used, total - free_ - cached - buffers);
    assert_int_equal(m.used_by_available, total - avail);
    assert_true(m.percent > 1.29 && m.percent < 1.31); /* round(1.33.., 1) = 1.3 */
    assert_int_equal(m.swap_total, 2097148ULL * 1024);
    assert_int_equal(m.swap_used, (2097148ULL - 1572860ULL) * 1024);
    assert_true(m.swap_percent > 24.99 && m.swap_percent < 25.01);
    assert_true(m.has_commit);
    assert_int_equal(m.commit_limit, 12342044ULL * 1024);
    assert_int_equal(m.committed_as, 55584ULL * 1024);
    assert_int_equal(m.hugepages_total, 4); /* a count, not kB */
    assert_int_equal(m.hugepages_free, 3);
    assert_int_equal(m.hugepage_size, 2048 * 1024);
}

static void test_parse_meminfo_edge_cases(void **state)
{
    (void)state;
    SysMeminfo m;
    /* used would go negative (LXC-style numbers): psutil falls back to total - free;
     * MemAvailable > total: psutil uses free */
    const char lxc[] = "MemTotal: 1000 kB\nMemFree: 400 kB\nMemAvailable: 5000 kB\n"
                       "Buffers: 300 kB\nCached: 400 kB\nSReclaimable: 100 kB\n";
    assert_int_equal(sysmem_parse_meminfo(lxc, &m), 0);
    assert_int_equal(m.used, 600 * 1024);
    assert_int_equal(m.available, 400 * 1024);
    assert_true(m.percent > 59.99 && m.percent < 60.01);
    assert_int_equal(m.swap_total, 0);
    assert_true(m.swap_percent == 0.0);
    assert_false(m.has_commit);
    /* prefix keys must not match: "Cached:" vs "SwapCached:", "Active:" vs "Active(anon):" */
    const char tricky[] = "MemTotal: 1000 kB\nMemFree: 100 kB\nMemAvailable: 500 kB\n"
                          "SwapCached: 77 kB\nActive(anon): 55 kB\nCached: 10 kB\nActive: 20 kB\n";
    assert_int_equal(sysmem_parse_meminfo(tricky, &m), 0);
    assert_int_equal(m.cached, 10 * 1024);
    assert_int_equal(m.active, 20 * 1024);
    assert_int_equal(sysmem_parse_meminfo("Garbage\n", &m), -EINVAL);
}

static void test_parse_psi(void **state)
{
    (void)state;
    SysPsi p;
    assert_int_equal(sysmem_parse_psi("some avg10=1.25 avg60=0.50 avg300=0.10 total=123456\n"
                                      "full avg10=0.75 avg60=0.25 avg300=0.05 total=65432\n",
                                      &p),
                     0);
    assert_true(p.has_some && p.has_full);
    assert_true(p.some.avg10 == 1.25 && p.some.avg60 == 0.5 && p.some.avg300 == 0.1);
    assert_int_equal(p.some.total_us, 123456);
    assert_true(p.full.avg10 == 0.75);
    assert_int_equal(p.full.total_us, 65432);
    assert_int_equal(sysmem_parse_psi("some avg10=0.00 avg60=0.00 avg300=0.00 total=0\n", &p), 0);
    assert_true(p.has_some && !p.has_full);
    assert_int_equal(sysmem_parse_psi("nonsense\n", &p), -EINVAL);
}

static void test_read_fixture(void **state)
{
    (void)state;
    SysMem s;
    assert_int_equal(sysmem_read(fixture("strict-overcommit"), &s), 0);
    assert_int_equal(s.overcommit_memory, 2);
    assert_true(s.has_max_map_count);
    assert_int_equal(s.max_map_count, 65530);
    assert_true(s.has_psi);
    assert_int_equal(s.psi.full.total_us, 65432);
    assert_int_equal(s.mem.commit_limit, 8ULL << 30);
    assert_int_equal(s.mem.committed_as, 7987ULL << 20);
    assert_int_equal(sysmem_read(fixture("mapcount"), &s), 0);
    assert_int_equal(s.max_map_count, 1000);
    assert_int_equal(s.overcommit_memory, 0);
    assert_int_equal(sysmem_read("/nonexistent-root", &s), -ENOENT);
}

static void test_read_live(void **state)
{
    (void)state;
    SysMem s;
    assert_int_equal(sysmem_read("", &s), 0);
    assert_true(s.mem.total > 0);
    assert_true(s.mem.available <= s.mem.total);
    assert_true(s.overcommit_memory >= 0 && s.overcommit_memory <= 2);
    assert_true(s.has_max_map_count);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_parse_meminfo_psutil_594),
        cmocka_unit_test(test_parse_meminfo_edge_cases),
        cmocka_unit_test(test_parse_psi),
        cmocka_unit_test(test_read_fixture),
        cmocka_unit_test(test_read_live),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
