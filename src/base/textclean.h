/* textclean: makes text that came from pytest and the tests safe to show, on a terminal (the
 * CLI's output) and in the editor (quickfix text, diagnostics, notifications, status line).
 *
 * A test message can hold terminal control sequences that set the window title (OSC 0), write
 * the clipboard (OSC 52), send device control strings, move the cursor or overprint (CR, BS).
 * textclean removes:
 *   - every escape sequence: CSI (ESC [ params intermediates final), the control strings OSC
 *     (ESC ]), DCS (ESC P), SOS (ESC X), PM (ESC ^) and APC (ESC _) up to their ST (ESC \),
 *     BEL (ends an OSC), CAN or SUB, nF sequences (ESC intermediates final) and the
 *     single-character ones (ESC 7, ESC c, ...); the C1 forms of all of them (U+0080..U+009F
 *     written in UTF-8, e.g. U+009B for CSI, U+009D for OSC);
 *   - every other C0 control but TAB (LF and CR only when the caller keeps them), and DEL;
 *   - a 0xC2 byte not followed by 0xA0..0xBF (invalid UTF-8 there): removing a sequence must
 *     never join it with a later 0x80..0x9F into a C1 control.
 * A sequence cut off by the end of the buffer (unterminated, or split across two buffers) is
 * removed up to the end: no byte of it is shown. A broken CSI (a byte outside its grammar)
 * ends before that byte, which is then cleaned like any other.
 *
 * Pure functions over a buffer; nothing is owned. The line parsers (progress.c, summary.c)
 * clean each line with termline_clean() (parse/termline.h: textclean() and tty redraws) before
 * they parse it; text sent to the editor or printed
 * goes through textclean_display(). */
#ifndef PYTESTMON_TEXTCLEAN_H
#define PYTESTMON_TEXTCLEAN_H

#include <stdbool.h>
#include <stddef.h>

#include "base/strbuf.h"

#define TEXTCLEAN_KEEP_LF 1u /* keep line feeds (multi-line text) */
#define TEXTCLEAN_KEEP_CR 2u /* keep carriage returns (a parser that handles tty redraws) */

/* The most bytes of one failure message sent to the editor or printed by the CLI; the run's
 * log keeps the whole text. */
#define TEXTCLEAN_MESSAGE_MAX 4096
/* The most bytes of a node id where it is only shown (the test running now, the slowest, the
 * memory report, the CLI's lines); where it names the test (a `tests` entry, a failure, the
 * collection) it is whole, for the editor to select and rerun it. */
#define TEXTCLEAN_ID_MAX TEXTCLEAN_MESSAGE_MAX

/* Cleans s[0..n) in place and returns the new length (<= n). No NUL is written. */
size_t textclean(char *s, size_t n, unsigned flags);

/* Appends to `out` a displayable copy of s[0..n): cleaned as textclean() with `flags`, invalid
 * UTF-8 replaced by U+FFFD, the bidi controls (U+061C, U+200E/F, U+202A..U+202E, U+2066..U+2069,
 * which reorder what is shown around them) removed, and, when the result is longer than `max`
 * bytes (0: no cap), cut at
 * a character boundary with " [... cut: N bytes in all]" appended (N = n). Returns true when
 * it cut. */
bool textclean_display(StrBuf *out, const char *s, size_t n, unsigned flags, size_t max);

/* textclean_display() into a new NUL-terminated string the caller frees. */
char *textclean_dup(const char *s, size_t n, unsigned flags, size_t max);

#endif
