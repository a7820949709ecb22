/* warm: the warm pytests runs are forked from. See warm.h. */
#include "pytest/warm.h"

#include <errno.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "base/strbuf.h"
#include "base/textclean.h"
#include "mem/procmem.h"
#include "pytest/child.h"
#include "pytest/project.h"

typedef enum { WARM_STARTING, WARM_READY, WARM_REFUSED, WARM_STALE, WARM_DEAD } WarmState;

static const char *const state_names[] = {"starting", "ready", "refused", "stale", "ended"};

typedef struct WarmProc WarmProc;

struct WarmProc {
    WarmPool *pool;
    WarmProc *next;
    char *key;          /* python, root and the sorted environment, NUL-separated */
    size_t key_len;
    char *root, *python;
    WarmState state;
    char *reason;       /* refused or stale: why */
    Child *child;       /* NULL once it exited */
    int pid;
    uv_pipe_t ctl;      /* the control channel (our end of the socket pair) */
    uv_timer_t idle;
    StrBuf in;          /* what it said, up to the end of a line */
    uint64_t *serials;  /* the runs attached to it now */
    size_t nserials;
    uint64_t last_used;
    int open_handles;   /* ctl, idle, and the child while it lives */
};

struct WarmPool {
    uv_loop_t *loop;
    char *exe;
    WarmProc *procs;
    uint64_t idle_ms;
    uint64_t next_serial;
    bool freeing;
};

WarmPool *warm_pool_new(uv_loop_t *loop, const char *exe)
{
    WarmPool *p = xcalloc(1, sizeof *p);
    p->loop = loop;
    p->exe = xstrdup(exe);
    p->idle_ms = WARM_IDLE_MS_DEFAULT;
    p->next_serial = 1;
    return p;
}

void warm_pool_set_idle_ms(WarmPool *p, uint64_t ms)
{
    p->idle_ms = ms ? ms : WARM_IDLE_MS_DEFAULT;
}

/* ---- keys -------------------------------------------------------------------------- */

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static char *make_key(const LaunchTarget *t, char *const *env, size_t *len)
{
    size_t n = 0;
    while (env && env[n])
        n++;
    const char **v = xcalloc(n + 1, sizeof *v);
    size_t k = 0;
    for (size_t i = 0; i < n; i++)
        if (!launch_env_is_per_run(env[i]))
            v[k++] = env[i];
    qsort(v, k, sizeof *v, cmp_str);
    StrBuf sb = STRBUF_INIT;
    strbuf_puts(&sb, t->python);
    strbuf_putc(&sb, '\0');
    strbuf_puts(&sb, t->root);
    for (size_t i = 0; i < k; i++) {
        strbuf_putc(&sb, '\0');
        strbuf_puts(&sb, v[i]);
    }
    free(v);
    *len = sb.len;
    return strbuf_detach(&sb);
}

/* The warm pytest of that key that can still serve (or says why not): a stale or ended one
 * only when there is no other. */
static WarmProc *find(WarmPool *p, const char *key, size_t len, bool live_only)
{
    WarmProc *fallback = NULL;
    for (WarmProc *w = p->procs; w; w = w->next) {
        if (w->key_len != len || memcmp(w->key, key, len) != 0)
            continue;
        if (w->state == WARM_STARTING || w->state == WARM_READY || w->state == WARM_REFUSED)
            return w;
        if (!fallback && w->state == WARM_STALE)
            fallback = w;
    }
    return live_only ? NULL : fallback;
}

/* ---- life --------------------------------------------------------------------------- */

static void proc_free(WarmProc *w)
{
    WarmPool *p = w->pool;
    for (WarmProc **pp = &p->procs; *pp; pp = &(*pp)->next)
        if (*pp == w) {
            *pp = w->next;
            break;
        }
    free(w->key);
    free(w->root);
    free(w->python);
    free(w->reason);
    free(w->serials);
    strbuf_destroy(&w->in);
    free(w);
    if (p->freeing && !p->procs) {
        free(p->exe);
        free(p);
    }
}

static void proc_handle_gone(WarmProc *w)
{
    /* A refused key's entry outlives its process: it says why runs are cold. */
    if (--w->open_handles == 0 && (w->state != WARM_REFUSED || w->pool->freeing))
        proc_free(w);
}

static void on_closed(uv_handle_t *h)
{
    proc_handle_gone(h->data);
}

static void proc_close(WarmProc *w)
{
    if (!uv_is_closing((uv_handle_t *)&w->ctl))
        uv_close((uv_handle_t *)&w->ctl, on_closed);
    if (!uv_is_closing((uv_handle_t *)&w->idle))
        uv_close((uv_handle_t *)&w->idle, on_closed);
}

static void set_reason(WarmProc *w, WarmState state, const char *reason)
{
    w->state = state;
    free(w->reason);
    w->reason = xstrdup(reason);
}

static void on_exited(void *ud, int64_t status, int term_signal)
{
    WarmProc *w = ud;
    w->child = NULL;
    if (w->state == WARM_STARTING) { /* it could not start (no gc.freeze, an import crashed it): not again */
        StrBuf sb = STRBUF_INIT;
        if (term_signal)
            strbuf_printf(&sb, "the warm process ended before it was ready (signal %d)", term_signal);
        else
            strbuf_printf(&sb, "the warm process ended before it was ready (exit status %lld)", (long long)status);
        set_reason(w, WARM_REFUSED, strbuf_cstr(&sb));
        strbuf_destroy(&sb);
    } else if (w->state != WARM_REFUSED) {
        w->state = WARM_DEAD;
    }
    proc_close(w);
    proc_handle_gone(w);
}

static void on_idle(uv_timer_t *t)
{
    WarmProc *w = t->data;
    if (w->child && w->nserials == 0)
        child_terminate(w->child, 1000);
}

static void on_line(WarmProc *w, const char *line)
{
    if (strncmp(line, "ready ", 6) == 0 && w->state == WARM_STARTING) {
        w->state = WARM_READY;
        uv_timer_start(&w->idle, on_idle, w->pool->idle_ms, 0);
    } else if (strncmp(line, "refused ", 8) == 0) {
        set_reason(w, WARM_REFUSED, line + 8);
        if (w->child)
            child_terminate(w->child, 1000);
    } else if (strncmp(line, "stale ", 6) == 0) {
        set_reason(w, WARM_STALE, line + 6);
    }
}

static void on_alloc(uv_handle_t *h, size_t size, uv_buf_t *buf)
{
    (void)h;
    buf->base = xmalloc(size > 4096 ? 4096 : size);
    buf->len = size > 4096 ? 4096 : size;
}

static void on_read(uv_stream_t *s, ssize_t n, const uv_buf_t *buf)
{
    WarmProc *w = s->data;
    if (n > 0) {
        strbuf_append(&w->in, buf->base, (size_t)n);
        char *nl;
        while (w->in.len && (nl = memchr(w->in.data, '\n', w->in.len)) != NULL) {
            *nl = '\0';
            on_line(w, w->in.data);
            size_t used = (size_t)(nl - w->in.data) + 1;
            memmove(w->in.data, w->in.data + used, w->in.len - used);
            w->in.len -= used;
            w->in.data[w->in.len] = '\0';
        }
    } else if (n < 0) {
        uv_read_stop(s);
        if (w->state == WARM_STARTING || w->state == WARM_READY)
            w->state = WARM_DEAD;
    }
    free(buf->base);
}

/* The run's record of its imports, as the warm pytest reads it first on its control channel:
 * the module names a line, then an empty line. */
typedef struct {
    uv_write_t req;
    char *text;
} PreloadWrite;

static void on_preload_written(uv_write_t *req, int status)
{
    (void)status; /* a warm pytest that is gone says nothing more: its exit is seen */
    PreloadWrite *pw = (PreloadWrite *)req;
    free(pw->text);
    free(pw);
}

static void send_preload(WarmProc *w, const char *imports)
{
    StrBuf text = STRBUF_INIT;
    if (!imports || strbuf_read_file(&text, imports, 0) != 0)
        strbuf_reset(&text);
    if (text.len && text.data[text.len - 1] != '\n')
        strbuf_putc(&text, '\n');
    strbuf_putc(&text, '\n');
    PreloadWrite *pw = xcalloc(1, sizeof *pw);
    size_t len = text.len;
    pw->text = strbuf_detach(&text);
    uv_buf_t buf = uv_buf_init(pw->text, (unsigned)len);
    if (uv_write(&pw->req, (uv_stream_t *)&w->ctl, &buf, 1, on_preload_written) != 0) {
        free(pw->text);
        free(pw);
    }
}

static size_t live_count(const WarmPool *p)
{
    size_t n = 0;
    for (const WarmProc *w = p->procs; w; w = w->next)
        if (w->child && (w->state == WARM_STARTING || w->state == WARM_READY))
            n++;
    return n;
}

/* Room for one more: the least recently used idle one ends. False when all are busy. */
static bool make_room(WarmPool *p)
{
    while (live_count(p) >= WARM_MAX) {
        WarmProc *lru = NULL;
        for (WarmProc *w = p->procs; w; w = w->next)
            if (w->child && w->nserials == 0 && (w->state == WARM_STARTING || w->state == WARM_READY) &&
                (!lru || w->last_used < lru->last_used))
                lru = w;
        if (!lru)
            return false;
        lru->state = WARM_DEAD;
        child_terminate(lru->child, 1000);
    }
    return true;
}

void warm_pool_prepare(WarmPool *p, const LaunchTarget *t, char *const *env, const char *imports,
                       const char *plugin_dir)
{
    if (p->freeing || !plugin_dir || t->error)
        return;
    size_t len;
    char *key = make_key(t, env, &len);
    WarmProc *w = find(p, key, len, true);
    if (w) {
        w->last_used = uv_now(p->loop);
        free(key);
        return;
    }
    if (!make_room(p)) {
        free(key);
        return;
    }
    w = xcalloc(1, sizeof *w);
    w->pool = p;
    w->key = key;
    w->key_len = len;
    w->root = xstrdup(t->root);
    w->python = xstrdup(t->python);
    w->last_used = uv_now(p->loop);
    int sv[2];
    if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) != 0) {
        free(w->key);
        free(w->root);
        free(w->python);
        free(w);
        return;
    }
    LaunchFiles f = {.plugin_dir = plugin_dir};
    LaunchPlan plan;
    launch_plan(t, LAUNCH_WARM, &f, &plan);
    ChildSpec spec = {.exe = p->exe, .argv = plan.argv, .env = plan.env, .cwd = t->root};
    spec.stdio[0] = (uv_stdio_container_t){.flags = UV_INHERIT_FD, .data.fd = sv[1]};
    int rc = 0;
    w->next = p->procs;
    p->procs = w;
    uv_pipe_init(p->loop, &w->ctl, 0);
    uv_timer_init(p->loop, &w->idle);
    w->ctl.data = w->idle.data = w;
    w->open_handles = 2;
    w->child = child_start(p->loop, &spec, on_exited, w, &rc);
    launch_plan_destroy(&plan);
    close(sv[1]);
    if (!w->child || uv_pipe_open(&w->ctl, sv[0]) != 0) {
        if (w->child)
            child_terminate(w->child, 0);
        else
            close(sv[0]);
        w->state = WARM_DEAD;
        if (w->child)
            w->open_handles++;
        proc_close(w);
        return;
    }
    w->open_handles++; /* the child */
    w->pid = child_pid(w->child);
    w->state = WARM_STARTING;
    uv_read_start((uv_stream_t *)&w->ctl, on_alloc, on_read);
    send_preload(w, imports);
}

int warm_pool_attach(WarmPool *p, const LaunchTarget *t, char *const *env, int *fd, uint64_t *serial,
                     const char **reason)
{
    size_t len;
    char *key = make_key(t, env, &len);
    WarmProc *w = find(p, key, len, false);
    free(key);
    if (!w) {
        *reason = "no warm process for this project yet (one starts after this run)";
        return -1;
    }
    if (w->state == WARM_REFUSED || w->state == WARM_STALE) {
        *reason = w->reason;
        return -1;
    }
    if (w->state == WARM_STARTING) {
        *reason = "the warm process is still starting";
        return -1;
    }
    int sv[2];
    if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) != 0) {
        *reason = "no socket for the warm process";
        return -1;
    }
    char byte = 'c';
    struct iovec iov = {&byte, 1};
    char cbuf[CMSG_SPACE(sizeof(int))];
    memset(cbuf, 0, sizeof cbuf);
    struct msghdr msg = {.msg_iov = &iov, .msg_iovlen = 1, .msg_control = cbuf, .msg_controllen = sizeof cbuf};
    struct cmsghdr *c = CMSG_FIRSTHDR(&msg);
    c->cmsg_level = SOL_SOCKET;
    c->cmsg_type = SCM_RIGHTS;
    c->cmsg_len = CMSG_LEN(sizeof(int));
    memcpy(CMSG_DATA(c), &sv[1], sizeof(int));
    uv_os_fd_t ctl;
    ssize_t sent = uv_fileno((uv_handle_t *)&w->ctl, &ctl) == 0 ? sendmsg(ctl, &msg, MSG_NOSIGNAL | MSG_DONTWAIT) : -1;
    close(sv[1]);
    if (sent != 1) {
        close(sv[0]);
        *reason = "the warm process could not be reached";
        return -1;
    }
    *fd = sv[0];
    *serial = p->next_serial++;
    w->serials = xrealloc(w->serials, (w->nserials + 1) * sizeof *w->serials);
    w->serials[w->nserials++] = *serial;
    w->last_used = uv_now(p->loop);
    uv_timer_stop(&w->idle);
    return 0;
}

void warm_pool_release(WarmPool *p, uint64_t serial)
{
    for (WarmProc *w = p->procs; w; w = w->next)
        for (size_t i = 0; i < w->nserials; i++)
            if (w->serials[i] == serial) {
                w->serials[i] = w->serials[--w->nserials];
                w->last_used = uv_now(p->loop);
                if (w->nserials == 0 && w->state == WARM_READY && !uv_is_closing((uv_handle_t *)&w->idle))
                    uv_timer_start(&w->idle, on_idle, p->idle_ms, 0);
                return;
            }
}

void warm_pool_free(WarmPool *p)
{
    p->freeing = true;
    if (!p->procs) {
        free(p->exe);
        free(p);
        return;
    }
    WarmProc *next;
    for (WarmProc *w = p->procs; w; w = next) {
        next = w->next;
        if (w->child)
            child_signal(w->child, SIGKILL);
        else if (w->open_handles == 0) /* a refusal kept for its reason */
            proc_free(w);
        else
            proc_close(w);
    }
}

static uint64_t rss_of(int pid)
{
    ProcStatm st;
    return pid > 0 && procmem_read_statm("", pid, &st) == 0 ? st.rss : 0;
}

json_t *warm_pool_json(const WarmPool *p)
{
    json_t *a = json_array();
    for (const WarmProc *w = p->procs; w; w = w->next) {
        if (w->state == WARM_DEAD)
            continue;
        json_t *o = json_pack("{s:s, s:s, s:s}", "root", w->root, "python", w->python, "state",
                              state_names[w->state]);
        if (w->child) {
            json_object_set_new(o, "pid", json_integer(w->pid));
            json_object_set_new(o, "rss", json_integer((json_int_t)rss_of(w->pid)));
        }
        if (w->reason) { /* display text: it may name a file */
            char *clean = textclean_dup(w->reason, strlen(w->reason), 0, TEXTCLEAN_MESSAGE_MAX);
            json_object_set_new(o, "reason", json_string(clean));
            free(clean);
        }
        json_array_append_new(a, o);
    }
    return a;
}

uint64_t warm_pool_rss(const WarmPool *p)
{
    uint64_t sum = 0;
    for (const WarmProc *w = p->procs; w; w = w->next)
        if (w->child)
            sum += rss_of(w->pid);
    return sum;
}
