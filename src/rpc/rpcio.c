/* rpcio: libuv transport for the msgpack-RPC endpoint. */
#include "rpc/rpcio.h"

#include <stdlib.h>

#include "base/strbuf.h"

typedef struct {
    uv_write_t req;
    RpcIo *io;
    char *data;
    size_t len;
} RpcIoWrite;

static void on_write(uv_write_t *req, int status)
{
    RpcIoWrite *w = (RpcIoWrite *)req;
    RpcIo *io = w->io;
    (void)status; /* a failed write means the peer is gone: EOF handling follows */
    io->queued_bytes -= w->len;
    free(w->data);
    free(w);
    if (io->queued_bytes == 0 && io->on_drained)
        io->on_drained(io, io->ud);
}

static void rpcio_write(void *ud, char *data, size_t len)
{
    RpcIo *io = ud;
    if (uv_is_closing((uv_handle_t *)&io->out)) {
        free(data);
        return;
    }
    RpcIoWrite *w = xmalloc(sizeof *w);
    w->io = io;
    w->data = data;
    w->len = len;
    uv_buf_t buf = uv_buf_init(data, (unsigned)len);
    io->queued_bytes += len;
    if (uv_write(&w->req, (uv_stream_t *)&io->out, &buf, 1, on_write) != 0) {
        io->queued_bytes -= len;
        free(data);
        free(w);
    }
}

static void on_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf)
{
    RpcIo *io = h->data;
    (void)suggested;
    *buf = uv_buf_init(io->readbuf, sizeof io->readbuf);
}

static void on_read(uv_stream_t *s, ssize_t n, const uv_buf_t *buf)
{
    RpcIo *io = s->data;
    if (n > 0)
        rpc_feed(io->rpc, buf->base, (size_t)n);
    if (n < 0 && !io->eof_seen) {
        io->eof_seen = 1;
        uv_read_stop(s);
        if (io->on_eof)
            io->on_eof(io, io->ud);
    }
}

static void rpcio_log(void *ud, const char *msg)
{
    RpcIo *io = ud;
    if (io->log)
        io->log(io->ud, msg);
}

int rpcio_init(RpcIo *io, uv_loop_t *loop, int in_fd, int out_fd, RpcLogFn log, RpcIoCb on_eof,
               RpcIoCb on_closed, void *ud)
{
    int r;
    *io = (RpcIo){0};
    io->on_eof = on_eof;
    io->on_closed = on_closed;
    io->ud = ud;
    io->log = log;
    io->rpc = rpc_new(rpcio_write, rpcio_log, io);
    if ((r = uv_pipe_init(loop, &io->in, 0)) != 0)
        goto error;
    io->open_handles++;
    io->in.data = io;
    if ((r = uv_pipe_init(loop, &io->out, 0)) != 0)
        goto error;
    io->open_handles++;
    io->out.data = io;
    if ((r = uv_pipe_open(&io->in, in_fd)) != 0)
        goto error;
    if ((r = uv_pipe_open(&io->out, out_fd)) != 0)
        goto error;
    if ((r = uv_read_start((uv_stream_t *)&io->in, on_alloc, on_read)) != 0)
        goto error;
    return 0;
error:
    rpcio_close(io);
    return r;
}

static void on_close(uv_handle_t *h)
{
    RpcIo *io = h->data;
    if (--io->open_handles == 0 && io->on_closed)
        io->on_closed(io, io->ud);
}

void rpcio_close(RpcIo *io)
{
    if (io->rpc) {
        rpc_free(io->rpc);
        io->rpc = NULL;
    }
    if (io->in.type && !uv_is_closing((uv_handle_t *)&io->in))
        uv_close((uv_handle_t *)&io->in, on_close);
    if (io->out.type && !uv_is_closing((uv_handle_t *)&io->out))
        uv_close((uv_handle_t *)&io->out, on_close);
}
