/* Unit tests for logdir (safe directory, O_NOFOLLOW opens, pruning across co-processes),
 * outputlog (bounded head + tail) and memlog shared by two writing processes. */
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>
#include <jansson.h>

#include "base/logdir.h"
#include "mem/memlog.h"
#include "pytest/outputlog.h"
#include "base/strbuf.h"
#include "testutil.h"

static char dir[TMP_PATH_MAX];

static int setup(void **state)
{
    (void)state;
    tmp_template(dir, "pytestmon-logdir");
    assert_non_null(mkdtemp(dir));
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    StrBuf cmd = STRBUF_INIT;
    strbuf_printf(&cmd, "rm -rf '%s'", dir);
    assert_int_equal(system(strbuf_cstr(&cmd)), 0);
    strbuf_destroy(&cmd);
    return 0;
}

static char *in_dir(const char *name)
{
    StrBuf sb = STRBUF_INIT;
    strbuf_printf(&sb, "%s/%s", dir, name);
    return strbuf_detach(&sb);
}

static char *slurp(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    assert_non_null(f);
    StrBuf sb = STRBUF_INIT;
    char buf[4096];
    size_t n;
    while ((n = fread(buf, 1, sizeof buf, f)) > 0)
        strbuf_append(&sb, buf, n);
    fclose(f);
    *len = sb.len;
    return strbuf_detach(&sb);
}

static void test_prepare_creates_private_dirs(void **state)
{
    (void)state;
    mode_t old = umask(0);
    char *p = in_dir("a/b/logs");
    StrBuf why = STRBUF_INIT;
    assert_int_equal(logdir_prepare(p, &why), 0);
    assert_int_equal(why.len, 0);
    struct stat st;
    assert_int_equal(stat(p, &st), 0);
    assert_int_equal(st.st_mode & 0777, 0700);
    char *parent = in_dir("a");
    assert_int_equal(stat(parent, &st), 0);
    assert_int_equal(st.st_mode & 0777, 0700);
    umask(old);
    free(parent);
    free(p);
    strbuf_destroy(&why);
}

static void test_prepare_refuses_unsafe_dirs(void **state)
{
    (void)state;
    StrBuf why = STRBUF_INIT;
    assert_int_equal(logdir_prepare("", &why), -EINVAL);
    assert_non_null(strstr(strbuf_cstr(&why), "empty"));

    char *shared = in_dir("shared");
    assert_int_equal(mkdir(shared, 0700), 0);
    assert_int_equal(chmod(shared, 01777), 0);
    strbuf_reset(&why);
    assert_int_equal(logdir_prepare(shared, &why), -EPERM);
    assert_non_null(strstr(strbuf_cstr(&why), "writable by others"));
    assert_int_equal(chmod(shared, 0770), 0);
    strbuf_reset(&why);
    assert_int_equal(logdir_prepare(shared, &why), -EPERM);
    assert_non_null(strstr(strbuf_cstr(&why), "writable by its group"));
    assert_int_equal(chmod(shared, 0755), 0);
    strbuf_reset(&why);
    assert_int_equal(logdir_prepare(shared, &why), 0);

    char *file = in_dir("plain");
    close(open(file, O_CREAT | O_WRONLY, 0600));
    strbuf_reset(&why);
    assert_int_equal(logdir_prepare(file, &why), -ENOTDIR);

    if (geteuid() == 0) { /* another user's directory: only root can make one here */
        char *theirs = in_dir("theirs");
        assert_int_equal(mkdir(theirs, 0700), 0);
        assert_int_equal(chown(theirs, 65534, 65534), 0);
        strbuf_reset(&why);
        assert_int_equal(logdir_prepare(theirs, &why), -EPERM);
        assert_non_null(strstr(strbuf_cstr(&why), "owned by uid 65534"));
        free(theirs);
    }
    free(file);
    free(shared);
    strbuf_destroy(&why);
}

/* A symlink planted under a log's name is refused, and its target is left alone. */
static void test_planted_symlink_is_not_followed(void **state)
{
    (void)state;
    char *target = in_dir("precious");
    char *log_path = in_dir("run-1-1.log");
    FILE *f = fopen(target, "w");
    fputs("keep me", f);
    fclose(f);
    assert_int_equal(symlink(target, log_path), 0);
    OutputLog log;
    assert_int_equal(outputlog_open(&log, log_path, 100, 100), -ELOOP);
    assert_non_null(strstr(log.error, "cannot open"));
    outputlog_write(&log, "x", 1);
    outputlog_finish(&log);
    outputlog_destroy(&log);
    size_t len;
    char *text = slurp(target, &len);
    assert_string_equal(text, "keep me");
    free(text);

    char *mem = in_dir("memory.jsonl");
    assert_int_equal(symlink(target, mem), 0);
    MemLog ml;
    memlog_init(&ml, 0);
    assert_int_equal(memlog_open(&ml, mem), -ELOOP);
    memlog_destroy(&ml);
    free(mem);
    free(log_path);
    free(target);
}

static void write_with_mtime(const char *name, time_t mtime)
{
    char *p = in_dir(name);
    FILE *f = fopen(p, "w");
    assert_non_null(f);
    fputs("log\n", f);
    fclose(f);
    struct timeval tv[2] = {{mtime, 0}, {mtime, 0}};
    assert_int_equal(utimes(p, tv), 0);
    free(p);
}

static int exists(const char *name)
{
    char *p = in_dir(name);
    int ok = access(p, F_OK) == 0;
    free(p);
    return ok;
}

/* A pid that was ours and is gone (reaped). */
static int dead_pid(void)
{
    pid_t pid = fork();
    if (pid == 0)
        _exit(0);
    assert_true(pid > 0);
    assert_int_equal(waitpid(pid, NULL, 0), pid);
    return (int)pid;
}

static void test_prune_keeps_own_and_live_logs(void **state)
{
    (void)state;
    int me = (int)getpid(), live = (int)getppid(), dead = dead_pid();
    char name[96];
    for (int i = 1; i <= 4; i++) { /* dead co-process: runs 1..4, oldest first */
        snprintf(name, sizeof name, "run-%d-%d.log", dead, i);
        write_with_mtime(name, 1000000 + i);
    }
    snprintf(name, sizeof name, "run-%d-1.log", me);
    write_with_mtime(name, 1000000); /* ours, oldest of all: never pruned here */
    snprintf(name, sizeof name, "run-%d-7.log", live);
    write_with_mtime(name, 1000000); /* another live co-process's: its owner prunes it */
    write_with_mtime("run-notes.txt", 1000000);
    char *target = in_dir("run-notes.txt");
    char *link = in_dir("run-999999-1.log");
    assert_int_equal(symlink(target, link), 0); /* not a regular file: left alone */

    assert_int_equal(logdir_prune_runs(dir, me, 3), 2);
    snprintf(name, sizeof name, "run-%d-1.log", dead);
    assert_false(exists(name));
    snprintf(name, sizeof name, "run-%d-2.log", dead);
    assert_false(exists(name));
    snprintf(name, sizeof name, "run-%d-3.log", dead);
    assert_true(exists(name));
    snprintf(name, sizeof name, "run-%d-4.log", dead);
    assert_true(exists(name));
    snprintf(name, sizeof name, "run-%d-1.log", me);
    assert_true(exists(name));
    snprintf(name, sizeof name, "run-%d-7.log", live);
    assert_true(exists(name));
    assert_true(exists("run-notes.txt"));
    assert_true(exists("run-999999-1.log"));
    assert_int_equal(logdir_prune_runs(dir, me, 0), 2);
    snprintf(name, sizeof name, "run-%d-1.log", me);
    assert_true(exists(name));
    free(link);
    free(target);
}

/* Writes `total` bytes, byte i being 'a' + i % 26, in chunks of `chunk`. */
static void write_pattern(OutputLog *log, size_t total, size_t chunk)
{
    char *buf = xmalloc(chunk);
    for (size_t off = 0; off < total; off += chunk) {
        size_t n = total - off < chunk ? total - off : chunk;
        for (size_t i = 0; i < n; i++)
            buf[i] = (char)('a' + (off + i) % 26);
        outputlog_write(log, buf, n);
    }
    free(buf);
}

static void check_bytes(const char *p, size_t n, size_t first)
{
    for (size_t i = 0; i < n; i++)
        if (p[i] != (char)('a' + (first + i) % 26))
            fail_msg("byte %zu is %c, want %c", first + i, p[i], 'a' + (int)((first + i) % 26));
}

static void check_capped_log(size_t total, size_t chunk, size_t head, size_t tail)
{
    char *path = in_dir("run-1-2.log");
    OutputLog log;
    assert_int_equal(outputlog_open(&log, path, head, tail), 0);
    write_pattern(&log, total, chunk);
    outputlog_finish(&log);
    outputlog_finish(&log); /* idempotent */
    assert_null(log.error);
    outputlog_destroy(&log);
    size_t len;
    char *text = slurp(path, &len);
    if (total <= head) {
        assert_int_equal(len, total);
        check_bytes(text, total, 0);
    } else {
        size_t kept = total - head < tail ? total - head : tail;
        check_bytes(text, head, 0);
        const char *nl = memchr(text + head + 1, '\n', len - head - 1);
        assert_non_null(nl);
        char want[200];
        snprintf(want, sizeof want, "\n[pytestmon: %zu bytes of output cut here; this log keeps the first %zu and the last %zu of %zu bytes]",
                 total - head - kept, head, kept, total);
        assert_memory_equal(text + head, want, strlen(want));
        size_t rest = len - (size_t)(nl + 1 - text);
        assert_int_equal(rest, kept);
        check_bytes(nl + 1, kept, total - kept);
    }
    free(text);
    free(path);
}

static void test_run_log_keeps_head_and_tail(void **state)
{
    (void)state;
    check_capped_log(50, 7, 100, 40);        /* under the cap: untouched */
    check_capped_log(100, 10, 100, 40);      /* exactly the head */
    check_capped_log(120, 7, 100, 40);       /* ring not full yet */
    check_capped_log(140, 10, 100, 40);      /* ring exactly full */
    check_capped_log(1000, 7, 100, 40);      /* ring wrapped many times */
    check_capped_log(1000, 333, 100, 40);    /* chunks larger than the ring */
    check_capped_log(100000, 4096, 1000, 3000);
}

/* A full disk switches the log off with the reason; nothing else breaks. */
static void test_full_disk_switches_the_log_off(void **state)
{
    (void)state;
    OutputLog log;
    assert_int_equal(outputlog_open(&log, "/dev/full", 100, 100), 0);
    outputlog_write(&log, "abc", 3);
    assert_non_null(log.error);
    assert_non_null(strstr(log.error, "No space left on device"));
    outputlog_write(&log, "abc", 3);
    outputlog_finish(&log);
    outputlog_destroy(&log);
}

static void test_no_log_path_writes_nothing(void **state)
{
    (void)state;
    OutputLog log;
    assert_int_equal(outputlog_open(&log, NULL, 10, 10), 0);
    outputlog_write(&log, "abc", 3);
    outputlog_finish(&log);
    assert_null(log.error);
    outputlog_destroy(&log);
}

/* Two co-processes append to one memory log with a small cap: every line is whole JSON,
 * both generations stay within the shared cap, and nothing is lost into a generation that was
 * already dropped. */
#define RECORDS 3000
static void writer(const char *path, int who, int start_fd)
{
    char go;
    if (read(start_fd, &go, 1) != 0) /* both start together: EOF when the parent lets go */
        _exit(4);
    MemLog log;
    memlog_init(&log, 2000);
    if (memlog_open(&log, path) != 0)
        _exit(2);
    for (int i = 0; i < RECORDS; i++) {
        json_t *rec = json_pack("{s:i, s:i, s:s}", "who", who, "seq", i, "pad", "xxxxxxxxxxxxxxxxxxxx");
        if (memlog_append(&log, rec) != 0)
            _exit(3);
        json_decref(rec);
    }
    memlog_destroy(&log);
    _exit(0);
}

static void collect(const char *path, int last[2], int first[2], int *count)
{
    size_t len;
    char *text = slurp(path, &len);
    assert_true(len <= 2000);
    char *save = NULL;
    for (char *line = strtok_r(text, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
        json_error_t e;
        json_t *rec = json_loads(line, 0, &e);
        if (!rec)
            fail_msg("corrupt line in %s: %s", path, line);
        int who = (int)json_integer_value(json_object_get(rec, "who"));
        int seq = (int)json_integer_value(json_object_get(rec, "seq"));
        assert_true(who == 0 || who == 1);
        if (first[who] < 0 || seq < first[who])
            first[who] = seq;
        if (seq > last[who])
            last[who] = seq;
        count[who]++;
        json_decref(rec);
    }
    free(text);
}

static void test_two_writers_share_the_memory_log(void **state)
{
    (void)state;
    char *path = in_dir("memory.jsonl");
    char *old = in_dir("memory.jsonl.1");
    pid_t kids[2];
    int start[2];
    assert_int_equal(pipe(start), 0);
    for (int w = 0; w < 2; w++) {
        kids[w] = fork();
        if (kids[w] == 0) {
            close(start[1]);
            writer(path, w, start[0]);
        }
    }
    close(start[0]);
    close(start[1]);
    for (int w = 0; w < 2; w++) {
        int st = 0;
        assert_int_equal(waitpid(kids[w], &st, 0), kids[w]);
        assert_true(WIFEXITED(st) && WEXITSTATUS(st) == 0);
    }
    int last[2] = {-1, -1}, first[2] = {-1, -1}, count[2] = {0, 0};
    collect(old, last, first, count);
    collect(path, last, first, count);
    /* What is kept is the newest stretch of all writes: a writer with any record kept has its
     * last one kept and no gap before it (a writer that finished early may have none left). */
    assert_true(count[0] + count[1] > 0);
    for (int w = 0; w < 2; w++) {
        if (count[w] == 0)
            continue;
        assert_int_equal(last[w], RECORDS - 1);
        assert_int_equal(count[w], last[w] - first[w] + 1);
    }
    free(old);
    free(path);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_prepare_creates_private_dirs, setup, teardown),
        cmocka_unit_test_setup_teardown(test_prepare_refuses_unsafe_dirs, setup, teardown),
        cmocka_unit_test_setup_teardown(test_planted_symlink_is_not_followed, setup, teardown),
        cmocka_unit_test_setup_teardown(test_prune_keeps_own_and_live_logs, setup, teardown),
        cmocka_unit_test_setup_teardown(test_run_log_keeps_head_and_tail, setup, teardown),
        cmocka_unit_test_setup_teardown(test_full_disk_switches_the_log_off, setup, teardown),
        cmocka_unit_test_setup_teardown(test_no_log_path_writes_nothing, setup, teardown),
        cmocka_unit_test_setup_teardown(test_two_writers_share_the_memory_log, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
