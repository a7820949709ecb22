/* server: RPC method table and lifecycle of the --rpc co-process. */
#include "server.h"

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <uv.h>

#include <libxml/xmlversion.h>
#include <msgpack.h>

#include "rpcio.h"
#include "strbuf.h"
#include "version.h"

typedef struct {
    uv_loop_t *loop;
    RpcIo io;
    uv_signal_t signals[3];
    int stopping;
} Server;

static void server_log(void *ud, const char *msg)
{
    (void)ud;
    fprintf(stderr, "pytestmon: %s\n", msg);
}

static json_t *m_ping(void *ud, json_t *params, StrBuf *err)
{
    (void)ud;
    (void)params;
    (void)err;
    return json_string("pong");
}

static json_t *m_version(void *ud, json_t *params, StrBuf *err)
{
    (void)ud;
    (void)params;
    (void)err;
    return json_pack("{s:s, s:s, s:s, s:s}", "version", PYTESTMON_VERSION, "libuv",
                     uv_version_string(), "msgpack", msgpack_version(), "libxml2",
                     LIBXML_DOTTED_VERSION);
}

static void server_stop(Server *s)
{
    if (s->stopping)
        return;
    s->stopping = 1;
    for (size_t i = 0; i < sizeof s->signals / sizeof s->signals[0]; i++)
        uv_close((uv_handle_t *)&s->signals[i], NULL);
    rpcio_close(&s->io);
}

static void on_eof(RpcIo *io, void *ud)
{
    (void)io;
    server_stop(ud);
}

static void on_signal(uv_signal_t *h, int signum)
{
    (void)signum;
    server_stop(h->data);
}

static void register_methods(Server *s)
{
    Rpc *rpc = s->io.rpc;
    rpc_register(rpc, "ping", m_ping, s);
    rpc_register(rpc, "version", m_version, s);
}

int server_main(void)
{
    Server s = {0};
    uv_loop_t loop;
    int r;
    signal(SIGPIPE, SIG_IGN);
    if ((r = uv_loop_init(&loop)) != 0) {
        fprintf(stderr, "pytestmon: uv_loop_init: %s\n", uv_strerror(r));
        return 1;
    }
    s.loop = &loop;
    if ((r = rpcio_init(&s.io, &loop, 0, 1, server_log, on_eof, NULL, &s)) != 0) {
        fprintf(stderr, "pytestmon: cannot use stdin/stdout as pipes: %s\n", uv_strerror(r));
        uv_run(&loop, UV_RUN_DEFAULT);
        uv_loop_close(&loop);
        return 1;
    }
    register_methods(&s);
    const int signums[] = {SIGTERM, SIGINT, SIGHUP};
    for (size_t i = 0; i < sizeof signums / sizeof signums[0]; i++) {
        uv_signal_init(&loop, &s.signals[i]);
        s.signals[i].data = &s;
        uv_signal_start(&s.signals[i], on_signal, signums[i]);
    }
    uv_run(&loop, UV_RUN_DEFAULT);
    r = uv_loop_close(&loop);
    if (r != 0)
        fprintf(stderr, "pytestmon: loop closed with live handles: %s\n", uv_strerror(r));
    return 0;
}
