/* memreport: one pid's memory report as JSON/text, and `pytestmon mem` (see memreport.h). */
#include "mem/memreport.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "mem/cgroup.h"
#include "mem/headroom.h"
#include "mem/procmem.h"
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

/* /proc/PID/comm without its newline, or NULL. */
static char *read_name(const char *root, int pid)
{
    StrBuf path = STRBUF_INIT, sb = STRBUF_INIT;
    procmem_path(&path, root, "/proc/%d/comm", pid);
    char *name = NULL;
    if (procmem_read_file(path.data, &sb) == 0) {
        while (sb.len && sb.data[sb.len - 1] == '\n')
            sb.data[--sb.len] = '\0';
        name = xstrdup(strbuf_cstr(&sb));
    }
    strbuf_destroy(&path);
    strbuf_destroy(&sb);
    return name;
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

/* ---- reading ------------------------------------------------------------------------ */

void memreport_process_init(MemProcess *p)
{
    memset(p, 0, sizeof *p);
    proctree_sample_init(&p->tree);
}

void memreport_process_destroy(MemProcess *p)
{
    free(p->name);
    proctree_sample_destroy(&p->tree);
    memreport_process_init(p);
}

int memreport_read_process(const char *root, int pid, MemProcess *p)
{
    int rc;
    p->pid = pid;
    if ((rc = procmem_read_status(root, pid, &p->status)) < 0 ||
        (rc = procmem_read_statm(root, pid, &p->statm)) < 0)
        return rc;
    free(p->name);
    p->name = read_name(root, pid);
    p->has_maps = procmem_read_map_count(root, pid, &p->map_count) == 0;
    p->has_rollup = procmem_read_rollup(root, pid, &p->rollup) == 0;
    p->has_tree = proctree_sample(root, pid, &p->tree) == 0;
    return 0;
}

void memreport_facts_init(MemFacts *f)
{
    memset(f, 0, sizeof *f);
    memreport_process_init(&f->proc);
    cgroup_mem_init(&f->cg);
    headroom_init(&f->hr);
}

void memreport_facts_destroy(MemFacts *f)
{
    memreport_process_destroy(&f->proc);
    cgroup_mem_destroy(&f->cg);
    headroom_destroy(&f->hr);
    memreport_facts_init(f);
}

int memreport_read(const char *root, int pid, MemFacts *f)
{
    int rc;
    if ((rc = memreport_read_process(root, pid, &f->proc)) < 0 ||
        (rc = procmem_read_limits(root, pid, &f->limits)) < 0 ||
        (rc = sysmem_read(root, &f->sys)) < 0 || (rc = cgroup_read(root, pid, &f->cg)) < 0)
        return rc;
    HeadroomInput in = {
        .status = &f->proc.status, .limits = &f->limits, .has_map_count = f->proc.has_maps,
        .map_count = f->proc.map_count, .sys = &f->sys, .cgroup = &f->cg,
    };
    headroom_eval(&in, &f->hr);
    return 0;
}

/* ---- sections ------------------------------------------------------------------------ */

json_t *memreport_process_json(const MemProcess *mp)
{
    const ProcStatus *st = &mp->status;
    const ProcStatm *sm = &mp->statm;
    json_t *p = json_pack(
        "{s:o, s:o, s:o, s:o, s:o, s:o, s:o, s:o, s:o, s:o, s:o, s:o, s:o, s:o, s:i}",
        "rss", jint(sm->rss), "vms", jint(sm->vms), "shared", jint(sm->shared), "text",
        jint(sm->text), "data", jint(sm->data), "vm_peak", jint(st->vm_peak), "vm_hwm",
        jint(st->vm_hwm), "vm_data", jint(st->vm_data), "vm_stk", jint(st->vm_stk), "vm_lck",
        jint(st->vm_lck), "vm_swap", jint(st->vm_swap), "rss_anon", jint(st->rss_anon), "rss_file",
        jint(st->rss_file), "rss_shmem", jint(st->rss_shmem), "threads", st->threads);
    json_object_set_new(p, "map_count", mp->has_maps ? jint(mp->map_count) : json_null());
    if (mp->has_rollup) {
        json_object_set_new(p, "pss", jint(mp->rollup.pss));
        json_object_set_new(p, "uss", jint(mp->rollup.uss));
        json_object_set_new(p, "swap", jint(mp->rollup.swap));
    }
    return p;
}

json_t *memreport_tree_json(const MemProcess *mp)
{
    const ProcTreeSample *ts = &mp->tree;
    return mp->has_tree ? json_pack("{s:i, s:o, s:o}", "nproc", (int)ts->nproc, "rss", jint(ts->rss),
                                    "vms", jint(ts->vms))
                        : json_null();
}

static json_t *limits_json(const ProcLimits *lim)
{
    return json_pack("{s:o, s:o, s:o, s:o, s:o}", "address_space", limit_pair(&lim->as), "data",
                     limit_pair(&lim->data), "resident_set", limit_pair(&lim->rss), "locked_memory",
                     limit_pair(&lim->memlock), "stack", limit_pair(&lim->stack));
}

static json_t *system_json(const SysMem *sys)
{
    const SysMeminfo *m = &sys->mem;
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
                        sys->overcommit_memory >= 0 ? json_integer(sys->overcommit_memory)
                                                    : json_null());
    json_object_set_new(s, "commit_limit", m->has_commit ? jint(m->commit_limit) : json_null());
    json_object_set_new(s, "committed_as", m->has_commit ? jint(m->committed_as) : json_null());
    json_object_set_new(s, "max_map_count",
                        sys->has_max_map_count ? jint(sys->max_map_count) : json_null());
    json_t *psi = json_null();
    if (sys->has_psi) {
        psi = json_object();
        json_object_set_new(psi, "some", sys->psi.has_some ? psi_line(&sys->psi.some) : json_null());
        json_object_set_new(psi, "full", sys->psi.has_full ? psi_line(&sys->psi.full) : json_null());
    }
    json_object_set_new(s, "psi", psi);
    return s;
}

static json_t *cgroup_json(const CgroupMem *cg)
{
    if (cg->version == CGROUP_NONE)
        return json_null();
    json_t *c = json_pack(
        "{s:i, s:s, s:s, s:o, s:o, s:o, s:o, s:o}", "version", (int)cg->version, "path",
        cg->path, "dir", cg->dir, "limit", jlimit(cg->limit, CGROUP_NO_LIMIT), "effective_limit",
        jlimit(cg->effective_limit, CGROUP_NO_LIMIT), "high", jlimit(cg->high, CGROUP_NO_LIMIT),
        "usage", jint(cg->usage), "peak", cg->has_peak ? jint(cg->peak) : json_null());
    json_object_set_new(c, "swap_usage", cg->has_swap ? jint(cg->swap_usage) : json_null());
    json_object_set_new(c, "swap_limit", jlimit(cg->swap_limit, CGROUP_NO_LIMIT));
    json_object_set_new(c, "oom", cg->has_events && cg->version == CGROUP_V2 ? jint(cg->oom)
                                                                             : json_null());
    json_object_set_new(c, "oom_kill", cg->has_events ? jint(cg->oom_kill) : json_null());
    json_object_set_new(c, "failcnt", cg->version == CGROUP_V1 ? jint(cg->failcnt) : json_null());
    return c;
}

/* constraints, binding, verdict, sentence */
static void add_headroom(json_t *r, const Headroom *hr)
{
    json_t *cons = json_array();
    HeadroomVerdict worst = HEADROOM_OK;
    for (int i = 0; i < HEADROOM_N; i++) {
        const HeadroomConstraint *c = &hr->c[i];
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
    if (hr->binding >= 0) {
        const HeadroomConstraint *b = &hr->c[hr->binding];
        json_object_set_new(r, "binding",
                            json_pack("{s:s, s:s, s:s, s:f}", "name", b->name, "label", b->label,
                                      "verdict", headroom_verdict_name(b->verdict), "percent",
                                      b->percent));
    } else {
        json_object_set_new(r, "binding", json_null());
    }
    json_object_set_new(r, "verdict", json_string(headroom_verdict_name(worst)));
    json_object_set_new(r, "sentence", json_string(hr->sentence));
}

/* ---- sections: the report as text, for every front end --------------------------------- */

/* One section: {title, rows = [{label, value[, verdict]}]}, appended to `list`; returns its rows. */
static json_t *section(json_t *list, const char *title)
{
    json_t *rows = json_array();
    json_array_append_new(list, json_pack("{s:s, s:o}", "title", title, "rows", rows));
    return rows;
}

static void row(json_t *rows, const char *label, const char *verdict, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

static void row(json_t *rows, const char *label, const char *verdict, const char *fmt, ...)
{
    StrBuf v = STRBUF_INIT;
    va_list ap;
    va_start(ap, fmt);
    strbuf_vprintf(&v, fmt, ap);
    va_end(ap);
    json_t *r = json_pack("{s:s, s:s}", "label", label, "value", strbuf_cstr(&v));
    if (verdict)
        json_object_set_new(r, "verdict", json_string(verdict));
    json_array_append_new(rows, r);
    strbuf_destroy(&v);
}

/* Sizes as the report shows them everywhere: "4.7 GB", "155 MB", "12 kB". */
typedef struct {
    char s[32];
} Size;

static Size size_of(uint64_t b)
{
    Size z;
    headroom_format_bytes(z.s, sizeof z.s, b);
    return z;
}

static Size limit_of(uint64_t b, uint64_t none)
{
    Size z;
    if (b == none)
        snprintf(z.s, sizeof z.s, "unlimited");
    else
        headroom_format_bytes(z.s, sizeof z.s, b);
    return z;
}

static void constraints_section(json_t *list, const Headroom *hr)
{
    json_t *rows = section(list, "Constraints");
    for (int i = 0; i < HEADROOM_N; i++) {
        const HeadroomConstraint *c = &hr->c[i];
        if (!c->applies)
            continue;
        char used[32], lim[32];
        if (c->kind == HEADROOM_MAP_COUNT) { /* a count, not bytes */
            snprintf(used, sizeof used, "%llu", (unsigned long long)c->used);
            snprintf(lim, sizeof lim, "%llu", (unsigned long long)c->limit);
        } else {
            headroom_format_bytes(used, sizeof used, c->used);
            headroom_format_bytes(lim, sizeof lim, c->limit);
        }
        const char *v = headroom_verdict_name(c->verdict);
        row(rows, c->name, v, "%-8s %5.1f%%  %s of %s (%s)", v, c->percent, used, lim, c->label);
    }
}

static void process_section(json_t *list, const MemProcess *p)
{
    StrBuf title = STRBUF_INIT;
    strbuf_printf(&title, "Process %d (%s)", p->pid, p->name ? p->name : "?");
    json_t *rows = section(list, strbuf_cstr(&title));
    strbuf_destroy(&title);
    const ProcStatus *st = &p->status;
    row(rows, "rss", NULL, "%s", size_of(p->statm.rss).s);
    row(rows, "vms (VmSize)", NULL, "%s", size_of(p->statm.vms).s);
    row(rows, "shared", NULL, "%s", size_of(p->statm.shared).s);
    row(rows, "VmData", NULL, "%s", size_of(st->vm_data).s);
    row(rows, "peak rss (VmHWM)", NULL, "%s", size_of(st->vm_hwm).s);
    row(rows, "VmPeak", NULL, "%s", size_of(st->vm_peak).s);
    row(rows, "swap (VmSwap)", NULL, "%s", size_of(st->vm_swap).s);
    if (p->has_rollup) {
        row(rows, "pss", NULL, "%s", size_of(p->rollup.pss).s);
        row(rows, "uss", NULL, "%s", size_of(p->rollup.uss).s);
    }
    if (p->has_maps)
        row(rows, "mappings", NULL, "%llu", (unsigned long long)p->map_count);
    row(rows, "threads", NULL, "%d", st->threads);
    if (p->has_tree)
        row(rows, "tree", NULL, "%zu processes, rss %s, vms %s", p->tree.nproc, size_of(p->tree.rss).s,
            size_of(p->tree.vms).s);
}

static void limits_section(json_t *list, const ProcLimits *l)
{
    json_t *rows = section(list, "Limits (soft / hard)");
    const struct {
        const char *name;
        const ProcLimit *l;
    } all[] = {{"address_space", &l->as}, {"data", &l->data}, {"resident_set", &l->rss},
               {"locked_memory", &l->memlock}, {"stack", &l->stack}};
    for (size_t i = 0; i < sizeof all / sizeof all[0]; i++)
        row(rows, all[i].name, NULL, "%s / %s", limit_of(all[i].l->soft, PROCMEM_UNLIMITED).s,
            limit_of(all[i].l->hard, PROCMEM_UNLIMITED).s);
}

static void system_section(json_t *list, const SysMem *sys)
{
    const SysMeminfo *m = &sys->mem;
    json_t *rows = section(list, "System");
    row(rows, "total", NULL, "%s", size_of(m->total).s);
    row(rows, "available", NULL, "%s", size_of(m->available).s);
    row(rows, "used", NULL, "%s (%.1f%%)", size_of(m->used).s, m->percent);
    if (m->swap_total)
        row(rows, "swap", NULL, "%s of %s (%.1f%%)", size_of(m->swap_used).s, size_of(m->swap_total).s,
            m->swap_percent);
    else
        row(rows, "swap", NULL, "none");
    if (sys->overcommit_memory >= 0)
        row(rows, "overcommit_memory", NULL, "%d", sys->overcommit_memory);
    if (m->has_commit)
        row(rows, "committed", NULL, "%s of CommitLimit %s", size_of(m->committed_as).s,
            size_of(m->commit_limit).s);
    if (sys->has_psi && sys->psi.has_some)
        row(rows, "pressure", NULL, "some avg10=%.2f avg60=%.2f", sys->psi.some.avg10, sys->psi.some.avg60);
}

static void cgroup_section(json_t *list, const CgroupMem *cg)
{
    if (cg->version == CGROUP_NONE) {
        section(list, "cgroup: none readable");
        return;
    }
    StrBuf title = STRBUF_INIT;
    strbuf_printf(&title, "cgroup v%d %s", (int)cg->version, cg->path ? cg->path : "");
    json_t *rows = section(list, strbuf_cstr(&title));
    strbuf_destroy(&title);
    row(rows, "usage", NULL, "%s", size_of(cg->usage).s);
    row(rows, "limit", NULL, "%s", cg->effective_limit == CGROUP_NO_LIMIT
                                       ? "none"
                                       : size_of(cg->effective_limit).s);
    if (cg->high != CGROUP_NO_LIMIT)
        row(rows, "high", NULL, "%s", size_of(cg->high).s);
    if (cg->has_peak)
        row(rows, "peak", NULL, "%s", size_of(cg->peak).s);
    if (cg->has_swap)
        row(rows, "swap", NULL, "%s of %s", size_of(cg->swap_usage).s,
            limit_of(cg->swap_limit, CGROUP_NO_LIMIT).s);
    if (cg->has_events)
        row(rows, "oom_kill", NULL, "%llu", (unsigned long long)cg->oom_kill);
}

static json_t *sections_json(const MemFacts *f)
{
    json_t *list = json_array();
    constraints_section(list, &f->hr);
    process_section(list, &f->proc);
    limits_section(list, &f->limits);
    system_section(list, &f->sys);
    cgroup_section(list, &f->cg);
    return list;
}

json_t *memreport_json(const MemFacts *f)
{
    json_t *r = json_object();
    json_object_set_new(r, "pid", json_integer(f->proc.pid));
    json_object_set_new(r, "name", f->proc.name ? json_string(f->proc.name) : json_null());
    json_object_set_new(r, "process", memreport_process_json(&f->proc));
    json_object_set_new(r, "tree", memreport_tree_json(&f->proc));
    json_object_set_new(r, "limits", limits_json(&f->limits));
    json_object_set_new(r, "system", system_json(&f->sys));
    json_object_set_new(r, "cgroup", cgroup_json(&f->cg));
    add_headroom(r, &f->hr);
    json_object_set_new(r, "sections", sections_json(f));
    return r;
}

json_t *memreport_build(const char *root, int pid, int *err)
{
    MemFacts f;
    memreport_facts_init(&f);
    int rc = memreport_read(root, pid, &f);
    json_t *r = rc == 0 ? memreport_json(&f) : NULL;
    if (err)
        *err = rc;
    memreport_facts_destroy(&f);
    return r;
}

/* ---- text ---------------------------------------------------------------------------- */

char *memreport_render_text(const json_t *r)
{
    StrBuf sb = STRBUF_INIT;
    const json_t *name = json_object_get(r, "name");
    strbuf_printf(&sb, "pid %lld (%s): %s\n", (long long)json_integer_value(json_object_get(r, "pid")),
                  json_is_string(name) ? json_string_value(name) : "?",
                  json_string_value(json_object_get(r, "verdict")));
    strbuf_printf(&sb, "  %s\n", json_string_value(json_object_get(r, "sentence")));
    size_t i, k;
    const json_t *s, *row;
    json_array_foreach(json_object_get(r, "sections"), i, s) {
        strbuf_printf(&sb, "%s\n", json_string_value(json_object_get(s, "title")));
        json_array_foreach(json_object_get(s, "rows"), k, row)
            strbuf_printf(&sb, MEMREPORT_ROW_FORMAT "\n", json_string_value(json_object_get(row, "label")),
                          json_string_value(json_object_get(row, "value")));
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
