/* test_privdir: creating, removing (with whatever a test dropped in, symlinks never followed)
 * and sweeping private directories, on real directories under a fresh temporary base and a
 * fake /proc tree for the owners' liveness. */
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "pytest/privdir.h"
#include "base/strbuf.h"
#include "testutil.h"

/* A fresh directory for one test; removed by the test through privdir_remove. */
static char *scratch(void)
{
    char tmpl[TMP_PATH_MAX];
    assert_non_null(mkdtemp(tmp_template(tmpl, "test_privdir")));
    return strdup(tmpl);
}

static char *join(const char *a, const char *b)
{
    StrBuf sb = STRBUF_INIT;
    strbuf_printf(&sb, "%s/%s", a, b);
    return strbuf_detach(&sb);
}

static void write_file(const char *path, const char *text)
{
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fputs(text, f);
    fclose(f);
}

static bool exists(const char *path)
{
    struct stat st;
    return lstat(path, &st) == 0;
}

/* ROOT/proc/PID/stat with the given start time in field 22. */
static void fake_proc(const char *root, int pid, uint64_t start)
{
    StrBuf sb = STRBUF_INIT;
    strbuf_printf(&sb, "%s/proc", root);
    mkdir(strbuf_cstr(&sb), 0755);
    strbuf_printf(&sb, "/%d", pid);
    assert_int_equal(mkdir(strbuf_cstr(&sb), 0755), 0);
    strbuf_puts(&sb, "/stat");
    char text[256];
    snprintf(text, sizeof text, "%d (pytestmon) S 1 %d %d 0 -1 0 0 0 0 0 0 0 0 0 20 0 1 0 %llu 0 0\n", pid, pid,
             pid, (unsigned long long)start);
    write_file(strbuf_cstr(&sb), text);
    strbuf_destroy(&sb);
}

static void test_owner_of_self(void **state)
{
    (void)state;
    PrivdirOwner me, again;
    assert_int_equal(privdir_owner_of("", (int)getpid(), &me), 0);
    assert_int_equal(me.pid, (int)getpid());
    assert_true(me.start > 0 && me.ns > 0);
    assert_int_equal(privdir_owner_of("/", (int)getpid(), &again), 0);
    assert_true(again.start == me.start && again.ns == me.ns);
    assert_int_equal(privdir_owner_of("/nonexistent-root", 1, &again), -ENOENT);
}

static void test_create_names_the_owner(void **state)
{
    (void)state;
    char *base = scratch();
    PrivdirOwner o = {.ns = 4026531836u, .pid = 4242, .start = 987654};
    char *dir = NULL;
    assert_int_equal(privdir_create(base, &o, &dir), 0);
    char *prefix = join(base, "pytestmon-4026531836-4242-987654-");
    assert_int_equal(strncmp(dir, prefix, strlen(prefix)), 0);
    assert_int_equal(strlen(dir), strlen(prefix) + 6);
    struct stat st;
    assert_int_equal(lstat(dir, &st), 0);
    assert_true(S_ISDIR(st.st_mode));
    assert_int_equal(st.st_mode & 0777, 0700);
    char *missing = join(base, "no/such");
    char *none = NULL;
    assert_int_equal(privdir_create(missing, &o, &none), -ENOENT);
    assert_null(none);
    assert_int_equal(privdir_remove(base), 0);
    free(missing);
    free(prefix);
    free(dir);
    free(base);
}

/* Files, nested directories and symlinks (to a directory and a file outside) go; what the
 * symlinks point to stays. */
/* Why a directory could not be made, naming $TMPDIR: a full file system says so in words. */
static void test_create_error_names_the_base(void **state)
{
    (void)state;
    PrivdirOwner self;
    assert_int_equal(privdir_owner_of("", (int)getpid(), &self), 0);
    char *path = NULL;
    int rc = privdir_create("/nonexistent-pytestmon-base", &self, &path);
    assert_int_equal(rc, -ENOENT);
    char *msg = privdir_create_error("/nonexistent-pytestmon-base", rc);
    assert_string_equal(msg, "cannot create a private temporary directory in /nonexistent-pytestmon-base: "
                             "No such file or directory");
    free(msg);
    msg = privdir_create_error("/full", -ENOSPC);
    assert_string_equal(msg, "no space left in $TMPDIR (/full) for a private temporary directory");
    free(msg);
    msg = privdir_create_error("/full", -EDQUOT);
    assert_string_equal(msg, "no space left in $TMPDIR (/full) for a private temporary directory");
    free(msg);
}

static void test_remove_does_not_follow_symlinks(void **state)
{
    (void)state;
    char *base = scratch();
    char *outside = join(base, "outside");
    char *precious = join(base, "outside/precious");
    char *dir = join(base, "run");
    char *deep = join(base, "run/a/b/c");
    char *deep_file = join(base, "run/a/b/c/f");
    char *dropped = join(base, "run/junit.xml");
    char *to_dir = join(base, "run/a/to_dir");
    char *to_file = join(base, "run/to_file");
    assert_int_equal(mkdir(outside, 0700), 0);
    write_file(precious, "keep");
    assert_int_equal(mkdir(dir, 0700), 0);
    char *a = join(base, "run/a"), *b = join(base, "run/a/b");
    assert_int_equal(mkdir(a, 0700), 0);
    assert_int_equal(mkdir(b, 0700), 0);
    free(a);
    free(b);
    assert_int_equal(mkdir(deep, 0700), 0);
    write_file(deep_file, "x");
    write_file(dropped, "<testsuite/>");
    assert_int_equal(symlink(outside, to_dir), 0);
    assert_int_equal(symlink(precious, to_file), 0);

    assert_int_equal(privdir_remove(dir), 0);
    assert_false(exists(dir));
    assert_true(exists(precious));

    /* The directory itself replaced by a symlink: the link goes, its target stays. */
    assert_int_equal(symlink(outside, dir), 0);
    assert_int_equal(privdir_remove(dir), 0);
    assert_false(exists(dir));
    assert_true(exists(precious));
    /* Nothing there: nothing to do. */
    assert_int_equal(privdir_remove(dir), 0);

    assert_int_equal(privdir_remove(base), 0);
    assert_false(exists(base));
    free(outside);
    free(precious);
    free(dir);
    free(deep);
    free(deep_file);
    free(dropped);
    free(to_dir);
    free(to_file);
    free(base);
}

/* Nesting deeper than PRIVDIR_MAX_DEPTH is refused with -ELOOP, not one descriptor per level
 * without end; what could be removed is. */
static void test_remove_bounds_depth(void **state)
{
    (void)state;
    char *base = scratch();
    StrBuf p = STRBUF_INIT;
    strbuf_puts(&p, base);
    strbuf_puts(&p, "/run");
    assert_int_equal(mkdir(strbuf_cstr(&p), 0700), 0);
    /* Build by chdir: the path grows past what one call may take. */
    char *cwd = getcwd(NULL, 0);
    assert_int_equal(chdir(strbuf_cstr(&p)), 0);
    for (int i = 0; i < PRIVDIR_MAX_DEPTH + 10; i++) {
        assert_int_equal(mkdir("d", 0700), 0);
        assert_int_equal(chdir("d"), 0);
    }
    assert_int_equal(chdir(cwd), 0);
    char *top_file = join(base, "run/top");
    write_file(top_file, "x");
    assert_int_equal(privdir_remove(strbuf_cstr(&p)), -ELOOP);
    assert_false(exists(top_file));
    StrBuf cmd = STRBUF_INIT;
    strbuf_printf(&cmd, "rm -rf '%s'", base);
    assert_int_equal(system(strbuf_cstr(&cmd)), 0);
    strbuf_destroy(&cmd);
    assert_false(exists(base));
    free(top_file);
    free(cwd);
    strbuf_destroy(&p);
    free(base);
}

static char *make_named(const char *base, const char *name)
{
    char *d = join(base, name);
    assert_int_equal(mkdir(d, 0700), 0);
    char *f = join(d, "junit.xml");
    write_file(f, "<testsuite/>");
    free(f);
    return d;
}

/* Only directories of dead owners of our namespace go: the pid is gone, or names a process
 * that started at another time (reused). */
static void test_sweep_removes_only_dead_owners(void **state)
{
    (void)state;
    char *base = scratch();
    char *root = scratch();
    fake_proc(root, 100, 5000); /* alive */
    fake_proc(root, 200, 9999); /* pid reused: started later than the owner */
    PrivdirOwner self = {.ns = 77, .pid = 100, .start = 5000};
    char *live = make_named(base, "pytestmon-77-100-5000-aaaaaa");
    char *gone = make_named(base, "pytestmon-77-300-1234-bbbbbb");
    char *reused = make_named(base, "pytestmon-77-200-1234-cccccc");
    char *other_ns = make_named(base, "pytestmon-78-300-1234-dddddd");
    char *old_form = make_named(base, "pytestmon-eeeeee");
    char *odd = make_named(base, "pytestmon-77-300-1234-toolong");
    char *target = make_named(base, "target");
    char *link = join(base, "pytestmon-77-300-1234-ffffff");
    assert_int_equal(symlink(target, link), 0);
    char *file = join(base, "pytestmon-77-300-1234-gggggg");
    write_file(file, "not a directory");

    assert_int_equal(privdir_sweep(base, root, &self), 2);
    assert_true(exists(live));
    assert_false(exists(gone));
    assert_false(exists(reused));
    assert_true(exists(other_ns));
    assert_true(exists(old_form));
    assert_true(exists(odd));
    assert_true(exists(link)); /* not a directory of ours: left alone, and not followed */
    char *target_file = join(target, "junit.xml");
    assert_true(exists(target_file));
    assert_true(exists(file));
    assert_int_equal(privdir_sweep(base, root, &self), 0);
    /* A base that cannot be read sweeps nothing. */
    char *missing = join(base, "missing");
    assert_int_equal(privdir_sweep(missing, root, &self), 0);

    assert_int_equal(privdir_remove(base), 0);
    assert_int_equal(privdir_remove(root), 0);
    free(missing);
    free(target_file);
    free(live);
    free(gone);
    free(reused);
    free(other_ns);
    free(old_form);
    free(odd);
    free(target);
    free(link);
    free(file);
    free(base);
    free(root);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_owner_of_self),
        cmocka_unit_test(test_create_names_the_owner),
        cmocka_unit_test(test_create_error_names_the_base),
        cmocka_unit_test(test_remove_does_not_follow_symlinks),
        cmocka_unit_test(test_remove_bounds_depth),
        cmocka_unit_test(test_sweep_removes_only_dead_owners),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
