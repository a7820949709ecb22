/* sax_floor: the floor for any libxml2-based JUnit reader. Push-parses one file through
 * libxml2's SAX2 interface exactly as src/parse/junit.c does (64 KiB reads, same options) with
 * callbacks that do nothing, so no reader built on libxml2 can be faster than this.
 *
 * usage: sax_floor FILE.xml -> one line of JSON {"seconds", "elements", "maxrss_kb"} */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <libxml/parser.h>

#include "benchutil.h"

static long elements;

static void on_start(void *ctx, const xmlChar *l, const xmlChar *p, const xmlChar *u, int nn,
                     const xmlChar **ns, int na, int nd, const xmlChar **at)
{
    (void)ctx, (void)l, (void)p, (void)u, (void)nn, (void)ns, (void)na, (void)nd, (void)at;
    elements++;
}

static void on_text(void *ctx, const xmlChar *s, int n)
{
    (void)ctx, (void)s, (void)n;
}

int main(int argc, char **argv)
{
    if (argc != 2) {
        fprintf(stderr, "usage: sax_floor FILE.xml\n");
        return 2;
    }
    xmlInitParser();
    xmlSAXHandler sax = {.initialized = XML_SAX2_MAGIC, .startElementNs = on_start,
                         .characters = on_text, .cdataBlock = on_text};
    double best = -1;
    int ok = 0;
    for (int i = bench_repeat(); i > 0; i--) {
        elements = 0;
        double t0 = bench_now();
        int fd = open(argv[1], O_RDONLY | O_CLOEXEC);
        if (fd < 0) {
            perror(argv[1]);
            return 1;
        }
        xmlParserCtxtPtr ctxt = xmlCreatePushParserCtxt(&sax, NULL, NULL, 0, argv[1]);
        xmlCtxtUseOptions(ctxt, XML_PARSE_NONET | XML_PARSE_HUGE | XML_PARSE_IGNORE_ENC);
        char *buf = malloc(64 << 10);
        ssize_t n;
        while ((n = read(fd, buf, 64 << 10)) > 0)
            xmlParseChunk(ctxt, buf, (int)n, 0);
        xmlParseChunk(ctxt, NULL, 0, 1);
        ok = ctxt->wellFormed;
        xmlFreeParserCtxt(ctxt);
        free(buf);
        close(fd);
        double t1 = bench_now();
        if (best < 0 || t1 - t0 < best)
            best = t1 - t0;
    }
    long hwm_kb = bench_vm_hwm_kb();
    printf("{\"seconds\": %.6f, \"elements\": %ld, \"well_formed\": %d, \"maxrss_kb\": %ld}\n",
           best, elements, ok, hwm_kb);
    return ok ? 0 : 1;
}
