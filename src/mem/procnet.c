/* procnet: /proc/net/tcp{,6} rows and socket owners. See procnet.h. */
#include "mem/procnet.h"

#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "base/strbuf.h"
#include "mem/procmem.h"

void procnet_table_init(ProcNetTable *t)
{
    memset(t, 0, sizeof *t);
}

void procnet_table_destroy(ProcNetTable *t)
{
    free(t->rows);
    memset(t, 0, sizeof *t);
}

/* ---- the pure parser ------------------------------------------------------------ */

#define MAX_TOKENS 10 /* sl local remote st tx:rx tr:when retrnsmt uid timeout inode */

typedef struct {
    const char *p;
    size_t len;
} Tok;

static int hexval(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

/* `n` (1..16) hex digits as a number; false on a non-hex digit. */
static bool parse_hex(const char *p, size_t n, uint64_t *out)
{
    if (n == 0 || n > 16)
        return false;
    uint64_t v = 0;
    for (size_t i = 0; i < n; i++) {
        int h = hexval(p[i]);
        if (h < 0)
            return false;
        v = v << 4 | (uint64_t)h;
    }
    *out = v;
    return true;
}

static bool parse_dec(Tok t, uint64_t max, uint64_t *out)
{
    if (t.len == 0 || t.len > 20)
        return false;
    uint64_t v = 0;
    for (size_t i = 0; i < t.len; i++) {
        if (t.p[i] < '0' || t.p[i] > '9')
            return false;
        uint64_t d = (uint64_t)(t.p[i] - '0');
        if (v > (max - d) / 10)
            return false;
        v = v * 10 + d;
    }
    *out = v;
    return true;
}

/* "0100007F:1F90" (IPv4) or 32 hex digits ":" port (IPv6). The kernel prints each 32-bit
 * word of the address as the host's integer (%08X of the __be32), so on this host its
 * memory bytes are the address's network bytes again. */
static bool parse_end(Tok t, ProcNetEnd *out)
{
    const char *colon = memchr(t.p, ':', t.len);
    if (!colon)
        return false;
    size_t alen = (size_t)(colon - t.p), plen = t.len - alen - 1;
    uint64_t port;
    if (plen != 4 || !parse_hex(colon + 1, plen, &port))
        return false;
    memset(out, 0, sizeof *out);
    out->port = (uint16_t)port;
    if (alen == 8) {
        uint64_t w;
        if (!parse_hex(t.p, 8, &w))
            return false;
        uint32_t word = (uint32_t)w;
        out->addr[10] = out->addr[11] = 0xff; /* ::ffff:a.b.c.d */
        memcpy(out->addr + 12, &word, 4);
        return true;
    }
    if (alen == 32) {
        for (int i = 0; i < 4; i++) {
            uint64_t w;
            if (!parse_hex(t.p + 8 * i, 8, &w))
                return false;
            uint32_t word = (uint32_t)w;
            memcpy(out->addr + 4 * i, &word, 4);
        }
        return true;
    }
    return false;
}

static bool parse_row(const Tok *tok, size_t ntok, ProcNetRow *row)
{
    uint64_t st, uid, inode;
    if (ntok < MAX_TOKENS || tok[0].len < 2 || tok[0].p[tok[0].len - 1] != ':')
        return false;
    if (!parse_end(tok[1], &row->local) || !parse_end(tok[2], &row->remote))
        return false;
    if (tok[3].len != 2 || !parse_hex(tok[3].p, 2, &st))
        return false;
    if (!parse_dec(tok[7], UINT32_MAX, &uid) || !parse_dec(tok[9], UINT64_MAX, &inode))
        return false;
    row->state = (int)st;
    row->uid = (uint32_t)uid;
    row->inode = inode;
    return true;
}

size_t procnet_parse_tcp(const char *text, size_t len, ProcNetTable *t)
{
    size_t added = 0;
    for (size_t at = 0; at < len;) {
        const char *line = text + at;
        const char *nl = memchr(line, '\n', len - at);
        size_t llen = nl ? (size_t)(nl - line) : len - at;
        at += llen + (nl ? 1 : 0);
        Tok tok[MAX_TOKENS];
        size_t ntok = 0;
        for (size_t i = 0; i < llen && ntok < MAX_TOKENS;) {
            while (i < llen && (line[i] == ' ' || line[i] == '\t' || line[i] == '\r'))
                i++;
            size_t start = i;
            while (i < llen && line[i] != ' ' && line[i] != '\t' && line[i] != '\r')
                i++;
            if (i > start)
                tok[ntok++] = (Tok){line + start, i - start};
        }
        if (ntok == 0 || (tok[0].len == 2 && memcmp(tok[0].p, "sl", 2) == 0))
            continue; /* blank, or the header */
        ProcNetRow row;
        if (!parse_row(tok, ntok, &row)) {
            t->bad++;
            continue;
        }
        if (t->n == t->cap) {
            t->cap = t->cap ? 2 * t->cap : 16;
            t->rows = xrealloc(t->rows, t->cap * sizeof *t->rows);
        }
        t->rows[t->n++] = row;
        added++;
    }
    return added;
}

static bool end_equal(const ProcNetEnd *a, const ProcNetEnd *b)
{
    return a->port == b->port && memcmp(a->addr, b->addr, sizeof a->addr) == 0;
}

const ProcNetRow *procnet_find(const ProcNetTable *t, const ProcNetEnd *local, const ProcNetEnd *remote)
{
    for (size_t i = 0; i < t->n; i++)
        if (end_equal(&t->rows[i].local, local) && end_equal(&t->rows[i].remote, remote))
            return &t->rows[i];
    return NULL;
}

int procnet_end_of(const struct sockaddr *sa, ProcNetEnd *out)
{
    memset(out, 0, sizeof *out);
    if (sa->sa_family == AF_INET) {
        const struct sockaddr_in *in = (const struct sockaddr_in *)sa;
        out->addr[10] = out->addr[11] = 0xff;
        memcpy(out->addr + 12, &in->sin_addr, 4);
        out->port = ntohs(in->sin_port);
        return 0;
    }
    if (sa->sa_family == AF_INET6) {
        const struct sockaddr_in6 *in6 = (const struct sockaddr_in6 *)sa;
        memcpy(out->addr, &in6->sin6_addr, 16);
        out->port = ntohs(in6->sin6_port);
        return 0;
    }
    return -EAFNOSUPPORT;
}

/* ---- readers -------------------------------------------------------------------- */

int procnet_peer_row(const char *root, const struct sockaddr *ours_local, const struct sockaddr *ours_remote,
                     ProcNetRow *out)
{
    ProcNetEnd local, remote;
    int rc = procnet_end_of(ours_local, &local);
    if (rc == 0)
        rc = procnet_end_of(ours_remote, &remote);
    if (rc < 0)
        return rc;
    ProcNetTable t;
    procnet_table_init(&t);
    StrBuf path = STRBUF_INIT, text = STRBUF_INIT;
    static const char *const files[] = {"tcp", "tcp6"};
    for (size_t i = 0; i < sizeof files / sizeof files[0]; i++) {
        procmem_path(&path, root, "/proc/net/%s", files[i]);
        rc = procmem_read_file(strbuf_cstr(&path), &text);
        if (rc == -ENOENT && i > 0)
            continue; /* no IPv6 on this host */
        if (rc < 0)
            goto error;
        procnet_parse_tcp(text.data ? text.data : "", text.len, &t);
    }
    /* The peer's socket: its local end is our remote end, and the reverse. */
    const ProcNetRow *row = procnet_find(&t, &remote, &local);
    rc = row ? 0 : -ENOENT;
    if (row)
        *out = *row;
error:
    procnet_table_destroy(&t);
    strbuf_destroy(&path);
    strbuf_destroy(&text);
    return rc;
}

int procnet_pid_has_socket(const char *root, int pid, uint64_t inode)
{
    StrBuf dir = STRBUF_INIT, link = STRBUF_INIT, want = STRBUF_INIT;
    procmem_path(&dir, root, "/proc/%d/fd", pid);
    strbuf_printf(&want, "socket:[%llu]", (unsigned long long)inode);
    int found = 0;
    DIR *d = opendir(strbuf_cstr(&dir));
    if (!d) {
        found = -errno;
        goto error;
    }
    char target[64]; /* "socket:[" + 20 digits + "]": a longer link is no socket */
    struct dirent *e;
    while (!found && (e = readdir(d)) != NULL) {
        if (e->d_name[0] == '.')
            continue;
        strbuf_reset(&link);
        strbuf_printf(&link, "%s/%s", strbuf_cstr(&dir), e->d_name);
        ssize_t n = readlink(strbuf_cstr(&link), target, sizeof target);
        if (n <= 0 || (size_t)n >= sizeof target)
            continue; /* closed meanwhile, or a path: not a socket */
        found = (size_t)n == want.len && memcmp(target, want.data, want.len) == 0;
    }
    closedir(d);
error:
    strbuf_destroy(&dir);
    strbuf_destroy(&link);
    strbuf_destroy(&want);
    return found;
}
