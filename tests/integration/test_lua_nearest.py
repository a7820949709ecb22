""":PytestNearest's node id for the cursor (indentation scan; Tree-sitter only when a Python
parser is installed, which it is not in a --clean 0.7 or 0.10)."""
import os

import pytest

from conftest import PROJ_FAIL

MATH = os.path.join(PROJ_FAIL, "tests", "test_math.py")
BASIC = os.path.join(PROJ_FAIL, "test_basic.py")


def nodeid_at(nvim, path, line, col=0):
    nvim.command("edit " + path.replace(" ", "\\ "))
    nvim.current.window.cursor = (line, col)
    return nvim.exec_lua("return { require('pytest.nearest').nodeid(0, ...) }", PROJ_FAIL)


@pytest.mark.parametrize(
    "line, expected",
    [
        (14, "tests/test_math.py::test_add"),                       # body of a function
        (13, "tests/test_math.py::test_add"),                       # its def line
        (17, "tests/test_math.py::test_decorated"),                 # on a decorator
        (18, "tests/test_math.py::test_decorated"),                 # second decorator
        (21, "tests/test_math.py::test_decorated"),
        (24, "tests/test_math.py::TestCalc"),                       # class line
        (26, "tests/test_math.py::TestCalc::test_mul"),             # method body
        (29, "tests/test_math.py::TestCalc::test_ok"),              # method def line
        (31, "tests/test_math.py::TestCalc::TestNested"),
        (33, "tests/test_math.py::TestCalc::TestNested::test_div"),
        (36, "tests/test_math.py::test_multiline_message"),
        (8, "tests/test_math.py::test_add"),                        # in a helper: no test encloses -> fallback below?
    ],
)
def test_nearest_in_test_math(nvim, line, expected):
    if line == 8:
        # Inside the helper `trace` (no test above it): the whole file runs.
        assert nodeid_at(nvim, MATH, line) == ["tests/test_math.py", False]
        return
    assert nodeid_at(nvim, MATH, line, 4) == [expected, True]


def test_between_tests_picks_the_one_above(nvim):
    # Blank line 15 after test_add's body.
    assert nodeid_at(nvim, MATH, 15) == ["tests/test_math.py::test_add", True]


def test_parametrized_test_runs_all_params(nvim):
    # `@pytest.mark.parametrize(...)` decorator line of test_param in test_basic.py.
    line = next(i for i, l in enumerate(open(BASIC).read().splitlines(), 1) if "parametrize" in l)
    assert nodeid_at(nvim, BASIC, line) == ["test_basic.py::test_param", True]
    assert nodeid_at(nvim, BASIC, line + 2) == ["test_basic.py::test_param", True]


def test_file_with_spaces_in_name(nvim):
    path = os.path.join(PROJ_FAIL, "tests", "sub", "test_spaced name é.py")
    lines = open(path, encoding="utf-8").read().splitlines()
    line = next(i for i, l in enumerate(lines, 1) if l.lstrip().startswith("def test"))
    name = lines[line - 1].split("def ")[1].split("(")[0]
    got = nodeid_at(nvim, path, line + 1)
    assert got == ["tests/sub/test_spaced name é.py::" + name, True]


def test_chain_scan_unit(nvim):
    lines = [
        "class TestA:",
        "    @staticmethod",
        "    def helper():",
        "        pass",
        "",
        "    async def test_async(self):",
        "        x = (",
        "    1)",
        "        assert x",
    ]
    got = nvim.exec_lua(
        "local n = require('pytest.nearest') return n.parts_from_chain(n.chain_by_indent(...))", lines, 9)
    assert got == ["TestA", "test_async"]
    got = nvim.exec_lua(
        "local n = require('pytest.nearest') return n.parts_from_chain(n.chain_by_indent(...))", lines, 4)
    assert got == ["TestA"]  # a helper inside a test class: run the class


def test_not_a_file_buffer(nvim):
    nvim.exec_lua("_G.__n = {} vim.notify = function(m) table.insert(_G.__n, m) end")
    nvim.command("enew")
    nvim.command("PytestNearest")
    assert nvim.exec_lua("return _G.__n") == ["pytest: the current buffer is not a file"]
