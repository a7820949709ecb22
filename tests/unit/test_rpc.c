/* Unit tests for rpc: framing under every split of the byte stream, dispatch, error
 * responses, malformed input and responses to our own requests. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <msgpack.h>

#include "rpc/mpjson.h"
#include "rpc/rpc.h"

typedef struct {
    msgpack_unpacker out;    /* what the endpoint wrote */
    msgpack_unpacked msg;
    int logs;
    int calls;
    json_t *last_params;
    int responses;
    json_t *resp_error;
    json_t *resp_result;
} Peer;

static void peer_write(void *ud, char *data, size_t len)
{
    Peer *p = ud;
    msgpack_unpacker_reserve_buffer(&p->out, len);
    memcpy(msgpack_unpacker_buffer(&p->out), data, len);
    msgpack_unpacker_buffer_consumed(&p->out, len);
    free(data);
}

static void peer_log(void *ud, const char *msg)
{
    (void)msg;
    ((Peer *)ud)->logs++;
}

static json_t *h_echo(void *ud, json_t *params, StrBuf *err)
{
    Peer *p = ud;
    (void)err;
    p->calls++;
    json_decref(p->last_params);
    p->last_params = json_incref(params);
    return json_incref(params);
}

static json_t *h_fail(void *ud, json_t *params, StrBuf *err)
{
    (void)ud;
    (void)params;
    strbuf_puts(err, "params[1] must be a string");
    return NULL;
}

static Rpc *setup_peer(Peer *p)
{
    memset(p, 0, sizeof *p);
    msgpack_unpacker_init(&p->out, 1024);
    msgpack_unpacked_init(&p->msg);
    Rpc *rpc = rpc_new(peer_write, peer_log, p);
    rpc_register(rpc, "echo", h_echo, p);
    rpc_register(rpc, "fail", h_fail, p);
    return rpc;
}

static void teardown_peer(Peer *p, Rpc *rpc)
{
    rpc_free(rpc);
    json_decref(p->last_params);
    msgpack_unpacked_destroy(&p->msg);
    msgpack_unpacker_destroy(&p->out);
}

/* Next message the endpoint wrote, as JSON text, or NULL if none. Caller frees. */
static char *next_out(Peer *p)
{
    if (msgpack_unpacker_next(&p->out, &p->msg) != MSGPACK_UNPACK_SUCCESS)
        return NULL;
    json_t *j = mpjson_from_msgpack(&p->msg.data);
    char *s = json_dumps(j, JSON_COMPACT);
    json_decref(j);
    return s;
}

static void expect_out(Peer *p, const char *json)
{
    char *s = next_out(p);
    assert_non_null(s);
    assert_string_equal(s, json);
    free(s);
}

static void expect_no_out(Peer *p)
{
    char *s = next_out(p);
    assert_null(s);
}

/* Packs a request [0, id, method, params-from-json]. */
static void pack_request(msgpack_sbuffer *sb, uint32_t id, const char *method, const char *params)
{
    msgpack_packer pk;
    msgpack_packer_init(&pk, sb, msgpack_sbuffer_write);
    msgpack_pack_array(&pk, 4);
    msgpack_pack_int(&pk, 0);
    msgpack_pack_uint32(&pk, id);
    msgpack_pack_str_with_body(&pk, method, strlen(method));
    json_t *j = json_loads(params, JSON_DECODE_ANY, NULL);
    mpjson_pack(&pk, j);
    json_decref(j);
}

static void test_request_one_chunk(void **state)
{
    (void)state;
    Peer p;
    Rpc *rpc = setup_peer(&p);
    msgpack_sbuffer sb;
    msgpack_sbuffer_init(&sb);
    pack_request(&sb, 7, "echo", "[1, \"two\", {\"k\": [true, null, 1.5]}]");
    rpc_feed(rpc, sb.data, sb.size);
    expect_out(&p, "[1,7,null,[1,\"two\",{\"k\":[true,null,1.5]}]]");
    expect_no_out(&p);
    assert_int_equal(p.calls, 1);
    msgpack_sbuffer_destroy(&sb);
    teardown_peer(&p, rpc);
}

static void test_byte_at_a_time(void **state)
{
    (void)state;
    Peer p;
    Rpc *rpc = setup_peer(&p);
    msgpack_sbuffer sb;
    msgpack_sbuffer_init(&sb);
    pack_request(&sb, 1, "echo", "[\"a long enough string to span many reads\"]");
    pack_request(&sb, 2, "echo", "[2]");
    for (size_t i = 0; i < sb.size; i++) {
        rpc_feed(rpc, sb.data + i, 1);
        /* Nothing may be answered before the first message's last byte. */
        if (i + 1 < sb.size && p.calls == 0)
            expect_no_out(&p);
    }
    assert_int_equal(p.calls, 2);
    expect_out(&p, "[1,1,null,[\"a long enough string to span many reads\"]]");
    expect_out(&p, "[1,2,null,[2]]");
    assert_int_equal(p.logs, 0);
    msgpack_sbuffer_destroy(&sb);
    teardown_peer(&p, rpc);
}

static void test_every_split_point(void **state)
{
    (void)state;
    msgpack_sbuffer sb;
    msgpack_sbuffer_init(&sb);
    pack_request(&sb, 1, "echo", "[\"x\"]");
    pack_request(&sb, 2, "echo", "[{\"a\": 1}]");
    pack_request(&sb, 3, "echo", "[]");
    for (size_t cut = 0; cut <= sb.size; cut++) {
        Peer p;
        Rpc *rpc = setup_peer(&p);
        rpc_feed(rpc, sb.data, cut);
        rpc_feed(rpc, sb.data + cut, sb.size - cut);
        expect_out(&p, "[1,1,null,[\"x\"]]");
        expect_out(&p, "[1,2,null,[{\"a\":1}]]");
        expect_out(&p, "[1,3,null,[]]");
        expect_no_out(&p);
        teardown_peer(&p, rpc);
    }
    msgpack_sbuffer_destroy(&sb);
}

static void test_unknown_method_and_handler_error(void **state)
{
    (void)state;
    Peer p;
    Rpc *rpc = setup_peer(&p);
    msgpack_sbuffer sb;
    msgpack_sbuffer_init(&sb);
    pack_request(&sb, 4, "nope", "[]");
    pack_request(&sb, 5, "fail", "[1, 2]");
    rpc_feed(rpc, sb.data, sb.size);
    expect_out(&p, "[1,4,\"unknown method: nope\",null]");
    expect_out(&p, "[1,5,\"params[1] must be a string\",null]");
    msgpack_sbuffer_destroy(&sb);
    teardown_peer(&p, rpc);
}

static void test_malformed_messages_keep_serving(void **state)
{
    (void)state;
    Peer p;
    Rpc *rpc = setup_peer(&p);
    msgpack_sbuffer sb;
    msgpack_sbuffer_init(&sb);
    msgpack_packer pk;
    msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
    msgpack_pack_str_with_body(&pk, "hello", 5);           /* not an array */
    msgpack_pack_array(&pk, 3);                              /* request of 3 elements */
    msgpack_pack_int(&pk, 0);
    msgpack_pack_int(&pk, 9);
    msgpack_pack_str_with_body(&pk, "echo", 4);
    msgpack_pack_array(&pk, 4);                              /* params not an array */
    msgpack_pack_int(&pk, 0);
    msgpack_pack_int(&pk, 10);
    msgpack_pack_str_with_body(&pk, "echo", 4);
    msgpack_pack_map(&pk, 0);
    msgpack_pack_array(&pk, 4);                              /* method not a string */
    msgpack_pack_int(&pk, 0);
    msgpack_pack_int(&pk, 11);
    msgpack_pack_int(&pk, 42);
    msgpack_pack_array(&pk, 0);
    msgpack_pack_array(&pk, 4);                              /* id is a string: refused */
    msgpack_pack_int(&pk, 0);
    msgpack_pack_str_with_body(&pk, "id", 2);
    msgpack_pack_str_with_body(&pk, "echo", 4);
    msgpack_pack_array(&pk, 0);
    pack_request(&sb, 12, "echo", "[\"still here\"]");
    rpc_feed(rpc, sb.data, sb.size);
    expect_out(&p, "[1,9,\"invalid message: a request is [0, id, method, params]\",null]");
    expect_out(&p, "[1,10,\"invalid message: params must be an array\",null]");
    expect_out(&p, "[1,11,\"invalid message: method name must be a string\",null]");
    expect_out(&p, "[1,\"id\",\"invalid message: the request id must be a non-negative integer\",null]");
    expect_out(&p, "[1,12,null,[\"still here\"]]");
    expect_no_out(&p);
    assert_int_equal(rpc_malformed(rpc), 5);
    assert_true(p.logs >= 5);
    assert_int_equal(p.calls, 1);
    msgpack_sbuffer_destroy(&sb);
    teardown_peer(&p, rpc);
}

static void test_garbage_bytes_resynchronise(void **state)
{
    (void)state;
    Peer p;
    Rpc *rpc = setup_peer(&p);
    msgpack_sbuffer sb;
    msgpack_sbuffer_init(&sb);
    pack_request(&sb, 1, "echo", "[1]");
    /* 0xc1 is never valid msgpack: a long run of it must be skipped in linear time. */
    for (int i = 0; i < 100000; i++)
        msgpack_sbuffer_write(&sb, "\xc1", 1);
    pack_request(&sb, 2, "echo", "[2]");
    rpc_feed(rpc, sb.data, sb.size);
    expect_out(&p, "[1,1,null,[1]]");
    expect_out(&p, "[1,2,null,[2]]");
    assert_int_equal(p.logs, 1); /* one line per run of garbage, not per byte */
    /* The same garbage split byte by byte. */
    for (size_t i = 0; i < sb.size; i++)
        rpc_feed(rpc, sb.data + i, 1);
    expect_out(&p, "[1,1,null,[1]]");
    expect_out(&p, "[1,2,null,[2]]");
    msgpack_sbuffer_destroy(&sb);
    teardown_peer(&p, rpc);
}

static void test_notification_gets_no_response(void **state)
{
    (void)state;
    Peer p;
    Rpc *rpc = setup_peer(&p);
    msgpack_sbuffer sb;
    msgpack_sbuffer_init(&sb);
    msgpack_packer pk;
    msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
    msgpack_pack_array(&pk, 3);
    msgpack_pack_int(&pk, 2);
    msgpack_pack_str_with_body(&pk, "echo", 4);
    msgpack_pack_array(&pk, 1);
    msgpack_pack_int(&pk, 5);
    rpc_feed(rpc, sb.data, sb.size);
    assert_int_equal(p.calls, 1);
    assert_int_equal(json_integer_value(json_array_get(p.last_params, 0)), 5);
    expect_no_out(&p);
    msgpack_sbuffer_destroy(&sb);
    teardown_peer(&p, rpc);
}

static void on_response(void *ud, json_t *error, json_t *result)
{
    Peer *p = ud;
    p->responses++;
    json_decref(p->resp_error);
    json_decref(p->resp_result);
    p->resp_error = json_incref(error);
    p->resp_result = json_incref(result);
}

static void feed_response(Rpc *rpc, uint32_t id, const char *error, int result)
{
    msgpack_sbuffer sb;
    msgpack_sbuffer_init(&sb);
    msgpack_packer pk;
    msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
    msgpack_pack_array(&pk, 4);
    msgpack_pack_int(&pk, 1);
    msgpack_pack_uint32(&pk, id);
    if (error)
        msgpack_pack_str_with_body(&pk, error, strlen(error));
    else
        msgpack_pack_nil(&pk);
    msgpack_pack_int(&pk, result);
    rpc_feed(rpc, sb.data, sb.size);
    msgpack_sbuffer_destroy(&sb);
}

static void test_outgoing_requests_match_responses_by_id(void **state)
{
    (void)state;
    Peer p;
    Rpc *rpc = setup_peer(&p);
    rpc_request(rpc, "nvim_get_api_info", NULL, on_response, &p);
    rpc_request(rpc, "nvim_exec_lua", json_pack("[s, []]", "return 1"), on_response, &p);
    rpc_notify(rpc, "nvim_exec_lua", json_pack("[s, [i]]", "x", 3));
    expect_out(&p, "[0,1,\"nvim_get_api_info\",[]]");
    expect_out(&p, "[0,2,\"nvim_exec_lua\",[\"return 1\",[]]]");
    expect_out(&p, "[2,\"nvim_exec_lua\",[\"x\",[3]]]");
    feed_response(rpc, 2, NULL, 99);            /* answers may come out of order */
    assert_int_equal(p.responses, 1);
    assert_null(p.resp_error);
    assert_int_equal(json_integer_value(p.resp_result), 99);
    feed_response(rpc, 1, "boom", 0);
    assert_int_equal(p.responses, 2);
    assert_string_equal(json_string_value(p.resp_error), "boom");
    feed_response(rpc, 1, NULL, 0);             /* already answered: logged, ignored */
    assert_int_equal(p.responses, 2);
    assert_int_equal(rpc_malformed(rpc), 1);
    rpc_request(rpc, "never_answered", NULL, on_response, &p);
    json_decref(p.resp_error);
    json_decref(p.resp_result);
    p.resp_error = p.resp_result = NULL;
    rpc_free(rpc);                              /* pending callback runs with (NULL, NULL) */
    assert_int_equal(p.responses, 3);
    assert_null(p.resp_error);
    assert_null(p.resp_result);
    json_decref(p.last_params);
    msgpack_unpacked_destroy(&p.msg);
    msgpack_unpacker_destroy(&p.out);
}


/* Every id a caller can send is echoed with an error: a blocking caller must not hang. */
static void test_bad_ids_are_answered(void **state)
{
    (void)state;
    Peer p;
    Rpc *rpc = setup_peer(&p);
    msgpack_sbuffer sb;
    msgpack_sbuffer_init(&sb);
    msgpack_packer pk;
    msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
    for (int i = 0; i < 5; i++) {
        msgpack_pack_array(&pk, 4);
        msgpack_pack_int(&pk, 0);
        if (i == 0)
            msgpack_pack_int(&pk, -1);
        else if (i == 1)
            msgpack_pack_double(&pk, 1.5);
        else if (i == 2)
            msgpack_pack_str_with_body(&pk, "x", 1);
        else if (i == 3)
            msgpack_pack_nil(&pk);
        else { /* a container id, 30 levels deep: not echoed (the answer would be too deep) */
            for (int d = 0; d < 30; d++)
                msgpack_pack_array(&pk, 1);
            msgpack_pack_int(&pk, 7);
        }
        msgpack_pack_str_with_body(&pk, "echo", 4);
        msgpack_pack_array(&pk, 0);
    }
    rpc_feed(rpc, sb.data, sb.size);
    const char *err = "\"invalid message: the request id must be a non-negative integer\"";
    char want[256];
    const char *ids[] = {"-1", "1.5", "\"x\"", "null", "null"};
    for (int i = 0; i < 5; i++) {
        snprintf(want, sizeof want, "[1,%s,%s,null]", ids[i], err);
        expect_out(&p, want);
    }
    expect_no_out(&p);
    assert_int_equal(p.calls, 0);
    msgpack_sbuffer_destroy(&sb);
    teardown_peer(&p, rpc);
}

/* Params nested deeper than msgpack-c decodes (32 levels): answered by id, and the stream
 * goes on at the next message. */
static void test_too_deep_is_answered(void **state)
{
    (void)state;
    Peer p;
    Rpc *rpc = setup_peer(&p);
    msgpack_sbuffer sb;
    msgpack_sbuffer_init(&sb);
    msgpack_packer pk;
    msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
    msgpack_pack_array(&pk, 4);
    msgpack_pack_int(&pk, 0);
    msgpack_pack_int(&pk, 21);
    msgpack_pack_str_with_body(&pk, "echo", 4);
    for (int i = 0; i < 40; i++)
        msgpack_pack_array(&pk, 1);
    msgpack_pack_int(&pk, 1);
    pack_request(&sb, 22, "echo", "[2]");
    rpc_feed(rpc, sb.data, sb.size);
    expect_out(&p, "[1,21,\"invalid message: cannot decode it (nested deeper than 32 levels?)\",null]");
    expect_out(&p, "[1,22,null,[2]]");
    expect_no_out(&p);
    assert_int_equal(p.calls, 1);
    msgpack_sbuffer_destroy(&sb);
    teardown_peer(&p, rpc);
}

/* A request over the 64 MiB cap: answered with an error, skipped to its declared end (a
 * request hidden in its body is NOT run), and the message after it is served. */
static void test_oversized_request_is_skipped_exactly(void **state)
{
    (void)state;
    Peer p;
    Rpc *rpc = setup_peer(&p);
    msgpack_sbuffer inner;
    msgpack_sbuffer_init(&inner);
    pack_request(&inner, 99, "echo", "[\"hidden\"]");
    size_t big = RPC_MAX_MESSAGE + (1u << 20);
    char *body = calloc(1, big);
    assert_non_null(body);
    for (size_t off = 0; off + inner.size <= big; off += 4096)
        memcpy(body + off, inner.data, inner.size);
    msgpack_sbuffer sb;
    msgpack_sbuffer_init(&sb);
    msgpack_packer pk;
    msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
    msgpack_pack_array(&pk, 4);
    msgpack_pack_int(&pk, 0);
    msgpack_pack_int(&pk, 5);
    msgpack_pack_str_with_body(&pk, "echo", 4);
    msgpack_pack_array(&pk, 1);
    msgpack_pack_str(&pk, big);
    rpc_feed(rpc, sb.data, sb.size);
    for (size_t off = 0; off < big; off += 65536)
        rpc_feed(rpc, body + off, big - off < 65536 ? big - off : 65536);
    msgpack_sbuffer_clear(&sb);
    pack_request(&sb, 6, "echo", "[\"after\"]");
    rpc_feed(rpc, sb.data, sb.size);
    char *s = next_out(&p);
    assert_non_null(s);
    assert_non_null(strstr(s, "[1,5,\"invalid message: it declares "));
    assert_non_null(strstr(s, "over the 64 MiB limit\",null]"));
    free(s);
    expect_out(&p, "[1,6,null,[\"after\"]]");
    expect_no_out(&p);
    assert_int_equal(p.calls, 1);
    assert_int_equal(p.logs, 1);
    free(body);
    msgpack_sbuffer_destroy(&sb);
    msgpack_sbuffer_destroy(&inner);
    teardown_peer(&p, rpc);
}

/* Bytes that decode as msgpack but are no RPC message (here 100,000 positive fixints, and a
 * map32 header claiming 3G entries): one log line for the run, in one chunk or byte by byte. */
static void test_garbage_is_logged_once_per_run(void **state)
{
    (void)state;
    msgpack_sbuffer sb;
    msgpack_sbuffer_init(&sb);
    for (int i = 0; i < 100000; i++)
        msgpack_sbuffer_write(&sb, "\x01", 1);
    msgpack_sbuffer_write(&sb, "\xdf\xc0\x00\x00\x00", 5);
    pack_request(&sb, 2, "echo", "[2]");
    for (int split = 0; split < 2; split++) {
        Peer p;
        Rpc *rpc = setup_peer(&p);
        if (split)
            for (size_t i = 0; i < sb.size; i++)
                rpc_feed(rpc, sb.data + i, 1);
        else
            rpc_feed(rpc, sb.data, sb.size);
        expect_out(&p, "[1,2,null,[2]]");
        assert_int_equal(p.logs, 1);
        assert_int_equal(rpc_malformed(rpc), 1);
        teardown_peer(&p, rpc);
    }
    msgpack_sbuffer_destroy(&sb);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_request_one_chunk),
        cmocka_unit_test(test_byte_at_a_time),
        cmocka_unit_test(test_every_split_point),
        cmocka_unit_test(test_unknown_method_and_handler_error),
        cmocka_unit_test(test_malformed_messages_keep_serving),
        cmocka_unit_test(test_garbage_bytes_resynchronise),
        cmocka_unit_test(test_notification_gets_no_response),
        cmocka_unit_test(test_outgoing_requests_match_responses_by_id),
        cmocka_unit_test(test_bad_ids_are_answered),
        cmocka_unit_test(test_too_deep_is_answered),
        cmocka_unit_test(test_oversized_request_is_skipped_exactly),
        cmocka_unit_test(test_garbage_is_logged_once_per_run),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
