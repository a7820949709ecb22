/* clirun: command-line front end to the runner. */
#include "pytest/clirun.h"

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <unistd.h>
#include <uv.h>

#include "pytest/project.h"
#include "pytest/runner.h"
#include "pytest/runresult.h"
#include "base/strbuf.h"
#include "base/textclean.h"

typedef struct {
    bool json;
    json_t *result;
    Runner *runner;
    uv_signal_t sigint, sigterm;
} CliRun;

static void usage(FILE *f)
{
    fprintf(f, "usage: pytestmon run [--cwd DIR] [--python PY] [--timeout SEC] [--json] [--prefix WORD]... "
               "[--path-map INSIDE=HOST]... "
               "[--] [PYTEST ARGS...]\n");
}

static void help(void)
{
    usage(stdout);
    printf("\n"
           "Runs pytest on the project around DIR as the editor would (its root, its interpreter)\n"
           "and prints one 'file:line: nodeid message' line per failure (Vim's :cfile reads them),\n"
           "then 'pytest: <summary>'; trouble and a memory diagnosis go to stderr.\n"
           "\n"
           "  --cwd DIR      where to start looking for the project (default: the current directory);\n"
           "                 relative paths in PYTEST ARGS are meant from there\n"
           "  --python PY    the interpreter (default: $VIRTUAL_ENV/bin/python, then the project's\n"
           "                 .venv/bin/python or venv/bin/python, then python3)\n"
           "  --timeout SEC  end pytest after SEC seconds\n"
           "  --json         print the whole result as one JSON document instead\n"
           "  --prefix WORD  one word of the command that runs pytest where the tests live (repeat\n"
           "                 it: --prefix docker --prefix exec --prefix -i --prefix CONTAINER)\n"
           "  --path-map INSIDE=HOST  where the tests see a directory -> where it is here (repeatable)\n"
           "  -h, --help     this help (pytest's own: python -m pytest --help)\n"
           "  --             the rest is pytest's, even what looks like ours\n"
           "\n"
           "Exit status: pytest's (0 passed, 1 tests failed, 2 interrupted, 3 internal error,\n"
           "4 usage error, 5 no tests collected); %d when pytest did not run at all (no\n"
           "interpreter, pytest not installed for it, the interpreter could not start); 2 for\n"
           "a bad option of pytestmon's; 1 when pytest was killed, timed out or cancelled.\n",
           RUNRESULT_EXIT_DID_NOT_RUN);
}

static void on_finished(void *ud, json_t *result)
{
    CliRun *c = ud;
    c->result = json_incref(result);
    uv_close((uv_handle_t *)&c->sigint, NULL);
    uv_close((uv_handle_t *)&c->sigterm, NULL);
}

static void on_signal(uv_signal_t *h, int signum)
{
    CliRun *c = h->data;
    (void)signum;
    runner_cancel(c->runner);
}

static const char *str(json_t *o, const char *key)
{
    const char *s = json_string_value(json_object_get(o, key));
    return s ? s : "";
}

/* `s` as one line safe for a terminal (textclean.h); a line break becomes a space. Caller frees. */
static char *shown(const char *s)
{
    char *t = textclean_dup(s, strlen(s), TEXTCLEAN_KEEP_LF, 0);
    for (char *p = t; (p = strchr(p, '\n')) != NULL;)
        *p = ' ';
    return t;
}

static void print_errorformat(json_t *result)
{
    size_t i;
    json_t *f;
    json_array_foreach(json_object_get(result, "failures"), i, f) {
        char *file = shown(str(f, "file")), *nodeid = textclean_dup(str(f, "nodeid"), strlen(str(f, "nodeid")), 0,
                                                                      TEXTCLEAN_ID_MAX);
        char *msg = shown(str(f, "message")), *crash = shown(str(f, "crash_file"));
        printf("%s:%lld: %s %s\n", file, (long long)json_integer_value(json_object_get(f, "line")),
               nodeid, msg);
        if (*crash)
            printf("%s:%lld: (raised here) %s\n", crash,
                   (long long)json_integer_value(json_object_get(f, "crash_line")), msg);
        free(file);
        free(nodeid);
        free(msg);
        free(crash);
    }
    char *err = shown(str(result, "error")), *summary = shown(str(result, "summary"));
    json_t *mem = json_object_get(result, "memory");
    char *diag = shown(str(mem, "diagnosis"));
    if (*err && !strstr(summary, err)) /* the summary usually says it already */
        fprintf(stderr, "pytestmon: %s\n", err);
    if (*diag && json_is_true(json_object_get(mem, "memory_related")))
        fprintf(stderr, "pytestmon: memory: %s (cause: %s)\n", diag, str(mem, "diagnosis_cause"));
    printf("pytest: %s\n", summary);
    free(err);
    free(summary);
    free(diag);
}

static int parse_seconds(const char *s, uint64_t *ms)
{
    char *end;
    errno = 0;
    double v = strtod(s, &end);
    if (errno || end == s || *end || v < 0)
        return -1;
    *ms = (uint64_t)(v * 1000.0);
    return 0;
}

int clirun_main(int argc, char **argv)
{
    RunSpec spec = {0};
    CliRun c = {0};
    char cwd[4096];
    /* --prefix and --path-map words (owned here; the spec borrows them): freed at `out`. */
    char **prefix = xcalloc((size_t)argc + 1, sizeof *prefix), **map = xcalloc(2 * (size_t)argc + 1, sizeof *map);
    int i = 1, code = 1;
    for (; i < argc; i++) {
        const char *a = argv[i];
        if (strcmp(a, "--prefix") == 0 && i + 1 < argc) { /* one word of the prefix (launch.h) */
            prefix[spec.req.nprefix++] = xstrdup(argv[++i]);
        } else if (strcmp(a, "--path-map") == 0 && i + 1 < argc && strchr(argv[i + 1], '=')) {
            const char *v = argv[++i], *eq = strchr(v, '='); /* INSIDE=HOST */
            map[spec.req.npath_map++] = strndup(v, (size_t)(eq - v));
            map[spec.req.npath_map++] = xstrdup(eq + 1);
        } else if (strcmp(a, "--") == 0) {
            i++;
            break;
        } else if (strcmp(a, "--json") == 0) {
            c.json = true;
        } else if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) {
            help();
            code = 0;
            goto out;
        } else if ((strcmp(a, "--cwd") == 0 || strcmp(a, "--python") == 0 ||
                    strcmp(a, "--timeout") == 0) && i + 1 < argc) {
            const char *v = argv[++i];
            if (a[2] == 'c')
                spec.req.cwd = v;
            else if (a[2] == 'p')
                spec.req.python = v;
            else if (parse_seconds(v, &spec.timeout_ms) != 0) {
                fprintf(stderr, "pytestmon: --timeout takes seconds, got '%s'\n", v);
                code = 2;
                goto out;
            }
        } else if (strcmp(a, "--cwd") == 0 || strcmp(a, "--python") == 0 || strcmp(a, "--timeout") == 0) {
            fprintf(stderr, "pytestmon: %s needs a value\n", a);
            usage(stderr);
            code = 2;
            goto out;
        } else {
            break; /* the first argument we don't know is pytest's */
        }
    }
    if (!spec.req.cwd)
        spec.req.cwd = getcwd(cwd, sizeof cwd) ? cwd : ".";
    spec.req.args = argv + i;
    spec.req.nargs = (size_t)(argc - i);
    spec.req.prefix = prefix;
    spec.req.path_map = map;

    signal(SIGPIPE, SIG_IGN);
    prctl(PR_SET_CHILD_SUBREAPER, 1);
    uv_loop_t loop;
    uv_loop_init(&loop);
    static const RunnerEvents events = {.finished = on_finished};
    c.runner = runner_new(&loop, &events, &c);
    uv_signal_init(&loop, &c.sigint);
    uv_signal_init(&loop, &c.sigterm);
    c.sigint.data = c.sigterm.data = &c;
    uv_signal_start(&c.sigint, on_signal, SIGINT);
    uv_signal_start(&c.sigterm, on_signal, SIGTERM);
    runner_start(c.runner, &spec);
    uv_run(&loop, UV_RUN_DEFAULT);
    runner_free(c.runner, NULL, NULL);
    uv_run(&loop, UV_RUN_DEFAULT);
    if (uv_loop_close(&loop) != 0)
        fprintf(stderr, "pytestmon: internal error: handles left open\n");

    if (c.result) {
        code = runresult_cli_exit_code(c.result);
        if (c.json) {
            json_dumpf(c.result, stdout, JSON_INDENT(2) | JSON_ENSURE_ASCII);
            putchar('\n');
        } else {
            print_errorformat(c.result);
        }
        json_decref(c.result);
    }
out:
    project_free_argv(prefix);
    project_free_argv(map);
    return code;
}
