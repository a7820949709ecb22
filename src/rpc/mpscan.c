/* mpscan: the extent of msgpack objects from their headers. */
#include "rpc/mpscan.h"

#include <string.h>

void mpscan_init(MpScan *s, uint64_t max)
{
    memset(s, 0, sizeof *s);
    s->max = max;
}

uint64_t mpscan_declared(const MpScan *s)
{
    return s->size + s->skip + s->pending;
}

/* Bytes of the header that starts with `b` (first byte included); 0 for the invalid 0xc1. */
static unsigned header_len(unsigned char b)
{
    if (b <= 0xc0 || b >= 0xe0)
        return 1; /* fixint, fixmap, fixarray, fixstr, nil, negative fixint */
    switch (b) {
    case 0xc1: return 0;
    case 0xc4: case 0xc7: case 0xd9: return 2;           /* bin8, ext8 (+type below), str8 */
    case 0xc5: case 0xc8: case 0xda: case 0xdc: case 0xde: return 3; /* 16-bit lengths */
    case 0xc6: case 0xc9: case 0xdb: case 0xdd: case 0xdf: return 5; /* 32-bit lengths */
    default: return 1;                                   /* numbers, bool, fixext: fixed body */
    }
}

static uint64_t be(const unsigned char *p, unsigned n)
{
    uint64_t v = 0;
    for (unsigned i = 0; i < n; i++)
        v = (v << 8) | p[i];
    return v;
}

/* Applies a complete header: children to expect and body bytes to pass. */
static void apply_header(MpScan *s, const unsigned char *h, unsigned n)
{
    unsigned char b = h[0];
    uint64_t children = 0, body = 0;
    if (b >= 0x80 && b <= 0x8f)
        children = 2u * (b & 0x0f);
    else if (b >= 0x90 && b <= 0x9f)
        children = b & 0x0f;
    else if (b >= 0xa0 && b <= 0xbf)
        body = b & 0x1f;
    else if (b == 0xc4 || b == 0xc5 || b == 0xc6 || b == 0xd9 || b == 0xda || b == 0xdb)
        body = be(h + 1, n - 1);
    else if (b == 0xc7 || b == 0xc8 || b == 0xc9)
        body = be(h + 1, n - 1) + 1; /* the ext type byte, then the data */
    else if (b == 0xdc || b == 0xdd)
        children = be(h + 1, n - 1);
    else if (b == 0xde || b == 0xdf)
        children = 2 * be(h + 1, n - 1);
    else if (b == 0xca)
        body = 4;
    else if (b == 0xcb)
        body = 8;
    else if (b >= 0xcc && b <= 0xcf)
        body = 1u << (b - 0xcc);
    else if (b >= 0xd0 && b <= 0xd3)
        body = 1u << (b - 0xd0);
    else if (b >= 0xd4 && b <= 0xd8)
        body = 1 + (1u << (b - 0xd4)); /* fixext: type byte and 1..16 data bytes */
    s->pending += children;
    s->skip = body;
}

static MpScanResult finish(MpScan *s, MpScanResult r)
{
    uint64_t max = s->max;
    mpscan_init(s, max);
    return r;
}

MpScanResult mpscan_feed(MpScan *s, const unsigned char *data, size_t len, size_t *used)
{
    size_t i = 0;
    while (i < len) {
        if (s->skip) {
            uint64_t n = len - i < s->skip ? len - i : s->skip;
            s->skip -= n;
            s->size += n;
            i += (size_t)n;
            if (s->skip == 0 && s->pending == 0 && s->hdr_len == 0) {
                *used = i;
                return finish(s, MPSCAN_END);
            }
            continue;
        }
        if (s->hdr_len == 0) {
            if (s->size == 0)
                s->pending = 1; /* the top-level object itself */
            if (header_len(data[i]) == 0) {
                *used = i + 1;
                return finish(s, MPSCAN_INVALID);
            }
        }
        s->hdr[s->hdr_len++] = data[i++];
        s->size++;
        if (s->hdr_len < header_len(s->hdr[0]))
            continue;
        s->pending--;
        apply_header(s, s->hdr, s->hdr_len);
        s->hdr_len = 0;
        if (s->skip == 0 && s->pending == 0) {
            *used = i;
            return finish(s, MPSCAN_END);
        }
        if (!s->oversize && mpscan_declared(s) > s->max) {
            s->oversize = 1;
            *used = i;
            return MPSCAN_OVERSIZE;
        }
    }
    *used = i;
    return MPSCAN_MORE;
}

size_t mpscan_object_len(const unsigned char *data, size_t len)
{
    MpScan s;
    size_t used = 0;
    mpscan_init(&s, UINT64_MAX);
    return mpscan_feed(&s, data, len, &used) == MPSCAN_END ? used : 0;
}
