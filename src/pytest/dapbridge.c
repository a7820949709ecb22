/* dapbridge: the debugger's endpoint and its relay. See dapbridge.h. */
#include "pytest/dapbridge.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "base/strbuf.h"
#include "mem/procnet.h"

#define READ_CHUNK (64 * 1024)
#define QUEUE_HIGH (4u << 20) /* stop reading a side while the other has this much to write */
#define QUEUE_LOW (1u << 20)  /* and read again below this */
#define FLUSH_MS 2000

typedef struct Conn Conn;

struct Conn {
    uv_tcp_t tcp;
    DapBridge *b;
    Conn *peer;   /* the other side while relaying */
    bool reading, paused, shut, closing;
};

struct DapBridge {
    uv_loop_t *loop;
    DapBridgeEvents ev;
    void *ud;
    uv_tcp_t client_l, server_l;
    bool client_l_open, server_l_open;
    int client_port, server_port;
    int server_pid;       /* 0: no server is expected yet */
    Conn *client, *server;
    uv_timer_t timer;     /* the flush cap of dapbridge_close */
    int open_handles;
    bool closing, relaying;
};

static void handle_closed(DapBridge *b)
{
    if (--b->open_handles > 0 || !b->closing)
        return;
    if (b->ev.closed)
        b->ev.closed(b->ud);
    free(b);
}

static void on_listener_closed(uv_handle_t *h)
{
    handle_closed(h->data);
}

static void on_conn_closed(uv_handle_t *h)
{
    Conn *c = h->data;
    DapBridge *b = c->b;
    if (c->peer)
        c->peer->peer = NULL;
    if (b->client == c)
        b->client = NULL;
    if (b->server == c)
        b->server = NULL;
    free(c);
    handle_closed(b);
}

static void conn_close(Conn *c)
{
    if (!c || c->closing)
        return;
    c->closing = true;
    uv_close((uv_handle_t *)&c->tcp, on_conn_closed); /* pending writes are cancelled */
}

static void close_listener(uv_tcp_t *l, bool *open)
{
    if (!*open)
        return;
    *open = false;
    uv_close((uv_handle_t *)l, on_listener_closed);
}

static void close_timer(DapBridge *b)
{
    if (!uv_is_closing((uv_handle_t *)&b->timer))
        uv_close((uv_handle_t *)&b->timer, on_listener_closed);
}

/* The relay is over: both sides close at once. */
static void relay_close(DapBridge *b)
{
    conn_close(b->client);
    conn_close(b->server);
    if (b->closing)
        close_timer(b);
}

/* ---- the peer check ------------------------------------------------------------- */

/* Was the socket at the other end of `c` created by our uid (and, with pid > 0, is it held
 * by process `pid`)? *uid: its uid, -1 when its row was not found. Fails closed. */
static bool peer_is_ours(Conn *c, int pid, int64_t *uid)
{
    *uid = -1;
    uv_os_fd_t fd;
    if (uv_fileno((uv_handle_t *)&c->tcp, &fd) != 0)
        return false;
    struct sockaddr_storage ours, peer;
    socklen_t l1 = sizeof ours, l2 = sizeof peer;
    if (getsockname(fd, (struct sockaddr *)&ours, &l1) != 0 || getpeername(fd, (struct sockaddr *)&peer, &l2) != 0)
        return false;
    ProcNetRow row;
    if (procnet_peer_row("", (struct sockaddr *)&ours, (struct sockaddr *)&peer, &row) != 0)
        return false;
    *uid = row.uid;
    if (row.uid != (uint32_t)geteuid() || row.inode == 0) /* inode 0: no process holds it */
        return false;
    return pid <= 0 || procnet_pid_has_socket("", pid, row.inode) == 1;
}

/* ---- the relay ------------------------------------------------------------------ */

typedef struct {
    uv_write_t req;
    char *data;
} WriteReq;

static void on_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf)
{
    (void)h;
    (void)suggested;
    *buf = uv_buf_init(xmalloc(READ_CHUNK), READ_CHUNK);
}

static void on_read(uv_stream_t *st, ssize_t n, const uv_buf_t *buf);

static void read_start(Conn *c)
{
    if (c->reading || c->closing)
        return;
    if (uv_read_start((uv_stream_t *)&c->tcp, on_alloc, on_read) == 0)
        c->reading = true;
    else
        relay_close(c->b);
}

static void read_stop(Conn *c)
{
    if (c->reading)
        uv_read_stop((uv_stream_t *)&c->tcp);
    c->reading = false;
}

static void on_written(uv_write_t *req, int status)
{
    WriteReq *w = (WriteReq *)req;
    Conn *to = req->handle->data;
    free(w->data);
    free(w);
    if (status < 0) {
        if (status != UV_ECANCELED)
            relay_close(to->b);
        return;
    }
    Conn *from = to->peer;
    if (from && from->paused && !from->closing && to->tcp.write_queue_size < QUEUE_LOW) {
        from->paused = false;
        read_start(from);
    }
}

/* Writes `n` bytes of `data` (consumed) to `to`, read from `from`. */
static void relay_write(Conn *from, Conn *to, char *data, size_t n)
{
    if (!to || to->closing || to->shut) {
        free(data);
        return;
    }
    WriteReq *w = xmalloc(sizeof *w);
    w->data = data;
    uv_buf_t buf = uv_buf_init(data, (unsigned)n);
    if (uv_write(&w->req, (uv_stream_t *)&to->tcp, &buf, 1, on_written) != 0) {
        free(data);
        free(w);
        relay_close(from->b);
        return;
    }
    if (to->tcp.write_queue_size > QUEUE_HIGH) {
        from->paused = true;
        read_stop(from);
    }
}

static void on_shutdown(uv_shutdown_t *req, int status)
{
    Conn *c = req->handle->data;
    DapBridge *b = c->b;
    free(req);
    (void)status;
    relay_close(b); /* what was queued for `c` is written (or never will be) */
}

/* Passes an EOF on to `c`: its write side ends once what is queued is written; then the relay
 * closes. */
static void shutdown_conn(Conn *c)
{
    if (!c || c->closing || c->shut)
        return;
    c->shut = true;
    uv_shutdown_t *req = xmalloc(sizeof *req);
    if (uv_shutdown(req, (uv_stream_t *)&c->tcp, on_shutdown) != 0) {
        free(req);
        relay_close(c->b);
    }
}

static void on_read(uv_stream_t *st, ssize_t n, const uv_buf_t *buf)
{
    Conn *c = st->data;
    if (n > 0) {
        relay_write(c, c->peer, buf->base, (size_t)n);
        return;
    }
    free(buf->base);
    if (n == 0)
        return;
    read_stop(c);
    if (n == UV_EOF && c->peer)
        shutdown_conn(c->peer);
    else
        relay_close(c->b);
}

static void start_relay(DapBridge *b)
{
    if (b->relaying || !b->client || !b->server)
        return;
    b->relaying = true;
    b->client->peer = b->server;
    b->server->peer = b->client;
    read_start(b->client);
    read_start(b->server);
}

/* ---- accepting ------------------------------------------------------------------ */

static Conn *accept_conn(uv_stream_t *l)
{
    DapBridge *b = l->data;
    Conn *c = xcalloc(1, sizeof *c);
    c->b = b;
    uv_tcp_init(b->loop, &c->tcp);
    c->tcp.data = c;
    b->open_handles++;
    if (uv_accept(l, (uv_stream_t *)&c->tcp) != 0) {
        conn_close(c);
        return NULL;
    }
    return c;
}

static void on_client_connection(uv_stream_t *l, int status)
{
    DapBridge *b = l->data;
    if (status < 0)
        return;
    Conn *c = accept_conn(l);
    if (!c)
        return;
    int64_t uid;
    bool ours = peer_is_ours(c, 0, &uid);
    if (!ours || b->client || b->closing) {
        conn_close(c); /* unread, nothing written */
        if (!ours && b->ev.refused)
            b->ev.refused(b->ud, uid, false);
        return;
    }
    b->client = c; /* one per session: later ones are closed unread, but the port stays ours
                    * (nobody else can bind it while a debugger might come back to it) */
    if (b->ev.client_attached)
        b->ev.client_attached(b->ud);
    start_relay(b);
}

static void on_server_connection(uv_stream_t *l, int status)
{
    DapBridge *b = l->data;
    if (status < 0)
        return;
    Conn *c = accept_conn(l);
    if (!c)
        return;
    int64_t uid = -1;
    bool ours = b->server_pid > 0 && peer_is_ours(c, b->server_pid, &uid);
    if (!ours || b->server || b->closing) {
        conn_close(c);
        if (!ours && b->ev.refused)
            b->ev.refused(b->ud, uid, true);
        return;
    }
    b->server = c;
    close_listener(&b->server_l, &b->server_l_open);
    if (b->ev.server_connected)
        b->ev.server_connected(b->ud);
    start_relay(b);
}

/* ---- life ----------------------------------------------------------------------- */

static int listen_on(DapBridge *b, uv_tcp_t *l, bool *open, const struct sockaddr_in *at, uv_connection_cb cb,
                     int *port)
{
    uv_tcp_init(b->loop, l);
    l->data = b;
    *open = true;
    b->open_handles++;
    int rc = uv_tcp_bind(l, (const struct sockaddr *)at, 0);
    if (rc == 0)
        rc = uv_listen((uv_stream_t *)l, 16, cb);
    struct sockaddr_in got;
    int len = sizeof got;
    if (rc == 0)
        rc = uv_tcp_getsockname(l, (struct sockaddr *)&got, &len);
    if (rc == 0)
        *port = ntohs(got.sin_port);
    return rc;
}

int dapbridge_new(uv_loop_t *loop, const char *host, const DapBridgeEvents *ev, void *ud, DapBridge **out)
{
    *out = NULL;
    struct sockaddr_in at;
    int rc = uv_ip4_addr(host, 0, &at);
    if (rc != 0)
        return rc;
    DapBridge *b = xcalloc(1, sizeof *b);
    b->loop = loop;
    b->ev = *ev;
    b->ud = ud;
    uv_timer_init(loop, &b->timer);
    b->timer.data = b;
    b->open_handles = 1;
    rc = listen_on(b, &b->client_l, &b->client_l_open, &at, on_client_connection, &b->client_port);
    if (rc == 0)
        rc = listen_on(b, &b->server_l, &b->server_l_open, &at, on_server_connection, &b->server_port);
    if (rc != 0) {
        b->ev = (DapBridgeEvents){0}; /* nobody hears of this one */
        dapbridge_close(b, false);
        return rc;
    }
    *out = b;
    return 0;
}

int dapbridge_client_port(const DapBridge *b)
{
    return b->client_port;
}

int dapbridge_server_port(const DapBridge *b)
{
    return b->server_port;
}

void dapbridge_expect_server(DapBridge *b, int pid)
{
    b->server_pid = pid;
}

static void on_flush_timeout(uv_timer_t *t)
{
    relay_close(t->data);
}

void dapbridge_close(DapBridge *b, bool flush)
{
    if (b->closing)
        return;
    b->closing = true;
    close_listener(&b->client_l, &b->client_l_open);
    close_listener(&b->server_l, &b->server_l_open);
    if (flush && b->relaying && b->client && !b->client->closing && b->server && !b->server->closing) {
        /* What the debug server said last (e.g. `terminated`) still reaches the client: the
         * server side is read to its EOF, which shuts the client's side down once written
         * (on_read, on_shutdown); nothing more goes to the server. */
        read_stop(b->client);
        uv_timer_start(&b->timer, on_flush_timeout, FLUSH_MS, 0);
        return;
    }
    relay_close(b);
    close_timer(b);
}
