/* logdir: safe log directory, O_NOFOLLOW opens, pruning of run logs across co-processes. */
#include "base/logdir.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/trust.h"

/* mkdir -p with mode 0700 for the parts it creates. */
static int make_dirs(const char *path)
{
    char *p = xstrdup(path);
    int rc = 0;
    for (char *c = p + 1;; c++) {
        if (*c != '/' && *c != '\0')
            continue;
        char saved = *c;
        *c = '\0';
        if (mkdir(p, 0700) != 0 && errno != EEXIST) {
            rc = -errno;
            break;
        }
        *c = saved;
        if (!saved)
            break;
    }
    free(p);
    return rc;
}

int logdir_prepare(const char *path, StrBuf *why)
{
    if (!path || !*path) {
        strbuf_puts(why, "log_dir is empty");
        return -EINVAL;
    }
    int rc = make_dirs(path);
    if (rc < 0) {
        strbuf_printf(why, "cannot create log_dir %s: %s", path, strerror(-rc));
        return rc;
    }
    struct stat st;
    if (lstat(path, &st) != 0) {
        rc = -errno;
        strbuf_printf(why, "cannot use log_dir %s: %s", path, strerror(-rc));
        return rc;
    }
    if (S_ISLNK(st.st_mode)) {
        /* The final component only: a symlinked parent is the user's own layout. */
        if (stat(path, &st) != 0 || !S_ISDIR(st.st_mode)) {
            strbuf_printf(why, "log_dir %s is a symlink to no directory", path);
            return -ENOTDIR;
        }
    }
    if (!S_ISDIR(st.st_mode)) {
        strbuf_printf(why, "log_dir %s is not a directory", path);
        return -ENOTDIR;
    }
    StrBuf reason = STRBUF_INIT;
    rc = trust_stat(&st, 0, &reason); /* yours alone: root's is no place for your logs either */
    if (rc < 0) {
        strbuf_printf(why, "log_dir %s is %s", path, strbuf_cstr(&reason));
        if (rc == -EACCES)
            strbuf_puts(why, "; chmod go-w it or choose another log_dir");
        strbuf_destroy(&reason);
        return -EPERM;
    }
    strbuf_destroy(&reason);
    return 0;
}

int logdir_open(const char *path, int flags, mode_t mode)
{
    int fd = open(path, flags | O_NOFOLLOW | O_CLOEXEC, mode);
    return fd >= 0 ? fd : -errno;
}

char *logdir_run_log_path(const char *dir, int pid, long long id)
{
    StrBuf sb = STRBUF_INIT;
    strbuf_printf(&sb, "%s/run-%d-%lld.log", dir, pid, id);
    return strbuf_detach(&sb);
}

typedef struct {
    char *name;
    int pid;
    struct timespec mtime;
} OutputLogFile;

/* The pid of "run-<pid>-<id>.log", or 0 when the name is not a run log's. */
static int run_log_pid(const char *name)
{
    int pid = 0, end = 0;
    long long id = 0;
    if (sscanf(name, "run-%d-%lld.log%n", &pid, &id, &end) != 2 || name[end] != '\0' || pid <= 0)
        return 0;
    return pid;
}

static int process_alive(int pid)
{
    return kill(pid, 0) == 0 || errno == EPERM;
}

static int older_first(const void *a, const void *b)
{
    const OutputLogFile *x = a, *y = b;
    if (x->mtime.tv_sec != y->mtime.tv_sec)
        return x->mtime.tv_sec < y->mtime.tv_sec ? -1 : 1;
    if (x->mtime.tv_nsec != y->mtime.tv_nsec)
        return x->mtime.tv_nsec < y->mtime.tv_nsec ? -1 : 1;
    return strcmp(x->name, y->name);
}

size_t logdir_prune_runs(const char *dir, int own_pid, size_t keep)
{
    int dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dfd < 0)
        return 0;
    DIR *d = fdopendir(dfd);
    if (!d) {
        close(dfd);
        return 0;
    }
    OutputLogFile *files = NULL;
    size_t n = 0, cap = 0, counted = 0, deleted = 0;
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        int pid = run_log_pid(e->d_name);
        struct stat st;
        if (!pid || fstatat(dfd, e->d_name, &st, AT_SYMLINK_NOFOLLOW) != 0 || !S_ISREG(st.st_mode))
            continue;
        if (pid != own_pid && process_alive(pid))
            continue; /* its owner prunes it */
        counted++;
        if (pid == own_pid)
            continue; /* the history owns these */
        if (n == cap) {
            cap = cap ? 2 * cap : 16;
            files = xrealloc(files, cap * sizeof *files);
        }
        files[n++] = (OutputLogFile){xstrdup(e->d_name), pid, st.st_mtim};
    }
    if (n > 1) /* qsort(NULL, 0) is undefined (UBSan) */
        qsort(files, n, sizeof *files, older_first);
    for (size_t i = 0; i < n; i++) {
        if (counted > keep && unlinkat(dfd, files[i].name, 0) == 0) {
            counted--;
            deleted++;
        }
        free(files[i].name);
    }
    free(files);
    closedir(d);
    return deleted;
}
