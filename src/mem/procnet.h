/* procnet: who owns a loopback TCP connection, read from /proc.
 *
 * Owns: the parser of /proc/net/tcp and /proc/net/tcp6 (one table of rows: local and remote
 * address and port, state, owner uid, socket inode; IPv4 addresses held as IPv4-mapped IPv6,
 * so one comparison covers a dual-stack socket's row in tcp6), the lookup of the row of one
 * connection's other end, and whether a process holds a socket inode (/proc/PID/fd links).
 * What the debugger's endpoint (pytest/dapbridge.c) checks before it forwards a byte:
 * SO_PEERCRED does not apply to TCP, but the kernel lists the uid that created each socket.
 *
 * The parser is pure (a buffer in, a table out); the readers take `root`: "" (or "/") for
 * the real system, or a directory holding a fake tree (`ROOT/proc/...`). /proc/net is the
 * reader's own network namespace. */
#ifndef PYTESTMON_PROCNET_H
#define PYTESTMON_PROCNET_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <netinet/in.h>
#include <sys/socket.h>

/* TCP states as the kernel numbers them (include/net/tcp_states.h). */
#define PROCNET_TCP_ESTABLISHED 1
#define PROCNET_TCP_TIME_WAIT 6
#define PROCNET_TCP_LISTEN 10

/* An address and port: IPv4 as ::ffff:a.b.c.d (network byte order, as in struct in6_addr). */
typedef struct {
    uint8_t addr[16];
    uint16_t port; /* host order */
} ProcNetEnd;

typedef struct {
    ProcNetEnd local, remote;
    int state;      /* PROCNET_TCP_* */
    uint32_t uid;   /* the uid that created the socket (0 in TIME_WAIT rows) */
    uint64_t inode; /* the socket's inode (0 once no process holds it) */
} ProcNetRow;

typedef struct {
    ProcNetRow *rows;
    size_t n, cap;
    size_t bad; /* lines that are not rows (the header excepted) */
} ProcNetTable;

void procnet_table_init(ProcNetTable *t);
void procnet_table_destroy(ProcNetTable *t);

/* Appends the rows of one /proc/net/tcp or /proc/net/tcp6 text (`len` bytes, the header
 * line first) to `t`: both formats are told apart per row by the width of the address.
 * Lines that do not parse are counted in t->bad and skipped. Returns the rows appended. */
size_t procnet_parse_tcp(const char *text, size_t len, ProcNetTable *t);

/* The row whose local end is `local` and whose remote end is `remote`: NULL when none. */
const ProcNetRow *procnet_find(const ProcNetTable *t, const ProcNetEnd *local, const ProcNetEnd *remote);

/* `sa` (AF_INET or AF_INET6) as a ProcNetEnd. -EAFNOSUPPORT for other families. */
int procnet_end_of(const struct sockaddr *sa, ProcNetEnd *out);

/* Reads ROOT/proc/net/tcp and ROOT/proc/net/tcp6 (a missing tcp6 is no error) and fills `out`
 * with the row of the socket at the other end of our connection `ours_local` <-> `ours_remote`
 * (its local end is our remote one and the reverse). 0, -ENOENT when there is no such row
 * (the peer is gone, or it is not on this host's namespace), or a negative errno. */
int procnet_peer_row(const char *root, const struct sockaddr *ours_local, const struct sockaddr *ours_remote,
                     ProcNetRow *out);

/* Does process `pid` hold socket `inode` (a link "socket:[INODE]" in ROOT/proc/PID/fd)?
 * 1 yes, 0 no, or a negative errno (-ENOENT: the process is gone; -EACCES: not ours). */
int procnet_pid_has_socket(const char *root, int pid, uint64_t inode);

#endif
