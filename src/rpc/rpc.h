/* rpc: a msgpack-RPC endpoint: framing, method dispatch, and requests to the peer.
 *
 * Transport-agnostic and pytest-agnostic: bytes come in through rpc_feed() in any
 * split (one byte at a time, many messages per chunk, a message across chunks) and go
 * out through the RpcWriteFn given at creation. Messages:
 *   request [0, id, method, params] -> handler -> response [1, id, error, result]
 *   notification [2, method, params] -> handler, no response
 *   response [1, id, error, result] to one of our requests -> its RpcResponseFn
 * Params and results are jansson values (see mpjson.h): handlers never see borrowed
 * msgpack memory. Each message's extent is known from its headers (mpscan.h) before
 * it is decoded. A message that is not valid msgpack-RPC (bad id, params nested deeper
 * than 32 levels, over RPC_MAX_MESSAGE) is logged through the RpcLogFn and answered with
 * an error whenever an id can be read (a bad id is echoed as it came); the endpoint keeps
 * serving. An oversized message is skipped to its declared end, never parsed. Bytes that
 * are no msgpack-RPC message (undecodable, or msgpack of another shape) are dropped and
 * logged as one line per run, with its byte count, when the next message arrives or the
 * endpoint is freed. */
#ifndef PYTESTMON_RPC_H
#define PYTESTMON_RPC_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

#include "base/strbuf.h"

typedef struct Rpc Rpc;

/* Consumes `data` (malloc'd; the callee frees it when written). */
typedef void (*RpcWriteFn)(void *ud, char *data, size_t len);
/* A one-line description of trouble with the input; `msg` borrowed until return. */
typedef void (*RpcLogFn)(void *ud, const char *msg);
/* A method handler. `params` is the params array, borrowed until return. Returns a new
 * reference to the result, or NULL after writing a message into `err`. For
 * notifications the result is discarded. */
typedef json_t *(*RpcHandler)(void *ud, json_t *params, StrBuf *err);
/* Called once with the peer's answer to rpc_request(): exactly one of `error`/`result`
 * is non-NULL (both borrowed until return), or both NULL when the endpoint is freed
 * before the answer came. */
typedef void (*RpcResponseFn)(void *ud, json_t *error, json_t *result);

/* Largest message accepted; a longer one is answered with an error and skipped. */
#define RPC_MAX_MESSAGE (64u * 1024 * 1024)

Rpc *rpc_new(RpcWriteFn write, RpcLogFn log, void *ud);
/* Calls pending response callbacks with (NULL, NULL), then frees everything. */
void rpc_free(Rpc *rpc);

/* `name` is copied; a later registration of the same name replaces the earlier. */
void rpc_register(Rpc *rpc, const char *name, RpcHandler handler, void *ud);

/* Feeds bytes from the peer; dispatches every complete message. */
void rpc_feed(Rpc *rpc, const char *data, size_t len);

/* Sends [2, method, params]. Consumes `params` (an array; NULL means []). */
void rpc_notify(Rpc *rpc, const char *method, json_t *params);
/* Sends [0, id, method, params]; `done` (may be NULL) gets the answer. Consumes params. */
void rpc_request(Rpc *rpc, const char *method, json_t *params, RpcResponseFn done, void *ud);

/* Counters for tests and health: messages dispatched and malformed inputs seen. */
uint64_t rpc_dispatched(const Rpc *rpc);
uint64_t rpc_malformed(const Rpc *rpc);

#endif
