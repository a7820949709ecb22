/* junit_bench: time report_from_junit() on one JUnit XML file (bench/run.py drives it).
 *
 * usage: junit_bench FILE.xml ROOTDIR
 * Prints one line of JSON: {"seconds", "failures", "located", "passed", "failed",
 * "maxrss_kb", "heap_kb"}: elapsed wall time of the call (CLOCK_MONOTONIC), the failure
 * records and how many of them got a file:line, and the peak RSS of the process (VmHWM, see
 * benchutil.h). "heap_kb" is malloc's arena + mmapped chunks at the end. */
#include <malloc.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "benchutil.h"
#include "parse/report.h"
#include "base/strbuf.h"

int main(int argc, char **argv)
{
    if (argc != 3) {
        fprintf(stderr, "usage: junit_bench FILE.xml ROOTDIR\n");
        return 2;
    }
    Report rep;
    StrBuf err = STRBUF_INIT;
    double t0 = bench_now();
    int rc = report_from_junit(argv[1], argv[2], argv[2], argv[2], 50, &rep, &err);
    double t1 = bench_now();
    if (rc != 0) {
        fprintf(stderr, "junit_bench: %s\n", strbuf_cstr(&err));
        return 1;
    }
    size_t located = 0;
    for (size_t i = 0; i < rep.nfailures; i++)
        if (rep.failures[i].file && rep.failures[i].line > 0)
            located++;
    struct mallinfo2 mi = mallinfo2();
    long hwm_kb = bench_vm_hwm_kb();
    printf("{\"seconds\": %.6f, \"failures\": %zu, \"located\": %zu, \"passed\": %d, \"failed\": %d, "
           "\"maxrss_kb\": %ld, \"heap_kb\": %zu, \"first_file\": \"%s\", \"first_line\": %d}\n",
           t1 - t0, rep.nfailures, located, rep.passed, rep.failed, hwm_kb,
           (mi.arena + mi.hblkhd) / 1024, rep.nfailures ? rep.failures[0].file : "",
           rep.nfailures ? rep.failures[0].line : 0);
    report_destroy(&rep);
    strbuf_destroy(&err);
    return 0;
}
