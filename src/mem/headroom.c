/* headroom: verdicts, binding constraint, sentences, diagnosis (see headroom.h). */
#include "mem/headroom.h"

#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/strbuf.h"

#define MIB (1024.0 * 1024.0)
#define GIB (1024.0 * 1024.0 * 1024.0)

static const struct {
    const char *name, *label;
} kinds[HEADROOM_N] = {
    [HEADROOM_RLIMIT_AS] = {"RLIMIT_AS", "address space"},
    [HEADROOM_RLIMIT_DATA] = {"RLIMIT_DATA", "data segment"},
    [HEADROOM_MAP_COUNT] = {"max_map_count", "memory mappings"},
    [HEADROOM_COMMIT] = {"CommitLimit", "committed memory"},
    [HEADROOM_CGROUP] = {"cgroup", "cgroup memory"},
    [HEADROOM_CGROUP_SWAP] = {"cgroup_swap", "cgroup swap"},
    [HEADROOM_SYSTEM] = {"system", "system memory"},
    [HEADROOM_SWAP] = {"swap", "swap"},
};

const char *headroom_verdict_name(HeadroomVerdict v)
{
    switch (v) {
    case HEADROOM_OK:
        return "ok";
    case HEADROOM_NEAR:
        return "near";
    case HEADROOM_EXCEEDED:
        return "exceeded";
    }
    return "ok";
}

void headroom_format_bytes(char *buf, size_t size, uint64_t b)
{
    if ((double)b >= GIB)
        snprintf(buf, size, "%.1f GB", (double)b / GIB);
    else if ((double)b >= MIB)
        snprintf(buf, size, "%.0f MB", (double)b / MIB);
    else
        snprintf(buf, size, "%.0f kB", (double)b / 1024.0);
}

/* A used/limit pair: both in MB when the limit is below 10 GB ("1273 MB of 1024 MB"),
 * else each on its own scale ("348 MB of 23.5 GB"). */
static void format_pair(char *u, char *l, size_t size, uint64_t used, uint64_t limit)
{
    if ((double)limit >= MIB && (double)limit < 10.0 * GIB) {
        snprintf(u, size, "%.0f MB", (double)used / MIB);
        snprintf(l, size, "%.0f MB", (double)limit / MIB);
    } else {
        headroom_format_bytes(u, size, used);
        headroom_format_bytes(l, size, limit);
    }
}

void headroom_init(Headroom *h)
{
    memset(h, 0, sizeof *h);
    h->binding = -1;
    for (int i = 0; i < HEADROOM_N; i++) {
        h->c[i].kind = (HeadroomKind)i;
        h->c[i].name = kinds[i].name;
        h->c[i].label = kinds[i].label;
    }
}

void headroom_destroy(Headroom *h)
{
    free(h->sentence);
    headroom_init(h);
}

static void set(HeadroomConstraint *c, uint64_t used, uint64_t limit)
{
    c->applies = true;
    c->used = used;
    c->limit = limit;
    c->percent = limit ? (double)used / (double)limit * 100.0 : (used ? 100.0 : 0.0);
    if (used >= limit)
        c->verdict = HEADROOM_EXCEEDED;
    else if (c->percent >= HEADROOM_NEAR_PERCENT)
        c->verdict = HEADROOM_NEAR;
    else
        c->verdict = HEADROOM_OK;
}

/* The sentence for one constraint (any verdict), appended to sb. */
static void constraint_sentence(const Headroom *h, const HeadroomConstraint *c, const char *cgpath,
                                int cgver, StrBuf *sb)
{
    char u[32], l[32], avail[32], left[32];
    format_pair(u, l, sizeof u, c->used, c->limit);
    headroom_format_bytes(avail, sizeof avail, h->available);
    headroom_format_bytes(left, sizeof left, c->limit > c->used ? c->limit - c->used : 0);
    int pct = (int)(c->percent + 0.5);
    bool ex = c->verdict == HEADROOM_EXCEEDED;
    switch (c->kind) {
    case HEADROOM_RLIMIT_AS:
        if (ex)
            strbuf_printf(sb, "address space %s of %s limit (RLIMIT_AS): new mappings will fail "
                          "with ENOMEM even though %s is free", u, l, avail);
        else
            strbuf_printf(sb, "address space %s of %s limit (RLIMIT_AS, %d%%): mappings larger "
                          "than the %s left will fail with ENOMEM even though %s is free",
                          u, l, pct, left, avail);
        break;
    case HEADROOM_RLIMIT_DATA:
        if (ex)
            strbuf_printf(sb, "data segment %s of %s limit (RLIMIT_DATA): new private writable "
                          "mappings and brk will fail with ENOMEM even though %s is free",
                          u, l, avail);
        else
            strbuf_printf(sb, "data segment %s of %s limit (RLIMIT_DATA, %d%%): allocations "
                          "larger than the %s left will fail with ENOMEM even though %s is free",
                          u, l, pct, left, avail);
        break;
    case HEADROOM_MAP_COUNT:
        if (ex)
            strbuf_printf(sb, "memory mappings %" PRIu64 " of %" PRIu64 " (vm.max_map_count): new "
                          "mappings will fail with ENOMEM even though %s is free",
                          c->used, c->limit, avail);
        else
            strbuf_printf(sb, "memory mappings %" PRIu64 " of %" PRIu64 " (vm.max_map_count, "
                          "%d%%): %" PRIu64 " more mappings and mmap fails with ENOMEM",
                          c->used, c->limit, pct, c->limit - c->used);
        break;
    case HEADROOM_COMMIT:
        if (ex)
            strbuf_printf(sb, "committed memory %s of %s CommitLimit (strict overcommit, "
                          "vm.overcommit_memory=2): allocations will fail with ENOMEM even "
                          "though %s is free", u, l, avail);
        else
            strbuf_printf(sb, "committed memory %s of %s CommitLimit (strict overcommit, "
                          "vm.overcommit_memory=2, %d%%): allocations larger than the %s left "
                          "will fail with ENOMEM", u, l, pct, left);
        break;
    case HEADROOM_CGROUP:
        if (ex)
            strbuf_printf(sb, "cgroup memory %s of %s limit (cgroup v%d %s): the kernel "
                          "OOM-kills a process (SIGKILL, exit 137) instead of returning ENOMEM",
                          u, l, cgver, cgpath);
        else
            strbuf_printf(sb, "cgroup memory %s of %s limit (cgroup v%d %s, %d%%): growing by "
                          "more than %s gets a process OOM-killed (SIGKILL, exit 137)",
                          u, l, cgver, cgpath, pct, left);
        if (h->has_oom_kill && h->oom_kill)
            strbuf_printf(sb, "; %" PRIu64 " OOM kill%s so far", h->oom_kill,
                          h->oom_kill == 1 ? "" : "s");
        break;
    case HEADROOM_CGROUP_SWAP:
        strbuf_printf(sb, "cgroup swap %s of %s limit (cgroup v%d %s, %d%%)%s", u, l, cgver, cgpath,
                      pct, ex || c->verdict == HEADROOM_NEAR
                               ? ": once swap is full the cgroup limit OOM-kills" : "");
        break;
    case HEADROOM_SYSTEM:
        strbuf_printf(sb, "system memory %s of %s in use (%d%%, %s available)%s", u, l, pct, avail,
                      ex || c->verdict == HEADROOM_NEAR
                          ? ": the kernel OOM killer may end processes (SIGKILL)" : "");
        break;
    case HEADROOM_SWAP:
        strbuf_printf(sb, "swap %s of %s in use (%d%%)", u, l, pct);
        break;
    case HEADROOM_N:
        break;
    }
}

static void build_sentence(Headroom *h, const CgroupMem *cg)
{
    StrBuf sb = STRBUF_INIT;
    const char *cgpath = cg && cg->path ? cg->path : "";
    int cgver = cg ? (int)cg->version : 0;
    if (h->binding < 0) {
        strbuf_puts(&sb, "no memory limit applies");
    } else {
        const HeadroomConstraint *c = &h->c[h->binding];
        if (c->verdict == HEADROOM_OK) {
            char u[32], l[32];
            strbuf_puts(&sb, "no memory limit is near: closest is ");
            if (c->kind == HEADROOM_MAP_COUNT)
                strbuf_printf(&sb, "memory mappings %" PRIu64 " of %" PRIu64, c->used, c->limit);
            else {
                format_pair(u, l, sizeof u, c->used, c->limit);
                strbuf_printf(&sb, "%s %s of %s", c->label, u, l);
            }
            strbuf_printf(&sb, " (%s, %d%%)", c->name, (int)(c->percent + 0.5));
        } else {
            constraint_sentence(h, c, cgpath, cgver, &sb);
        }
    }
    free(h->sentence);
    h->sentence = strbuf_detach(&sb);
}

void headroom_eval(const HeadroomInput *in, Headroom *h)
{
    headroom_destroy(h);
    const SysMem *sys = in->sys;
    if (sys)
        h->available = sys->mem.available;
    if (in->status && in->limits) {
        if (in->limits->as.soft != PROCMEM_UNLIMITED)
            set(&h->c[HEADROOM_RLIMIT_AS], in->status->vm_size, in->limits->as.soft);
        if (in->limits->data.soft != PROCMEM_UNLIMITED)
            set(&h->c[HEADROOM_RLIMIT_DATA], in->status->vm_data, in->limits->data.soft);
    }
    if (in->has_map_count && sys && sys->has_max_map_count)
        set(&h->c[HEADROOM_MAP_COUNT], in->map_count, sys->max_map_count);
    if (sys && sys->overcommit_memory == 2 && sys->mem.has_commit)
        set(&h->c[HEADROOM_COMMIT], sys->mem.committed_as, sys->mem.commit_limit);
    const CgroupMem *cg = in->cgroup && in->cgroup->version != CGROUP_NONE ? in->cgroup : NULL;
    if (cg) {
        if (cg->effective_limit != CGROUP_NO_LIMIT)
            set(&h->c[HEADROOM_CGROUP], cg->usage, cg->effective_limit);
        if (cg->has_swap && cg->swap_limit != CGROUP_NO_LIMIT && cg->swap_limit > 0)
            set(&h->c[HEADROOM_CGROUP_SWAP], cg->swap_usage, cg->swap_limit);
        h->has_oom_kill = cg->has_events;
        h->oom_kill = cg->oom_kill;
    }
    if (sys && sys->mem.total) {
        set(&h->c[HEADROOM_SYSTEM], sys->mem.used_by_available, sys->mem.total);
        if (sys->mem.swap_total)
            set(&h->c[HEADROOM_SWAP], sys->mem.swap_used, sys->mem.swap_total);
    }
    /* binding: worst verdict, then highest percent, then the order of ENOMEM causes */
    for (int i = 0; i < HEADROOM_N; i++) {
        const HeadroomConstraint *c = &h->c[i];
        if (!c->applies)
            continue;
        if (h->binding < 0) {
            h->binding = i;
            continue;
        }
        const HeadroomConstraint *b = &h->c[h->binding];
        if (c->verdict > b->verdict || (c->verdict == b->verdict && c->percent > b->percent))
            h->binding = i;
    }
    build_sentence(h, cg);
}

/* What says an allocation failed, in the words of whoever failed.
 * - Python: MemoryError (also in "Fatal Python error: _PyErr_NoMemory: Out of memory and
 *   PyExc_MemoryError is not initialized yet" and "object type name: MemoryError"); an
 *   OSError's "[Errno 12]", whatever the locale makes of strerror; and what start-up says when
 *   an allocation fails before MemoryError exists (CPython's Python/ sources:
 *   _PyStatus_NO_MEMORY's "memory allocation failed", _PyExc_InitTypes', a thread state's, a
 *   frozen module that cannot be unmarshalled). Not "failed to get random numbers to
 *   initialize Python": getrandom()/urandom failing is no allocation.
 * - strerror(ENOMEM), as the C library and the loader say it.
 * - glibc's dynamic loader (elf/ of glibc 2.36-2.42): every message of a failed allocation or
 *   mapping. The mappings' (dl-map-segments.h: "failed to map segment from shared object",
 *   "cannot map zero-fill pages") come without strerror: with a tiny RLIMIT_AS the interpreter
 *   cannot even map its libraries, pytest never starts and the loader exits 127. Not
 *   "cannot allocate memory in static TLS block" (the static TLS surplus is used up: no limit
 *   is involved) nor the mprotect ones ("cannot change memory protections", ...). */
#define ENOMEM_FROZEN_INVALID_HEAD "Frozen object named "

static const char *const enomem_phrases[] = {
    "MemoryError",
    "[Errno 12]",
    "memory allocation failed",
    "failed to initialize an exception type",
    "thread state allocation failed",
    "Cannot allocate memory",
    "failed to map segment from shared object",
    "cannot map zero-fill pages",
    "cannot create cache for search path",
    "cannot create RUNPATH/RPATH copy",
    "cannot create search path array",
    "cannot allocate name record",
    "cannot create shared object descriptor",
    "cannot allocate memory for program header",
    "cannot allocate dependency buffer",
    "cannot allocate dependency list",
    "cannot allocate symbol search list",
    "cannot allocate version reference table",
    "cannot create scope list",
    "cannot extend global scope",
    "cannot create capability list",
    "cannot create HWCAP priorities",
    "cannot allocate TLS data structures for initial thread",
    "cannot create TLS data structures",
    "cannot allocate memory for thread-local data",
    "Cannot allocate TLS block",
    "cannot allocate address lookup data",
    "cannot allocate memory for find-object data",
    "Out of memory while loading audit modules",
    "Out of memory while initializing profiler",
    "error while loading shared libraries: out of memory",
};

size_t headroom_enomem_phrase_max(void)
{
    size_t max = sizeof ENOMEM_FROZEN_INVALID_HEAD - 1;
    for (size_t i = 0; i < sizeof enomem_phrases / sizeof enomem_phrases[0]; i++)
        if (strlen(enomem_phrases[i]) > max)
            max = strlen(enomem_phrases[i]);
    return max;
}

/* "Frozen object named 'os' is invalid": unmarshalling a module frozen into the interpreter
 * failed, which at start-up means an allocation did (the bytes are the binary's own). */
static bool frozen_invalid(const char *text, size_t len)
{
    static const char tail[] = " is invalid";
    const char *end = text + len;
    for (const char *p = text;
         (p = memmem(p, (size_t)(end - p), ENOMEM_FROZEN_INVALID_HEAD,
                     sizeof ENOMEM_FROZEN_INVALID_HEAD - 1)) != NULL;
         p += sizeof ENOMEM_FROZEN_INVALID_HEAD - 1) {
        const char *nl = memchr(p, '\n', (size_t)(end - p));
        const char *eol = nl ? nl : end;
        if (memmem(p, (size_t)(eol - p), tail, sizeof tail - 1))
            return true;
    }
    return false;
}

bool headroom_text_says_enomem(const char *text, size_t len)
{
    for (size_t i = 0; i < sizeof enomem_phrases / sizeof enomem_phrases[0]; i++)
        if (memmem(text, len, enomem_phrases[i], strlen(enomem_phrases[i])))
            return true;
    return frozen_invalid(text, len);
}

void headroom_diagnosis_destroy(HeadroomDiagnosis *out)
{
    free(out->sentence);
    memset(out, 0, sizeof *out);
    out->kind = -1;
}

/* The first process-level ENOMEM cause at `verdict` or worse in `h`, or -1. */
static int enomem_cause(const Headroom *h, HeadroomVerdict at_least)
{
    static const HeadroomKind order[] = {HEADROOM_RLIMIT_AS, HEADROOM_RLIMIT_DATA,
                                         HEADROOM_MAP_COUNT, HEADROOM_COMMIT};
    if (!h)
        return -1;
    for (size_t i = 0; i < sizeof order / sizeof order[0]; i++) {
        const HeadroomConstraint *c = &h->c[order[i]];
        if (c->applies && c->verdict >= at_least)
            return (int)order[i];
    }
    return -1;
}

void headroom_diagnose(const HeadroomDeath *d, HeadroomDiagnosis *out)
{
    memset(out, 0, sizeof *out);
    out->kind = -1;
    out->cause = "none";
    StrBuf sb = STRBUF_INIT;
    const Headroom *after = d->after ? d->after : d->before;
    const Headroom *before = d->before;
    bool died = d->exit_signal != 0 || d->exit_status != 0;

    /* 1. cgroup OOM kill: the counter rose during the run */
    if (before && d->after && before->has_oom_kill && d->after->has_oom_kill &&
        d->after->oom_kill > before->oom_kill) {
        const HeadroomConstraint *c = &d->after->c[HEADROOM_CGROUP];
        out->memory_related = true;
        out->kind = HEADROOM_CGROUP;
        out->cause = "cgroup_oom_kill";
        strbuf_puts(&sb, "the cgroup memory limit was reached");
        if (c->applies) {
            char l[32];
            headroom_format_bytes(l, sizeof l, c->limit);
            strbuf_printf(&sb, " (%s)", l);
        }
        strbuf_printf(&sb, ": the kernel OOM-killed a process in the cgroup (oom_kill %" PRIu64
                      " -> %" PRIu64 ")", before->oom_kill, d->after->oom_kill);
        if (d->exit_signal == SIGKILL)
            strbuf_puts(&sb, "; the run died of SIGKILL");
        goto done;
    }

    /* 2. a process limit reached: named when the output says ENOMEM, or when the run died
     *    while a limit was exceeded */
    int k = -1;
    if (d->saw_enomem || died) {
        HeadroomVerdict at = d->saw_enomem ? HEADROOM_NEAR : HEADROOM_EXCEEDED;
        k = enomem_cause(after, HEADROOM_EXCEEDED);
        if (k < 0)
            k = enomem_cause(before, HEADROOM_EXCEEDED);
        if (k < 0 && at == HEADROOM_NEAR) {
            k = enomem_cause(after, HEADROOM_NEAR);
            if (k < 0)
                k = enomem_cause(before, HEADROOM_NEAR);
        }
    }
    if (k >= 0) {
        const Headroom *h = enomem_cause(after, HEADROOM_NEAR) == k ? after : before;
        out->memory_related = true;
        out->kind = k;
        out->cause = h->c[k].name;
        strbuf_printf(&sb, "%s was reached: ", h->c[k].name);
        constraint_sentence(h, &h->c[k], "", 0, &sb);
        goto done;
    }

    /* 3. SIGKILL while the system was short of memory: the global OOM killer */
    if (d->exit_signal == SIGKILL && after && after->c[HEADROOM_SYSTEM].applies &&
        after->c[HEADROOM_SYSTEM].verdict != HEADROOM_OK) {
        out->memory_related = true;
        out->kind = HEADROOM_SYSTEM;
        out->cause = "system_oom";
        strbuf_puts(&sb, "killed by SIGKILL while ");
        constraint_sentence(after, &after->c[HEADROOM_SYSTEM], "", 0, &sb);
        goto done;
    }

    /* 4. ENOMEM under a finite address-space or data limit that was not near: one
     *    request larger than what the limit leaves (a 400 MB mmap with 160 MB left). */
    const Headroom *h = after ? after : before;
    k = d->saw_enomem ? enomem_cause(h, HEADROOM_OK) : -1;
    if (k == HEADROOM_RLIMIT_AS || k == HEADROOM_RLIMIT_DATA) {
        const HeadroomConstraint *c = &h->c[k];
        char used[32], limit[32], left[32];
        headroom_format_bytes(used, sizeof used, c->used);
        headroom_format_bytes(limit, sizeof limit, c->limit);
        headroom_format_bytes(left, sizeof left, c->limit > c->used ? c->limit - c->used : 0);
        out->memory_related = true;
        out->kind = k;
        out->cause = c->name;
        strbuf_printf(&sb, "an allocation failed (MemoryError / ENOMEM) under %s: %s %s of %s "
                           "limit, so any single request larger than the %s left fails",
                      c->name, c->label, used, limit, left);
        goto done;
    }
    if (d->saw_enomem) {
        out->memory_related = true;
        out->cause = "unknown_enomem";
        strbuf_puts(&sb, "an allocation failed (MemoryError / ENOMEM) but no memory limit was "
                         "near: left are a single request larger than RAM + swap, hugepages or "
                         "RLIMIT_MEMLOCK");
        goto done;
    }
    strbuf_puts(&sb, "no memory limit was near");
done:
    out->sentence = strbuf_detach(&sb);
}
