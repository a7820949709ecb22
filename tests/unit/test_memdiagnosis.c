/* test_memdiagnosis: a run's memory story: the tree RSS reported between progress pushes, the
 * `memory` object of the result, headroom readings (first and latest) and the diagnosis
 * of a death, on fake /proc trees and synthetic samples. */
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <unistd.h>

#include <cmocka.h>

#include "testutil.h"

#include "mem/memdiagnosis.h"

static void close_loop(uv_loop_t *loop, Sampler *s)
{
    sampler_close(s, NULL);
    uv_run(loop, UV_RUN_DEFAULT);
    assert_int_equal(uv_loop_close(loop), 0);
}

static void test_high_between_pushes(void **state)
{
    (void)state;
    uv_loop_t loop;
    assert_int_equal(uv_loop_init(&loop), 0);
    Sampler *s = sampler_new(&loop, "", getpid(), 10, NULL, NULL);
    MemDiagnosis m;
    memdiagnosis_init(&m);
    sampler_add(s, 0, 100 * MIB, 0, 1);
    assert_true(memdiagnosis_note_sample(&m, s));
    sampler_add(s, 10, 100 * MIB, 0, 1);
    assert_false(memdiagnosis_note_sample(&m, s)); /* unchanged */
    sampler_add(s, 20, 300 * MIB, 0, 1);
    assert_true(memdiagnosis_note_sample(&m, s));
    sampler_add(s, 30, 120 * MIB, 0, 1);
    assert_true(memdiagnosis_note_sample(&m, s));
    /* the spike between two pushes is what the push reports */
    assert_int_equal(memdiagnosis_take_high(&m), 300 * MIB);
    /* the next period starts from the latest sample */
    assert_int_equal(memdiagnosis_take_high(&m), 120 * MIB);
    memdiagnosis_destroy(&m);
    close_loop(&loop, s);
}

static void test_memory_json(void **state)
{
    (void)state;
    json_t *none = memdiagnosis_json(NULL);
    assert_int_equal(json_object_size(none), 0);
    json_decref(none);

    uv_loop_t loop;
    assert_int_equal(uv_loop_init(&loop), 0);
    Sampler *s = sampler_new(&loop, "", getpid(), 10, NULL, NULL);
    sampler_add(s, 0, 100 * MIB, 200 * MIB, 1);
    sampler_add(s, 10, 150 * MIB, 250 * MIB, 3);
    json_t *j = memdiagnosis_json(s);
    assert_int_equal(json_integer_value(json_object_get(j, "peak_rss")), 150 * MIB);
    assert_int_equal(json_integer_value(json_object_get(j, "peak_vms")), 250 * MIB);
    assert_int_equal(json_integer_value(json_object_get(j, "peak_nproc")), 3);
    assert_int_equal(json_integer_value(json_object_get(j, "samples")), 2);
    assert_null(json_object_get(j, "peak_test")); /* no test was running */
    json_t *tl = json_object_get(j, "timeline");
    assert_int_equal(json_array_size(tl), 2);
    assert_int_equal(json_integer_value(json_object_get(json_array_get(tl, 1), "t_ms")), 10);
    assert_int_equal(json_integer_value(json_object_get(json_array_get(tl, 1), "rss")), 150 * MIB);
    assert_true(json_is_array(json_object_get(j, "top_growth")));
    json_decref(j);
    close_loop(&loop, s);
}

/* #27 item 1: with exact peaks the run's peak is theirs (or pytest's own VmHWM, when higher),
 * not the samples' tree sum, which stays tree_peak_rss. */
static void test_exact_peak(void **state)
{
    (void)state;
    uv_loop_t loop;
    assert_int_equal(uv_loop_init(&loop), 0);
    Sampler *s = sampler_new(&loop, "", getpid(), 10, NULL, NULL);
    sampler_add(s, 0, 100 * MIB, 300 * MIB, 3);
    sampler_add(s, 10, 390 * MIB, 500 * MIB, 3); /* a sample caught a worker's spike beside the others */
    json_t *j = memdiagnosis_json(s);
    assert_int_equal(json_integer_value(json_object_get(j, "peak_rss")), 390 * MIB);
    assert_string_equal(json_string_value(json_object_get(j, "peak_source")), "samples");
    assert_int_equal(json_integer_value(json_object_get(j, "tree_peak_rss")), 390 * MIB);
    memdiagnosis_exact_peak(j, s, NULL); /* nothing exact: the samples stay */
    assert_int_equal(json_integer_value(json_object_get(j, "peak_rss")), 390 * MIB);
    json_t *exact = json_pack("{s:I, s:s, s:s}", "rss", (json_int_t)(333 * MIB), "nodeid", "t.py::spike", "when", "test");
    memdiagnosis_exact_peak(j, s, exact);
    assert_int_equal(json_integer_value(json_object_get(j, "peak_rss")), 333 * MIB);
    assert_string_equal(json_string_value(json_object_get(j, "peak_source")), "plugin");
    assert_string_equal(json_string_value(json_object_get(j, "peak_test")), "t.py::spike");
    assert_string_equal(json_string_value(json_object_get(j, "peak_when")), "test");
    assert_int_equal(json_integer_value(json_object_get(j, "tree_peak_rss")), 390 * MIB);
    assert_int_equal(json_integer_value(json_object_get(j, "peak_vms")), 500 * MIB);
    json_decref(exact);
    /* an exact peak above the sampled VMS raises it (VMS >= RSS) */
    exact = json_pack("{s:I, s:s, s:s}", "rss", (json_int_t)(600 * MIB), "nodeid", "t.py::a", "when", "before");
    memdiagnosis_exact_peak(j, s, exact);
    assert_int_equal(json_integer_value(json_object_get(j, "peak_vms")), 600 * MIB);
    assert_string_equal(json_string_value(json_object_get(j, "peak_when")), "before");
    json_decref(exact);
    json_decref(j);
    close_loop(&loop, s);

    /* pytest's own VmHWM at a sample (this process's, read from the real /proc) more than 1 MiB
     * above every exact peak: the peak is that process's, outside the measured tests. */
    assert_int_equal(uv_loop_init(&loop), 0);
    s = sampler_new(&loop, "", getpid(), 10, NULL, NULL);
    assert_int_equal(sampler_sample_now(s), 0);
    assert_true(sampler_peak_hwm(s) > 2 * MIB);
    j = memdiagnosis_json(s);
    exact = json_pack("{s:I, s:s, s:s}", "rss", (json_int_t)MIB / 2, "nodeid", "t.py::small", "when", "test");
    memdiagnosis_exact_peak(j, s, exact);
    assert_int_equal(json_integer_value(json_object_get(j, "peak_rss")), (json_int_t)sampler_peak_hwm(s));
    assert_string_equal(json_string_value(json_object_get(j, "peak_when")), "pytest");
    assert_null(json_object_get(j, "peak_test"));
    json_decref(exact);
    json_decref(j);
    close_loop(&loop, s);
}

static void test_headroom_first_and_latest(void **state)
{
    (void)state;
    MemDiagnosis m;
    memdiagnosis_init(&m);
    assert_null(memdiagnosis_headroom(&m, 1000));
    memdiagnosis_track_headroom(&m, fixture("v2-limit"), 31337); /* no such process: nothing */
    assert_null(memdiagnosis_headroom(&m, 1000));
    memdiagnosis_track_headroom(&m, fixture("v2-limit"), 4242);
    assert_true(m.have_before);
    assert_false(m.have_last);
    assert_ptr_equal(memdiagnosis_headroom(&m, 1000), &m.before);
    memdiagnosis_track_headroom(&m, fixture("v2-limit"), 4242);
    assert_true(m.have_last);
    assert_ptr_equal(memdiagnosis_headroom(&m, 1000), &m.last);
    memdiagnosis_destroy(&m);
}

static void test_diagnose(void **state)
{
    (void)state;
    MemDiagnosis m;
    memdiagnosis_init(&m);
    memdiagnosis_track_headroom(&m, fixture("v2-limit"), 4242);  /* oom_kill 0 */
    memdiagnosis_track_headroom(&m, fixture("v2-limit"), 4242);

    /* a cancelled run killed by us is no death to explain */
    json_t *mem = json_object();
    MemDiagnosisEnd cancelled = {.spawned = true, .cancelled = true, .term_signal = SIGKILL,
                           .same_cgroup_pid = 4242};
    memdiagnosis_diagnose(&m, fixture("v2-oomkill"), &cancelled, mem);
    assert_null(json_object_get(mem, "diagnosis"));

    /* SIGKILL with the cgroup's oom_kill counter up after the run (read from a process of
     * the same cgroup): the cgroup OOM killer */
    MemDiagnosisEnd killed = {.spawned = true, .term_signal = SIGKILL, .same_cgroup_pid = 4242};
    memdiagnosis_diagnose(&m, fixture("v2-oomkill"), &killed, mem);
    assert_string_equal(json_string_value(json_object_get(mem, "diagnosis_cause")), "cgroup_oom_kill");
    assert_true(json_is_true(json_object_get(mem, "memory_related")));
    assert_true(json_string_length(json_object_get(mem, "diagnosis")) > 0);
    json_decref(mem);
    memdiagnosis_destroy(&m);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_high_between_pushes),
        cmocka_unit_test(test_memory_json),
        cmocka_unit_test(test_exact_peak),
        cmocka_unit_test(test_headroom_first_and_latest),
        cmocka_unit_test(test_diagnose),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
