"""The test tree's Lua side (#15) fed through the events' entry point exactly as the co-process
sends them (pytest.events.dispatch): the `collection` payload is what our pytest plugin records
of a real `pytest --collect-only` of tests/fixtures/proj_marks (PYTESTMON_COLLECT), the `tests`
payloads are shaped as the co-process pushes them. test_tree.py drives the same through real runs
and collections; these pin the model and views on their own, on any co-process."""
import json
import os
import shutil
import subprocess

import pytest

from conftest import FIXTURES_DIR, REPO_ROOT, TEST_PYTHON, dispatch

PROJ = os.path.join(FIXTURES_DIR, "proj_marks")


@pytest.fixture(scope="module")
def record(tmp_path_factory):
    """{root, items, classes, errors}: pytest's own collection of a copy of proj_marks."""
    root = str(tmp_path_factory.mktemp("tree") / "proj_marks")
    shutil.copytree(PROJ, root, ignore=shutil.ignore_patterns("__pycache__"))
    out = os.path.join(os.path.dirname(root), "collect.json")
    env = dict(os.environ, PYTHONPATH=os.path.join(REPO_ROOT, "python"), PYTESTMON_COLLECT=out,
               PYTESTMON_REPORT=os.path.join(os.path.dirname(root), "report.xml"))
    subprocess.run([TEST_PYTHON, "-m", "pytest", "-p", "pytestmon_plugin", "-p", "no:cacheprovider",
                    "--collect-only", "-q"], cwd=root, env=env, capture_output=True, timeout=120)
    with open(out) as f:
        doc = json.load(f)
    errors = [{"nodeid": "test_broken.py", "file": os.path.join(root, "test_broken.py"),
               "message": "ImportError while importing test module\ntest_broken.py:3: in <module>\n"
                          "    import no_such_module_anywhere\n"
                          "E   ModuleNotFoundError: No module named 'no_such_module_anywhere'"}]
    # A class is at its own file (the plugin before #15 put an inherited test's class in the base
    # class's file): every class of proj_marks is defined in the file of its node id.
    classes = [dict(c, file=os.path.join(root, c["nodeid"].split("::")[0])) for c in doc["classes"]]
    return {"root": root, "items": doc["items"], "classes": classes, "errors": errors}


@pytest.fixture
def ed(nvim, record):
    nvim.command("set hidden")
    nvim.command("cd " + record["root"])
    for name in ("base_checks.py", "test_inherit.py", "test_broken.py", "test_memory.py", "test_plain.py"):
        nvim.command("edit " + os.path.join(record["root"], name))
    dispatch(nvim, "collection", dict(collect_id=1, root=record["root"], items=record["items"],
                                      classes=record["classes"], errors=record["errors"], ms=10))
    nvim.exec_lua("vim.wait(5000, function() return require('pytest').tree().collected end, 5)")
    return nvim


def marks(ed, record, name):
    ed.exec_lua("require('pytest.tree').flush()")
    got = ed.exec_lua("return require('pytest.marks').get(vim.fn.bufnr(...))", os.path.join(record["root"], name))
    return {m["line"]: m["sign"] + "|" + m["text"] for m in got}


def tests_event(ed, *entries, run_id=1):
    dispatch(ed, "tests", {"run_id": run_id, "tests": [
        {"nodeid": n, "status": s, "duration_s": d, "rss_growth_bytes": g} for n, s, d, g in entries]})


def start(ed, record, run_id=1):
    dispatch(ed, "started", {"run_id": run_id, "root": record["root"], "cwd": record["root"], "args": []})


MIB = 1024 * 1024


def test_marks_at_the_definitions(ed, record):
    assert marks(ed, record, "test_plain.py") == {l: "·|" for l in (4, 8, 12, 17, 22, 27, 28, 32, 33)}
    assert marks(ed, record, "base_checks.py") == {4: "·|"}
    assert marks(ed, record, "test_inherit.py") == {4: "·|", 8: "·|"}
    assert marks(ed, record, "test_broken.py") == {
        3: "!|collection error: E   ModuleNotFoundError: No module named 'no_such_module_anywhere'"}


def test_live_statuses_counts_memory_and_durations(ed, record):
    start(ed, record)
    tests_event(ed, ("test_plain.py::test_passes", "passed", 0.001, 0),
                ("test_plain.py::test_param[1]", "passed", 0.001, 0),
                ("test_plain.py::test_param[2]", "failed", 0.001, 0),
                ("test_plain.py::test_param[3]", "running", 0, -1),
                ("test_inherit.py::TestChildTwo::test_inherited", "failed", 0.001, 0),
                ("test_memory.py::test_small_before", "passed", 0.001, 2 * MIB),
                ("test_memory.py::test_big_spike", "passed", 0.6, 200 * MIB))
    assert marks(ed, record, "test_plain.py")[4] == "✓|"
    assert marks(ed, record, "test_plain.py")[22] == "✗|1 of 5 failed"
    assert marks(ed, record, "base_checks.py") == {4: "✗|1 of 2 failed"}
    assert marks(ed, record, "test_inherit.py") == {4: "·|", 8: "✗|"}
    # 200 MiB of growth and the slowest duration at the test that had them, not its neighbours.
    assert marks(ed, record, "test_memory.py") == {1: "✓|", 5: "✓|+200M RSS · 0.60s", 12: "·|"}
    tests_event(ed, ("test_plain.py::test_param[3]", "passed", 0.001, 0),
                ("test_plain.py::test_param[4]", "running", 0, -1))
    assert marks(ed, record, "test_plain.py")[22] == "✗|1 of 5 failed"
    tests_event(ed, ("test_plain.py::test_param[2]", "passed", 0.001, 0))  # a rerun's result
    assert marks(ed, record, "test_plain.py")[22] == "●|running, 3 of 5 done"
    dispatch(ed, "finished", {"run_id": 1, "status": "cancelled", "root": record["root"], "failures": []})
    # what still ran when the run ended has not run after all
    assert marks(ed, record, "test_plain.py")[22] == "✓|3 of 5 passed"


def test_failures_of_a_run_without_live_events(ed, record):
    start(ed, record)
    dispatch(ed, "finished", {"run_id": 1, "status": "failed", "root": record["root"], "failures": [
        {"nodeid": "test_plain.py::test_fails", "kind": "failed", "message": "AssertionError: plain failure"}]})
    assert marks(ed, record, "test_plain.py")[8] == "✗|"
    t = {x["id"]: x for x in ed.exec_lua("return require('pytest').tree().tests")}
    assert t["test_plain.py::test_fails"]["message"] == "AssertionError: plain failure"


def test_option_off_and_on(ed, record):
    assert len(marks(ed, record, "test_plain.py")) == 9
    ed.exec_lua("require('pytest').setup({ marks = false })")
    assert marks(ed, record, "test_plain.py") == {}
    start(ed, record)
    tests_event(ed, ("test_plain.py::test_passes", "passed", 0.001, 0))
    assert marks(ed, record, "test_plain.py") == {}
    ed.exec_lua("require('pytest').setup({ marks = true })")
    assert marks(ed, record, "test_plain.py")[4] == "✓|"


def test_summary_folds_and_failures(ed, record):
    ed.command("PytestSummary")
    ed.exec_lua("require('pytest.tree').flush()")
    lines = ed.exec_lua("return require('pytest.summary').lines()")
    assert [l.strip() for l in lines[1:]][:4] == [
        "▸ · test_inherit.py  2 tests", "▸ · test_live.py  3 tests", "▸ · test_memory.py  3 tests",
        "▸ · test_plain.py  11 tests"]
    start(ed, record)
    tests_event(ed, ("test_plain.py::test_fails", "failed", 0.01, 0))
    ed.exec_lua("require('pytest.tree').flush()")
    lines = ed.exec_lua("return require('pytest.summary').lines()")
    at = lines.index(" ▾ ✗ test_plain.py  1 of 11 failed")  # a failure unfolds its file
    assert lines[at + 2] == "     ✗ test_fails  0.01s"
    ed.command("normal gg")
    ed.command("normal ]f")
    assert ed.exec_lua("return require('pytest.summary').node_at_cursor().id") == "test_plain.py::test_fails"
    # the folding done in place gives what a full render gives
    ed.exec_lua("require('pytest.summary').render()")
    assert ed.exec_lua("return require('pytest.summary').lines()") == lines


def test_a_collection_in_parts_builds_the_whole_tree(nvim, record):
    """The parts of a large collection (`more`) are kept until its last event; a part of an older
    collection is dropped when a newer one's part comes."""
    nvim.command("cd " + record["root"])
    items = record["items"]
    stale = dict(items[0], nodeid=items[0]["nodeid"] + "_stale")
    dispatch(nvim, "collection", dict(collect_id=1, root=record["root"], items=[stale], more=True))
    dispatch(nvim, "collection", dict(collect_id=2, root=record["root"], items=items[:2], more=True))
    dispatch(nvim, "collection", dict(collect_id=2, root=record["root"], items=items[2:3], more=True))
    dispatch(nvim, "collection", dict(collect_id=2, root=record["root"], items=items[3:],
                                      classes=record["classes"], errors=record["errors"], ms=10))
    nvim.exec_lua("vim.wait(5000, function() return require('pytest').tree().collected end, 5)")
    got = nvim.exec_lua("""
        local ids = {}
        for _, it in ipairs(require('pytest.events').collection.items) do ids[#ids + 1] = it.nodeid end
        return { ids = ids, total = require('pytest.tree').count().total }
    """)
    assert got["ids"] == [it["nodeid"] for it in items]
    assert got["total"] == len(items) + len(record["errors"])  # a collection error is a node too


def test_a_late_finished_of_an_older_first_run_does_not_collect_beside_the_next(nvim, record):
    # No tree yet. Run 1 is cancelled by run 2: its `finished` can pass the events' entry point
    # before run 2's `started` and reach the tree (a turn later) after it. That late `finished`
    # must not start the collection run 2 deferred; run 2's own end does.
    root = record["root"]
    nvim.exec_lua("require('pytest').setup({ python = ... })", TEST_PYTHON)
    nvim.command("set hidden")
    nvim.command("cd " + root)
    nvim.command("edit " + os.path.join(root, "test_plain.py"))
    asked = nvim.exec_lua("""
        local root, py = ...
        local t = require('pytest.tree')
        t.on_started({ run_id = 1, root = root, cwd = root, python = py })
        t.on_started({ run_id = 2, root = root, cwd = root, python = py })
        t.on_finished({ run_id = 1, root = root, failures = {} })
        local after_late = t._state().asked
        t.on_finished({ run_id = 2, root = root, failures = {} })
        return { after_late, t._state().asked }
    """, root, TEST_PYTHON)
    assert asked == [0, 1], asked
    nvim.exec_lua("vim.wait(60000, function() return require('pytest').tree().collected end, 20)")
    assert nvim.exec_lua("return require('pytest').tree().collected")
