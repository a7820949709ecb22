/* procmem: per-process memory and process trees from /proc (see procmem.h). */
#include "mem/procmem.h"

#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* ---- shared helpers ---------------------------------------------------------------- */

int procmem_read_file(const char *path, StrBuf *out)
{
    return strbuf_read_file(out, path, 0);
}

void procmem_path(StrBuf *out, const char *root, const char *fmt, ...)
{
    strbuf_reset(out);
    if (root && strcmp(root, "/") != 0)
        strbuf_puts(out, root);
    va_list ap;
    va_start(ap, fmt);
    strbuf_vprintf(out, fmt, ap);
    va_end(ap);
}

static uint64_t page_size(void)
{
    static uint64_t ps;
    if (!ps) {
        long v = sysconf(_SC_PAGESIZE);
        ps = v > 0 ? (uint64_t)v : 4096;
    }
    return ps;
}

/* Reads "ROOT/proc/PID/<name>" into sb. */
static int read_pid_file(const char *root, int pid, const char *name, StrBuf *sb)
{
    StrBuf path = STRBUF_INIT;
    procmem_path(&path, root, "/proc/%d/%s", pid, name);
    int rc = procmem_read_file(path.data, sb);
    strbuf_destroy(&path);
    return rc;
}

/* Parses an unsigned decimal at *p, skipping leading blanks. */
static bool parse_u64(const char **p, uint64_t *out)
{
    const char *s = *p;
    while (*s == ' ' || *s == '\t')
        s++;
    if (!isdigit((unsigned char)*s))
        return false;
    uint64_t v = 0;
    while (isdigit((unsigned char)*s)) {
        unsigned d = (unsigned)(*s - '0');
        if (v > (UINT64_MAX - d) / 10)
            return false;
        v = v * 10 + d;
        s++;
    }
    *p = s;
    *out = v;
    return true;
}

/* ---- statm ------------------------------------------------------------------------- */

int procmem_parse_statm(const char *text, uint64_t psz, ProcStatm *out)
{
    uint64_t v[7];
    const char *p = text;
    for (int i = 0; i < 7; i++)
        if (!parse_u64(&p, &v[i]))
            return -EINVAL;
    out->vms = v[0] * psz;
    out->rss = v[1] * psz;
    out->shared = v[2] * psz;
    out->text = v[3] * psz;
    out->lib = v[4] * psz;
    out->data = v[5] * psz;
    out->dirty = v[6] * psz;
    return 0;
}

int procmem_read_statm(const char *root, int pid, ProcStatm *out)
{
    StrBuf sb = STRBUF_INIT;
    int rc = read_pid_file(root, pid, "statm", &sb);
    if (rc < 0)
        goto error;
    rc = procmem_parse_statm(sb.data, page_size(), out);
error:
    strbuf_destroy(&sb);
    return rc;
}

/* ---- status ------------------------------------------------------------------------ */

int procmem_parse_status(const char *text, ProcStatus *out)
{
    static const struct {
        const char *key;
        size_t off;
    } kb_keys[] = {
        {"VmPeak:", offsetof(ProcStatus, vm_peak)},
        {"VmSize:", offsetof(ProcStatus, vm_size)},
        {"VmLck:", offsetof(ProcStatus, vm_lck)},
        {"VmHWM:", offsetof(ProcStatus, vm_hwm)},
        {"VmRSS:", offsetof(ProcStatus, vm_rss)},
        {"RssAnon:", offsetof(ProcStatus, rss_anon)},
        {"RssFile:", offsetof(ProcStatus, rss_file)},
        {"RssShmem:", offsetof(ProcStatus, rss_shmem)},
        {"VmData:", offsetof(ProcStatus, vm_data)},
        {"VmStk:", offsetof(ProcStatus, vm_stk)},
        {"VmSwap:", offsetof(ProcStatus, vm_swap)},
    };
    memset(out, 0, sizeof *out);
    bool have_size = false;
    for (const char *line = text; line && *line;) {
        const char *nl = strchr(line, '\n');
        uint64_t v;
        const char *p;
        if (strncmp(line, "Pid:", 4) == 0) {
            p = line + 4;
            if (parse_u64(&p, &v))
                out->pid = (int)v;
        } else if (strncmp(line, "PPid:", 5) == 0) {
            p = line + 5;
            if (parse_u64(&p, &v))
                out->ppid = (int)v;
        } else if (strncmp(line, "Threads:", 8) == 0) {
            p = line + 8;
            if (parse_u64(&p, &v))
                out->threads = (int)v;
        } else if (line[0] == 'V' || line[0] == 'R') {
            for (size_t i = 0; i < sizeof kb_keys / sizeof kb_keys[0]; i++) {
                size_t kl = strlen(kb_keys[i].key);
                if (strncmp(line, kb_keys[i].key, kl) != 0)
                    continue;
                p = line + kl;
                if (parse_u64(&p, &v)) {
                    *(uint64_t *)((char *)out + kb_keys[i].off) = v * 1024;
                    if (kb_keys[i].off == offsetof(ProcStatus, vm_size))
                        have_size = true;
                }
                break;
            }
        }
        line = nl ? nl + 1 : NULL;
    }
    return have_size ? 0 : -EINVAL;
}

int procmem_read_status(const char *root, int pid, ProcStatus *out)
{
    StrBuf sb = STRBUF_INIT;
    int rc = read_pid_file(root, pid, "status", &sb);
    if (rc < 0)
        goto error;
    rc = procmem_parse_status(sb.data, out);
error:
    strbuf_destroy(&sb);
    return rc;
}

/* ---- limits ------------------------------------------------------------------------ */

static bool parse_limit_value(const char **p, uint64_t *out)
{
    const char *s = *p;
    while (*s == ' ' || *s == '\t')
        s++;
    if (strncmp(s, "unlimited", 9) == 0) {
        *out = PROCMEM_UNLIMITED;
        *p = s + 9;
        return true;
    }
    *p = s;
    return parse_u64(p, out);
}

int procmem_parse_limits(const char *text, ProcLimits *out)
{
    static const struct {
        const char *key;
        size_t off;
    } rows[] = {
        {"Max address space", offsetof(ProcLimits, as)},
        {"Max data size", offsetof(ProcLimits, data)},
        {"Max resident set", offsetof(ProcLimits, rss)},
        {"Max locked memory", offsetof(ProcLimits, memlock)},
        {"Max stack size", offsetof(ProcLimits, stack)},
    };
    ProcLimit unl = {PROCMEM_UNLIMITED, PROCMEM_UNLIMITED};
    out->as = out->data = out->rss = out->memlock = out->stack = unl;
    bool have_as = false;
    for (const char *line = text; line && *line;) {
        const char *nl = strchr(line, '\n');
        for (size_t i = 0; i < sizeof rows / sizeof rows[0]; i++) {
            size_t kl = strlen(rows[i].key);
            if (strncmp(line, rows[i].key, kl) != 0 || (line[kl] != ' ' && line[kl] != '\t'))
                continue;
            const char *p = line + kl;
            ProcLimit l;
            if (parse_limit_value(&p, &l.soft) && parse_limit_value(&p, &l.hard)) {
                *(ProcLimit *)((char *)out + rows[i].off) = l;
                if (i == 0)
                    have_as = true;
            }
            break;
        }
        line = nl ? nl + 1 : NULL;
    }
    return have_as ? 0 : -EINVAL;
}

int procmem_read_limits(const char *root, int pid, ProcLimits *out)
{
    StrBuf sb = STRBUF_INIT;
    int rc = read_pid_file(root, pid, "limits", &sb);
    if (rc < 0)
        goto error;
    rc = procmem_parse_limits(sb.data, out);
error:
    strbuf_destroy(&sb);
    return rc;
}

/* ---- smaps_rollup ------------------------------------------------------------------ */

int procmem_parse_rollup(const char *text, ProcRollup *out)
{
    memset(out, 0, sizeof *out);
    bool any = false;
    for (const char *line = text; line && *line;) {
        const char *nl = strchr(line, '\n');
        const char *colon = strchr(line, ':');
        if (colon && (!nl || colon < nl)) {
            size_t kl = (size_t)(colon - line);
            const char *p = colon + 1;
            uint64_t v;
            if (parse_u64(&p, &v)) {
                v *= 1024;
                if (kl == 3 && strncmp(line, "Rss", 3) == 0)
                    out->rss = v, any = true;
                else if (kl == 3 && strncmp(line, "Pss", 3) == 0)
                    out->pss = v, any = true;
                else if (kl == 4 && strncmp(line, "Swap", 4) == 0)
                    out->swap = v;
                else if (kl == 7 && strncmp(line, "SwapPss", 7) == 0)
                    out->swap_pss = v;
                else if (kl > 8 && strncmp(line, "Private_", 8) == 0)
                    out->uss += v;
            }
        }
        line = nl ? nl + 1 : NULL;
    }
    return any ? 0 : -EINVAL;
}

int procmem_read_rollup(const char *root, int pid, ProcRollup *out)
{
    StrBuf sb = STRBUF_INIT;
    int rc = read_pid_file(root, pid, "smaps_rollup", &sb);
    if (rc < 0)
        goto error;
    rc = procmem_parse_rollup(sb.data, out);
error:
    strbuf_destroy(&sb);
    return rc;
}

/* ---- maps count -------------------------------------------------------------------- */

size_t procmem_count_lines(const char *text, size_t len)
{
    size_t n = 0;
    const char *p = text, *end = text + len;
    while (p < end) {
        const char *nl = memchr(p, '\n', (size_t)(end - p));
        n++;
        if (!nl)
            break;
        p = nl + 1;
    }
    return n;
}

int procmem_read_map_count(const char *root, int pid, uint64_t *out)
{
    /* Streams the file: maps of a big process is megabytes; only newlines matter. */
    StrBuf path = STRBUF_INIT;
    int rc = 0, fd = -1;
    procmem_path(&path, root, "/proc/%d/maps", pid);
    fd = open(path.data, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        rc = -errno;
        goto error;
    }
    uint64_t lines = 0;
    char last = '\n';
    char chunk[16384];
    for (;;) {
        ssize_t n = read(fd, chunk, sizeof chunk);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            rc = -errno;
            goto error;
        }
        if (n == 0)
            break;
        for (const char *p = chunk; (p = memchr(p, '\n', (size_t)(chunk + n - p))); p++)
            lines++;
        last = chunk[n - 1];
    }
    if (last != '\n')
        lines++;
    *out = lines;
error:
    if (fd >= 0)
        close(fd);
    strbuf_destroy(&path);
    return rc;
}

/* ---- stat / tree ------------------------------------------------------------------- */

int procmem_parse_stat_ppid(const char *text, int *ppid)
{
    const char *rp = strrchr(text, ')');
    if (!rp)
        return -EINVAL;
    const char *p = rp + 1;
    while (*p == ' ')
        p++;
    if (!*p || *p == '\n')
        return -EINVAL;
    p++; /* state letter */
    uint64_t v;
    if (!parse_u64(&p, &v))
        return -EINVAL;
    *ppid = (int)v;
    return 0;
}

int procmem_parse_stat_start(const char *text, uint64_t *start)
{
    const char *rp = strrchr(text, ')');
    if (!rp)
        return -EINVAL;
    const char *p = rp + 1;
    while (*p == ' ')
        p++;
    if (!*p || *p == '\n')
        return -EINVAL;
    p++; /* state letter (field 3) */
    uint64_t v = 0;
    for (int field = 4; field <= 22; field++) {
        while (*p == ' ')
            p++;
        if (*p == '-') /* a few fields (priority, nice) may be negative */
            p++;
        if (!parse_u64(&p, &v))
            return -EINVAL;
    }
    *start = v;
    return 0;
}

void procmem_tree_init(ProcTree *t)
{
    t->pids = NULL;
    t->n = t->cap = 0;
    t->used_children = false;
}

void procmem_tree_destroy(ProcTree *t)
{
    free(t->pids);
    procmem_tree_init(t);
}

static void tree_push(ProcTree *t, int pid)
{
    for (size_t i = 0; i < t->n; i++)
        if (t->pids[i] == pid)
            return; /* PID reuse races could loop otherwise */
    if (t->n == t->cap) {
        t->cap = t->cap ? t->cap * 2 : 16;
        t->pids = xrealloc(t->pids, t->cap * sizeof *t->pids);
    }
    t->pids[t->n++] = pid;
}

static int pid_exists(const char *root, int pid, StrBuf *scratch)
{
    procmem_path(scratch, root, "/proc/%d", pid);
    return access(scratch->data, F_OK) == 0 ? 0 : -ESRCH;
}

/* Directory listing without opendir(): glibc's opendir() mallocs a 32 KiB buffer per call,
 * and the sampler lists /proc/PID/task of every process of the tree several times a second;
 * those transient 32 KiB heap chunks were what fragmented a long-lived co-process's heap.
 * getdents64() fills this iterator's own buffer (on the caller's stack) instead; a full
 * buffer just means another getdents64() call, nothing is cut. */
typedef struct {
    int fd;
    long len, pos;
    char buf[4096] __attribute__((aligned(8)));
} DirIter;

static int diriter_open(DirIter *it, const char *path)
{
    it->len = it->pos = 0;
    it->fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    return it->fd < 0 ? -errno : 0;
}

/* The next entry's name (borrowed until the next call), or NULL at the end or on error. */
static const char *diriter_next(DirIter *it)
{
    if (it->pos >= it->len) {
        ssize_t n = getdents64(it->fd, it->buf, sizeof it->buf);
        if (n <= 0)
            return NULL;
        it->len = n;
        it->pos = 0;
    }
    struct dirent64 *de = (struct dirent64 *)(it->buf + it->pos);
    it->pos += de->d_reclen;
    return de->d_name;
}

static void diriter_close(DirIter *it)
{
    if (it->fd >= 0)
        close(it->fd);
    it->fd = -1;
}

/* Appends the children listed in ROOT/proc/PID/task/ * /children.
 * Returns 0, -ENOTSUP when the kernel has no children files, -ESRCH when gone. */
static int add_children(const char *root, int pid, ProcTree *t, StrBuf *path, StrBuf *text)
{
    procmem_path(path, root, "/proc/%d/task", pid);
    DirIter d;
    int rc = diriter_open(&d, path->data);
    if (rc < 0)
        return rc == -ENOENT ? -ESRCH : rc;
    bool any_file = false;
    const char *name;
    while ((name = diriter_next(&d))) {
        if (!isdigit((unsigned char)name[0]))
            continue;
        procmem_path(path, root, "/proc/%d/task/%s/children", pid, name);
        int r = procmem_read_file(path->data, text);
        if (r == -ENOENT) {
            /* either this thread just exited or the kernel lacks the file */
            continue;
        }
        if (r < 0)
            continue;
        any_file = true;
        const char *p = text->data;
        uint64_t v;
        while (parse_u64(&p, &v))
            tree_push(t, (int)v);
    }
    diriter_close(&d);
    if (!any_file)
        rc = -ENOTSUP;
    return rc;
}

static bool have_children_files(const char *root, int pid, StrBuf *scratch)
{
    procmem_path(scratch, root, "/proc/%d/task/%d/children", pid, pid);
    return access(scratch->data, F_OK) == 0;
}

int procmem_tree_discover_scan(const char *root, int pid, ProcTree *t)
{
    StrBuf path = STRBUF_INIT, text = STRBUF_INIT;
    int rc = 0;
    int *pp = NULL, *pc = NULL; /* parallel arrays: pid, ppid */
    size_t n = 0, cap = 0;
    DirIter d = {.fd = -1};
    t->n = 0;
    t->used_children = false;
    rc = pid_exists(root, pid, &path);
    if (rc < 0)
        goto error;
    procmem_path(&path, root, "/proc");
    if ((rc = diriter_open(&d, path.data)) < 0)
        goto error;
    const char *name;
    while ((name = diriter_next(&d))) {
        if (!isdigit((unsigned char)name[0]))
            continue;
        procmem_path(&path, root, "/proc/%s/stat", name);
        int ppid;
        if (procmem_read_file(path.data, &text) < 0 || procmem_parse_stat_ppid(text.data, &ppid) < 0)
            continue; /* vanished */
        if (n == cap) {
            cap = cap ? cap * 2 : 256;
            pp = xrealloc(pp, cap * sizeof *pp);
            pc = xrealloc(pc, cap * sizeof *pc);
        }
        pp[n] = atoi(name);
        pc[n] = ppid;
        n++;
    }
    tree_push(t, pid);
    for (size_t i = 0; i < t->n; i++)
        for (size_t j = 0; j < n; j++)
            if (pc[j] == t->pids[i])
                tree_push(t, pp[j]);
error:
    diriter_close(&d);
    free(pp);
    free(pc);
    strbuf_destroy(&path);
    strbuf_destroy(&text);
    return rc;
}

int procmem_tree_discover(const char *root, int pid, ProcTree *t)
{
    StrBuf path = STRBUF_INIT, text = STRBUF_INIT;
    int rc = 0;
    t->n = 0;
    if (!have_children_files(root, pid, &path)) {
        rc = pid_exists(root, pid, &path);
        if (rc == 0)
            rc = procmem_tree_discover_scan(root, pid, t);
        goto error;
    }
    t->used_children = true;
    tree_push(t, pid);
    for (size_t i = 0; i < t->n; i++) {
        int r = add_children(root, t->pids[i], t, &path, &text);
        if (r == -ENOTSUP && i == 0) {
            rc = procmem_tree_discover_scan(root, pid, t);
            goto error;
        }
        if (r < 0 && i == 0) {
            rc = r;
            goto error;
        }
        /* a descendant that vanished: skipped */
    }
error:
    strbuf_destroy(&path);
    strbuf_destroy(&text);
    return rc;
}

void procmem_tree_sample_init(ProcTreeSample *s)
{
    memset(s, 0, sizeof *s);
    procmem_tree_init(&s->tree);
}

void procmem_tree_sample_destroy(ProcTreeSample *s)
{
    free(s->procs);
    procmem_tree_destroy(&s->tree);
    procmem_tree_sample_init(s);
}

int procmem_tree_sample(const char *root, int pid, ProcTreeSample *s)
{
    s->root_pid = pid;
    s->nproc = 0;
    s->rss = s->vms = s->shared = s->max_rss = s->max_vms = 0;
    int rc = procmem_tree_discover(root, pid, &s->tree);
    if (rc < 0)
        return rc;
    if (s->cap < s->tree.n) {
        s->cap = s->tree.n;
        s->procs = xrealloc(s->procs, s->cap * sizeof *s->procs);
    }
    for (size_t i = 0; i < s->tree.n; i++) {
        ProcSample *ps = &s->procs[s->nproc];
        int r = procmem_read_statm(root, s->tree.pids[i], &ps->statm);
        if (r < 0) {
            if (i == 0)
                return r; /* the root itself went away */
            continue;
        }
        ps->pid = s->tree.pids[i];
        s->nproc++;
        s->rss += ps->statm.rss;
        s->vms += ps->statm.vms;
        s->shared += ps->statm.shared;
        if (ps->statm.rss > s->max_rss)
            s->max_rss = ps->statm.rss;
        if (ps->statm.vms > s->max_vms)
            s->max_vms = ps->statm.vms;
    }
    return 0;
}
