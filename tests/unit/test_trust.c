/* Unit tests for trust: the ownership/mode rule on stat results, and the interpreter check
 * on real files, links and directories made in a private temp dir (another user's files:
 * chown to uid 65534, so those parts run as root only). */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "base/strbuf.h"
#include "base/trust.h"
#include "testutil.h"

#define OTHER 65534 /* nobody */

static char tmp[TMP_PATH_MAX];

static char *at(const char *rel)
{
    StrBuf p = STRBUF_INIT;
    strbuf_printf(&p, "%s%s%s", tmp, *rel ? "/" : "", rel);
    return strbuf_detach(&p);
}

static void mkd(const char *rel, mode_t mode)
{
    char *p = at(rel);
    assert_int_equal(mkdir(p, 0700), 0);
    assert_int_equal(chmod(p, mode), 0);
    free(p);
}

static void script(const char *rel, mode_t mode)
{
    char *p = at(rel);
    FILE *f = fopen(p, "w");
    assert_non_null(f);
    fputs("#!/bin/sh\nexit 0\n", f);
    fclose(f);
    assert_int_equal(chmod(p, mode), 0);
    free(p);
}

static void link_to(const char *target, const char *rel)
{
    char *p = at(rel);
    assert_int_equal(symlink(target, p), 0);
    free(p);
}

static void owner(const char *rel, uid_t uid, int follow)
{
    char *p = at(rel);
    assert_int_equal(follow ? chown(p, uid, (gid_t)-1) : lchown(p, uid, (gid_t)-1), 0);
    free(p);
}

static int setup(void **state)
{
    (void)state;
    tmp_template(tmp, "pytestmon-trust");
    assert_non_null(mkdtemp(tmp));
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    tmp_remove(tmp);
    return 0;
}

/* trust_executable(tmp/rel, tmp/top): its return value; the clause in *why (caller frees). */
static int check(const char *rel, const char *top, StrBuf *why)
{
    char *p = at(rel), *t = top ? at(top) : NULL;
    strbuf_reset(why);
    int rc = trust_executable(p, t, why);
    free(p);
    free(t);
    return rc;
}

static void expect_why(const StrBuf *why, const char *want)
{
    if (!strstr(strbuf_cstr(why), want))
        fail_msg("why: \"%s\" lacks \"%s\"", strbuf_cstr(why), want);
}

/* The rule on stat results alone: owner, root, group/other write, sticky, symlinks. */
static void test_stat_rule(void **state)
{
    (void)state;
    uid_t me = geteuid();
    StrBuf why = STRBUF_INIT;
    struct stat st = {.st_uid = me, .st_mode = S_IFREG | 0755};
    assert_int_equal(trust_stat(&st, 0, &why), 0);
    assert_int_equal(why.len, 0);
    st.st_mode = S_IFREG | 0775;
    assert_int_equal(trust_stat(&st, TRUST_ROOT_OK, &why), -EACCES);
    assert_string_equal(strbuf_cstr(&why), "writable by its group (mode 0775)");
    strbuf_reset(&why);
    st.st_mode = S_IFREG | 0757;
    assert_int_equal(trust_stat(&st, 0, &why), -EACCES);
    assert_string_equal(strbuf_cstr(&why), "writable by others (mode 0757)");
    /* A symlink's mode means nothing (lrwxrwxrwx); its owner does. */
    strbuf_reset(&why);
    st.st_mode = S_IFLNK | 0777;
    assert_int_equal(trust_stat(&st, 0, &why), 0);
    /* A sticky directory: others cannot replace what is not theirs, where the caller allows it. */
    st.st_mode = S_IFDIR | 01777;
    assert_int_equal(trust_stat(&st, TRUST_STICKY_OK, &why), 0);
    assert_int_equal(trust_stat(&st, 0, &why), -EACCES);
    strbuf_reset(&why);
    st.st_mode = S_IFREG | 01777; /* sticky means nothing on a file */
    assert_int_equal(trust_stat(&st, TRUST_STICKY_OK, &why), -EACCES);
    /* Another owner, named by uid; root only where allowed. */
    strbuf_reset(&why);
    st = (struct stat){.st_uid = me + 1, .st_mode = S_IFREG | 0755};
    assert_int_equal(trust_stat(&st, TRUST_ROOT_OK, &why), -EPERM);
    StrBuf want = STRBUF_INIT;
    strbuf_printf(&want, "owned by uid %u (not you or root)", (unsigned)me + 1);
    assert_string_equal(strbuf_cstr(&why), strbuf_cstr(&want));
    strbuf_reset(&why);
    strbuf_reset(&want);
    assert_int_equal(trust_stat(&st, 0, &why), -EPERM);
    strbuf_printf(&want, "owned by uid %u, not by you (uid %u)", (unsigned)me + 1, (unsigned)me);
    assert_string_equal(strbuf_cstr(&why), strbuf_cstr(&want));
    if (me != 0) {
        st.st_uid = 0;
        strbuf_reset(&why);
        assert_int_equal(trust_stat(&st, TRUST_ROOT_OK, &why), 0);
        assert_int_equal(trust_stat(&st, 0, &why), -EPERM);
    }
    strbuf_destroy(&want);
    strbuf_destroy(&why);
}

/* Your own venv: a script, or a link to the system's root-owned interpreter. */
static void test_own_interpreter_is_trusted(void **state)
{
    (void)state;
    StrBuf why = STRBUF_INIT;
    mkd("ok", 0755);
    mkd("ok/.venv", 0755);
    mkd("ok/.venv/bin", 0755);
    script("ok/.venv/bin/python", 0755);
    assert_int_equal(check("ok/.venv/bin/python", "ok", &why), 0);
    assert_int_equal(why.len, 0);
    /* python -> python3 -> /bin/sh (a venv's links to the system's root-owned binary). */
    mkd("ok/.venv2", 0755);
    mkd("ok/.venv2/bin", 0755);
    link_to("/bin/sh", "ok/.venv2/bin/python3");
    link_to("python3", "ok/.venv2/bin/python");
    assert_int_equal(check("ok/.venv2/bin/python", "ok", &why), 0);
    /* A sticky world-writable directory above the file (like /tmp) is fine. */
    mkd("sticky", 01777);
    mkd("sticky/p", 0700);
    script("sticky/p/python", 0700);
    assert_int_equal(check("sticky/p/python", "sticky", &why), 0);
    strbuf_destroy(&why);
}

static void test_writable_by_others_is_refused(void **state)
{
    (void)state;
    StrBuf why = STRBUF_INIT;
    mkd("w", 0755);
    mkd("w/.venv", 0755);
    mkd("w/.venv/bin", 0755);
    script("w/.venv/bin/python", 0777);
    assert_int_equal(check("w/.venv/bin/python", "w", &why), -EACCES);
    assert_string_equal(strbuf_cstr(&why), "writable by others (mode 0777)");
    char *p = at("w/.venv/bin/python");
    assert_int_equal(chmod(p, 0775), 0);
    assert_int_equal(check("w/.venv/bin/python", "w", &why), -EACCES);
    assert_string_equal(strbuf_cstr(&why), "writable by its group (mode 0775)");
    assert_int_equal(chmod(p, 0755), 0);
    assert_int_equal(check("w/.venv/bin/python", "w", &why), 0);
    free(p);
    /* A directory on the way up to the root, the root itself included. */
    char *d = at("w/.venv"), *root = at("w");
    assert_int_equal(chmod(d, 0777), 0);
    assert_int_equal(check("w/.venv/bin/python", "w", &why), -EACCES);
    expect_why(&why, "directory ");
    expect_why(&why, "/w/.venv is writable by others (mode 0777)");
    assert_int_equal(chmod(d, 0755), 0);
    assert_int_equal(chmod(root, 0770), 0);
    assert_int_equal(check("w/.venv/bin/python", "w", &why), -EACCES);
    expect_why(&why, "/w is writable by its group (mode 0770)");
    assert_int_equal(chmod(root, 0755), 0);
    /* The target a link leads to. */
    script("w/target", 0777);
    link_to("../../target", "w/.venv/bin/python3");
    assert_int_equal(check("w/.venv/bin/python3", "w", &why), -EACCES);
    expect_why(&why, "link target ");
    expect_why(&why, "/w/target is writable by others (mode 0777)");
    free(d);
    free(root);
    strbuf_destroy(&why);
}

static void test_other_owner_is_refused(void **state)
{
    (void)state;
    if (geteuid() != 0)
        skip(); /* making another user's file takes root */
    StrBuf why = STRBUF_INIT;
    mkd("o", 0755);
    mkd("o/.venv", 0755);
    mkd("o/.venv/bin", 0755);
    script("o/.venv/bin/python", 0755);
    owner("o/.venv/bin/python", OTHER, 1);
    assert_int_equal(check("o/.venv/bin/python", "o", &why), -EPERM);
    assert_string_equal(strbuf_cstr(&why), "owned by uid 65534 (not you or root)");
    owner("o/.venv/bin/python", 0, 1);
    assert_int_equal(check("o/.venv/bin/python", "o", &why), 0);
    /* Their directory on the way to the root. */
    owner("o/.venv", OTHER, 1);
    assert_int_equal(check("o/.venv/bin/python", "o", &why), -EPERM);
    expect_why(&why, "/o/.venv is owned by uid 65534 (not you or root)");
    owner("o/.venv", 0, 1);
    /* Their link (lstat), though it leads to a root-owned file. */
    link_to("/bin/sh", "o/.venv/bin/python3");
    owner("o/.venv/bin/python3", OTHER, 0);
    assert_int_equal(check("o/.venv/bin/python3", "o", &why), -EPERM);
    assert_string_equal(strbuf_cstr(&why), "owned by uid 65534 (not you or root)");
    /* Your link to their file. */
    mkd("theirs", 0755);
    script("theirs/python3.11", 0755);
    owner("theirs/python3.11", OTHER, 1);
    char *target = at("theirs/python3.11");
    char *lnk = at("o/.venv/bin/python3.11");
    assert_int_equal(symlink(target, lnk), 0);
    assert_int_equal(check("o/.venv/bin/python3.11", "o", &why), -EPERM);
    expect_why(&why, "link target ");
    expect_why(&why, "/theirs/python3.11 is owned by uid 65534 (not you or root)");
    /* A link through their directory to a root-owned file: they could point it elsewhere. */
    owner("theirs/python3.11", 0, 1);
    assert_int_equal(check("o/.venv/bin/python3.11", "o", &why), 0);
    mkd("theirs/bin", 0755);
    link_to("/bin/sh", "theirs/bin/python3");
    owner("theirs", OTHER, 1);
    unlink(lnk);
    char *hop = at("theirs/bin/python3");
    assert_int_equal(symlink(hop, lnk), 0);
    assert_int_equal(check("o/.venv/bin/python3.11", "o", &why), -EPERM);
    expect_why(&why, "/theirs is owned by uid 65534 (not you or root)");
    free(hop);
    free(lnk);
    free(target);
    strbuf_destroy(&why);
}

/* A relative target is resolved as the kernel does: "l/../python" with l a link to x/y is
 * x/python, not ./python. */
static void test_relative_target_through_a_linked_dir(void **state)
{
    (void)state;
    if (geteuid() != 0)
        skip();
    StrBuf why = STRBUF_INIT;
    mkd("k", 0755);
    mkd("k/x", 0755);
    mkd("k/x/y", 0755);
    script("k/python", 0755);   /* yours: what a lexical reading would judge */
    script("k/x/python", 0755); /* theirs: what exec runs */
    owner("k/x/python", OTHER, 1);
    link_to("x/y", "k/l");
    link_to("l/../python", "k/run");
    assert_int_equal(check("k/run", "k", &why), -EPERM);
    expect_why(&why, "/k/x/python is owned by uid 65534");
    strbuf_destroy(&why);
}

static void test_broken_and_looping_links(void **state)
{
    (void)state;
    StrBuf why = STRBUF_INIT;
    mkd("b", 0755);
    link_to("nowhere", "b/python");
    assert_int_equal(check("b/python", "b", &why), -ENOENT);
    expect_why(&why, "cannot stat ");
    link_to("loop", "b/loop");
    assert_int_equal(check("b/loop", "b", &why), -ELOOP);
    expect_why(&why, "more than 40 symbolic links");
    assert_int_equal(check("b/missing", "b", &why), -ENOENT);
    strbuf_destroy(&why);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_stat_rule),
        cmocka_unit_test(test_own_interpreter_is_trusted),
        cmocka_unit_test(test_writable_by_others_is_refused),
        cmocka_unit_test(test_other_owner_is_refused),
        cmocka_unit_test(test_relative_target_through_a_linked_dir),
        cmocka_unit_test(test_broken_and_looping_links),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
