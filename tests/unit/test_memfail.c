/* test_memfail: which limit refused a failed allocation, from the facts the plugin read in the
 * failing process (#27 item 2): each cause, the order among them, a worker's death, the wording
 * added to a failure. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "testutil.h"

#include "mem/memfail.h"

/* The verdict on facts given as JSON text: "cause|sentence", or "-" when nothing is said. */
static char *verdict(const char *facts_json)
{
    json_t *facts = json_loads(facts_json, 0, NULL);
    assert_non_null(facts);
    MemFailVerdict v;
    char *out;
    if (memfail_explain(facts, &v) != 0) {
        out = strdup("-");
    } else {
        size_t n = strlen(v.cause) + strlen(v.sentence) + 2;
        out = malloc(n);
        snprintf(out, n, "%s|%s", v.cause, v.sentence);
        memfail_verdict_destroy(&v);
    }
    json_decref(facts);
    return out;
}

static void check(const char *facts_json, const char *want)
{
    char *got = verdict(facts_json);
    assert_string_equal(got, want);
    free(got);
}

#define SYS "\"mem_total\":25276510208,\"swap_total\":0,\"overcommit_memory\":0,\"max_map_count\":65530,\"map_count\":100"

static void test_rlimits(void **state)
{
    (void)state;
    /* the seed's case: 1.4 GB address-space limit, a 2 GB request */
    check("{\"what\":\"MemoryError\",\"vm_size\":1395864371,\"vm_rss\":167772160,\"vm_data\":50000000,"
          "\"rlimit_as\":[1500000000,-1],\"rlimit_data\":[-1,-1]," SYS "}",
          "RLIMIT_AS|address-space limit (RLIMIT_AS 1.4 GB) reached: VmSize 1.3 GB, RSS 160 MB");
    /* far from full: one request was larger than what it left */
    check("{\"vm_size\":41943040,\"vm_rss\":34603008,\"rlimit_as\":[1500000000,-1]," SYS "}",
          "RLIMIT_AS|address-space limit (RLIMIT_AS 1.4 GB) reached: VmSize 40 MB, RSS 33 MB; "
          "a single request over the 1.4 GB left fails");
    check("{\"vm_size\":41943040,\"vm_data\":25165824,\"vm_rss\":34603008,\"rlimit_as\":[-1,-1],"
          "\"rlimit_data\":[1500000000,1500000000]," SYS "}",
          "RLIMIT_DATA|data-segment limit (RLIMIT_DATA 1.4 GB) reached: VmData 24 MB, RSS 33 MB; "
          "a single request over the 1.4 GB left fails");
    /* both set: the one with less room left is the one a failed request was over */
    check("{\"vm_size\":1000000000,\"vm_data\":100000000,\"vm_rss\":1,\"rlimit_as\":[1073741824,-1],"
          "\"rlimit_data\":[2147483648,-1]," SYS "}",
          "RLIMIT_AS|address-space limit (RLIMIT_AS 1.0 GB) reached: VmSize 954 MB, RSS 0 kB");
}

static void test_system_limits(void **state)
{
    (void)state;
    check("{\"vm_size\":100,\"vm_rss\":104857600,\"map_count\":65500,\"max_map_count\":65530,"
          "\"mem_total\":25276510208,\"overcommit_memory\":0}",
          "max_map_count|mapping-count limit (vm.max_map_count 65530) reached: 65500 mappings, RSS 100 MB");
    check("{\"vm_rss\":104857600,\"overcommit_memory\":2,\"commit_limit\":8589934592,"
          "\"committed_as\":8375000000,\"mem_total\":25276510208}",
          "CommitLimit|commit limit (CommitLimit 8.0 GB, vm.overcommit_memory=2) reached: "
          "Committed_AS 7.8 GB, RSS 100 MB");
    /* CommitLimit only counts in strict mode */
    check("{\"vm_size\":104857600,\"vm_rss\":104857600,\"overcommit_memory\":0,\"commit_limit\":1,"
          "\"committed_as\":8375000000,\"mem_total\":25276510208,\"swap_total\":1073741824}",
          "none|none: the allocation itself is larger than available (RAM 23.5 GB + swap 1.0 GB): "
          "VmSize 100 MB, RSS 100 MB");
    /* an RLIMIT_AS with more room than RAM + swap: heuristic overcommit refused first */
    check("{\"vm_size\":104857600,\"vm_rss\":104857600,\"rlimit_as\":[1099511627776,-1]," SYS "}",
          "none|none: the allocation itself is larger than available (RAM 23.5 GB + swap 0 kB): "
          "VmSize 100 MB, RSS 100 MB");
}

static void test_cgroup(void **state)
{
    (void)state;
    check("{\"vm_rss\":512000000," SYS ",\"cgroup\":{\"version\":2,\"path\":\"/system.slice/ci.service\","
          "\"limit\":536870912,\"usage\":536870912,\"oom_kill\":3}}",
          "cgroup|cgroup memory limit (memory.max 512 MB, cgroup v2 /system.slice/ci.service) reached: "
          "usage 512 MB, RSS 488 MB");
    check("{" SYS ",\"cgroup\":{\"version\":1,\"path\":\"/ci/job\",\"limit\":268435456,\"usage\":260000000}}",
          "cgroup|cgroup memory limit (memory.limit_in_bytes 256 MB, cgroup v1 /ci/job) reached: usage 248 MB");
    /* far below its limit: not the cgroup */
    check("{" SYS ",\"cgroup\":{\"version\":2,\"path\":\"/a\",\"limit\":536870912,\"usage\":1000}}",
          "none|none: the allocation itself is larger than available (RAM 23.5 GB + swap 0 kB); where it runs, "
          "the cgroup memory limit (memory.max 512 MB, cgroup v2 /a) binds first: past it the OOM killer "
          "ends the process");
    /* a path with a control character is shown clean */
    char *got = verdict("{" SYS ",\"cgroup\":{\"version\":2,\"path\":\"/a\\u001b[31m\",\"limit\":10,\"usage\":10}}");
    assert_null(strchr(got, '\x1b'));
    free(got);
}

static void test_crash(void **state)
{
    (void)state;
    check("{\"what\":\"crash\",\"vm_oom_kill\":0,\"vm_oom_kill_before\":0,\"cgroup\":{\"version\":2,"
          "\"path\":\"/s\",\"limit\":536870912,\"usage\":536870912,\"oom_kill\":4,\"oom_kill_before\":3}}",
          "cgroup_oom_kill|killed by the OOM killer: cgroup memory limit (memory.max 512 MB, cgroup v2 /s) "
          "reached: usage 512 MB, oom_kill 3 -> 4");
    check("{\"what\":\"crash\",\"vm_oom_kill\":7,\"vm_oom_kill_before\":6,\"mem_available\":1073741824,"
          "\"mem_total\":25276510208,\"cgroup\":{\"version\":2,\"path\":\"/s\",\"limit\":-1,\"oom_kill\":0,"
          "\"oom_kill_before\":0}}",
          "system_oom_kill|killed by the OOM killer: the system ran out of memory (oom_kill 6 -> 7 in "
          "/proc/vmstat; 1.0 GB of 23.5 GB available now)");
    /* no kill counted: nothing is said (the worker died of something else) */
    check("{\"what\":\"crash\",\"vm_oom_kill\":7,\"vm_oom_kill_before\":7}", "-");
    check("{\"what\":\"crash\",\"vm_oom_kill\":7}", "-"); /* no baseline */
}

static void test_apply(void **state)
{
    (void)state;
    json_t *failures = json_pack("[{s:s, s:s, s:{s:s, s:I, s:I, s:[I,i]}}, {s:s, s:s}, {s:s, s:s, s:s}]",
                                 "nodeid", "t.py::big", "message", "MemoryError", "memfail", "what", "MemoryError",
                                 "vm_size", (json_int_t)1395864371, "vm_rss", (json_int_t)167772160, "rlimit_as",
                                 (json_int_t)1500000000, -1, "nodeid", "t.py::plain", "message", "assert 1 == 2",
                                 "nodeid", "t.py::odd", "message", "x", "memfail", "not an object");
    memfail_apply_all(failures);
    json_t *big = json_array_get(failures, 0);
    assert_string_equal(json_string_value(json_object_get(big, "message")),
                        "MemoryError: address-space limit (RLIMIT_AS 1.4 GB) reached: VmSize 1.3 GB, RSS 160 MB");
    assert_string_equal(json_string_value(json_object_get(json_object_get(big, "memory_limit"), "cause")), "RLIMIT_AS");
    assert_null(json_object_get(big, "memfail"));
    json_t *plain = json_array_get(failures, 1);
    assert_string_equal(json_string_value(json_object_get(plain, "message")), "assert 1 == 2");
    assert_null(json_object_get(plain, "memory_limit"));
    json_t *odd = json_array_get(failures, 2); /* facts that are not an object: dropped, nothing said */
    assert_string_equal(json_string_value(json_object_get(odd, "message")), "x");
    assert_null(json_object_get(odd, "memfail"));
    assert_null(json_object_get(odd, "memory_limit"));
    json_decref(failures);
    memfail_apply_all(NULL);
}

static void test_killed_behind_a_prefix(void **state)
{
    (void)state;
    json_t *f = json_loads("{\"what\":\"start\",\"cgroup\":{\"version\":1,\"path\":\"/docker/abc\","
                           "\"limit\":536870912,\"usage\":1000}}", 0, NULL);
    MemFailVerdict v;
    assert_int_equal(memfail_explain_killed(f, &v), 0);
    assert_string_equal(v.cause, "cgroup_oom_kill");
    assert_string_equal(v.sentence, "killed (SIGKILL) where its memory limit is the cgroup's (memory.limit_in_bytes "
                                    "512 MB, cgroup v1 /docker/abc): most likely the OOM killer, past that limit");
    memfail_verdict_destroy(&v);
    json_decref(f);
    f = json_loads("{\"cgroup\":{\"version\":2,\"path\":\"/\",\"limit\":-1}}", 0, NULL);
    assert_int_equal(memfail_explain_killed(f, &v), -ENOENT);
    json_decref(f);
    assert_int_equal(memfail_explain_killed(NULL, &v), -ENOENT);
}

/* The limits where pytest runs, for every run through a prefix: the lowest is the binding one. */
static void test_limits_where(void **state)
{
    (void)state;
    static const struct {
        const char *facts, *binding, *sentence;
        long long bytes;
    } rows[] = {
        {"{\"cgroup\":{\"version\":2,\"path\":\"/docker/x\",\"limit\":536870912,\"usage\":41943040},"
         "\"rlimit_as\":[-1,-1],\"mem_total\":25000000000,\"mem_available\":20000000000}",
         "cgroup", "cgroup memory.max 512 MB, cgroup v2 /docker/x (used 40 MB)", 536870912LL},
        {"{\"cgroup\":{\"version\":2,\"path\":\"/\",\"limit\":-1},\"rlimit_as\":[1073741824,-1],"
         "\"mem_total\":25000000000}", "RLIMIT_AS", "RLIMIT_AS 1.0 GB", 1073741824LL},
        {"{\"mem_total\":2147483648,\"mem_available\":1073741824}", "system",
         "system memory 2.0 GB (1.0 GB available)", 2147483648LL},
        {"{}", "none", "no limit known", -1},
    };
    for (size_t i = 0; i < sizeof rows / sizeof rows[0]; i++) {
        json_t *f = json_loads(rows[i].facts, 0, NULL);
        json_t *w = memfail_limits_where(f);
        assert_non_null(w);
        assert_string_equal(json_string_value(json_object_get(w, "binding")), rows[i].binding);
        assert_string_equal(json_string_value(json_object_get(w, "sentence")), rows[i].sentence);
        if (rows[i].bytes > 0)
            assert_int_equal(json_integer_value(json_object_get(w, "binding_bytes")), rows[i].bytes);
        else
            assert_null(json_object_get(w, "binding_bytes"));
        json_decref(w);
        json_decref(f);
    }
    assert_null(memfail_limits_where(NULL));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_rlimits),
        cmocka_unit_test(test_system_limits),
        cmocka_unit_test(test_cgroup),
        cmocka_unit_test(test_killed_behind_a_prefix),
        cmocka_unit_test(test_limits_where),
        cmocka_unit_test(test_crash),
        cmocka_unit_test(test_apply),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
