/* memfail: which limit refused one failed allocation (see memfail.h). */
#include "mem/memfail.h"

#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/strbuf.h"
#include "base/textclean.h"
#include "mem/headroom.h"

#define MAP_COUNT_NEAR 64           /* mappings from vm.max_map_count that count as reached */
#define CGROUP_NEAR_PERCENT 90.0

/* facts[key] as a non-negative number, or -1 when absent or not one. */
static long long num(const json_t *o, const char *key)
{
    json_t *v = json_object_get(o, key);
    return json_is_integer(v) && json_integer_value(v) >= 0 ? (long long)json_integer_value(v) : -1;
}

/* The soft limit of an [soft, hard] pair, -1 when unlimited or absent. */
static long long soft_limit(const json_t *o, const char *key)
{
    json_t *v = json_array_get(json_object_get(o, key), 0);
    return json_is_integer(v) && json_integer_value(v) >= 0 ? (long long)json_integer_value(v) : -1;
}

static const char *size(char *buf, size_t n, long long bytes)
{
    if (bytes < 0)
        return "?";
    headroom_format_bytes(buf, n, (uint64_t)bytes);
    return buf;
}

/* ", RSS 160 MB" when known. */
static void rss_tail(StrBuf *sb, const json_t *f)
{
    char b[32];
    long long rss = num(f, "vm_rss");
    if (rss >= 0)
        strbuf_printf(sb, ", RSS %s", size(b, sizeof b, rss));
}

/* "; a single request over the 1.3 GB left fails" when the room is a tenth of the limit or more
 * (the limit was not full: one request was larger than what it left). */
static void room_tail(StrBuf *sb, long long limit, long long room)
{
    char b[32];
    if (limit > 0 && room >= limit / 10)
        strbuf_printf(sb, "; a single request over the %s left fails", size(b, sizeof b, room));
}

/* "memory.max 512 MB, cgroup v2 /system.slice/x" */
static void cgroup_limit(StrBuf *sb, const json_t *cg)
{
    char b[32];
    long long version = num(cg, "version");
    const char *path = json_string_value(json_object_get(cg, "path"));
    strbuf_printf(sb, "%s %s, cgroup v%lld %s", version == 1 ? "memory.limit_in_bytes" : "memory.max",
                  size(b, sizeof b, num(cg, "limit")), version, path ? path : "?");
}

/* The sentence made safe to show (a cgroup path comes from the test's process): consumes sb. */
static char *clean(StrBuf *sb)
{
    StrBuf out = STRBUF_INIT;
    textclean_display(&out, strbuf_cstr(sb), sb->len, 0, TEXTCLEAN_MESSAGE_MAX);
    strbuf_destroy(sb);
    return strbuf_detach(&out);
}

/* Whether a counter rose: {key}_before then key. */
static bool rose(const json_t *o, const char *key, long long *before, long long *now)
{
    char k[64];
    snprintf(k, sizeof k, "%s_before", key);
    *before = num(o, k);
    *now = num(o, key);
    return *before >= 0 && *now > *before;
}

static int explain_crash(const json_t *f, MemFailVerdict *out)
{
    StrBuf sb = STRBUF_INIT;
    char b[32], t[32];
    long long before, now;
    const json_t *cg = json_object_get(f, "cgroup");
    if (json_is_object(cg) && rose(cg, "oom_kill", &before, &now)) {
        out->cause = "cgroup_oom_kill";
        strbuf_puts(&sb, "killed by the OOM killer: cgroup memory limit (");
        cgroup_limit(&sb, cg);
        strbuf_printf(&sb, ") reached: usage %s, oom_kill %lld -> %lld", size(b, sizeof b, num(cg, "usage")),
                      before, now);
    } else if (rose(f, "vm_oom_kill", &before, &now)) {
        out->cause = "system_oom_kill";
        strbuf_printf(&sb, "killed by the OOM killer: the system ran out of memory (oom_kill %lld -> %lld "
                           "in /proc/vmstat; %s of %s available now)",
                      before, now, size(b, sizeof b, num(f, "mem_available")), size(t, sizeof t, num(f, "mem_total")));
    } else {
        strbuf_destroy(&sb);
        return -ENOENT;
    }
    out->sentence = clean(&sb);
    return 0;
}

int memfail_explain_killed(const json_t *f, MemFailVerdict *out)
{
    *out = (MemFailVerdict){0};
    const json_t *cg = json_is_object(f) ? json_object_get(f, "cgroup") : NULL;
    if (!json_is_object(cg) || num(cg, "limit") <= 0)
        return -ENOENT;
    StrBuf sb = STRBUF_INIT;
    out->cause = "cgroup_oom_kill";
    strbuf_puts(&sb, "killed (SIGKILL) where its memory limit is the cgroup's (");
    cgroup_limit(&sb, cg);
    strbuf_puts(&sb, "): most likely the OOM killer, past that limit");
    out->sentence = clean(&sb);
    return 0;
}

json_t *memfail_limits_where(const json_t *f)
{
    if (!json_is_object(f))
        return NULL;
    json_t *o = json_object();
    const json_t *cg = json_object_get(f, "cgroup");
    long long cg_limit = json_is_object(cg) ? num(cg, "limit") : -1;
    long long cg_usage = json_is_object(cg) ? num(cg, "usage") : -1;
    long long as = soft_limit(f, "rlimit_as"), data = soft_limit(f, "rlimit_data");
    long long total = num(f, "mem_total"), avail = num(f, "mem_available");
    const struct { const char *key; long long v; } kv[] = {
        {"cgroup_limit", cg_limit > 0 ? cg_limit : -1}, {"cgroup_usage", cg_limit > 0 ? cg_usage : -1},
        {"rlimit_as", as}, {"rlimit_data", data}, {"mem_total", total}, {"mem_available", avail},
    };
    for (size_t i = 0; i < sizeof kv / sizeof kv[0]; i++)
        if (kv[i].v >= 0)
            json_object_set_new(o, kv[i].key, json_integer(kv[i].v));
    /* The lowest of the limits: the one a growing test meets first. */
    const char *binding = "none";
    long long lowest = -1;
    const struct { const char *name; long long v; } lim[] = {
        {"cgroup", cg_limit > 0 ? cg_limit : -1}, {"RLIMIT_AS", as}, {"RLIMIT_DATA", data}, {"system", total},
    };
    for (size_t i = 0; i < sizeof lim / sizeof lim[0]; i++) {
        if (lim[i].v > 0 && (lowest < 0 || lim[i].v < lowest)) {
            lowest = lim[i].v;
            binding = lim[i].name;
        }
    }
    json_object_set_new(o, "binding", json_string(binding));
    StrBuf sb = STRBUF_INIT;
    char b[32];
    if (lowest > 0)
        json_object_set_new(o, "binding_bytes", json_integer(lowest));
    if (strcmp(binding, "cgroup") == 0) {
        strbuf_puts(&sb, "cgroup ");
        cgroup_limit(&sb, cg);
        if (cg_usage >= 0)
            strbuf_printf(&sb, " (used %s)", size(b, sizeof b, cg_usage));
    } else if (strcmp(binding, "system") == 0) {
        strbuf_printf(&sb, "system memory %s", size(b, sizeof b, total));
        if (avail >= 0)
            strbuf_printf(&sb, " (%s available)", size(b, sizeof b, avail));
    } else if (lowest > 0) {
        strbuf_printf(&sb, "%s %s", binding, size(b, sizeof b, lowest));
    } else {
        strbuf_puts(&sb, "no limit known");
    }
    char *sentence = clean(&sb);
    json_object_set_new(o, "sentence", json_string(sentence));
    free(sentence);
    return o;
}

typedef enum { C_AS, C_DATA, C_MAPS, C_COMMIT, C_CGROUP, C_N } Cand;

int memfail_explain(const json_t *f, MemFailVerdict *out)
{
    out->cause = NULL;
    out->sentence = NULL;
    if (!json_is_object(f))
        return -ENOENT;
    const char *what = json_string_value(json_object_get(f, "what"));
    if (what && strcmp(what, "crash") == 0)
        return explain_crash(f, out);

    /* The room each limit that applies leaves; the least is the one a failed request was over. */
    long long room[C_N];
    for (int i = 0; i < C_N; i++)
        room[i] = -1;
    long long as = soft_limit(f, "rlimit_as"), vm_size = num(f, "vm_size");
    if (as >= 0 && vm_size >= 0)
        room[C_AS] = as > vm_size ? as - vm_size : 0;
    long long data = soft_limit(f, "rlimit_data"), vm_data = num(f, "vm_data");
    if (data >= 0 && vm_data >= 0)
        room[C_DATA] = data > vm_data ? data - vm_data : 0;
    long long maps = num(f, "map_count"), max_maps = num(f, "max_map_count");
    if (maps >= 0 && max_maps > 0 && maps + MAP_COUNT_NEAR >= max_maps)
        room[C_MAPS] = 0;
    long long climit = num(f, "commit_limit"), committed = num(f, "committed_as");
    if (num(f, "overcommit_memory") == 2 && climit >= 0 && committed >= 0)
        room[C_COMMIT] = climit > committed ? climit - committed : 0;
    const json_t *cg = json_object_get(f, "cgroup");
    long long cg_limit = json_is_object(cg) ? num(cg, "limit") : -1, cg_usage = json_is_object(cg) ? num(cg, "usage") : -1;
    if (cg_limit > 0 && cg_usage >= 0 && (double)cg_usage >= (double)cg_limit * CGROUP_NEAR_PERCENT / 100.0)
        room[C_CGROUP] = cg_limit > cg_usage ? cg_limit - cg_usage : 0;
    int best = -1;
    for (int i = 0; i < C_N; i++) /* ties go to the first: the kernel's order of checks */
        if (room[i] >= 0 && (best < 0 || room[i] < room[best]))
            best = i;
    long long total = num(f, "mem_total"), swap = num(f, "swap_total");
    long long ram_swap = total >= 0 ? total + (swap > 0 ? swap : 0) : -1;
    if (best >= 0 && ram_swap >= 0 && room[best] > ram_swap && num(f, "overcommit_memory") != 1)
        best = -1; /* heuristic overcommit refuses a request larger than RAM + swap before that */

    StrBuf sb = STRBUF_INIT;
    char a[32], b[32];
    switch (best) {
    case C_AS:
        out->cause = "RLIMIT_AS";
        strbuf_printf(&sb, "address-space limit (RLIMIT_AS %s) reached: VmSize %s", size(a, sizeof a, as),
                      size(b, sizeof b, vm_size));
        rss_tail(&sb, f);
        room_tail(&sb, as, room[C_AS]);
        break;
    case C_DATA:
        out->cause = "RLIMIT_DATA";
        strbuf_printf(&sb, "data-segment limit (RLIMIT_DATA %s) reached: VmData %s", size(a, sizeof a, data),
                      size(b, sizeof b, vm_data));
        rss_tail(&sb, f);
        room_tail(&sb, data, room[C_DATA]);
        break;
    case C_MAPS:
        out->cause = "max_map_count";
        strbuf_printf(&sb, "mapping-count limit (vm.max_map_count %lld) reached: %lld mappings", max_maps, maps);
        rss_tail(&sb, f);
        break;
    case C_COMMIT:
        out->cause = "CommitLimit";
        strbuf_printf(&sb, "commit limit (CommitLimit %s, vm.overcommit_memory=2) reached: Committed_AS %s",
                      size(a, sizeof a, climit), size(b, sizeof b, committed));
        rss_tail(&sb, f);
        room_tail(&sb, climit, room[C_COMMIT]);
        break;
    case C_CGROUP:
        out->cause = "cgroup";
        strbuf_puts(&sb, "cgroup memory limit (");
        cgroup_limit(&sb, cg);
        strbuf_printf(&sb, ") reached: usage %s", size(a, sizeof a, cg_usage));
        rss_tail(&sb, f);
        break;
    default:
        out->cause = "none";
        strbuf_puts(&sb, "none: the allocation itself is larger than available");
        if (total >= 0)
            strbuf_printf(&sb, " (RAM %s + swap %s)", size(a, sizeof a, total), size(b, sizeof b, swap > 0 ? swap : 0));
        if (vm_size >= 0) {
            strbuf_printf(&sb, ": VmSize %s", size(a, sizeof a, vm_size));
            rss_tail(&sb, f);
        }
        if (cg_limit > 0 && (total < 0 || cg_limit < total)) { /* a container's, usually */
            strbuf_puts(&sb, "; where it runs, the cgroup memory limit (");
            cgroup_limit(&sb, cg);
            strbuf_puts(&sb, ") binds first: past it the OOM killer ends the process");
        }
        break;
    }
    out->sentence = clean(&sb);
    return 0;
}

void memfail_verdict_destroy(MemFailVerdict *v)
{
    free(v->sentence);
    v->sentence = NULL;
    v->cause = NULL;
}

void memfail_apply(json_t *failure)
{
    json_t *facts = json_object_get(failure, "memfail");
    if (facts == NULL)
        return;
    MemFailVerdict v;
    if (memfail_explain(facts, &v) == 0) {
        const char *msg = json_string_value(json_object_get(failure, "message"));
        StrBuf sb = STRBUF_INIT;
        strbuf_printf(&sb, "%s: %s", msg && *msg ? msg : "MemoryError", v.sentence);
        json_object_set_new(failure, "message", json_string(strbuf_cstr(&sb)));
        json_object_set_new(failure, "memory_limit", json_pack("{s:s, s:s}", "cause", v.cause, "sentence", v.sentence));
        strbuf_destroy(&sb);
        memfail_verdict_destroy(&v);
    }
    json_object_del(failure, "memfail");
}

void memfail_apply_all(json_t *failures)
{
    size_t i;
    json_t *f;
    json_array_foreach(failures, i, f)
        memfail_apply(f);
}
