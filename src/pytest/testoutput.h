/* testoutput: one test's report (the `test_output` RPC method, :PytestOutput on a test): its
 * outcome, failure message and text, and captured stdout/stderr(/log), read from a run's report
 * file (junit.h: junit_read_output; only that test's testcases are kept: matched by the plugin's
 * nodeid attribute, or by pytest's junitxml classname and name of the node id).
 *
 * The answer is {run_id, nodeid, status, message?, text?, stdout?, stderr?}: status one of
 * passed|failed|error|skipped|xfailed|xpassed; texts are display text (textclean.h, line feeds
 * kept, each capped at TESTOUTPUT_TEXT_MAX). A test with two testcases (a failed call, then a
 * failed teardown) gets the first one's status and message and both texts. Its subtests'
 * testcases (junit.h: JunitCase.subtest) add their texts, each after a line "subtest <its
 * description>:", and their output; the status and message stay the test's. A test that is not in
 * the report is an error naming it; a report that was cut short (the run is still writing it, or
 * was killed) still answers for the tests written so far.
 *
 * testoutput_read() reads on the calling thread; testoutput_start() in libuv's thread pool (a
 * report with captured output can be large) and calls `done` from the loop. Owns nothing beyond
 * one request: the request's copies of path and node id live until `done` returns. */
#ifndef PYTESTMON_TESTOUTPUT_H
#define PYTESTMON_TESTOUTPUT_H

#include <jansson.h>
#include <stdint.h>
#include <uv.h>

#include "base/strbuf.h"

#define TESTOUTPUT_TEXT_MAX (256u * 1024)

/* The answer for `nodeid` in the report at `path` (a new reference), or NULL with a sentence in
 * err. */
json_t *testoutput_read(const char *path, int64_t run_id, const char *nodeid, StrBuf *err);

/* `result` (borrowed until return) is the answer, or NULL and `error` says why. */
typedef void (*TestOutputDone)(void *ud, json_t *result, const char *error);

/* Reads in the thread pool; `done` follows from the loop, exactly once (also when the loop is
 * shutting down: the work is not cancelled). 0, or a negative libuv error (then `done` is never
 * called; UV_ENOSYS: libxml2 cannot be loaded, testoutput_read() says why). Loads libxml2 on
 * this (the loop) thread first: xmllib.h is not thread-safe. */
int testoutput_start(uv_loop_t *loop, const char *path, int64_t run_id, const char *nodeid,
                     TestOutputDone done, void *ud);

#endif
