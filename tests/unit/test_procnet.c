/* test_procnet: the /proc/net/tcp{,6} parser on literal kernel text (IPv4 and IPv6 rows, the
 * header, bad lines), the lookup of a connection's other end, a fake /proc tree, and live
 * loopback connections: ours (our uid, our socket inode in /proc/self/fd) and, when the test
 * runs as root, one made by a child that became uid 65534. */
#include <arpa/inet.h>
#include <errno.h>
#include <grp.h>
#include <netinet/in.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "base/strbuf.h"
#include "mem/procnet.h"
#include "testutil.h"

/* Rows as Linux 6.1 prints them (x86_64, little-endian): a listener on 0.0.0.0:2024, a
 * connection 127.0.0.1:34928 -> 127.0.0.1:51565 of uid 1000, a TIME_WAIT row (uid 0, inode 0). */
static const char TCP4[] =
    "  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode"
    "                                                     \n"
    "   0: 00000000:07E8 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 340 1 "
    "00000000d0b3ad83 100 0 0 10 0                       \n"
    "   1: 0100007F:8870 0100007F:C96D 01 00000000:00000000 00:00000000 00000000  1000        0 98765 1 "
    "00000000b40c69ee 20 4 30 10 -1                      \n"
    "   2: 0100007F:88F0 0100007F:C96D 06 00000000:00000000 03:000006DD 00000000     0        0 0 3 "
    "00000000b40c69ee                                      \n";

/* A dual-stack socket's connection to 127.0.0.1 (::ffff:127.0.0.1) of uid 65534, and ::1. */
static const char TCP6[] =
    "  sl  local_address                         remote_address                        st tx_queue rx_queue tr "
    "tm->when retrnsmt   uid  timeout inode\n"
    "   0: 0000000000000000FFFF00000100007F:9C40 0000000000000000FFFF00000100007F:C96D 01 00000000:00000000 "
    "00:00000000 00000000 65534        0 4242 1 0000000000000000 20 4 29 10 -1\n"
    "   1: 00000000000000000000000001000000:1F90 00000000000000000000000000000000:0000 0A 00000000:00000000 "
    "00:00000000 00000000  1000        0 777 1 0000000000000000 100 0 0 10 0\n";

static ProcNetEnd v4(const char *ip, uint16_t port)
{
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons(port)};
    assert_int_equal(inet_pton(AF_INET, ip, &a.sin_addr), 1);
    ProcNetEnd e;
    assert_int_equal(procnet_end_of((struct sockaddr *)&a, &e), 0);
    return e;
}

static ProcNetEnd v6(const char *ip, uint16_t port)
{
    struct sockaddr_in6 a = {.sin6_family = AF_INET6, .sin6_port = htons(port)};
    assert_int_equal(inet_pton(AF_INET6, ip, &a.sin6_addr), 1);
    ProcNetEnd e;
    assert_int_equal(procnet_end_of((struct sockaddr *)&a, &e), 0);
    return e;
}

static void test_parse_ipv4_rows(void **state)
{
    (void)state;
    ProcNetTable t;
    procnet_table_init(&t);
    assert_int_equal(procnet_parse_tcp(TCP4, strlen(TCP4), &t), 3);
    assert_int_equal(t.bad, 0);
    assert_int_equal(t.rows[0].state, PROCNET_TCP_LISTEN);
    assert_int_equal(t.rows[0].local.port, 2024);
    assert_int_equal(t.rows[0].inode, 340);
    ProcNetEnd a = v4("127.0.0.1", 34928), b = v4("127.0.0.1", 51565);
    const ProcNetRow *r = procnet_find(&t, &a, &b);
    assert_non_null(r);
    assert_ptr_equal(r, &t.rows[1]);
    assert_int_equal(r->state, PROCNET_TCP_ESTABLISHED);
    assert_int_equal(r->uid, 1000);
    assert_int_equal(r->inode, 98765);
    assert_null(procnet_find(&t, &b, &a)); /* the other direction is another row */
    assert_int_equal(t.rows[2].state, PROCNET_TCP_TIME_WAIT);
    assert_int_equal(t.rows[2].uid, 0);
    assert_int_equal(t.rows[2].inode, 0);
    procnet_table_destroy(&t);
}

static void test_parse_ipv6_rows_and_mapped_ipv4(void **state)
{
    (void)state;
    ProcNetTable t;
    procnet_table_init(&t);
    assert_int_equal(procnet_parse_tcp(TCP4, strlen(TCP4), &t), 3);
    assert_int_equal(procnet_parse_tcp(TCP6, strlen(TCP6), &t), 2); /* appended to the same table */
    assert_int_equal(t.n, 5);
    /* A dual-stack socket connected to 127.0.0.1 is found from IPv4 addresses. */
    ProcNetEnd a = v4("127.0.0.1", 40000), b = v4("127.0.0.1", 51565);
    const ProcNetRow *r = procnet_find(&t, &a, &b);
    assert_non_null(r);
    assert_int_equal(r->uid, 65534);
    assert_int_equal(r->inode, 4242);
    ProcNetEnd mapped = v6("::ffff:127.0.0.1", 40000);
    assert_ptr_equal(procnet_find(&t, &mapped, &b), r);
    ProcNetEnd lo6 = v6("::1", 8080), any6 = v6("::", 0);
    r = procnet_find(&t, &lo6, &any6);
    assert_non_null(r);
    assert_int_equal(r->state, PROCNET_TCP_LISTEN);
    assert_int_equal(r->uid, 1000);
    procnet_table_destroy(&t);
}

static void test_bad_lines_are_counted_and_skipped(void **state)
{
    (void)state;
    const char text[] =
        "  sl  local_address rem_address   st\n"
        "garbage\n"
        "   0: 0100007F:XYZW 0100007F:C96D 01 00000000:00000000 00:00000000 00000000  1000 0 1 1\n"
        "   1: 0100007F:8870 0100007F:C96D 01 00000000:00000000 00:00000000 00000000  -5 0 1 1\n"
        "   2: 0100007F:8870 0100007F:C96D 01 00000000:00000000 00:00000000 00000000  4294967296 0 1 1\n"
        "   3: 0100007F:8870 0100007F 01 00000000:00000000 00:00000000 00000000  1000 0 1 1\n"
        "   4: 0100007F:8870 0100007F:C96D 01\n"
        "\n"
        "   5: 0100007F:8870 0100007F:C96D 0A 00000000:00000000 00:00000000 00000000  7 0 99"; /* no newline */
    ProcNetTable t;
    procnet_table_init(&t);
    assert_int_equal(procnet_parse_tcp(text, strlen(text), &t), 1);
    assert_int_equal(t.bad, 6);
    assert_int_equal(t.rows[0].uid, 7);
    assert_int_equal(t.rows[0].inode, 99);
    /* Only `len` bytes are read: the row cut short is bad, not read past its end. */
    procnet_table_destroy(&t);
    procnet_table_init(&t);
    assert_int_equal(procnet_parse_tcp(TCP4, 200, &t), 0);
    assert_int_equal(procnet_parse_tcp("", 0, &t), 0);
    procnet_table_destroy(&t);
    struct sockaddr sa = {.sa_family = AF_UNIX};
    ProcNetEnd e;
    assert_int_equal(procnet_end_of(&sa, &e), -EAFNOSUPPORT);
}

/* A fake tree: ROOT/proc/net/tcp only (no IPv6), ROOT/proc/4242/fd/3 -> socket:[98765]. */
static void test_readers_on_a_fake_tree(void **state)
{
    (void)state;
    char tmpl[TMP_PATH_MAX];
    assert_non_null(mkdtemp(tmp_template(tmpl, "test_procnet"))); /* private: mode 0700 */
    char *root = strdup(tmpl);
    StrBuf p = STRBUF_INIT;
    strbuf_printf(&p, "%s/proc", root);
    assert_int_equal(mkdir(strbuf_cstr(&p), 0700), 0);
    strbuf_puts(&p, "/net");
    assert_int_equal(mkdir(strbuf_cstr(&p), 0700), 0);
    strbuf_puts(&p, "/tcp");
    FILE *f = fopen(strbuf_cstr(&p), "w");
    assert_non_null(f);
    fputs(TCP4, f);
    fclose(f);
    strbuf_reset(&p);
    strbuf_printf(&p, "%s/proc/4242", root);
    assert_int_equal(mkdir(strbuf_cstr(&p), 0700), 0);
    strbuf_puts(&p, "/fd");
    assert_int_equal(mkdir(strbuf_cstr(&p), 0700), 0);
    strbuf_puts(&p, "/3");
    assert_int_equal(symlink("socket:[98765]", strbuf_cstr(&p)), 0);

    /* Our end of the connection is 127.0.0.1:51565 <- 127.0.0.1:34928: the peer's row is uid 1000's. */
    struct sockaddr_in ours = {.sin_family = AF_INET, .sin_port = htons(51565)};
    struct sockaddr_in peer = {.sin_family = AF_INET, .sin_port = htons(34928)};
    inet_pton(AF_INET, "127.0.0.1", &ours.sin_addr);
    inet_pton(AF_INET, "127.0.0.1", &peer.sin_addr);
    ProcNetRow row;
    assert_int_equal(procnet_peer_row(root, (struct sockaddr *)&ours, (struct sockaddr *)&peer, &row), 0);
    assert_int_equal(row.uid, 1000);
    assert_int_equal(row.inode, 98765);
    peer.sin_port = htons(1);
    assert_int_equal(procnet_peer_row(root, (struct sockaddr *)&ours, (struct sockaddr *)&peer, &row), -ENOENT);
    assert_int_equal(procnet_pid_has_socket(root, 4242, 98765), 1);
    assert_int_equal(procnet_pid_has_socket(root, 4242, 9876), 0);
    assert_int_equal(procnet_pid_has_socket(root, 4243, 98765), -ENOENT);
    assert_int_equal(procnet_peer_row("/nonexistent-root", (struct sockaddr *)&ours, (struct sockaddr *)&peer, &row),
                     -ENOENT);
    strbuf_reset(&p);
    strbuf_printf(&p, "rm -rf '%s'", root);
    assert_int_equal(system(strbuf_cstr(&p)), 0);
    strbuf_destroy(&p);
    free(root);
}

/* A listening socket on 127.0.0.1:0; its address in *addr. */
static int listener(struct sockaddr_in *addr)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    assert_true(fd >= 0);
    memset(addr, 0, sizeof *addr);
    addr->sin_family = AF_INET;
    inet_pton(AF_INET, "127.0.0.1", &addr->sin_addr);
    assert_int_equal(bind(fd, (struct sockaddr *)addr, sizeof *addr), 0);
    socklen_t len = sizeof *addr;
    assert_int_equal(getsockname(fd, (struct sockaddr *)addr, &len), 0);
    assert_int_equal(listen(fd, 4), 0);
    return fd;
}

/* The peer row of an accepted connection `fd`, through the real /proc. */
static int peer_row_of(int fd, ProcNetRow *row)
{
    struct sockaddr_storage ours, peer;
    socklen_t l1 = sizeof ours, l2 = sizeof peer;
    assert_int_equal(getsockname(fd, (struct sockaddr *)&ours, &l1), 0);
    assert_int_equal(getpeername(fd, (struct sockaddr *)&peer, &l2), 0);
    return procnet_peer_row("", (struct sockaddr *)&ours, (struct sockaddr *)&peer, row);
}

static void test_live_connection_of_ours(void **state)
{
    (void)state;
    struct sockaddr_in addr;
    int lfd = listener(&addr);
    int cfd = socket(AF_INET6, SOCK_STREAM, 0); /* dual-stack: its row is in tcp6 */
    assert_true(cfd >= 0);
    struct sockaddr_in6 to = {.sin6_family = AF_INET6, .sin6_port = addr.sin_port};
    inet_pton(AF_INET6, "::ffff:127.0.0.1", &to.sin6_addr);
    assert_int_equal(connect(cfd, (struct sockaddr *)&to, sizeof to), 0);
    int afd = accept(lfd, NULL, NULL);
    assert_true(afd >= 0);
    ProcNetRow row;
    assert_int_equal(peer_row_of(afd, &row), 0);
    assert_int_equal(row.uid, geteuid());
    assert_int_equal(row.state, PROCNET_TCP_ESTABLISHED);
    assert_true(row.inode > 0);
    assert_int_equal(procnet_pid_has_socket("", getpid(), row.inode), 1);
    assert_int_equal(procnet_pid_has_socket("/", getpid(), row.inode + 1000000), 0);
    close(afd);
    close(cfd);
    close(lfd);
}

static void test_live_connection_of_another_uid(void **state)
{
    (void)state;
    if (geteuid() != 0)
        skip(); /* making a second user needs root */
    struct sockaddr_in addr;
    int lfd = listener(&addr);
    int go[2];
    assert_int_equal(pipe(go), 0);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        close(lfd);
        close(go[1]);
        if (setgroups(0, NULL) != 0 || setresgid(65534, 65534, 65534) != 0 || setresuid(65534, 65534, 65534) != 0)
            _exit(2);
        int fd = socket(AF_INET, SOCK_STREAM, 0);
        if (fd < 0 || connect(fd, (struct sockaddr *)&addr, sizeof addr) != 0)
            _exit(3);
        char c;
        (void)!read(go[0], &c, 1); /* held open until the parent has looked */
        _exit(0);
    }
    close(go[0]);
    int afd = accept(lfd, NULL, NULL);
    assert_true(afd >= 0);
    ProcNetRow row;
    assert_int_equal(peer_row_of(afd, &row), 0);
    assert_int_equal(row.uid, 65534);
    assert_int_equal(procnet_pid_has_socket("", getpid(), row.inode), 0);
    assert_int_equal(procnet_pid_has_socket("", pid, row.inode), 1);
    close(go[1]);
    int status;
    assert_int_equal(waitpid(pid, &status, 0), pid);
    assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    close(afd);
    close(lfd);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_parse_ipv4_rows),
        cmocka_unit_test(test_parse_ipv6_rows_and_mapped_ipv4),
        cmocka_unit_test(test_bad_lines_are_counted_and_skipped),
        cmocka_unit_test(test_readers_on_a_fake_tree),
        cmocka_unit_test(test_live_connection_of_ours),
        cmocka_unit_test(test_live_connection_of_another_uid),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
