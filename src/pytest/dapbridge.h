/* dapbridge: the endpoint a debugger attaches to for a debugpy we started (:PytestDebug
 * without nvim-dap), usable by no other local user.
 *
 * debugpy's own `--listen` endpoint has no authentication (any local user who connects first
 * debugs, and so runs code, as us), is bound only after debugpy starts, and its port could be
 * taken by another user first. So the co-process owns both sockets, each bound and listening
 * on the loopback before anything is started or announced:
 *   - the client endpoint, for the user's DAP client (nvim-dap, VS Code): a connection is
 *     taken only when the socket at its other end was created by our uid (its row in
 *     /proc/net/tcp{,6}: procnet.h); any other is closed before a byte is read or written;
 *   - the server endpoint, which the debuggee's debugpy reaches with `--connect` (its debug
 *     server then speaks DAP on that connection): taken only from a socket held by the pid
 *     given to dapbridge_expect_server (the process we spawned), any other closed unread.
 * Once one of each is taken bytes are relayed both ways unchanged. One client per session:
 * the client endpoint closes later connections unread but listens until dapbridge_close, so
 * that nobody else can bind its port meanwhile; the server endpoint closes once taken. EOF on one side reaches the other after what was queued for it was
 * written (uv_shutdown); then both close. A client of ours that connects before debugpy's
 * server is held, unread, until it comes.
 *
 * Owns its listeners, connections and timer; freed by itself once dapbridge_close was called
 * and every handle has closed (then `closed` is called). Knows nothing of debugpy's command
 * line or of RPC. */
#ifndef PYTESTMON_DAPBRIDGE_H
#define PYTESTMON_DAPBRIDGE_H

#include <stdbool.h>
#include <stdint.h>
#include <uv.h>

typedef struct DapBridge DapBridge;

/* Called from the loop; `ud` as given to dapbridge_new. Any may be NULL. */
typedef struct {
    void (*server_connected)(void *ud);  /* the debuggee's debug server connected */
    void (*client_attached)(void *ud);   /* a client of our uid was taken */
    /* A connection was closed unread: `uid` of the socket at its other end (-1 when it could
     * not be found), `server_side`: to the server endpoint (else the client endpoint). */
    void (*refused)(void *ud, int64_t uid, bool server_side);
    void (*closed)(void *ud);            /* after dapbridge_close: every handle has closed */
} DapBridgeEvents;

/* Binds and listens on `host` (an IPv4 address), ports chosen by the kernel. `ev` is copied.
 * 0 and *out, or a negative errno (nothing is left open). */
int dapbridge_new(uv_loop_t *loop, const char *host, const DapBridgeEvents *ev, void *ud, DapBridge **out);
int dapbridge_client_port(const DapBridge *b);
int dapbridge_server_port(const DapBridge *b);
/* Only a socket held by `pid` may be taken as the server (before it, none is). */
void dapbridge_expect_server(DapBridge *b, int pid);
/* Ends it: the listeners close at once; a relay closes at once too, or with `flush` (the
 * debug server has ended) once the server side's last bytes, up to its EOF, were written to
 * the client (at most 2 s). `closed` follows from the loop. */
void dapbridge_close(DapBridge *b, bool flush);

#endif
