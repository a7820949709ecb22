/* rpc: msgpack-RPC framing and dispatch over an abstract byte stream. */
#include "rpc/rpc.h"

#include <msgpack.h>
#include <stdlib.h>
#include <string.h>

#include "rpc/mpjson.h"
#include "rpc/mpscan.h"

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
    MpScan scan;             /* extent of the message arriving now */
    char *in;                /* its bytes so far (not kept while skipping an oversized one) */
    size_t in_len, in_cap;
    int skipping;            /* the message arriving now is over RPC_MAX_MESSAGE */
    uint64_t garbage;        /* bytes of the current run of non-messages, logged when it ends */
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
    mpscan_init(&rpc->scan, RPC_MAX_MESSAGE);
    msgpack_unpacked_init(&rpc->unpacked);
    msgpack_sbuffer_init(&rpc->out);
    rpc->write = write;
    rpc->log = log;
    rpc->ud = ud;
    rpc->next_id = 1;
    return rpc;
}

static void flush_garbage(Rpc *rpc);

void rpc_free(Rpc *rpc)
{
    if (!rpc)
        return;
    flush_garbage(rpc);
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
    free(rpc->in);
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

/* `id` is the request's id object as it came (borrowed), echoed even when it is not a valid
 * id, so that a caller waiting on it hears why its request was refused. An array or map is
 * no id anybody waits on, and echoing one nested 31 levels deep would make the response deeper
 * than a decoder allows (found by fuzz_rpc): it is answered with a nil id. */
static void send_response(Rpc *rpc, const msgpack_object *id, const char *error, json_t *result)
{
    msgpack_packer pk;
    begin_message(rpc, &pk);
    msgpack_pack_array(&pk, 4);
    msgpack_pack_int(&pk, MSG_RESPONSE);
    if (id->type == MSGPACK_OBJECT_ARRAY || id->type == MSGPACK_OBJECT_MAP)
        msgpack_pack_nil(&pk);
    else
        msgpack_pack_object(&pk, *id);
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

/* Runs a request (`id` set) or a notification (`id` NULL). */
static void dispatch_call(Rpc *rpc, const msgpack_object *id, const msgpack_object *method,
                          const msgpack_object *params)
{
    if (!is_string(method)) {
        rpc->malformed++;
        rpc_logf(rpc, "rpc: method name is not a string");
        if (id)
            send_response(rpc, id, "invalid message: method name must be a string", NULL);
        return;
    }
    if (params->type != MSGPACK_OBJECT_ARRAY) {
        rpc->malformed++;
        rpc_logf(rpc, "rpc: params of %.*s are not an array", (int)method->via.str.size,
                 method->via.str.ptr);
        if (id)
            send_response(rpc, id, "invalid message: params must be an array", NULL);
        return;
    }
    const RpcMethod *m = find_method(rpc, method);
    if (!m) {
        StrBuf msg = STRBUF_INIT;
        strbuf_printf(&msg, "unknown method: %.*s", (int)method->via.str.size, method->via.str.ptr);
        rpc_logf(rpc, "rpc: %s", strbuf_cstr(&msg));
        if (id)
            send_response(rpc, id, strbuf_cstr(&msg), NULL);
        strbuf_destroy(&msg);
        return;
    }
    json_t *args = mpjson_from_msgpack(params);
    StrBuf err = STRBUF_INIT;
    rpc->dispatched++;
    json_t *result = m->handler(m->ud, args, &err);
    json_decref(args);
    if (id) {
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

/* A top-level object that is not even shaped like a msgpack-RPC message (an array whose
 * first element is a type number): counted as garbage, not answered. */
static int rpc_shaped(const msgpack_object *msg)
{
    return msg->type == MSGPACK_OBJECT_ARRAY && msg->via.array.size >= 1 &&
           msg->via.array.ptr[0].type == MSGPACK_OBJECT_POSITIVE_INTEGER;
}

static void dispatch_message(Rpc *rpc, const msgpack_object *msg)
{
    const msgpack_object *a = msg->via.array.ptr;
    uint32_t size = msg->via.array.size;
    uint64_t type = a[0].via.u64;
    uint64_t id = 0;
    if (type == MSG_REQUEST && size == 4 && read_id(&a[1], &id) == 0) {
        dispatch_call(rpc, &a[1], &a[2], &a[3]);
    } else if (type == MSG_REQUEST && size == 4) {
        rpc->malformed++;
        rpc_logf(rpc, "rpc: request id is not a non-negative integer; refused");
        send_response(rpc, &a[1], "invalid message: the request id must be a non-negative integer", NULL);
    } else if (type == MSG_NOTIFICATION && size == 3) {
        dispatch_call(rpc, NULL, &a[1], &a[2]);
    } else if (type == MSG_RESPONSE && size == 4 && read_id(&a[1], &id) == 0) {
        dispatch_response(rpc, id, &a[2], &a[3]);
    } else {
        rpc->malformed++;
        rpc_logf(rpc, "rpc: malformed message (type %llu, %u elements)", (unsigned long long)type,
                 size);
        if (type == MSG_REQUEST && size >= 2)
            send_response(rpc, &a[1], "invalid message: a request is [0, id, method, params]", NULL);
    }
}

/* Logs the run of garbage that just ended: one line per run, however long. */
static void flush_garbage(Rpc *rpc)
{
    if (!rpc->garbage)
        return;
    rpc->malformed++;
    rpc_logf(rpc, "rpc: skipped %llu bytes that are not msgpack-RPC messages",
             (unsigned long long)rpc->garbage);
    rpc->garbage = 0;
}

/* Element `index` of the array whose first bytes are data[0..len), decoded into `out`
 * (valid until its next use), when those bytes hold it whole. Lets a message that cannot be
 * decoded (too large, too deep) still be answered by its id. */
static int prefix_element(const char *data, size_t len, uint32_t index, uint32_t *count,
                          msgpack_unpacked *out)
{
    const unsigned char *p = (const unsigned char *)data;
    size_t hdr;
    if (len >= 1 && p[0] >= 0x90 && p[0] <= 0x9f) {
        *count = p[0] & 0x0f;
        hdr = 1;
    } else if (len >= 3 && p[0] == 0xdc) {
        *count = (uint32_t)p[1] << 8 | p[2];
        hdr = 3;
    } else if (len >= 5 && p[0] == 0xdd) {
        *count = (uint32_t)p[1] << 24 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 8 | p[4];
        hdr = 5;
    } else {
        return -1;
    }
    if (index >= *count)
        return -1;
    size_t off = hdr;
    for (uint32_t i = 0; i < index; i++) {
        size_t n = mpscan_object_len(p + off, len - off);
        if (!n)
            return -1;
        off += n;
    }
    size_t n = mpscan_object_len(p + off, len - off);
    size_t pos = 0;
    if (!n || msgpack_unpack_next(out, data + off, n, &pos) != MSGPACK_UNPACK_SUCCESS)
        return -1;
    return 0;
}

/* Answers a request that cannot be decoded, when its first bytes show its id. Returns 1 when
 * the bytes are shaped like a msgpack-RPC message at all. */
static int refuse_by_prefix(Rpc *rpc, const char *data, size_t len, const char *why)
{
    uint32_t count = 0;
    msgpack_unpacked el;
    msgpack_unpacked_init(&el);
    int shaped = prefix_element(data, len, 0, &count, &el) == 0 &&
                 el.data.type == MSGPACK_OBJECT_POSITIVE_INTEGER && el.data.via.u64 <= MSG_NOTIFICATION &&
                 (count == 3 || count == 4);
    int request = shaped && el.data.via.u64 == MSG_REQUEST && count == 4;
    if (shaped)
        flush_garbage(rpc); /* its log line comes before this message's */
    if (request && prefix_element(data, len, 1, &count, &el) == 0)
        send_response(rpc, &el.data, why, NULL);
    msgpack_unpacked_destroy(&el);
    return shaped;
}

static void reset_input(Rpc *rpc)
{
    rpc->in_len = 0;
    rpc->skipping = 0;
    if (rpc->in_cap > RPC_OUT_KEEP) {
        free(rpc->in);
        rpc->in = NULL;
        rpc->in_cap = 0;
    }
}

static void keep_input(Rpc *rpc, const unsigned char *data, size_t len)
{
    if (rpc->in_len + len > rpc->in_cap) {
        size_t cap = rpc->in_cap ? rpc->in_cap : 4096;
        while (cap < rpc->in_len + len)
            cap *= 2;
        rpc->in = xrealloc(rpc->in, cap);
        rpc->in_cap = cap;
    }
    memcpy(rpc->in + rpc->in_len, data, len);
    rpc->in_len += len;
}

/* A complete message is buffered: decode and dispatch it. */
static void take_message(Rpc *rpc)
{
    size_t off = 0;
    msgpack_unpack_return ret = msgpack_unpack_next(&rpc->unpacked, rpc->in, rpc->in_len, &off);
    if (ret == MSGPACK_UNPACK_SUCCESS && !rpc_shaped(&rpc->unpacked.data)) {
        rpc->garbage += rpc->in_len;
    } else if (ret == MSGPACK_UNPACK_SUCCESS) {
        flush_garbage(rpc);
        dispatch_message(rpc, &rpc->unpacked.data);
    } else {
        /* msgpack-c refuses nesting deeper than MSGPACK_EMBED_STACK_SIZE (32). */
        flush_garbage(rpc);
        rpc->malformed++;
        rpc_logf(rpc, "rpc: cannot decode a message of %zu bytes (nested deeper than 32 levels?)",
                 rpc->in_len);
        refuse_by_prefix(rpc, rpc->in, rpc->in_len,
                         "invalid message: cannot decode it (nested deeper than 32 levels?)");
    }
    reset_input(rpc);
}

/* The message arriving now declares more than RPC_MAX_MESSAGE. A msgpack-RPC message is
 * answered (when it is a request whose id came already) and skipped to its declared end, so
 * nothing inside it is read as messages. Anything else is garbage: dropped up to here. */
static void begin_oversized(Rpc *rpc)
{
    StrBuf why = STRBUF_INIT;
    strbuf_printf(&why, "invalid message: it declares %llu bytes, over the %u MiB limit",
                  (unsigned long long)mpscan_declared(&rpc->scan), RPC_MAX_MESSAGE >> 20);
    if (refuse_by_prefix(rpc, rpc->in, rpc->in_len, strbuf_cstr(&why))) {
        rpc->malformed++;
        rpc_logf(rpc, "rpc: a message declares %llu bytes, over the %u MiB limit; skipping it",
                 (unsigned long long)mpscan_declared(&rpc->scan), RPC_MAX_MESSAGE >> 20);
        reset_input(rpc);
        rpc->skipping = 1;
    } else {
        rpc->garbage += rpc->in_len;
        reset_input(rpc);
        mpscan_init(&rpc->scan, RPC_MAX_MESSAGE);
    }
    strbuf_destroy(&why);
}

void rpc_feed(Rpc *rpc, const char *data, size_t len)
{
    const unsigned char *p = (const unsigned char *)data;
    while (len > 0) {
        size_t used = 0;
        MpScanResult r = mpscan_feed(&rpc->scan, p, len, &used);
        if (!rpc->skipping)
            keep_input(rpc, p, used);
        p += used;
        len -= used;
        switch (r) {
        case MPSCAN_MORE:
            break;
        case MPSCAN_INVALID: /* the partial message it interrupted is lost with it */
            if (!rpc->skipping)
                rpc->garbage += rpc->in_len;
            else
                rpc->garbage += used;
            reset_input(rpc);
            break;
        case MPSCAN_OVERSIZE:
            begin_oversized(rpc);
            break;
        case MPSCAN_END:
            if (rpc->skipping)
                reset_input(rpc);
            else
                take_message(rpc);
            break;
        }
    }
}
