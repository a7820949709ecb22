/* trust: ownership and mode checks against other local users. See trust.h. */
#include "base/trust.h"

#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "base/path.h"

/* A symlink chain longer than this is refused (the kernel's own limit is 40). */
#define TRUST_MAX_LINKS 40

int trust_stat(const struct stat *st, unsigned flags, StrBuf *why)
{
    uid_t me = geteuid();
    if (st->st_uid != me && !((flags & TRUST_ROOT_OK) && st->st_uid == 0)) {
        if (flags & TRUST_ROOT_OK)
            strbuf_printf(why, "owned by uid %u (not you or root)", (unsigned)st->st_uid);
        else
            strbuf_printf(why, "owned by uid %u, not by you (uid %u)", (unsigned)st->st_uid, (unsigned)me);
        return -EPERM;
    }
    if (S_ISLNK(st->st_mode) || !(st->st_mode & (S_IWGRP | S_IWOTH)))
        return 0;
    if (S_ISDIR(st->st_mode) && (st->st_mode & S_ISVTX) && (flags & TRUST_STICKY_OK))
        return 0;
    strbuf_printf(why, "writable by %s (mode %04o)", (st->st_mode & S_IWOTH) ? "others" : "its group",
                  (unsigned)(st->st_mode & 07777));
    return -EACCES;
}

/* One path (stat, or lstat when !follow) against the rule; `what` NULL: the subject is the
 * path the caller names, so the clause has none. */
static int check_one(const char *p, bool follow, const char *what, struct stat *st, StrBuf *why)
{
    if ((follow ? stat(p, st) : lstat(p, st)) != 0) {
        int rc = -errno;
        strbuf_printf(why, "cannot stat %s: %s", p, strerror(-rc));
        return rc;
    }
    StrBuf reason = STRBUF_INIT;
    int rc = trust_stat(st, TRUST_ROOT_OK | (follow ? TRUST_STICKY_OK : 0), &reason);
    if (rc < 0) {
        if (what)
            strbuf_printf(why, "%s %s is %s", what, p, strbuf_cstr(&reason));
        else
            strbuf_puts(why, strbuf_cstr(&reason));
    }
    strbuf_destroy(&reason);
    return rc;
}

/* The lexical parent of an absolute, normalised path ("/" for "/x" and "/"). */
static char *parent_of(const char *p)
{
    const char *slash = strrchr(p, '/');
    if (!slash || slash == p)
        return xstrdup("/");
    return xstrndup(p, (size_t)(slash - p));
}

/* `dir` (absolute, normalised) and the directories above it up to `stop` (inclusive; NULL:
 * `dir` alone; "/" or a non-ancestor: up to "/"). */
static int check_dirs(const char *dir, const char *stop, StrBuf *why)
{
    char *d = xstrdup(dir);
    int rc = 0;
    for (;;) {
        struct stat st;
        rc = check_one(d, true, "directory", &st, why);
        if (rc < 0 || !stop || strcmp(d, stop) == 0 || strcmp(d, "/") == 0)
            break;
        char *up = parent_of(d);
        free(d);
        d = up;
    }
    free(d);
    return rc;
}

/* The real directory holding `p` (its parent resolved by realpath) and those above it. */
static int check_real_dirs(const char *p, StrBuf *why)
{
    char *parent = parent_of(p);
    char *real = realpath(parent, NULL);
    int rc = 0;
    if (!real) {
        rc = -errno;
        strbuf_printf(why, "cannot resolve %s: %s", parent, strerror(-rc));
    } else {
        rc = check_dirs(real, "/", why);
    }
    free(real);
    free(parent);
    return rc;
}

/* The target of symlink `p`; NULL with errno set. */
static char *read_link(const char *p)
{
    size_t cap = 256;
    for (;;) {
        char *buf = xmalloc(cap);
        ssize_t n = readlink(p, buf, cap);
        if (n < 0) {
            int e = errno;
            free(buf);
            errno = e;
            return NULL;
        }
        if ((size_t)n < cap) {
            buf[n] = '\0';
            return buf;
        }
        free(buf);
        cap *= 2;
    }
}

/* Where symlink `link` leads: *next, the absolute path of the next hop, its directory resolved
 * (a relative target counts from the real directory of the link, and the target's own
 * directories may be links, whose ".." is the kernel's: realpath() of the target's directory,
 * then its last name). 0, or a negative errno with the clause appended to `why`. */
static int next_hop(const char *link, char **next, StrBuf *why)
{
    StrBuf raw = STRBUF_INIT, sb = STRBUF_INIT;
    char *target = NULL, *parent = NULL, *real = NULL, *rawdir = NULL, *realdir = NULL;
    int rc = 0;
    target = read_link(link);
    if (!target) {
        rc = -errno;
        strbuf_printf(why, "cannot read link %s: %s", link, strerror(-rc));
        goto error;
    }
    if (target[0] == '/') {
        strbuf_puts(&raw, target);
    } else {
        parent = parent_of(link);
        real = realpath(parent, NULL);
        if (!real) {
            rc = -errno;
            strbuf_printf(why, "cannot resolve %s: %s", parent, strerror(-rc));
            goto error;
        }
        strbuf_printf(&raw, "%s/%s", real, target);
    }
    const char *r = strbuf_cstr(&raw);
    const char *slash = strrchr(r, '/');
    rawdir = slash == r ? xstrdup("/") : xstrndup(r, (size_t)(slash - r));
    realdir = realpath(rawdir, NULL);
    if (!realdir) {
        rc = -errno;
        strbuf_printf(why, "cannot resolve %s: %s", rawdir, strerror(-rc));
        goto error;
    }
    strbuf_printf(&sb, "%s/%s", strcmp(realdir, "/") == 0 ? "" : realdir, slash + 1);
    *next = path_normalize("/", strbuf_cstr(&sb));
error:
    strbuf_destroy(&sb);
    strbuf_destroy(&raw);
    free(realdir);
    free(rawdir);
    free(real);
    free(parent);
    free(target);
    return rc;
}

int trust_executable(const char *path, const char *top, StrBuf *why)
{
    char *cur = path_normalize("/", path);
    char *top_n = top ? path_normalize("/", top) : NULL;
    char *dir = parent_of(cur);
    struct stat st;
    int rc = check_one(cur, false, NULL, &st, why);
    if (rc < 0 || (rc = check_dirs(dir, top_n, why)) < 0)
        goto error;
    for (int hops = 0;; hops++) {
        if ((rc = check_real_dirs(cur, why)) < 0 || !S_ISLNK(st.st_mode))
            break;
        if (hops == TRUST_MAX_LINKS) {
            rc = -ELOOP;
            strbuf_printf(why, "more than %d symbolic links from %s", TRUST_MAX_LINKS, path);
            break;
        }
        char *next = NULL;
        if ((rc = next_hop(cur, &next, why)) < 0)
            break;
        free(cur);
        cur = next;
        if ((rc = check_one(cur, false, "link target", &st, why)) < 0)
            break;
    }
error:
    free(dir);
    free(top_n);
    free(cur);
    return rc;
}
