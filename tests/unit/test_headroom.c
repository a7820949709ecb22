/* test_headroom: verdicts, binding constraint and sentence for every fixture scenario
 * (seed RLIMIT_AS failure, cgroup v1/v2 with/without limits and OOM kills, strict
 * overcommit, max_map_count), struct-literal edge cases, the diagnosis of a dead run,
 * and the memreport JSON/text built on top. */
#include <errno.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "testutil.h"

#include "mem/headroom.h"
#include "mem/memreport.h"


/* Reads a fixture scenario the way memreport does and evaluates it. */
static void eval_fixture(const char *scenario, Headroom *h)
{
    const char *root = fixture(scenario);
    ProcStatus st;
    ProcLimits lim;
    SysMem sys;
    CgroupMem cg;
    uint64_t maps;
    cgroup_mem_init(&cg);
    assert_int_equal(procmem_read_status(root, 4242, &st), 0);
    assert_int_equal(procmem_read_limits(root, 4242, &lim), 0);
    assert_int_equal(procmem_read_map_count(root, 4242, &maps), 0);
    assert_int_equal(sysmem_read(root, &sys), 0);
    assert_int_equal(cgroup_read(root, 4242, &cg), 0);
    HeadroomInput in = {&st, &lim, true, maps, &sys, &cg};
    headroom_eval(&in, h);
    cgroup_mem_destroy(&cg);
}

static const char *binding_name(const Headroom *h)
{
    return h->binding >= 0 ? h->c[h->binding].name : "(none)";
}

static void test_seed_rlimit_as(void **state)
{
    (void)state;
    Headroom h;
    headroom_init(&h);
    eval_fixture("seed-rlimit-as", &h);
    const HeadroomConstraint *as = &h.c[HEADROOM_RLIMIT_AS];
    assert_true(as->applies);
    assert_int_equal(as->used, 1303348ULL * 1024);
    assert_int_equal(as->limit, 1024 * MIB);
    assert_int_equal(as->verdict, HEADROOM_EXCEEDED);
    assert_true(as->percent > 124.2 && as->percent < 124.4);
    assert_false(h.c[HEADROOM_RLIMIT_DATA].applies); /* unlimited */
    assert_false(h.c[HEADROOM_CGROUP].applies);      /* v2 memory.max = max */
    assert_false(h.c[HEADROOM_COMMIT].applies);      /* overcommit 0 */
    assert_false(h.c[HEADROOM_SWAP].applies);        /* no swap */
    assert_int_equal(h.c[HEADROOM_SYSTEM].verdict, HEADROOM_OK);
    assert_string_equal(binding_name(&h), "RLIMIT_AS");
    assert_string_equal(h.sentence, "address space 1273 MB of 1024 MB limit (RLIMIT_AS): new "
                                    "mappings will fail with ENOMEM even though 4.7 GB is free");
    headroom_destroy(&h);
}

static void test_cgroup_scenarios(void **state)
{
    (void)state;
    Headroom h;
    headroom_init(&h);

    eval_fixture("v2-limit", &h);
    assert_int_equal(h.c[HEADROOM_CGROUP].verdict, HEADROOM_NEAR);
    assert_int_equal(h.c[HEADROOM_CGROUP].limit, 512 * MIB);
    assert_string_equal(binding_name(&h), "cgroup");
    assert_string_equal(h.sentence,
                        "cgroup memory 480 MB of 512 MB limit (cgroup v2 "
                        "/user.slice/app.slice/pytest.scope, 94%): growing by more than 32 MB "
                        "gets a process OOM-killed (SIGKILL, exit 137)");

    eval_fixture("v2-nolimit", &h);
    assert_false(h.c[HEADROOM_CGROUP].applies);
    assert_string_equal(binding_name(&h), "system");
    assert_int_equal(h.c[HEADROOM_SYSTEM].verdict, HEADROOM_OK);
    assert_string_equal(h.sentence, "no memory limit is near: closest is system memory 4.3 GB of "
                                    "23.5 GB (system, 18%)");

    eval_fixture("v2-oomkill", &h);
    assert_int_equal(h.c[HEADROOM_CGROUP].verdict, HEADROOM_EXCEEDED);
    assert_true(h.has_oom_kill);
    assert_int_equal(h.oom_kill, 3);
    assert_string_equal(binding_name(&h), "cgroup");
    assert_string_equal(h.sentence,
                        "cgroup memory 512 MB of 512 MB limit (cgroup v2 "
                        "/system.slice/ci-runner.service): the kernel OOM-kills a process "
                        "(SIGKILL, exit 137) instead of returning ENOMEM; 3 OOM kills so far");

    eval_fixture("v1-limit", &h);
    assert_int_equal(h.c[HEADROOM_CGROUP].verdict, HEADROOM_OK);
    assert_true(h.c[HEADROOM_CGROUP_SWAP].applies);
    assert_int_equal(h.c[HEADROOM_CGROUP_SWAP].used, 64 * MIB);
    assert_string_equal(binding_name(&h), "cgroup");
    assert_string_equal(h.sentence, "no memory limit is near: closest is cgroup memory 1024 MB of "
                                    "2048 MB (cgroup, 50%)");

    eval_fixture("v1-nolimit", &h);
    assert_false(h.c[HEADROOM_CGROUP].applies);
    assert_string_equal(binding_name(&h), "system");

    eval_fixture("v1-oomkill", &h);
    assert_int_equal(h.c[HEADROOM_CGROUP].verdict, HEADROOM_EXCEEDED);
    assert_string_equal(h.sentence,
                        "cgroup memory 256 MB of 256 MB limit (cgroup v1 /ci/job-77): the kernel "
                        "OOM-kills a process (SIGKILL, exit 137) instead of returning ENOMEM; 2 "
                        "OOM kills so far");
    headroom_destroy(&h);
}

static void test_overcommit_and_mapcount(void **state)
{
    (void)state;
    Headroom h;
    headroom_init(&h);
    eval_fixture("strict-overcommit", &h);
    assert_true(h.c[HEADROOM_COMMIT].applies);
    assert_int_equal(h.c[HEADROOM_COMMIT].verdict, HEADROOM_NEAR);
    assert_string_equal(binding_name(&h), "CommitLimit");
    assert_string_equal(h.sentence,
                        "committed memory 7987 MB of 8192 MB CommitLimit (strict overcommit, "
                        "vm.overcommit_memory=2, 97%): allocations larger than the 205 MB left "
                        "will fail with ENOMEM");

    eval_fixture("mapcount", &h);
    assert_int_equal(h.c[HEADROOM_MAP_COUNT].used, 960);
    assert_int_equal(h.c[HEADROOM_MAP_COUNT].limit, 1000);
    assert_int_equal(h.c[HEADROOM_MAP_COUNT].verdict, HEADROOM_NEAR);
    assert_string_equal(binding_name(&h), "max_map_count");
    assert_string_equal(h.sentence, "memory mappings 960 of 1000 (vm.max_map_count, 96%): 40 more "
                                    "mappings and mmap fails with ENOMEM");
    headroom_destroy(&h);
}

/* Struct-literal inputs: boundaries and the rarely seen constraints. */
static void base_input(ProcStatus *st, ProcLimits *lim, SysMem *sys)
{
    memset(st, 0, sizeof *st);
    memset(sys, 0, sizeof *sys);
    ProcLimit unl = {PROCMEM_UNLIMITED, PROCMEM_UNLIMITED};
    lim->as = lim->data = lim->rss = lim->memlock = lim->stack = unl;
    st->vm_size = 500 * MIB;
    st->vm_data = 300 * MIB;
    sys->mem.total = 16 * GIB;
    sys->mem.available = 12 * GIB;
    sys->mem.used_by_available = 4 * GIB;
    sys->overcommit_memory = 0;
    sys->has_max_map_count = true;
    sys->max_map_count = 65530;
}

static void test_literal_edges(void **state)
{
    (void)state;
    ProcStatus st;
    ProcLimits lim;
    SysMem sys;
    Headroom h;
    headroom_init(&h);
    base_input(&st, &lim, &sys);
    HeadroomInput in = {&st, &lim, true, 100, &sys, NULL};

    /* exactly 90 % is near; just below is ok; equal to the limit is exceeded */
    lim.data.soft = 1000 * MIB;
    st.vm_data = 900 * MIB;
    headroom_eval(&in, &h);
    assert_int_equal(h.c[HEADROOM_RLIMIT_DATA].verdict, HEADROOM_NEAR);
    assert_string_equal(binding_name(&h), "RLIMIT_DATA");
    st.vm_data = 900 * MIB - 1;
    headroom_eval(&in, &h);
    assert_int_equal(h.c[HEADROOM_RLIMIT_DATA].verdict, HEADROOM_OK);
    st.vm_data = 1000 * MIB;
    headroom_eval(&in, &h);
    assert_int_equal(h.c[HEADROOM_RLIMIT_DATA].verdict, HEADROOM_EXCEEDED);
    assert_string_equal(h.sentence, "data segment 1000 MB of 1000 MB limit (RLIMIT_DATA): new "
                                    "private writable mappings and brk will fail with ENOMEM "
                                    "even though 12.0 GB is free");

    /* exceeded beats near even at a lower percent; overcommit mode 0 ignores CommitLimit */
    lim.data.soft = PROCMEM_UNLIMITED;
    lim.as.soft = 512 * MIB;
    st.vm_size = 500 * MIB; /* 97.6 % near */
    in.map_count = 65530;   /* 100 % exceeded */
    sys.mem.has_commit = true;
    sys.mem.commit_limit = 1 * GIB;
    sys.mem.committed_as = 2 * GIB;
    headroom_eval(&in, &h);
    assert_int_equal(h.c[HEADROOM_RLIMIT_AS].verdict, HEADROOM_NEAR);
    assert_false(h.c[HEADROOM_COMMIT].applies);
    assert_string_equal(binding_name(&h), "max_map_count");
    assert_string_equal(h.sentence, "memory mappings 65530 of 65530 (vm.max_map_count): new "
                                    "mappings will fail with ENOMEM even though 12.0 GB is free");
    sys.overcommit_memory = 2;
    headroom_eval(&in, &h);
    assert_int_equal(h.c[HEADROOM_COMMIT].verdict, HEADROOM_EXCEEDED);
    assert_int_equal(h.c[HEADROOM_COMMIT].percent, 200);
    assert_string_equal(binding_name(&h), "CommitLimit"); /* both exceeded: higher percent */

    /* near RLIMIT_AS sentence; system near; swap */
    in.map_count = 10;
    sys.overcommit_memory = 0;
    headroom_eval(&in, &h);
    assert_string_equal(h.sentence, "address space 500 MB of 512 MB limit (RLIMIT_AS, 98%): "
                                    "mappings larger than the 12 MB left will fail with ENOMEM "
                                    "even though 12.0 GB is free");
    lim.as.soft = PROCMEM_UNLIMITED;
    sys.mem.available = 1 * GIB;
    sys.mem.used_by_available = 15 * GIB;
    sys.mem.swap_total = 2 * GIB;
    sys.mem.swap_used = 1 * GIB;
    headroom_eval(&in, &h);
    assert_int_equal(h.c[HEADROOM_SYSTEM].verdict, HEADROOM_NEAR);
    assert_true(h.c[HEADROOM_SWAP].applies);
    assert_int_equal(h.c[HEADROOM_SWAP].verdict, HEADROOM_OK);
    assert_string_equal(h.sentence, "system memory 15.0 GB of 16.0 GB in use (94%, 1.0 GB "
                                    "available): the kernel OOM killer may end processes "
                                    "(SIGKILL)");

    /* nothing known at all */
    HeadroomInput none = {NULL, NULL, false, 0, NULL, NULL};
    headroom_eval(&none, &h);
    assert_int_equal(h.binding, -1);
    assert_string_equal(h.sentence, "no memory limit applies");
    headroom_destroy(&h);

    char b[32];
    headroom_format_bytes(b, sizeof b, 4928307ULL * 1024);
    assert_string_equal(b, "4.7 GB");
    headroom_format_bytes(b, sizeof b, 155 * MIB);
    assert_string_equal(b, "155 MB");
    headroom_format_bytes(b, sizeof b, 12 * 1024);
    assert_string_equal(b, "12 kB");
}

static void test_text_says_enomem(void **state)
{
    (void)state;
    const char a[] = "E   MemoryError\n";
    const char b[] = "failed to mmap segment (12: Cannot allocate memory)";
    const char c[] = "AssertionError: memory is fine";
    assert_true(headroom_text_says_enomem(a, strlen(a)));
    assert_true(headroom_text_says_enomem(b, strlen(b)));
    assert_false(headroom_text_says_enomem(c, strlen(c)));
    assert_false(headroom_text_says_enomem(b, 20)); /* respects len */
}

static bool says(const char *text)
{
    return headroom_text_says_enomem(text, strlen(text));
}

/* The words glibc's loader and Python's start-up use for a failed allocation, as they print
 * them (the first ones seen under a tiny RLIMIT_AS with Debian 12's and Debian unstable's
 * python3; the rest read in glibc's elf/ and CPython's Python/ sources). */
static void test_text_says_enomem_loader_and_startup(void **state)
{
    (void)state;
    static const char *const yes[] = {
        /* glibc loader, mappings (dl-map-segments.h): no strerror after them */
        "python3: error while loading shared libraries: libm.so.6: failed to map segment from "
        "shared object",
        "python: error while loading shared libraries: libc.so.6: cannot map zero-fill pages",
        /* glibc loader, allocations (dl-load.c, dl-deps.c, dl-version.c, dl-open.c, rtld.c,
         * dl-tls.c, dl-find_object.c, dl-hwcaps.c) */
        "python: error while loading shared libraries: cannot create cache for search path",
        "x: error while loading shared libraries: cannot create RUNPATH/RPATH copy",
        "x: error while loading shared libraries: cannot create search path array",
        "x: error while loading shared libraries: libz.so.1: cannot allocate name record",
        "x: error while loading shared libraries: libz.so.1: cannot create shared object descriptor",
        "x: error while loading shared libraries: libz.so.1: cannot allocate memory for program header",
        "x: error while loading shared libraries: cannot allocate dependency buffer",
        "x: error while loading shared libraries: cannot allocate dependency list",
        "x: error while loading shared libraries: cannot allocate symbol search list",
        "x: error while loading shared libraries: libz.so.1: cannot allocate version reference table",
        "ImportError: cannot create scope list",
        "ImportError: cannot extend global scope",
        "x: error while loading shared libraries: cannot create capability list",
        "x: error while loading shared libraries: cannot create HWCAP priorities",
        "Fatal glibc error: cannot allocate TLS data structures for initial thread",
        "x: error while loading shared libraries: cannot create TLS data structures",
        "cannot allocate memory for thread-local data: ABORT",
        "Fatal glibc error: Cannot allocate TLS block",
        "ImportError: cannot allocate address lookup data",
        "Fatal glibc error: cannot allocate memory for find-object data",
        "Out of memory while loading audit modules",
        "Out of memory while initializing profiler",
        "python: error while loading shared libraries: out of memory",
        /* Python start-up (seen with 3.14 between 12.6 and 15.6 MB of address space) */
        "Fatal Python error: _PyPreConfig_Read: memory allocation failed",
        "Fatal Python error: pycore_init_types: failed to initialize an exception type",
        "Fatal Python error: _PyErr_NoMemory: Out of memory and PyExc_MemoryError is not "
        "initialized yet",
        "ImportError: Frozen object named '_frozen_importlib_external' is invalid",
        "ImportError: Frozen object named 'os' is invalid\n",
        "Fatal Python error: init_threadstate: thread state allocation failed",
        "OSError: [Errno 12] Nicht gen\xc3\xbcgend Hauptspeicher verf\xc3\xbcgbar",
    };
    for (size_t i = 0; i < sizeof yes / sizeof yes[0]; i++) {
        if (!says(yes[i]))
            fail_msg("not recognised: %s", yes[i]);
    }
    static const char *const no[] = {
        /* the static TLS surplus is used up: no memory limit is involved */
        "ImportError: libgomp.so.1: cannot allocate memory in static TLS block",
        /* mprotect refused (SELinux, W^X): not an allocation */
        "x: error while loading shared libraries: libz.so.1: cannot change memory protections",
        "Fatal Python error: _Py_HashRandomization_Init: failed to get random numbers to "
        "initialize Python",
        "ImportError: No such frozen object named 'nope'",
        "Frozen object named 'os' is fine\nthe rest is invalid",
        "x: error while loading shared libraries: libz.so.1: cannot open shared object file: "
        "No such file or directory",
    };
    for (size_t i = 0; i < sizeof no / sizeof no[0]; i++)
        if (says(no[i]))
            fail_msg("recognised, but is no ENOMEM: %s", no[i]);
    /* a stream reader keeps HEADROOM_ENOMEM_PHRASE_MAX bytes of the chunk before */
    assert_true(headroom_enomem_phrase_max() <= HEADROOM_ENOMEM_PHRASE_MAX);
}

static void test_diagnose(void **state)
{
    (void)state;
    Headroom before, after;
    HeadroomDiagnosis d;
    headroom_init(&before);
    headroom_init(&after);

    /* the seed: second run died with MemoryError while above RLIMIT_AS */
    eval_fixture("seed-rlimit-as", &before);
    eval_fixture("seed-rlimit-as", &after);
    HeadroomDeath death = {&before, &after, 0, 1, true};
    headroom_diagnose(&death, &d);
    assert_true(d.memory_related);
    assert_int_equal(d.kind, HEADROOM_RLIMIT_AS);
    assert_string_equal(d.cause, "RLIMIT_AS");
    assert_string_equal(d.sentence, "RLIMIT_AS was reached: address space 1273 MB of 1024 MB "
                                    "limit (RLIMIT_AS): new mappings will fail with ENOMEM even "
                                    "though 4.7 GB is free");
    headroom_diagnosis_destroy(&d);

    /* cgroup OOM kill: counter 0 -> 3 between snapshots, SIGKILL */
    eval_fixture("v2-limit", &before); /* oom_kill 0 */
    eval_fixture("v2-oomkill", &after); /* oom_kill 3 */
    HeadroomDeath killed = {&before, &after, SIGKILL, 0, false};
    headroom_diagnose(&killed, &d);
    assert_string_equal(d.cause, "cgroup_oom_kill");
    assert_int_equal(d.kind, HEADROOM_CGROUP);
    assert_string_equal(d.sentence, "the cgroup memory limit was reached (512 MB): the kernel "
                                    "OOM-killed a process in the cgroup (oom_kill 0 -> 3); the run "
                                    "died of SIGKILL");
    headroom_diagnosis_destroy(&d);
    /* the same counter unchanged (old kills) is not this run's cause */
    eval_fixture("v2-oomkill", &before);
    HeadroomDeath old = {&before, &after, 0, 1, false};
    headroom_diagnose(&old, &d);
    assert_string_not_equal(d.cause, "cgroup_oom_kill");
    headroom_diagnosis_destroy(&d);

    /* strict overcommit near + ENOMEM in output */
    eval_fixture("strict-overcommit", &after);
    HeadroomDeath commit = {NULL, &after, 0, 1, true};
    headroom_diagnose(&commit, &d);
    assert_string_equal(d.cause, "CommitLimit");
    headroom_diagnosis_destroy(&d);

    /* map count near + ENOMEM */
    eval_fixture("mapcount", &after);
    HeadroomDeath maps = {NULL, &after, SIGABRT, 0, true};
    headroom_diagnose(&maps, &d);
    assert_string_equal(d.cause, "max_map_count");
    assert_int_equal(d.kind, HEADROOM_MAP_COUNT);
    headroom_diagnosis_destroy(&d);

    /* a plain failure with nothing near */
    eval_fixture("v2-nolimit", &before);
    eval_fixture("v2-nolimit", &after);
    HeadroomDeath plain = {&before, &after, 0, 1, false};
    headroom_diagnose(&plain, &d);
    assert_false(d.memory_related);
    assert_string_equal(d.cause, "none");
    assert_string_equal(d.sentence, "no memory limit was near");
    headroom_diagnosis_destroy(&d);
    /* near limits without ENOMEM output and without exceeding: still not named */
    eval_fixture("mapcount", &after);
    HeadroomDeath near_only = {&before, &after, 0, 1, false};
    headroom_diagnose(&near_only, &d);
    assert_string_equal(d.cause, "none");
    headroom_diagnosis_destroy(&d);
    /* ENOMEM with nothing near */
    eval_fixture("v2-nolimit", &after);
    HeadroomDeath odd = {&before, &after, 0, 1, true};
    headroom_diagnose(&odd, &d);
    assert_true(d.memory_related);
    assert_string_equal(d.cause, "unknown_enomem");
    headroom_diagnosis_destroy(&d);

    headroom_destroy(&before);
    headroom_destroy(&after);
}

static void test_memreport_seed(void **state)
{
    (void)state;
    int err = 0;
    json_t *r = memreport_build(fixture("seed-rlimit-as"), 4242, &err);
    assert_non_null(r);
    assert_int_equal(err, 0);
    json_t *p = json_object_get(r, "process");
    uint64_t ps = (uint64_t)sysconf(_SC_PAGESIZE);
    assert_int_equal(json_integer_value(json_object_get(p, "rss")), 39680 * ps);
    assert_int_equal(json_integer_value(json_object_get(p, "vms")), 325837 * ps);
    assert_int_equal(json_integer_value(json_object_get(p, "map_count")), 120);
    assert_int_equal(json_integer_value(json_object_get(json_object_get(r, "tree"), "nproc")), 4);
    json_t *as = json_object_get(json_object_get(r, "limits"), "address_space");
    assert_int_equal(json_integer_value(json_object_get(as, "soft")), 1073741824);
    json_t *data = json_object_get(json_object_get(r, "limits"), "data");
    assert_true(json_is_null(json_object_get(data, "soft"))); /* unlimited is null */
    json_t *cg = json_object_get(r, "cgroup");
    assert_int_equal(json_integer_value(json_object_get(cg, "version")), 2);
    assert_true(json_is_null(json_object_get(cg, "limit")));
    json_t *b = json_object_get(r, "binding");
    assert_string_equal(json_string_value(json_object_get(b, "name")), "RLIMIT_AS");
    assert_string_equal(json_string_value(json_object_get(b, "verdict")), "exceeded");
    assert_string_equal(json_string_value(json_object_get(r, "verdict")), "exceeded");
    assert_non_null(strstr(json_string_value(json_object_get(r, "sentence")), "4.7 GB is free"));
    char *text = memreport_render_text(r);
    assert_non_null(strstr(text, "pid 4242 (python3): exceeded"));
    assert_non_null(strstr(text, "address space 1273 MB of 1024 MB limit (RLIMIT_AS)"));
    assert_non_null(strstr(text, "\n  RLIMIT_AS          exceeded 124.3%  1.2 GB of 1.0 GB (address space)\n"));
    assert_null(strstr(text, "9223372036854771712"));
    free(text);
    json_decref(r);

    /* v1 without limit: printed as null/none, never as a giant number */
    r = memreport_build(fixture("v1-nolimit"), 4242, &err);
    assert_non_null(r);
    char *js = json_dumps(r, 0);
    assert_null(strstr(js, "9223372036854771712"));
    assert_null(strstr(js, "18446744073709551615"));
    free(js);
    text = memreport_render_text(r);
    assert_null(strstr(text, "9223372036854771712"));
    assert_non_null(strstr(text, "limit              none"));
    free(text);
    json_decref(r);

    assert_null(memreport_build(fixture("seed-rlimit-as"), 31337, &err));
    assert_int_equal(err, -ENOENT);
}

/* The seed failure for real, then the diagnosis helper on it: a child reserves address
 * space, lowers RLIMIT_AS below its VmSize, gets ENOMEM from mmap, reports it on a pipe
 * and stays alive (blocked reading) while we read its /proc entries. */
static void test_live_rlimit_as_and_diagnose(void **state)
{
    (void)state;
    int out[2], hold[2];
    assert_int_equal(pipe(out), 0);
    assert_int_equal(pipe(hold), 0);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        close(out[0]);
        close(hold[1]);
        void *r = mmap(NULL, 256 << 20, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
        ProcStatm sm;
        if (r == MAP_FAILED || procmem_read_statm("", getpid(), &sm) < 0)
            _exit(3);
        struct rlimit rl, orig;
        getrlimit(RLIMIT_AS, &rl);
        orig = rl;
        rl.rlim_cur = sm.vms - (64 << 20);
        if (setrlimit(RLIMIT_AS, &rl) < 0)
            _exit(4);
        void *m = mmap(NULL, 1 << 20, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
        const char *msg = m == MAP_FAILED && errno == ENOMEM
                              ? "failed to mmap segment (12: Cannot allocate memory)\n"
                              : "mapped\n";
        if (write(out[1], msg, strlen(msg)) < 0)
            _exit(5);
        char c;
        while (read(hold[0], &c, 1) < 0 && errno == EINTR) {
        }
        setrlimit(RLIMIT_AS, &orig); /* valgrind needs memory to exit */
        _exit(0);
    }
    close(out[1]);
    close(hold[0]);
    char buf[256];
    ssize_t n = read(out[0], buf, sizeof buf - 1);
    assert_true(n > 0);
    buf[n] = '\0';
    bool enomem = headroom_text_says_enomem(buf, (size_t)n);
    assert_true(enomem);

    ProcStatus st;
    ProcLimits lim;
    SysMem sys;
    CgroupMem cg;
    uint64_t maps;
    cgroup_mem_init(&cg);
    assert_int_equal(procmem_read_status("", pid, &st), 0);
    assert_int_equal(procmem_read_limits("", pid, &lim), 0);
    assert_int_equal(procmem_read_map_count("", pid, &maps), 0);
    assert_int_equal(sysmem_read("", &sys), 0);
    assert_int_equal(cgroup_read("", pid, &cg), 0);
    HeadroomInput in = {&st, &lim, true, maps, &sys, &cg};
    Headroom h;
    headroom_init(&h);
    headroom_eval(&in, &h);
    assert_int_equal(h.c[HEADROOM_RLIMIT_AS].verdict, HEADROOM_EXCEEDED);
    assert_string_equal(binding_name(&h), "RLIMIT_AS");
    assert_non_null(strstr(h.sentence, "(RLIMIT_AS): new mappings will fail with ENOMEM"));

    HeadroomDeath death = {&h, &h, 0, 1, enomem};
    HeadroomDiagnosis d;
    headroom_diagnose(&death, &d);
    assert_string_equal(d.cause, "RLIMIT_AS");
    assert_true(d.memory_related);
    headroom_diagnosis_destroy(&d);

    close(hold[1]);
    int status = 0;
    assert_int_equal(waitpid(pid, &status, 0), pid);
    assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    close(out[0]);
    headroom_destroy(&h);
    cgroup_mem_destroy(&cg);
}

/* memreport_headroom() counts mappings only when VmSize says they could reach half of
 * vm.max_map_count; the full report always counts them. */
static void test_headroom_map_count_only_when_it_can_matter(void **state)
{
    (void)state;
    Headroom h;
    headroom_init(&h);
    assert_int_equal(memreport_headroom(fixture("mapcount"), 4242, &h), 0); /* 200000 pages, limit 1000 */
    assert_true(h.c[HEADROOM_MAP_COUNT].applies);
    assert_int_equal(h.c[HEADROOM_MAP_COUNT].used, 960);

    ProcStatus st;
    SysMem sys;
    uint64_t maps;
    assert_int_equal(procmem_read_status("", (int)getpid(), &st), 0);
    assert_int_equal(sysmem_read("", &sys), 0);
    assert_int_equal(procmem_read_map_count("", (int)getpid(), &maps), 0);
    assert_int_equal(memreport_headroom("", (int)getpid(), &h), 0);
    uint64_t pages = st.vm_size / (uint64_t)sysconf(_SC_PAGESIZE);
    if (sys.has_max_map_count && pages < sys.max_map_count / 2) { /* a plain build: a few MB */
        assert_false(h.c[HEADROOM_MAP_COUNT].applies);
    } else { /* ASan reserves terabytes of shadow: counted */
        assert_true(h.c[HEADROOM_MAP_COUNT].applies);
        assert_true(h.c[HEADROOM_MAP_COUNT].used > 0);
    }
    int err = 0;
    json_t *full = memreport_build("", (int)getpid(), &err);
    assert_non_null(full);
    json_t *mc = json_object_get(json_object_get(full, "process"), "map_count");
    assert_true(json_is_integer(mc));
    assert_true(json_integer_value(mc) > 0);
    json_decref(full);
    headroom_destroy(&h);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_seed_rlimit_as),
        cmocka_unit_test(test_cgroup_scenarios),
        cmocka_unit_test(test_overcommit_and_mapcount),
        cmocka_unit_test(test_literal_edges),
        cmocka_unit_test(test_text_says_enomem),
        cmocka_unit_test(test_text_says_enomem_loader_and_startup),
        cmocka_unit_test(test_diagnose),
        cmocka_unit_test(test_memreport_seed),
        cmocka_unit_test(test_live_rlimit_as_and_diagnose),
        cmocka_unit_test(test_headroom_map_count_only_when_it_can_matter),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
