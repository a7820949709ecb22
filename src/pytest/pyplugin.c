/* pyplugin: locating our pytest plugin and the environment that loads it. See pyplugin.h. */
#include "pytest/pyplugin.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/strbuf.h"

#define PYPLUGIN_PACKAGE "pytestmon_hooks"

static bool has_plugin(const char *dir)
{
    StrBuf p = STRBUF_INIT;
    strbuf_printf(&p, "%s/" PYPLUGIN_MODULE ".py", dir);
    struct stat st;
    bool ok = stat(strbuf_cstr(&p), &st) == 0 && S_ISREG(st.st_mode);
    strbuf_destroy(&p);
    return ok;
}

char *pyplugin_find_dir(void)
{
    const char *env = getenv("PYTESTMON_PYDIR");
    if (env && *env)
        return has_plugin(env) ? xstrdup(env) : NULL;
    char *exe = realpath("/proc/self/exe", NULL);
    if (!exe)
        return NULL;
    char *found = NULL;
    StrBuf cand = STRBUF_INIT;
    for (int up = 0; up < 4 && !found; up++) {
        char *slash = strrchr(exe, '/');
        if (!slash || slash == exe)
            break;
        *slash = '\0'; /* exe is now the directory `up` levels above the binary */
        strbuf_reset(&cand);
        strbuf_printf(&cand, "%s/python", exe);
        if (has_plugin(strbuf_cstr(&cand)))
            found = strbuf_detach(&cand);
    }
    strbuf_destroy(&cand);
    free(exe);
    return found;
}

static int write_all(int fd, const char *buf, size_t len);

static int copy_file(const char *from, const char *to)
{
    StrBuf data = STRBUF_INIT;
    int rc = strbuf_read_file(&data, from, 0);
    if (rc < 0)
        goto error;
    int fd = open(to, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0600);
    if (fd < 0) {
        rc = -errno;
        goto error;
    }
    rc = write_all(fd, data.data, data.len);
    if (close(fd) != 0 && rc == 0)
        rc = -errno;
error:
    strbuf_destroy(&data);
    return rc;
}

/* Copies every .py file of directory `from` into `to` (made 0700). */
static int copy_py_files(const char *from, const char *to)
{
    if (mkdir(to, 0700) != 0)
        return -errno;
    DIR *d = opendir(from);
    if (!d)
        return -errno;
    int rc = 0;
    StrBuf a = STRBUF_INIT, b = STRBUF_INIT;
    struct dirent *e;
    while (rc == 0 && (e = readdir(d))) {
        size_t n = strlen(e->d_name);
        if (n < 4 || strcmp(e->d_name + n - 3, ".py") != 0)
            continue;
        strbuf_reset(&a);
        strbuf_reset(&b);
        strbuf_printf(&a, "%s/%s", from, e->d_name);
        strbuf_printf(&b, "%s/%s", to, e->d_name);
        rc = copy_file(strbuf_cstr(&a), strbuf_cstr(&b));
    }
    closedir(d);
    strbuf_destroy(&a);
    strbuf_destroy(&b);
    return rc;
}

char *pyplugin_copy(const char *dir, const char *dest)
{
    StrBuf out = STRBUF_INIT, from = STRBUF_INIT, to = STRBUF_INIT;
    strbuf_printf(&out, "%s/py", dest);
    strbuf_printf(&from, "%s/" PYPLUGIN_PACKAGE, dir);
    strbuf_printf(&to, "%s/" PYPLUGIN_PACKAGE, strbuf_cstr(&out));
    int rc = copy_py_files(dir, strbuf_cstr(&out));
    if (rc == 0)
        rc = copy_py_files(strbuf_cstr(&from), strbuf_cstr(&to));
    strbuf_destroy(&from);
    strbuf_destroy(&to);
    if (rc < 0) {
        strbuf_destroy(&out);
        return NULL;
    }
    return strbuf_detach(&out);
}

/* Index of NAME= in env, or -1. */
static long find_var(char **env, const char *name)
{
    size_t n = strlen(name);
    for (long i = 0; env[i]; i++)
        if (strncmp(env[i], name, n) == 0 && env[i][n] == '=')
            return i;
    return -1;
}

static char **set_var(char **env, const char *name, char *entry)
{
    long at = find_var(env, name);
    if (at >= 0) {
        free(env[at]);
        env[at] = entry;
        return env;
    }
    size_t n = 0;
    while (env[n])
        n++;
    env = xrealloc(env, (n + 2) * sizeof *env);
    env[n] = entry;
    env[n + 1] = NULL;
    return env;
}

char **pyplugin_env(char **env, const char *dir, const char *report)
{
    StrBuf sb = STRBUF_INIT;
    long at = find_var(env, "PYTHONPATH");
    const char *old = at >= 0 ? env[at] + strlen("PYTHONPATH=") : "";
    strbuf_printf(&sb, "PYTHONPATH=%s%s%s", dir, *old ? ":" : "", old);
    env = set_var(env, "PYTHONPATH", strbuf_detach(&sb));
    if (!report)
        return env;
    strbuf_printf(&sb, "PYTESTMON_REPORT=%s", report);
    return set_var(env, "PYTESTMON_REPORT", strbuf_detach(&sb));
}

char **pyplugin_collect_env(char **env, const char *path)
{
    StrBuf sb = STRBUF_INIT;
    strbuf_printf(&sb, "PYTESTMON_COLLECT=%s", path);
    return set_var(env, "PYTESTMON_COLLECT", strbuf_detach(&sb));
}

char **pyplugin_coverage_env(char **env, const char *path)
{
    StrBuf sb = STRBUF_INIT;
    strbuf_printf(&sb, "PYTESTMON_COVERAGE=%s", path);
    return set_var(env, "PYTESTMON_COVERAGE", strbuf_detach(&sb));
}

char **pyplugin_named_env(char **env, const char *name, const char *value)
{
    StrBuf sb = STRBUF_INIT;
    strbuf_printf(&sb, "%s=%s", name, value);
    return set_var(env, name, strbuf_detach(&sb));
}

char **pyplugin_args_env(char **env, const char *path)
{
    StrBuf sb = STRBUF_INIT;
    strbuf_printf(&sb, "PYTESTMON_ARGS=%s", path);
    return set_var(env, "PYTESTMON_ARGS", strbuf_detach(&sb));
}

/* Writes all of buf to fd: 0 or -errno. */
static int write_all(int fd, const char *buf, size_t len)
{
    while (len > 0) {
        ssize_t n = write(fd, buf, len);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            return -errno;
        buf += n, len -= (size_t)n;
    }
    return 0;
}

int pyplugin_spill_args(char **args, const char *path)
{
    StrBuf file = STRBUF_INIT, mark = STRBUF_INIT;
    size_t total = 0, n = 0;
    char **marks = NULL; /* the placeholder of args[i], or NULL */
    size_t nargs = 0;
    while (args[nargs])
        nargs++;
    marks = xcalloc(nargs + 1, sizeof *marks);
    for (size_t i = 0; i < nargs; i++) {
        size_t len = strlen(args[i]);
        if (len <= PYPLUGIN_ARG_MAX && total + len <= PYPLUGIN_ARGS_MAX) {
            total += len;
            continue;
        }
        const char *sep = strstr(args[i], "::");
        strbuf_reset(&mark);
        if (sep && sep > args[i] && (size_t)(sep - args[i]) < 4096 && args[i][0] != '-')
            strbuf_append(&mark, args[i], (size_t)(sep - args[i]) + 2);
        strbuf_printf(&mark, "@pytestmon-arg-%zu", n++);
        strbuf_append(&file, mark.data, mark.len + 1); /* with its NUL */
        strbuf_append(&file, args[i], len + 1);
        marks[i] = strbuf_detach(&mark);
        total += strlen(marks[i]);
    }
    int rc = 0;
    if (n > 0) {
        int fd;
        do {
            fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0600);
        } while (fd < 0 && errno == EINTR);
        rc = fd < 0 ? -errno : write_all(fd, file.data, file.len);
        if (fd >= 0 && close(fd) != 0 && rc == 0)
            rc = -errno;
    }
    for (size_t i = 0; i < nargs; i++) {
        if (!marks[i])
            continue;
        if (rc == 0) {
            free(args[i]);
            args[i] = marks[i];
        } else {
            free(marks[i]);
        }
    }
    free(marks);
    strbuf_destroy(&file);
    strbuf_destroy(&mark);
    return rc < 0 ? rc : (int)n;
}

bool pyplugin_interpreter_honours_pythonpath(const char *path)
{
    char *real = path ? realpath(path, NULL) : NULL;
    if (!real)
        return false;
    const char *base = strrchr(real, '/');
    base = base ? base + 1 : real;
    bool named = strncmp(base, "python3", 7) == 0 || strncmp(base, "pypy3", 5) == 0;
    char magic[4] = {0};
    int fd = named ? open(real, O_RDONLY | O_CLOEXEC) : -1;
    bool elf = false;
    if (fd >= 0) {
        ssize_t n;
        do {
            n = read(fd, magic, sizeof magic);
        } while (n < 0 && errno == EINTR);
        elf = n == (ssize_t)sizeof magic && memcmp(magic, "\177ELF", 4) == 0;
        close(fd);
    }
    free(real);
    return elf;
}
