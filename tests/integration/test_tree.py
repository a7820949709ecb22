"""The test tree (#15): marks at every test definition in open buffers, live during a run,
:PytestSummary and its keys, :PytestOutput of one test, require('pytest').tree(). Real runs and
real collections of tests/fixtures/proj_marks (copied per test) through the real co-process."""
import os
import re
import shutil

import pytest

from conftest import FIXTURES_DIR, TEST_PYTHON, wait_for

PROJ = os.path.join(FIXTURES_DIR, "proj_marks")

# Definition lines (decorators included) in proj_marks.
PLAIN = {"test_passes": 4, "test_fails": 8, "test_skipped": 12, "test_xfails": 17, "test_param": 22,
         "TestOuter": 27, "test_in_class": 28, "TestInner": 32, "test_nested": 33}


@pytest.fixture
def proj(tmp_path):
    dst = tmp_path / "proj_marks"
    shutil.copytree(PROJ, dst, ignore=shutil.ignore_patterns("__pycache__"))
    (tmp_path / "hold").mkdir()
    return str(dst)


@pytest.fixture
def ed(nvim, proj, tmp_path):
    nvim.exec_lua("local py, hold = ... require('pytest').setup({ python = py, env = { TREE_HOLD_DIR = hold } })",
                  TEST_PYTHON, str(tmp_path / "hold"))
    nvim.command("set hidden")
    nvim.command("cd " + proj)
    nvim.exec_lua("""
        _G.fired, _G.collected = 0, 0
        vim.api.nvim_create_autocmd('User', { pattern = 'PytestFinished',
          callback = function() _G.fired = _G.fired + 1 end })
        vim.api.nvim_create_autocmd('User', { pattern = 'PytestCollected',
          callback = function() _G.collected = _G.collected + 1 end })
        -- "sign text" of the mark at `line` of `file` (loaded), with its virtual text after a "|".
        _G.mark_at = function(file, line)
          for _, m in ipairs(require('pytest.marks').get(vim.fn.bufnr(file))) do
            if m.line == line then return m.sign .. '|' .. m.text end
          end
          return nil
        end
    """)
    return nvim


def edit(ed, proj, *names):
    """Load the files (the last one current)."""
    for n in names:
        ed.command("edit " + os.path.join(proj, n))


def collect(ed):
    before = ed.exec_lua("return _G.collected")
    ed.exec_lua("require('pytest.tree').collect()")
    wait_for(ed, f"_G.collected > {before}", timeout=60)
    assert ed.exec_lua("return require('pytest').tree().collected")


def run(ed, command, timeout=60):
    before = ed.exec_lua("return _G.fired")
    ed.command(command)
    wait_for(ed, f"_G.fired > {before}", timeout=timeout)
    return ed.exec_lua("return require('pytest').last()")


def marks(ed, proj, name):
    """{line: "sign|text"} of the marks in the buffer of `name`, once the tree's views caught up."""
    ed.exec_lua("require('pytest.tree').flush()")
    got = ed.exec_lua("return require('pytest.marks').get(vim.fn.bufnr(...))", os.path.join(proj, name))
    return {m["line"]: m["sign"] + "|" + m["text"] for m in got}


def mark_at(ed, proj, name, line):
    return f"_G.mark_at({os.path.join(proj, name)!r}, {line})"


def test_marks_at_every_definition_after_collection(ed, proj):
    edit(ed, proj, "base_checks.py", "test_broken.py", "test_inherit.py", "test_plain.py")
    collect(ed)
    # Not run yet: plain, skip/xfail, parametrized (one mark for its 5 cases), class, nested class.
    assert marks(ed, proj, "test_plain.py") == {line: "·|" for line in PLAIN.values()}
    # The inherited test is marked once at its definition in the base class's file; the classes
    # that inherit it at theirs.
    assert marks(ed, proj, "base_checks.py") == {4: "·|"}
    assert marks(ed, proj, "test_inherit.py") == {4: "·|", 8: "·|"}
    # A collection error at the line pytest names, with its message.
    assert marks(ed, proj, "test_broken.py") == {
        3: "!|collection error: E   ModuleNotFoundError: No module named 'no_such_module_anywhere'"}
    groups = {m["line"]: m["group"] for m in ed.exec_lua(
        "return require('pytest.marks').get(vim.fn.bufnr(...))", os.path.join(proj, "test_broken.py"))}
    assert groups == {3: "PytestError"}
    # A buffer loaded later gets its marks at once.
    edit(ed, proj, "test_live.py")
    assert marks(ed, proj, "test_live.py") == {5: "·|", 9: "·|", 21: "·|"}


def test_marks_show_a_run_s_results(ed, proj):
    edit(ed, proj, "base_checks.py", "test_inherit.py", "test_plain.py")
    collect(ed)
    r = run(ed, "PytestRun test_plain.py test_inherit.py")
    assert r["counts"]["failed"] == 4
    assert marks(ed, proj, "test_plain.py") == {
        4: "✓|", 8: "✗|", 12: "○|", 17: "○|",
        22: "✗|2 of 5 failed",  # parametrized: its cases aggregated
        27: "✓|2 passed", 28: "✓|", 32: "✓|", 33: "✓|"}
    # Inherited by a class that passes and one that fails: the definition says so.
    assert marks(ed, proj, "base_checks.py") == {4: "✗|1 of 2 failed"}
    assert marks(ed, proj, "test_inherit.py") == {4: "✓|", 8: "✗|"}
    groups = {m["line"]: m["group"] for m in ed.exec_lua(
        "return require('pytest.marks').get(vim.fn.bufnr(...))", os.path.join(proj, "test_plain.py"))}
    assert (groups[4], groups[8], groups[12]) == ("PytestPassed", "PytestFailed", "PytestSkipped")


def test_marks_change_live_during_a_run(ed, proj, tmp_path):
    edit(ed, proj, "test_live.py")
    collect(ed)
    ed.command("PytestRun test_live.py")
    # While test_held runs: the test before it passed, the one after has not run yet.
    wait_for(ed, mark_at(ed, proj, "test_live.py", 9) + " == '●|'", timeout=60)
    assert ed.exec_lua("return require('pytest').is_running()")
    assert marks(ed, proj, "test_live.py") == {5: "✓|", 9: "●|", 21: "·|"}
    tree = ed.exec_lua("return require('pytest').tree()")
    status = {t["id"]: t["status"] for t in tree["tests"] if t["id"].startswith("test_live.py")}
    assert status == {"test_live.py::test_first": "passed", "test_live.py::test_held": "running",
                      "test_live.py::test_last": "notrun"}
    (tmp_path / "hold" / "RELEASE").write_text("")
    wait_for(ed, "_G.fired > 0", timeout=60)
    wait_for(ed, mark_at(ed, proj, "test_live.py", 21) + " == '✓|'")
    m = marks(ed, proj, "test_live.py")
    assert (m[5], m[9].split("|")[0], m[21]) == ("✓|", "✓", "✓|")
    assert m[9].endswith("s")  # held for a while: the run's slowest test shows its duration


def test_a_short_first_run_is_alone_and_its_results_reach_the_tree_collected_after_it(ed, proj, tmp_path):
    # No tree yet, a test file open: the tree is not collected while a run shorter than
    # first_collect_delay_ms runs (a second pytest would compete with it), but once it has
    # ended, with the run's results carried over.
    ed.exec_lua("require('pytest.tree').first_collect_delay_ms = 600000")
    edit(ed, proj, "test_live.py")
    ed.command("PytestRun test_live.py")
    wait_for(ed, "(require('pytest.tree').node('test_live.py::test_held') or {}).status == 'running'",
             timeout=60)
    assert ed.exec_lua("return require('pytest').is_running()")
    state = ed.exec_lua("local S = require('pytest.tree')._state() return {S.asked, S.collect_id or -1}")
    assert state == [0, -1], "a collection was asked for while the first run ran"
    assert not ed.exec_lua("return require('pytest.tree').collecting()")
    assert ed.exec_lua("return _G.collected") == 0
    (tmp_path / "hold" / "RELEASE").write_text("")
    wait_for(ed, "_G.fired > 0", timeout=60)
    wait_for(ed, "_G.collected > 0", timeout=60)
    assert ed.exec_lua("return require('pytest').tree().collected")
    wait_for(ed, mark_at(ed, proj, "test_live.py", 21) + " == '✓|'")
    m = marks(ed, proj, "test_live.py")
    assert (m[5], m[9].split("|")[0], m[21]) == ("✓|", "✓", "✓|")


def test_a_long_first_run_gets_its_tree_and_live_marks_while_it_runs(ed, proj, tmp_path):
    # A first run still going after first_collect_delay_ms: the tree is collected beside it, and
    # the marks show the run live (the held test running, the one before it passed).
    ed.exec_lua("require('pytest.tree').first_collect_delay_ms = 300")
    edit(ed, proj, "test_live.py")
    ed.command("PytestRun test_live.py")
    wait_for(ed, "_G.collected > 0", timeout=60)
    assert ed.exec_lua("return require('pytest').is_running()"), "the run ended before the tree came"
    wait_for(ed, mark_at(ed, proj, "test_live.py", 9) + " == '●|'", timeout=60)
    assert marks(ed, proj, "test_live.py") == {5: "✓|", 9: "●|", 21: "·|"}
    (tmp_path / "hold" / "RELEASE").write_text("")
    wait_for(ed, "_G.fired > 0", timeout=60)
    wait_for(ed, mark_at(ed, proj, "test_live.py", 21) + " == '✓|'")
    assert ed.exec_lua("return _G.collected") == 1  # not collected again at the run's end


def test_memory_growth_is_shown_at_the_test_that_grew(ed, proj):
    edit(ed, proj, "test_memory.py")
    collect(ed)
    run(ed, "PytestRun test_memory.py")
    m = marks(ed, proj, "test_memory.py")
    # 200 MiB touched and freed within a few ms: attributed to test_big_spike, not a neighbour.
    assert m[1] == "✓|" and m[12] == "✓|", m
    sign, text = m[5].split("|")
    text = text.split(" · ")[0]  # then its duration: it is among the slowest
    assert sign == "✓" and text.startswith("+") and text.endswith("M RSS"), m
    assert 190 <= float(text[1:].split("M")[0]) < 400, m
    tests = {t["id"]: t for t in ed.exec_lua("return require('pytest').tree().tests")}
    assert tests["test_memory.py::test_big_spike"]["rss_growth"] >= 190 * 1024 * 1024
    assert tests["test_memory.py::test_small_after"]["rss_growth"] < 50 * 1024 * 1024
    # Below the threshold (option) nothing is shown; above a higher threshold neither.
    ed.exec_lua("require('pytest').setup({ python = ..., marks_memory_mb = 1000 })", TEST_PYTHON)
    assert "RSS" not in marks(ed, proj, "test_memory.py")[5]


def test_option_off_removes_the_marks(ed, proj):
    edit(ed, proj, "test_plain.py")
    collect(ed)
    assert len(marks(ed, proj, "test_plain.py")) == 9
    ed.exec_lua("require('pytest').setup({ python = ..., marks = false })", TEST_PYTHON)
    assert marks(ed, proj, "test_plain.py") == {}
    assert ed.exec_lua("return #vim.api.nvim_buf_get_extmarks(0, require('pytest.marks').ns, 0, -1, {})") == 0
    # A run's results do not bring them back.
    run(ed, "PytestRun test_plain.py")
    assert marks(ed, proj, "test_plain.py") == {}
    ed.exec_lua("require('pytest').setup({ python = ..., marks = true })", TEST_PYTHON)
    assert marks(ed, proj, "test_plain.py")[8] == "✗|"


def test_tree_is_collected_again_after_a_write(ed, proj):
    edit(ed, proj, "test_live.py")
    collect(ed)
    before = ed.exec_lua("return _G.collected")
    ed.exec_lua("vim.api.nvim_buf_set_lines(0, -1, -1, false, { '', '', 'def test_added():', '    pass' })")
    ed.command("write")
    wait_for(ed, f"_G.collected > {before}", timeout=60)
    ids = [t["id"] for t in ed.exec_lua("return require('pytest').tree().tests")]
    assert "test_live.py::test_added" in ids
    assert marks(ed, proj, "test_live.py") == {5: "·|", 9: "·|", 21: "·|", 25: "·|"}


def test_tree_api(ed, proj):
    edit(ed, proj, "test_plain.py")
    collect(ed)
    run(ed, "PytestRun test_plain.py")
    t = ed.exec_lua("return require('pytest').tree()")
    assert t["root"] == proj and t["collected"] is True and t["running"] is False
    files = {n["id"]: n for n in t["nodes"]}
    plain = files["test_plain.py"]
    assert plain["kind"] == "file" and plain["file"] == os.path.join(proj, "test_plain.py")
    assert plain["status"] == "failed" and plain["counts"]["failed"] == 3 and plain["counts"]["total"] == 11
    param = [c for c in plain["children"] if c["name"] == "test_param"][0]
    assert param["kind"] == "group" and param["line"] == 22 and param["status"] == "failed"
    assert [(c["id"], c["status"]) for c in param["children"]] == [
        (f"test_plain.py::test_param[{i}]", "failed" if i in (2, 4) else "passed") for i in range(1, 6)]
    outer = [c for c in plain["children"] if c["name"] == "TestOuter"][0]
    inner = [c for c in outer["children"] if c["name"] == "TestInner"][0]
    assert (outer["kind"], outer["line"], inner["kind"], inner["line"]) == ("class", 27, "class", 32)
    tests = {x["id"]: x for x in t["tests"]}
    nested = tests["test_plain.py::TestOuter::TestInner::test_nested"]
    assert (nested["line"], nested["end_line"], nested["status"]) == (33, 34, "passed")
    assert isinstance(nested["duration"], (int, float))
    assert tests["test_plain.py::test_fails"]["message"].startswith("AssertionError: plain failure")
    assert tests["test_plain.py::test_xfails"]["status"] == "xfailed"
    assert t["counts"]["failed"] == 4  # 3 failed tests and the collection error of test_broken.py


def keys(ed, k):
    """Type `k` (mappings apply) and let it run to completion."""
    ed.exec_lua("vim.api.nvim_feedkeys(vim.api.nvim_replace_termcodes(..., true, false, true), 'x', false)", k)


def summary(ed):
    return ed.exec_lua("return require('pytest.summary').lines()")


def test_summary_window_and_its_keys(ed, proj):
    edit(ed, proj, "test_plain.py")
    ed.command("PytestSummary")
    wait_for(ed, "_G.collected > 0", timeout=60)
    ed.exec_lua("require('pytest.tree').flush()")
    lines = summary(ed)
    # Folded to files; the file with a collection error is open.
    assert [l.strip() for l in lines[1:]] == [
        "▸ · test_inherit.py  2 tests", "▸ · test_live.py  3 tests", "▸ · test_memory.py  3 tests",
        "▸ · test_plain.py  11 tests", "▾ ✗ test_broken.py  1 of 1 failed",
        "! collection error  E   ModuleNotFoundError: No module named 'no_such_module_anywhere'"]
    assert ed.exec_lua("return vim.api.nvim_buf_get_name(0)") == "pytest://summary"
    # r on a file runs it; its failures are expanded.
    ed.exec_lua("require('pytest.summary').find('test_plain.py', true)")
    ed.command("normal r")
    wait_for(ed, "_G.fired > 0", timeout=60)
    assert ed.exec_lua("return require('pytest').last().args") == ["test_plain.py"]
    ed.exec_lua("require('pytest.tree').flush()")
    # (the duration, and the garbage collector's time when it ran long in that test)
    lines = [re.sub(r"  [\d.]+s(  gc [\d.]+ms)?$", "", l.rstrip()) for l in summary(ed)]
    at = lines.index(" ▾ ✗ test_plain.py  3 of 11 failed")
    assert lines[at + 1:at + 5] == ["     ✓ test_passes", "     ✗ test_fails", "     ○ test_skipped", "     ○ test_xfails"]
    assert lines[at + 5:at + 11] == ["   ▾ ✗ test_param  2 of 5 failed", "       ✓ [1]", "       ✗ [2]", "       ✓ [3]",
                                    "       ✗ [4]", "       ✓ [5]"]
    assert lines[at + 11] == "   ▸ ✓ TestOuter  2 tests"
    # ]f / [f: next / previous failure; <CR> jumps to its definition.
    ed.command("normal gg")
    ed.command("normal ]f")
    assert ed.exec_lua("return require('pytest.summary').node_at_cursor().id") == "test_inherit.py::TestChildTwo::test_inherited" \
        or ed.exec_lua("return require('pytest.summary').node_at_cursor().id") == "test_plain.py::test_fails"
    ed.exec_lua("require('pytest.summary').find('test_plain.py::test_passes', true)")
    ed.command("normal ]f")
    assert ed.exec_lua("return require('pytest.summary').node_at_cursor().id") == "test_plain.py::test_fails"
    ed.command("normal ]f")
    assert ed.exec_lua("return require('pytest.summary').node_at_cursor().id") == "test_plain.py::test_param[2]"
    ed.command("normal [f")
    assert ed.exec_lua("return require('pytest.summary').node_at_cursor().id") == "test_plain.py::test_fails"
    keys(ed, "<CR>")
    assert ed.exec_lua("return vim.api.nvim_buf_get_name(0)") == os.path.join(proj, "test_plain.py")
    assert ed.exec_lua("return vim.api.nvim_win_get_cursor(0)[1]") == 8
    # f: only failures (and what holds them); again: everything.
    ed.command("wincmd p")
    assert ed.exec_lua("return vim.api.nvim_buf_get_name(0)") == "pytest://summary"
    ed.command("normal f")
    only = [l.strip() for l in summary(ed)[1:]]
    assert "[only failures]" in summary(ed)[0]
    assert all(("✗" in l or "!" in l) for l in only), only
    assert any(l.startswith("✗ [4]") for l in only)
    ed.command("normal f")
    assert "[only failures]" not in summary(ed)[0]
    # m marks, R runs the marked nodes.
    ed.exec_lua("require('pytest.summary').find('test_plain.py::test_passes', true)")
    ed.command("normal m")
    ed.exec_lua("require('pytest.summary').find('test_plain.py::test_param[3]', true)")
    ed.command("normal m")
    assert sum(1 for l in summary(ed) if l.startswith("*")) == 2
    before = ed.exec_lua("return _G.fired")
    ed.command("normal R")
    wait_for(ed, f"_G.fired > {before}", timeout=60)
    r = ed.exec_lua("return require('pytest').last()")
    assert r["args"] == ["test_plain.py::test_passes", "test_plain.py::test_param[3]"]
    assert r["counts"]["passed"] == 2 and r["counts"]["failed"] == 0
    assert not any(l.startswith("*") for l in summary(ed))
    # ? lists the keys.
    ed.command("normal ?")
    help_text = "\n".join(ed.current.buffer[:])
    for key in ("<CR>", " r ", " o ", " f ", " m ", " R ", " x ", "[f", "]f"):
        assert key in help_text, key
    ed.command("close")
    # The window toggles.
    ed.command("PytestSummary")
    assert ed.exec_lua("return vim.fn.bufwinid('pytest://summary')") == -1
    ed.command("PytestSummary")
    assert ed.exec_lua("return vim.fn.bufwinid('pytest://summary')") != -1


def test_summary_x_stops_the_run_of_r(ed, proj, tmp_path):
    ed.command("PytestSummary")
    wait_for(ed, "_G.collected > 0", timeout=60)
    ed.exec_lua("require('pytest.tree').flush()")
    ed.exec_lua("require('pytest.summary').find('test_live.py', true)")
    keys(ed, "<Tab>")
    assert ed.exec_lua("return require('pytest.summary').find('test_live.py::test_held', true)")
    ed.command("normal r")
    # The summary follows the run live: the held test shows as running.
    wait_for(ed, "vim.tbl_contains(require('pytest.summary').lines(), '     ● test_held')", timeout=60)
    ed.command("normal x")
    wait_for(ed, "_G.fired > 0", timeout=60)
    assert ed.exec_lua("return require('pytest').last().status") == "cancelled"
    wait_for(ed, "vim.tbl_contains(require('pytest.summary').lines(), '     · test_held')")


def output_buffer(ed):
    return ed.exec_lua("""
        local b = vim.fn.bufnr('pytest://test-output')
        return b ~= -1 and vim.api.nvim_buf_get_lines(b, 0, -1, false) or nil
    """)


def test_output_of_the_test_under_the_cursor(ed, proj):
    edit(ed, proj, "test_plain.py")
    collect(ed)
    run(ed, "PytestRun test_plain.py")
    ed.exec_lua("vim.api.nvim_win_set_cursor(0, { 9, 0 })")  # inside test_fails
    ed.command("PytestOutput")
    wait_for(ed, "vim.fn.bufnr('pytest://test-output') ~= -1", timeout=30)
    text = "\n".join(output_buffer(ed))
    assert text.startswith("# test_plain.py::test_fails: failed")
    assert "plain failure" in text and "hello from test_in_class" not in text
    # Another test's captured stdout.
    ed.command("only")
    ed.command("edit " + os.path.join(proj, "test_plain.py"))
    ed.exec_lua("vim.api.nvim_win_set_cursor(0, { 30, 0 })")  # inside TestOuter.test_in_class
    ed.command("PytestOutput")
    wait_for(ed, "(vim.api.nvim_buf_get_lines(vim.fn.bufnr('pytest://test-output'), 0, 1, false)[1] or '')"
                 ":find('test_in_class', 1, true) ~= nil", timeout=30)
    text = "\n".join(output_buffer(ed))
    assert text.startswith("# test_plain.py::TestOuter::test_in_class: passed")
    assert "hello from test_in_class" in text and "plain failure" not in text
    # A parametrized test: its failed case.
    ed.command("only")
    ed.command("edit " + os.path.join(proj, "test_plain.py"))
    ed.exec_lua("vim.api.nvim_win_set_cursor(0, { 24, 0 })")
    ed.command("PytestOutput")
    wait_for(ed, "(vim.api.nvim_buf_get_lines(vim.fn.bufnr('pytest://test-output'), 0, 1, false)[1] or '')"
                 ":find('test_param', 1, true) ~= nil", timeout=30)
    assert output_buffer(ed)[0] == "# test_plain.py::test_param[2]: failed"
    # Outside any test: the whole run's output, as before.
    ed.command("only")
    ed.command("edit " + os.path.join(proj, "test_plain.py"))
    ed.exec_lua("vim.api.nvim_win_set_cursor(0, { 1, 0 })")
    ed.command("PytestOutput")
    assert ed.exec_lua("return vim.api.nvim_buf_get_name(0)") == "pytest://output"
    # From the summary window: o on a test.
    ed.command("only")
    ed.command("PytestSummary")
    ed.exec_lua("require('pytest.summary').find('test_plain.py::test_fails', true)")
    ed.exec_lua("vim.api.nvim_buf_delete(vim.fn.bufnr('pytest://test-output'), { force = true })")
    ed.command("normal o")
    wait_for(ed, "vim.fn.bufnr('pytest://test-output') ~= -1", timeout=30)
    assert output_buffer(ed)[0] == "# test_plain.py::test_fails: failed"


def test_summary_rewrites_only_the_changed_lines(ed, proj):
    """A live `tests` event (delivered as the co-process does) rewrites the changed test's line,
    its file's and the header, nothing else of the window."""
    from conftest import dispatch
    ed.command("PytestSummary")
    wait_for(ed, "_G.collected > 0", timeout=60)
    ed.exec_lua("require('pytest.tree').flush()")
    ed.exec_lua("require('pytest.summary').find('test_plain.py', true)")
    keys(ed, "<Tab>")
    rows = {i: ed.exec_lua("return require('pytest.summary').find(...)", i)
            for i in ("test_plain.py", "test_plain.py::test_passes")}
    assert all(rows.values()), rows
    ed.exec_lua("""
        _G.changed = {}
        vim.api.nvim_buf_attach(vim.fn.bufnr('pytest://summary'), false, {
          on_lines = function(_, _, _, first, last, new_last)
            table.insert(_G.changed, { first, last, new_last })
          end })
    """)
    dispatch(ed, "started", {"run_id": 1, "root": proj, "cwd": proj, "args": []})
    dispatch(ed, "tests", {"run_id": 1, "tests": [
        {"nodeid": "test_plain.py::test_passes", "status": "passed", "duration_s": 0.25, "rss_growth_bytes": -1}]})
    ed.exec_lua("require('pytest.tree').flush()")
    changed = ed.exec_lua("return _G.changed")
    touched = {line for first, last, _ in changed for line in range(first, last)}
    assert touched == {0, rows["test_plain.py"] - 1, rows["test_plain.py::test_passes"] - 1}, changed
    assert all(c[1] == c[2] for c in changed), changed  # lines replaced, none added or removed
    assert summary(ed)[rows["test_plain.py::test_passes"] - 1] == "     ✓ test_passes  0.25s"


def test_identical_tests_in_two_files_are_each_at_their_own_file(ed, tmp_path):
    """Two files with the same test source: code objects compare equal across files, and the
    plugin's range cache put both files' tests in the first file (their marks were all there)."""
    proj = tmp_path / "twins"
    proj.mkdir()
    (proj / "pytest.ini").write_text("[pytest]\n")
    for name in ("test_a.py", "test_b.py"):
        (proj / name).write_text("def test_same():\n    pass\n")
    ed.command("cd " + str(proj))
    edit(ed, str(proj), "test_a.py", "test_b.py")
    collect(ed)
    files = {t["id"]: t["file"] for t in ed.exec_lua("return require('pytest').tree().tests")}
    assert files == {"test_a.py::test_same": str(proj / "test_a.py"),
                     "test_b.py::test_same": str(proj / "test_b.py")}
    assert marks(ed, str(proj), "test_a.py") == {1: "·|"} and marks(ed, str(proj), "test_b.py") == {1: "·|"}


# Display text: no C0/C1 control, DEL, nor bidi control (U+061C, U+200E/F, U+202A-E, U+2066-9).
CONTROL_OR_BIDI = re.compile("[\x00-\x08\x0a-\x1f\x7f\x80-\x9f\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069]")
HOSTILE_PARAMS = ["esc\x1b[31mred\x1b]0;title\x07", "bidi\u202eevil\u2066x\u2069", "nul\x00byte", "caf\u00e9",
                  "plain"]


def test_ids_with_controls_and_bidi_are_one_identity_everywhere(ed, tmp_path):
    """pytest's forfeit-all-rights option leaves control characters in parameter ids: the
    collection and the run's events name each test the same way (failed cases were "not run",
    a NUL made the whole collection fail), a test is rerun by that name, and what is shown has
    no control or bidi character."""
    proj = tmp_path / "ids"
    proj.mkdir()
    (proj / "pytest.ini").write_text(
        "[pytest]\ndisable_test_id_escaping_and_forfeit_all_rights_to_community_support = true\n")
    (proj / "test_ids.py").write_text("import pytest\n\n\n@pytest.mark.parametrize('x', %r)\n"
                                      "def test_p(x):\n    assert x == 'plain'\n" % (HOSTILE_PARAMS,))
    ids = ["test_ids.py::test_p[%s]" % p.replace("\x00", "\ufffd") for p in HOSTILE_PARAMS]
    ed.command("cd " + str(proj))
    edit(ed, str(proj), "test_ids.py")
    collect(ed)
    t = ed.exec_lua("return require('pytest').tree()")
    assert not [n for n in t["nodes"][0]["children"] if n["kind"] == "error"], t["nodes"]
    assert sorted(x["id"] for x in t["tests"]) == sorted(ids)
    r = run(ed, "PytestRun")
    assert (r["counts"]["failed"], r["counts"]["passed"]) == (4, 1), r["summary"]
    t = ed.exec_lua("return require('pytest').tree()")
    assert {x["id"]: x["status"] for x in t["tests"]} == {i: "passed" if i.endswith("[plain]") else "failed"
                                                          for i in ids}
    assert t["counts"]["failed"] == 4 and t["counts"]["passed"] == 1 and t["counts"]["notrun"] == 0
    texts = [i["text"] for i in ed.call("getqflist")]
    assert len(texts) == 4 and not [x for x in texts if CONTROL_OR_BIDI.search(x)], texts
    # Quickfix text names the test without its own file (#29 item 3).
    assert sorted(x.split(": ")[0] for x in texts) == sorted(
        "test_p[%s]" % p for p in ("escred", "bidievilx", "nul\ufffdbyte", "caf\u00e9")), texts
    ed.command("PytestSummary")
    ed.exec_lua("require('pytest.tree').flush()")
    ed.exec_lua("require('pytest.summary').find(..., true)", ids[0])
    shown = summary(ed)
    assert not [l for l in shown if CONTROL_OR_BIDI.search(l)], shown
    assert any("bidievilx" in l for l in shown), shown
    # r on the case reruns exactly that test, by its identity.
    before = ed.exec_lua("return _G.fired")
    ed.command("normal r")
    wait_for(ed, f"_G.fired > {before}", timeout=60)
    r = ed.exec_lua("return require('pytest').last()")
    assert r["args"] == [ids[0]] and (r["counts"]["failed"], r["counts"]["passed"]) == (1, 0), r["summary"]
    # o: its report, asked for by that name too.
    ed.exec_lua("require('pytest.summary').find(..., true)", ids[0])
    ed.command("normal o")
    wait_for(ed, "vim.fn.bufnr('pytest://test-output') ~= -1", timeout=30)
    assert output_buffer(ed)[0] == "# test_ids.py::test_p[escred]: failed"


IMPORTED_SIGNER = """\
import pytest


class TestSigner:
    def test_sign(self):
        pass

    def test_unsign(self):
        pass

    def test_bad(self):
        assert False, "bad signer"
"""

# TestSigner is at line 4 of test_signer.py; line 4 of test_timed.py is `class FreezeMixin:`
# and line 8 (TestSigner.test_unsign's line there) is inside test_max_age.
IMPORTING_TIMED = """\
from test_signer import TestSigner


class FreezeMixin:
    pass


def test_max_age():
    x = 1
    assert x
"""


def test_marks_of_an_imported_class_go_to_the_import_line_not_the_other_file_s_lines(ed, tmp_path):
    """#29 item 1 (itsdangerous's test_timed.py imports TestSigner): pytest collects the class
    again in the importing module. Its mark was put in the importing file at the line numbers of
    the file that defines it (on `class FreezeMixin:`, and inside another test); the tree node
    named the importing file with the other file's lines."""
    proj = tmp_path / "imported"
    proj.mkdir()
    (proj / "pytest.ini").write_text("[pytest]\n")
    (proj / "test_signer.py").write_text(IMPORTED_SIGNER)
    (proj / "test_timed.py").write_text(IMPORTING_TIMED)
    ed.command("cd " + str(proj))
    edit(ed, str(proj), "test_signer.py", "test_timed.py")
    collect(ed)
    r = run(ed, "PytestRun")
    assert r["counts"]["failed"] == 2 and r["counts"]["passed"] == 5, r["summary"]
    # The importing file: the class's results at its import line, nothing at the lines of the
    # other file (4: FreezeMixin, 5, 8: inside test_max_age); its own test at its own line.
    assert marks(ed, str(proj), "test_timed.py") == {1: "✗|1 of 3 failed", 8: "✓|"}
    # The defining file: its own class, and each method once for both collections of it.
    assert marks(ed, str(proj), "test_signer.py") == {
        4: "✗|1 of 3 failed", 5: "✓|2 passed", 8: "✓|2 passed", 11: "✗|2 of 2 failed"}
    # The tree node is where the class is defined; where it is brought in rides along.
    nodes = {}

    def walk(ns):
        for n in ns:
            nodes[n["id"]] = n
            walk(n.get("children") or [])
    walk(ed.exec_lua("return require('pytest').tree().nodes"))
    imported = nodes["test_timed.py::TestSigner"]
    assert (imported["file"], imported["line"], imported["end_line"]) == (str(proj / "test_signer.py"), 4, 12)
    assert (imported["at_file"], imported["at_line"]) == (str(proj / "test_timed.py"), 1)
    own = nodes["test_signer.py::TestSigner"]
    assert (own["file"], own["line"], own.get("at_file")) == (str(proj / "test_signer.py"), 4, None)
    # The summary says where it comes from; <CR> goes there.
    ed.command("PytestSummary")
    ed.exec_lua("require('pytest.tree').flush()")
    line = ed.exec_lua("return require('pytest.summary').find('test_timed.py::TestSigner', true)")
    assert line and summary(ed)[line - 1].endswith("TestSigner  1 of 3 failed  from test_signer.py")
    ed.feedkeys(ed.replace_termcodes("<CR>", True, True, True))
    assert ed.exec_lua("return {vim.api.nvim_buf_get_name(0), vim.api.nvim_win_get_cursor(0)[1]}") == [
        str(proj / "test_signer.py"), 4]
    # The cursor on the import line finds the imported class (:PytestOutput and the like).
    assert ed.exec_lua("return require('pytest.tree').node_at(..., 1).id",
                       str(proj / "test_timed.py")) == "test_timed.py::TestSigner"


def test_summary_header_fits_its_50_column_window(ed, proj):
    """#29 item 7: in its 50-column window the header was cut (`· 297  ? keys` became `· 2`). It
    fits the window's width: the root shortens and is cut, the counts and the key hint stay
    whole; a resized window gets a header of its own width. A UI is attached, as a user's."""
    ed.ui_attach(220, 30, rgb=True)
    edit(ed, proj, "test_plain.py")
    ed.command("PytestSummary")
    wait_for(ed, "_G.collected > 0", timeout=60)
    ed.exec_lua("require('pytest.tree').flush()")
    assert ed.api.get_mode()["blocking"] is False
    win = ed.exec_lua("return vim.fn.bufwinid(vim.fn.bufnr('pytest://summary'))")

    def shown():
        ed.exec_lua("require('pytest.tree').flush()")
        return summary(ed)[0], ed.exec_lua("return vim.api.nvim_win_get_width(...)", win)

    def width(text):
        return ed.exec_lua("return vim.fn.strdisplaywidth(...)", text)

    head, w = shown()
    assert w == 50
    c = ed.exec_lua("return require('pytest.tree').count()")
    nums = re.findall(r"([✗✓○·]) ?(\d+)", head)
    assert nums == [("✗", str(c["failed"])), ("✓", str(c["passed"])), ("○", str(c["skipped"])),
                    ("·", str(c["notrun"]))], head
    assert head.endswith("? keys") and width(head) <= 50, head
    # The root is long here (a temporary directory): it was shortened, never the numbers.
    assert len(proj) > 50 and proj not in head
    # After a run with failures, in a narrower window: still whole numbers and the hint.
    run(ed, "PytestRun test_plain.py")
    ed.exec_lua("require('pytest.tree').flush()")
    ed.exec_lua("vim.api.nvim_win_set_width(..., 34)", win)
    wait_for(ed, "vim.fn.strdisplaywidth(require('pytest.summary').lines()[1]) <= 34")  # resizing did it
    head, w = shown()
    c = ed.exec_lua("return require('pytest.tree').count()")
    assert w == 34 and width(head) <= 34 and head.endswith("? keys"), head
    assert re.findall(r"([✗✓○·]) ?(\d+)", head) == [
        ("✗", str(c["failed"])), ("✓", str(c["passed"])), ("○", str(c["skipped"])), ("·", str(c["notrun"]))]
    # A wide window shows it all as before.
    ed.exec_lua("vim.api.nvim_win_set_width(..., 180)", win)
    head, w = shown()
    assert head.startswith("pytest " + proj.replace(os.path.expanduser("~"), "~", 1) + "  ✗ ") and \
        head.endswith("  ? keys"), head
    assert ed.api.get_mode()["blocking"] is False


SUBTESTS_PROJ = os.path.join(FIXTURES_DIR, "proj_subtests")


def test_failed_subtests_are_in_quickfix_tree_counts_and_summary(nvim, tmp_path, request):
    """#28: each failed subtest (pytest 9's, pytest-subtests' on 7/8; unittest subTest and the
    `subtests` fixture) is a quickfix entry at the line of its assertion with its description and
    message, a node under its test in the tree and the summary (its test keeps pytest's verdict),
    and the tree's counts, the status line and the quickfix list agree with pytest's closing line.
    A run that reports a test again drops its subtests of before."""
    from conftest import require_subtests, setup_editor

    support = require_subtests(request.node.nodeid)
    proj = str(tmp_path / "proj_subtests")
    shutil.copytree(SUBTESTS_PROJ, proj, ignore=shutil.ignore_patterns("__pycache__"))
    ed = setup_editor(nvim)
    ed.command("cd " + proj)
    edit(ed, proj, "test_fixture.py", "test_unit.py")
    before = ed.exec_lua("return #_G.fired")
    ed.command("PytestRun -p no:cacheprovider")
    wait_for(ed, f"#_G.fired > {before}", timeout=60)
    r = ed.exec_lua("return require('pytest').last()")
    closing = [l.strip("= ") for l in r["output_tail"].splitlines() if l.startswith("=") and " in " in l][-1]
    assert r["summary"] == closing
    failed = int(closing.split(" failed")[0])
    passed = int(closing.split(" passed")[0].split(", ")[-1])
    qf = ed.exec_lua("""
        local out = {}
        for _, it in ipairs(vim.fn.getqflist()) do
          table.insert(out, { vim.fn.fnamemodify(vim.api.nvim_buf_get_name(it.bufnr), ':t'), it.lnum, it.type, it.text })
        end
        return out
    """)
    subs = [q for q in qf if "[odd]" in q[3] or "[second]" in q[3] or "(i=1)" in q[3]]
    assert subs == [
        ["test_fixture.py", 8, "E", "test_odd [odd] (i=1): assert (1 % 2) == 0"],
        ["test_fixture.py", 15, "E", "test_words [second]: AssertionError: assert 'z' in 'abc'"],
        ["test_unit.py", 9, "E", "Numbers::test_even (i=1): AssertionError: 1 != 0"],
    ], qf
    assert len(qf) == failed  # pytest 9: and the two tests it failed for their subtests
    entry = ed.exec_lua("return require('pytest.results').qf_entry(...)", qf.index(subs[2]) + 1)
    assert (entry["nodeid"], entry["subtest"]) == ("test_unit.py::Numbers::test_even", "(i=1)")
    assert f"{failed} failed" in ed.exec_lua("return require('pytest').statusline()")
    # The tree: its counts are pytest's; each subtest under its test, which keeps its verdict.
    ed.exec_lua("require('pytest.tree').flush()")
    t = ed.exec_lua("return require('pytest').tree()")
    assert (t["counts"]["failed"], t["counts"]["passed"]) == (failed, passed), (t["counts"], closing)
    tests = {(x["id"], x.get("subtest")): x for x in t["tests"]}
    even = tests[("test_unit.py::Numbers::test_even", None)]
    assert even["status"] == "passed" and [(c["kind"], c["subtest"], c["status"]) for c in even["children"]] == [
        ("subtest", "(i=1)", "failed")]
    assert tests[("test_unit.py::Numbers::test_even", "(i=1)")]["message"] == "AssertionError: 1 != 0"
    odd = tests[("test_fixture.py::test_odd", None)]
    assert odd["status"] == ("failed" if support == "pytest 9" else "passed")
    assert [c["subtest"] for c in odd["children"]] == ["[odd] (i=1)"]
    ed.command("PytestSummary")
    ed.exec_lua("require('pytest.tree').flush()")
    lines = [l.rstrip() for l in summary(ed)]
    at = next(i for i, l in enumerate(lines) if re.search(r"✓ test_even .*1 subtest failed$", l))
    assert re.fullmatch(r"\s+✗ \(i=1\)  AssertionError: 1 != 0", lines[at + 1]), lines
    assert len(lines[at + 1]) - len(lines[at + 1].lstrip()) > len(lines[at]) - len(lines[at].lstrip())
    # The test's report from its subtest's line: the test's, with the subtest's failure.
    ed.exec_lua("vim.api.nvim_win_set_cursor(0, { ... , 0 })", at + 2)
    ed.command("normal o")
    wait_for(ed, "vim.fn.bufnr('pytest://test-output') ~= -1 and (vim.api.nvim_buf_get_lines("
                 "vim.fn.bufnr('pytest://test-output'), 0, 1, false)[1] or ''):find('test_even', 1, true) ~= nil",
             timeout=30)
    text = "\n".join(output_buffer(ed))
    assert text.startswith("# test_unit.py::Numbers::test_even: passed") and "subtest (i=1):" in text, text
    # test_even fixed and run again: its old subtest goes; test_fixture.py's, not run, stay.
    src = os.path.join(proj, "test_unit.py")
    with open(src) as f:
        code = f.read()
    with open(src, "w") as f:
        f.write(code.replace("self.assertEqual(i % 2, 0)  # FAILS: i=1", "self.assertLess(i, 3)"))
    before = ed.exec_lua("return #_G.fired")
    ed.command("PytestRun -p no:cacheprovider test_unit.py")
    wait_for(ed, f"#_G.fired > {before}", timeout=60)
    ed.exec_lua("require('pytest.tree').flush()")
    t = ed.exec_lua("return require('pytest').tree()")
    tests = {(x["id"], x.get("subtest")): x for x in t["tests"]}
    assert ("test_unit.py::Numbers::test_even", "(i=1)") not in tests
    assert "children" not in tests[("test_unit.py::Numbers::test_even", None)]
    assert ("test_fixture.py::test_odd", "[odd] (i=1)") in tests
    assert t["counts"]["failed"] == failed - 1
