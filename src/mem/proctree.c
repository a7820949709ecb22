/* proctree: process trees from /proc (see proctree.h). */
#include "mem/proctree.h"

#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

void proctree_init(ProcTree *t)
{
    t->pids = NULL;
    t->n = t->cap = 0;
    t->used_children = false;
}

void proctree_destroy(ProcTree *t)
{
    free(t->pids);
    proctree_init(t);
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
        while (procmem_parse_u64(&p, &v))
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

int proctree_discover_scan(const char *root, int pid, ProcTree *t)
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

int proctree_discover(const char *root, int pid, ProcTree *t)
{
    StrBuf path = STRBUF_INIT, text = STRBUF_INIT;
    int rc = 0;
    t->n = 0;
    if (!have_children_files(root, pid, &path)) {
        rc = pid_exists(root, pid, &path);
        if (rc == 0)
            rc = proctree_discover_scan(root, pid, t);
        goto error;
    }
    t->used_children = true;
    tree_push(t, pid);
    for (size_t i = 0; i < t->n; i++) {
        int r = add_children(root, t->pids[i], t, &path, &text);
        if (r == -ENOTSUP && i == 0) {
            rc = proctree_discover_scan(root, pid, t);
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

void proctree_sample_init(ProcTreeSample *s)
{
    memset(s, 0, sizeof *s);
    proctree_init(&s->tree);
}

void proctree_sample_destroy(ProcTreeSample *s)
{
    free(s->procs);
    proctree_destroy(&s->tree);
    proctree_sample_init(s);
}

int proctree_sample(const char *root, int pid, ProcTreeSample *s)
{
    s->root_pid = pid;
    s->nproc = 0;
    s->rss = s->vms = s->shared = s->max_rss = s->max_vms = 0;
    int rc = proctree_discover(root, pid, &s->tree);
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

size_t proctree_descendants(const char *root, int pid, int **pids)
{
    ProcTree t;
    proctree_init(&t);
    size_t n = 0;
    *pids = NULL;
    if (proctree_discover(root, pid, &t) == 0 && t.n > 1) {
        n = t.n - 1; /* the tree lists pid itself first */
        *pids = xmalloc(n * sizeof **pids);
        memcpy(*pids, t.pids + 1, n * sizeof **pids);
    }
    proctree_destroy(&t);
    return n;
}

size_t proctree_children_of(const char *root, int pid, int **pids)
{
    int *all = NULL;
    size_t n = proctree_descendants(root, pid, &all);
    size_t k = 0;
    StrBuf path = STRBUF_INIT, text = STRBUF_INIT;
    for (size_t i = 0; i < n; i++) {
        int ppid = 0;
        procmem_path(&path, root, "/proc/%d/stat", all[i]);
        if (procmem_read_file(strbuf_cstr(&path), &text) == 0 &&
            procmem_parse_stat_ppid(strbuf_cstr(&text), &ppid) == 0 && ppid == pid)
            all[k++] = all[i];
    }
    strbuf_destroy(&path);
    strbuf_destroy(&text);
    *pids = all;
    return k;
}
