"""The co-process lifecycle as the user meets it, against the real co-process
(`build/pytestmon --rpc`, no stand-in): missing binary, lazy start, `configure` first (seen
through what the co-process does with it: the memory log in log_dir, the editor pid in `mem`),
run requests (seen through the `started` event and last()), death and restart."""
import json
import os
import signal
import threading
import time

import psutil
import pytest

from conftest import BIN, FIXTURES_DIR, PROJ_FAIL, TEST_PYTHON, coprocesses, make_project, run_and_wait, setup_editor, wait_for
from conftest import get_notes as notes

PYTHON = TEST_PYTHON
PROJ_PASS = os.path.join(FIXTURES_DIR, "proj_pass")

needs_bin = pytest.mark.skipif(not os.access(BIN, os.X_OK), reason=f"co-process {BIN} not built")


@pytest.fixture
def ed(ed):
    """conftest's `ed`, and a record of the `started` payloads."""
    ed.exec_lua("""
        _G.started = {}
        local h = require('pytest.events').handlers
        local orig = h.started
        h.started = function(p) table.insert(_G.started, p) return orig(p) end
    """)
    return ed


def memlog(log_dir):
    path = os.path.join(log_dir, "memory.jsonl")
    if not os.path.exists(path):
        return []
    with open(path, encoding="utf-8") as f:
        return [json.loads(line) for line in f if line.strip()]


def test_missing_binary_one_clear_message(nvim, repo_root):
    nvim.call("setenv", "PYTESTMON_BIN", "/nonexistent/pytestmon")
    nvim.command("cd " + PROJ_FAIL)
    nvim.command("PytestRun")
    msgs = notes(nvim)
    assert len(msgs) == 1
    assert msgs[0]["level"] == 4
    assert msgs[0]["msg"] == (
        "pytest: co-process /nonexistent/pytestmon is missing or not executable; "
        f"run `make` in {repo_root} to build it"
    )


@needs_bin
def test_not_started_until_first_use(ed, log_dir):
    ed.exec_lua("require('pytest').setup({ python = ... })", PYTHON)
    ed.exec_lua("require('pytest').statusline() require('pytest').last() require('pytest').is_running()")
    assert ed.exec_lua("return require('pytest.client').is_running()") is False
    assert coprocesses(ed) == []
    assert memlog(log_dir) == []
    assert ed.exec_lua("return require('pytest.client').call('ping')") == "pong"
    assert len(coprocesses(ed)) == 1


@needs_bin
def test_configure_sent_first(ed, log_dir):
    editor_pid = ed.call("getpid")
    # The very first request after the start already sees the configuration.
    rep = ed.exec_lua("return require('pytest.client').call('mem', vim.empty_dict())")
    assert rep["pid"] == editor_pid  # `mem` without a pid reports the configured editor_pid
    roles = {p["role"]: p for p in rep["processes"]}
    assert roles["editor"]["pid"] == editor_pid
    # the report's own process is read once: the editor's row is the same reading
    assert roles["editor"]["process"] == rep["process"] and roles["editor"]["tree"] == rep["tree"]
    co = coprocesses(ed)
    assert len(co) == 1 and roles["co-process"]["pid"] == co[0].pid
    assert "pytest" not in roles  # nothing runs
    # log_dir: the co-process opened its memory log there and logged its start first.
    assert rep["memlog_path"] == os.path.join(log_dir, "memory.jsonl")
    records = memlog(log_dir)
    assert records[0]["event"] == "coprocess_start"
    assert records[0]["editor"]["pid"] == editor_pid
    assert records[0]["coprocess"]["pid"] == co[0].pid


@needs_bin
def test_log_dir_is_made_private_and_unsafe_one_refused(ed, tmp_path):
    fresh = tmp_path / "state" / "pytest-logs"
    ed.exec_lua("local py, dir = ... require('pytest').setup({ python = py, log_dir = dir })", PYTHON, str(fresh))
    assert ed.exec_lua("return require('pytest.client').call('ping')") == "pong"
    assert (fresh.stat().st_mode & 0o777) == 0o700, oct(fresh.stat().st_mode)
    assert (fresh.parent.stat().st_mode & 0o777) == 0o700
    # A log_dir others can write into: one clear error, runs go on without logs.
    shared = tmp_path / "shared"
    shared.mkdir()
    os.chmod(shared, 0o777)
    ed.exec_lua("local py, dir = ... require('pytest').setup({ python = py, log_dir = dir })", PYTHON, str(shared))
    wait_for(ed, "#_G.__notes > 0")
    msg = notes(ed)[-1]
    assert msg["level"] == 4 and str(shared) in msg["msg"] and "writable by others" in msg["msg"]
    ed.command("cd " + PROJ_PASS)
    r = run_and_wait(ed, "PytestRun")
    assert r["status"] == "passed", r.get("error")
    assert "log_path" not in r and "writable by others" in r["log_error"]
    assert os.listdir(shared) == []


@needs_bin
def test_setup_reconfigures_a_running_coprocess(ed, log_dir, tmp_path):
    assert ed.exec_lua("return require('pytest.client').call('ping')") == "pong"
    pid = coprocesses(ed)[0].pid
    other = str(tmp_path / "other-logs")
    ed.exec_lua("local py, dir = ... require('pytest').setup({ python = py, log_dir = dir, history_size = 1 })",
                PYTHON, other)
    wait_for(ed, "require('pytest.client').pending() == 0")  # `configure` does not block setup()
    assert [r["event"] for r in memlog(other)] == ["coprocess_start"]
    assert coprocesses(ed)[0].pid == pid  # same process, new configuration
    ed.command("cd " + PROJ_PASS)
    first = run_and_wait(ed, "PytestRun")
    second = run_and_wait(ed, "PytestRun")
    assert os.path.dirname(second["log_path"]) == other
    history = ed.exec_lua("return require('pytest.client').call('history')")
    assert [h["run_id"] for h in history] == [second["run_id"]]  # history_size = 1
    assert first["run_id"] != second["run_id"]


@needs_bin
def test_run_request_and_events(ed):
    ed.exec_lua("require('pytest').setup({ python = ..., timeout = 30, args = { '-q' } })", PYTHON)
    ed.command("cd " + PROJ_FAIL)
    ed.command("edit " + os.path.join(PROJ_FAIL, "tests", "test_math.py"))
    r = run_and_wait(ed, "PytestFile")
    started = ed.exec_lua("return _G.started")
    assert len(started) == 1
    s = started[0]
    assert s["run_id"] == r["run_id"]
    assert (s["args"], s["cwd"], s["root"], s["python"]) == (["-q", "tests/test_math.py"], PROJ_FAIL, PROJ_FAIL, PYTHON)
    # The command line: our interpreter, then the args (paths may be made absolute).
    assert s["cmd"][:3] == [PYTHON, "-m", "pytest"] and s["cmd"][-2] == "-q"
    assert os.path.join(PROJ_FAIL, s["cmd"][-1]) == os.path.join(PROJ_FAIL, "tests", "test_math.py")
    assert (r["args"], r["cwd"], r["root"], r["python"], r["cmd"]) == (s["args"], s["cwd"], s["root"], s["python"], s["cmd"])
    assert r["status"] == "failed" and r["counts"]["failed"] >= 1
    assert notes(ed)[-1]["msg"] == "pytest: " + r["summary"]
    assert ed.exec_lua("return vim.fn.getqflist({ title = 1 }).title") == "pytest -q tests/test_math.py: " + r["summary"]
    # :PytestLast repeats it; :PytestFailed adds --lf.
    assert run_and_wait(ed, "PytestLast")["args"] == ["-q", "tests/test_math.py"]
    assert run_and_wait(ed, "PytestFailed")["args"] == ["-q", "tests/test_math.py", "--lf"]
    assert [x["args"] for x in ed.exec_lua("return _G.started")] == [
        ["-q", "tests/test_math.py"], ["-q", "tests/test_math.py"], ["-q", "tests/test_math.py", "--lf"]]


PROJ_FLAT = os.path.join(FIXTURES_DIR, "proj_flat")
PROJ_SRC = os.path.join(FIXTURES_DIR, "proj_src")


def failed_ids(r):
    return sorted(f["nodeid"] for f in r["failures"])


@needs_bin
def test_file_and_nearest_run_in_the_ini_root_not_the_conftest_dir(ed):
    """Flat layout: pyproject.toml, mypkg/, tests/conftest.py. pytest must start in the root
    (mypkg is importable only from there), not in tests/ where the nearest conftest.py is."""
    ed.command("edit " + os.path.join(PROJ_FLAT, "tests", "test_a.py"))
    r = run_and_wait(ed, "PytestFile")
    assert r["root"] == PROJ_FLAT, r
    assert failed_ids(r) == ["tests/test_a.py::test_add_wrong"], r["output_tail"]
    assert (r["counts"]["passed"], r["counts"]["errors"]) == (1, 0)
    ed.call("cursor", 5, 1)  # inside test_add
    r = run_and_wait(ed, "PytestNearest")
    assert r["root"] == PROJ_FLAT
    assert r["status"] == "passed" and r["counts"]["passed"] == 1, r.get("error") or r["output_tail"]


@needs_bin
def test_python_function_gets_the_coprocess_root(ed):
    ed.exec_lua("""local python = ...
      require('pytest').setup({ python = function(root)
        _G.python_roots = _G.python_roots or {}
        table.insert(_G.python_roots, root)
        return python
      end })""", PYTHON)
    ed.command("edit " + os.path.join(PROJ_FLAT, "tests", "test_a.py"))
    r = run_and_wait(ed, "PytestFile")
    assert ed.exec_lua("return _G.python_roots") == [PROJ_FLAT]
    assert r["python"] == PYTHON and r["python_why"] == "the python option"


@needs_bin
def test_paths_typed_in_a_subdirectory_are_relative_to_it(ed):
    """`:cd tests` then `:PytestRun test_a.py::test_add`: pytest runs in the root, the path is
    the one completion offered, relative to the editor's directory."""
    ed.command("cd " + os.path.join(PROJ_FLAT, "tests"))
    ed.command("enew")
    assert "test_a.py" in ed.exec_lua("return require('pytest')._complete('test_')")
    r = run_and_wait(ed, "PytestRun test_a.py::test_add")
    assert r["root"] == PROJ_FLAT and r["cwd"] == os.path.join(PROJ_FLAT, "tests")
    assert r["status"] == "passed" and r["counts"]["passed"] == 1, r.get("error") or r["output_tail"]
    # :PytestLast after another :cd still means the same file.
    ed.command("cd " + FIXTURES_DIR)
    r = run_and_wait(ed, "PytestLast")
    assert r["status"] == "passed" and r["counts"]["passed"] == 1, r.get("error") or r["output_tail"]


@needs_bin
@pytest.mark.parametrize("editor_pythonpath", [None, "/nonexistent/pytestmon-editor-path"])
def test_env_pythonpath_is_relative_to_the_root_and_replaces_the_editors(ed, editor_pythonpath):
    """src layout with `env = { PYTHONPATH = 'src' }` run from tests/ (which has a conftest.py):
    'src' means the root's src/, and it wins over a PYTHONPATH the editor already has."""
    if editor_pythonpath:
        ed.call("setenv", "PYTHONPATH", editor_pythonpath)  # before the co-process starts
    ed.exec_lua("require('pytest').setup({ python = ..., env = { PYTHONPATH = 'src' } })", PYTHON)
    ed.command("edit " + os.path.join(PROJ_SRC, "tests", "test_b.py"))
    r = run_and_wait(ed, "PytestFile")
    assert r["root"] == PROJ_SRC
    assert r["status"] == "passed" and r["counts"]["passed"] == 1, r.get("error") or r["output_tail"]


@needs_bin
def test_timeout_and_env_reach_the_run(ed):
    ed.exec_lua("require('pytest').setup({ python = ..., timeout = 1 })", PYTHON)
    ed.command("cd " + os.path.join(FIXTURES_DIR, "proj_slow"))
    r = run_and_wait(ed, "PytestRun")
    assert r["status"] == "timed_out" and r["timed_out"] is True
    # env: the fixture kills itself with SIGKILL when told so through the environment.
    ed.exec_lua("require('pytest').setup({ python = ..., env = { PYTESTMON_FIXTURE_MODE = 'sigkill' } })", PYTHON)
    ed.command("cd " + os.path.join(FIXTURES_DIR, "proj_memerr"))
    r = run_and_wait(ed, "PytestRun")
    assert r.get("signal") == 9, r


@needs_bin
@pytest.mark.parametrize("user_tunables", [None, "glibc.malloc.arena_max=4"])
def test_coprocess_runs_without_tcache_and_pytest_gets_the_users_tunables(ed, tmp_path, user_tunables):
    """The co-process starts with glibc's tcache off (its RSS would creep over hundreds of runs);
    pytest still sees exactly the GLIBC_TUNABLES of the editor, or none."""
    if user_tunables:
        ed.call("setenv", "GLIBC_TUNABLES", user_tunables)
    seen = tmp_path / "seen.txt"
    proj = make_project(
        tmp_path, "test_env.py",
        "import os\n\ndef test_env():\n"
        f"    open({str(seen)!r}, 'w').write(os.environ.get('GLIBC_TUNABLES', '<unset>') + '|'\n"
        "        + os.environ.get('PYTESTMON_CHILD_GLIBC_TUNABLES', '<unset>'))\n")
    ed.command("cd " + str(proj))
    r = run_and_wait(ed, "PytestRun")
    assert r["status"] == "passed", r.get("output_tail")
    assert seen.read_text() == (user_tunables or "<unset>") + "|<unset>"
    [co] = coprocesses(ed)
    # The environment it was started with. glibc cuts GLIBC_TUNABLES in place while parsing
    # it (a NUL after each tunable), so look at the raw bytes.
    with open(f"/proc/{co.pid}/environ", "rb") as f:
        raw = f.read()
    want = (user_tunables + "\0" if user_tunables else "") + "glibc.malloc.tcache_count=0"
    assert b"GLIBC_TUNABLES=" + want.encode() in raw


@needs_bin
def test_run_command_splits_like_a_shell(ed):
    ed.command("cd " + PROJ_FAIL)
    r = run_and_wait(ed, r'PytestRun -k "add or mul" tests/sub/test_spaced\ name\ é.py')
    assert r["args"] == ["-k", "add or mul", "tests/sub/test_spaced name é.py"]
    assert r["cwd"] == PROJ_FAIL
    assert r["cmd"][-3:-1] == ["-k", "add or mul"]
    assert os.path.join(PROJ_FAIL, r["cmd"][-1]) == os.path.join(PROJ_FAIL, "tests", "sub", "test_spaced name é.py")


@needs_bin
def test_nearest_runs_the_collected_node_id(ed):
    """From a subdirectory too: the node id is pytest's own (relative to the root, where
    pytest runs)."""
    ed.command("cd " + os.path.join(PROJ_FAIL, "tests"))
    ed.command("edit " + os.path.join(PROJ_FAIL, "tests", "test_math.py"))
    ed.current.window.cursor = (26, 8)
    r = run_and_wait(ed, "PytestNearest")
    assert r["args"] == ["tests/test_math.py::TestCalc::test_mul"]
    assert r["root"] == PROJ_FAIL and r["counts"]["failed"] == 1


@needs_bin
def test_stop_without_run(ed):
    ed.command("PytestStop")  # co-process not started: it is not started for this
    assert notes(ed)[-1]["msg"] == "pytest: no run is active"
    assert coprocesses(ed) == []
    assert ed.exec_lua("return require('pytest.client').call('ping')") == "pong"
    ed.command("PytestStop")  # started, idle: `cancel` answers false (as an event)
    wait_for(ed, "require('pytest.client').pending() == 0")
    assert notes(ed)[-1]["msg"] == "pytest: no run is active"
    assert len(notes(ed)) == 2


@needs_bin
def test_restart_after_death_told_once(ed, log_dir):
    assert ed.exec_lua("return require('pytest.client').call('ping')") == "pong"
    (old,) = coprocesses(ed)
    old.send_signal(signal.SIGKILL)
    wait_for(ed, "not require('pytest.client').is_running()")
    assert notes(ed) == []  # nothing to say until the user needs it again
    ed.command("cd " + PROJ_PASS)
    r = run_and_wait(ed, "PytestRun")
    assert r["status"] == "passed"
    r = run_and_wait(ed, "PytestRun")
    assert r["status"] == "passed"
    msgs = [n["msg"] for n in notes(ed)]
    restarted = [m for m in msgs if "restarted" in m]
    assert restarted == ["pytest: pytestmon co-process exited (code 137); restarted"]
    (new,) = coprocesses(ed)
    assert new.pid != old.pid
    # The new process was configured too: it logged its own start in the same log_dir.
    starts = [rec["coprocess"]["pid"] for rec in memlog(log_dir) if rec["event"] == "coprocess_start"]
    assert starts == [old.pid, new.pid]


@needs_bin
def test_death_during_a_run_is_reported(ed):
    ed.command("cd " + os.path.join(FIXTURES_DIR, "proj_slow"))
    ed.command("PytestRun")
    wait_for(ed, "(require('pytest.state').progress or {}).current ~= nil", timeout=30)
    (co,) = coprocesses(ed)
    pytest_tree = co.children(recursive=True)
    try:
        co.send_signal(signal.SIGKILL)
        wait_for(ed, "not require('pytest').is_running()")
        assert notes(ed)[-1] == {
            "msg": "pytest: pytestmon co-process exited (code 137) during a run; the run was lost",
            "level": 4}
        assert not ed.exec_lua("return require('pytest').statusline()").startswith("▶")
        r = run_and_wait(ed, "PytestRun -k test_quick")
        assert r["status"] == "passed"
    finally:
        # pytest ran in its own session under the killed co-process: end it here.
        for p in pytest_tree:
            try:
                p.kill()
            except psutil.Error:
                pass


@needs_bin
def test_history_empty(ed):
    ed.command("PytestHistory")
    wait_for(ed, "require('pytest.client').pending() == 0")  # answers come as events
    assert notes(ed)[-1]["msg"] == "pytest: no runs in the history yet"


@needs_bin
def test_logs_go_to_the_per_test_log_dir(ed, log_dir, tmp_path):
    """The suite never writes into the user's state dir: the default log_dir of every test
    editor is inside the test's own tmp dir (conftest sets XDG_STATE_HOME/XDG_CACHE_HOME)."""
    assert log_dir.startswith(str(tmp_path) + os.sep)
    assert log_dir.endswith(os.path.join("nvim", "pytest"))
    ed.command("cd " + PROJ_PASS)
    r = run_and_wait(ed, "PytestRun")
    assert os.path.dirname(r["log_path"]) == log_dir and os.path.exists(r["log_path"])
    assert [rec["event"] for rec in memlog(log_dir)] == ["coprocess_start", "run_start", "run_end"]


@needs_bin
def test_memory_command_does_not_wait_on_a_busy_coprocess(ed):
    """:PytestMemory used a blocking vim.rpcrequest: while the co-process was busy (a `mem` of
    a 200-process tree took 7.2 s) the editor froze. Here the co-process is stopped outright:
    the command returns at once, and the buffer fills when the answer comes."""
    assert ed.exec_lua("return require('pytest.client').call('ping')") == "pong"
    (co,) = coprocesses(ed)
    co.suspend()
    safety = threading.Timer(5, co.resume)  # the old code would block until this fires
    safety.start()
    try:
        t0 = time.monotonic()
        ed.command("PytestMemory")
        elapsed = time.monotonic() - t0
        in_flight = ed.exec_lua("return require('pytest.client').pending()")
    finally:
        co.resume()
        safety.cancel()
    assert elapsed < 2, f":PytestMemory blocked for {elapsed:.1f} s"
    assert in_flight == 1
    wait_for(ed, "require('pytest.client').pending() == 0", timeout=30)
    assert ed.current.buffer.name == "pytest://memory"
    assert "Headroom: " in "\n".join(ed.current.buffer[:])


@needs_bin
def test_unanswered_request_is_reported_not_waited_for(ed):
    assert ed.exec_lua("return require('pytest.client').call('ping')") == "pong"
    (co,) = coprocesses(ed)
    ed.exec_lua("require('pytest.client').async_timeout_ms = 300")
    co.suspend()
    safety = threading.Timer(5, co.resume)  # the old code would block until this fires
    safety.start()
    try:
        ed.command("PytestHistory")
        wait_for(ed, "#_G.__notes > 0", timeout=5)
    finally:
        co.resume()
        safety.cancel()
    assert notes(ed) == [{"msg": "pytest: no answer to history within 0.3 s", "level": 4}]
    # The late answer is dropped quietly; the co-process serves on.
    assert ed.exec_lua("return require('pytest.client').call('ping')") == "pong"
    assert len(notes(ed)) == 1


def test_every_event_of_the_table_has_a_handler(nvim):
    """Each event the co-process may push (its event table, `--rpc-events`) is dispatched to a
    handler of pytest.events: none is dropped as unknown."""
    import subprocess
    out = subprocess.run([BIN, "--rpc-events"], capture_output=True, text=True, timeout=10).stdout
    names = [line.split("`")[1] for line in out.splitlines()]
    handled = nvim.exec_lua("local t = {} for k in pairs(require('pytest.events').handlers) do t[#t + 1] = k end return t")
    assert names and set(names) <= set(handled), sorted(set(names) - set(handled))


def test_vim_uv_where_there_is_one(nvim):
    """vim.loop is deprecated since Neovim 0.10 (vim.uv): a run, its timers, the tree and the
    configuration use vim.uv where it exists (and vim.loop on 0.7-0.9)."""
    if not nvim.exec_lua("return vim.uv ~= nil"):
        pytest.skip("this Neovim has only vim.loop")
    nvim.exec_lua("""
        for name in pairs(package.loaded) do
          if name:match('^pytest%.') and name ~= 'pytest.highlight' then package.loaded[name] = nil end
        end
        vim.loop = setmetatable({}, { __index = function(_, k)
          error('vim.loop.' .. k .. ' used: it is deprecated, use vim.uv', 2) end })
    """)
    setup_editor(nvim)
    nvim.command("cd " + PROJ_FAIL)
    nvim.command("edit tests/test_math.py")        # marks want the tree: collected, then updated
    r = run_and_wait(nvim, "PytestRun")
    assert r["status"] == "failed" and r["counts"]["passed"] > 0, r["summary"]
    wait_for(nvim, "require('pytest.tree')._state().collected")
    r = run_and_wait(nvim, "PytestRun")
    assert r["status"] == "failed" and r["counts"]["passed"] > 0, r["summary"]
    assert nvim.exec_lua("return require('pytest.tree')._state().timer ~= nil")   # its flush timer
    assert [n for n in notes(nvim) if "vim.loop" in n["msg"]] == []
