/* procmem: per-process memory from /proc (see procmem.h). */
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
bool procmem_parse_u64(const char **p, uint64_t *out)
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
        if (!procmem_parse_u64(&p, &v[i]))
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
            if (procmem_parse_u64(&p, &v))
                out->pid = (int)v;
        } else if (strncmp(line, "PPid:", 5) == 0) {
            p = line + 5;
            if (procmem_parse_u64(&p, &v))
                out->ppid = (int)v;
        } else if (strncmp(line, "Threads:", 8) == 0) {
            p = line + 8;
            if (procmem_parse_u64(&p, &v))
                out->threads = (int)v;
        } else if (line[0] == 'V' || line[0] == 'R') {
            for (size_t i = 0; i < sizeof kb_keys / sizeof kb_keys[0]; i++) {
                size_t kl = strlen(kb_keys[i].key);
                if (strncmp(line, kb_keys[i].key, kl) != 0)
                    continue;
                p = line + kl;
                if (procmem_parse_u64(&p, &v)) {
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
    return procmem_parse_u64(p, out);
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
            if (procmem_parse_u64(&p, &v)) {
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

/* ---- stat ------------------------------------------------------------------- */

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
    if (!procmem_parse_u64(&p, &v))
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
        if (!procmem_parse_u64(&p, &v))
            return -EINVAL;
    }
    *start = v;
    return 0;
}
