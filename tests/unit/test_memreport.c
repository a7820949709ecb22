/* test_memreport: the memory report read once and serialised per section: the sections of
 * memreport_json() are those of memreport_build(), and the process part alone (what `mem`
 * reads for the other processes it lists) is the same as the report's. Fake /proc trees. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "testutil.h"

#include "mem/memreport.h"

static void test_sections_from_one_read(void **state)
{
    (void)state;
    static const char *const roots[] = {"seed-rlimit-as", "v1-nolimit", "v2-oomkill", "mapcount"};
    for (size_t i = 0; i < sizeof roots / sizeof roots[0]; i++) {
        MemFacts f;
        memreport_facts_init(&f);
        assert_int_equal(memreport_read(fixture(roots[i]), 4242, &f), 0);
        json_t *once = memreport_json(&f);
        int err = 1;
        json_t *built = memreport_build(fixture(roots[i]), 4242, &err);
        assert_int_equal(err, 0);
        assert_true(json_equal(once, built));
        static const char *const keys[] = {"pid", "name", "process", "tree", "limits", "system", "cgroup",
                                           "constraints", "binding", "verdict", "sentence", "sections"};
        assert_int_equal(json_object_size(once), sizeof keys / sizeof keys[0]);
        for (size_t k = 0; k < sizeof keys / sizeof keys[0]; k++)
            assert_non_null(json_object_get(once, keys[k]));

        MemProcess p;
        memreport_process_init(&p);
        assert_int_equal(memreport_read_process(fixture(roots[i]), 4242, &p), 0);
        json_t *pj = memreport_process_json(&p), *tj = memreport_tree_json(&p);
        assert_true(json_equal(pj, json_object_get(once, "process")));
        assert_true(json_equal(tj, json_object_get(once, "tree")));
        json_decref(pj);
        json_decref(tj);
        memreport_process_destroy(&p);
        json_decref(once);
        json_decref(built);
        memreport_facts_destroy(&f);
    }
}

/* The report's sections: the one rendering of the report that `pytestmon mem` prints and
 * :PytestMemory lists (test_ui_results.py checks the editor shows them as they are). This
 * pins their titles, labels and units. */
static void test_sections_fields_and_units(void **state)
{
    (void)state;
    if (sysconf(_SC_PAGESIZE) != 4096)
        skip(); /* the fixture's statm is in 4 KiB pages */
    int err;
    json_t *r = memreport_build(fixture("seed-rlimit-as"), 4242, &err);
    assert_non_null(r);
    static const char *const want[] = {
        "Constraints",
        "  RLIMIT_AS          exceeded 124.3%  1.2 GB of 1.0 GB (address space)",
        "  max_map_count      ok         0.2%  120 of 65530 (memory mappings)",
        "  system             ok        80.0%  18.8 GB of 23.5 GB (system memory)",
        "Process 4242 (python3)",
        "  rss                155 MB",
        "  vms (VmSize)       1.2 GB",
        "  shared             39 MB",
        "  VmData             1.0 GB",
        "  peak rss (VmHWM)   156 MB",
        "  VmPeak             1.2 GB",
        "  swap (VmSwap)      0 kB",
        "  pss                146 MB",
        "  uss                145 MB",
        "  mappings           120",
        "  threads            2",
        "  tree               4 processes, rss 167 MB, vms 1.3 GB",
        "Limits (soft / hard)",
        "  address_space      1.0 GB / 1.0 GB",
        "  data               unlimited / unlimited",
        "  resident_set       unlimited / unlimited",
        "  locked_memory      8 MB / 8 MB",
        "  stack              8 MB / unlimited",
        "System",
        "  total              23.5 GB",
        "  available          4.7 GB",
        "  used               19.5 GB (80.0%)",
        "  swap               none",
        "  overcommit_memory  0",
        "  committed          54 MB of CommitLimit 11.8 GB",
        "  pressure           some avg10=1.25 avg60=0.50",
        "cgroup v2 /user.slice/user-1000.slice/session-2.scope",
        "  usage              700 MB",
        "  limit              none",
        "  peak               858 MB",
        "  swap               0 kB of unlimited",
        "  oom_kill           0",
    };
    StrBuf got = STRBUF_INIT, expect = STRBUF_INIT;
    size_t i, k;
    json_t *s, *row;
    json_array_foreach(json_object_get(r, "sections"), i, s) {
        strbuf_printf(&got, "%s\n", json_string_value(json_object_get(s, "title")));
        json_array_foreach(json_object_get(s, "rows"), k, row) {
            strbuf_printf(&got, MEMREPORT_ROW_FORMAT "\n", json_string_value(json_object_get(row, "label")),
                          json_string_value(json_object_get(row, "value")));
            json_t *v = json_object_get(row, "verdict");
            assert_true(v == NULL || i == 0); /* only constraints carry a verdict */
        }
    }
    for (i = 0; i < sizeof want / sizeof want[0]; i++)
        strbuf_printf(&expect, "%s\n", want[i]);
    assert_string_equal(strbuf_cstr(&got), strbuf_cstr(&expect));
    /* the CLI prints exactly these after its head line and the sentence */
    char *text = memreport_render_text(r);
    const char *body = strchr(strchr(text, '\n') + 1, '\n') + 1;
    assert_string_equal(body, strbuf_cstr(&expect));
    free(text);
    strbuf_destroy(&got);
    strbuf_destroy(&expect);
    json_decref(r);
}

static void test_missing_process(void **state)
{
    (void)state;
    MemProcess p;
    memreport_process_init(&p);
    assert_int_equal(memreport_read_process(fixture("seed-rlimit-as"), 31337, &p), -ENOENT);
    memreport_process_destroy(&p);
    MemFacts f;
    memreport_facts_init(&f);
    assert_int_equal(memreport_read(fixture("seed-rlimit-as"), 31337, &f), -ENOENT);
    memreport_facts_destroy(&f);
    memreport_facts_destroy(&f); /* twice: harmless */
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_sections_from_one_read),
        cmocka_unit_test(test_sections_fields_and_units),
        cmocka_unit_test(test_missing_process),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
