/* Unit tests for params: the checks a method's params pass before its handler runs, and the
 * typed getters (no float is cast without a range check). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "rpc/params.h"

static const ParamSpec SPECS[] = {
    {"name", PARAM_STRING, 1, 0, false},
    {"n", PARAM_UINT, 1, 1000, false},
    {"args", PARAM_STRING_LIST, 0, 0, false},
    {"env", PARAM_STRING_MAP, 0, 0, false},
};
#define NSPECS (sizeof SPECS / sizeof SPECS[0])

/* The error of checking `json` as `m`'s params, "" when they pass. Caller frees. */
static char *check(const char *json, ParamsShape shape)
{
    json_t *params = json_loads(json, JSON_DECODE_ANY, NULL);
    assert_non_null(params);
    StrBuf err = STRBUF_INIT;
    int rc = params_check(params, "m", shape, SPECS, NSPECS, &err);
    assert_int_equal(rc, err.len ? -1 : 0);
    json_decref(params);
    return strbuf_detach(&err);
}

static void expect_error(const char *json, ParamsShape shape, const char *want)
{
    char *got = check(json, shape);
    assert_string_equal(got, want);
    free(got);
}

static void test_options_are_checked_against_the_specs(void **state)
{
    (void)state;
    expect_error("[]", PARAMS_OPTIONS, "");
    expect_error("[[]]", PARAMS_OPTIONS, "");
    expect_error("[{\"name\": \"x\", \"n\": 1000, \"args\": [\"-x\"], \"env\": {\"A\": \"b\"}}]",
                 PARAMS_OPTIONS, "");
    expect_error("[{\"n\": 7.0}]", PARAMS_OPTIONS, "");
    expect_error("[{\"n\": null}]", PARAMS_OPTIONS, "");
    expect_error("[{\"nmae\": 1, \"x\": 2}]", PARAMS_OPTIONS,
                 "unknown options 'nmae', 'x' for m; it takes: name, n, args, env");
    expect_error("[{\"name\": \"\"}]", PARAMS_OPTIONS, "option 'name' must be a non-empty string, got a string");
    expect_error("[{\"n\": 0}]", PARAMS_OPTIONS, "option 'n' must be an integer 1..1000, got 0");
    expect_error("[{\"n\": 1001}]", PARAMS_OPTIONS, "option 'n' must be an integer 1..1000, got 1001");
    expect_error("[{\"n\": -1}]", PARAMS_OPTIONS, "option 'n' must be an integer 1..1000, got -1");
    expect_error("[{\"n\": 1.5}]", PARAMS_OPTIONS, "option 'n' must be an integer 1..1000, got 1.5");
    expect_error("[{\"n\": 1e300}]", PARAMS_OPTIONS, "option 'n' must be an integer 1..1000, got 1e+300");
    expect_error("[{\"n\": \"5\"}]", PARAMS_OPTIONS, "option 'n' must be an integer 1..1000, got a string");
    expect_error("[{\"args\": [1]}]", PARAMS_OPTIONS, "option 'args' must be a list of strings, got a list");
    expect_error("[{\"env\": {\"A\": 1}}]", PARAMS_OPTIONS,
                 "option 'env' must be a map of string to string, got a map");
    expect_error("[5]", PARAMS_OPTIONS, "params[1] must be a map of options");
    expect_error("[{}, {}]", PARAMS_OPTIONS, "m takes [] or [{options}], got 2 params");
    expect_error("[]", PARAMS_NONE, "");
    expect_error("[1]", PARAMS_NONE, "m takes no params, got 1");
    expect_error("[3]", PARAMS_RUN_ID, "");
    expect_error("[0]", PARAMS_RUN_ID, "m takes [run_id], a run id (integer >= 1)");
    expect_error("[1.5]", PARAMS_RUN_ID, "m takes [run_id], a run id (integer >= 1)");
}

/* params_uint cast any non-negative double to uint64_t: 1e300 is undefined behaviour (UBSan's
 * float-cast-overflow reports it) and 2^64 came out as some integer. */
static void test_uint_refuses_floats_it_cannot_represent(void **state)
{
    (void)state;
    const char *bad[] = {"{\"k\": 1e300}", "{\"k\": 18446744073709551616.0}", "{\"k\": 2.5}", "{\"k\": -1}"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        json_t *opts = json_loads(bad[i], 0, NULL);
        uint64_t v = 42;
        StrBuf err = STRBUF_INIT;
        assert_int_equal(params_uint(opts, "k", &v, &err), -1);
        assert_int_equal(v, 42);
        assert_string_equal(strbuf_cstr(&err), "option 'k' must be a non-negative integer");
        strbuf_destroy(&err);
        json_decref(opts);
    }
    json_t *opts = json_loads("{\"a\": 9007199254740992.0, \"b\": 7}", 0, NULL);
    uint64_t a = 0, b = 0;
    StrBuf err = STRBUF_INIT;
    assert_int_equal(params_uint(opts, "a", &a, &err), 0);
    assert_int_equal(params_uint(opts, "b", &b, &err), 0);
    assert_true(a == 9007199254740992ULL && b == 7);
    strbuf_destroy(&err);
    json_decref(opts);
}

static void test_describe_is_the_contract_form(void **state)
{
    (void)state;
    StrBuf sb = STRBUF_INIT;
    params_describe(&sb, PARAMS_OPTIONS, SPECS, NSPECS);
    assert_string_equal(strbuf_cstr(&sb), "[{name: non-empty string, n: integer 1..1000, args: list of strings, "
                                          "env: map of string to string}]");
    strbuf_destroy(&sb);
}

/* A required key: refused when absent or null, named in the error and in the description. */
static void test_required_keys(void **state)
{
    (void)state;
    static const ParamSpec req[] = {{"file", PARAM_STRING, 1, 0, true}, {"n", PARAM_UINT, 0, 9, false}};
    static const char *const cases[][2] = {
        {"[]", "option 'file' is required"},
        {"[{\"n\": 3}]", "option 'file' is required"},
        {"[{\"file\": null}]", "option 'file' is required"},
        {"[{\"file\": \"x.py\"}]", ""},
        {"[{\"file\": \"\"}]", "option 'file' must be a non-empty string, got a string"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        json_t *params = json_loads(cases[i][0], JSON_DECODE_ANY, NULL);
        StrBuf err = STRBUF_INIT;
        params_check(params, "m", PARAMS_OPTIONS, req, 2, &err);
        assert_string_equal(strbuf_cstr(&err), cases[i][1]);
        strbuf_destroy(&err);
        json_decref(params);
    }
    StrBuf d = STRBUF_INIT;
    params_describe(&d, PARAMS_OPTIONS, req, 2);
    assert_string_equal(strbuf_cstr(&d), "[{file: non-empty string (required), n: integer 0..9}]");
    strbuf_destroy(&d);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_required_keys),
        cmocka_unit_test(test_options_are_checked_against_the_specs),
        cmocka_unit_test(test_uint_refuses_floats_it_cannot_represent),
        cmocka_unit_test(test_describe_is_the_contract_form),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
