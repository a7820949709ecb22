/* rpc: msgpack-RPC framing and dispatch over an abstract byte stream. */
#include "rpc.h"

#include <msgpack.h>
#include <stdlib.h>
#include <string.h>

#include "mpjson.h"

enum { MSG_REQUEST = 0, MSG_RESPONSE = 1, MSG_NOTIFICATION = 2 };

typedef struct {
    char *name;
    RpcHandler handler;
    void *ud;
} RpcMethod;

typedef struct RpcPending {
    uint32_t id;
    RpcResponseFn done;
    void *ud;
    struct RpcPending *next;
} RpcPending;

struct Rpc {
    msgpack_unpacker unpacker;
    msgpack_unpacked unpacked;
    RpcWriteFn write;
    RpcLogFn log;
    void *ud;
    RpcMethod *methods;
    size_t nmethods;
    RpcPending *pending;
    uint32_t next_id;
    uint64_t dispatched;
    uint64_t malformed;
    int resyncing; /* inside a run of undecodable bytes */
    /* Messages are packed here, then copied out at their exact size: one long-lived buffer
     * instead of a fresh 8 KiB sbuffer per message (the co-process sends several a second). */
    msgpack_sbuffer out;
};

/* Above this, the packing buffer is given back after use (a huge result is rare). */
#define RPC_OUT_KEEP (256u << 10)

static void rpc_logf(Rpc *rpc, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void rpc_logf(Rpc *rpc, const char *fmt, ...)
{
    StrBuf sb = STRBUF_INIT;
    va_list ap;
    va_start(ap, fmt);
    strbuf_vprintf(&sb, fmt, ap);
    va_end(ap);
    if (rpc->log)
        rpc->log(rpc->ud, strbuf_cstr(&sb));
    strbuf_destroy(&sb);
}

Rpc *rpc_new(RpcWriteFn write, RpcLogFn log, void *ud)
{
    Rpc *rpc = xcalloc(1, sizeof *rpc);
    if (!msgpack_unpacker_init(&rpc->unpacker, 64 * 1024)) {
        free(rpc);
        return NULL;
    }
    msgpack_unpacked_init(&rpc->unpacked);
    msgpack_sbuffer_init(&rpc->out);
    rpc->write = write;
    rpc->log = log;
    rpc->ud = ud;
    rpc->next_id = 1;
    return rpc;
}

void rpc_free(Rpc *rpc)
{
    if (!rpc)
        return;
    while (rpc->pending) {
        RpcPending *p = rpc->pending;
        rpc->pending = p->next;
        if (p->done)
            p->done(p->ud, NULL, NULL);
        free(p);
    }
    for (size_t i = 0; i < rpc->nmethods; i++)
        free(rpc->methods[i].name);
    free(rpc->methods);
    msgpack_unpacked_destroy(&rpc->unpacked);
    msgpack_unpacker_destroy(&rpc->unpacker);
    msgpack_sbuffer_destroy(&rpc->out);
    free(rpc);
}

void rpc_register(Rpc *rpc, const char *name, RpcHandler handler, void *ud)
{
    for (size_t i = 0; i < rpc->nmethods; i++) {
        if (strcmp(rpc->methods[i].name, name) == 0) {
            rpc->methods[i].handler = handler;
            rpc->methods[i].ud = ud;
            return;
        }
    }
    rpc->methods = xrealloc(rpc->methods, (rpc->nmethods + 1) * sizeof *rpc->methods);
    rpc->methods[rpc->nmethods++] = (RpcMethod){xstrdup(name), handler, ud};
}

uint64_t rpc_dispatched(const Rpc *rpc)
{
    return rpc->dispatched;
}

uint64_t rpc_malformed(const Rpc *rpc)
{
    return rpc->malformed;
}

/* The packer for the next message, writing into rpc->out (emptied). */
static void begin_message(Rpc *rpc, msgpack_packer *pk)
{
    msgpack_sbuffer_clear(&rpc->out);
    msgpack_packer_init(pk, &rpc->out, msgpack_sbuffer_write);
}

/* Hands a copy of the packed bytes to the writer (which owns the copy). */
static void send_packed(Rpc *rpc)
{
    size_t len = rpc->out.size;
    char *data = xmalloc(len);
    memcpy(data, rpc->out.data, len);
    if (rpc->out.alloc > RPC_OUT_KEEP) {
        msgpack_sbuffer_destroy(&rpc->out);
        msgpack_sbuffer_init(&rpc->out);
    }
    rpc->write(rpc->ud, data, len);
}

static void pack_cstr(msgpack_packer *pk, const char *s)
{
    size_t len = strlen(s);
    msgpack_pack_str(pk, len);
    msgpack_pack_str_body(pk, s, len);
}

static void send_response(Rpc *rpc, uint64_t id, const char *error, json_t *result)
{
    msgpack_packer pk;
    begin_message(rpc, &pk);
    msgpack_pack_array(&pk, 4);
    msgpack_pack_int(&pk, MSG_RESPONSE);
    msgpack_pack_uint64(&pk, id);
    if (error)
        pack_cstr(&pk, error);
    else
        msgpack_pack_nil(&pk);
    if (error)
        msgpack_pack_nil(&pk);
    else
        mpjson_pack(&pk, result);
    send_packed(rpc);
}

static void send_call(Rpc *rpc, int type, uint32_t id, const char *method, json_t *params)
{
    msgpack_packer pk;
    begin_message(rpc, &pk);
    msgpack_pack_array(&pk, type == MSG_REQUEST ? 4 : 3);
    msgpack_pack_int(&pk, type);
    if (type == MSG_REQUEST)
        msgpack_pack_uint32(&pk, id);
    pack_cstr(&pk, method);
    if (params)
        mpjson_pack(&pk, params);
    else
        msgpack_pack_array(&pk, 0);
    send_packed(rpc);
}

void rpc_notify(Rpc *rpc, const char *method, json_t *params)
{
    send_call(rpc, MSG_NOTIFICATION, 0, method, params);
    json_decref(params);
}

void rpc_request(Rpc *rpc, const char *method, json_t *params, RpcResponseFn done, void *ud)
{
    RpcPending *p = xcalloc(1, sizeof *p);
    p->id = rpc->next_id++;
    p->done = done;
    p->ud = ud;
    p->next = rpc->pending;
    rpc->pending = p;
    send_call(rpc, MSG_REQUEST, p->id, method, params);
    json_decref(params);
}

static const RpcMethod *find_method(const Rpc *rpc, const msgpack_object *name)
{
    for (size_t i = 0; i < rpc->nmethods; i++) {
        const char *m = rpc->methods[i].name;
        if (strlen(m) == name->via.str.size && memcmp(m, name->via.str.ptr, name->via.str.size) == 0)
            return &rpc->methods[i];
    }
    return NULL;
}

static int is_string(const msgpack_object *o)
{
    return o->type == MSGPACK_OBJECT_STR || o->type == MSGPACK_OBJECT_BIN;
}

/* Runs a request or notification; `id` is meaningful only when `reply` is set. */
static void dispatch_call(Rpc *rpc, int reply, uint64_t id, const msgpack_object *method,
                          const msgpack_object *params)
{
    if (!is_string(method)) {
        rpc->malformed++;
        rpc_logf(rpc, "rpc: method name is not a string");
        if (reply)
            send_response(rpc, id, "invalid message: method name must be a string", NULL);
        return;
    }
    if (params->type != MSGPACK_OBJECT_ARRAY) {
        rpc->malformed++;
        rpc_logf(rpc, "rpc: params of %.*s are not an array", (int)method->via.str.size,
                 method->via.str.ptr);
        if (reply)
            send_response(rpc, id, "invalid message: params must be an array", NULL);
        return;
    }
    const RpcMethod *m = find_method(rpc, method);
    if (!m) {
        StrBuf msg = STRBUF_INIT;
        strbuf_printf(&msg, "unknown method: %.*s", (int)method->via.str.size, method->via.str.ptr);
        rpc_logf(rpc, "rpc: %s", strbuf_cstr(&msg));
        if (reply)
            send_response(rpc, id, strbuf_cstr(&msg), NULL);
        strbuf_destroy(&msg);
        return;
    }
    json_t *args = mpjson_from_msgpack(params);
    StrBuf err = STRBUF_INIT;
    rpc->dispatched++;
    json_t *result = m->handler(m->ud, args, &err);
    json_decref(args);
    if (reply) {
        if (result)
            send_response(rpc, id, NULL, result);
        else
            send_response(rpc, id, err.len ? strbuf_cstr(&err) : "failed", NULL);
    }
    json_decref(result);
    strbuf_destroy(&err);
}

static void dispatch_response(Rpc *rpc, uint64_t id, const msgpack_object *error,
                              const msgpack_object *result)
{
    RpcPending **pp = &rpc->pending;
    while (*pp && (*pp)->id != id)
        pp = &(*pp)->next;
    if (!*pp) {
        rpc->malformed++;
        rpc_logf(rpc, "rpc: response to unknown request id %llu", (unsigned long long)id);
        return;
    }
    RpcPending *p = *pp;
    *pp = p->next;
    if (p->done) {
        json_t *e = error->type == MSGPACK_OBJECT_NIL ? NULL : mpjson_from_msgpack(error);
        json_t *r = e ? NULL : mpjson_from_msgpack(result);
        p->done(p->ud, e, r ? r : (e ? NULL : json_null()));
        json_decref(e);
        json_decref(r);
    }
    free(p);
}

static int read_id(const msgpack_object *o, uint64_t *id)
{
    if (o->type != MSGPACK_OBJECT_POSITIVE_INTEGER)
        return -1;
    *id = o->via.u64;
    return 0;
}

static void dispatch_message(Rpc *rpc, const msgpack_object *msg)
{
    if (msg->type != MSGPACK_OBJECT_ARRAY || msg->via.array.size < 3 ||
        msg->via.array.ptr[0].type != MSGPACK_OBJECT_POSITIVE_INTEGER) {
        rpc->malformed++;
        rpc_logf(rpc, "rpc: ignoring a message that is not a msgpack-RPC array");
        return;
    }
    const msgpack_object *a = msg->via.array.ptr;
    uint32_t size = msg->via.array.size;
    uint64_t type = a[0].via.u64;
    uint64_t id = 0;
    if (type == MSG_REQUEST && size == 4 && read_id(&a[1], &id) == 0) {
        dispatch_call(rpc, 1, id, &a[2], &a[3]);
    } else if (type == MSG_NOTIFICATION && size == 3) {
        dispatch_call(rpc, 0, 0, &a[1], &a[2]);
    } else if (type == MSG_RESPONSE && size == 4 && read_id(&a[1], &id) == 0) {
        dispatch_response(rpc, id, &a[2], &a[3]);
    } else {
        rpc->malformed++;
        rpc_logf(rpc, "rpc: malformed message (type %llu, %u elements)", (unsigned long long)type,
                 size);
        if (type == MSG_REQUEST && size >= 2 && read_id(&a[1], &id) == 0)
            send_response(rpc, id, "invalid message: a request is [0, id, method, params]", NULL);
    }
}

/* Skips the byte that failed to decode and restarts parsing right after it, so valid
 * messages behind garbage in the same chunk still arrive. A partial message that the
 * garbage interrupted is lost: it cannot be told apart from the garbage. */
static void resync(Rpc *rpc, const char *why)
{
    msgpack_unpacker *u = &rpc->unpacker;
    if (u->off < u->used)
        u->off++;
    msgpack_unpacker_reset(u);
    if (rpc->resyncing)
        return; /* one log line per run of garbage */
    rpc->resyncing = 1;
    rpc->malformed++;
    rpc_logf(rpc, "rpc: %s; skipping to the next decodable message", why);
}

/* Copies `len` bytes into the unpacker's buffer. */
static void buffer_bytes(msgpack_unpacker *u, const char *data, size_t len)
{
    if (msgpack_unpacker_buffer_capacity(u) < len && !msgpack_unpacker_reserve_buffer(u, len))
        abort();
    memcpy(msgpack_unpacker_buffer(u), data, len);
    msgpack_unpacker_buffer_consumed(u, len);
}

/* Dispatches every complete message buffered; keeps a partial one for later. */
static void drain(Rpc *rpc)
{
    msgpack_unpacker *u = &rpc->unpacker;
    for (;;) {
        msgpack_unpack_return ret = msgpack_unpacker_next(u, &rpc->unpacked);
        if (ret == MSGPACK_UNPACK_SUCCESS) {
            rpc->resyncing = 0;
            dispatch_message(rpc, &rpc->unpacked.data);
        } else if (ret == MSGPACK_UNPACK_PARSE_ERROR) {
            resync(rpc, "undecodable msgpack bytes");
        } else if (ret == MSGPACK_UNPACK_NOMEM_ERROR) {
            resync(rpc, "message too large to decode");
        } else {
            break;
        }
    }
    if (msgpack_unpacker_message_size(u) > RPC_MAX_MESSAGE) {
        rpc->malformed++;
        rpc_logf(rpc, "rpc: message larger than the 64 MiB limit; discarding it");
        msgpack_unpacker_destroy(u);
        if (!msgpack_unpacker_init(u, 64 * 1024))
            abort();
    }
}

void rpc_feed(Rpc *rpc, const char *data, size_t len)
{
    buffer_bytes(&rpc->unpacker, data, len);
    drain(rpc);
}
