/* Unit tests for importgraph: a fake project tree written here, scanned, queried and
 * updated as saves would. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "parse/importgraph.h"
#include "base/strbuf.h"
#include "testutil.h"

static char tmp[TMP_PATH_MAX];

static char *at(const char *rel)
{
    StrBuf p = STRBUF_INIT;
    strbuf_printf(&p, "%s/%s", tmp, rel);
    return strbuf_detach(&p);
}

/* Writes `text` to root-relative `rel`, making its directories. */
static void put(const char *rel, const char *text)
{
    char *path = at(rel);
    for (char *s = path + strlen(tmp) + 1; (s = strchr(s, '/')) != NULL; s++) {
        *s = '\0';
        mkdir(path, 0700);
        *s = '/';
    }
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fputs(text, f);
    fclose(f);
    free(path);
}

static int setup(void **state)
{
    (void)state;
    tmp_template(tmp, "pytestmon-graph");
    assert_non_null(mkdtemp(tmp));
    put("pytest.ini", "[pytest]\n");
    put("pkg/__init__.py", "");
    put("pkg/a.py", "X = 1\n");
    put("pkg/b.py", "from . import a\n");
    put("pkg/c.py", "from .sub.d import x\n");
    put("pkg/sub/__init__.py", "");
    put("pkg/sub/d.py", "from ..a import X\n");
    put("tests/conftest.py", "import pytest\n");
    put("tests/test_a.py", "import pkg.a\n");
    put("tests/test_b.py", "from pkg.b import f\n");
    put("tests/test_c.py", "import os\n");
    put("tests/helpers.py", "import pkg.b\n");
    put("tests/test_h.py", "import helpers\n");
    put("tests/test_lib.py", "from lib import m\n");
    put("tests/unit/conftest.py", "");
    put("tests/unit/test_d.py", "from pkg.sub import d\n");
    put("src/lib/__init__.py", "");
    put("src/lib/m.py", "");
    put(".venv/lib/test_v.py", "import pkg.a\n");
    put("env/pyvenv.cfg", "");
    put("env/test_env.py", "import pkg.a\n");
    put("build/test_built.py", "import pkg.a\n");
    put("pkg/__pycache__/test_x.py", "import pkg.a\n");
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    tmp_remove(tmp);
    return 0;
}

/* The affected test files, root-relative and space-separated; "?" when undecided. */
static char *affected(ImportGraph *g, const char *rel)
{
    char *path = rel[0] == '/' ? xstrdup(rel) : at(rel);
    char **tests;
    size_t n;
    const char *why;
    StrBuf sb = STRBUF_INIT;
    if (!importgraph_affected(g, path, &tests, &n, &why)) {
        assert_non_null(why);
        strbuf_puts(&sb, "?");
    } else {
        for (size_t i = 0; i < n; i++)
            strbuf_printf(&sb, "%s%s", i ? " " : "", tests[i] + strlen(tmp) + 1);
        importgraph_free_list(tests, n);
    }
    free(path);
    return strbuf_detach(&sb);
}

#define assert_affected(g, rel, want)                                                                              \
    do {                                                                                                           \
        char *got_ = affected(g, rel);                                                                             \
        assert_string_equal(got_, want);                                                                           \
        free(got_);                                                                                                \
    } while (0)

static ImportGraph *scanned(size_t max)
{
    ImportGraph *g = importgraph_new(tmp, max);
    assert_int_equal(importgraph_scan(g), 0);
    return g;
}

static void test_scan_skips_venvs_and_build_dirs(void **state)
{
    (void)state;
    ImportGraph *g = scanned(1000);
    assert_int_equal(g->n, 17);
    size_t root_len = strlen(tmp); /* the root itself may be below a build/ (make test-unit) */
    for (size_t i = 0; i < g->n; i++) {
        assert_memory_equal(g->files[i].path, tmp, root_len);
        const char *rel = g->files[i].path + root_len;
        assert_null(strstr(rel, ".venv"));
        assert_null(strstr(rel, "/env/"));
        assert_null(strstr(rel, "/build/"));
        assert_null(strstr(rel, "__pycache__"));
    }
    importgraph_free(g);
}

static void test_module_reaches_importers_transitively(void **state)
{
    (void)state;
    ImportGraph *g = scanned(1000);
    /* test_a imports it; pkg.b (relative) -> test_b and helpers -> test_h; pkg.sub.d
     * (from ..a) -> test_d. test_c and test_lib do not depend on it. */
    assert_affected(g, "pkg/a.py", "tests/test_a.py tests/test_b.py tests/test_h.py tests/unit/test_d.py");
    assert_affected(g, "pkg/sub/d.py", "tests/unit/test_d.py");
    /* A package's __init__ runs on every import of its submodules. */
    assert_affected(g, "pkg/__init__.py", "tests/test_a.py tests/test_b.py tests/test_h.py tests/unit/test_d.py");
    assert_affected(g, "tests/test_c.py", "tests/test_c.py");
    assert_affected(g, "src/lib/m.py", "tests/test_lib.py"); /* src layout */
    assert_affected(g, "pkg/c.py", "");                       /* nobody tests it */
    importgraph_free(g);
}

static void test_conftest_reaches_its_directory_and_below(void **state)
{
    (void)state;
    ImportGraph *g = scanned(1000);
    assert_affected(g, "tests/unit/conftest.py", "tests/unit/test_d.py");
    assert_affected(g, "tests/conftest.py",
                    "tests/test_a.py tests/test_b.py tests/test_c.py tests/test_h.py tests/test_lib.py "
                    "tests/unit/test_d.py");
    importgraph_free(g);
}

static void test_undecidable(void **state)
{
    (void)state;
    ImportGraph *g = scanned(1000);
    assert_affected(g, "/etc/passwd.py", "?");
    assert_affected(g, ".venv/lib/test_v.py", "?");
    assert_affected(g, "pkg/missing.py", "?");
    importgraph_free(g);
    g = scanned(3);
    assert_true(g->truncated);
    assert_affected(g, "pkg/a.py", "?");
    importgraph_free(g);
}

static void test_update_follows_saves(void **state)
{
    (void)state;
    ImportGraph *g = scanned(1000);
    /* test_c starts importing pkg.a; a new test file appears; test_h stops using helpers. */
    put("tests/test_c.py", "from pkg import a\n");
    put("tests/test_new.py", "from pkg.sub import d\n");
    put("tests/test_h.py", "import os\n");
    char *p = at("tests/test_c.py");
    assert_int_equal(importgraph_update(g, p), 0);
    free(p);
    p = at("tests/test_new.py");
    assert_int_equal(importgraph_update(g, p), 0);
    free(p);
    p = at("tests/test_h.py");
    assert_int_equal(importgraph_update(g, p), 0);
    free(p);
    assert_affected(g, "pkg/a.py",
                    "tests/test_a.py tests/test_b.py tests/test_c.py tests/test_new.py tests/unit/test_d.py");
    /* A file deleted since: dropped, and undecidable. */
    p = at("tests/test_new.py");
    unlink(p);
    assert_int_equal(importgraph_update(g, p), -ENOENT);
    free(p);
    assert_affected(g, "tests/test_new.py", "?");
    assert_affected(g, "pkg/sub/d.py", "tests/unit/test_d.py");
    p = at(".venv/lib/test_v.py");
    assert_int_equal(importgraph_update(g, p), -EXDEV);
    free(p);
    importgraph_free(g);
    put("tests/test_c.py", "import os\n");
    put("tests/test_h.py", "import helpers\n");
}

static void test_dynamic_imports(void **state)
{
    (void)state;
    /* A literal name is followed; a computed one is not (and is counted). */
    put("tests/test_dyn.py", "import importlib\nm = importlib.import_module('pkg.c')\n"
                             "n = importlib.import_module('pkg.' + name)\n");
    ImportGraph *g = scanned(1000);
    assert_affected(g, "pkg/c.py", "tests/test_dyn.py");
    assert_affected(g, "pkg/b.py", "tests/test_b.py tests/test_h.py");
    assert_int_equal(importgraph_dynamic_files(g), 1);
    importgraph_free(g);
    char *p = at("tests/test_dyn.py");
    unlink(p);
    free(p);
}

/* `rel` made `size` bytes long: its text, then zeros (a sparse tail). */
static void grow(const char *rel, off_t size)
{
    char *p = at(rel);
    assert_int_equal(truncate(p, size), 0);
    free(p);
}

static void test_too_big_files_are_in_the_graph_unread(void **state)
{
    (void)state;
    put("pkg/huge.py", "from pkg import c\n");
    grow("pkg/huge.py", IMPORTGRAPH_MAX_FILE_BYTES + 1);
    put("tests/test_huge.py", "import pkg.huge\n");
    ImportGraph *g = scanned(1000);
    assert_int_equal(importgraph_too_big_files(g), 1);
    /* What imports it is found; what it imports is not known. */
    assert_affected(g, "pkg/huge.py", "tests/test_huge.py");
    assert_affected(g, "pkg/c.py", "");
    /* Saved still too big: not read, still in the graph. */
    char *p = at("pkg/huge.py");
    assert_int_equal(importgraph_update(g, p), -EFBIG);
    assert_affected(g, "pkg/huge.py", "tests/test_huge.py");
    /* Saved at the limit: read. */
    grow("pkg/huge.py", IMPORTGRAPH_MAX_FILE_BYTES);
    assert_int_equal(importgraph_update(g, p), 0);
    assert_int_equal(importgraph_too_big_files(g), 0);
    assert_affected(g, "pkg/c.py", "tests/test_huge.py");
    unlink(p);
    free(p);
    importgraph_free(g);
    p = at("tests/test_huge.py");
    unlink(p);
    free(p);
}

/* Writes `bytes` of Python text (imports and statements) to root-relative `rel`. */
static void put_python(const char *rel, size_t bytes)
{
    put(rel, "");
    char *p = at(rel);
    FILE *f = fopen(p, "w");
    assert_non_null(f);
    static const char line[] = "import os, sys  # a comment\nx = [1, 2, 'three']\n";
    for (size_t n = 0; n < bytes; n += sizeof line - 1)
        fputs(line, f);
    fclose(f);
    free(p);
}

static void test_scan_caps_and_cancel(void **state)
{
    (void)state;
    /* Files: cut at max_files. */
    ImportGraph *g = scanned(3);
    assert_true(g->truncated);
    assert_int_equal(g->cut, IMPORTGRAPH_CUT_FILES);
    assert_int_equal(g->n, 3);
    importgraph_free(g);
    /* Cancelled (here before it starts; a scan in another thread polls the same flag
     * between directory entries). */
    atomic_bool cancel;
    atomic_init(&cancel, true);
    g = importgraph_new(tmp, 1000);
    importgraph_limit(g, 0, &cancel);
    assert_int_equal(importgraph_scan(g), 0);
    assert_true(g->truncated);
    assert_int_equal(g->cut, IMPORTGRAPH_CUT_CANCELLED);
    assert_int_equal(g->n, 0);
    importgraph_free(g);
    /* Time: three files of 4 MiB take milliseconds each to read; the limit is 1 ms. */
    put_python("slow/m1.py", 4 << 20);
    put_python("slow/m2.py", 4 << 20);
    put_python("slow/m3.py", 4 << 20);
    atomic_store(&cancel, false);
    g = importgraph_new(tmp, 1000);
    importgraph_limit(g, 1, &cancel);
    assert_int_equal(importgraph_scan(g), 0);
    assert_true(g->truncated);
    assert_int_equal(g->cut, IMPORTGRAPH_CUT_TIME);
    assert_true(g->n < 17 + 3);
    assert_affected(g, "pkg/a.py", "?");
    importgraph_free(g);
    /* No limits: all of it. */
    g = scanned(1000);
    assert_false(g->truncated);
    assert_int_equal(g->cut, IMPORTGRAPH_CUT_NONE);
    assert_int_equal(g->n, 17 + 3);
    importgraph_free(g);
    StrBuf cmd = STRBUF_INIT;
    strbuf_printf(&cmd, "rm -rf '%s/slow'", tmp);
    assert_int_equal(system(strbuf_cstr(&cmd)), 0);
    strbuf_destroy(&cmd);
}

static void test_unreadable_root(void **state)
{
    (void)state;
    ImportGraph *g = importgraph_new("/nonexistent/pytestmon-root", 10);
    assert_int_equal(importgraph_scan(g), -ENOENT);
    assert_int_equal(g->n, 0);
    importgraph_free(g);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_scan_skips_venvs_and_build_dirs),
        cmocka_unit_test(test_module_reaches_importers_transitively),
        cmocka_unit_test(test_conftest_reaches_its_directory_and_below),
        cmocka_unit_test(test_undecidable),
        cmocka_unit_test(test_update_follows_saves),
        cmocka_unit_test(test_dynamic_imports),
        cmocka_unit_test(test_too_big_files_are_in_the_graph_unread),
        cmocka_unit_test(test_scan_caps_and_cancel),
        cmocka_unit_test(test_unreadable_root),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
