/* fuzz_pyparse: the readers of what Python and our plugin write besides the JUnit report:
 * the import scanner of watch mode (pyimports.c), the plugin's collection record
 * (collection.c, and collection_nearest() over what it parsed) and coverage.py's JSON report
 * (coverage.c, with the summary and missing-line views the editor gets).
 *
 * Input layout: byte 0 picks the parser (0 pyimports, 1 collection, 2 coverage; modulo 3),
 * byte 1 a line number for collection_nearest(); the rest is the text, handed over as an
 * exact-size heap copy without NUL. Oracles: pyimports' names are non-empty and without
 * duplicates; a coverage report that fails to parse leaves no files (its header's promise); a
 * collection that fails may keep what it read (destroyed all the same); nothing leaks or
 * crashes. */
#include <jansson.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/strbuf.h"
#include "parse/collection.h"
#include "parse/coverage.h"
#include "parse/pyimports.h"

static void die(const char *what)
{
    fprintf(stderr, "fuzz_pyparse: oracle failed: %s\n", what);
    abort();
}

static void fuzz_pyimports(const char *buf, size_t n)
{
    PyImports im;
    pyimports_init(&im);
    pyimports_parse(buf, n, n % 2 ? "pkg.sub" : "", &im);
    for (size_t i = 0; i < im.n; i++) {
        if (im.names[i][0] == '\0')
            die("an empty module name");
        for (size_t j = 0; j < i; j++)
            if (strcmp(im.names[i], im.names[j]) == 0)
                die("a module name twice");
    }
    pyimports_destroy(&im);
}

static void fuzz_collection(const char *buf, size_t n, int line)
{
    Collection c;
    StrBuf err = STRBUF_INIT;
    if (collection_parse(buf, n, &c, &err) == 0) {
        const char *file = c.nitems ? c.items[0].file : "/p/test_a.py";
        free(collection_nearest(&c, file, line, "/p"));
    }
    collection_destroy(&c);
    strbuf_destroy(&err);
}

static void fuzz_coverage(const char *buf, size_t n)
{
    Coverage c;
    StrBuf err = STRBUF_INIT;
    if (coverage_parse(buf, n, "/p", &c, &err) == 0) {
        json_decref(coverage_summary_json(&c, 8));
        for (size_t i = 0; i < c.nfiles; i++) {
            json_decref(coverage_lines_json(&c.files[i]));
            StrBuf r = STRBUF_INIT;
            coverage_ranges(&c.files[i], 16, &r);
            strbuf_destroy(&r);
        }
    } else if (c.nfiles) {
        die("a failed coverage parse kept files");
    }
    coverage_destroy(&c);
    strbuf_destroy(&err);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 2)
        return 0;
    size_t n = size - 2;
    char *buf = malloc(n ? n : 1);
    memcpy(buf, data + 2, n);
    switch (data[0] % 3) {
    case 0: fuzz_pyimports(buf, n); break;
    case 1: fuzz_collection(buf, n, data[1]); break;
    default: fuzz_coverage(buf, n); break;
    }
    free(buf);
    return 0;
}
