"""Integration fixtures: a real `nvim --embed --headless --clean` with the plugin loaded.

Environment:
  PYTESTMON_NVIM  nvim binary to test (default "nvim"); a path that does not exist skips the
                  whole session loudly.
  PYTESTMON_BIN   co-process binary (default <repo>/build/pytestmon); exported to nvim.

Fixtures: `nvim` (attached pynvim session, plugin sourced), `lua` (run Lua in it),
`wait_for` (poll a Lua expression until truthy), `repo_root`, `fixtures_dir`.

No test writes into the user's real state: every nvim gets its own XDG_STATE_HOME and
XDG_CACHE_HOME (a per-test tmp dir), so the default `log_dir` (stdpath('state')/pytest, or
stdpath('cache')/pytest on 0.7) lands there. A session guard fails the run if anything under
the real ~/.local/state/nvim/pytest or ~/.cache/nvim/pytest was written by one of our editors.
"""
import atexit
import json
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
import warnings

import psutil
import pynvim
import pytest

REPO_ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
FIXTURES_DIR = os.path.join(REPO_ROOT, "tests", "fixtures")
# tests/rpcpeer.py: the msgpack-RPC client the tests, the valgrind session and the bench share.
sys.path.insert(0, os.path.join(REPO_ROOT, "tests"))
NVIM = os.environ.get("PYTESTMON_NVIM", "nvim")
BIN = os.environ.get("PYTESTMON_BIN") or os.path.join(REPO_ROOT, "build", "pytestmon")
# The interpreter the tests' pytest runs use (`make test-pytest8` points it at pytest 8).
TEST_PYTHON = os.environ.get("PYTESTMON_TEST_PYTHON") or "/usr/bin/python3"


def _private_session_root():
    """One private temporary root for the whole session (0700, under build/), made before any
    temporary path is: TMPDIR for this process and everything it starts (nvim, the co-process,
    the pytest runs), and the root of pytest's tmp_path. Fixture projects made there have only
    the repository's build/ above them, so nothing another user plants in /tmp (a stray
    /tmp/pytest.ini that pytest would take as the rootdir) can change a result."""
    base = os.path.join(REPO_ROOT, "build")
    os.makedirs(base, exist_ok=True)
    root = tempfile.mkdtemp(prefix="tmp.", dir=base)  # mode 0700
    os.environ["TMPDIR"] = root
    tempfile.tempdir = root
    # Registered before pytest registers its own clean-up of tmp_path, so it runs after it.
    atexit.register(shutil.rmtree, root, True)
    return root


SESSION_TMP = _private_session_root()


def _nvim_missing_reason():
    found = shutil.which(NVIM) if os.sep not in NVIM else (NVIM if os.access(NVIM, os.X_OK) else None)
    if found:
        return None
    return (
        f"PYTESTMON_NVIM={NVIM!r} does not exist or is not executable: "
        "NO Neovim integration test ran"
    )


SKIP_REASON = _nvim_missing_reason()


def pytest_report_header(config):
    lines = [f"pytestmon: nvim={NVIM} bin={BIN}"]
    if SKIP_REASON:
        lines.append("!" * 78)
        lines.append("WARNING: " + SKIP_REASON)
        lines.append("!" * 78)
    return lines


def pytest_terminal_summary(terminalreporter):
    if SKIP_REASON:
        terminalreporter.write_sep("!", "WARNING: " + SKIP_REASON, red=True, bold=True)
    if _SUBTESTS_SKIPPED:
        terminalreporter.write_sep("!", f"SKIPPED {len(_SUBTESTS_SKIPPED)} subtests test(s): "
                                   + _subtests_missing(), red=True, bold=True)


def _subtests_support():
    """How $PYTESTMON_TEST_PYTHON's pytest has subtests: "pytest 9" (its own), "pytest-subtests"
    (the plugin, pytest 7/8; Debian's python3-pytest-subtests), or None."""
    probe = ("import pytest, sys\n"
             "if int(pytest.__version__.split('.')[0]) >= 9: print('pytest 9'); sys.exit()\n"
             "import pytest_subtests\n"
             "print('pytest-subtests')\n")
    r = subprocess.run([TEST_PYTHON, "-c", probe], capture_output=True, text=True, timeout=60)
    return r.stdout.strip() or None if r.returncode == 0 else None


_SUBTESTS = []  # [support], known at the first ask
_SUBTESTS_SKIPPED = []


def _subtests_missing():
    return f"{TEST_PYTHON} has neither pytest 9 nor pytest-subtests (apt install python3-pytest-subtests)"


def require_subtests(nodeid):
    """The subtests `TEST_PYTHON` has (see _subtests_support); else the test is skipped, and the
    session's summary says so in red."""
    if not _SUBTESTS:
        _SUBTESTS.append(_subtests_support())
    if _SUBTESTS[0] is None:
        _SUBTESTS_SKIPPED.append(nodeid)
        pytest.skip("NOT RUN: " + _subtests_missing())
    return _SUBTESTS[0]


@pytest.fixture(scope="session", autouse=True)
def _require_nvim():
    if SKIP_REASON:
        print("\nWARNING: " + SKIP_REASON, file=sys.stderr)
        warnings.warn(SKIP_REASON)
        pytest.skip(SKIP_REASON)


@pytest.fixture(scope="session")
def repo_root():
    return REPO_ROOT


@pytest.fixture(scope="session")
def fixtures_dir():
    return FIXTURES_DIR


def _descendants(pid):
    try:
        return psutil.Process(pid).children(recursive=True)
    except psutil.Error:
        return []


def not_warm(procs):
    """`procs` without the warm pytests (python/pytestmon_warm.py): they outlive a run on purpose
    (doc/pytest.txt |pytest-warm|) and end with the co-process."""
    out = []
    for p in procs:
        try:
            if "pytestmon_warm" not in p.cmdline():
                out.append(p)
        except psutil.Error:
            pass
    return out


def _real_state_dirs():
    """Where the default log_dir of a real user's nvim would be (0.8+: state, 0.7: cache)."""
    home = os.path.expanduser("~")
    state = os.environ.get("XDG_STATE_HOME") or os.path.join(home, ".local", "state")
    cache = os.environ.get("XDG_CACHE_HOME") or os.path.join(home, ".cache")
    return [os.path.join(state, "nvim", "pytest"), os.path.join(cache, "nvim", "pytest")]


_EDITOR_PIDS = {}  # every nvim this session started: pid -> its process's start time
_OWN_HOMES = set()  # temporary XDG homes made by start_nvim() and not yet removed


def _memlog_records(dirs, since):
    """Records of the co-process memory logs under `dirs` written at or after `since`."""
    out = []
    for d in dirs:
        for name in ("memory.jsonl.1", "memory.jsonl"):
            try:
                with open(os.path.join(d, name), encoding="utf-8", errors="replace") as f:
                    lines = f.readlines()
            except OSError:
                continue
            for line in lines:
                try:
                    rec = json.loads(line)
                except ValueError:
                    continue
                if isinstance(rec, dict) and rec.get("ts", 0) >= since:
                    out.append((os.path.join(d, name), rec))
    return out


def _written_by_our_editor(rec):
    """Whether a memory log record's editor is one this session started: its pid, at a time that
    process lived. A pid is reused: a nvim the user starts later (while the suite runs) may get
    the pid of one of ours that has ended, and its records are the user's."""
    pid = rec["editor"].get("pid")
    start = _EDITOR_PIDS.get(pid)
    ts = rec.get("ts", 0)
    if start is None or ts < start - 1:
        return False
    try:
        now = psutil.Process(pid).create_time()
    except psutil.Error:
        return True
    later = abs(now - start) > 0.5  # that pid is another process now
    return not (later and ts >= now - 1)


@pytest.fixture(scope="session", autouse=True)
def _real_state_untouched():
    """Fail the session if an editor started by the suite wrote into the user's real log_dir.
    Every co-process logs `coprocess_start` (with the editor pid) in <log_dir>/memory.jsonl
    once configured, before it writes any run log; other users of the machine may write
    there at the same time, so only our own editors' records count."""
    since = int(time.time())
    yield
    for home in list(_OWN_HOMES):  # editors that tests ended themselves (e.g. killed)
        shutil.rmtree(home, ignore_errors=True)
        _OWN_HOMES.discard(home)
    ours = [f"{path}: {rec.get('event')} of editor {rec.get('editor', {}).get('pid')}"
            for path, rec in _memlog_records(_real_state_dirs(), since)
            if isinstance(rec.get("editor"), dict) and _written_by_our_editor(rec)]
    assert ours == [], "the test suite wrote into the user's real log_dir: " + "; ".join(ours[:5])


def start_nvim(env=None, home=None):
    """Start an embedded nvim with the plugin on 'runtimepath' and sourced. `env` entries are
    set inside nvim (before the plugin loads) without touching this process's environment.
    `home`: directory for nvim's XDG_STATE_HOME/XDG_CACHE_HOME (`<home>/state`, `<home>/cache`),
    so the default log_dir is `<home>/state/nvim/pytest` (0.7: `<home>/cache/nvim/pytest`);
    default: a fresh temporary directory removed by stop_nvim()."""
    os.environ["PYTESTMON_BIN"] = BIN
    own_home = home is None
    home = str(home) if home is not None else tempfile.mkdtemp(prefix="pytestmon-nvim-")
    if own_home:
        _OWN_HOMES.add(home)
    os.makedirs(home, exist_ok=True)
    xdg = {"XDG_STATE_HOME": os.path.join(home, "state"), "XDG_CACHE_HOME": os.path.join(home, "cache")}
    # `env` execs nvim: same pid, and the XDG dirs are in place before nvim starts.
    argv = ["env"] + [f"{k}={v}" for k, v in xdg.items()] + [NVIM, "--embed", "--headless", "--clean", "-n"]
    nv = pynvim.attach("child", argv=argv)
    pid = nv.call("getpid")
    _EDITOR_PIDS[pid] = psutil.Process(pid).create_time()
    nv.pytestmon_home = home
    nv.pytestmon_own_home = own_home
    for k, v in (env or {}).items():
        nv.call("setenv", k, v)
    nv.command("set rtp^=" + REPO_ROOT.replace(" ", "\\ "))
    nv.command("runtime plugin/pytest.lua")
    # Capture notifications so tests can assert what the user would read (Neovim's own
    # vim.notify is kept as _G.__builtin_notify for the tests of what it does).
    nv.exec_lua(
        """
        _G.__notes = {}
        _G.__builtin_notify = _G.__builtin_notify or vim.notify
        vim.notify = function(msg, level, opts)
          table.insert(_G.__notes, { msg = msg, level = level or vim.log.levels.INFO })
        end
        """
    )
    return nv


def stop_nvim(nv, timeout=10.0):
    """Quit nvim and check that nothing it started is left running."""
    try:
        _stop_nvim(nv, timeout)
    finally:
        if getattr(nv, "pytestmon_own_home", False):
            shutil.rmtree(nv.pytestmon_home, ignore_errors=True)
            _OWN_HOMES.discard(nv.pytestmon_home)


def _stop_nvim(nv, timeout):
    pid = nv.call("getpid")
    kids = _descendants(pid)
    try:
        nv.quit("qa!")
    except Exception:
        pass
    try:
        nv.close()
    except Exception:
        pass
    deadline = time.monotonic() + timeout
    procs = list(kids)
    try:
        procs.append(psutil.Process(pid))
    except psutil.Error:
        pass
    while time.monotonic() < deadline:
        alive = []
        for p in procs:
            try:
                if p.is_running() and p.status() != psutil.STATUS_ZOMBIE:
                    alive.append(p)
            except psutil.Error:
                pass
        if not alive:
            return
        time.sleep(0.02)
    leftovers = []
    for p in alive:
        try:
            leftovers.append(f"{p.pid} {' '.join(p.cmdline())}")
            p.kill()
        except psutil.Error:
            pass
    raise AssertionError("processes left after nvim quit: " + "; ".join(leftovers))


@pytest.fixture
def nvim(tmp_path):
    nv = start_nvim(home=tmp_path / "xdg")
    yield nv
    stop_nvim(nv)


@pytest.fixture
def log_dir(nvim):
    """The default log_dir of the `nvim` fixture: inside the test's tmp dir."""
    return nvim.exec_lua("return require('pytest.config').get().log_dir")


@pytest.fixture
def lua(nvim):
    """lua("return ...", arg1, ...) runs Lua in the embedded nvim; `...` are the args."""

    def run(code, *args):
        return nvim.exec_lua(code, *args)

    return run


def wait_for(nv, lua_expr, timeout=10.0, interval=0.02):
    """Poll the Lua expression `lua_expr` (e.g. "require('pytest').last() ~= nil") until it is
    truthy; return its value. Raises AssertionError with the expression after `timeout`."""
    deadline = time.monotonic() + timeout
    last = None
    while True:
        last = nv.exec_lua("return (" + lua_expr + ")")
        if last:
            return last
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for: {lua_expr} (last: {last!r})")
        time.sleep(interval)


@pytest.fixture(name="wait_for")
def wait_for_fixture():
    return wait_for


def record_finished(nv):
    """From now on every PytestFinished appends the run's id to _G.fired (the plugin's own
    handlers still run: this only watches). Returns nv."""
    nv.exec_lua("""
        _G.fired = {}
        vim.api.nvim_create_autocmd('User', { pattern = 'PytestFinished',
          callback = function() table.insert(_G.fired, require('pytest').last().run_id) end })
    """)
    return nv


def setup_editor(nv, python=None):
    """The plugin set up with `python` (default: the interpreter of the tests' pytest runs),
    finished runs recorded (record_finished). Returns nv."""
    nv.exec_lua("require('pytest').setup({ python = ... })", python or TEST_PYTHON)
    return record_finished(nv)


@pytest.fixture
def ed(nvim):
    """The `nvim` fixture set up for runs (setup_editor)."""
    return setup_editor(nvim)


def fired(nv):
    """How many runs finished since record_finished()."""
    return nv.exec_lua("return #_G.fired")


def wait_finished(nv, command, timeout=60):
    """Runs the Ex `command` and waits until one more run has finished."""
    before = fired(nv)
    nv.command(command)
    wait_for(nv, f"#_G.fired > {before}", timeout=timeout)


def coprocesses(nv):
    """The live `pytestmon --rpc` children of the editor."""
    out = []
    for p in psutil.Process(nv.call("getpid")).children():
        try:
            if p.cmdline()[1:2] == ["--rpc"] and p.status() != psutil.STATUS_ZOMBIE:
                out.append(p)
        except psutil.Error:
            pass
    return out


def run_and_wait(nv, command, timeout=60):
    """wait_finished(), then the result of the latest run."""
    wait_finished(nv, command, timeout)
    return nv.exec_lua("return require('pytest').last()")


def get_notes(nv):
    """Notifications shown so far: list of {msg, level}."""
    return nv.exec_lua("return _G.__notes")


@pytest.fixture
def notes(nvim):
    """notes() -> notifications shown so far in the `nvim` fixture, as [{msg, level}]."""
    return lambda: get_notes(nvim)


PROJ_FAIL = os.path.join(FIXTURES_DIR, "proj_fail")


def make_project(tmp_path, test_file, source):
    """A throwaway pytest project, tmp_path/proj: an empty pytest.ini and one test file."""
    proj = tmp_path / "proj"
    proj.mkdir()
    (proj / "pytest.ini").write_text("[pytest]\n")
    (proj / test_file).write_text(source)
    return proj


def finished_payload(**over):
    """A realistic `finished` payload for tests/fixtures/proj_fail (contract in HACKING.md)."""
    root = PROJ_FAIL
    p = {
        "run_id": 7,
        "args": ["-x", "test_basic.py"],
        "cwd": root,
        "root": root,
        "python": "/usr/bin/python3",
        "exit_code": 1,
        "exit_meaning": "tests failed",
        "status": "failed",
        "summary": "3 failed, 1 passed in 0.12s",
        "source": "junit",
        "timed_out": False,
        "counts": {"passed": 1, "failed": 3, "errors": 0, "skipped": 0, "xfailed": 0, "xpassed": 0},
        "seconds": 0.12,
        "failures": [
            {
                "nodeid": "test_basic.py::test_assert_eq",
                "kind": "failed",
                "when": "call",
                "message": "assert 3 == 4",
                "file": os.path.join(root, "test_basic.py"),
                "line": 12,
                "crash_file": os.path.join(root, "test_basic.py"),
                "crash_line": 12,
            },
            {
                "nodeid": "test_basic.py::test_helper_crash",
                "kind": "failed",
                "when": "call",
                "message": "ZeroDivisionError: cannot divide 0 by zero",
                "file": os.path.join(root, "test_basic.py"),
                "line": 17,
                "crash_file": os.path.join(root, "helpers", "calc.py"),
                "crash_line": 3,
            },
            {
                "nodeid": "tests/test_math.py::TestCalc::test_mul",
                "kind": "failed",
                "when": "call",
                "message": "assert (2 * 3) == 7\n +  where 6 = 2 * 3",
                "file": os.path.join(root, "tests", "test_math.py"),
                "line": 26,
            },
        ],
        "slowest": [
            {"nodeid": "test_basic.py::test_passes", "file": os.path.join(root, "test_basic.py"),
             "line": 6, "seconds": 0.01},
            {"nodeid": "test_basic.py::test_helper_crash", "file": os.path.join(root, "test_basic.py"),
             "line": 15, "seconds": 0.5},
            {"nodeid": "tests/test_math.py::test_add", "file": os.path.join(root, "tests", "test_math.py"),
             "line": 13, "seconds": 0.2},
        ],
        "output_tail": (
            "test_basic.py::test_assert_eq \x1b[31mFAILED\x1b[0m [ 25%]\n"
            "E       assert 3 == 4\n"
            "\x1b[31m=== 3 failed, 1 passed in 0.12s ===\x1b[0m\n"
        ),
        "memory": {
            "peak_rss": 50 * 1024 * 1024,
            "peak_vms": 300 * 1024 * 1024,
            "peak_test": "test_basic.py::test_helper_crash",
            "timeline": [{"t_ms": i * 100, "rss": (10 + i) * 1024 * 1024, "vms": 300 * 1024 * 1024}
                         for i in range(40)],
            "top_growth": [{"nodeid": "test_basic.py::test_helper_crash", "growth": 4 * 1024 * 1024}],
        },
    }
    p.update(over)
    return p


def dispatch(nv, name, payload):
    """Deliver an event exactly as the co-process does (nvim_exec_lua with [name, payload])."""
    return nv.exec_lua("return require('pytest.events').dispatch(...)", name, payload)


@pytest.fixture
def small_tmpfs(tmp_path):
    """fill(free) -> path: a 512 KiB tmpfs of our own at tmp_path/tmpfs, filled but for `free`
    bytes; unmounted at teardown. A real full file system for the co-process's $TMPDIR (a run's
    or a collection's private directory is made there). Skipped, saying so, where mounting is
    not permitted."""
    mnt = tmp_path / "tmpfs"
    mnt.mkdir()
    p = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=512k,mode=0700", "tmpfs", str(mnt)],
                       capture_output=True, text=True)
    if p.returncode != 0:
        pytest.skip("SKIPPED LOUDLY: cannot mount a small tmpfs to fill (needs root / CAP_SYS_ADMIN): "
                    + (p.stderr.strip() or "mount failed"))

    def fill(free):
        fd = os.open(mnt / "filler", os.O_WRONLY | os.O_CREAT, 0o600)
        try:
            while os.write(fd, b"\1" * 4096):
                pass
        except OSError:
            pass
        finally:
            os.close(fd)
        os.truncate(mnt / "filler", max(os.stat(mnt / "filler").st_size - free, 0))
        st = os.statvfs(mnt)
        assert st.f_bavail * st.f_frsize <= free + 4096
        return str(mnt)

    yield fill
    subprocess.run(["umount", "-l", str(mnt)], check=True)


class PromptWatch:
    """Watches, over a connection of its own, whether nvim waits at a prompt (hit-enter, more)
    and answers it with <CR>: a blocked nvim serves no request on the test's connection, which
    would then wait forever. `seen` lists the modes it found blocking."""

    def __init__(self, nv):
        # A short path of its own: a Unix socket's path has room for 107 bytes, and tmp_path
        # below a checkout's build/ can be longer than that.
        sock = os.path.join(tempfile.mkdtemp(prefix="w.", dir=SESSION_TMP), "s")
        nv.call("serverstart", sock)
        self.sock, self.seen = sock, []
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self.run, daemon=True)
        self.thread.start()

    def run(self):
        w = pynvim.attach("socket", path=self.sock)
        try:
            while not self.stop.is_set():
                mode = w.api.get_mode()
                if mode.get("blocking"):
                    self.seen.append(mode)
                    w.input("<CR>")
                self.stop.wait(0.01)
        finally:
            w.close()

    def close(self):
        self.stop.set()
        self.thread.join(10)
