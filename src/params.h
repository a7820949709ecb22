/* params: typed access to an RPC method's option map (params[1]), with error messages
 * that name the option and the expected type. Pure: no RPC, no pytest.
 *
 * Each getter leaves its output untouched when the key is absent or nil, and returns -1
 * after writing a message into `err` when the value has the wrong type. Lists come back
 * as new NULL-terminated arrays of new strings, owned by the caller
 * (params_free_list). */
#ifndef PYTESTMON_PARAMS_H
#define PYTESTMON_PARAMS_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

#include "strbuf.h"

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
