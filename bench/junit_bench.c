/* junit_bench: time report_from_junit() on one JUnit XML file (bench/run.py drives it).
 *
 * usage: junit_bench FILE.xml ROOTDIR
 * Prints one line of JSON: {"seconds" (libxml2 already loaded), "failures", "located", "passed", "failed",
 * "maxrss_kb", "heap_kb"}: elapsed wall time of the call (CLOCK_MONOTONIC), the failure
 * records and how many of them got a file:line, and the peak RSS of the process (VmHWM, see
 * benchutil.h). "heap_kb" is malloc's arena + mmapped chunks at the end. "json_seconds": the
 * time of report_to_json() (after the peak RSS is read) on the result (what the co-process builds `finished` from),
 * "msgpack_seconds" and "msgpack_bytes": that JSON packed as the `finished` event is. */
#include <malloc.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <jansson.h>
#include <msgpack.h>

#include "benchutil.h"
#include "base/strbuf.h"
#include "parse/report.h"
#include "parse/xmllib.h"
#include "rpc/mpjson.h"

int main(int argc, char **argv)
{
    if (argc != 3) {
        fprintf(stderr, "usage: junit_bench FILE.xml ROOTDIR\n");
        return 2;
    }
    Report rep;
    StrBuf err = STRBUF_INIT;
    /* libxml2 is dlopen()ed once per co-process, not per report, and sax_floor links it: load
     * it before the clock starts (~2 ms of a 2 MB report otherwise). */
    const XmlLib *xml;
    if (xmllib_get(&xml, &err) != 0) {
        fprintf(stderr, "junit_bench: %s\n", strbuf_cstr(&err));
        return 1;
    }
    double best = -1;
    for (int i = bench_repeat(); i > 0; i--) {
        double t0 = bench_now();
        int rc = report_from_junit(argv[1], argv[2], argv[2], argv[2], 50, &rep, &err);
        double t1 = bench_now();
        if (rc != 0) {
            fprintf(stderr, "junit_bench: %s\n", strbuf_cstr(&err));
            return 1;
        }
        if (best < 0 || t1 - t0 < best)
            best = t1 - t0;
        if (i > 1)
            report_destroy(&rep); /* the last one is kept for the figures below */
    }
    size_t located = 0;
    for (size_t i = 0; i < rep.nfailures; i++)
        if (rep.failures[i].file && rep.failures[i].line > 0)
            located++;
    struct mallinfo2 mi = mallinfo2();
    long hwm_kb = bench_vm_hwm_kb(); /* the reader's peak, before the JSON below */
    double t2 = bench_now();
    json_t *json = report_to_json(&rep);
    double t3 = bench_now();
    msgpack_sbuffer sb;
    msgpack_sbuffer_init(&sb);
    msgpack_packer pk;
    msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
    mpjson_pack(&pk, json);
    double t4 = bench_now();
    size_t mp_bytes = sb.size;
    msgpack_sbuffer_destroy(&sb);
    json_decref(json);
    printf("{\"seconds\": %.6f, \"failures\": %zu, \"located\": %zu, \"passed\": %d, \"failed\": %d, "
           "\"maxrss_kb\": %ld, \"heap_kb\": %zu, \"first_file\": \"%s\", \"first_line\": %d, "
           "\"json_seconds\": %.6f, \"msgpack_seconds\": %.6f, \"msgpack_bytes\": %zu}\n",
           best, rep.nfailures, located, rep.passed, rep.failed, hwm_kb,
           (mi.arena + mi.hblkhd) / 1024, rep.nfailures ? rep.failures[0].file : "",
           rep.nfailures ? rep.failures[0].line : 0, t3 - t2, t4 - t3, mp_bytes);
    report_destroy(&rep);
    strbuf_destroy(&err);
    return 0;
}
