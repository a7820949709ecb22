"""Warm start (issue #26): runs forked from a warm pytest of the project (src/pytest/warm.h,
python/pytestmon_warm.py) answer exactly as cold runs do, and run cold, saying why, where they
cannot be warm. Real co-process over its pipes, real pytest, real /proc; every wait has a
deadline."""
import os
import random
import resource
import signal
import subprocess
import time

import pytest

from conftest import BIN, FIXTURES_DIR, TEST_PYTHON
from test_exact_locations import sites
from test_rpc_protocol import Peer

PYTHON = TEST_PYTHON
PROJ_FAIL = os.path.join(FIXTURES_DIR, "proj_fail")


@pytest.fixture
def peer():
    p = Peer()
    yield p
    p.close()


class Session:
    def __init__(self, peer):
        self.peer = peer
        self.msgid = 100

    def request(self, method, params):
        self.msgid += 1
        self.peer.request(self.msgid, method, params)
        r = self.peer.response(self.msgid)
        assert r[2] is None, r[2]
        return r[3]

    def run(self, cwd, args=(), warm=True, env=None, wait=True, **opts):
        opts.update({"cwd": cwd, "python": PYTHON, "args": list(args), "warm": 1 if warm else 0})
        if env:
            opts["env"] = env
        run_id = self.request("run", [opts])
        if not wait:
            return run_id
        return self.finished(run_id)

    def finished(self, run_id, timeout=120):
        deadline = time.monotonic() + timeout
        while True:
            r = self.peer.event("finished", timeout=max(0.1, deadline - time.monotonic()))
            if r["run_id"] == run_id:
                return r

    def warm_procs(self):
        return self.request("mem", [{}])["warm"]

    def wait_warm(self, root, state="ready", timeout=60):
        """The warm pytest of `root` in `state` (the `mem` report lists them), within timeout."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for w in self.warm_procs():
                if w["root"] == os.path.realpath(root) and w["state"] == state:
                    return w
            time.sleep(0.02)
        raise AssertionError("no %s warm pytest for %s: %r" % (state, root, self.warm_procs()))


@pytest.fixture
def s(peer):
    return Session(peer)


def alive(pid):
    try:
        with open("/proc/%d/stat" % pid) as f:
            return f.read().split(")")[-1].split()[0] != "Z"
    except OSError:
        return False


def wait_gone(pid, timeout=10):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not alive(pid):
            return
        time.sleep(0.02)
    raise AssertionError("process %d is still alive" % pid)


def wait_file(path, timeout=30):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if os.path.exists(path) and os.path.getsize(path):
            return open(path).read()
        time.sleep(0.02)
    raise AssertionError("%s was not written" % path)


def answer(r, root):
    c = r["counts"]
    return (r["status"], sites(r, root), tuple(c[k] for k in ("failed", "passed", "errors", "skipped", "xfailed", "xpassed")))


@pytest.mark.parametrize("opts", [[], ["--tb=no"], ["-q"], ["-p", "no:junitxml"], ["-k", "not xpass"]],
                         ids=lambda o: " ".join(o) or "plain")
def test_warm_answers_exactly_as_cold(s, opts):
    cold = s.run(PROJ_FAIL, opts, warm=False)
    assert cold["warm"] is False and cold["warm_reason"] == "warm = false"
    s.run(PROJ_FAIL, opts)  # starts the warm pytest (if the cold one did not)
    s.wait_warm(PROJ_FAIL)
    warm = s.run(PROJ_FAIL, opts)
    assert warm["warm"] is True, warm.get("warm_reason")
    assert "warm_reason" not in warm
    assert answer(warm, PROJ_FAIL) == answer(cold, PROJ_FAIL)
    # pytest 9.1's console_main() warns that it is deprecated: `python -m pytest` does not call it
    assert "console_main" not in warm["output_tail"] and "console_main" not in cold["output_tail"]
    assert warm["source"] == cold["source"] == "junit"
    assert warm["memory"]["peak_source"] == "plugin" and warm["memory"]["peak_rss"] > 0


def test_nearest_is_warm_and_finds_the_same_test(s):
    test_file = os.path.join(PROJ_FAIL, sorted(f for f in os.listdir(PROJ_FAIL) if f.startswith("test_") and f.endswith(".py"))[0])
    src = open(test_file).read().splitlines()
    line = next(i for i, l in enumerate(src, 1) if l.startswith("def test_"))
    cold = s.run(PROJ_FAIL, warm=False, file=test_file, nearest_line=line + 1)
    s.run(PROJ_FAIL, file=test_file, nearest_line=line + 1)
    s.wait_warm(PROJ_FAIL)
    warm = s.run(PROJ_FAIL, file=test_file, nearest_line=line + 1)
    assert warm["warm"] is True, warm.get("warm_reason")
    assert warm["args"] == cold["args"] and len(warm["args"]) == 1 and "::" in warm["args"][0]
    assert answer(warm, PROJ_FAIL) == answer(cold, PROJ_FAIL)


def test_xdist_runs_cold_with_the_reason(s):
    s.run(PROJ_FAIL)
    s.wait_warm(PROJ_FAIL)
    r = s.run(PROJ_FAIL, ["-n", "2"])
    assert r["warm"] is False and "xdist" in r["warm_reason"]
    assert r["counts"]["failed"] == 18


def project(tmp_path, test_src, lib_src=None, conftest=None):
    """tmp_path/proj with one test file, and tmp_path/lib (outside the project: preloaded) with
    module `wlib` on the runs' PYTHONPATH."""
    proj = tmp_path / "proj"
    proj.mkdir(parents=True)
    (proj / "pytest.ini").write_text("[pytest]\n")
    (proj / "test_w.py").write_text(test_src)
    if conftest:
        (proj / "conftest.py").write_text(conftest)
    lib = tmp_path / "lib"
    lib.mkdir()
    (lib / "wlib.py").write_text(lib_src or "VALUE = 1\n")
    return str(proj), str(lib), {"PYTHONPATH": str(lib)}


def test_a_preload_that_starts_a_thread_makes_runs_cold(s, tmp_path):
    proj, lib, env = project(
        tmp_path, "import wlib\n\ndef test_t():\n    assert wlib.VALUE == 1\n",
        "import threading, time\nVALUE = 1\nthreading.Thread(target=time.sleep, args=(3600,), daemon=True).start()\n")
    first = s.run(proj, env=env)
    assert first["status"] == "passed"
    s.wait_warm(proj, state="refused")
    r = s.run(proj, env=env)
    assert r["status"] == "passed" and r["warm"] is False
    assert r["warm_reason"] == "importing wlib started a thread"


def test_a_changed_preloaded_module_is_never_stale(s, tmp_path):
    proj, lib, env = project(tmp_path, "import wlib\n\ndef test_t():\n    assert wlib.VALUE == 1\n")
    assert s.run(proj, env=env)["status"] == "passed"
    old = s.wait_warm(proj)
    assert s.run(proj, env=env)["warm"] is True
    with open(os.path.join(lib, "wlib.py"), "w") as f:
        f.write("VALUE = 2  # changed outside the editor\n")
    r = s.run(proj, env=env)
    assert r["status"] == "failed", "the run saw the old module"
    assert r["warm"] is False and "wlib.py changed" in r["warm_reason"]
    new = s.wait_warm(proj)
    assert new["pid"] != old["pid"]
    wait_gone(old["pid"])
    r = s.run(proj, env=env)
    assert r["warm"] is True and r["status"] == "failed"


SLOW_TEST = """import os, time

def test_slow():
    with open(os.environ["MARK"] + ".tmp", "w") as f:
        f.write(str(os.getpid()))
    os.rename(os.environ["MARK"] + ".tmp", os.environ["MARK"])
    time.sleep(3600)
"""


def test_cancel_kills_the_fork_not_the_warm_process(s, tmp_path):
    proj, lib, env = project(tmp_path, SLOW_TEST)
    mark = str(tmp_path / "mark")
    env["MARK"] = mark
    first = s.run(proj, env=env, wait=False)
    wait_file(mark)
    os.unlink(mark)
    assert s.request("cancel", []) is True
    assert s.finished(first)["status"] == "cancelled"
    w = s.wait_warm(proj)
    run_id = s.run(proj, env=env, wait=False)
    fork = int(wait_file(mark))
    assert fork != w["pid"] and alive(fork)
    assert open("/proc/%d/stat" % fork).read().split(")")[-1].split()[1] == str(w["pid"]), "a fork of the warm pytest"
    assert s.request("cancel", []) is True
    r = s.finished(run_id)
    assert r["status"] == "cancelled" and r["warm"] is True
    wait_gone(fork)
    assert alive(w["pid"])
    assert s.wait_warm(proj)["pid"] == w["pid"]


def test_killing_the_coprocess_kills_the_warm_pytest_and_its_fork(peer, tmp_path):
    s = Session(peer)
    proj, lib, env = project(tmp_path, SLOW_TEST)
    mark = str(tmp_path / "mark")
    env["MARK"] = mark
    s.run(proj, env=env, wait=False)
    wait_file(mark)
    os.unlink(mark)
    s.request("cancel", [])
    w = s.wait_warm(proj)
    s.run(proj, env=env, wait=False)
    fork = int(wait_file(mark))
    os.kill(peer.proc.pid, signal.SIGKILL)
    wait_gone(w["pid"])
    wait_gone(fork)


def test_an_idle_warm_pytest_ends(s, tmp_path):
    s.request("configure", [{"warm_idle_ms": 300}])
    proj, lib, env = project(tmp_path, "def test_t():\n    pass\n")
    s.run(proj, env=env)
    w = s.wait_warm(proj)
    wait_gone(w["pid"], timeout=10)
    deadline = time.monotonic() + 10
    while any(x.get("pid") == w["pid"] for x in s.warm_procs()):
        assert time.monotonic() < deadline
        time.sleep(0.02)
    r = s.run(proj, env=env)
    assert r["warm"] is False and "no warm process" in r["warm_reason"]


def test_the_users_rlimit_as_applies_to_the_fork(tmp_path):
    limit = 3 << 30
    if subprocess.run(["prlimit", "--as=%d" % limit, BIN, "--version"], capture_output=True).returncode != 0:
        pytest.skip("this co-process build (a sanitizer's) cannot itself start under a 3 GB RLIMIT_AS")

    def lower():
        resource.setrlimit(resource.RLIMIT_AS, (limit, limit))

    peer = Peer(preexec_fn=lower)
    try:
        s = Session(peer)
        proj, lib, env = project(
            tmp_path,
            "import resource\n\ndef test_t():\n    assert resource.getrlimit(resource.RLIMIT_AS) == (%d, %d)\n" % (limit, limit))
        assert s.run(proj, env=env)["status"] == "passed"
        s.wait_warm(proj)
        r = s.run(proj, env=env)
        assert r["warm"] is True and r["status"] == "passed", r["summary"]
    finally:
        peer.close()


def test_the_warm_pytests_memory_is_reported(s, tmp_path):
    proj, lib, env = project(tmp_path, "def test_t():\n    pass\n")
    s.run(proj, env=env)
    w = s.wait_warm(proj)
    assert w["pid"] > 0 and w["python"] and w["rss"] > 5 << 20
    with open("/proc/%d/cmdline" % w["pid"], "rb") as f:
        assert b"pytestmon_warm" in f.read()


def test_a_module_that_warns_at_import_is_left_to_the_run(s, tmp_path):
    """A preload that warns is dropped again: under filterwarnings = error the run fails in
    collection warm as it does cold."""
    proj, lib, env = project(
        tmp_path, "import wlib\n\ndef test_t():\n    pass\n",
        "import warnings\nwarnings.warn('old', DeprecationWarning)\nVALUE = 1\n")
    with open(os.path.join(proj, "pytest.ini"), "w") as f:
        f.write("[pytest]\nfilterwarnings = error\n")
    cold = s.run(proj, env=env, warm=False)
    s.run(proj, env=env)
    s.wait_warm(proj)
    warm = s.run(proj, env=env)
    assert warm["warm"] is True
    assert (warm["status"], warm["counts"]) == (cold["status"], cold["counts"])
    assert cold["status"] != "passed"


CYCLES = int(os.environ.get("PYTESTMON_WARM_CYCLES", "12"))


def test_randomized_edit_run_cycles_answer_as_cold(s, tmp_path):
    """Edits to a preloaded library module (outside the project), the test file, conftest.py and
    pytest.ini, in random order; after each, a warm run's answer equals a cold run's."""
    rnd = random.Random(int(os.environ.get("PYTESTMON_WARM_SEED", "26")))
    proj, lib, env = project(tmp_path, "", conftest="")

    clock = [int(time.time()) - 100000]

    def write(path, text):
        with open(path, "w") as f:
            f.write(text)
        # Each edit's mtime is a second of its own: Python's bytecode cache (cold runs too)
        # tells sources by whole seconds and size.
        clock[0] += 2
        os.utime(path, (clock[0], clock[0]))

    def edit(kind):
        n = rnd.randint(0, 3)
        if kind == "lib":
            write(os.path.join(lib, "wlib.py"), "VALUE = %d\n" % n)
        elif kind == "test":
            tests = "".join("def test_%d():\n    assert wlib.VALUE %s %d\n" % (i, rnd.choice(["<", ">", "=="]), rnd.randint(0, 3))
                            for i in range(rnd.randint(1, 4)))
            write(os.path.join(proj, "test_w.py"), "import wlib\n\n" + tests)
        elif kind == "conftest":
            write(os.path.join(proj, "conftest.py"),
                  "import pytest\n\n@pytest.fixture(autouse=True)\ndef _f():\n    assert %d != 2\n" % n)
        else:
            write(os.path.join(proj, "pytest.ini"), "[pytest]\naddopts = %s\n" % rnd.choice(["", "-q", "-k test_0", "--tb=no"]))

    edit("lib")
    edit("test")
    warm_runs = 0
    for cycle in range(CYCLES):
        edit(rnd.choice(["lib", "test", "conftest", "ini"]))
        cold = s.run(proj, env=env, warm=False)
        warm = s.run(proj, env=env)
        assert answer(warm, proj) == answer(cold, proj), (cycle, warm.get("warm"), warm.get("warm_reason"))
        warm_runs += warm["warm"] is True
        try:
            s.wait_warm(proj, timeout=30)
        except AssertionError:
            pass
    assert warm_runs >= CYCLES // 3, "most runs are warm"


def test_preloaded_plugins_do_not_warn_under_filterwarnings_error(s, tmp_path):
    """The installed pytest plugins (xdist, pytest-cov, ...) are imported in the warm pytest as
    pytest imports them: a fork's pytest does not warn "Module already imported so cannot be
    rewritten", which `filterwarnings = error` would make every run's failure."""
    proj, lib, env = project(tmp_path, "import wlib\n\ndef test_t():\n    assert wlib.VALUE == 1\n")
    with open(os.path.join(proj, "pytest.ini"), "w") as f:
        f.write("[pytest]\nfilterwarnings = error\n")
    cold = s.run(proj, env=env, warm=False)
    s.run(proj, env=env)
    s.wait_warm(proj)
    warm = s.run(proj, env=env)
    assert warm["warm"] is True
    assert cold["status"] == warm["status"] == "passed", warm["output_tail"]
    assert "already imported" not in warm["output_tail"]


def test_nearest_keeps_a_files_lookup_until_the_file_or_its_configuration_changes(s, tmp_path):
    """A Nearest run of a file whose lookup is kept starts pytest once; an edit of the file (or
    of a conftest.py above it, or pytest.ini) asks pytest again, and the node is the new one."""
    proj, lib, env = project(tmp_path, "def test_a():\n    pass\n\n\ndef test_b():\n    assert 0\n")
    f = os.path.join(proj, "test_w.py")
    first = s.run(proj, env=env, file=f, nearest_line=5)
    assert first["nearest_lookup"] == "pytest" and first["args"] == ["test_w.py::test_b"]
    again = s.run(proj, env=env, file=f, nearest_line=2)
    assert again["nearest_lookup"] == "kept" and again["args"] == ["test_w.py::test_a"]
    assert again["status"] == "passed"
    with open(f, "w") as out:  # test_c is now where test_b was
        out.write("def test_a():\n    pass\n\n\ndef test_c():\n    assert 1\n")
    edited = s.run(proj, env=env, file=f, nearest_line=5)
    assert edited["nearest_lookup"] == "pytest" and edited["args"] == ["test_w.py::test_c"]
    assert edited["status"] == "passed"
    assert s.run(proj, env=env, file=f, nearest_line=5)["nearest_lookup"] == "kept"
    with open(os.path.join(proj, "conftest.py"), "w") as out:
        out.write("# a conftest can change what is collected\n")
    assert s.run(proj, env=env, file=f, nearest_line=5)["nearest_lookup"] == "pytest"
    cold = s.run(proj, env=env, file=f, nearest_line=5, warm=False)
    assert cold["nearest_lookup"] == "pytest" and cold["args"] == ["test_w.py::test_c"]


def _qf(ed):
    return ed.exec_lua("""
        local out = {}
        for _, it in ipairs(vim.fn.getqflist()) do
          table.insert(out, { vim.api.nvim_buf_get_name(it.bufnr), it.lnum, it.type, it.text })
        end
        return out
    """)


def _editor_warm_ready(ed, timeout=60):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        ready = ed.exec_lua("""
            local done, ready = false, false
            require('pytest.client').async('mem', { vim.empty_dict() }, function(ok, res)
              for _, w in ipairs(ok and res.warm or {}) do
                if w.state == 'ready' then ready = true end
              end
              done = true
            end)
            vim.wait(5000, function() return done end, 5)
            return ready
        """)
        if ready:
            return
        time.sleep(0.05)
    raise AssertionError("no warm pytest became ready")


def test_the_editors_run_file_and_nearest_are_warm_and_fill_the_same_quickfix(ed):
    from conftest import wait_finished

    ed.command("cd " + PROJ_FAIL)
    math = os.path.join(PROJ_FAIL, "tests", "test_math.py")
    ed.command("edit " + math)
    ed.current.window.cursor = (26, 8)
    answers = {}
    for warm in (False, True):
        ed.exec_lua("local py, w = ... require('pytest').setup({ python = py, warm = w })", PYTHON, warm)
        if warm:
            wait_finished(ed, "PytestRun", timeout=120)  # the first run after warm = true starts it
            _editor_warm_ready(ed)
        for command in ("PytestRun", "PytestFile", "PytestNearest"):
            wait_finished(ed, command, timeout=120)
            last = ed.exec_lua("local r = require('pytest').last() "
                               "return { warm = r.warm == true, reason = r.warm_reason or '' }")
            assert last["warm"] is warm, last
            answers[(warm, command)] = sorted(map(tuple, _qf(ed)))
    for command in ("PytestRun", "PytestFile", "PytestNearest"):
        assert answers[(True, command)] == answers[(False, command)], command
    assert [e[:3] for e in answers[(True, "PytestNearest")]] == [(math, 26, "E")]


def test_checkhealth_and_pytest_memory_say_whether_runs_are_warm(ed):
    """:checkhealth, :PytestMemory and the status line's memory piece (`warm 60M`)."""
    from conftest import wait_finished, wait_for

    ed.command("cd " + PROJ_FAIL)
    ed.command("edit " + os.path.join(PROJ_FAIL, "tests", "test_math.py"))
    wait_finished(ed, "PytestRun", timeout=120)
    _editor_warm_ready(ed)
    wait_for(ed, "require('pytest').statusline():find('warm %d', 1) ~= nil", timeout=10)
    ed.command("checkhealth pytest")
    health = "\n".join(ed.current.buffer[:])
    assert "runs are warm: forks of a warm pytest (pid " in health
    wait_finished(ed, "PytestRun -n 2", timeout=120)
    ed.command("PytestMemory")
    find = """
        for _, b in ipairs(vim.api.nvim_list_bufs()) do
          local lines = vim.api.nvim_buf_get_lines(b, 0, -1, false)
          if table.concat(lines, '\\n'):find('Warm pytests', 1, true) then return lines end
        end
        return {}
    """
    deadline = time.monotonic() + 10
    while not ed.exec_lua(find):
        assert time.monotonic() < deadline, "no :PytestMemory report with the warm pytests"
        time.sleep(0.02)
    text = "\n".join(ed.exec_lua(find))
    assert "Warm pytests" in text and "ready" in text and os.path.realpath(PROJ_FAIL) in text
    assert "cold: xdist (-n) runs are cold" in text
    ed.exec_lua("require('pytest').setup({ python = ..., warm = false })", PYTHON)
    ed.command("checkhealth pytest")
    assert "runs are cold: warm = false" in "\n".join(ed.current.buffer[:])


def test_at_most_three_warm_pytests_the_least_recently_used_ends(s, tmp_path):
    procs = []
    for i in range(4):
        proj, lib, env = project(tmp_path / str(i), "def test_t():\n    pass\n")
        s.run(proj, env=env)
        procs.append(s.wait_warm(proj))
    wait_gone(procs[0]["pid"])
    live = [w for w in s.warm_procs() if w.get("pid") and w["state"] in ("ready", "starting")]
    assert sorted(w["pid"] for w in live) == sorted(w["pid"] for w in procs[1:])
