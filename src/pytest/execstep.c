/* execstep: PR_SET_PDEATHSIG between fork and exec (see execstep.h). Kept tiny: it runs in
 * every pytest child before pytest itself. */
#include "pytest/execstep.h"

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <unistd.h>

#include "base/strbuf.h"

void execstep_describe_signal(StrBuf *out, int sig)
{
    const char *abbrev = sigabbrev_np(sig);
    if (abbrev)
        strbuf_printf(out, "signal %d (SIG%s)", sig, abbrev);
    else
        strbuf_printf(out, "signal %d", sig);
}

char *execstep_self_path(void)
{
    StrBuf sb = STRBUF_INIT;
    for (size_t cap = 256;; cap *= 2) {
        char *buf = xmalloc(cap);
        ssize_t n = readlink("/proc/self/exe", buf, cap);
        if (n >= 0 && (size_t)n < cap)
            strbuf_append(&sb, buf, (size_t)n);
        free(buf);
        if (n < 0 || (size_t)n < cap)
            break;
    }
    static const char deleted[] = " (deleted)";
    size_t dl = sizeof deleted - 1;
    if (sb.len == 0 || sb.data[0] != '/' ||
        (sb.len > dl && strcmp(sb.data + sb.len - dl, deleted) == 0)) {
        strbuf_reset(&sb);
        strbuf_puts(&sb, "/proc/self/exe");
    }
    return strbuf_detach(&sb);
}

char **execstep_argv(int parent_pid, char *const *argv)
{
    size_t n = 0;
    while (argv[n])
        n++;
    char **out = xcalloc(n + 5, sizeof *out);
    StrBuf pid = STRBUF_INIT;
    strbuf_printf(&pid, "%d", parent_pid);
    out[0] = xstrdup("pytestmon");
    out[1] = xstrdup(EXECSTEP_FLAG);
    out[2] = strbuf_detach(&pid);
    out[3] = xstrdup("--");
    for (size_t i = 0; i < n; i++)
        out[4 + i] = xstrdup(argv[i]);
    return out;
}

int execstep_main(int argc, char **argv)
{
    char *end;
    long ppid = argc >= 5 ? strtol(argv[2], &end, 10) : 0;
    if (argc < 5 || *argv[2] == '\0' || *end != '\0' || ppid <= 0 || strcmp(argv[3], "--") != 0) {
        fprintf(stderr, "usage: pytestmon " EXECSTEP_FLAG " PPID -- PROGRAM [ARGS...]\n");
        return 127;
    }
    if (prctl(PR_SET_PDEATHSIG, SIGKILL) != 0) {
        fprintf(stderr, "pytestmon: prctl(PR_SET_PDEATHSIG): %s\n", strerror(errno));
        return 127;
    }
    /* The parent may have died between fork and the prctl: then nobody would signal us. */
    if (getppid() != (pid_t)ppid)
        return 127;
    execvp(argv[4], argv + 4);
    fprintf(stderr, "pytestmon: cannot run '%s': %s\n", argv[4], strerror(errno));
    return 127;
}
