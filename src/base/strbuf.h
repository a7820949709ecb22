/* strbuf: a growable, always NUL-terminated byte string (and a whole file read into one).
 *
 * Owns its heap buffer `data` (NULL until the first append). `len` excludes the NUL.
 * Appends never truncate: allocation failure aborts the process (out of memory inside
 * the co-process is not recoverable in any useful way and must not be silent). */
#ifndef PYTESTMON_STRBUF_H
#define PYTESTMON_STRBUF_H

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

typedef struct {
    char *data;
    size_t len;
    size_t cap;
} StrBuf;

#define STRBUF_INIT {NULL, 0, 0}

void strbuf_init(StrBuf *sb);
void strbuf_destroy(StrBuf *sb);
void strbuf_reset(StrBuf *sb);                 /* len = 0, keeps capacity */
void strbuf_append(StrBuf *sb, const char *s, size_t n);
void strbuf_puts(StrBuf *sb, const char *s);
void strbuf_putc(StrBuf *sb, char c);
void strbuf_printf(StrBuf *sb, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void strbuf_vprintf(StrBuf *sb, const char *fmt, va_list ap);
const char *strbuf_cstr(const StrBuf *sb);     /* "" when empty; borrowed until next change */
char *strbuf_detach(StrBuf *sb);               /* caller owns the result (never NULL) */

/* Reads the whole file at `path` into sb (reset first; "" for an empty file), opened with
 * O_RDONLY | O_CLOEXEC | `open_flags` (e.g. O_NOFOLLOW). 0 or a negative errno. */
int strbuf_read_file(StrBuf *sb, const char *path, int open_flags);

/* Small allocation helpers that abort on failure instead of returning NULL. */
void *xmalloc(size_t n);
void *xcalloc(size_t n, size_t size);
void *xrealloc(void *p, size_t n);
char *xstrdup(const char *s);
char *xstrndup(const char *s, size_t n);

/* FNV-1a of a NUL-terminated string, for in-memory hash tables (never persisted). */
uint64_t str_hash(const char *s);

#endif
