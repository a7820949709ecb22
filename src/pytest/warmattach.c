/* warmattach: a run's stand-in while the warm pytest's fork runs it. See warmattach.h. */
#include "pytest/warmattach.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "base/strbuf.h"

extern char **environ;

static const int relayed[] = {SIGTERM, SIGINT, SIGHUP, SIGQUIT};

static void write_status(const char *path, const char *line)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    if (fd < 0)
        return;
    size_t n = strlen(line);
    ssize_t w = write(fd, line, n);
    (void)w;
    close(fd);
}

/* Runs the command cold: what the run would have been without the warm process. */
static int go_cold(int sock, sigset_t *old, char **argv, const char *status, const char *reason)
{
    StrBuf sb = STRBUF_INIT;
    strbuf_printf(&sb, "cold %s\n", reason);
    write_status(status, strbuf_cstr(&sb));
    strbuf_destroy(&sb);
    if (sock >= 0)
        close(sock);
    sigprocmask(SIG_SETMASK, old, NULL);
    execvp(argv[0], argv);
    fprintf(stderr, "pytestmon: cannot run '%s': %s\n", argv[0], strerror(errno));
    return 127;
}

static void die_like(int sig)
{
    struct rlimit no_core = {0, 0};
    setrlimit(RLIMIT_CORE, &no_core);
    signal(sig, SIG_DFL);
    sigset_t s;
    sigemptyset(&s);
    sigaddset(&s, sig);
    sigprocmask(SIG_UNBLOCK, &s, NULL);
    raise(sig);
    _exit(128 + sig);
}

static int send_request(int sock, char **argv)
{
    StrBuf p = STRBUF_INIT;
    char *cwd = getcwd(NULL, 0);
    strbuf_puts(&p, "    "); /* the length, filled in below */
    strbuf_puts(&p, cwd ? cwd : ".");
    strbuf_putc(&p, '\0');
    free(cwd);
    size_t argc = 0;
    while (argv[argc])
        argc++;
    strbuf_printf(&p, "%zu", argc);
    strbuf_putc(&p, '\0');
    for (size_t i = 0; i < argc; i++) {
        strbuf_puts(&p, argv[i]);
        strbuf_putc(&p, '\0');
    }
    for (char **e = environ; e && *e; e++) {
        strbuf_puts(&p, *e);
        strbuf_putc(&p, '\0');
    }
    uint32_t n = (uint32_t)(p.len - 4);
    p.data[0] = (char)(n >> 24);
    p.data[1] = (char)(n >> 16);
    p.data[2] = (char)(n >> 8);
    p.data[3] = (char)n;
    int fds[2] = {1, 2};
    char cbuf[CMSG_SPACE(sizeof fds)];
    memset(cbuf, 0, sizeof cbuf);
    size_t off = 0;
    int rc = 0;
    while (off < p.len) {
        struct iovec iov = {p.data + off, p.len - off};
        struct msghdr msg = {.msg_iov = &iov, .msg_iovlen = 1};
        if (off == 0) {
            msg.msg_control = cbuf;
            msg.msg_controllen = sizeof cbuf;
            struct cmsghdr *c = CMSG_FIRSTHDR(&msg);
            c->cmsg_level = SOL_SOCKET;
            c->cmsg_type = SCM_RIGHTS;
            c->cmsg_len = CMSG_LEN(sizeof fds);
            memcpy(CMSG_DATA(c), fds, sizeof fds);
        }
        ssize_t w = sendmsg(sock, &msg, MSG_NOSIGNAL);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0) {
            rc = -errno;
            break;
        }
        off += (size_t)w;
    }
    strbuf_destroy(&p);
    return rc;
}

int warmattach_main(int argc, char **argv)
{
    if (argc < 5 || strcmp(argv[3], "--") != 0) {
        fprintf(stderr, "usage: pytestmon " WARMATTACH_FLAG " STATUSFILE -- PROGRAM [ARGS...]\n");
        return 127;
    }
    const char *status = argv[2];
    char **cmd = argv + 4;
    sigset_t set, old;
    sigemptyset(&set);
    for (size_t i = 0; i < sizeof relayed / sizeof *relayed; i++)
        sigaddset(&set, relayed[i]);
    sigprocmask(SIG_BLOCK, &set, &old);
    int sig_fd = signalfd(-1, &set, SFD_CLOEXEC);
    /* stdin is the connection; the run's stdin is /dev/null, as a cold run's */
    int sock = fcntl(0, F_DUPFD_CLOEXEC, 3);
    int null = open("/dev/null", O_RDONLY);
    if (null >= 0 && null != 0) {
        dup2(null, 0);
        close(null);
    }
    if (sock < 0 || sig_fd < 0)
        return go_cold(sock, &old, cmd, status, "the warm process could not be reached");
    if (send_request(sock, cmd) != 0)
        return go_cold(sock, &old, cmd, status, "the warm process could not be reached");
    StrBuf in = STRBUF_INIT;
    long pid = 0;
    for (;;) {
        struct pollfd pf[2] = {{.fd = sock, .events = POLLIN}, {.fd = sig_fd, .events = POLLIN}};
        if (poll(pf, 2, -1) < 0) {
            if (errno == EINTR)
                continue;
            break;
        }
        if (pf[1].revents & POLLIN) {
            struct signalfd_siginfo si;
            if (read(sig_fd, &si, sizeof si) == (ssize_t)sizeof si) {
                if (pid > 0)
                    kill(-(pid_t)pid, (int)si.ssi_signo);
                else /* nothing forked yet (or we do not know it): the warm process kills it at our EOF */
                    die_like((int)si.ssi_signo);
            }
        }
        if (!(pf[0].revents & (POLLIN | POLLHUP | POLLERR)))
            continue;
        char buf[256];
        ssize_t n = read(sock, buf, sizeof buf);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            break;
        strbuf_append(&in, buf, (size_t)n);
        char *nl;
        while ((nl = memchr(in.data, '\n', in.len)) != NULL) {
            *nl = '\0';
            const char *line = in.data;
            if (strncmp(line, "pid ", 4) == 0) {
                pid = strtol(line + 4, NULL, 10);
                StrBuf sb = STRBUF_INIT;
                strbuf_printf(&sb, "warm %ld\n", pid);
                write_status(status, strbuf_cstr(&sb));
                strbuf_destroy(&sb);
            } else if (strncmp(line, "status ", 7) == 0) {
                int ws = (int)strtol(line + 7, NULL, 10);
                strbuf_destroy(&in);
                if (WIFSIGNALED(ws))
                    die_like(WTERMSIG(ws));
                return WIFEXITED(ws) ? WEXITSTATUS(ws) : 1;
            } else if (strncmp(line, "cold ", 5) == 0 && pid == 0) {
                char *reason = xstrdup(line + 5);
                strbuf_destroy(&in);
                return go_cold(sock, &old, cmd, status, reason);
            }
            size_t used = (size_t)(nl - in.data) + 1;
            memmove(in.data, in.data + used, in.len - used);
            in.len -= used;
            in.data[in.len] = '\0';
        }
    }
    strbuf_destroy(&in);
    if (pid == 0)
        return go_cold(sock, &old, cmd, status, "the warm process ended before it started the run");
    fprintf(stderr, "pytestmon: the warm process ended during the run\n");
    return 1;
}
