/* procmem_bench: cost of one proctree_sample() over a live process tree.
 *
 * usage: procmem_bench PID ITERATIONS
 * Samples the tree of PID ITERATIONS times and prints one line of JSON with the median,
 * p10 and p90 of the per-call wall time in microseconds (CLOCK_MONOTONIC), the process
 * count of the last sample and whether the tree was found via task/children files. */
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "benchutil.h"
#include "mem/procmem.h"
#include "mem/proctree.h"

static double now_us(void)
{
    return bench_now() * 1e6;
}

static int cmp(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

int main(int argc, char **argv)
{
    if (argc != 3) {
        fprintf(stderr, "usage: procmem_bench PID ITERATIONS\n");
        return 2;
    }
    int pid = atoi(argv[1]);
    int n = atoi(argv[2]);
    double *t = calloc((size_t)n, sizeof *t);
    ProcTreeSample s;
    proctree_sample_init(&s);
    for (int i = 0; i < n; i++) {
        double t0 = now_us();
        int rc = proctree_sample("", pid, &s);
        t[i] = now_us() - t0;
        if (rc != 0) {
            fprintf(stderr, "procmem_bench: sample failed: %d\n", rc);
            return 1;
        }
    }
    qsort(t, (size_t)n, sizeof *t, cmp);
    printf("{\"median_us\": %.1f, \"p10_us\": %.1f, \"p90_us\": %.1f, \"nproc\": %zu, "
           "\"used_children\": %s, \"iterations\": %d}\n",
           t[n / 2], t[n / 10], t[n * 9 / 10], s.nproc, s.tree.used_children ? "true" : "false", n);
    proctree_sample_destroy(&s);
    free(t);
    return 0;
}
