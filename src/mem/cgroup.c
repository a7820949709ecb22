/* cgroup: memory cgroup v1/v2 discovery and counters (see cgroup.h). */
#include "mem/cgroup.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "mem/procmem.h"

#define CGROUP_HUGE (1ULL << 62) /* v1 "no limit" is LONG_MAX rounded down to a page */

void cgroup_mem_init(CgroupMem *m)
{
    memset(m, 0, sizeof *m);
    m->limit = m->effective_limit = m->high = m->swap_limit = CGROUP_NO_LIMIT;
}

void cgroup_mem_destroy(CgroupMem *m)
{
    free(m->path);
    free(m->dir);
    free(m->limit_dir);
    cgroup_mem_init(m);
}

static bool list_has(const char *list, size_t n, const char *word)
{
    size_t wl = strlen(word);
    const char *p = list, *end = list + n;
    while (p < end) {
        const char *comma = memchr(p, ',', (size_t)(end - p));
        const char *e = comma ? comma : end;
        if ((size_t)(e - p) == wl && strncmp(p, word, wl) == 0)
            return true;
        p = e + 1;
    }
    return false;
}

static void set_path(StrBuf *out, const char *s, size_t n)
{
    static const char deleted[] = " (deleted)";
    size_t dl = sizeof deleted - 1;
    if (n >= dl && memcmp(s + n - dl, deleted, dl) == 0)
        n -= dl;
    strbuf_reset(out);
    strbuf_append(out, s, n);
}

int cgroup_parse_proc_cgroup(const char *text, CgroupVersion *ver, StrBuf *path)
{
    bool have_v2 = false;
    StrBuf v2 = STRBUF_INIT;
    int rc = -ENOENT;
    for (const char *line = text; line && *line;) {
        const char *nl = strchr(line, '\n');
        size_t len = nl ? (size_t)(nl - line) : strlen(line);
        const char *c1 = memchr(line, ':', len);
        const char *c2 = c1 ? memchr(c1 + 1, ':', len - (size_t)(c1 + 1 - line)) : NULL;
        if (c2) {
            const char *ctrl = c1 + 1;
            size_t ctrl_len = (size_t)(c2 - ctrl);
            const char *p = c2 + 1;
            size_t plen = len - (size_t)(p - line);
            if (list_has(ctrl, ctrl_len, "memory")) {
                set_path(path, p, plen);
                *ver = CGROUP_V1;
                rc = 0;
                goto error; /* v1 memory controller wins */
            }
            if (ctrl_len == 0 && c1 - line == 1 && line[0] == '0') {
                set_path(&v2, p, plen);
                have_v2 = true;
            }
        }
        line = nl ? nl + 1 : NULL;
    }
    if (have_v2) {
        strbuf_reset(path);
        strbuf_append(path, strbuf_cstr(&v2), v2.len);
        *ver = CGROUP_V2;
        rc = 0;
    }
error:
    strbuf_destroy(&v2);
    return rc;
}

void cgroup_unescape(const char *s, size_t n, StrBuf *out)
{
    strbuf_reset(out);
    for (size_t i = 0; i < n; i++) {
        if (s[i] == '\\' && i + 3 < n && s[i + 1] >= '0' && s[i + 1] <= '3' &&
            s[i + 2] >= '0' && s[i + 2] <= '7' && s[i + 3] >= '0' && s[i + 3] <= '7') {
            char c = (char)(((s[i + 1] - '0') << 6) | ((s[i + 2] - '0') << 3) | (s[i + 3] - '0'));
            strbuf_putc(out, c);
            i += 3;
        } else {
            strbuf_putc(out, s[i]);
        }
    }
    if (!out->data)
        strbuf_append(out, "", 0);
}

/* Splits a line into space-separated fields (at most `max`). */
static size_t split_fields(const char *line, size_t len, const char **f, size_t *fl, size_t max)
{
    size_t n = 0;
    const char *p = line, *end = line + len;
    while (p < end && n < max) {
        while (p < end && *p == ' ')
            p++;
        if (p >= end)
            break;
        const char *s = p;
        while (p < end && *p != ' ')
            p++;
        f[n] = s;
        fl[n] = (size_t)(p - s);
        n++;
    }
    return n;
}

int cgroup_parse_mountinfo(const char *text, CgroupVersion ver, StrBuf *mount_root,
                           StrBuf *mount_point)
{
    for (const char *line = text; line && *line;) {
        const char *nl = strchr(line, '\n');
        size_t len = nl ? (size_t)(nl - line) : strlen(line);
        /* id parent maj:min root mountpoint opts [optional...] - fstype source superopts */
        const char *f[64];
        size_t fl[64];
        size_t n = split_fields(line, len, f, fl, 64);
        size_t dash = 0;
        for (size_t i = 6; i < n; i++)
            if (fl[i] == 1 && f[i][0] == '-') {
                dash = i;
                break;
            }
        if (dash && dash + 1 < n) {
            const char *fstype = f[dash + 1];
            size_t ftl = fl[dash + 1];
            bool match = false;
            if (ver == CGROUP_V2)
                match = ftl == 7 && strncmp(fstype, "cgroup2", 7) == 0;
            else if (ver == CGROUP_V1 && ftl == 6 && strncmp(fstype, "cgroup", 6) == 0 &&
                     dash + 3 < n)
                match = list_has(f[dash + 3], fl[dash + 3], "memory");
            if (match) {
                cgroup_unescape(f[3], fl[3], mount_root);
                cgroup_unescape(f[4], fl[4], mount_point);
                return 0;
            }
        }
        line = nl ? nl + 1 : NULL;
    }
    return -ENOENT;
}

int cgroup_parse_limit(const char *text, uint64_t *out)
{
    while (*text == ' ')
        text++;
    if (strncmp(text, "max", 3) == 0) {
        *out = CGROUP_NO_LIMIT;
        return 0;
    }
    char *end;
    errno = 0;
    unsigned long long v = strtoull(text, &end, 10);
    if (end == text)
        return -EINVAL;
    if (errno == ERANGE || v >= CGROUP_HUGE)
        v = CGROUP_NO_LIMIT;
    *out = v;
    return 0;
}

int cgroup_parse_keyed(const char *text, const char *key, uint64_t *out)
{
    size_t kl = strlen(key);
    for (const char *line = text; line && *line;) {
        const char *nl = strchr(line, '\n');
        if (strncmp(line, key, kl) == 0 && line[kl] == ' ') {
            char *end;
            unsigned long long v = strtoull(line + kl + 1, &end, 10);
            if (end == line + kl + 1)
                return -EINVAL;
            *out = v;
            return 0;
        }
        line = nl ? nl + 1 : NULL;
    }
    return -ENOENT;
}

/* Reads ROOT + dir + "/" + name. */
static int read_cg(const char *root, const char *dir, const char *name, StrBuf *sb)
{
    StrBuf path = STRBUF_INIT;
    procmem_path(&path, root, "%s/%s", dir, name);
    int rc = procmem_read_file(path.data, sb);
    strbuf_destroy(&path);
    return rc;
}

PROCMEM_PARSE_FN(parse_limit, cgroup_parse_limit)

static int read_cg_limit(const char *root, const char *dir, const char *name, uint64_t *out)
{
    return procmem_read_parsed(root, parse_limit, out, "%s/%s", dir, name);
}

/* Walks from `dir` up to `top` taking the smallest limit in file `name`; `dir`'s own is
 * m->limit, already read. */
static void effective_limit(const char *root, const char *dir, const char *top, const char *name,
                            CgroupMem *m)
{
    size_t top_len = strlen(top);
    while (top_len > 1 && top[top_len - 1] == '/')
        top_len--;
    char *d = xstrdup(dir);
    for (bool own = true;; own = false) {
        uint64_t v = m->limit;
        if ((own || read_cg_limit(root, d, name, &v) == 0) && v != CGROUP_NO_LIMIT &&
            v < m->effective_limit) {
            m->effective_limit = v;
            free(m->limit_dir);
            m->limit_dir = xstrdup(d);
        }
        size_t len = strlen(d);
        if (len <= top_len)
            break;
        char *slash = strrchr(d, '/');
        if (!slash || (size_t)(slash - d) < top_len)
            break;
        if (slash == d)
            slash[1] = '\0';
        else
            *slash = '\0';
    }
    free(d);
}

int cgroup_read(const char *root, int pid, CgroupMem *m)
{
    StrBuf sb = STRBUF_INIT, path = STRBUF_INIT, mroot = STRBUF_INIT, mpoint = STRBUF_INIT;
    StrBuf dir = STRBUF_INIT;
    CgroupVersion ver = CGROUP_NONE;
    int rc;
    cgroup_mem_destroy(m);
    procmem_path(&path, root, "/proc/%d/cgroup", pid);
    rc = procmem_read_file(path.data, &sb);
    if (rc < 0)
        goto error;
    StrBuf cgpath = STRBUF_INIT;
    if (cgroup_parse_proc_cgroup(sb.data, &ver, &cgpath) < 0) {
        strbuf_destroy(&cgpath);
        goto error; /* rc == 0, version NONE */
    }
    m->path = strbuf_detach(&cgpath);
    procmem_path(&path, root, "/proc/self/mountinfo");
    if (procmem_read_file(path.data, &sb) < 0 ||
        cgroup_parse_mountinfo(sb.data, ver, &mroot, &mpoint) < 0)
        goto error; /* no mount: no readable controller */

    /* dir = mount point + (cgroup path minus the mount's root) */
    const char *rel = m->path;
    size_t rl = mroot.len;
    while (rl > 0 && mroot.data[rl - 1] == '/')
        rl--;
    if (rl > 0 && strncmp(rel, mroot.data, rl) == 0 && (rel[rl] == '/' || rel[rl] == '\0'))
        rel += rl;
    strbuf_puts(&dir, strbuf_cstr(&mpoint));
    while (dir.len > 1 && dir.data[dir.len - 1] == '/')
        dir.data[--dir.len] = '\0';
    if (*rel && strcmp(rel, "/") != 0)
        strbuf_puts(&dir, rel);

    uint64_t v;
    if (ver == CGROUP_V2) {
        if (read_cg_limit(root, dir.data, "memory.current", &m->usage) < 0)
            goto error; /* root cgroup or memory controller not enabled here */
        read_cg_limit(root, dir.data, "memory.max", &m->limit);
        read_cg_limit(root, dir.data, "memory.high", &m->high);
        if (read_cg_limit(root, dir.data, "memory.peak", &m->peak) == 0)
            m->has_peak = true;
        if (read_cg_limit(root, dir.data, "memory.swap.current", &m->swap_usage) == 0) {
            m->has_swap = true;
            read_cg_limit(root, dir.data, "memory.swap.max", &m->swap_limit);
        }
        if (read_cg(root, dir.data, "memory.events", &sb) == 0 &&
            cgroup_parse_keyed(sb.data, "oom_kill", &m->oom_kill) == 0) {
            m->has_events = true;
            cgroup_parse_keyed(sb.data, "oom", &m->oom);
        }
        effective_limit(root, dir.data, mpoint.data, "memory.max", m);
    } else {
        if (read_cg_limit(root, dir.data, "memory.usage_in_bytes", &m->usage) < 0)
            goto error;
        read_cg_limit(root, dir.data, "memory.limit_in_bytes", &m->limit);
        if (read_cg_limit(root, dir.data, "memory.max_usage_in_bytes", &m->peak) == 0)
            m->has_peak = true;
        read_cg_limit(root, dir.data, "memory.failcnt", &m->failcnt);
        if (read_cg(root, dir.data, "memory.oom_control", &sb) == 0) {
            if (cgroup_parse_keyed(sb.data, "oom_kill", &m->oom_kill) == 0)
                m->has_events = true;
            if (cgroup_parse_keyed(sb.data, "under_oom", &v) == 0)
                m->under_oom = v != 0;
        }
        uint64_t memsw_usage, memsw_limit;
        if (read_cg_limit(root, dir.data, "memory.memsw.usage_in_bytes", &memsw_usage) == 0) {
            m->has_swap = true;
            m->swap_usage = memsw_usage > m->usage ? memsw_usage - m->usage : 0;
            if (read_cg_limit(root, dir.data, "memory.memsw.limit_in_bytes", &memsw_limit) == 0 &&
                memsw_limit != CGROUP_NO_LIMIT && m->limit != CGROUP_NO_LIMIT)
                m->swap_limit = memsw_limit > m->limit ? memsw_limit - m->limit : 0;
        }
        effective_limit(root, dir.data, mpoint.data, "memory.limit_in_bytes", m);
        StrBuf stat = STRBUF_INIT;
        if (read_cg(root, dir.data, "memory.stat", &stat) == 0 &&
            cgroup_parse_keyed(stat.data, "hierarchical_memory_limit", &v) == 0 &&
            v < CGROUP_HUGE && v < m->effective_limit) {
            m->effective_limit = v;
            free(m->limit_dir);
            m->limit_dir = NULL; /* an ancestor above the mount (v1 hierarchy) */
        }
        strbuf_destroy(&stat);
    }
    m->version = ver;
    m->dir = strbuf_detach(&dir);
error:
    strbuf_destroy(&sb);
    strbuf_destroy(&path);
    strbuf_destroy(&mroot);
    strbuf_destroy(&mpoint);
    strbuf_destroy(&dir);
    return rc;
}
