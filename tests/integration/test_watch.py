""":PytestWatch: on every write of a .py file the co-process reruns the test files the save
can affect through the project's import graph (tests/fixtures/proj_watch), debounced, a save
during a run cancelling it. Real editor, real co-process, real pytest runs."""
import os
import shutil

import pytest

from conftest import FIXTURES_DIR, TEST_PYTHON, dispatch, wait_for

WATCH_FIXTURE = os.path.join(FIXTURES_DIR, "proj_watch")

RECORDER = """
_G.wlog = {}
local events = require('pytest.events')
local orig = events.dispatch
events.dispatch = function(name, payload)
  if name == 'watch' or name == 'started' or name == 'finished' then
    table.insert(_G.wlog, { name = name, p = payload })
  end
  return orig(name, payload)
end
"""


@pytest.fixture
def proj(tmp_path):
    dst = tmp_path / "proj"
    shutil.copytree(WATCH_FIXTURE, dst)
    return str(dst)


def log(nv):
    return nv.exec_lua("return _G.wlog")


def count(nv, name, **match):
    return sum(1 for e in log(nv) if e["name"] == name and all(e["p"].get(k) == v for k, v in match.items()))


def wait_count(nv, name, n, timeout=30, **match):
    cond = " and ".join(f"e.p.{k} == {lua_lit(v)}" for k, v in match.items()) or "true"
    wait_for(nv, f"""(function() local c = 0
        for _, e in ipairs(_G.wlog) do if e.name == '{name}' and {cond} then c = c + 1 end end
        return c >= {n} end)()""", timeout=timeout)


def lua_lit(v):
    return f"'{v}'" if isinstance(v, str) else str(v).lower()


def last(nv, name):
    return [e["p"] for e in log(nv) if e["name"] == name][-1]


def save(nv, path):
    """Edit `path` and write it with a change, as a user would."""
    nv.command("edit " + path)
    nv.current.buffer.append("# saved")
    nv.command("write")


def run_files(started, proj):
    """The test files of a run's argv, root-relative, in order."""
    paths = [os.path.normpath(os.path.join(proj, a)) for a in started["args"] if not a.startswith("-")]
    return [a[len(proj) + 1:] for a in paths if a.startswith(proj + os.sep) and os.path.exists(a)]


def start_watch(nv, proj, args=""):
    nv.exec_lua("require('pytest').setup({ python = ..., watch_debounce_ms = 150 })", TEST_PYTHON)
    nv.exec_lua(RECORDER)
    nv.command("cd " + proj)
    nv.command("edit " + os.path.join(proj, "pkg", "a.py"))
    nv.command("PytestWatch " + args)
    wait_count(nv, "watch", 1, state="ready")


def test_a_save_reruns_exactly_the_affected_tests(nvim, proj):
    start_watch(nvim, proj)
    assert "watch" in nvim.exec_lua("return require('pytest').statusline()")

    # pkg/a.py: test_a imports it, test_b through pkg.b's relative import; test_c does not.
    save(nvim, os.path.join(proj, "pkg", "a.py"))
    wait_count(nvim, "finished", 1)
    started = last(nvim, "started")
    assert sorted(run_files(started, proj)) == ["tests/test_a.py", "tests/test_b.py"]
    fin = last(nvim, "finished")
    assert fin["status"] == "passed" and fin["counts"]["passed"] == 3, fin["summary"]
    decided = [e["p"] for e in log(nvim) if e["name"] == "watch" and e["p"]["state"] == "run"][-1]
    assert decided["whole"] is False and decided["run_id"] == fin["run_id"]

    # A test file that imports nothing of pkg: only itself.
    save(nvim, os.path.join(proj, "tests", "test_c.py"))
    wait_count(nvim, "finished", 2)
    assert run_files(last(nvim, "started"), proj) == ["tests/test_c.py"]
    assert last(nvim, "finished")["counts"]["passed"] == 3

    # The conftest.py reaches every test file in its directory.
    save(nvim, os.path.join(proj, "tests", "conftest.py"))
    wait_count(nvim, "finished", 3)
    assert sorted(run_files(last(nvim, "started"), proj)) == [
        "tests/test_a.py", "tests/test_b.py", "tests/test_c.py"]

    # A module no test depends on: no run, and the user is told.
    save(nvim, os.path.join(proj, "pkg", "c.py"))
    wait_count(nvim, "watch", 1, state="idle")
    assert count(nvim, "started") == 3
    assert any("no watched test depends on c.py" in n["msg"] for n in nvim.exec_lua("return _G.__notes"))

    # :PytestWatch again ends it: the status line says so and saves rerun nothing.
    nvim.command("PytestWatch")
    wait_for(nvim, "not require('pytest.watch').is_on()")
    assert "watch" not in nvim.exec_lua("return require('pytest').statusline()")
    assert nvim.exec_lua("return vim.fn.exists('#pytest_watch')") == 0
    assert nvim.exec_lua("return { require('pytest.client').request('saved', { file = ... }) }",
                         os.path.join(proj, "pkg", "a.py")) == [True, False]


def test_quick_saves_are_one_run_and_failures_go_first(nvim, proj):
    start_watch(nvim, proj)
    open(os.path.join(proj, "FAIL_B"), "w").close()
    # Two writes within the debounce delay: one run.
    nvim.command("edit " + os.path.join(proj, "pkg", "a.py"))
    nvim.exec_lua("vim.cmd('write'); vim.cmd('write')")
    wait_count(nvim, "finished", 1)
    fin = last(nvim, "finished")
    assert fin["counts"] == dict(fin["counts"], passed=2, failed=1)
    # The next save's run is the next run: the two writes did not start a second one.
    os.unlink(os.path.join(proj, "FAIL_B"))
    save(nvim, os.path.join(proj, "pkg", "a.py"))
    wait_count(nvim, "finished", 2)
    assert count(nvim, "started") == 2
    assert [e["p"]["saved"] for e in log(nvim) if e["name"] == "watch" and e["p"]["state"] == "run"] == [
        [os.path.join(proj, "pkg", "a.py")]] * 2
    # test_b failed last time: its file runs first.
    assert run_files(last(nvim, "started"), proj) == ["tests/test_b.py", "tests/test_a.py"]
    assert last(nvim, "finished")["status"] == "passed"


def test_a_save_during_a_run_cancels_it_and_starts_over(nvim, proj):
    start_watch(nvim, proj)
    hold = os.path.join(proj, "HOLD")
    open(hold, "w").close()
    save(nvim, os.path.join(proj, "tests", "test_c.py"))
    wait_count(nvim, "started", 1)
    first = last(nvim, "started")["run_id"]
    save(nvim, os.path.join(proj, "tests", "test_c.py"))
    wait_count(nvim, "started", 2)
    second = last(nvim, "started")["run_id"]
    assert second > first
    wait_count(nvim, "finished", 1, run_id=first, status="cancelled")
    os.unlink(hold)
    wait_count(nvim, "finished", 1, run_id=second, status="passed")
    assert last(nvim, "finished")["counts"]["passed"] == 3


def test_watched_paths_limit_the_reruns_and_pytest_stop_ends_watching(nvim, proj):
    # Watching tests/test_a.py only: a save of pkg/a.py reruns test_a, not test_b.
    start_watch(nvim, proj, "tests/test_a.py -q")
    save(nvim, os.path.join(proj, "pkg", "a.py"))
    wait_count(nvim, "finished", 1)
    started = last(nvim, "started")
    assert run_files(started, proj) == ["tests/test_a.py"] and "-q" in started["args"]
    # A file outside the root is none of the watch's business.
    outside = os.path.join(os.path.dirname(proj), "elsewhere.py")
    save(nvim, outside)
    assert nvim.exec_lua("return { require('pytest.client').request('saved', { file = ... }) }",
                         outside) == [True, False]
    # A save the graph cannot decide (a directory it does not scan): the whole selection as given.
    os.makedirs(os.path.join(proj, "build"))
    save(nvim, os.path.join(proj, "build", "generated.py"))
    wait_count(nvim, "finished", 2)
    decided = [e["p"] for e in log(nvim) if e["name"] == "watch" and e["p"]["state"] == "run"]
    assert len(decided) == 2 and decided[-1]["saved"] == [os.path.join(proj, "build", "generated.py")]
    assert decided[-1]["whole"] is True and "not a module of the project" in decided[-1]["why"]
    assert run_files(last(nvim, "started"), proj) == ["tests/test_a.py"]
    nvim.command("PytestStop")
    wait_for(nvim, "not require('pytest.watch').is_on()")
    wait_for(nvim, "require('pytest.client').pending() == 0")
    assert nvim.exec_lua("return { require('pytest.client').request('unwatch') }") == [True, False]


def test_a_file_too_big_to_read_and_a_cut_scan_are_told(nvim, proj):
    start_watch(nvim, proj)
    # A write of a 9 MiB module (the autocmd a :write fires): not read, and the user is told.
    big = os.path.join(proj, "pkg", "big.py")
    with open(big, "wb") as f:
        f.truncate(9 * 1024 * 1024)
    nvim.command("doautocmd pytest_watch BufWritePost " + big)
    wait_count(nvim, "watch", 1, state="idle")
    idle = last(nvim, "watch")
    assert idle["skipped"] == [{"file": big, "why": "larger than 8 MiB: its imports are not read"}]
    msgs = [n["msg"] for n in nvim.exec_lua("return _G.__notes")]
    assert any("big.py: larger than 8 MiB: its imports are not read" in m for m in msgs), msgs
    # A scan cut by its time limit (10 s: told as the co-process says it).
    dispatch(nvim, "watch", {"state": "ready", "root": proj, "files": 5, "scan_ms": 10000, "truncated": True,
                             "dynamic": 0, "why": "the scan stopped after 10 s (the limit), 5 .py files read"})
    msgs = [n["msg"] for n in nvim.exec_lua("return _G.__notes")]
    assert any("the import graph is incomplete (the scan stopped after 10 s (the limit), 5 .py files read); "
               "every save reruns the whole selection" in m for m in msgs), msgs


def test_a_watch_run_s_quickfix_title_says_what_ran(nvim, proj):
    """#29 item 5: the quickfix title of a watch run listed every affected test file by its
    absolute path (674 characters for 12 files). It says what ran and after which save."""
    start_watch(nvim, proj)

    def title():
        return nvim.exec_lua("return vim.fn.getqflist({ title = 1 }).title")

    save(nvim, os.path.join(proj, "pkg", "a.py"))
    wait_count(nvim, "finished", 1)
    assert title() == "pytest watch: 2 files after pkg/a.py: " + last(nvim, "finished")["summary"]
    save(nvim, os.path.join(proj, "tests", "test_c.py"))
    wait_count(nvim, "finished", 2)
    assert title() == "pytest watch: tests/test_c.py after tests/test_c.py: " + last(nvim, "finished")["summary"]
    # A save the graph cannot decide: the watched selection as given.
    os.makedirs(os.path.join(proj, "build"))
    save(nvim, os.path.join(proj, "build", "generated.py"))
    wait_count(nvim, "finished", 3)
    assert title() == "pytest watch: every test after build/generated.py: " + last(nvim, "finished")["summary"]
    # :PytestHistory says it the same way; a run of the user's own names its args.
    nvim.command("PytestRun tests/test_c.py")
    wait_count(nvim, "finished", 4)
    assert title() == "pytest tests/test_c.py: " + last(nvim, "finished")["summary"]
    nvim.exec_lua("vim.ui.select = function(items, opts) _G.picked = vim.tbl_map(opts.format_item, items) end")
    nvim.command("PytestHistory")
    wait_for(nvim, "_G.picked ~= nil")
    picked = nvim.exec_lua("return _G.picked")
    assert "[tests/test_c.py]" in picked[0]
    assert "[watch: 2 files after pkg/a.py]" in picked[3] and proj not in picked[3], picked
