/* fuzz_proc: every pure /proc and cgroup parser (src/mem/procmem.c, src/mem/sysmem.c, src/mem/cgroup.c).
 *
 * Input layout: byte 0 picks the parser (modulo PARSER_COUNT, see the table below), the rest is
 * the file text. Parsers that take a C string get an exact-size NUL-terminated heap copy (so a
 * read past the NUL is caught); those that take (buf, len) get an exact-size copy without NUL.
 * Oracles: the documented return values and a few invariants stated in the headers. */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mem/cgroup.h"
#include "mem/procmem.h"
#include "mem/sysmem.h"

enum {
    P_STATM,          /* /proc/PID/statm */
    P_STATUS,         /* /proc/PID/status */
    P_LIMITS,         /* /proc/PID/limits */
    P_ROLLUP,         /* /proc/PID/smaps_rollup */
    P_STAT_PPID,      /* /proc/PID/stat */
    P_COUNT_LINES,    /* /proc/PID/maps */
    P_MEMINFO,        /* /proc/meminfo */
    P_PSI,            /* /proc/pressure/memory */
    P_PROC_CGROUP,    /* /proc/PID/cgroup */
    P_MOUNTINFO_V1,   /* /proc/self/mountinfo, looking for the v1 memory hierarchy */
    P_MOUNTINFO_V2,   /* /proc/self/mountinfo, looking for cgroup2 */
    P_UNESCAPE,       /* a mountinfo field */
    P_CG_LIMIT,       /* memory.max, memory.current, memory.limit_in_bytes, ... */
    P_CG_KEYED,       /* memory.events, memory.stat, memory.oom_control */
    PARSER_COUNT
};

static void die(const char *what)
{
    fprintf(stderr, "fuzz_proc: oracle failed: %s\n", what);
    abort();
}

static void check_sb(const StrBuf *sb)
{
    if (sb->data && strlen(sb->data) > sb->len)
        die("StrBuf len below its string length");
    if (sb->data && sb->data[sb->len] != '\0')
        die("StrBuf not NUL-terminated");
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    unsigned which = data[0] % PARSER_COUNT;
    data++;
    size--;
    char *text = malloc(size + 1); /* exact size: NUL-terminated copy */
    memcpy(text, data, size);
    text[size] = '\0';
    char *raw = malloc(size ? size : 1); /* exact size: no NUL */
    memcpy(raw, data, size);

    switch (which) {
    case P_STATM: {
        ProcStatm st;
        int rc = procmem_parse_statm(text, 4096, &st);
        if (rc != 0 && rc != -EINVAL)
            die("statm rc");
        break;
    }
    case P_STATUS: {
        ProcStatus st;
        int rc = procmem_parse_status(text, &st);
        if (rc != 0 && rc != -EINVAL)
            die("status rc");
        break;
    }
    case P_LIMITS: {
        ProcLimits l;
        int rc = procmem_parse_limits(text, &l);
        if (rc != 0 && rc != -EINVAL)
            die("limits rc");
        if (rc != 0 && l.as.soft != PROCMEM_UNLIMITED)
            die("limits: address space set without its row");
        break;
    }
    case P_ROLLUP: {
        ProcRollup r;
        int rc = procmem_parse_rollup(text, &r);
        if (rc != 0 && rc != -EINVAL)
            die("rollup rc");
        break;
    }
    case P_STAT_PPID: {
        int ppid = -7;
        int rc = procmem_parse_stat_ppid(text, &ppid);
        if (rc != 0 && rc != -EINVAL)
            die("stat rc");
        if (rc != 0 && ppid != -7)
            die("stat: ppid written on error");
        break;
    }
    case P_COUNT_LINES: {
        size_t n = procmem_count_lines(raw, size);
        if (n > size)
            die("more lines than bytes");
        if (size > 0 && n == 0)
            die("no line in a non-empty text");
        break;
    }
    case P_MEMINFO: {
        SysMeminfo m;
        int rc = sysmem_parse_meminfo(text, &m);
        if (rc != 0 && rc != -EINVAL)
            die("meminfo rc");
        break;
    }
    case P_PSI: {
        SysPsi p;
        int rc = sysmem_parse_psi(text, &p);
        if (rc != 0 && rc != -EINVAL)
            die("psi rc");
        if ((rc == 0) != (p.has_some || p.has_full))
            die("psi rc disagrees with has_some/has_full");
        break;
    }
    case P_PROC_CGROUP: {
        CgroupVersion ver = CGROUP_NONE;
        StrBuf path = STRBUF_INIT;
        int rc = cgroup_parse_proc_cgroup(text, &ver, &path);
        if (rc == 0 && ver != CGROUP_V1 && ver != CGROUP_V2)
            die("proc cgroup: version not set");
        if (rc != 0 && rc != -ENOENT)
            die("proc cgroup rc");
        check_sb(&path);
        strbuf_destroy(&path);
        break;
    }
    case P_MOUNTINFO_V1:
    case P_MOUNTINFO_V2: {
        StrBuf mroot = STRBUF_INIT, mpoint = STRBUF_INIT;
        int rc = cgroup_parse_mountinfo(text, which == P_MOUNTINFO_V1 ? CGROUP_V1 : CGROUP_V2,
                                        &mroot, &mpoint);
        if (rc != 0 && rc != -ENOENT)
            die("mountinfo rc");
        check_sb(&mroot);
        check_sb(&mpoint);
        strbuf_destroy(&mroot);
        strbuf_destroy(&mpoint);
        break;
    }
    case P_UNESCAPE: {
        StrBuf out = STRBUF_INIT;
        strbuf_puts(&out, "stale");
        cgroup_unescape(raw, size, &out);
        if (out.len > size)
            die("unescape grew the text");
        if (!out.data)
            die("unescape left no string");
        strbuf_destroy(&out);
        break;
    }
    case P_CG_LIMIT: {
        uint64_t v = 0;
        int rc = cgroup_parse_limit(text, &v);
        if (rc != 0 && rc != -EINVAL)
            die("limit rc");
        if (rc == 0 && v >= (1ULL << 62) && v != CGROUP_NO_LIMIT)
            die("limit: huge value not mapped to CGROUP_NO_LIMIT");
        break;
    }
    case P_CG_KEYED: {
        static const char *const keys[] = {"oom", "oom_kill", "under_oom", "max",
                                           "hierarchical_memory_limit", "anon", ""};
        for (size_t i = 0; i < sizeof keys / sizeof keys[0]; i++) {
            uint64_t v = 0;
            int rc = cgroup_parse_keyed(text, keys[i], &v);
            if (rc != 0 && rc != -EINVAL && rc != -ENOENT)
                die("keyed rc");
        }
        break;
    }
    }
    free(raw);
    free(text);
    return 0;
}
