/* testutil: what several unit tests share: the path of a fake /proc + /sys tree under
 * tests/fixtures/proc/ (found through $PYTESTMON_SRCDIR) and byte units. Header only:
 * each test file is its own program. */
#ifndef PYTESTMON_TESTUTIL_H
#define PYTESTMON_TESTUTIL_H

#include <stdio.h>
#include <stdlib.h>

#define MIB (1024ULL * 1024)
#define GIB (1024ULL * MIB)

/* "$PYTESTMON_SRCDIR/tests/fixtures/proc/<scenario>": borrowed until the next call. */
static inline const char *fixture(const char *scenario)
{
    static char buf[4096];
    const char *src = getenv("PYTESTMON_SRCDIR");
    int n = snprintf(buf, sizeof buf, "%s/tests/fixtures/proc/%s", src ? src : ".", scenario);
    if (n < 0 || (size_t)n >= sizeof buf) {
        fprintf(stderr, "testutil: fixture path too long for %s\n", scenario);
        abort();
    }
    return buf;
}

#endif
