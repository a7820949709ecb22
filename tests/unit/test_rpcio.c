/* Unit tests for rpcio over real socketpairs on a real libuv loop: a message larger than
 * the socket buffer goes out in pieces, on_drained runs once the last piece is written, the
 * peer gets every byte, and EOF and close tear everything down. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cmocka.h>
#include <uv.h>

#include "rpc/rpcio.h"
#include "base/strbuf.h"

typedef struct {
    uv_loop_t loop;
    RpcIo io;
    uv_pipe_t peer;          /* reads what io writes */
    int peer_in;             /* writes what io reads; closed to make EOF */
    size_t peer_bytes;
    size_t drained;          /* on_drained calls */
    size_t queued_at_drain;  /* io.queued_bytes seen by on_drained */
    int eof;
    int closed;
} Fixture;

static void on_drained(RpcIo *io, void *ud)
{
    Fixture *f = ud;
    f->queued_at_drain = io->queued_bytes;
    f->drained++;
}

static void on_eof(RpcIo *io, void *ud)
{
    ((Fixture *)ud)->eof++;
    rpcio_close(io);
}

static void on_closed(RpcIo *io, void *ud)
{
    (void)io;
    ((Fixture *)ud)->closed++;
}

static char peer_buf[64 * 1024];

static void peer_alloc(uv_handle_t *h, size_t n, uv_buf_t *buf)
{
    (void)h, (void)n;
    *buf = uv_buf_init(peer_buf, sizeof peer_buf);
}

static void peer_read(uv_stream_t *s, ssize_t n, const uv_buf_t *buf)
{
    Fixture *f = s->data;
    (void)buf;
    if (n > 0)
        f->peer_bytes += (size_t)n;
    else if (n < 0)
        uv_read_stop(s);
}

static int setup(void **state)
{
    Fixture *f = xcalloc(1, sizeof *f);
    int to_io[2], from_io[2];
    assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, to_io), 0);
    assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, from_io), 0);
    assert_int_equal(uv_loop_init(&f->loop), 0);
    assert_int_equal(rpcio_init(&f->io, &f->loop, to_io[0], from_io[0], NULL, on_eof, on_closed, f), 0);
    f->io.on_drained = on_drained;
    f->peer_in = to_io[1];
    assert_int_equal(uv_pipe_init(&f->loop, &f->peer, 0), 0);
    f->peer.data = f;
    assert_int_equal(uv_pipe_open(&f->peer, from_io[1]), 0);
    assert_int_equal(uv_read_start((uv_stream_t *)&f->peer, peer_alloc, peer_read), 0);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    Fixture *f = *state;
    if (f->peer_in >= 0)
        close(f->peer_in); /* EOF for io: on_eof closes it */
    uv_run(&f->loop, UV_RUN_DEFAULT);
    assert_int_equal(f->eof, 1);
    assert_int_equal(f->closed, 1);
    uv_close((uv_handle_t *)&f->peer, NULL);
    uv_run(&f->loop, UV_RUN_DEFAULT);
    assert_int_equal(uv_loop_close(&f->loop), 0);
    free(f);
    return 0;
}

static void on_deadline(uv_timer_t *t)
{
    *(int *)t->data = 1;
}

/* Runs the loop until the peer has `want` bytes and on_drained has run `drains` times in
 * all, or a 10 s deadline passes. */
static void run_until(Fixture *f, size_t want, size_t drains)
{
    uv_timer_t deadline;
    int expired = 0;
    uv_timer_init(&f->loop, &deadline);
    deadline.data = &expired;
    uv_timer_start(&deadline, on_deadline, 10000, 0);
    while (!expired && (f->peer_bytes < want || f->drained < drains))
        uv_run(&f->loop, UV_RUN_ONCE);
    uv_close((uv_handle_t *)&deadline, NULL);
    uv_run(&f->loop, UV_RUN_NOWAIT);
    assert_false(expired);
    assert_int_equal(f->peer_bytes, want);
}

static void test_drained_after_a_large_message(void **state)
{
    Fixture *f = *state;
    size_t big = 4u << 20; /* far beyond a socket buffer: written in many pieces */
    char *s = xmalloc(big + 1);
    memset(s, 'x', big);
    s[big] = '\0';
    json_t *params = json_pack("[s]", s);
    free(s);
    rpc_notify(f->io.rpc, "event", params);
    size_t queued = f->io.queued_bytes;
    assert_true(queued > big);
    assert_int_equal(f->drained, 0); /* never from inside the write call */
    run_until(f, queued, 1);
    assert_int_equal(f->drained, 1);
    assert_int_equal(f->queued_at_drain, 0);
    rpc_notify(f->io.rpc, "small", NULL);
    run_until(f, queued + f->io.queued_bytes, 2);
    assert_int_equal(f->drained, 2);
}

static void test_two_messages_drain_once(void **state)
{
    Fixture *f = *state;
    rpc_notify(f->io.rpc, "one", NULL);
    rpc_notify(f->io.rpc, "two", NULL);
    size_t queued = f->io.queued_bytes;
    run_until(f, queued, 1);
    assert_int_equal(f->drained, 1); /* after the second write, not after each */
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_drained_after_a_large_message, setup, teardown),
        cmocka_unit_test_setup_teardown(test_two_messages_drain_once, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
