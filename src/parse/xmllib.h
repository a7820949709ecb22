/* xmllib: libxml2, loaded on first use.
 *
 * Owns the process-wide handle of libxml2 and the table of the few entry points junit.c calls.
 * Debian's libxml2 links ICU, which brings libstdc++ along: ~1.9 MB of resident library pages
 * that a co-process which has not yet read a report (or never will: pytest crashed, --junitxml
 * unwritable) has no use for. So libxml2 is dlopen()ed on the first JUnit read and stays loaded
 * (never dlclose()d: ICU registers cleanup handlers). The headers are used as usual; only the
 * linking is deferred.
 *
 * Thread-safety: load from the loop thread only (the co-process has no other). */
#ifndef PYTESTMON_XMLLIB_H
#define PYTESTMON_XMLLIB_H

#include <libxml/parser.h>

#include "base/strbuf.h"

typedef struct {
    __typeof__(xmlCreatePushParserCtxt) *CreatePushParserCtxt;
    __typeof__(xmlCtxtUseOptions) *CtxtUseOptions;
    __typeof__(xmlParseChunk) *ParseChunk;
    __typeof__(xmlStopParser) *StopParser;
    __typeof__(xmlFreeParserCtxt) *FreeParserCtxt;
    __typeof__(xmlDictLookup) *DictLookup;
} XmlLib;

/* Loads libxml2 if needed and sets *out to the table (borrowed for the life of the process).
 * Returns 0, or -ELIBACC with a one-line reason appended to `err` (may be NULL). */
int xmllib_get(const XmlLib **out, StrBuf *err);

#endif
