/* Unit tests for tail.c. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pytest_output_721.h"
#include "base/strbuf.h"
#include "parse/tail.h"

static void test_small(void **state)
{
    (void)state;
    Tail t;
    tail_init(&t, 64);
    size_t n;
    char *s = tail_read(&t, &n);
    assert_int_equal(n, 0);
    assert_string_equal(s, "");
    free(s);
    tail_write(&t, "abc", 3);
    tail_write(&t, "def\n", 4);
    s = tail_read(&t, &n);
    assert_string_equal(s, "abcdef\n");
    assert_int_equal(n, 7);
    assert_false(tail_truncated(&t));
    assert_int_equal(tail_total(&t), 7);
    free(s);
    tail_reset(&t);
    assert_int_equal(tail_total(&t), 0);
    tail_destroy(&t);
}

/* Whatever the chunking, the ring holds the last cap bytes of the real output. */
static void test_real_output_any_split(void **state)
{
    (void)state;
    const char *text = OUT_SERIAL;
    size_t len = sizeof OUT_SERIAL - 1;
    size_t steps[] = {1, 3, 64, 1000, 100000};
    for (size_t k = 0; k < sizeof steps / sizeof steps[0]; k++) {
        Tail t;
        tail_init(&t, 1000);
        for (size_t i = 0; i < len; i += steps[k])
            tail_write(&t, text + i, steps[k] < len - i ? steps[k] : len - i);
        assert_int_equal(tail_total(&t), len);
        assert_true(tail_truncated(&t));
        size_t n;
        char *s = tail_read(&t, &n);
        /* starts after the first newline of the kept 1000 bytes (it is within the first 250) */
        const char *kept = text + len - 1000;
        const char *nl = memchr(kept, '\n', 250);
        assert_non_null(nl);
        assert_int_equal(n, (size_t)(text + len - (nl + 1)));
        assert_memory_equal(s, nl + 1, n);
        assert_true(strstr(s, "2 errors in 0.03s") != NULL);
        free(s);
        tail_destroy(&t);
    }
}

static void test_utf8_start(void **state)
{
    (void)state;
    Tail t;
    tail_init(&t, 8);
    /* "aa" "xé€x" "yzw" = 61 61 78 c3a9 e282ac 78 797a77 (12 bytes); the last 8 start with a9,
     * the second byte of é: it is dropped */
    tail_write(&t, "aa", 2);
    tail_write(&t, "x\xc3\xa9\xe2\x82\xac" "x", 7);
    tail_write(&t, "yzw", 3);
    size_t n;
    char *s = tail_read(&t, &n);
    assert_string_equal(s, "\xe2\x82\xac" "xyzw");
    assert_int_equal(n, 7);
    free(s);
    tail_write(&t, "\x82\xac" "abcdef", 8); /* all continuation bytes at the start: dropped */
    s = tail_read(&t, &n);
    assert_string_equal(s, "abcdef");
    free(s);
    tail_destroy(&t);
}

static void test_line_start(void **state)
{
    (void)state;
    Tail t;
    tail_init(&t, 16);
    tail_write(&t, "0123456789abcdefghij\nklmnop", 27); /* kept: "efghij\nklmnop" + ... */
    char *s = tail_read(&t, NULL);
    /* kept = "bcdefghij\nklmnop" (16); newline at 9 > 16/4: keep from the start */
    assert_string_equal(s, "bcdefghij\nklmnop");
    free(s);
    tail_write(&t, "\nQRSTUVWXYZ12345", 16);
    s = tail_read(&t, NULL);
    assert_string_equal(s, "QRSTUVWXYZ12345"); /* newline at 0: dropped */
    free(s);
    tail_destroy(&t);
}

/* The buffer grows with the output, up to cap; the bytes held never move or change. */
static void test_grows_with_output(void **state)
{
    (void)state;
    Tail t;
    tail_init(&t, 64 * 1024);
    assert_null(t.buf);
    size_t len;
    char *s = tail_read(&t, &len);
    assert_string_equal(s, "");
    free(s);
    StrBuf want = STRBUF_INIT;
    char line[64];
    for (int i = 0; want.len < 10000; i++) {
        int n = snprintf(line, sizeof line, "line %d\n", i);
        tail_write(&t, line, (size_t)n);
        strbuf_append(&want, line, (size_t)n);
        assert_true(t.alloc >= t.len && t.alloc <= 16384);
    }
    assert_int_equal(t.alloc, 16384);
    s = tail_read(&t, &len);
    assert_int_equal(len, want.len);
    assert_memory_equal(s, want.data, len);
    free(s);
    for (int i = 0; want.len < 200000; i++) {
        int n = snprintf(line, sizeof line, "more %d\n", i);
        tail_write(&t, line, (size_t)n);
        strbuf_append(&want, line, (size_t)n);
    }
    assert_int_equal(t.alloc, 64 * 1024);
    assert_true(tail_truncated(&t));
    s = tail_read(&t, &len);
    assert_true(len > 60000 && len <= 64 * 1024);
    assert_memory_equal(s, want.data + want.len - len, len); /* the newest bytes, whole lines */
    assert_true(s[0] == 'm' && s[len - 1] == '\n');
    free(s);
    strbuf_destroy(&want);
    tail_destroy(&t);
}

static void test_100mb(void **state)
{
    (void)state;
    enum { CHUNK = 65536 + 7 };
    char *chunk = malloc(CHUNK);
    assert_non_null(chunk);
    for (size_t i = 0; i < CHUNK; i++)
        chunk[i] = (char)('a' + i % 26);
    Tail t;
    tail_init(&t, 64 * 1024);
    unsigned long long total = 0;
    while (total < 100ull * 1024 * 1024) {
        tail_write(&t, chunk, CHUNK);
        total += CHUNK;
    }
    tail_write(&t, "\nEND\n", 5);
    assert_int_equal(tail_total(&t), total + 5);
    size_t n;
    char *s = tail_read(&t, &n);
    assert_true(n <= 64 * 1024);
    assert_true(n >= 64 * 1024 - 3);
    assert_string_equal(s + n - 5, "\nEND\n");
    free(s);
    tail_destroy(&t);
    free(chunk);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_small),
        cmocka_unit_test(test_real_output_any_split),
        cmocka_unit_test(test_utf8_start),
        cmocka_unit_test(test_line_start),
        cmocka_unit_test(test_grows_with_output),
        cmocka_unit_test(test_100mb),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
