/* test_cgroup: /proc/PID/cgroup and mountinfo parsers on literal text; cgroup v1/v2
 * fixture trees with and without limits and with OOM kills; the live system. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "testutil.h"

#include "mem/cgroup.h"


static void test_parse_proc_cgroup(void **state)
{
    (void)state;
    StrBuf p = STRBUF_INIT;
    CgroupVersion v = CGROUP_NONE;
    assert_int_equal(cgroup_parse_proc_cgroup("0::/user.slice/user-1000.slice/session-2.scope\n",
                                              &v, &p),
                     0);
    assert_int_equal(v, CGROUP_V2);
    assert_string_equal(p.data, "/user.slice/user-1000.slice/session-2.scope");
    assert_int_equal(cgroup_parse_proc_cgroup("0::/system.slice/gone.service (deleted)\n", &v, &p),
                     0);
    assert_string_equal(p.data, "/system.slice/gone.service");
    /* hybrid (this machine): the v1 memory line wins over 0:: */
    const char hybrid[] = "9:name=systemd:/\n8:pids:/\n4:memory:/process_api/dcf1 (deleted)\n"
                          "1:cpu:/\n0::/\n";
    assert_int_equal(cgroup_parse_proc_cgroup(hybrid, &v, &p), 0);
    assert_int_equal(v, CGROUP_V1);
    assert_string_equal(p.data, "/process_api/dcf1");
    /* memory co-mounted with other controllers */
    assert_int_equal(cgroup_parse_proc_cgroup("5:cpu,memory:/a b/c\n", &v, &p), 0);
    assert_int_equal(v, CGROUP_V1);
    assert_string_equal(p.data, "/a b/c");
    /* "memory" must be a whole controller name; paths may contain ':' */
    assert_int_equal(cgroup_parse_proc_cgroup("3:memoryx:/x\n0::/odd:name\n", &v, &p), 0);
    assert_int_equal(v, CGROUP_V2);
    assert_string_equal(p.data, "/odd:name");
    assert_int_equal(cgroup_parse_proc_cgroup("9:name=systemd:/\n1:cpu:/\n", &v, &p), -ENOENT);
    strbuf_destroy(&p);
}

static void test_unescape_and_mountinfo(void **state)
{
    (void)state;
    StrBuf root = STRBUF_INIT, mp = STRBUF_INIT, u = STRBUF_INIT;
    cgroup_unescape("/a\\040b\\011c\\134d\\012", 21, &u);
    assert_string_equal(u.data, "/a b\tc\\d\n");
    cgroup_unescape("/x\\04", 5, &u); /* truncated escape kept as is */
    assert_string_equal(u.data, "/x\\04");

    const char mi[] =
        "22 1 259:2 / / rw,relatime shared:1 - ext4 /dev/nvme0n1p2 rw\n"
        "35 31 0:32 / /sys/fs/cgroup/memory\\040fake rw,relatime - cgroup cgroup rw,cpu\n"
        "36 31 0:33 /docker/abc /sys/fs/cgroup/mem\\040ory rw,relatime master:16 - cgroup cgroup "
        "rw,cpuset,memory\n"
        "41 31 0:38 / /sys/fs/cgroup/uni\\040fied rw,relatime shared:9 shared:10 - cgroup2 "
        "cgroup2 rw,nsdelegate\n";
    assert_int_equal(cgroup_parse_mountinfo(mi, CGROUP_V1, &root, &mp), 0);
    assert_string_equal(root.data, "/docker/abc");
    assert_string_equal(mp.data, "/sys/fs/cgroup/mem ory"); /* not the cpu one named memory */
    assert_int_equal(cgroup_parse_mountinfo(mi, CGROUP_V2, &root, &mp), 0);
    assert_string_equal(root.data, "/");
    assert_string_equal(mp.data, "/sys/fs/cgroup/uni fied");
    assert_int_equal(cgroup_parse_mountinfo("22 1 259:2 / / rw - ext4 /dev/x rw\n", CGROUP_V2,
                                            &root, &mp),
                     -ENOENT);
    strbuf_destroy(&root);
    strbuf_destroy(&mp);
    strbuf_destroy(&u);
}

static void test_parse_limit_and_keyed(void **state)
{
    (void)state;
    uint64_t v;
    assert_int_equal(cgroup_parse_limit("max\n", &v), 0);
    assert_true(v == CGROUP_NO_LIMIT);
    assert_int_equal(cgroup_parse_limit("9223372036854771712\n", &v), 0);
    assert_true(v == CGROUP_NO_LIMIT);
    assert_int_equal(cgroup_parse_limit("9223372036854710272\n", &v), 0); /* 64K pages */
    assert_true(v == CGROUP_NO_LIMIT);
    assert_int_equal(cgroup_parse_limit("536870912\n", &v), 0);
    assert_int_equal(v, 536870912);
    assert_int_equal(cgroup_parse_limit("", &v), -EINVAL);
    const char events[] = "low 0\nhigh 0\nmax 4012\noom 5\noom_kill 3\noom_group_kill 0\n";
    assert_int_equal(cgroup_parse_keyed(events, "oom", &v), 0);
    assert_int_equal(v, 5);
    assert_int_equal(cgroup_parse_keyed(events, "oom_kill", &v), 0);
    assert_int_equal(v, 3);
    assert_int_equal(cgroup_parse_keyed(events, "oom_kil", &v), -ENOENT);
    assert_int_equal(cgroup_parse_keyed("oom_kill_disable 0\nunder_oom 1\noom_kill 2\n", "oom_kill",
                                        &v),
                     0);
    assert_int_equal(v, 2);
}

static void test_v2_limit_effective_from_parent(void **state)
{
    (void)state;
    CgroupMem m;
    cgroup_mem_init(&m);
    assert_int_equal(cgroup_read(fixture("v2-limit"), 4242, &m), 0);
    assert_int_equal(m.version, CGROUP_V2);
    assert_string_equal(m.path, "/user.slice/app.slice/pytest.scope");
    assert_string_equal(m.dir, "/sys/fs/cgroup/user.slice/app.slice/pytest.scope");
    assert_int_equal(m.limit, 1024 * MIB);
    assert_int_equal(m.effective_limit, 512 * MIB); /* parent's is smaller */
    assert_string_equal(m.limit_dir, "/sys/fs/cgroup/user.slice/app.slice");
    assert_true(m.high == CGROUP_NO_LIMIT);
    assert_int_equal(m.usage, 480 * MIB);
    assert_true(m.has_peak);
    assert_int_equal(m.peak, 500 * MIB);
    assert_true(m.has_events);
    assert_int_equal(m.oom_kill, 0);
    cgroup_mem_destroy(&m);
}

static void test_v2_nolimit_and_oomkill(void **state)
{
    (void)state;
    CgroupMem m;
    cgroup_mem_init(&m);
    assert_int_equal(cgroup_read(fixture("v2-nolimit"), 4242, &m), 0);
    assert_int_equal(m.version, CGROUP_V2);
    assert_true(m.limit == CGROUP_NO_LIMIT);
    assert_true(m.effective_limit == CGROUP_NO_LIMIT);
    assert_null(m.limit_dir);
    assert_false(m.has_peak); /* no memory.peak before 5.19 */
    assert_false(m.has_swap);
    assert_int_equal(m.usage, 100 * MIB);

    assert_int_equal(cgroup_read(fixture("v2-oomkill"), 4242, &m), 0); /* reuse */
    assert_int_equal(m.effective_limit, 512 * MIB);
    assert_int_equal(m.usage, 512 * MIB);
    assert_int_equal(m.oom, 5);
    assert_int_equal(m.oom_kill, 3);
    assert_true(m.has_swap);
    assert_int_equal(m.swap_limit, 0);

    /* root cgroup "0::/": no memory.current -> no readable memory cgroup */
    assert_int_equal(cgroup_read(fixture("tree-scan"), 4242, &m), 0);
    assert_int_equal(m.version, CGROUP_NONE);
    assert_true(cgroup_read(fixture("v2-limit"), 31337, &m) < 0);
    cgroup_mem_destroy(&m);
}

static void test_v1(void **state)
{
    (void)state;
    CgroupMem m;
    cgroup_mem_init(&m);
    /* container: mount root /docker/abc123 is stripped from the path */
    assert_int_equal(cgroup_read(fixture("v1-limit"), 4242, &m), 0);
    assert_int_equal(m.version, CGROUP_V1);
    assert_string_equal(m.path, "/docker/abc123");
    assert_string_equal(m.dir, "/sys/fs/cgroup/memory");
    assert_int_equal(m.limit, 2048 * MIB);
    assert_int_equal(m.effective_limit, 2048 * MIB);
    assert_int_equal(m.usage, 1024 * MIB);
    assert_int_equal(m.peak, 1536 * MIB);
    assert_true(m.has_swap);
    assert_int_equal(m.swap_usage, 64 * MIB);
    assert_int_equal(m.swap_limit, 1024 * MIB); /* memsw 3 GiB - mem 2 GiB */

    assert_int_equal(cgroup_read(fixture("v1-nolimit"), 4242, &m), 0);
    assert_int_equal(m.version, CGROUP_V1);
    assert_string_equal(m.dir, "/sys/fs/cgroup/memory/user.slice/user-1000.slice/session-3.scope");
    assert_true(m.limit == CGROUP_NO_LIMIT);
    assert_true(m.effective_limit == CGROUP_NO_LIMIT);
    assert_int_equal(m.usage, 300 * MIB);
    assert_false(m.has_swap);

    assert_int_equal(cgroup_read(fixture("v1-oomkill"), 4242, &m), 0);
    assert_int_equal(m.effective_limit, 256 * MIB);
    assert_int_equal(m.usage, 256 * MIB);
    assert_int_equal(m.oom_kill, 2);
    assert_int_equal(m.failcnt, 1234);
    assert_false(m.under_oom);
    cgroup_mem_destroy(&m);
}

static void test_live(void **state)
{
    (void)state;
    CgroupMem m;
    cgroup_mem_init(&m);
    assert_int_equal(cgroup_read("", getpid(), &m), 0);
    if (m.version != CGROUP_NONE) {
        assert_non_null(m.dir);
        assert_true(access(m.dir, F_OK) == 0);
        assert_true(m.usage > 0);
    }
    cgroup_mem_destroy(&m);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_parse_proc_cgroup),
        cmocka_unit_test(test_unescape_and_mountinfo),
        cmocka_unit_test(test_parse_limit_and_keyed),
        cmocka_unit_test(test_v2_limit_effective_from_parent),
        cmocka_unit_test(test_v2_nolimit_and_oomkill),
        cmocka_unit_test(test_v1),
        cmocka_unit_test(test_live),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
