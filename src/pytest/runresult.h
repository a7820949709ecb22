/* runresult: everything a run's output and exit become: the bounded tail kept for the
 * editor, the full log file, live progress, and at the end the result document.
 *
 * Knows pytest (progress lines, JUnit report, exit codes) but not libuv: the runner
 * feeds it bytes and facts. Owns the tail, the parsers' state and the log file
 * descriptor. A log that cannot be opened or written is switched off and the reason
 * reported in the result ("log_error"); the run itself goes on. */
#ifndef PYTESTMON_RUNRESULT_H
#define PYTESTMON_RUNRESULT_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "mem/headroom.h"
#include "parse/coverage.h"
#include "parse/progress.h"
#include "pytest/outputlog.h"
#include "parse/summary.h"
#include "parse/tail.h"
#include "parse/termline.h"
#include "pytest/reportfeed.h"

typedef struct {
    Tail tail;            /* stdout+stderr interleaved as read */
    Tail err_tail;        /* stderr alone: usage errors and crashes are told there */
    TermLine lines;       /* stdout cut into lines, for both parsers */
    Progress *progress;
    Summary *summary;
    OutputLog log;           /* the full output, bounded to its head and tail */
    uint64_t bytes_out, bytes_err;
    bool saw_enomem;      /* the output said an allocation failed (headroom_text_says_enomem) */
    bool saw_nospace;     /* the plugin said its report's file system is full (stderr) */
    char edge[HEADROOM_ENOMEM_PHRASE_MAX]; /* end of the previous chunk: a phrase split across
                                              reads is seen */
    size_t edge_len;
    json_t *seen_failed;  /* {nodeid: "failed"|"error"} from progress lines, bounded */
    ReportFeed *feed;     /* the plugin's report read as it grows (runresult_follow_report), or NULL */
    bool feed_changed;    /* the feed changed since the last runresult_progress_changed() */
} RunResult;

/* What the owner of the runner observes beside the run when it ends (RunnerEvents.observe):
 * for the leak trend across runs and the state of its logs. Strings borrowed for the call. */
typedef struct {
    int64_t coprocess_rss, editor_rss; /* bytes; < 0 when unknown */
    const char *memlog_error;          /* the memory log is off: why (NULL: it is on) */
    const char *log_dir_error;         /* the configured log_dir is refused: why (NULL: none) */
} RunObserved;

/* What the runner knows when the run has ended. Strings and arrays borrowed. */
typedef struct {
    int64_t id;
    const char *cwd, *root, *python, *python_why, *junit_path, *start_error;
    const char *tmp_base; /* where the run's private directory is ($TMPDIR, privdir_base()) */
    char *const *args;    /* the user's arguments (NULL-terminated) */
    char *const *cmd;     /* what was started (NULL-terminated), NULL when nothing was */
    bool spawned, cancelled, timed_out;
    int64_t exit_status;
    int term_signal;
    uint64_t timeout_ms;
    double seconds;
    uint64_t exited_ns;   /* CLOCK_MONOTONIC when pytest exited (for exit_to_finished_ms); 0: never */
    json_t *memory;       /* consumed: the `memory` object (memdiagnosis.h), or NULL */
    /* Coverage (RunSpec.coverage): coverage.py's JSON report the plugin wrote, NULL when the run
     * measured none; have_plugin: our plugin was loaded (else nobody could write it). */
    bool coverage;
    const char *coverage_path;
    bool have_plugin;
    const RunObserved *observed; /* NULL: nothing observed */
    /* The limits the runner sees are not pytest's (a command prefix: it runs in a container):
     * the first memory failure's own limit (memfail.h, read where it failed) is the memory's
     * diagnosis, unless the memory object has one. */
    bool diagnose_from_failures;
    /* Warm start (warm.h), told for a run that started pytest: warm, pytest was a fork of the
     * project's warm pytest; else warm_reason why it ran cold. nearest_lookup: how a Nearest
     * run found the node ("pytest": asked; "kept": a warm run's earlier answer held), or NULL. */
    bool warm;
    const char *warm_reason;
    const char *nearest_lookup;
} RunFacts;

/* A run log keeps at most its first RUNRESULT_LOG_HEAD and last RUNRESULT_LOG_TAIL bytes. */
#define RUNRESULT_LOG_HEAD (16u * 1024 * 1024)
#define RUNRESULT_LOG_TAIL (16u * 1024 * 1024)

/* tail_bytes 0 picks 64 KiB; log_path NULL means no log. */
void runresult_init(RunResult *o, size_t tail_bytes, const char *log_path);
void runresult_destroy(RunResult *o);
void runresult_feed(RunResult *o, const char *data, size_t len, bool is_stderr);

/* Reads the plugin's report at `path` while pytest writes it: once the plugin has written there,
 * progress, the current test and the `tests` entries come from it, not from the terminal.
 * budget: the memory budget of a test in bytes (reportfeed_set_budget()), 0 none. */
void runresult_follow_report(RunResult *o, const char *path, const char *root, uint64_t budget);
/* reportfeed_over_budget() of the report followed, or NULL. */
json_t *runresult_over_budget(const RunResult *o);
/* Parses what the report gained since the last call; true when progress or tests changed. */
bool runresult_poll_report(RunResult *o);
/* pytest has exited: the rest of the report is parsed (call before the last runresult_take_tests). */
void runresult_finish_report(RunResult *o);
/* {run_id, tests = [{nodeid, status, duration_s, rss_growth_bytes}, ...]} of the tests that changed
 * since the last call, or NULL when none did (or there is no feed): a new reference. */
json_t *runresult_take_tests(RunResult *o, int64_t run_id);
/* The `n` tests that grew memory most, exactly measured by the plugin ([{nodeid, growth}, ...]),
 * or NULL when it measured none: a new reference. */
json_t *runresult_top_growth(const RunResult *o, size_t n);
/* reportfeed_top() of the report followed, or NULL when the plugin measured none. */
json_t *runresult_top(const RunResult *o, size_t n, ReportFeedTop by);
/* The highest exact peak RSS the plugin measured, {rss, nodeid, when}, or NULL. */
json_t *runresult_exact_peak(const RunResult *o);

/* True when the output said MemoryError or "Cannot allocate memory". */
bool runresult_saw_enomem(const RunResult *o);

/* True when progress changed since the last runresult_progress_json(). */
bool runresult_progress_changed(RunResult *o);
/* {done, total, failed, percent, current}: a new reference. */
json_t *runresult_progress_json(RunResult *o);
/* Node id of the test running now (borrowed until the next feed), or NULL. */
const char *runresult_current_test(const RunResult *o);

/* The result document (see HACKING.md, event `finished`), whole: its one author, nobody adds
 * to it later. A new reference. Reads the JUnit report when there is one, else falls back to
 * the terminal summary and says why in "source_reason". For a coverage run (facts->coverage),
 * *cov gets the report read (a heap Coverage the caller owns: coverage_destroy() and free()),
 * or NULL with `coverage` {error} saying why there is none; cov may be NULL otherwise. */
json_t *runresult_result(RunResult *o, const RunFacts *facts, Coverage **cov);

/* A NULL-terminated string array (an argv: `args`, `cmd`) as a JSON array; NULL gives []. */
json_t *runresult_string_list(char *const *v);

/* pytest's exit code meaning: "tests passed", "tests failed", ... */
const char *runresult_exit_meaning(int64_t code);
/* A result's exit_meaning when pytest never ran, whatever the interpreter's exit code:
 * "pytest is not installed" (for that interpreter), "pytest could not start" (the loader or
 * Python's start-up failed, the interpreter is no program). */
extern const char *const RUNRESULT_NOT_INSTALLED;
extern const char *const RUNRESULT_COULD_NOT_START;
/* The exit status of `pytestmon run` for a result: pytest's exit code when pytest ran,
 * RUNRESULT_EXIT_DID_NOT_RUN when it never did (no interpreter, pytest not installed for it, the
 * interpreter could not start, no such directory), 1 otherwise (killed by a signal, timed
 * out, cancelled). */
#define RUNRESULT_EXIT_DID_NOT_RUN 127
int runresult_cli_exit_code(json_t *result);

#endif
