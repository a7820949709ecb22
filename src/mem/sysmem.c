/* sysmem: /proc/meminfo, overcommit, max_map_count, PSI (see sysmem.h). */
#include "mem/sysmem.h"

#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "mem/procmem.h"
#include "base/strbuf.h"

static double round1(double x)
{
    return round(x * 10.0) / 10.0;
}

int sysmem_parse_meminfo(const char *text, SysMeminfo *out)
{
    enum { TOTAL, FREE, AVAIL, BUFFERS, CACHED, SRECL, SHMEM, ACTIVE, INACTIVE, SLAB,
           SWTOTAL, SWFREE, CLIMIT, CAS, HPT, HPF, HPR, HPSZ, NKEYS };
#define KB(i, name) [i] = {name, (i) * sizeof(uint64_t), PROCMEM_KB}
#define COUNT(i, name) [i] = {name, (i) * sizeof(uint64_t), 0}
    static const ProcmemKey keys[NKEYS] = {
        KB(TOTAL, "MemTotal"),         KB(FREE, "MemFree"),       KB(AVAIL, "MemAvailable"),
        KB(BUFFERS, "Buffers"),        KB(CACHED, "Cached"),      KB(SRECL, "SReclaimable"),
        KB(SHMEM, "Shmem"),            KB(ACTIVE, "Active"),      KB(INACTIVE, "Inactive"),
        KB(SLAB, "Slab"),              KB(SWTOTAL, "SwapTotal"),  KB(SWFREE, "SwapFree"),
        KB(CLIMIT, "CommitLimit"),     KB(CAS, "Committed_AS"),   COUNT(HPT, "HugePages_Total"),
        COUNT(HPF, "HugePages_Free"),  COUNT(HPR, "HugePages_Rsvd"), KB(HPSZ, "Hugepagesize"),
    };
#undef KB
#undef COUNT
    uint64_t v[NKEYS] = {0};
    uint64_t found = procmem_parse_keys(text, keys, NKEYS, v);
    bool have[NKEYS];
    for (int i = 0; i < NKEYS; i++)
        have[i] = found & (1ull << i);
    if (!have[TOTAL] || !have[FREE])
        return -EINVAL;
    memset(out, 0, sizeof *out);
    out->total = v[TOTAL];
    out->free = v[FREE];
    out->buffers = v[BUFFERS];
    out->cached = v[CACHED] + v[SRECL];
    out->shared = v[SHMEM];
    out->active = v[ACTIVE];
    out->inactive = v[INACTIVE];
    out->slab = v[SLAB];
    /* Unsigned with explicit "negative" checks: int64 arithmetic overflowed (UB) on values
     * >= 2^63 bytes (fuzz_proc). */
    uint64_t rest = out->total >= out->free ? out->total - out->free : 0;
    if (out->cached <= rest && out->buffers <= rest - out->cached)
        out->used = rest - out->cached - out->buffers;
    else
        out->used = rest; /* total - free - cached - buffers < 0: total - free (or 0) */
    /* MemAvailable exists since 3.14; older kernels: psutil estimates, we use free+cache. */
    uint64_t avail = have[AVAIL] ? v[AVAIL] : out->free + out->cached + out->buffers;
    if (avail > out->total)
        avail = out->free;
    out->available = avail;
    out->used_by_available = out->total - avail;
    out->percent = out->total ? round1((double)(out->total - avail) / (double)out->total * 100.0)
                              : 0.0;
    out->swap_total = v[SWTOTAL];
    out->swap_free = v[SWFREE];
    out->swap_used = out->swap_total > out->swap_free ? out->swap_total - out->swap_free : 0;
    out->swap_percent =
        out->swap_total ? round1((double)out->swap_used / (double)out->swap_total * 100.0) : 0.0;
    out->has_commit = have[CLIMIT] && have[CAS];
    out->commit_limit = v[CLIMIT];
    out->committed_as = v[CAS];
    out->hugepages_total = v[HPT];
    out->hugepages_free = v[HPF];
    out->hugepages_rsvd = v[HPR];
    out->hugepage_size = v[HPSZ];
    return 0;
}

PROCMEM_PARSE_FN(parse_meminfo, sysmem_parse_meminfo)

int sysmem_read_meminfo(const char *root, SysMeminfo *out)
{
    return procmem_read_parsed(root, parse_meminfo, out, "/proc/meminfo");
}

static bool parse_psi_line(const char *s, SysPsiLine *l)
{
    /* "avg10=0.00 avg60=0.00 avg300=0.00 total=0" */
    const char *a10 = strstr(s, "avg10="), *a60 = strstr(s, "avg60="),
               *a300 = strstr(s, "avg300="), *tot = strstr(s, "total=");
    if (!a10 || !a60 || !a300 || !tot)
        return false;
    l->avg10 = strtod(a10 + 6, NULL);
    l->avg60 = strtod(a60 + 6, NULL);
    l->avg300 = strtod(a300 + 7, NULL);
    l->total_us = strtoull(tot + 6, NULL, 10);
    return true;
}

int sysmem_parse_psi(const char *text, SysPsi *out)
{
    memset(out, 0, sizeof *out);
    for (const char *line = text; line && *line;) {
        const char *nl = strchr(line, '\n');
        size_t len = nl ? (size_t)(nl - line) : strlen(line);
        char *one = xstrndup(line, len);
        if (strncmp(one, "some ", 5) == 0)
            out->has_some = parse_psi_line(one + 5, &out->some);
        else if (strncmp(one, "full ", 5) == 0)
            out->has_full = parse_psi_line(one + 5, &out->full);
        free(one);
        line = nl ? nl + 1 : NULL;
    }
    return out->has_some || out->has_full ? 0 : -EINVAL;
}

PROCMEM_PARSE_FN(parse_psi, sysmem_parse_psi)

int sysmem_read_psi(const char *root, SysPsi *out)
{
    return procmem_read_parsed(root, parse_psi, out, "/proc/pressure/memory");
}

/* A file holding one number (/proc/sys/vm/...). */
static int parse_number(const char *text, void *out)
{
    char *end;
    errno = 0;
    unsigned long long v = strtoull(text, &end, 10);
    if (end == text || errno)
        return -EINVAL;
    *(uint64_t *)out = v;
    return 0;
}

static int read_u64_rel(const char *root, const char *rel, uint64_t *out)
{
    return procmem_read_parsed(root, parse_number, out, "%s", rel);
}

int sysmem_read(const char *root, SysMem *out)
{
    memset(out, 0, sizeof *out);
    out->overcommit_memory = -1;
    int rc = sysmem_read_meminfo(root, &out->mem);
    if (rc < 0)
        return rc;
    uint64_t v;
    if (read_u64_rel(root, "/proc/sys/vm/overcommit_memory", &v) == 0)
        out->overcommit_memory = (int)v;
    if (read_u64_rel(root, "/proc/sys/vm/max_map_count", &v) == 0) {
        out->has_max_map_count = true;
        out->max_map_count = v;
    }
    out->has_psi = sysmem_read_psi(root, &out->psi) == 0;
    return 0;
}
