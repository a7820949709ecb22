/* Unit tests for mpscan: object extents from headers, in any split, with a size cap. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>
#include <msgpack.h>

#include "rpc/mpscan.h"

static void test_every_type_has_its_packed_length(void **state)
{
    (void)state;
    msgpack_sbuffer sb;
    msgpack_sbuffer_init(&sb);
    msgpack_packer pk;
    msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
    msgpack_pack_array(&pk, 20);
    msgpack_pack_nil(&pk);
    msgpack_pack_true(&pk);
    msgpack_pack_int(&pk, -5);
    msgpack_pack_int64(&pk, -5000000000LL);
    msgpack_pack_uint8(&pk, 200);
    msgpack_pack_uint16(&pk, 60000);
    msgpack_pack_uint32(&pk, 4000000000u);
    msgpack_pack_uint64(&pk, UINT64_MAX);
    msgpack_pack_float(&pk, 1.5f);
    msgpack_pack_double(&pk, 2.5);
    msgpack_pack_str_with_body(&pk, "abc", 3);
    char long_str[300];
    memset(long_str, 'x', sizeof long_str);
    msgpack_pack_str_with_body(&pk, long_str, sizeof long_str);
    msgpack_pack_bin_with_body(&pk, long_str, 70);
    msgpack_pack_ext_with_body(&pk, long_str, 4, 1);   /* fixext4 */
    msgpack_pack_ext_with_body(&pk, long_str, 300, 2); /* ext16 */
    msgpack_pack_map(&pk, 1);
    msgpack_pack_str_with_body(&pk, "k", 1);
    msgpack_pack_array(&pk, 0);
    msgpack_pack_array(&pk, 17);
    for (int i = 0; i < 17; i++)
        msgpack_pack_int(&pk, i);
    msgpack_pack_map(&pk, 0);
    msgpack_pack_array(&pk, 0);
    msgpack_pack_false(&pk);
    size_t whole = sb.size;
    msgpack_pack_int(&pk, 7); /* the next object */
    assert_int_equal(mpscan_object_len((const unsigned char *)sb.data, sb.size), whole);
    assert_int_equal(mpscan_object_len((const unsigned char *)sb.data, whole - 1), 0);
    /* Byte by byte: MORE until the last byte, then END exactly there. */
    MpScan s;
    mpscan_init(&s, UINT64_MAX);
    for (size_t i = 0; i < whole; i++) {
        size_t used = 0;
        MpScanResult r = mpscan_feed(&s, (const unsigned char *)sb.data + i, 1, &used);
        assert_int_equal(used, 1);
        assert_int_equal(r, i + 1 == whole ? MPSCAN_END : MPSCAN_MORE);
    }
    msgpack_sbuffer_destroy(&sb);
}

static void test_invalid_byte_and_cap(void **state)
{
    (void)state;
    MpScan s;
    size_t used = 0;
    mpscan_init(&s, 100);
    const unsigned char bad[] = {0x92, 0x01, 0xc1, 0x01};
    assert_int_equal(mpscan_feed(&s, bad, sizeof bad, &used), MPSCAN_INVALID);
    assert_int_equal(used, 3);
    assert_int_equal(mpscan_feed(&s, bad + 3, 1, &used), MPSCAN_END); /* starts afresh */
    /* str8 of 200 bytes declares more than 100: reported once, right after the header, then
     * the object is still followed to its end. */
    unsigned char big[2 + 200 + 1] = {0xd9, 200};
    big[202] = 0x05;
    assert_int_equal(mpscan_feed(&s, big, sizeof big, &used), MPSCAN_OVERSIZE);
    assert_int_equal(used, 2);
    assert_int_equal(mpscan_declared(&s), 202);
    assert_int_equal(mpscan_feed(&s, big + 2, sizeof big - 2, &used), MPSCAN_END);
    assert_int_equal(used, 200);
    /* A map32 header claiming 3G entries declares (at least) 6G bytes. */
    const unsigned char map32[] = {0xdf, 0xc0, 0x00, 0x00, 0x00};
    assert_int_equal(mpscan_feed(&s, map32, sizeof map32, &used), MPSCAN_OVERSIZE);
    assert_true(mpscan_declared(&s) > 6000000000ULL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_every_type_has_its_packed_length),
        cmocka_unit_test(test_invalid_byte_and_cap),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
