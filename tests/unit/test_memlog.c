/* Unit tests for memlog (lines written at once, rotation bound, off on failure) and
 * history (bounded, owns log files, leak trend). */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "history.h"
#include "mem/memlog.h"
#include "base/strbuf.h"
#include "testutil.h"

static char dir[TMP_PATH_MAX];

static int setup(void **state)
{
    (void)state;
    tmp_template(dir, "pytestmon-memlog");
    assert_non_null(mkdtemp(dir));
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    StrBuf cmd = STRBUF_INIT;
    strbuf_printf(&cmd, "rm -rf '%s'", dir);
    assert_int_equal(system(strbuf_cstr(&cmd)), 0);
    strbuf_destroy(&cmd);
    return 0;
}

static off_t file_size(const char *p)
{
    struct stat st;
    return stat(p, &st) == 0 ? st.st_size : -1;
}

static void test_lines_are_on_disk_at_once_and_rotate(void **state)
{
    (void)state;
    StrBuf path = STRBUF_INIT, old = STRBUF_INIT;
    strbuf_printf(&path, "%s/memory.jsonl", dir);
    strbuf_printf(&old, "%s.1", strbuf_cstr(&path));
    MemLog log;
    memlog_init(&log, 1000);
    assert_int_equal(memlog_open(&log, strbuf_cstr(&path)), 0);
    json_t *rec = json_pack("{s:s, s:i}", "event", "run_end", "rss", 123456);
    assert_int_equal(memlog_append(&log, rec), 0);
    /* Visible to another reader before any close or flush. */
    FILE *f = fopen(strbuf_cstr(&path), "r");
    char line[256];
    assert_non_null(fgets(line, sizeof line, f));
    fclose(f);
    assert_string_equal(line, "{\"event\":\"run_end\",\"rss\":123456}\n");
    for (int i = 0; i < 200; i++)
        assert_int_equal(memlog_append(&log, rec), 0);
    assert_true(file_size(strbuf_cstr(&path)) <= 1000);
    assert_true(file_size(strbuf_cstr(&old)) > 900);
    assert_true(file_size(strbuf_cstr(&old)) <= 1000);
    json_decref(rec);
    memlog_destroy(&log);
    strbuf_destroy(&path);
    strbuf_destroy(&old);
}

static void test_unwritable_log_is_off_with_reason(void **state)
{
    (void)state;
    MemLog log;
    memlog_init(&log, 0);
    assert_int_equal(memlog_open(&log, "/dev/full"), 0);
    json_t *rec = json_pack("{s:s}", "event", "x");
    assert_int_equal(memlog_append(&log, rec), -ENOSPC);
    assert_non_null(strstr(log.error, "No space left on device"));
    assert_int_equal(memlog_append(&log, rec), -EBADF); /* stays off, says so */
    json_decref(rec);
    memlog_destroy(&log);
    memlog_init(&log, 0);
    assert_true(memlog_open(&log, "/nonexistent/dir/memory.jsonl") < 0);
    assert_non_null(strstr(log.error, "cannot open"));
    memlog_destroy(&log);
}

static json_t *result(int id, const char *args, int co_rss, int peak)
{
    return json_pack("{s:i, s:[s], s:i, s:i, s:{s:i}}", "run_id", id, "args", args, "coprocess_rss",
                     co_rss, "editor_rss", 50 << 20, "memory", "peak_rss", peak);
}

static void test_history_bounded_and_owns_logs(void **state)
{
    (void)state;
    History h;
    history_init(&h, 2);
    StrBuf log1 = STRBUF_INIT;
    strbuf_printf(&log1, "%s/run-1.log", dir);
    FILE *f = fopen(strbuf_cstr(&log1), "w");
    fclose(f);
    json_t *r1 = result(1, "-q", 1 << 20, 1 << 20);
    json_object_set_new(r1, "log_path", json_string(strbuf_cstr(&log1)));
    history_add(&h, r1);
    history_add(&h, result(2, "-q", 1 << 20, 1 << 20));
    assert_int_equal(access(strbuf_cstr(&log1), F_OK), 0);
    history_add(&h, result(3, "-q", 1 << 20, 1 << 20));
    assert_int_equal(access(strbuf_cstr(&log1), F_OK), -1); /* dropped with its run */
    assert_null(history_get(&h, 1));
    json_t *got = history_get(&h, 3);
    assert_non_null(got);
    assert_int_equal(json_integer_value(json_object_get(got, "run_id")), 3);
    assert_string_equal(json_string_value(json_array_get(json_object_get(got, "args"), 0)), "-q");
    json_decref(got);
    json_t *list = history_list(&h);
    assert_int_equal(json_array_size(list), 2);
    assert_int_equal(json_integer_value(json_object_get(json_array_get(list, 0), "run_id")), 3);
    json_decref(list);
    history_set_capacity(&h, 1);
    assert_int_equal(h.n, 1);
    history_destroy(&h);
    strbuf_destroy(&log1);
}

/* history_add() keeps the tree; history_compact() turns it into text. Readers see the same
 * document either way, and what they get is theirs to change. */
static void test_history_compacts_later(void **state)
{
    (void)state;
    History h;
    history_init(&h, 3);
    history_add(&h, result(1, "-q", 1 << 20, 7 << 20));
    history_add(&h, result(2, "-x", 1 << 20, 8 << 20));
    assert_non_null(h.runs[1].tree);
    assert_null(h.runs[1].doc);
    json_t *copy = history_get(&h, 2);
    json_object_set_new(copy, "run_id", json_integer(99)); /* a copy: the entry keeps 2 */
    json_decref(copy);
    json_t *before = history_get(&h, 2);
    assert_int_equal(json_integer_value(json_object_get(before, "run_id")), 2);
    assert_int_equal(history_compact(&h), 2);
    assert_null(h.runs[1].tree);
    assert_non_null(h.runs[1].doc);
    assert_int_equal(history_compact(&h), 0); /* nothing left to do */
    json_t *after = history_get(&h, 2);
    assert_true(json_equal(before, after));
    json_t *list = history_list(&h);
    assert_int_equal(json_integer_value(json_object_get(json_array_get(list, 0), "peak_rss")), 8 << 20);
    json_decref(list);
    history_add(&h, result(3, "-q", 1 << 20, 9 << 20)); /* one tree, two texts */
    json_t *t = history_trend(&h);
    assert_int_equal(json_integer_value(json_object_get(t, "runs")), 2);
    json_decref(t);
    json_decref(before);
    json_decref(after);
    history_destroy(&h); /* frees trees and texts alike (valgrind/ASan check) */
}

static void test_trend_detects_steady_growth_only(void **state)
{
    (void)state;
    History h;
    history_init(&h, 10);
    history_add(&h, result(1, "other", 1, 1));
    for (int i = 0; i < 4; i++) /* co-process grows 4 MiB a run; peak flat */
        history_add(&h, result(2 + i, "-q", (20 + 4 * i) << 20, 100 << 20));
    json_t *t = history_trend(&h);
    assert_int_equal(json_integer_value(json_object_get(t, "runs")), 4);
    json_t *m = json_object_get(t, "metrics");
    assert_true(json_is_true(json_object_get(json_array_get(m, 0), "growing")));
    assert_true(json_is_false(json_object_get(json_array_get(m, 1), "growing")));
    assert_true(json_is_false(json_object_get(json_array_get(m, 2), "growing")));
    assert_string_equal(json_string_value(json_object_get(t, "sentence")),
                        "co-process RSS grows steadily across 4 runs with the same args");
    json_decref(t);
    /* A drop breaks "steadily". */
    history_add(&h, result(9, "-q", 10 << 20, 100 << 20));
    t = history_trend(&h);
    assert_string_equal(json_string_value(json_object_get(t, "sentence")),
                        "no steady growth across runs with the same args");
    json_decref(t);
    history_destroy(&h);
    /* Long histories are counted whole, not cut at some buffer size. */
    history_init(&h, 100);
    for (int i = 0; i < 80; i++)
        history_add(&h, result(i + 1, "-q", (20 << 20) + i * (1 << 20), 100 << 20));
    t = history_trend(&h);
    assert_int_equal(json_integer_value(json_object_get(t, "runs")), 80);
    assert_int_equal(json_integer_value(json_object_get(json_array_get(json_object_get(t, "metrics"), 0),
                                                        "last")),
                     (20 << 20) + 79 * (1 << 20));
    json_decref(t);
    history_destroy(&h);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_lines_are_on_disk_at_once_and_rotate),
        cmocka_unit_test(test_unwritable_log_is_off_with_reason),
        cmocka_unit_test(test_history_bounded_and_owns_logs),
        cmocka_unit_test(test_history_compacts_later),
        cmocka_unit_test(test_trend_detects_steady_growth_only),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
