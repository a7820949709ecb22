/* test_memreport: the memory report read once and serialised per section: the sections of
 * memreport_json() are those of memreport_build(), and the process part alone (what `mem`
 * reads for the other processes it lists) is the same as the report's. Fake /proc trees. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

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
        static const char *const keys[] = {"pid", "name", "process", "tree", "limits", "system",
                                           "cgroup", "constraints", "binding", "verdict", "sentence"};
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
        cmocka_unit_test(test_missing_process),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
