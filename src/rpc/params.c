/* params: typed access to the option maps that RPC methods take. */
#include "rpc/params.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

/* The first param, which must be a map (or absent/nil for "all defaults"; an empty list is
 * Lua's empty table). */
json_t *params_options(json_t *params, StrBuf *err)
{
    json_t *o = json_array_get(params, 0);
    if (!o || json_is_null(o) || (json_is_array(o) && json_array_size(o) == 0))
        return NULL;
    if (!json_is_object(o)) {
        strbuf_puts(err, "params[1] must be a map of options");
        return NULL;
    }
    return o;
}

/* Reads opts[key] as a string; 0 ok (absent leaves *out), -1 wrong type. */
int params_string(json_t *opts, const char *key, const char **out, StrBuf *err)
{
    json_t *v = json_object_get(opts, key);
    if (!v || json_is_null(v))
        return 0;
    if (!json_is_string(v)) {
        strbuf_printf(err, "option '%s' must be a string", key);
        return -1;
    }
    *out = json_string_value(v);
    return 0;
}

/* `v` as an integer in 0..2^64-1: integers, and floats that are integral and in range (the
 * range is checked before the cast: casting an out-of-range double is undefined). */
static int uint_value(json_t *v, uint64_t *out)
{
    if (json_is_integer(v) && json_integer_value(v) >= 0) {
        *out = (uint64_t)json_integer_value(v);
        return 0;
    }
    if (json_is_real(v)) {
        double d = json_real_value(v);
        if (d >= 0 && d < 18446744073709551616.0 && d == floor(d)) {
            *out = (uint64_t)d;
            return 0;
        }
    }
    return -1;
}

int params_uint(json_t *opts, const char *key, uint64_t *out, StrBuf *err)
{
    json_t *v = json_object_get(opts, key);
    if (!v || json_is_null(v))
        return 0;
    if (uint_value(v, out) == 0)
        return 0;
    strbuf_printf(err, "option '%s' must be a non-negative integer", key);
    return -1;
}

/* The value as the peer sent it, for error messages. */
static void describe_value(StrBuf *out, json_t *v)
{
    if (json_is_string(v)) {
        strbuf_puts(out, "a string");
        return;
    }
    if (json_is_integer(v)) {
        strbuf_printf(out, "%lld", (long long)json_integer_value(v));
        return;
    }
    if (json_is_real(v)) {
        strbuf_printf(out, "%.15g", json_real_value(v));
        return;
    }
    strbuf_puts(out, json_is_array(v) ? "a list" : json_is_object(v) ? "a map" : "a boolean");
}

static void describe_type(StrBuf *out, const ParamSpec *p)
{
    switch (p->type) {
    case PARAM_STRING:
        strbuf_puts(out, p->min ? "non-empty string" : "string");
        break;
    case PARAM_UINT:
        strbuf_printf(out, "integer %llu..%llu", (unsigned long long)p->min, (unsigned long long)p->max);
        break;
    case PARAM_STRING_LIST:
        strbuf_puts(out, "list of strings");
        break;
    case PARAM_STRING_MAP:
        strbuf_puts(out, "map of string to string");
        break;
    }
}

static int check_value(const ParamSpec *p, json_t *v, StrBuf *err)
{
    uint64_t u = 0;
    int ok = 0;
    switch (p->type) {
    case PARAM_STRING:
        ok = json_is_string(v) && json_string_length(v) >= p->min;
        break;
    case PARAM_UINT:
        ok = uint_value(v, &u) == 0 && u >= p->min && u <= p->max;
        break;
    case PARAM_STRING_LIST:
        ok = json_is_array(v) || (json_is_object(v) && json_object_size(v) == 0);
        for (size_t i = 0; ok && json_is_array(v) && i < json_array_size(v); i++)
            ok = json_is_string(json_array_get(v, i));
        break;
    case PARAM_STRING_MAP: {
        ok = json_is_object(v) || (json_is_array(v) && json_array_size(v) == 0);
        const char *k;
        json_t *x;
        if (ok && json_is_object(v))
            json_object_foreach(v, k, x) ok = ok && json_is_string(x);
        break;
    }
    }
    if (ok)
        return 0;
    strbuf_printf(err, "option '%s' must be %s", p->key, p->type == PARAM_UINT ? "an " : "a ");
    describe_type(err, p);
    strbuf_puts(err, ", got ");
    describe_value(err, v);
    return -1;
}

static int check_options(json_t *params, const char *method, const ParamSpec *specs, size_t n,
                         StrBuf *err)
{
    if (json_array_size(params) > 1) {
        strbuf_printf(err, "%s takes [] or [{options}], got %zu params", method, json_array_size(params));
        return -1;
    }
    json_t *opts = params_options(params, err);
    if (err->len)
        return -1;
    StrBuf unknown = STRBUF_INIT;
    size_t nunknown = 0;
    const char *key;
    json_t *v;
    json_object_foreach(opts, key, v) {
        size_t i = 0;
        while (i < n && strcmp(specs[i].key, key) != 0)
            i++;
        if (i == n) {
            strbuf_printf(&unknown, "%s'%s'", nunknown++ ? ", " : "", key);
            continue;
        }
        if (!json_is_null(v) && !unknown.len && check_value(&specs[i], v, err) != 0)
            break;
    }
    if (nunknown) {
        strbuf_reset(err);
        strbuf_printf(err, "unknown option%s %s for %s; it takes: ", nunknown > 1 ? "s" : "",
                      strbuf_cstr(&unknown), method);
        for (size_t i = 0; i < n; i++)
            strbuf_printf(err, "%s%s", i ? ", " : "", specs[i].key);
    }
    for (size_t i = 0; i < n && !err->len; i++) {
        json_t *given = json_object_get(opts, specs[i].key);
        if (specs[i].required && (!given || json_is_null(given)))
            strbuf_printf(err, "option '%s' is required", specs[i].key);
    }
    strbuf_destroy(&unknown);
    return err->len ? -1 : 0;
}

int params_check(json_t *params, const char *method, ParamsShape shape, const ParamSpec *specs,
                 size_t n, StrBuf *err)
{
    switch (shape) {
    case PARAMS_NONE:
        if (json_array_size(params) == 0)
            return 0;
        strbuf_printf(err, "%s takes no params, got %zu", method, json_array_size(params));
        return -1;
    case PARAMS_OPTIONS:
        return check_options(params, method, specs, n, err);
    case PARAMS_RUN_ID: {
        json_t *id = json_array_get(params, 0);
        if (json_array_size(params) == 1 && json_is_integer(id) && json_integer_value(id) >= 1)
            return 0;
        strbuf_printf(err, "%s takes [run_id], a run id (integer >= 1)", method);
        return -1;
    }
    }
    return 0;
}

void params_describe(StrBuf *out, ParamsShape shape, const ParamSpec *specs, size_t n)
{
    switch (shape) {
    case PARAMS_NONE:
        strbuf_puts(out, "[]");
        break;
    case PARAMS_RUN_ID:
        strbuf_puts(out, "[run_id: integer >= 1]");
        break;
    case PARAMS_OPTIONS:
        strbuf_puts(out, "[{");
        for (size_t i = 0; i < n; i++) {
            strbuf_printf(out, "%s%s: ", i ? ", " : "", specs[i].key);
            describe_type(out, &specs[i]);
            if (specs[i].required)
                strbuf_puts(out, " (required)");
        }
        strbuf_puts(out, "}]");
        break;
    }
}

/* opts[key] as a list of strings; Lua's empty table arrives as a map and counts as []. */
int params_string_list(json_t *opts, const char *key, char ***out, size_t *n, StrBuf *err)
{
    json_t *v = json_object_get(opts, key);
    *out = NULL;
    *n = 0;
    if (!v || json_is_null(v) || (json_is_object(v) && json_object_size(v) == 0))
        return 0;
    if (!json_is_array(v)) {
        strbuf_printf(err, "option '%s' must be a list of strings", key);
        return -1;
    }
    *out = xcalloc(json_array_size(v) + 1, sizeof **out);
    for (size_t i = 0; i < json_array_size(v); i++) {
        json_t *e = json_array_get(v, i);
        if (!json_is_string(e)) {
            strbuf_printf(err, "option '%s'[%zu] must be a string", key, i + 1);
            return -1;
        }
        (*out)[(*n)++] = xstrdup(json_string_value(e));
    }
    return 0;
}

/* opts.env: a map of NAME = value, turned into "NAME=value" entries. */
int params_env(json_t *opts, char ***out, size_t *n, StrBuf *err)
{
    json_t *v = json_object_get(opts, "env");
    *out = NULL;
    *n = 0;
    if (!v || json_is_null(v) || (json_is_array(v) && json_array_size(v) == 0))
        return 0;
    if (!json_is_object(v)) {
        strbuf_puts(err, "option 'env' must be a map of NAME = value");
        return -1;
    }
    *out = xcalloc(json_object_size(v) + 1, sizeof **out);
    const char *k;
    json_t *val;
    json_object_foreach(v, k, val) {
        if (!json_is_string(val)) {
            strbuf_printf(err, "option 'env'.%s must be a string", k);
            return -1;
        }
        StrBuf sb = STRBUF_INIT;
        strbuf_printf(&sb, "%s=%s", k, json_string_value(val));
        (*out)[(*n)++] = strbuf_detach(&sb);
    }
    return 0;
}

void params_free_list(char **v, size_t n)
{
    for (size_t i = 0; i < n; i++)
        free(v[i]);
    free(v);
}

