/* params: the declared shape of an RPC method's params (ParamSpec tables), checking params
 * against it, rendering it for the RPC contract, and typed access to the option map
 * (params[1]) afterwards. Error messages name the option and what it must be. Pure: no RPC,
 * no pytest.
 *
 * Each getter leaves its output untouched when the key is absent or nil, and returns -1
 * after writing a message into `err` when the value has the wrong type. Lists come back
 * as new NULL-terminated arrays of new strings, owned by the caller
 * (params_free_list). */
#ifndef PYTESTMON_PARAMS_H
#define PYTESTMON_PARAMS_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/strbuf.h"

typedef enum {
    PARAM_STRING,      /* min: least length (1: non-empty) */
    PARAM_UINT,        /* an integer in min..max (an integral float counts) */
    PARAM_STRING_LIST, /* a list of strings ({} from Lua counts as []) */
    PARAM_STRING_MAP,  /* a map of string to string ([] from Lua counts as {}) */
} ParamType;

/* One key of an option map. */
typedef struct {
    const char *key;
    ParamType type;
    uint64_t min, max;
    bool required;      /* params_check() refuses the options without it */
} ParamSpec;

typedef enum {
    PARAMS_NONE,    /* [] */
    PARAMS_OPTIONS, /* [] or [{key = value, ...}] with keys from the spec, all optional */
    PARAMS_RUN_ID,  /* [run_id], an integer >= 1 */
} ParamsShape;

/* Checks `params` (the params array) against `shape` and `specs` (n entries) before a handler
 * runs: 0, or -1 with a message in `err` naming the first offending key (every unknown key
 * at once), the bad value and what it must be. `method` is for the messages. */
int params_check(json_t *params, const char *method, ParamsShape shape, const ParamSpec *specs,
                 size_t n, StrBuf *err);
/* Appends the contract form of the params, e.g. `[{log_dir: non-empty string}]`. */
void params_describe(StrBuf *out, ParamsShape shape, const ParamSpec *specs, size_t n);

/* params[1] when it is a map (borrowed), NULL when absent or nil; NULL with `err` set
 * when it is something else. */
json_t *params_options(json_t *params, StrBuf *err);
/* The string is borrowed from `opts`. */
int params_string(json_t *opts, const char *key, const char **out, StrBuf *err);
int params_uint(json_t *opts, const char *key, uint64_t *out, StrBuf *err);
/* A list of strings; Lua's empty table arrives as an empty map and counts as []. */
int params_string_list(json_t *opts, const char *key, char ***out, size_t *n, StrBuf *err);
/* opts.env, a map of NAME = value, as "NAME=value" entries. */
int params_env(json_t *opts, char ***out, size_t *n, StrBuf *err);
void params_free_list(char **v, size_t n);

#endif
