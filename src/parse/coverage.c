/* coverage: reading coverage.py's JSON report; pytest-cov's arguments and absence. */
#include "parse/coverage.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

void coverage_destroy(Coverage *c)
{
    for (size_t i = 0; i < c->nfiles; i++) {
        free(c->files[i].path);
        free(c->files[i].lines);
    }
    free(c->files);
    *c = (Coverage){0};
}

static int by_path(const void *a, const void *b)
{
    return strcmp(((const CoverageFile *)a)->path, ((const CoverageFile *)b)->path);
}

static char *join_root(const char *root, const char *name)
{
    if (name[0] == '/' || !root || !*root)
        return xstrdup(name);
    StrBuf sb = STRBUF_INIT;
    strbuf_puts(&sb, root);
    if (sb.len && sb.data[sb.len - 1] != '/')
        strbuf_putc(&sb, '/');
    strbuf_puts(&sb, name[0] == '.' && name[1] == '/' ? name + 2 : name);
    return strbuf_detach(&sb);
}

/* summary.{percent_covered, num_statements, missing_lines} of a file or of the totals. */
static int read_summary(json_t *summary, double *percent, int64_t *statements, int64_t *missing)
{
    json_t *p = json_object_get(summary, "percent_covered");
    json_t *n = json_object_get(summary, "num_statements");
    json_t *m = json_object_get(summary, "missing_lines");
    if (!json_is_number(p) || !json_is_integer(n) || !json_is_integer(m))
        return -1;
    *percent = json_number_value(p);
    *statements = json_integer_value(n);
    *missing = json_integer_value(m);
    return 0;
}

static int read_file_entry(const char *name, json_t *entry, const char *root, CoverageFile *f, StrBuf *err)
{
    json_t *lines = json_object_get(entry, "missing_lines");
    if (!json_is_object(entry) || !json_is_array(lines) ||
        read_summary(json_object_get(entry, "summary"), &f->percent, &f->statements, &f->missing) != 0) {
        strbuf_printf(err, "coverage report: file '%s' lacks summary or missing_lines", name);
        return -EINVAL;
    }
    size_t n = json_array_size(lines);
    f->lines = n ? xmalloc(n * sizeof *f->lines) : NULL;
    for (size_t i = 0; i < n; i++) {
        json_t *l = json_array_get(lines, i);
        json_int_t v = json_is_integer(l) ? json_integer_value(l) : 0;
        if (v < 1 || v > INT32_MAX) {
            strbuf_printf(err, "coverage report: file '%s': missing_lines[%zu] is not a line number", name, i);
            return -EINVAL;
        }
        f->lines[f->nlines++] = (int32_t)v;
    }
    f->path = join_root(root, name);
    return 0;
}

int coverage_parse(const char *buf, size_t len, const char *root, Coverage *out, StrBuf *err)
{
    *out = (Coverage){0};
    json_error_t jerr;
    json_t *doc = json_loadb(buf, len, 0, &jerr);
    if (!doc) {
        strbuf_printf(err, "coverage report is not JSON: %s (line %d)", jerr.text, jerr.line);
        return -EINVAL;
    }
    int rc = -EINVAL;
    json_t *perr = json_object_get(doc, "pytestmon_error");
    json_t *files = json_object_get(doc, "files");
    if (json_is_string(perr)) {
        strbuf_printf(err, "coverage.py could not write its report: %s", json_string_value(perr));
        goto error;
    }
    /* "totals" holds the summary keys itself */
    if (!json_is_object(files) ||
        read_summary(json_object_get(doc, "totals"), &out->percent, &out->statements, &out->missing) != 0) {
        strbuf_puts(err, "coverage report lacks files or totals");
        goto error;
    }
    out->files = xcalloc(json_object_size(files) + 1, sizeof *out->files);
    const char *name;
    json_t *entry;
    json_object_foreach(files, name, entry) {
        CoverageFile *f = &out->files[out->nfiles];
        rc = read_file_entry(name, entry, root, f, err);
        out->nfiles++; /* also a half-read one: coverage_destroy frees it */
        if (rc != 0)
            goto error;
    }
    qsort(out->files, out->nfiles, sizeof *out->files, by_path);
    rc = 0;
error:
    if (rc != 0)
        coverage_destroy(out); /* nothing half-read stays */
    json_decref(doc);
    return rc;
}

int coverage_read(const char *path, const char *root, Coverage *out, StrBuf *err)
{
    *out = (Coverage){0};
    StrBuf text = STRBUF_INIT;
    int rc = strbuf_read_file(&text, path, O_NOFOLLOW);
    if (rc == 0)
        rc = coverage_parse(text.data, text.len, root, out, err);
    else
        strbuf_printf(err, "cannot read the coverage report %s: %s", path, strerror(-rc));
    strbuf_destroy(&text);
    return rc;
}

static const CoverageFile *find_exact(const Coverage *c, const char *path)
{
    CoverageFile key = {.path = (char *)path};
    return c->nfiles ? bsearch(&key, c->files, c->nfiles, sizeof *c->files, by_path) : NULL;
}

const CoverageFile *coverage_find(const Coverage *c, const char *path)
{
    const CoverageFile *f = find_exact(c, path);
    if (f)
        return f;
    char *real = realpath(path, NULL);
    if (real) {
        f = find_exact(c, real);
        free(real);
    }
    return f;
}

void coverage_ranges(const CoverageFile *f, size_t max, StrBuf *out)
{
    size_t start = out->len;
    for (size_t i = 0; i < f->nlines;) {
        size_t j = i;
        while (j + 1 < f->nlines && f->lines[j + 1] == f->lines[j] + 1)
            j++;
        if (out->len - start >= max) {
            strbuf_printf(out, ", ... (%zu more)", f->nlines - i);
            return;
        }
        if (i > 0)
            strbuf_puts(out, ", ");
        if (j > i)
            strbuf_printf(out, "%d-%d", (int)f->lines[i], (int)f->lines[j]);
        else
            strbuf_printf(out, "%d", (int)f->lines[i]);
        i = j + 1;
    }
}

json_t *coverage_lines_json(const CoverageFile *f)
{
    json_t *a = json_array();
    for (size_t i = 0; f && i < f->nlines; i++)
        json_array_append_new(a, json_integer(f->lines[i]));
    return a;
}

json_t *coverage_summary_json(const Coverage *c, size_t ranges_max)
{
    json_t *files = json_array();
    StrBuf r = STRBUF_INIT;
    for (size_t i = 0; i < c->nfiles; i++) {
        const CoverageFile *f = &c->files[i];
        strbuf_reset(&r);
        coverage_ranges(f, ranges_max, &r);
        json_t *row = json_array();
        json_array_append_new(row, json_stringn_nocheck(f->path, strlen(f->path)));
        json_array_append_new(row, json_real(f->percent));
        json_array_append_new(row, json_integer(f->statements));
        json_array_append_new(row, json_integer(f->missing));
        json_array_append_new(row, json_stringn_nocheck(strbuf_cstr(&r), r.len));
        json_array_append_new(files, row);
    }
    strbuf_destroy(&r);
    return json_pack("{s:f, s:I, s:I, s:I, s:o}", "percent", c->percent, "statements", (json_int_t)c->statements,
                     "missing", (json_int_t)c->missing, "nfiles", (json_int_t)c->nfiles, "files", files);
}

/* Did the user say what to measure? --cov and --cov=SOURCE do; --cov-report etc. do not. */
static bool chose_source(char *const *args)
{
    for (; args && *args; args++)
        if (strcmp(*args, "--cov") == 0 || strncmp(*args, "--cov=", 6) == 0)
            return true;
    return false;
}

char **coverage_pytest_args(char *const *user_args, const char *root)
{
    char **out = xcalloc(3, sizeof *out);
    size_t k = 0;
    if (!chose_source(user_args)) {
        StrBuf sb = STRBUF_INIT;
        strbuf_printf(&sb, "--cov=%s", root);
        out[k++] = strbuf_detach(&sb);
    }
    out[k++] = xstrdup("--cov-report=");
    return out;
}

bool coverage_plugin_missing(const char *error)
{
    /* argparse: "unrecognized arguments: --cov=/root --cov-report=" */
    const char *u = error ? strstr(error, "unrecognized arguments:") : NULL;
    return u && strstr(u, "--cov") != NULL;
}

char *coverage_missing_message(const char *python)
{
    StrBuf sb = STRBUF_INIT;
    strbuf_printf(&sb,
                  "pytest-cov is not installed for %s: apt install python3-pytest-cov "
                  "(or %s -m pip install pytest-cov)",
                  python, python);
    return strbuf_detach(&sb);
}
