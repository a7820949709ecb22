/* testutil: what several unit tests share: the path of a fake /proc + /sys tree under
 * tests/fixtures/proc/ and of a fixture project under tests/fixtures/ (both found through
 * $PYTESTMON_SRCDIR), temporary names under the test session's private directory, and byte
 * units. Header only:
 * each test file is its own program. */
#ifndef PYTESTMON_TESTUTIL_H
#define PYTESTMON_TESTUTIL_H

#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "base/path.h"
#include "base/strbuf.h"

/* Room for a temporary path made by tmp_template(). */
#define TMP_PATH_MAX 4096

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

/* "$PYTESTMON_SRCDIR/tests/fixtures/<rel>", absolute and normalised: the caller frees it. */
static inline char *fixture_path(const char *rel)
{
    const char *s = getenv("PYTESTMON_SRCDIR");
    StrBuf sb = STRBUF_INIT;
    strbuf_printf(&sb, "%s/tests/fixtures/%s", s != NULL ? s : ".", rel);
    char *r = path_normalize(NULL, strbuf_cstr(&sb));
    strbuf_destroy(&sb);
    if (r[0] != '/') { /* make it absolute */
        char *cwd = getcwd(NULL, 0);
        if (cwd == NULL)
            abort();
        char *a = path_normalize(cwd, r);
        free(cwd);
        free(r);
        r = a;
    }
    return r;
}

/* "$TMPDIR/<name>-XXXXXX" in buf (TMP_PATH_MAX bytes), for mkdtemp()/mkstemp(). `make
 * test-unit` points TMPDIR at a private directory of its own (0700, under build/), so nothing
 * another user plants in /tmp can change a result; /tmp only when TMPDIR is unset. Returns
 * buf; aborts when the name does not fit. */
static inline char *tmp_template(char *buf, const char *name)
{
    const char *t = getenv("TMPDIR");
    int n = snprintf(buf, TMP_PATH_MAX, "%s/%s-XXXXXX", t && *t ? t : "/tmp", name);
    if (n < 0 || n >= TMP_PATH_MAX) {
        fprintf(stderr, "testutil: temporary path too long for %s\n", name);
        abort();
    }
    return buf;
}

/* Removes a temporary tree a test made (rm -rf); fails the test when it cannot. */
static inline void tmp_remove(const char *path)
{
    StrBuf cmd = STRBUF_INIT;
    strbuf_printf(&cmd, "rm -rf '%s'", path);
    if (system(strbuf_cstr(&cmd)) != 0) {
        fprintf(stderr, "testutil: cannot remove %s\n", path);
        abort();
    }
    strbuf_destroy(&cmd);
}

#endif
