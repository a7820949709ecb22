/* test_dapbridge: the debugger's endpoint on a real loop with real loopback sockets: both
 * ports listen as soon as dapbridge_new returns; the server side takes only the expected pid
 * (ours here) and the client side only our uid (a child that became uid 65534 is refused when
 * the test runs as root); bytes are relayed both ways unchanged, a client that came first is
 * held until the server comes, EOF reaches the other side after what was queued, a second
 * client is closed unread, and close (flushing or not) leaves no handle behind. */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <netinet/in.h>
#include <poll.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "pytest/dapbridge.h"

typedef struct {
    int server_connected, client_attached, closed;
    int refused;
    int64_t refused_uid;
    bool refused_server_side;
} Seen;

static void on_server(void *ud)
{
    ((Seen *)ud)->server_connected++;
}

static void on_client(void *ud)
{
    ((Seen *)ud)->client_attached++;
}

static void on_refused(void *ud, int64_t uid, bool server_side)
{
    Seen *s = ud;
    s->refused++;
    s->refused_uid = uid;
    s->refused_server_side = server_side;
}

static void on_closed(void *ud)
{
    ((Seen *)ud)->closed++;
}

static const DapBridgeEvents EVENTS = {on_server, on_client, on_refused, on_closed};

static uint64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

/* Turns the loop until *counter reaches `want` (deadline 10 s). */
static void spin_until(uv_loop_t *loop, const int *counter, int want)
{
    uint64_t deadline = now_ms() + 10000;
    while (*counter < want) {
        assert_true(now_ms() < deadline);
        uv_run(loop, UV_RUN_NOWAIT);
        poll(NULL, 0, 1); /* let the other side of a socket move */
    }
}

/* A connection to 127.0.0.1:port (the kernel's backlog takes it): its fd, or -errno. */
static int try_connect(int port)
{
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    assert_true(fd >= 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    inet_pton(AF_INET, "127.0.0.1", &a.sin_addr);
    if (connect(fd, (struct sockaddr *)&a, sizeof a) == 0)
        return fd;
    int e = errno;
    close(fd);
    return -e;
}

static int connect_to(int port)
{
    int fd = try_connect(port);
    assert_true(fd >= 0);
    return fd;
}

/* Reads exactly `n` bytes from `fd` into `buf`, turning the loop meanwhile (deadline 10 s). */
static void read_exactly(uv_loop_t *loop, int fd, char *buf, size_t n)
{
    size_t got = 0;
    uint64_t deadline = now_ms() + 10000;
    while (got < n) {
        assert_true(now_ms() < deadline);
        uv_run(loop, UV_RUN_NOWAIT);
        struct pollfd p = {.fd = fd, .events = POLLIN};
        if (poll(&p, 1, 1) == 1) {
            ssize_t r = read(fd, buf + got, n - got);
            assert_true(r > 0);
            got += (size_t)r;
        }
    }
}

/* Is `fd` at EOF (or reset) by the deadline, having read nothing? */
static void expect_closed_unread(uv_loop_t *loop, int fd)
{
    uint64_t deadline = now_ms() + 10000;
    for (;;) {
        assert_true(now_ms() < deadline);
        uv_run(loop, UV_RUN_NOWAIT);
        struct pollfd p = {.fd = fd, .events = POLLIN};
        if (poll(&p, 1, 1) == 1) {
            char c;
            ssize_t r = read(fd, &c, 1);
            assert_true(r == 0 || (r < 0 && errno == ECONNRESET));
            return;
        }
    }
}

static void run_dry(uv_loop_t *loop)
{
    uv_run(loop, UV_RUN_DEFAULT);
    assert_int_equal(uv_loop_close(loop), 0);
}

static void test_relay_both_ways_and_eof(void **state)
{
    (void)state;
    uv_loop_t loop;
    uv_loop_init(&loop);
    Seen seen = {0};
    DapBridge *b;
    assert_int_equal(dapbridge_new(&loop, "127.0.0.1", &EVENTS, &seen, &b), 0);
    assert_true(dapbridge_client_port(b) > 0 && dapbridge_server_port(b) > 0);
    assert_int_not_equal(dapbridge_client_port(b), dapbridge_server_port(b));
    dapbridge_expect_server(b, getpid());
    /* The client comes first: it is taken and held until the server comes. */
    int client = connect_to(dapbridge_client_port(b));
    assert_int_equal(write(client, "hello server", 12), 12);
    spin_until(&loop, &seen.client_attached, 1);
    int server = connect_to(dapbridge_server_port(b));
    spin_until(&loop, &seen.server_connected, 1);
    char buf[64] = {0};
    read_exactly(&loop, server, buf, 12);
    assert_memory_equal(buf, "hello server", 12);
    /* One client per session: a second one of ours is closed unread, and the port stays ours. */
    int second = connect_to(dapbridge_client_port(b));
    expect_closed_unread(&loop, second);
    close(second);
    assert_int_equal(seen.client_attached, 1);
    /* Server -> client, a lot of it, the client not reading at first: the bridge stops
     * reading the server while the client has 4 MiB queued, so the server's writes stall
     * long before 64 MiB (without flow control the bridge would hold it all); then
     * everything arrives, in order. */
    enum { BIG = 64 << 20 };
    char *big = malloc(BIG), *back = malloc(BIG);
    for (size_t i = 0; i < BIG; i++)
        big[i] = (char)(i * 7 + i / 251);
    fcntl(server, F_SETFL, O_NONBLOCK);
    size_t sent = 0, got = 0, stalled_at = 0;
    int idle = 0;
    uint64_t deadline = now_ms() + 60000;
    while (got < BIG) {
        assert_true(now_ms() < deadline);
        if (sent < BIG) {
            ssize_t w = write(server, big + sent, BIG - sent);
            if (w > 0) {
                sent += (size_t)w;
                idle = 0;
            } else if (!stalled_at && ++idle == 200) {
                stalled_at = sent; /* 200 turns of the loop and not a byte more taken */
            }
        }
        uv_run(&loop, UV_RUN_NOWAIT);
        if (!stalled_at && sent < BIG)
            continue;
        struct pollfd p = {.fd = client, .events = POLLIN};
        if (poll(&p, 1, 1) == 1) {
            ssize_t r = read(client, back + got, BIG - got);
            assert_true(r > 0);
            got += (size_t)r;
        }
    }
    assert_true(stalled_at > 0 && stalled_at < BIG / 2);
    assert_memory_equal(big, back, BIG);
    free(big);
    free(back);
    /* The server ends: the client reads what was left, then EOF; the relay closes. */
    fcntl(server, F_SETFL, 0);
    assert_int_equal(write(server, "bye", 3), 3);
    close(server);
    read_exactly(&loop, client, buf, 3);
    assert_memory_equal(buf, "bye", 3);
    expect_closed_unread(&loop, client);
    assert_int_equal(seen.refused, 0);
    dapbridge_close(b, true);
    run_dry(&loop);
    assert_int_equal(seen.closed, 1);
    close(client);
}

/* The debuggee ended and the session closes the bridge at once (dapbridge_close with flush):
 * what the server wrote last, still unread by the bridge, reaches the client, then EOF. */
static void test_close_with_flush_passes_the_servers_last_words(void **state)
{
    (void)state;
    uv_loop_t loop;
    uv_loop_init(&loop);
    Seen seen = {0};
    DapBridge *b;
    assert_int_equal(dapbridge_new(&loop, "127.0.0.1", &EVENTS, &seen, &b), 0);
    dapbridge_expect_server(b, getpid());
    int server = connect_to(dapbridge_server_port(b));
    int client = connect_to(dapbridge_client_port(b));
    spin_until(&loop, &seen.server_connected, 1);
    spin_until(&loop, &seen.client_attached, 1);
    assert_int_equal(write(server, "terminated", 10), 10);
    close(server);              /* the bridge has not read it yet */
    dapbridge_close(b, true);
    char buf[16];
    read_exactly(&loop, client, buf, 10);
    assert_memory_equal(buf, "terminated", 10);
    expect_closed_unread(&loop, client);
    run_dry(&loop);
    assert_int_equal(seen.closed, 1);
    close(client);
}

static void test_server_side_takes_only_the_expected_pid(void **state)
{
    (void)state;
    uv_loop_t loop;
    uv_loop_init(&loop);
    Seen seen = {0};
    DapBridge *b;
    assert_int_equal(dapbridge_new(&loop, "127.0.0.1", &EVENTS, &seen, &b), 0);
    /* Before any pid is expected, nobody is taken. */
    int early = connect_to(dapbridge_server_port(b));
    spin_until(&loop, &seen.refused, 1);
    assert_true(seen.refused_server_side);
    expect_closed_unread(&loop, early);
    /* A socket of ours held by another process than the one expected. */
    dapbridge_expect_server(b, getppid());
    int other = connect_to(dapbridge_server_port(b));
    spin_until(&loop, &seen.refused, 2);
    assert_int_equal(seen.refused_uid, (int64_t)geteuid());
    expect_closed_unread(&loop, other);
    assert_int_equal(seen.server_connected, 0);
    dapbridge_expect_server(b, getpid());
    int ok = connect_to(dapbridge_server_port(b));
    spin_until(&loop, &seen.server_connected, 1);
    /* Taken: its listener is closed. */
    assert_int_equal(try_connect(dapbridge_server_port(b)), -ECONNREFUSED);
    dapbridge_close(b, false);
    run_dry(&loop);
    assert_int_equal(seen.closed, 1);
    close(early);
    close(other);
    close(ok);
}

static void test_client_side_refuses_another_uid(void **state)
{
    (void)state;
    if (geteuid() != 0)
        skip(); /* making a second user needs root */
    uv_loop_t loop;
    uv_loop_init(&loop);
    Seen seen = {0};
    DapBridge *b;
    assert_int_equal(dapbridge_new(&loop, "127.0.0.1", &EVENTS, &seen, &b), 0);
    dapbridge_expect_server(b, getpid());
    int server = connect_to(dapbridge_server_port(b));
    spin_until(&loop, &seen.server_connected, 1);
    int port = dapbridge_client_port(b);
    int report[2];
    assert_int_equal(pipe(report), 0);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        /* uid 65534: connect, send, and report what came back ('0' nothing and closed). */
        close(report[0]);
        if (setgroups(0, NULL) != 0 || setresgid(65534, 65534, 65534) != 0 || setresuid(65534, 65534, 65534) != 0)
            _exit(2);
        int fd = socket(AF_INET, SOCK_STREAM, 0);
        struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
        inet_pton(AF_INET, "127.0.0.1", &a.sin_addr);
        if (fd < 0 || connect(fd, (struct sockaddr *)&a, sizeof a) != 0)
            _exit(3);
        (void)!write(fd, "intruder", 8);
        char c;
        ssize_t r = read(fd, &c, 1);
        (void)!write(report[1], r > 0 ? "1" : "0", 1);
        _exit(0);
    }
    close(report[1]);
    spin_until(&loop, &seen.refused, 1);
    assert_int_equal(seen.refused_uid, 65534);
    assert_false(seen.refused_server_side);
    assert_int_equal(seen.client_attached, 0);
    char verdict = 0;
    assert_int_equal(read(report[0], &verdict, 1), 1);
    assert_int_equal(verdict, '0');
    int status;
    assert_int_equal(waitpid(pid, &status, 0), pid);
    assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    /* Nothing reached the server. */
    struct pollfd p = {.fd = server, .events = POLLIN};
    uv_run(&loop, UV_RUN_NOWAIT);
    assert_int_equal(poll(&p, 1, 50), 0);
    /* The session is still ours to attach to. */
    int client = connect_to(port);
    spin_until(&loop, &seen.client_attached, 1);
    assert_int_equal(write(client, "x", 1), 1);
    char c;
    read_exactly(&loop, server, &c, 1);
    assert_int_equal(c, 'x');
    dapbridge_close(b, true);
    run_dry(&loop);
    assert_int_equal(seen.closed, 1);
    close(report[0]);
    close(server);
    close(client);
}

static void test_bad_host_and_close_before_anything(void **state)
{
    (void)state;
    uv_loop_t loop;
    uv_loop_init(&loop);
    Seen seen = {0};
    DapBridge *b = (DapBridge *)&seen;
    assert_int_equal(dapbridge_new(&loop, "not an address", &EVENTS, &seen, &b), UV_EINVAL);
    assert_null(b);
    assert_int_equal(dapbridge_new(&loop, "127.0.0.1", &EVENTS, &seen, &b), 0);
    int held = connect_to(dapbridge_client_port(b));
    spin_until(&loop, &seen.client_attached, 1);
    dapbridge_close(b, true); /* a held client closes too: there is no relay to flush */
    dapbridge_close(b, true); /* twice is once */
    run_dry(&loop);
    assert_int_equal(seen.closed, 1);
    close(held);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_relay_both_ways_and_eof),
        cmocka_unit_test(test_close_with_flush_passes_the_servers_last_words),
        cmocka_unit_test(test_server_side_takes_only_the_expected_pid),
        cmocka_unit_test(test_client_side_refuses_another_uid),
        cmocka_unit_test(test_bad_host_and_close_before_anything),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
