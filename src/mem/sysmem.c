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
    static const char *const keys[] = {
        "MemTotal",     "MemFree",    "MemAvailable", "Buffers",      "Cached",
        "SReclaimable", "Shmem",      "Active",       "Inactive",     "Slab",
        "SwapTotal",    "SwapFree",   "CommitLimit",  "Committed_AS", "HugePages_Total",
        "HugePages_Free", "HugePages_Rsvd", "Hugepagesize",
    };
    enum { TOTAL, FREE, AVAIL, BUFFERS, CACHED, SRECL, SHMEM, ACTIVE, INACTIVE, SLAB,
           SWTOTAL, SWFREE, CLIMIT, CAS, HPT, HPF, HPR, HPSZ, NKEYS };
    uint64_t v[NKEYS] = {0};
    bool have[NKEYS] = {false};
    for (const char *line = text; line && *line;) {
        const char *nl = strchr(line, '\n');
        const char *colon = strchr(line, ':');
        if (colon && (!nl || colon < nl)) {
            size_t kl = (size_t)(colon - line);
            for (int i = 0; i < NKEYS; i++) {
                if (strlen(keys[i]) != kl || strncmp(line, keys[i], kl) != 0)
                    continue;
                char *end;
                unsigned long long x = strtoull(colon + 1, &end, 10);
                if (end != colon + 1) {
                    bool is_count = (i == HPT || i == HPF || i == HPR);
                    v[i] = is_count ? (uint64_t)x : (uint64_t)x * 1024;
                    have[i] = true;
                }
                break;
            }
        }
        line = nl ? nl + 1 : NULL;
    }
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

static int read_rel(const char *root, const char *rel, StrBuf *sb)
{
    StrBuf path = STRBUF_INIT;
    procmem_path(&path, root, "%s", rel);
    int rc = procmem_read_file(path.data, sb);
    strbuf_destroy(&path);
    return rc;
}

int sysmem_read_meminfo(const char *root, SysMeminfo *out)
{
    StrBuf sb = STRBUF_INIT;
    int rc = read_rel(root, "/proc/meminfo", &sb);
    if (rc < 0)
        goto error;
    rc = sysmem_parse_meminfo(sb.data, out);
error:
    strbuf_destroy(&sb);
    return rc;
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

int sysmem_read_psi(const char *root, SysPsi *out)
{
    StrBuf sb = STRBUF_INIT;
    int rc = read_rel(root, "/proc/pressure/memory", &sb);
    if (rc < 0)
        goto error;
    rc = sysmem_parse_psi(sb.data, out);
error:
    strbuf_destroy(&sb);
    return rc;
}

static int read_u64_rel(const char *root, const char *rel, uint64_t *out)
{
    StrBuf sb = STRBUF_INIT;
    int rc = read_rel(root, rel, &sb);
    if (rc < 0)
        goto error;
    char *end;
    errno = 0;
    unsigned long long v = strtoull(sb.data, &end, 10);
    if (end == sb.data || errno) {
        rc = -EINVAL;
        goto error;
    }
    *out = v;
error:
    strbuf_destroy(&sb);
    return rc;
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
