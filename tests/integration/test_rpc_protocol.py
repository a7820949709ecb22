"""The co-process's msgpack-RPC over real pipes: framing, errors, garbage, shutdown.

Talks to `pytestmon --rpc` directly (no editor) so each byte on the wire is ours."""
import os
import signal
import subprocess

import msgpack
import psutil
import pytest

from conftest import BIN, FIXTURES_DIR, TEST_PYTHON, not_warm
from rpcpeer import RpcPeer

PYTHON = TEST_PYTHON


class Peer(RpcPeer):
    """The co-process under test, spoken to over its real pipes (tests/rpcpeer.py)."""

    def __init__(self, env=None, preexec_fn=None):
        super().__init__([BIN, "--rpc"], env=env, preexec_fn=preexec_fn)


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
    assert peer.response(4)[2] == "option 'args' must be a list of strings, got a string"
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
    assert peer.response(4)[2] == f"working directory is not a directory: {tmp_path / 'missing'}"
    peer.request(5, "resolve", [{"file": 3}])
    assert peer.response(5)[2] == "option 'file' must be a non-empty string, got 3"


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
    assert not_warm(psutil.Process(peer.proc.pid).children(recursive=True)) == []


# ---- #12 items 7-11, 13, 15: hostile or mistaken input ----------------------------------


def _stderr_after_eof(peer):
    peer.proc.stdin.close()
    assert peer.proc.wait(10) == 0
    return peer.proc.stderr.read().decode("utf-8", "replace").splitlines()


def test_oversized_request_is_refused_and_its_body_never_parsed(peer):
    """A request over the 64 MiB cap gets an error; the pings packed inside its 65 MiB string
    are NOT answered (the body is skipped to its declared end, not parsed as messages)."""
    hidden = b"".join(msgpack.packb([0, 70 + i, "ping", []]) for i in range(5))
    body = (hidden * ((65 << 20) // len(hidden) + 1))[:65 << 20]
    peer.send(msgpack.packb([0, 5, "ping", [body]], use_bin_type=False))
    peer.request(6, "ping", [])
    err = peer.response(5, timeout=30)[2]
    assert err.startswith("invalid message: it declares ") and err.endswith("over the 64 MiB limit")
    assert peer.response(6) == [1, 6, None, "pong"]
    assert [m for m in peer.pending if m[0] == 1] == []  # no hidden ping was answered
    lines = _stderr_after_eof(peer)
    assert len(lines) == 1 and "over the 64 MiB limit; skipping it" in lines[0]


def test_garbage_is_logged_once_per_burst(peer):
    """100,000 bytes that are no msgpack-RPC message: one stderr line with the byte count (was
    one line per byte, pushed into the editor's on_stderr)."""
    garbage = bytes(i % 0x80 for i in range(100000 - 2000)) + b"\xc1" * 1000 + b"\xc0" * 1000
    peer.send(garbage)
    peer.request(1, "ping", [])
    assert peer.response(1) == [1, 1, None, "pong"]
    assert _stderr_after_eof(peer) == ["pytestmon: rpc: skipped 100000 bytes that are not msgpack-RPC messages"]


def test_bad_ids_and_too_deep_params_are_answered(peer):
    """A caller blocked on its request must hear back: every id that can be read is echoed
    with an error, also when params nest deeper than the decoder allows."""
    for msgid in (-1, 1.5, "x", None):
        peer.send(msgpack.packb([0, msgid, "ping", []]))
        assert peer.response(msgid)[2] == "invalid message: the request id must be a non-negative integer"
    deep = 1
    for _ in range(40):
        deep = [deep]
    peer.request(9, "ping", [deep])
    assert peer.response(9)[2] == "invalid message: cannot decode it (nested deeper than 32 levels?)"
    peer.request(10, "ping", [])
    assert peer.response(10) == [1, 10, None, "pong"]


def test_numeric_params_are_range_checked(peer):
    """Floats and huge integers are refused with an error naming the key, never cast (a float
    cast out of range is undefined behaviour; 1e19 as the editor pid shut the co-process down,
    2^64-1 as a pid reported the editor instead)."""
    cases = [
        ("run", {"timeout_ms": 1e300}, "option 'timeout_ms' must be an integer 0..2592000000, got 1e+300"),
        ("run", {"kill_grace_ms": -1}, "option 'kill_grace_ms' must be an integer 0..600000, got -1"),
        ("mem", {"pid": 2**64 - 1}, "option 'pid' must be an integer 1..4194304, got 1.84467440737096e+19"),
        ("mem", {"pid": 0}, "option 'pid' must be an integer 1..4194304, got 0"),
        ("configure", {"editor_pid": 1e19}, "option 'editor_pid' must be an integer 1..4194304, got 1e+19"),
        ("configure", {"history_size": 1.5}, "option 'history_size' must be an integer 1..1000, got 1.5"),
        ("configure", {"sample_interval_ms": 1}, "option 'sample_interval_ms' must be an integer 20..1000000000, got 1"),
        ("configure", {"log_dir": ""}, "option 'log_dir' must be a non-empty string, got a string"),
        ("history_get", [2**64 - 1], "history_get takes [run_id], a run id (integer >= 1)"),
    ]
    for i, (method, opts, message) in enumerate(cases, 1):
        peer.request(i, method, [opts] if isinstance(opts, dict) else opts)
        assert peer.response(i)[2] == message, (method, opts)
    dead = subprocess.Popen(["true"])
    dead.wait()
    peer.request(20, "configure", [{"editor_pid": dead.pid}])
    assert peer.response(20)[2] == f"option 'editor_pid': no process {dead.pid} is running"
    # Still serving after a status tick (the editor-pid check runs on every tick).
    peer.event("status", timeout=10)
    peer.request(21, "ping", [])
    assert peer.response(21) == [1, 21, None, "pong"]


def test_unknown_keys_and_extra_params_are_refused(peer):
    peer.request(1, "run", [{"cwd": "/", "timout_ms": 5, "argz": []}])
    assert peer.response(1)[2] == (
        "unknown options 'timout_ms', 'argz' for run; it takes: "
        "cwd, file, python, args, env, prefix, path_map, timeout_ms, kill_grace_ms, nearest_line, coverage, coverage_files, "
        "memory_budget_mb, warm")
    peer.request(2, "configure", [{"status_interval_ms": 250}])
    assert peer.response(2)[2].startswith("unknown option 'status_interval_ms' for configure; ")
    peer.request(3, "ping", [1])
    assert peer.response(3)[2] == "ping takes no params, got 1"
    peer.request(4, "mem", [{}, {}])
    assert peer.response(4)[2] == "mem takes [] or [{options}], got 2 params"
    peer.request(5, "mem", [[]])  # Lua's empty table: no options
    assert peer.response(5)[2] is None


def test_call_answers_with_a_reply_event(peer):
    """`call` (a notification) runs a method and pushes the answer as a `reply` event: the
    editor's requests on the UI path never block on the co-process."""
    peer.send(msgpack.packb([2, "call", [7, "ping", []]]))
    assert peer.event("reply") == {"req_id": 7, "result": "pong"}
    peer.send(msgpack.packb([2, "call", [8, "mem", [{"pid": 1e300}]]]))
    assert peer.event("reply") == {"req_id": 8, "error": "option 'pid' must be an integer 1..4194304, got 1e+300"}
    peer.send(msgpack.packb([2, "call", [9, "nope", []]]))
    assert peer.event("reply") == {"req_id": 9, "error": "unknown method: nope"}


def test_hacking_md_lists_the_method_table():
    """HACKING.md's RPC contract is the co-process's method table, line for line."""
    table = subprocess.run([BIN, "--rpc-methods"], capture_output=True, text=True, timeout=10)
    assert table.returncode == 0
    hacking = open(os.path.join(os.path.dirname(FIXTURES_DIR), "..", "HACKING.md"), encoding="utf-8").read()
    section = hacking.split("<!-- rpc-methods -->\n", 1)[1].split("<!-- /rpc-methods -->", 1)[0]
    assert section == table.stdout
    names = [line.split("`")[1] for line in table.stdout.splitlines()]
    assert names == ["ping", "version", "configure", "run", "resolve", "watch", "unwatch", "saved", "cancel",
                     "mem", "history", "history_get", "debug_config", "debug_listen", "coverage_file", "collect",
                     "test_output", "call"]


def event_table():
    """{name: (all fields, required fields)} from `pytestmon --rpc-events`."""
    out = subprocess.run([BIN, "--rpc-events"], capture_output=True, text=True, timeout=10)
    assert out.returncode == 0
    table = {}
    for line in out.stdout.splitlines():
        name = line.split("`")[1]
        fields = [f.strip() for f in line.split("{", 1)[1].split("}", 1)[0].split(",")]
        table[name] = ({f.rstrip("?") for f in fields}, {f for f in fields if not f.endswith("?")})
    return out.stdout, table


def test_hacking_md_lists_the_event_table():
    """HACKING.md's list of events is the co-process's event table, line for line."""
    text, table = event_table()
    hacking = open(os.path.join(os.path.dirname(FIXTURES_DIR), "..", "HACKING.md"), encoding="utf-8").read()
    section = hacking.split("<!-- rpc-events -->\n", 1)[1].split("<!-- /rpc-events -->", 1)[0]
    assert section == text
    assert list(table)[:5] == ["started", "progress", "finished", "status", "error"]
    assert {"reply", "watch", "debug", "coverage"} <= set(table)


def test_event_payloads_follow_the_event_table(tmp_path):
    """A session that makes the co-process push each kind of event: every payload has the
    required fields of its row and no field the table does not name."""
    _, table = event_table()
    p = Peer()
    try:
        blocker = tmp_path / "not-a-dir"
        blocker.write_text("")
        p.request(1, "configure", [{"log_dir": str(blocker / "logs")}])   # refused: `error`
        assert p.response(1)[3] is True
        slow = os.path.join(FIXTURES_DIR, "proj_slow")
        p.request(2, "run", [{"cwd": slow, "python": PYTHON, "timeout_ms": 1500}])  # progress, timed out
        run_id = p.response(2)[3]
        while p.event("finished", timeout=60)["run_id"] != run_id:
            pass
        p.send(msgpack.packb([2, "call", [7, "ping", []]]))              # `reply`
        watched = os.path.join(FIXTURES_DIR, "proj_watch")
        p.request(3, "watch", [{"cwd": watched, "python": PYTHON}])
        assert p.response(3)[3]["root"] == watched
        assert p.event("watch", timeout=60)
        while p.event("watch", timeout=60)["state"] != "ready":
            pass
        p.request(4, "unwatch", [])
        debug = os.path.join(FIXTURES_DIR, "proj_debug")
        p.request(5, "debug_config", [{"cwd": debug, "file": os.path.join(debug, "test_debug.py"),
                                       "python": PYTHON}])
        assert isinstance(p.response(5)[3], int)
        p.event("debug", timeout=60)
        cov = os.path.join(FIXTURES_DIR, "proj_cov")
        p.request(6, "run", [{"cwd": cov, "python": PYTHON, "coverage": 1}])
        run_id = p.response(6)[3]
        while p.event("finished", timeout=60)["run_id"] != run_id:
            pass
        p.request(9, "collect", [{"cwd": os.path.join(FIXTURES_DIR, "proj_tree"), "python": PYTHON}])
        assert isinstance(p.response(9)[3], int)
        p.event("collection", timeout=60)
        p.request(10, "collect", [{"cwd": FIXTURES_DIR, "python": PYTHON, "args": ["--no-such-opt"]}])
        p.response(10)
        p.event("collection", timeout=60)                               # `collection` with an error
        p.request(8, "ping", [])
        p.response(8)
        events = [(m[2][1][0], m[2][1][1]) for m in p.pending if m[0] == 2 and m[1] == "nvim_exec_lua"]
        events += p.seen_events
    finally:
        p.close()
    assert p.proc.stderr.read().decode().count("is not in EVENTS[]") == 0
    seen = {name for name, _ in events}
    assert {"started", "progress", "finished", "status", "error", "reply", "watch", "debug", "collection"} <= seen, seen
    for name, payload in events:
        assert name in table, name
        allowed, required = table[name]
        assert required <= set(payload), (name, sorted(required - set(payload)))
        assert set(payload) <= allowed, (name, sorted(set(payload) - allowed))
