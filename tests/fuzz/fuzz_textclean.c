/* fuzz_textclean: the display-text cleaner (src/base/textclean.c).
 *
 * Input layout: byte 0 = flags (bit 0 TEXTCLEAN_KEEP_LF, bit 1 TEXTCLEAN_KEEP_CR) and, in its
 * upper bits, the cap for textclean_display() (0..63 bytes, 0 = none); the rest is the text,
 * handed over as an exact-size heap copy without NUL. Oracles: the result is no longer than the
 * input; it holds no byte that opens a control (C0 but TAB and the kept ones, DEL, a C1 control
 * in UTF-8); cleaning it again changes nothing; textclean_display() gives valid UTF-8 with the
 * same property, no longer than the cap plus the marker. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/textclean.h"

static void die(const char *what)
{
    fprintf(stderr, "fuzz_textclean: oracle failed: %s\n", what);
    abort();
}

static void check_clean(const unsigned char *s, size_t n, unsigned flags)
{
    for (size_t i = 0; i < n; i++) {
        unsigned char c = s[i];
        if (c == '\t' || (c == '\n' && (flags & TEXTCLEAN_KEEP_LF)) ||
            (c == '\r' && (flags & TEXTCLEAN_KEEP_CR)))
            continue;
        if (c < 0x20 || c == 0x7f)
            die("a control byte survived");
        if (c == 0xc2 && i + 1 < n && s[i + 1] >= 0x80 && s[i + 1] <= 0x9f)
            die("a C1 control survived");
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    unsigned flags = data[0] & 3u;
    size_t max = data[0] >> 2;
    size_t n = size - 1;
    char *buf = malloc(n ? n : 1);
    memcpy(buf, data + 1, n);
    size_t m = textclean(buf, n, flags);
    if (m > n)
        die("the result is longer than the input");
    check_clean((const unsigned char *)buf, m, flags);
    char *again = malloc(m ? m : 1);
    memcpy(again, buf, m);
    if (textclean(again, m, flags) != m || memcmp(again, buf, m) != 0)
        die("cleaning is not idempotent");
    free(again);
    free(buf);

    StrBuf sb = STRBUF_INIT;
    bool cut = textclean_display(&sb, (const char *)data + 1, n, flags, max);
    const unsigned char *d = (const unsigned char *)strbuf_cstr(&sb);
    if (strlen((const char *)d) != sb.len)
        die("a NUL in the display text");
    check_clean(d, sb.len, flags);
    if (max && sb.len > max + 48)
        die("the display text is longer than the cap and its marker");
    if (cut && (!max || strstr((const char *)d, " [... cut: ") == NULL))
        die("cut without its marker");
    for (size_t i = 0; i < sb.len;) { /* valid UTF-8 */
        unsigned char c = d[i];
        size_t k = c < 0x80 ? 1 : (c >> 5) == 6 ? 2 : (c >> 4) == 14 ? 3 : (c >> 3) == 30 ? 4 : 0;
        if (k == 0 || i + k > sb.len)
            die("invalid UTF-8 in the display text");
        for (size_t j = 1; j < k; j++)
            if ((d[i + j] & 0xc0) != 0x80)
                die("invalid UTF-8 continuation in the display text");
        i += k;
    }
    strbuf_destroy(&sb);
    return 0;
}
