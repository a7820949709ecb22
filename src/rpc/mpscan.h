/* mpscan: finds where one msgpack object ends in a byte stream by reading its headers only:
 * no allocation, no decoding, input in any split.
 *
 * The RPC layer uses it to know a message's extent before handing it to the decoder: how
 * large it declares itself (checked against a cap before anything is buffered beyond the
 * header that crosses it), where it ends (so an oversized or undecodable message is skipped
 * exactly, and the next message starts at the right byte), and which bytes can never start
 * a msgpack object (0xc1). Pure: the state is a small struct owned by the caller. */
#ifndef PYTESTMON_MPSCAN_H
#define PYTESTMON_MPSCAN_H

#include <stddef.h>
#include <stdint.h>

typedef struct {
    uint64_t max;        /* declared size above which MPSCAN_OVERSIZE is reported (once) */
    uint64_t pending;    /* objects still to start in the current top-level object */
    uint64_t skip;       /* body bytes of the current str/bin/ext/number still to pass */
    uint64_t size;       /* bytes of the current object consumed so far */
    int oversize;        /* MPSCAN_OVERSIZE was reported for the current object */
    unsigned hdr_len;    /* bytes of a header split across calls, in hdr[] */
    unsigned char hdr[5];
} MpScan;

typedef enum {
    MPSCAN_MORE,     /* all input consumed; the object continues */
    MPSCAN_END,      /* the object ended with the last byte consumed */
    MPSCAN_INVALID,  /* the last byte consumed cannot start an object; state is reset */
    MPSCAN_OVERSIZE, /* the header just consumed makes the object declare more than `max`
                      * bytes (each pending element counted as one); scanning goes on */
} MpScanResult;

/* Starts between objects; `max` as above (UINT64_MAX: no limit). */
void mpscan_init(MpScan *s, uint64_t max);
/* Consumes data[0..len) up to the first event; *used = bytes consumed (> 0 unless len == 0). */
MpScanResult mpscan_feed(MpScan *s, const unsigned char *data, size_t len, size_t *used);
/* The least number of bytes the current object will have (what it declared so far). */
uint64_t mpscan_declared(const MpScan *s);
/* Length of the one complete object at the start of data[0..len), or 0 when the bytes do not
 * start with one (incomplete or invalid). */
size_t mpscan_object_len(const unsigned char *data, size_t len);

#endif
