/* graph_bench: import graph of a project tree, timed. Prints one JSON object:
 *   graph_bench ROOT [FILE ...]
 * {"files", "tests", "scan_s", "maxrss_kb", "affected": [{"file", "tests", "update_s",
 * "query_s"}]}: the cold scan (read and parse every .py file), then for each FILE (relative to
 * ROOT) a save as the watch mode handles it: importgraph_update() and importgraph_affected(). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "benchutil.h"
#include "parse/importgraph.h"
#include "base/strbuf.h"

int main(int argc, char **argv)
{
    if (argc < 2) {
        fprintf(stderr, "usage: graph_bench ROOT [FILE ...]\n");
        return 2;
    }
    char *root = realpath(argv[1], NULL);
    if (!root) {
        perror(argv[1]);
        return 1;
    }
    ImportGraph *g = importgraph_new(root, 200000);
    double t0 = bench_now();
    int rc = importgraph_scan(g);
    double scan = bench_now() - t0;
    if (rc != 0) {
        fprintf(stderr, "scan %s: %s\n", root, strerror(-rc));
        return 1;
    }
    size_t ntests = 0;
    for (size_t i = 0; i < g->n; i++)
        ntests += g->files[i].is_test;
    printf("{\"files\": %zu, \"tests\": %zu, \"scan_s\": %.6f, \"affected\": [", g->n, ntests, scan);
    for (int a = 2; a < argc; a++) {
        StrBuf p = STRBUF_INIT;
        strbuf_printf(&p, "%s/%s", root, argv[a]);
        double u0 = bench_now();
        importgraph_update(g, strbuf_cstr(&p));
        double u1 = bench_now();
        char **tests;
        size_t n;
        const char *why;
        bool ok = importgraph_affected(g, strbuf_cstr(&p), &tests, &n, &why);
        double u2 = bench_now();
        printf("%s{\"file\": \"%s\", \"tests\": %lld, \"update_s\": %.6f, \"query_s\": %.6f}", a > 2 ? ", " : "",
               argv[a], ok ? (long long)n : -1LL, u1 - u0, u2 - u1);
        if (ok)
            importgraph_free_list(tests, n);
        strbuf_destroy(&p);
    }
    printf("], \"maxrss_kb\": %ld}\n", bench_vm_hwm_kb());
    importgraph_free(g);
    free(root);
    return 0;
}
