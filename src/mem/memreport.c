/* memreport: one pid's memory report as JSON/text, and `pytestmon mem` (see memreport.h). */
#include "mem/memreport.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "mem/cgroup.h"
#include "mem/headroom.h"
#include "mem/procmem.h"
#include "mem/proctree.h"
#include "base/strbuf.h"
#include "mem/sysmem.h"
#include "base/textclean.h"

static json_t *jint(uint64_t v)
{
    return json_integer((json_int_t)v);
}

static json_t *jlimit(uint64_t v, uint64_t none)
{
    return v == none ? json_null() : jint(v);
}

static json_t *limit_pair(const ProcLimit *l)
{
    return json_pack("{s:o, s:o}", "soft", jlimit(l->soft, PROCMEM_UNLIMITED), "hard",
                     jlimit(l->hard, PROCMEM_UNLIMITED));
}

static json_t *psi_line(const SysPsiLine *l)
{
    return json_pack("{s:f, s:f, s:f, s:o}", "avg10", l->avg10, "avg60", l->avg60, "avg300",
                     l->avg300, "total", jint(l->total_us));
}

static void read_name(const char *root, int pid, json_t *report)
{
    StrBuf path = STRBUF_INIT, sb = STRBUF_INIT;
    procmem_path(&path, root, "/proc/%d/comm", pid);
    if (procmem_read_file(path.data, &sb) == 0) {
        while (sb.len && sb.data[sb.len - 1] == '\n')
            sb.data[--sb.len] = '\0';
        json_object_set_new(report, "name", json_string(sb.data));
    } else {
        json_object_set_new(report, "name", json_null());
    }
    strbuf_destroy(&path);
    strbuf_destroy(&sb);
}

/* Every mapping spans at least a page, so a process whose whole address space is fewer pages
 * than half of vm.max_map_count cannot be near that limit. Counting the lines of
 * /proc/PID/maps, which the kernel formats mapping by mapping, is the costliest read of a
 * headroom check; skip it then. */
static bool map_count_can_matter(const ProcStatus *st, const SysMem *sys)
{
    long page = sysconf(_SC_PAGESIZE);
    return !sys->has_max_map_count || page <= 0 || st->vm_size / (uint64_t)page >= sys->max_map_count / 2;
}

int memreport_headroom(const char *root, int pid, Headroom *out)
{
    ProcStatus st;
    ProcLimits lim;
    SysMem sys;
    CgroupMem cg;
    uint64_t map_count = 0;
    int rc;
    cgroup_mem_init(&cg);
    if ((rc = procmem_read_status(root, pid, &st)) < 0 || (rc = procmem_read_limits(root, pid, &lim)) < 0 ||
        (rc = sysmem_read(root, &sys)) < 0 || (rc = cgroup_read(root, pid, &cg)) < 0)
        goto error;
    bool has_maps = map_count_can_matter(&st, &sys) && procmem_read_map_count(root, pid, &map_count) == 0;
    HeadroomInput in = {
        .status = &st, .limits = &lim, .has_map_count = has_maps, .map_count = map_count,
        .sys = &sys, .cgroup = &cg,
    };
    headroom_eval(&in, out);
    rc = 0;
error:
    cgroup_mem_destroy(&cg);
    return rc;
}

json_t *memreport_build(const char *root, int pid, int *err)
{
    ProcStatus st;
    ProcStatm sm;
    ProcLimits lim;
    ProcRollup ru;
    SysMem sys;
    CgroupMem cg;
    Headroom hr;
    ProcTreeSample ts;
    uint64_t map_count = 0;
    json_t *r = NULL;
    int rc;

    cgroup_mem_init(&cg);
    headroom_init(&hr);
    proctree_sample_init(&ts);
    if ((rc = procmem_read_status(root, pid, &st)) < 0 ||
        (rc = procmem_read_statm(root, pid, &sm)) < 0 ||
        (rc = procmem_read_limits(root, pid, &lim)) < 0)
        goto error;
    if ((rc = sysmem_read(root, &sys)) < 0)
        goto error;
    bool has_maps = procmem_read_map_count(root, pid, &map_count) == 0;
    bool has_rollup = procmem_read_rollup(root, pid, &ru) == 0;
    if ((rc = cgroup_read(root, pid, &cg)) < 0)
        goto error;
    bool has_tree = proctree_sample(root, pid, &ts) == 0;

    HeadroomInput in = {
        .status = &st, .limits = &lim, .has_map_count = has_maps, .map_count = map_count,
        .sys = &sys, .cgroup = &cg,
    };
    headroom_eval(&in, &hr);

    r = json_object();
    json_object_set_new(r, "pid", json_integer(pid));
    read_name(root, pid, r);

    json_t *p = json_pack(
        "{s:o, s:o, s:o, s:o, s:o, s:o, s:o, s:o, s:o, s:o, s:o, s:o, s:o, s:o, s:i}",
        "rss", jint(sm.rss), "vms", jint(sm.vms), "shared", jint(sm.shared), "text",
        jint(sm.text), "data", jint(sm.data), "vm_peak", jint(st.vm_peak), "vm_hwm",
        jint(st.vm_hwm), "vm_data", jint(st.vm_data), "vm_stk", jint(st.vm_stk), "vm_lck",
        jint(st.vm_lck), "vm_swap", jint(st.vm_swap), "rss_anon", jint(st.rss_anon), "rss_file",
        jint(st.rss_file), "rss_shmem", jint(st.rss_shmem), "threads", st.threads);
    json_object_set_new(p, "map_count", has_maps ? jint(map_count) : json_null());
    if (has_rollup) {
        json_object_set_new(p, "pss", jint(ru.pss));
        json_object_set_new(p, "uss", jint(ru.uss));
        json_object_set_new(p, "swap", jint(ru.swap));
    }
    json_object_set_new(r, "process", p);

    json_object_set_new(r, "tree", has_tree ? json_pack("{s:i, s:o, s:o}", "nproc", (int)ts.nproc,
                                                        "rss", jint(ts.rss), "vms", jint(ts.vms))
                                            : json_null());

    json_object_set_new(r, "limits",
                        json_pack("{s:o, s:o, s:o, s:o, s:o}", "address_space",
                                  limit_pair(&lim.as), "data", limit_pair(&lim.data),
                                  "resident_set", limit_pair(&lim.rss), "locked_memory",
                                  limit_pair(&lim.memlock), "stack", limit_pair(&lim.stack)));

    const SysMeminfo *m = &sys.mem;
    json_t *s = json_pack(
        "{s:o, s:o, s:o, s:o, s:o, s:o, s:o, s:o, s:f}", "total", jint(m->total), "available",
        jint(m->available), "used", jint(m->used), "used_by_available", jint(m->used_by_available),
        "free", jint(m->free), "buffers", jint(m->buffers), "cached", jint(m->cached), "shared",
        jint(m->shared), "percent", m->percent);
    json_object_set_new(s, "swap",
                        json_pack("{s:o, s:o, s:o, s:f}", "total", jint(m->swap_total), "used",
                                  jint(m->swap_used), "free", jint(m->swap_free), "percent",
                                  m->swap_percent));
    json_object_set_new(s, "overcommit_memory",
                        sys.overcommit_memory >= 0 ? json_integer(sys.overcommit_memory)
                                                   : json_null());
    json_object_set_new(s, "commit_limit", m->has_commit ? jint(m->commit_limit) : json_null());
    json_object_set_new(s, "committed_as", m->has_commit ? jint(m->committed_as) : json_null());
    json_object_set_new(s, "max_map_count",
                        sys.has_max_map_count ? jint(sys.max_map_count) : json_null());
    json_t *psi = json_null();
    if (sys.has_psi) {
        psi = json_object();
        json_object_set_new(psi, "some", sys.psi.has_some ? psi_line(&sys.psi.some) : json_null());
        json_object_set_new(psi, "full", sys.psi.has_full ? psi_line(&sys.psi.full) : json_null());
    }
    json_object_set_new(s, "psi", psi);
    json_object_set_new(r, "system", s);

    if (cg.version == CGROUP_NONE) {
        json_object_set_new(r, "cgroup", json_null());
    } else {
        json_t *c = json_pack(
            "{s:i, s:s, s:s, s:o, s:o, s:o, s:o, s:o}", "version", (int)cg.version, "path",
            cg.path, "dir", cg.dir, "limit", jlimit(cg.limit, CGROUP_NO_LIMIT), "effective_limit",
            jlimit(cg.effective_limit, CGROUP_NO_LIMIT), "high", jlimit(cg.high, CGROUP_NO_LIMIT),
            "usage", jint(cg.usage), "peak", cg.has_peak ? jint(cg.peak) : json_null());
        json_object_set_new(c, "swap_usage", cg.has_swap ? jint(cg.swap_usage) : json_null());
        json_object_set_new(c, "swap_limit", jlimit(cg.swap_limit, CGROUP_NO_LIMIT));
        json_object_set_new(c, "oom", cg.has_events && cg.version == CGROUP_V2 ? jint(cg.oom)
                                                                               : json_null());
        json_object_set_new(c, "oom_kill", cg.has_events ? jint(cg.oom_kill) : json_null());
        json_object_set_new(c, "failcnt", cg.version == CGROUP_V1 ? jint(cg.failcnt)
                                                                 : json_null());
        json_object_set_new(r, "cgroup", c);
    }

    json_t *cons = json_array();
    HeadroomVerdict worst = HEADROOM_OK;
    for (int i = 0; i < HEADROOM_N; i++) {
        const HeadroomConstraint *c = &hr.c[i];
        if (!c->applies)
            continue;
        if (c->verdict > worst)
            worst = c->verdict;
        json_array_append_new(
            cons, json_pack("{s:s, s:s, s:o, s:o, s:f, s:s}", "name", c->name, "label", c->label,
                            "used", jint(c->used), "limit", jint(c->limit), "percent",
                            c->percent, "verdict", headroom_verdict_name(c->verdict)));
    }
    json_object_set_new(r, "constraints", cons);
    if (hr.binding >= 0) {
        const HeadroomConstraint *b = &hr.c[hr.binding];
        json_object_set_new(r, "binding",
                            json_pack("{s:s, s:s, s:s, s:f}", "name", b->name, "label", b->label,
                                      "verdict", headroom_verdict_name(b->verdict), "percent",
                                      b->percent));
    } else {
        json_object_set_new(r, "binding", json_null());
    }
    json_object_set_new(r, "verdict", json_string(headroom_verdict_name(worst)));
    json_object_set_new(r, "sentence", json_string(hr.sentence));
    rc = 0;
error:
    if (err)
        *err = rc;
    cgroup_mem_destroy(&cg);
    headroom_destroy(&hr);
    proctree_sample_destroy(&ts);
    return r;
}

/* ---- text ---------------------------------------------------------------------------- */

static uint64_t get_u64(const json_t *o, const char *key, bool *present)
{
    json_t *v = json_object_get(o, key);
    if (present)
        *present = json_is_integer(v);
    return json_is_integer(v) ? (uint64_t)json_integer_value(v) : 0;
}

static void put_size(StrBuf *sb, const char *label, const json_t *o, const char *key)
{
    bool present;
    uint64_t v = get_u64(o, key, &present);
    char b[32];
    if (present)
        headroom_format_bytes(b, sizeof b, v);
    else
        snprintf(b, sizeof b, "-");
    strbuf_printf(sb, "  %-18s %s\n", label, b);
}

char *memreport_render_text(const json_t *r)
{
    StrBuf sb = STRBUF_INIT;
    char a[32], b[32];
    const json_t *name = json_object_get(r, "name");
    strbuf_printf(&sb, "pid %lld (%s): %s\n", (long long)json_integer_value(json_object_get(r, "pid")),
                  json_is_string(name) ? json_string_value(name) : "?",
                  json_string_value(json_object_get(r, "verdict")));
    strbuf_printf(&sb, "  %s\n", json_string_value(json_object_get(r, "sentence")));

    const json_t *p = json_object_get(r, "process");
    strbuf_puts(&sb, "process\n");
    put_size(&sb, "rss", p, "rss");
    put_size(&sb, "vms (VmSize)", p, "vms");
    put_size(&sb, "shared", p, "shared");
    put_size(&sb, "VmData", p, "vm_data");
    put_size(&sb, "peak rss (VmHWM)", p, "vm_hwm");
    put_size(&sb, "swap", p, "vm_swap");
    if (json_object_get(p, "pss")) {
        put_size(&sb, "pss", p, "pss");
        put_size(&sb, "uss", p, "uss");
    }
    bool present;
    uint64_t mc = get_u64(p, "map_count", &present);
    if (present)
        strbuf_printf(&sb, "  %-18s %llu\n", "mappings", (unsigned long long)mc);
    strbuf_printf(&sb, "  %-18s %lld\n", "threads",
                  (long long)json_integer_value(json_object_get(p, "threads")));
    const json_t *t = json_object_get(r, "tree");
    if (json_is_object(t)) {
        headroom_format_bytes(a, sizeof a, get_u64(t, "rss", NULL));
        headroom_format_bytes(b, sizeof b, get_u64(t, "vms", NULL));
        strbuf_printf(&sb, "  %-18s %lld processes, rss %s, vms %s\n", "tree",
                      (long long)get_u64(t, "nproc", NULL), a, b);
    }

    strbuf_puts(&sb, "constraints\n");
    const json_t *cons = json_object_get(r, "constraints");
    size_t i;
    const json_t *c;
    json_array_foreach(cons, i, c) {
        const char *n = json_string_value(json_object_get(c, "name"));
        uint64_t used = get_u64(c, "used", NULL), lim = get_u64(c, "limit", NULL);
        if (strcmp(n, "max_map_count") == 0) {
            snprintf(a, sizeof a, "%llu", (unsigned long long)used);
            snprintf(b, sizeof b, "%llu", (unsigned long long)lim);
        } else {
            headroom_format_bytes(a, sizeof a, used);
            headroom_format_bytes(b, sizeof b, lim);
        }
        strbuf_printf(&sb, "  %-14s %-8s %5.1f%%  %s of %s (%s)\n", n,
                      json_string_value(json_object_get(c, "verdict")),
                      json_real_value(json_object_get(c, "percent")), a, b,
                      json_string_value(json_object_get(c, "label")));
    }
    strbuf_puts(&sb, "limits (soft)\n");
    const json_t *lims = json_object_get(r, "limits");
    const char *lk;
    const json_t *lv;
    json_object_foreach((json_t *)lims, lk, lv) {
        const json_t *soft = json_object_get(lv, "soft");
        if (json_is_integer(soft))
            headroom_format_bytes(a, sizeof a, (uint64_t)json_integer_value(soft));
        else
            snprintf(a, sizeof a, "unlimited");
        strbuf_printf(&sb, "  %-18s %s\n", lk, a);
    }

    const json_t *s = json_object_get(r, "system");
    strbuf_puts(&sb, "system\n");
    put_size(&sb, "total", s, "total");
    put_size(&sb, "available", s, "available");
    put_size(&sb, "used", s, "used");
    const json_t *sw = json_object_get(s, "swap");
    if (get_u64(sw, "total", NULL)) {
        headroom_format_bytes(a, sizeof a, get_u64(sw, "used", NULL));
        headroom_format_bytes(b, sizeof b, get_u64(sw, "total", NULL));
        strbuf_printf(&sb, "  %-18s %s of %s\n", "swap", a, b);
    } else {
        strbuf_printf(&sb, "  %-18s none\n", "swap");
    }
    const json_t *oc = json_object_get(s, "overcommit_memory");
    if (json_is_integer(oc))
        strbuf_printf(&sb, "  %-18s %lld\n", "overcommit_memory", (long long)json_integer_value(oc));
    const json_t *psi = json_object_get(s, "psi");
    if (json_is_object(psi) && json_is_object(json_object_get(psi, "some")))
        strbuf_printf(&sb, "  %-18s some avg10=%.2f avg60=%.2f\n", "pressure",
                      json_real_value(json_object_get(json_object_get(psi, "some"), "avg10")),
                      json_real_value(json_object_get(json_object_get(psi, "some"), "avg60")));

    const json_t *cg = json_object_get(r, "cgroup");
    if (json_is_object(cg)) {
        strbuf_printf(&sb, "cgroup v%lld %s\n",
                      (long long)json_integer_value(json_object_get(cg, "version")),
                      json_string_value(json_object_get(cg, "path")));
        put_size(&sb, "usage", cg, "usage");
        const json_t *el = json_object_get(cg, "effective_limit");
        if (json_is_integer(el))
            put_size(&sb, "limit", cg, "effective_limit");
        else
            strbuf_printf(&sb, "  %-18s none\n", "limit");
        if (json_is_integer(json_object_get(cg, "peak")))
            put_size(&sb, "peak", cg, "peak");
        const json_t *ok = json_object_get(cg, "oom_kill");
        if (json_is_integer(ok))
            strbuf_printf(&sb, "  %-18s %lld\n", "oom_kill", (long long)json_integer_value(ok));
    } else {
        strbuf_puts(&sb, "cgroup: none readable\n");
    }
    return strbuf_detach(&sb);
}

/* ---- CLI ------------------------------------------------------------------------------ */

static int usage(void)
{
    fprintf(stderr, "usage: pytestmon mem [--pid PID] [--json] [--root DIR]\n");
    return 2;
}

int memreport_cli(int argc, char **argv)
{
    int pid = (int)getpid();
    bool as_json = false;
    const char *root = "";
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *val = NULL;
        if (strcmp(a, "--json") == 0) {
            as_json = true;
            continue;
        }
        if (strcmp(a, "--pid") == 0 || strcmp(a, "--root") == 0) {
            if (i + 1 >= argc)
                return usage();
            val = argv[++i];
        } else if (strncmp(a, "--pid=", 6) == 0 || strncmp(a, "--root=", 7) == 0) {
            val = strchr(a, '=') + 1;
        } else if (strcmp(a, "-h") == 0 || strcmp(a, "--help") == 0) {
            usage();
            return 0;
        } else {
            return usage();
        }
        if (strncmp(a, "--pid", 5) == 0) {
            char *end;
            long v = strtol(val, &end, 10);
            if (*val == '\0' || *end != '\0' || v <= 0 || v > 0x3fffffff)
                return usage();
            pid = (int)v;
        } else {
            root = val;
        }
    }
    int err = 0;
    json_t *r = memreport_build(root, pid, &err);
    if (!r) {
        fprintf(stderr, "pytestmon mem: pid %d: %s\n", pid,
                err == -ENOENT || err == -ESRCH ? "no such process" : strerror(-err));
        return 1;
    }
    if (as_json) {
        /* ASCII: a C1 control in a process name stays an escape, never reaches the terminal */
        char *s = json_dumps(r, JSON_INDENT(2) | JSON_PRESERVE_ORDER | JSON_ENSURE_ASCII);
        if (s) {
            puts(s);
            free(s);
        }
    } else {
        char *s = memreport_render_text(r);
        /* a process name (comm) or cgroup path may hold control sequences, or bytes that are
         * C1 controls on a terminal that is not UTF-8 */
        char *shown = textclean_dup(s, strlen(s), TEXTCLEAN_KEEP_LF, 0);
        fputs(shown, stdout);
        free(shown);
        free(s);
    }
    json_decref(r);
    return 0;
}
