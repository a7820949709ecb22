/* fuzz_junit: JUnit XML into report_from_junit_memory() (src/parse/report.c, which reads it with
 * src/parse/junit.c and locates failures with src/parse/location.c), and into junit_read_memory() directly.
 *
 * Location extraction stats real files, so rootdir/start_dir point at the fixture project
 * tests/fixtures/proj_fail: $PYTESTMON_FUZZ_ROOTDIR if set, else
 * $PYTESTMON_SRCDIR/tests/fixtures/proj_fail, else found from the binary's own path
 * (<repo>/build/fuzz/fuzz_junit). The seed XML files (tests/fixtures/xml/proj_fail*.xml) name
 * files of that project, so tracebacks resolve to existing files; "@ROOT@" in the input (the
 * placeholder of tests/fixtures/xml/regen.sh) is replaced by the checkout's path first.
 * Oracles: every string handed to the visitor is a valid C string of the stated length, the
 * summary counts the cases visited, a visitor's stop value is returned as is, and
 * report_to_json() never fails. */
#include <jansson.h>
#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "parse/junit.h"
#include "parse/report.h"

static char rootdir[PATH_MAX];
static char subdir[PATH_MAX + 16];
static char repo[PATH_MAX]; /* rootdir without /tests/fixtures/proj_fail: replaces @ROOT@ */

static void die(const char *what)
{
    fprintf(stderr, "fuzz_junit: oracle failed: %s\n", what);
    abort();
}

static void find_rootdir(const char *argv0)
{
    const char *env = getenv("PYTESTMON_FUZZ_ROOTDIR");
    if (env && *env) {
        snprintf(rootdir, sizeof rootdir, "%s", env);
    } else if ((env = getenv("PYTESTMON_SRCDIR")) && *env) {
        snprintf(rootdir, sizeof rootdir, "%s/tests/fixtures/proj_fail", env);
    } else {
        char exe[PATH_MAX];
        ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);
        if (n <= 0) { /* fall back to argv[0] */
            if (!realpath(argv0, exe))
                snprintf(exe, sizeof exe, "%s", argv0);
        } else {
            exe[n] = '\0';
        }
        /* <repo>/build/fuzz/fuzz_junit -> <repo> */
        for (int i = 0; i < 3; i++) {
            char *slash = strrchr(exe, '/');
            if (slash)
                *slash = '\0';
        }
        snprintf(rootdir, sizeof rootdir, "%s/tests/fixtures/proj_fail", exe);
    }
    char real[PATH_MAX];
    if (realpath(rootdir, real))
        snprintf(rootdir, sizeof rootdir, "%s", real);
    if (access(rootdir, R_OK) != 0)
        fprintf(stderr, "fuzz_junit: warning: %s is not readable: location lookups will miss\n",
                rootdir);
    snprintf(subdir, sizeof subdir, "%s/tests", rootdir);
    snprintf(repo, sizeof repo, "%s", rootdir);
    static const char tail[] = "/tests/fixtures/proj_fail";
    size_t n = strlen(repo), tl = sizeof tail - 1;
    if (n > tl && strcmp(repo + n - tl, tail) == 0)
        repo[n - tl] = '\0';
}

/* The samples of tests/fixtures/xml/ write the checkout's path as @ROOT@ (see regen.sh): put
 * the real one back so absolute traceback paths name existing files. Returns an exact-size
 * heap copy (not NUL-terminated, so over-reads are caught); *len is updated. */
static char *substitute_root(const uint8_t *data, size_t *len)
{
    static const char marker[] = "@ROOT@";
    size_t ml = sizeof marker - 1, rl = strlen(repo), count = 0;
    for (const char *p = (const char *)data, *end = p + *len;
         (p = memmem(p, (size_t)(end - p), marker, ml)) != NULL; p += ml)
        count++;
    size_t out_len = *len + count * rl - count * ml;
    char *out = malloc(out_len ? out_len : 1), *o = out;
    const char *p = (const char *)data, *end = p + *len;
    for (const char *m; (m = memmem(p, (size_t)(end - p), marker, ml)) != NULL; p = m + ml) {
        memcpy(o, p, (size_t)(m - p));
        o += m - p;
        memcpy(o, repo, rl);
        o += rl;
    }
    memcpy(o, p, (size_t)(end - p));
    *len = out_len;
    return out;
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    find_rootdir(*argc > 0 ? (*argv)[0] : "fuzz_junit");
    return 0;
}

static void check_str(const char *s)
{
    if (s)
        (void)strlen(s);
}

typedef struct {
    size_t seen;
    size_t stop_after; /* 0: never stop */
} Visit;

static int on_case(const JunitCase *tc, void *ud)
{
    Visit *v = ud;
    check_str(tc->classname);
    check_str(tc->name);
    check_str(tc->file);
    check_str(tc->message);
    check_str(tc->type);
    check_str(tc->text);
    if (tc->line < -1)
        die("line < -1");
    if (tc->nresults && !tc->results)
        die("nresults without results");
    for (size_t i = 0; i < tc->nresults; i++) {
        const JunitResult *r = &tc->results[i];
        check_str(r->message);
        check_str(r->type);
        if (!r->text)
            die("result text is NULL");
        if (strlen(r->text) > r->text_len)
            die("text longer than text_len");
        if (r->text_len)
            (void)*(volatile const char *)&r->text[r->text_len - 1];
    }
    if (tc->outcome == JUNIT_PASSED && tc->message)
        die("passed testcase with a message");
    (void)junit_outcome_name(tc->outcome);
    v->seen++;
    if (v->stop_after && v->seen == v->stop_after)
        return -12345;
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *buf = substitute_root(data, &size);

    Report rep;
    StrBuf err = STRBUF_INIT;
    int rc = report_from_junit_memory(buf, size, rootdir, subdir, NULL, 3, &rep, &err);
    (void)rc;
    json_t *j = report_to_json(&rep);
    if (!j)
        die("report_to_json returned NULL");
    char *dump = json_dumps(j, JSON_COMPACT);
    free(dump);
    json_decref(j);
    for (size_t i = 0; i < rep.nfailures; i++) {
        const Failure *f = &rep.failures[i];
        if (!f->message)
            die("failure message is NULL");
        (void)report_failure_kind_name(f->kind);
    }
    if (rep.nslowest > 3)
        die("more slowest tests than asked for");
    report_destroy(&rep);
    strbuf_destroy(&err);

    Visit v = {0, size % 5 == 0 ? 2 : 0};
    JunitSummary sum;
    StrBuf err2 = STRBUF_INIT;
    rc = junit_read_memory(buf, size, on_case, &v, &sum, &err2);
    if (sum.ncases != v.seen)
        die("summary.ncases != cases visited");
    if (v.stop_after && v.seen == v.stop_after && rc != -12345)
        die("the visitor's stop value was not returned");
    if (rc != 0 && rc != -12345 && err2.len == 0)
        die("error without a message");
    junit_summary_destroy(&sum);
    strbuf_destroy(&err2);
    free(buf);
    return 0;
}
