/* params: typed access to the option maps that RPC methods take. */
#include "params.h"

#include <stdlib.h>

/* The first param, which must be a map (or absent/nil for "all defaults"). */
json_t *params_options(json_t *params, StrBuf *err)
{
    json_t *o = json_array_get(params, 0);
    if (!o || json_is_null(o))
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

int params_uint(json_t *opts, const char *key, uint64_t *out, StrBuf *err)
{
    json_t *v = json_object_get(opts, key);
    if (!v || json_is_null(v))
        return 0;
    if (json_is_integer(v) && json_integer_value(v) >= 0) {
        *out = (uint64_t)json_integer_value(v);
        return 0;
    }
    if (json_is_real(v) && json_real_value(v) >= 0) {
        *out = (uint64_t)json_real_value(v);
        return 0;
    }
    strbuf_printf(err, "option '%s' must be a non-negative number", key);
    return -1;
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

