/* Unit tests for textclean.c: literal terminal control sequences, terminated, unterminated,
 * broken and split, in their 7-bit and C1 forms. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdlib.h>
#include <string.h>

#include "base/textclean.h"

/* textclean() of a literal (with its length, so NUL bytes count) as a string. */
static char *clean(const char *s, size_t n, unsigned flags)
{
    char *buf = malloc(n + 1);
    memcpy(buf, s, n);
    size_t m = textclean(buf, n, flags);
    assert_true(m <= n);
    buf[m] = '\0';
    return buf;
}

#define CHECK(in, flags, want)                                   \
    do {                                                         \
        char *got_ = clean(in, sizeof(in) - 1, flags);           \
        assert_string_equal(got_, want);                         \
        free(got_);                                              \
    } while (0)

static void test_plain_text_unchanged(void **state)
{
    (void)state;
    CHECK("assert 3 == 4\té ü/1 \xe2\x9c\x97", 0, "assert 3 == 4\té ü/1 \xe2\x9c\x97");
    CHECK("", 0, "");
    CHECK("\xc2\xa0nbsp \xc3\xa9", 0, "\xc2\xa0nbsp \xc3\xa9"); /* C2 A0 is not a C1 control */
}

static void test_csi(void **state)
{
    (void)state;
    CHECK("\x1b[31mFAILED\x1b[0m [ 25%]", 0, "FAILED [ 25%]");
    CHECK("a\x1b[?25lb\x1b[2Jc\x1b[1;1Hd", 0, "abcd");
    CHECK("a\x1b[38:2::255:0:0mb\x1b[ qc", 0, "abc"); /* colon params, intermediate */
}

static void test_control_strings(void **state)
{
    (void)state;
    CHECK("a\x1b]0;pwned title\x07" "b", 0, "ab");                   /* OSC 0, BEL */
    CHECK("a\x1b]52;c;ZXZpbCBjbGlwYm9hcmQ=\x1b\\b", 0, "ab");         /* OSC 52, ST */
    CHECK("a\x1bP1$r0m\x1b\\b", 0, "ab");                             /* DCS */
    CHECK("a\x1bXsos\x1b\\b\x1b^pm\x1b\\c\x1b_apc\x1b\\d", 0, "abcd"); /* SOS, PM, APC */
    CHECK("a\x1b]8;;http://x\x1b\\link\x1b]8;;\x1b\\b", 0, "alinkb"); /* hyperlink */
    CHECK("a\x1b]0;t\x18" "b\x1b]0;t\x1a" "c", 0, "abc");             /* CAN, SUB abort */
    CHECK("a\x1b]0;t\x1b[31mb", 0, "ab"); /* an ESC inside ends it and starts its own */
}

static void test_single_character_and_nf(void **state)
{
    (void)state;
    CHECK("a\x1b" "7b\x1b" "8c\x1b" "cd\x1b=e\x1bMf", 0, "abcdef");
    CHECK("a\x1b(Bb\x1b#8c\x1b%Gd", 0, "abcd");
}

static void test_c1_forms(void **state)
{
    (void)state;
    CHECK("a\xc2\x9b" "31mb", 0, "ab");                        /* CSI */
    CHECK("a\xc2\x9d" "0;title\xc2\x9c" "b", 0, "ab");         /* OSC ... ST */
    CHECK("a\xc2\x9d" "52;c;QQ==\x07" "b", 0, "ab");
    CHECK("a\xc2\x90" "dcs\x1b\\b\xc2\x9f" "apc\xc2\x9c" "c", 0, "abc");
    CHECK("a\xc2\x85" "b\xc2\x8d" "c", 0, "abc");             /* NEL, RI alone */
}

static void test_c0_controls(void **state)
{
    (void)state;
    CHECK("a\0b\bc\rd\x07" "e\x0b" "f\x0cg\x7fh\ti\nj", 0, "abcdefgh\tij");
    CHECK("a\nb\r\nc", TEXTCLEAN_KEEP_LF, "a\nb\nc");
    CHECK("a\nb\r\nc", TEXTCLEAN_KEEP_CR, "ab\rc");
    CHECK("a\nb\r\nc", TEXTCLEAN_KEEP_LF | TEXTCLEAN_KEEP_CR, "a\nb\r\nc");
}

static void test_unterminated(void **state)
{
    (void)state;
    CHECK("a\x1b]52;c;ZXZpbA==", 0, "a");
    CHECK("a\x1b]0;title\nnext line", TEXTCLEAN_KEEP_LF, "a");
    CHECK("a\x1bP1$r", 0, "a");
    CHECK("a\x1b[31", 0, "a");
    CHECK("a\x1b[", 0, "a");
    CHECK("a\x1b", 0, "a");
    CHECK("a\x1b(", 0, "a");
    CHECK("a\xc2", 0, "a");
    CHECK("a\xc2\x9b", 0, "a");
}

static void test_broken_sequences(void **state)
{
    (void)state;
    CHECK("a\x1b[31\x07mb", 0, "amb");        /* BEL inside CSI: CSI ends, BEL dropped */
    CHECK("a\x1b[1;\xc3\xa9" "b", 0, "a\xc3\xa9" "b");
    CHECK("a\x1b\x1b[31mb", 0, "ab");         /* ESC ESC */
    CHECK("a\x1b\xc3\xa9", 0, "a\xc3\xa9");   /* ESC before a non-ASCII byte: alone */
    /* removing a sequence never joins a lone 0xC2 and a 0x9D into a C1 OSC (found by fuzzing) */
    CHECK("a\xc2\x1b!:\x9d" "0;t\x07" "b", 0, "a\x9d" "0;tb");
    CHECK("a\xc2\x1b[m\x9b" "2J", 0, "a\x9b" "2J");
}

/* The cleaner never reads past n: a sequence split across two buffers loses its first part
 * in the first and shows no control byte of its second part. */
static void test_split(void **state)
{
    (void)state;
    static const char text[] = "ok \x1b]52;c;ZXZpbA==\x07 done \x1b[31mred\x1b[0m";
    for (size_t cut = 0; cut <= sizeof text - 1; cut++) {
        char *a = clean(text, cut, 0);
        char *b = clean(text + cut, sizeof text - 1 - cut, 0);
        for (const char *p = a; *p; p++)
            assert_true((unsigned char)*p >= 0x20 && *p != 0x7f);
        for (const char *p = b; *p; p++)
            assert_true((unsigned char)*p >= 0x20 && *p != 0x7f);
        free(a);
        free(b);
    }
    char buf[] = "ab\x1b]0;x\x07";
    assert_int_equal(textclean(buf, 2, 0), 2);
    assert_memory_equal(buf, "ab\x1b", 3);
}

static void test_display_utf8_and_cap(void **state)
{
    (void)state;
    StrBuf sb = STRBUF_INIT;
    assert_false(textclean_display(&sb, "a\xff" "b\x1b]0;t\x07\xc3", 10, 0, 0));
    assert_string_equal(strbuf_cstr(&sb), "a\xef\xbf\xbd" "b\xef\xbf\xbd");
    strbuf_reset(&sb);

    /* cut at a character boundary, with the marker naming the full size */
    assert_true(textclean_display(&sb, "abc\xc3\xa9" "def", 9, 0, 4));
    assert_string_equal(strbuf_cstr(&sb), "abc [... cut: 9 bytes in all]");
    strbuf_reset(&sb);
    assert_false(textclean_display(&sb, "abcdef", 6, 0, 6));
    assert_string_equal(strbuf_cstr(&sb), "abcdef");
    strbuf_reset(&sb);
    /* a replacement character counts its 3 bytes against the cap (runs are appended whole) */
    assert_true(textclean_display(&sb, "ab\xff" "c", 4, 0, 4));
    assert_string_equal(strbuf_cstr(&sb), "ab [... cut: 4 bytes in all]");
    strbuf_reset(&sb);
    assert_true(textclean_display(&sb, "a\xff" "bc", 4, 0, 5));
    assert_string_equal(strbuf_cstr(&sb), "a\xef\xbf\xbd" "b [... cut: 4 bytes in all]");
    strbuf_reset(&sb);
    assert_false(textclean_display(&sb, "", 0, 0, 0));
    assert_string_equal(strbuf_cstr(&sb), "");
    strbuf_reset(&sb);

    /* a 10 MB message: at most TEXTCLEAN_MESSAGE_MAX bytes of text */
    size_t big = 10u << 20;
    char *m = malloc(big);
    memset(m, 'x', big);
    memcpy(m, "\x1b[31m", 5);
    assert_true(textclean_display(&sb, m, big, TEXTCLEAN_KEEP_LF, TEXTCLEAN_MESSAGE_MAX));
    assert_true(sb.len <= TEXTCLEAN_MESSAGE_MAX + 40);
    assert_int_equal(strspn(strbuf_cstr(&sb), "x"), TEXTCLEAN_MESSAGE_MAX);
    assert_string_equal(strbuf_cstr(&sb) + TEXTCLEAN_MESSAGE_MAX, " [... cut: 10485760 bytes in all]");
    free(m);
    strbuf_destroy(&sb);

    char *d = textclean_dup("a\x1b[1mb\nc", 9, TEXTCLEAN_KEEP_LF, 0);
    assert_string_equal(d, "ab\nc");
    free(d);
    d = textclean_dup("", 0, 0, 0);
    assert_string_equal(d, "");
    free(d);
}

/* Display text has no bidi control (they reorder what is shown around them): U+061C, U+200E/F,
 * U+202A..U+202E, U+2066..U+2069 go; characters beside them in the same blocks stay; removing one
 * never joins bytes into another. */
static void test_display_drops_bidi_controls(void **state)
{
    (void)state;
    static const char in[] = "a\xd8\x9c" "b\xe2\x80\x8e\xe2\x80\x8f" "c\xe2\x80\xaa\xe2\x80\xab\xe2\x80\xac"
                             "\xe2\x80\xad\xe2\x80\xae" "d\xe2\x81\xa6\xe2\x81\xa7\xe2\x81\xa8\xe2\x81\xa9" "e";
    char *d = textclean_dup(in, sizeof in - 1, 0, 0);
    assert_string_equal(d, "abcde");
    free(d);
    /* neighbours kept: U+061B, U+200D (joiner), U+2010, U+202F, U+2065, U+206A, U+2713, U+00E9 */
    static const char keep[] = "\xd8\x9b\xe2\x80\x8d\xe2\x80\x90\xe2\x80\xaf\xe2\x81\xa5\xe2\x81\xaa\xe2\x9c\x93\xc3\xa9";
    d = textclean_dup(keep, sizeof keep - 1, 0, 0);
    assert_string_equal(d, keep);
    free(d);
    /* a cut-off U+202E around a removed one: U+FFFD for each byte; one made whole by removing an
     * escape sequence between its bytes: removed too */
    static const char split[] = "\xe2\x80" "\xe2\x80\xae" "\xae|\xe2\x80\x1b[1m\xae|";
    d = textclean_dup(split, sizeof split - 1, 0, 0);
    assert_string_equal(d, "\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd||");
    free(d);
    /* a node id whose parameter id is a bidi override, capped as an id is */
    static const char id[] = "t.py::t[\xe2\x80\xae" "evil]";
    d = textclean_dup(id, sizeof id - 1, 0, TEXTCLEAN_ID_MAX);
    assert_string_equal(d, "t.py::t[evil]");
    free(d);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_plain_text_unchanged),
        cmocka_unit_test(test_csi),
        cmocka_unit_test(test_control_strings),
        cmocka_unit_test(test_single_character_and_nf),
        cmocka_unit_test(test_c1_forms),
        cmocka_unit_test(test_c0_controls),
        cmocka_unit_test(test_unterminated),
        cmocka_unit_test(test_broken_sequences),
        cmocka_unit_test(test_split),
        cmocka_unit_test(test_display_utf8_and_cap),
        cmocka_unit_test(test_display_drops_bidi_controls),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
