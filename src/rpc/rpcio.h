/* rpcio: connects an Rpc endpoint to a pair of libuv streams (stdin/stdout in the
 * co-process; socketpairs in tests).
 *
 * Owns the uv_pipe_t handles it opens and the pending write requests. Reads feed
 * rpc_feed(); writes queue on the output stream in order. When input ends (EOF or
 * error) `on_eof` runs once. rpcio_close() closes both handles; they are freed in
 * their close callbacks, after which `on_closed` runs: only then may the RpcIo
 * storage be released. */
#ifndef PYTESTMON_RPCIO_H
#define PYTESTMON_RPCIO_H

#include <uv.h>

#include "rpc/rpc.h"

typedef struct RpcIo RpcIo;
typedef void (*RpcIoCb)(RpcIo *io, void *ud);

struct RpcIo {
    uv_pipe_t in;
    uv_pipe_t out;
    Rpc *rpc;          /* owned */
    RpcIoCb on_eof;
    RpcIoCb on_closed;
    RpcIoCb on_drained; /* optional; set after rpcio_init() */
    RpcLogFn log;
    void *ud;
    int open_handles;
    int eof_seen;
    size_t queued_bytes; /* written but not yet flushed */
    /* Every read lands here: rpc_feed() copies what it keeps before the next read. One
     * buffer for the process's life, not a 64 KiB allocation per request. */
    char readbuf[64 * 1024];
};

/* Opens `in_fd`/`out_fd` as pipes on `loop` and starts reading. Returns 0 or a
 * negative errno. `log` receives RPC-level complaints. */
int rpcio_init(RpcIo *io, uv_loop_t *loop, int in_fd, int out_fd, RpcLogFn log, RpcIoCb on_eof,
               RpcIoCb on_closed, void *ud);
/* Stops reading and closes both handles; safe to call twice. Frees the Rpc. */
void rpcio_close(RpcIo *io);

#endif
