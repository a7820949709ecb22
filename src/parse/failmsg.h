/* failmsg: the one-line message of a pytest failure, for the quickfix list and the
 * diagnostics, from the `message` attribute and the text of a JUnit <failure>/<error>.
 *
 * Pure: strings in, a heap string out; no file system, no libuv. Owns the rules for
 * collection errors, doctests, setup/teardown errors and fixture-lookup errors. */
#ifndef PYTESTMON_FAILMSG_H
#define PYTESTMON_FAILMSG_H

/* One-line message for the quickfix list, heap-allocated, never NULL (may be "").
 *   - collection failures (message "collection failure"): the last `E ` line of the text;
 *   - doctests (text ends with ": DocTestFailure"/": UnexpectedException"): the last `E ` line,
 *     else "UNEXPECTED EXCEPTION: ...", else "Expected: X, Got: Y" from the doctest diff;
 *   - setup/teardown errors (`failed on setup with "X"`): the first line of X, unwrapped; a
 *     fixture-lookup error ("file P, line N") gives its `E ` line ("fixture 'x' not found");
 *   - otherwise: the first line of `message`; if that is empty, the last `E ` line of the text,
 *     else the first line of the text.
 * `#x1B`-style escapes are left as they are (they are literal text in the XML). */
char *failmsg_line(const char *message, const char *text);

#endif
