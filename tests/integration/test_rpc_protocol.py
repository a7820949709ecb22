"""The co-process's msgpack-RPC over real pipes: framing, errors, garbage, shutdown.

Talks to `pytestmon --rpc` directly (no editor) so each byte on the wire is ours."""
import os
import signal
import subprocess
import time

import msgpack
import psutil
import pytest

from conftest import BIN, FIXTURES_DIR, TEST_PYTHON

PYTHON = TEST_PYTHON


class Peer:
    def __init__(self):
        self.proc = subprocess.Popen([BIN, "--rpc"], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                     stderr=subprocess.PIPE)
        self.unpacker = msgpack.Unpacker(raw=False)
        self.pending = []

    def send(self, data):
        self.proc.stdin.write(data)
        self.proc.stdin.flush()

    def request(self, msgid, method, params):
        self.send(msgpack.packb([0, msgid, method, params]))

    def next_message(self, timeout=10, want=None):
        """Next message (optionally the first matching `want`), waiting with a deadline."""
        deadline = time.monotonic() + timeout
        while True:
            for i, m in enumerate(self.pending):
                if want is None or want(m):
                    return self.pending.pop(i)
            for m in self.unpacker:
                self.pending.append(m)
            if any(want is None or want(m) for m in self.pending):
                continue
            remaining = deadline - time.monotonic()
            assert remaining > 0, f"no message within {timeout}s; got {self.pending}"
            chunk = os.read(self.proc.stdout.fileno(), 65536) if _readable(self.proc.stdout, remaining) else b""
            if chunk:
                self.unpacker.feed(chunk)

    def response(self, msgid, timeout=10):
        return self.next_message(timeout, lambda m: m[0] == 1 and m[1] == msgid)

    def event(self, name, timeout=30):
        m = self.next_message(timeout, lambda m: m[0] == 2 and m[1] == "nvim_exec_lua" and m[2][1][0] == name)
        return m[2][1][1]

    def close(self):
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait(10)


def _readable(f, timeout):
    import select
    r, _, _ = select.select([f], [], [], timeout)
    return bool(r)


@pytest.fixture
def peer():
    p = Peer()
    yield p
    p.close()


def test_ping_and_version(peer):
    peer.request(1, "ping", [])
    peer.request(2, "version", [])
    assert peer.response(1) == [1, 1, None, "pong"]
    v = peer.response(2)[3]
    assert v["version"] and v["libuv"] and v["msgpack"].startswith("4.") and v["libxml2"]


def _maps_libxml2(pid):
    with open(f"/proc/{pid}/maps") as f:
        return any("libxml2" in line for line in f)


def test_libxml2_is_loaded_by_the_first_report_only(peer):
    """The idle co-process does not map libxml2 (nor the ICU and libstdc++ it brings): it is
    loaded for the first JUnit read, and later runs use the same copy."""
    peer.request(1, "mem", [])
    assert peer.response(1)[2] is None
    assert not _maps_libxml2(peer.proc.pid)
    for i in (2, 3):
        peer.request(i, "run", [{"cwd": os.path.join(FIXTURES_DIR, "proj_fail"), "python": PYTHON}])
        assert peer.response(i)[2] is None
        fin = peer.event("finished")
        assert fin["status"] == "failed" and fin["counts"]["failed"] > 0
        assert any(f["file"] and f["line"] > 0 for f in fin["failures"])
        assert _maps_libxml2(peer.proc.pid)


def test_byte_at_a_time_and_concatenated(peer):
    data = b"".join(msgpack.packb([0, i, "ping", []]) for i in range(1, 6))
    for b in data[:len(data) // 2]:
        peer.send(bytes([b]))
    peer.send(data[len(data) // 2:])
    for i in range(1, 6):
        assert peer.response(i) == [1, i, None, "pong"]


def test_errors_name_the_problem_and_serving_goes_on(peer):
    peer.request(1, "no_such_method", [])
    assert peer.response(1)[2] == "unknown method: no_such_method"
    peer.send(msgpack.packb([0, 2, "ping"]))            # 3 elements
    assert "request is [0, id, method, params]" in peer.response(2)[2]
    peer.request(3, "run", ["not a map"])
    assert peer.response(3)[2] == "params[1] must be a map of options"
    peer.request(4, "run", [{"args": "-x"}])
    assert peer.response(4)[2] == "option 'args' must be a list of strings"
    peer.request(5, "history_get", [12345])
    assert peer.response(5)[2] == "no run 12345 in the history"
    peer.send(b"\xc1" * 1000 + msgpack.packb("not an array"))   # garbage, then junk
    peer.request(6, "ping", [])
    assert peer.response(6) == [1, 6, None, "pong"]
    assert peer.proc.poll() is None


def test_resolve_answers_what_a_run_would_use(peer, tmp_path):
    flat = os.path.join(FIXTURES_DIR, "proj_flat")
    peer.request(1, "resolve", [{"cwd": FIXTURES_DIR, "file": os.path.join(flat, "tests", "test_a.py")}])
    r = peer.response(1)[3]
    assert (r["cwd"], r["root"], r["marker"]) == (FIXTURES_DIR, flat, "pyproject.toml")
    assert r["python"] and r["python_why"]
    # A relative file is relative to cwd; an explicit python is taken as is.
    peer.request(2, "resolve", [{"cwd": os.path.join(flat, "tests"), "file": "test_a.py", "python": "/x/py"}])
    r = peer.response(2)[3]
    assert (r["root"], r["python"], r["python_why"]) == (flat, "/x/py", "the python option")
    # No marker anywhere: the cwd itself, and no `marker`.
    peer.request(3, "resolve", [{"cwd": str(tmp_path)}])
    r = peer.response(3)[3]
    assert r["root"] == str(tmp_path) and "marker" not in r
    peer.request(4, "resolve", [{"cwd": str(tmp_path / "missing")}])
    assert peer.response(4)[2] == f"cwd: {tmp_path / 'missing'}: No such file or directory"
    peer.request(5, "resolve", [{"file": 3}])
    assert peer.response(5)[2] == "option 'file' must be a string"


def test_stdin_eof_is_a_clean_exit(peer):
    peer.request(1, "ping", [])
    assert peer.response(1)[3] == "pong"
    peer.proc.stdin.close()
    assert peer.proc.wait(10) == 0


def test_run_events_and_sigterm_ends_pytest(peer):
    slow = os.path.join(FIXTURES_DIR, "proj_slow")
    peer.request(1, "run", [{"cwd": slow, "python": PYTHON, "args": []}])
    run_id = peer.response(1)[3]
    assert isinstance(run_id, int) and run_id > 0
    started = peer.event("started")
    assert started["run_id"] == run_id and started["root"] == slow
    assert started["cmd"][:3] == [PYTHON, "-m", "pytest"]
    # Wait until the hanging test runs (pytest announced it), then SIGTERM the co-process.
    peer.next_message(30, lambda m: m[0] == 2 and m[2][1][0] == "progress"
                      and "test_hang" in (m[2][1][1].get("current") or ""))
    kids = psutil.Process(peer.proc.pid).children(recursive=True)
    assert kids, "pytest should be running"
    peer.proc.send_signal(signal.SIGTERM)
    assert peer.proc.wait(10) == 0
    gone, alive = psutil.wait_procs(kids, timeout=5)
    assert not alive, f"left behind: {alive}"


def test_new_run_cancels_the_active_one(peer):
    slow = os.path.join(FIXTURES_DIR, "proj_slow")
    passing = os.path.join(FIXTURES_DIR, "proj_pass")
    peer.request(1, "run", [{"cwd": slow, "python": PYTHON}])
    first = peer.response(1)[3]
    peer.event("started")
    peer.request(2, "run", [{"cwd": passing, "python": PYTHON}])
    second = peer.response(2)[3]
    results = {}
    while len(results) < 2:
        r = peer.event("finished")
        results[r["run_id"]] = r
    assert results[first]["status"] == "cancelled"
    assert results[second]["status"] == "passed"
    peer.request(3, "cancel", [])
    assert peer.response(3)[3] is False          # nothing running: not an error


def test_timeout_ends_the_whole_group(peer):
    slow = os.path.join(FIXTURES_DIR, "proj_slow")
    peer.request(1, "run", [{"cwd": slow, "python": PYTHON, "timeout_ms": 1500, "kill_grace_ms": 500}])
    peer.response(1)
    r = peer.event("finished")
    assert r["status"] == "timed_out"
    assert r["error"] == "timed out after 1.5 s"
    assert psutil.Process(peer.proc.pid).children(recursive=True) == []
