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

int procmem_read_parsed(const char *root, ProcmemParseFn parse, void *out, const char *fmt, ...)
{
    StrBuf path = STRBUF_INIT, text = STRBUF_INIT;
    va_list ap;
    va_start(ap, fmt);
    if (root && strcmp(root, "/") != 0)
        strbuf_puts(&path, root);
    strbuf_vprintf(&path, fmt, ap);
    va_end(ap);
    int rc = procmem_read_file(path.data, &text);
    if (rc == 0)
        rc = parse(strbuf_cstr(&text), out);
    strbuf_destroy(&path);
    strbuf_destroy(&text);
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

/* ---- key tables ------------------------------------------------------------------- */

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

/* What follows `k`'s key on `line` (its value), or NULL when the line is not k's. */
static const char *key_value(const char *line, const char *nl, const ProcmemKey *k)
{
    if (line[0] != k->key[0])
        return NULL;
    size_t kl = strlen(k->key);
    if (strncmp(line, k->key, kl) != 0)
        return NULL;
    if (k->flags & PROCMEM_LIMIT) /* "Max address space     unlimited   unlimited   bytes" */
        return line[kl] == ' ' || line[kl] == '\t' ? line + kl : NULL;
    if (k->flags & PROCMEM_SUM) { /* a key prefix: "Private_Clean:" */
        const char *colon = strchr(line, ':');
        return colon && (!nl || colon < nl) && (size_t)(colon - line) > kl ? colon + 1 : NULL;
    }
    return line[kl] == ':' ? line + kl + 1 : NULL;
}

/* Stores the value at `v` in k's field of `out`. False when it does not parse. */
static bool store_value(const char *v, const ProcmemKey *k, void *out)
{
    char *field = (char *)out + k->off;
    if (k->flags & PROCMEM_LIMIT) {
        ProcLimit l;
        if (!parse_limit_value(&v, &l.soft) || !parse_limit_value(&v, &l.hard))
            return false;
        memcpy(field, &l, sizeof l);
        return true;
    }
    uint64_t x;
    if (!procmem_parse_u64(&v, &x))
        return false;
    if (k->flags & PROCMEM_KB)
        x *= 1024;
    if (k->flags & PROCMEM_INT) {
        int i = (int)x;
        memcpy(field, &i, sizeof i);
    } else if (k->flags & PROCMEM_SUM) {
        uint64_t sum;
        memcpy(&sum, field, sizeof sum);
        sum += x;
        memcpy(field, &sum, sizeof sum);
    } else {
        memcpy(field, &x, sizeof x);
    }
    return true;
}

uint64_t procmem_parse_keys(const char *text, const ProcmemKey *keys, size_t nkeys, void *out)
{
    uint64_t found = 0;
    for (const char *line = text; line && *line;) {
        const char *nl = strchr(line, '\n');
        for (size_t i = 0; i < nkeys && i < 64; i++) {
            const char *v = key_value(line, nl, &keys[i]);
            if (!v)
                continue;
            if (store_value(v, &keys[i], out))
                found |= 1ull << i;
            break;
        }
        line = nl ? nl + 1 : NULL;
    }
    return found;
}

/* procmem_read_WHAT(root, pid, out): /proc/PID/FILE parsed by procmem_parse_WHAT. */
#define PID_FILE_READER(what, Type, file)                                                         \
    PROCMEM_PARSE_FN(parse_##what, procmem_parse_##what)                                          \
    int procmem_read_##what(const char *root, int pid, Type *out)                                 \
    {                                                                                             \
        return procmem_read_parsed(root, parse_##what, out, "/proc/%d/" file, pid);               \
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

static int parse_statm(const char *text, void *out)
{
    return procmem_parse_statm(text, page_size(), out);
}

int procmem_read_statm(const char *root, int pid, ProcStatm *out)
{
    return procmem_read_parsed(root, parse_statm, out, "/proc/%d/statm", pid);
}

/* ---- status ------------------------------------------------------------------------ */

int procmem_parse_status(const char *text, ProcStatus *out)
{
    static const ProcmemKey keys[] = {
        {"VmSize", offsetof(ProcStatus, vm_size), PROCMEM_KB}, /* first: bit 0 */
        {"Pid", offsetof(ProcStatus, pid), PROCMEM_INT},
        {"PPid", offsetof(ProcStatus, ppid), PROCMEM_INT},
        {"Threads", offsetof(ProcStatus, threads), PROCMEM_INT},
        {"VmPeak", offsetof(ProcStatus, vm_peak), PROCMEM_KB},
        {"VmLck", offsetof(ProcStatus, vm_lck), PROCMEM_KB},
        {"VmHWM", offsetof(ProcStatus, vm_hwm), PROCMEM_KB},
        {"VmRSS", offsetof(ProcStatus, vm_rss), PROCMEM_KB},
        {"RssAnon", offsetof(ProcStatus, rss_anon), PROCMEM_KB},
        {"RssFile", offsetof(ProcStatus, rss_file), PROCMEM_KB},
        {"RssShmem", offsetof(ProcStatus, rss_shmem), PROCMEM_KB},
        {"VmData", offsetof(ProcStatus, vm_data), PROCMEM_KB},
        {"VmStk", offsetof(ProcStatus, vm_stk), PROCMEM_KB},
        {"VmSwap", offsetof(ProcStatus, vm_swap), PROCMEM_KB},
    };
    memset(out, 0, sizeof *out);
    uint64_t found = procmem_parse_keys(text, keys, sizeof keys / sizeof keys[0], out);
    return found & 1 ? 0 : -EINVAL;
}

PID_FILE_READER(status, ProcStatus, "status")

/* ---- limits ------------------------------------------------------------------------ */

int procmem_parse_limits(const char *text, ProcLimits *out)
{
    static const ProcmemKey keys[] = {
        {"Max address space", offsetof(ProcLimits, as), PROCMEM_LIMIT}, /* first: bit 0 */
        {"Max data size", offsetof(ProcLimits, data), PROCMEM_LIMIT},
        {"Max resident set", offsetof(ProcLimits, rss), PROCMEM_LIMIT},
        {"Max locked memory", offsetof(ProcLimits, memlock), PROCMEM_LIMIT},
        {"Max stack size", offsetof(ProcLimits, stack), PROCMEM_LIMIT},
    };
    ProcLimit unl = {PROCMEM_UNLIMITED, PROCMEM_UNLIMITED};
    out->as = out->data = out->rss = out->memlock = out->stack = unl;
    uint64_t found = procmem_parse_keys(text, keys, sizeof keys / sizeof keys[0], out);
    return found & 1 ? 0 : -EINVAL;
}

PID_FILE_READER(limits, ProcLimits, "limits")

/* ---- smaps_rollup ------------------------------------------------------------------ */

int procmem_parse_rollup(const char *text, ProcRollup *out)
{
    static const ProcmemKey keys[] = {
        {"Rss", offsetof(ProcRollup, rss), PROCMEM_KB},
        {"Pss", offsetof(ProcRollup, pss), PROCMEM_KB},
        {"Swap", offsetof(ProcRollup, swap), PROCMEM_KB},
        {"SwapPss", offsetof(ProcRollup, swap_pss), PROCMEM_KB},
        {"Private_", offsetof(ProcRollup, uss), PROCMEM_KB | PROCMEM_SUM},
    };
    memset(out, 0, sizeof *out);
    uint64_t found = procmem_parse_keys(text, keys, sizeof keys / sizeof keys[0], out);
    return found & 3 ? 0 : -EINVAL; /* Rss or Pss */
}

PID_FILE_READER(rollup, ProcRollup, "smaps_rollup")

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

/* Where field 4 (ppid) of /proc/PID/stat text starts: after the last ')' (comm may hold
 * spaces and ')') and the state letter (field 3). NULL when the text is not stat's. */
static const char *stat_after_state(const char *text)
{
    const char *rp = strrchr(text, ')');
    if (!rp)
        return NULL;
    const char *p = rp + 1;
    while (*p == ' ')
        p++;
    if (!*p || *p == '\n')
        return NULL;
    return p + 1;
}

int procmem_parse_stat_ppid(const char *text, int *ppid)
{
    const char *p = stat_after_state(text);
    uint64_t v;
    if (!p || !procmem_parse_u64(&p, &v))
        return -EINVAL;
    *ppid = (int)v;
    return 0;
}

int procmem_parse_stat_start(const char *text, uint64_t *start)
{
    const char *p = stat_after_state(text);
    if (!p)
        return -EINVAL;
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
