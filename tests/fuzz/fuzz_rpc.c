/* fuzz_rpc: the msgpack-RPC byte stream into rpc_feed() and dispatch (src/rpc/rpc.c, src/rpc/mpjson.c).
 *
 * Input layout: byte 0 = largest chunk size (0: the whole stream in one rpc_feed()),
 * bytes 1..3 = seed of the generator that picks each chunk size in [1, max], the rest = the
 * byte stream the peer sends. So the fuzzer mutates both the messages and how they are split.
 * Before feeding, three requests to the peer are outstanding (ids 1..3) so that responses in
 * the stream reach their callbacks, and one notification is sent.
 * Oracles (besides ASan/UBSan/LSan): every chunk the endpoint writes must be exactly one
 * complete msgpack object that is a msgpack-RPC array, and every pending response callback runs
 * exactly once (answered by the stream or cancelled by rpc_free()). */
#include <jansson.h>
#include <msgpack.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "rpc/rpc.h"

typedef struct {
    unsigned responses_expected;
    unsigned responses_seen;
} Peer;

static void die(const char *what)
{
    fprintf(stderr, "fuzz_rpc: oracle failed: %s\n", what);
    abort();
}

/* Consumes `data`: checks that it is one complete msgpack-RPC message, then frees it. */
static void on_write(void *ud, char *data, size_t len)
{
    (void)ud;
    msgpack_unpacked u;
    msgpack_unpacked_init(&u);
    size_t off = 0;
    if (msgpack_unpack_next(&u, data, len, &off) != MSGPACK_UNPACK_SUCCESS)
        die("written bytes are not one msgpack object");
    if (off != len)
        die("written bytes hold trailing data");
    if (u.data.type != MSGPACK_OBJECT_ARRAY || u.data.via.array.size < 3)
        die("written message is not a msgpack-RPC array");
    msgpack_unpacked_destroy(&u);
    free(data);
}

static void on_log(void *ud, const char *msg)
{
    (void)ud;
    if (strlen(msg) == 0)
        die("empty log line");
}

static json_t *h_echo(void *ud, json_t *params, StrBuf *err)
{
    (void)ud;
    (void)err;
    if (!json_is_array(params))
        die("params is not an array");
    return json_incref(params);
}

static json_t *h_fail(void *ud, json_t *params, StrBuf *err)
{
    (void)ud;
    strbuf_printf(err, "failing on purpose with %zu params", json_array_size(params));
    return NULL;
}

/* Fails without a message: the endpoint must answer with its default text. */
static json_t *h_fail_silent(void *ud, json_t *params, StrBuf *err)
{
    (void)ud;
    (void)params;
    (void)err;
    return NULL;
}

/* Builds an answer with every JSON type, so mpjson_pack() sees all of them. */
static json_t *h_types(void *ud, json_t *params, StrBuf *err)
{
    (void)ud;
    (void)err;
    return json_pack("{s:O, s:i, s:f, s:b, s:n, s:s, s:[i, s]}", "params", params, "int",
                     (json_int_t)-42, "real", 0.5, "bool", 1, "null", "str", "x", "list", 1, "y");
}

static void on_response(void *ud, json_t *error, json_t *result)
{
    Peer *p = ud;
    if (error && result)
        die("response with both error and result");
    p->responses_seen++;
}

/* An array/map header claims its element count before any element arrives, and msgpack-c
 * allocates count * sizeof(msgpack_object) at once: 5 bytes (0xdd + 4-byte count) ask for up to
 * 48 GiB. On a real system that malloc() fails (or reserves untouched virtual memory) and the
 * unpacker returns MSGPACK_UNPACK_NOMEM_ERROR, which rpc.c handles by resynchronising. Model the
 * failing malloc here instead of letting ASan abort: allocations over 32 MiB return NULL (fuzz inputs are a few kB). */
const char *__asan_default_options(void);
const char *__asan_default_options(void)
{
    return "allocator_may_return_null=1:max_allocation_size_mb=32";
}

static uint32_t next_rand(uint32_t *s)
{
    *s = *s * 1103515245u + 12345u;
    return *s >> 8;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 4)
        return 0;
    unsigned max_chunk = data[0];
    uint32_t seed = (uint32_t)data[1] << 16 | (uint32_t)data[2] << 8 | data[3];
    data += 4;
    size -= 4;

    Peer peer = {0};
    Rpc *rpc = rpc_new(on_write, on_log, &peer);
    if (!rpc)
        die("rpc_new");
    rpc_register(rpc, "echo", h_echo, NULL);
    rpc_register(rpc, "fail", h_fail, NULL);
    rpc_register(rpc, "types", h_types, NULL);
    rpc_register(rpc, "silent", h_fail_silent, NULL);
    rpc_register(rpc, "ping", h_echo, NULL);
    rpc_register(rpc, "ping", h_types, NULL); /* replaces the earlier registration */
    for (int i = 0; i < 3; i++) {
        rpc_request(rpc, "peer_method", json_pack("[i]", i), on_response, &peer);
        peer.responses_expected++;
    }
    rpc_request(rpc, "no_callback", NULL, NULL, NULL);
    rpc_notify(rpc, "hello", NULL);

    size_t off = 0;
    while (off < size) {
        size_t n = size - off;
        if (max_chunk) {
            size_t want = 1 + next_rand(&seed) % max_chunk;
            if (want < n)
                n = want;
        }
        /* An exact-size heap copy, so reads past the chunk are caught. */
        char *chunk = malloc(n);
        memcpy(chunk, data + off, n);
        rpc_feed(rpc, chunk, n);
        free(chunk);
        off += n;
    }
    (void)rpc_dispatched(rpc);
    (void)rpc_malformed(rpc);
    rpc_free(rpc);
    if (peer.responses_seen != peer.responses_expected)
        die("a response callback ran twice or never");
    return 0;
}
