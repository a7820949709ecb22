""":PytestNearest: the co-process asks pytest what it collects in the file (the plugin's
record) and runs the innermost collected test or class around the line, else the one above,
else the whole file. Through the real co-process and pytest; in the editor on both versions."""
import os

import pytest

from conftest import FIXTURES_DIR, PROJ_FAIL, TEST_PYTHON, wait_for
from test_rpc_protocol import Peer

MATH = os.path.join(PROJ_FAIL, "tests", "test_math.py")
BASIC = os.path.join(PROJ_FAIL, "test_basic.py")
UNITTEST = os.path.join(FIXTURES_DIR, "proj_unittest", "test_nth.py")


@pytest.fixture(scope="module")
def peer():
    p = Peer()
    yield p
    p.close()


def nearest(peer, path, line, msgid=[100]):
    msgid[0] += 1
    peer.request(msgid[0], "run", [{"cwd": os.path.dirname(path), "file": path, "nearest_line": line,
                                    "python": TEST_PYTHON}])
    run_id = peer.response(msgid[0])[3]
    assert isinstance(run_id, int), run_id
    while True:
        ev = peer.event("started", timeout=60)
        if ev["run_id"] == run_id:
            break
    while peer.event("finished", timeout=60)["run_id"] != run_id:
        pass
    return ev["args"][-1], ev["nearest_found"]


@pytest.mark.parametrize("line, expected", [
    (14, "tests/test_math.py::test_add"),                       # body of a function
    (13, "tests/test_math.py::test_add"),                       # its def line
    (15, "tests/test_math.py::test_add"),                       # blank line after it: the one above
    (17, "tests/test_math.py::test_decorated"),                 # on a decorator
    (18, "tests/test_math.py::test_decorated"),                 # second decorator
    (21, "tests/test_math.py::test_decorated"),
    (24, "tests/test_math.py::TestCalc"),                       # class line
    (26, "tests/test_math.py::TestCalc::test_mul"),             # method body
    (29, "tests/test_math.py::TestCalc::test_ok"),              # method def line
    (31, "tests/test_math.py::TestCalc::TestNested"),
    (33, "tests/test_math.py::TestCalc::TestNested::test_div"),
    (36, "tests/test_math.py::test_multiline_message"),
])
def test_nearest_node(peer, line, expected):
    assert nearest(peer, MATH, line) == (expected, True)


def test_above_every_test_runs_the_file(peer):
    target, found = nearest(peer, MATH, 8)   # inside the helper `trace`, above every test
    assert found is False and target == MATH


def test_parametrized_runs_all_params(peer):
    line = next(i for i, l in enumerate(open(BASIC).read().splitlines(), 1) if "parametrize" in l)
    assert nearest(peer, BASIC, line) == ("test_basic.py::test_param", True)
    assert nearest(peer, BASIC, line + 2) == ("test_basic.py::test_param", True)


def test_unittest_class_of_any_name(peer):
    assert nearest(peer, UNITTEST, 10) == ("test_nth.py::NthTests::test_second", True)
    assert nearest(peer, UNITTEST, 13) == ("test_nth.py::NthTests", True)   # in its helper: the class
    assert nearest(peer, UNITTEST, 18) == ("test_nth.py::OtherCase::test_other", True)


def test_in_the_editor(nvim):
    nvim.exec_lua("require('pytest').setup({ python = ... })", TEST_PYTHON)
    nvim.exec_lua("""_G.fired = 0
        vim.api.nvim_create_autocmd('User', { pattern = 'PytestFinished',
          callback = function() _G.fired = _G.fired + 1 end })""")
    nvim.command("edit " + UNITTEST)
    nvim.current.window.cursor = (10, 8)
    nvim.command("PytestNearest")
    wait_for(nvim, "_G.fired > 0", timeout=60)
    r = nvim.exec_lua("return require('pytest').last()")
    assert r["counts"]["failed"] == 1 and r["counts"]["passed"] == 0, r["summary"]
    assert r["args"][-1] == "test_nth.py::NthTests::test_second"
    items = nvim.exec_lua("local o = {} for _, it in ipairs(vim.fn.getqflist()) do"
                          " table.insert(o, { vim.api.nvim_buf_get_name(it.bufnr), it.lnum }) end return o")
    assert items == [[UNITTEST, 10]]
    # :PytestLast runs the same test again.
    nvim.command("PytestLast")
    wait_for(nvim, "_G.fired > 1", timeout=60)
    assert nvim.exec_lua("return require('pytest').last()")["args"][-1] == "test_nth.py::NthTests::test_second"
