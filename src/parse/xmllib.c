/* xmllib: libxml2 loaded with dlopen() on first use. See xmllib.h. */
#include "parse/xmllib.h"

#include <dlfcn.h>
#include <errno.h>
#include <stdbool.h>

/* libxml2 2.14 bumped the soname; the headers tell which one these declarations match. */
#if LIBXML_VERSION >= 21400
#define XMLLIB_SONAME "libxml2.so.16"
#else
#define XMLLIB_SONAME "libxml2.so.2"
#endif

static XmlLib lib;
static bool loaded;

static bool resolve(void *h, void **slot, const char *name, StrBuf *err)
{
    *slot = dlsym(h, name);
    if (*slot == NULL && err != NULL)
        strbuf_printf(err, "cannot load %s: no symbol %s", XMLLIB_SONAME, name);
    return *slot != NULL;
}

int xmllib_get(const XmlLib **out, StrBuf *err)
{
    if (loaded) {
        *out = &lib;
        return 0;
    }
    void *h = dlopen(XMLLIB_SONAME, RTLD_NOW | RTLD_LOCAL);
    if (h == NULL) {
        if (err != NULL)
            strbuf_printf(err, "cannot load %s: %s", XMLLIB_SONAME, dlerror());
        return -ELIBACC;
    }
    XmlLib t;
    void (*init)(void);
    if (!resolve(h, (void **)&t.CreatePushParserCtxt, "xmlCreatePushParserCtxt", err) ||
        !resolve(h, (void **)&t.CtxtUseOptions, "xmlCtxtUseOptions", err) ||
        !resolve(h, (void **)&t.ParseChunk, "xmlParseChunk", err) ||
        !resolve(h, (void **)&t.StopParser, "xmlStopParser", err) ||
        !resolve(h, (void **)&t.FreeParserCtxt, "xmlFreeParserCtxt", err) ||
        !resolve(h, (void **)&t.DictLookup, "xmlDictLookup", err) ||
        !resolve(h, (void **)&init, "xmlInitParser", err)) {
        dlclose(h);
        return -ELIBACC;
    }
    init(); /* the one-time global setup, before the first parser context */
    lib = t;
    loaded = true;
    *out = &lib;
    return 0;
}
