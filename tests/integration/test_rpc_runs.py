"""Runs through the co-process over real pipes: history, logs, memory log, trend and faults
(hangs, escaping grandchildren, loud output, bad log directories, deleted cwd)."""
import json
import os
import shutil
import signal
import subprocess
import time

import psutil
import pytest

from conftest import FIXTURES_DIR, TEST_PYTHON, make_project, not_warm
from test_rpc_protocol import Peer

PYTHON = TEST_PYTHON


@pytest.fixture
def peer():
    p = Peer()
    yield p
    p.close()


def configure(peer, **opts):
    peer.request(900, "configure", [opts])
    assert peer.response(900)[3] is True


def run(peer, msgid, cwd, args=(), **opts):
    opts.update({"cwd": cwd, "python": PYTHON, "args": list(args)})
    peer.request(msgid, "run", [opts])
    run_id = peer.response(msgid)[3]
    while True:
        r = peer.event("finished", timeout=120)
        if r["run_id"] == run_id:
            return r


def fixture(name):
    return os.path.join(FIXTURES_DIR, name)


def test_history_keeps_last_n_and_deletes_their_logs(peer, tmp_path):
    configure(peer, log_dir=str(tmp_path / "logs"), history_size=2)
    results = [run(peer, i, fixture("proj_pass")) for i in range(1, 4)]
    logs = [r["log_path"] for r in results]
    assert all(r["status"] == "passed" for r in results)
    assert not os.path.exists(logs[0]), "the run that fell out of the history keeps no log"
    assert os.path.exists(logs[1]) and os.path.exists(logs[2])
    assert "passed" in open(logs[2]).read()
    peer.request(10, "history", [])
    hist = peer.response(10)[3]
    assert [h["run_id"] for h in hist] == [results[2]["run_id"], results[1]["run_id"]]
    peer.request(11, "history_get", [results[1]["run_id"]])
    assert peer.response(11)[3]["summary"] == results[1]["summary"]


def test_memory_log_has_one_line_per_snapshot(peer, tmp_path):
    configure(peer, log_dir=str(tmp_path))
    r = run(peer, 1, fixture("proj_pass"))
    lines = [json.loads(l) for l in open(tmp_path / "memory.jsonl")]
    assert [l["event"] for l in lines] == ["coprocess_start", "run_start", "run_end"]
    assert lines[2]["run_id"] == r["run_id"] and lines[2]["pytest_peak_rss"] == r["memory"]["peak_rss"]
    assert lines[0]["coprocess"]["rss"] > 0 and lines[0]["system"]["total"] > 0


def test_trend_needs_three_runs_with_the_same_args(peer):
    for i in range(1, 4):
        run(peer, i, fixture("proj_pass"), ["-q"])
    peer.request(20, "mem", [{}])
    rep = peer.response(20)[3]
    assert rep["trend"]["runs"] == 3
    names = [m["name"] for m in rep["trend"]["metrics"]]
    assert names == ["coprocess_rss", "editor_rss", "peak_rss"]
    assert "runs with the same args" in rep["trend"]["sentence"]  # growth or not: RSS varies


def test_cancel_reaches_a_grandchild_that_left_the_group(peer, tmp_path):
    pidfile = tmp_path / "grandchild.pid"
    proj = make_project(
        tmp_path, "test_escape.py",
        "import subprocess, time\n\n"
        "def test_escapes():\n"
        "    p = subprocess.Popen(['sleep', '300'], start_new_session=True)\n"
        f"    open({str(pidfile)!r}, 'w').write(str(p.pid))\n"
        "    time.sleep(300)\n")
    peer.request(1, "run", [{"cwd": str(proj), "python": PYTHON, "kill_grace_ms": 300}])
    run_id = peer.response(1)[3]
    deadline = time.monotonic() + 30
    while not (pidfile.exists() and pidfile.read_text()):
        assert time.monotonic() < deadline, "the test never started its grandchild"
        time.sleep(0.05)  # polling a file the test writes, within the deadline
    grandchild = psutil.Process(int(pidfile.read_text()))
    assert os.getsid(grandchild.pid) != os.getsid(peer.proc.pid)
    peer.request(2, "cancel", [])
    assert peer.response(2)[3] is True
    r = peer.event("finished")
    assert r["run_id"] == run_id and r["status"] == "cancelled"
    gone, alive = psutil.wait_procs([grandchild], timeout=5)
    assert not alive, "the setsid grandchild survived the cancel"


def test_loud_output_keeps_memory_bounded(peer, tmp_path):
    proj = make_project(
        tmp_path, "test_loud.py",
        "import sys\n\ndef test_loud():\n"
        "    chunk = 'x' * 1023 + '\\n'\n"
        "    for _ in range(100 * 1024):\n"
        "        sys.stdout.write(chunk)\n"
        "    assert False\n")
    configure(peer, log_dir=str(tmp_path / "logs"))
    rss_before = psutil.Process(peer.proc.pid).memory_info().rss
    r = run(peer, 1, str(proj), ["-s"])
    rss_after = psutil.Process(peer.proc.pid).memory_info().rss
    assert r["status"] == "failed"
    # The log keeps the first and the last 16 MiB of the 100 MiB and says where it was cut.
    size = os.path.getsize(r["log_path"])
    assert 32 * 1024 * 1024 < size < 32 * 1024 * 1024 + 300, size
    with open(r["log_path"], "rb") as f:
        assert b"test session starts" in f.read(4096)
        f.seek(16 * 1024 * 1024 - 4)
        cut = f.read(4) + f.readline() + f.readline()
        assert cut.startswith(b"xxxx\n[pytestmon: "), cut
        assert b"[pytestmon: " in cut and b" bytes of output cut here" in cut, cut
        f.seek(-4096, os.SEEK_END)
        assert b"1 failed" in f.read(), "the tail (pytest's summary) is kept"
    assert len(r["output_tail"]) <= 64 * 1024
    assert rss_after - rss_before < 20 * 1024 * 1024, (rss_before, rss_after)


def test_non_utf8_output_is_carried_safely(peer, tmp_path):
    proj = make_project(
        tmp_path, "test_bytes.py",
        "import sys\n\ndef test_bytes():\n"
        "    sys.stdout.buffer.write(b'caf\\xe9 \\xff\\xfe\\n')\n    sys.stdout.flush()\n    assert 0\n")
    r = run(peer, 1, str(proj), ["-s"])
    assert r["status"] == "failed"
    assert "caf\ufffd" in r["output_tail"]


def test_unusable_log_dir_runs_anyway_and_says_so(peer, tmp_path):
    # A log directory that cannot exist (under a regular file): root cannot write there either.
    blocker = tmp_path / "not-a-dir"
    blocker.write_text("")
    configure(peer, log_dir=str(blocker / "logs"))
    r = run(peer, 1, fixture("proj_pass"))
    assert r["status"] == "passed" and "log is off" in r["log_error"]
    assert "Not a directory" in r["log_error"]
    assert "memory log is off" in r["memlog_error"]


def test_planted_log_symlink_is_refused_and_runs_anyway(peer, tmp_path):
    logs = tmp_path / "logs"
    logs.mkdir(mode=0o700)
    configure(peer, log_dir=str(logs))
    # The next run's log name is taken by a link to a file of the user's: never followed.
    victim = tmp_path / "victim"
    victim.write_text("precious")
    os.symlink(victim, logs / f"run-{peer.proc.pid}-1.log")
    r = run(peer, 1, fixture("proj_fail"))
    assert r["status"] == "failed" and r["failures"]
    assert "log is off" in r["log_error"] and "Too many levels of symbolic links" in r["log_error"]
    assert victim.read_text() == "precious"


def test_run_logs_are_bounded_across_coprocesses(tmp_path):
    # Three editors' co-processes in turn, each killed after two runs (as the OOM killer
    # would): at most history_size run logs stay in the shared log_dir.
    logs = tmp_path / "logs"
    for _ in range(3):
        p = Peer()
        try:
            configure(p, log_dir=str(logs), history_size=2)
            for i in (1, 2):
                assert run(p, i, fixture("proj_pass"))["status"] == "passed"
        finally:
            p.close()
    names = sorted(n for n in os.listdir(logs) if n.startswith("run-"))
    assert len(names) == 2, names
    assert all(n.startswith(f"run-{p.proc.pid}-") for n in names), "the newest co-process's logs stay"


@pytest.mark.parametrize("mode", [0o777, 0o770, 0o1777])
def test_log_dir_writable_by_others_is_refused(peer, tmp_path, mode):
    logs = tmp_path / "logs"
    logs.mkdir()
    os.chmod(logs, mode)
    peer.request(900, "configure", [{"log_dir": str(logs)}])
    err = peer.event("error")
    assert str(logs) in err["message"] and "writable by" in err["message"]
    assert "running without logs" in err["message"]
    assert peer.response(900)[3] is True
    r = run(peer, 1, fixture("proj_pass"))
    assert r["status"] == "passed" and "log_path" not in r
    assert "writable by" in r["memlog_error"]
    assert os.listdir(logs) == [], "nothing is written into an unsafe log_dir"


def test_log_dir_is_created_private(peer, tmp_path):
    old = os.umask(0o022)
    try:
        logs = tmp_path / "new" / "logs"
        configure(peer, log_dir=str(logs))
    finally:
        os.umask(old)
    assert (logs.stat().st_mode & 0o777) == 0o700
    assert (logs.parent.stat().st_mode & 0o777) == 0o700


def test_deleted_cwd_is_reported(peer, tmp_path):
    gone = tmp_path / "gone"
    gone.mkdir()
    shutil.rmtree(gone)
    r = run(peer, 1, str(gone))
    assert r["status"] == "error" and "not a directory" in r["error"]
    r = run(peer, 2, fixture("proj_pass"))
    assert r["status"] == "passed"


def test_xdist_workers_are_ended_by_timeout(peer, tmp_path):
    proj = make_project(tmp_path, "test_hang.py", "import time\n\ndef test_a():\n    time.sleep(300)\n\n"
                                                   "def test_b():\n    time.sleep(300)\n")
    r = run(peer, 1, str(proj), ["-n", "2"], timeout_ms=4000, kill_grace_ms=500)
    assert r["status"] == "timed_out" and r["error"] == "timed out after 4 s"
    # A worker that outlived pytest's main process is reparented to the co-process (a
    # subreaper) and reaped by it; wait for that with a deadline.
    deadline = time.monotonic() + 5
    while not_warm(psutil.Process(peer.proc.pid).children(recursive=True)):
        assert time.monotonic() < deadline, psutil.Process(peer.proc.pid).children(recursive=True)
        time.sleep(0.05)


def test_a_40000_entry_env_is_answered_at_once_and_reaches_pytest(peer, tmp_path):
    """The user's env is merged into ours in O(n log n): 40,000 entries used to take seconds
    before `run` answered (every entry compared with every later one)."""
    proj = make_project(tmp_path, "test_env.py",
                        "import os\n\ndef test_env():\n"
                        "    assert os.environ['PYTESTMON_V0'] == '0'\n"
                        "    assert os.environ['PYTESTMON_V39999'] == '39999'\n"
                        "    assert sum(k.startswith('PYTESTMON_V') for k in os.environ) == 40000\n")
    env = {f"PYTESTMON_V{i}": str(i) for i in range(40000)}
    peer.request(1, "run", [{"cwd": str(proj), "python": PYTHON, "env": env}])
    t0 = time.monotonic()
    resp = peer.response(1, timeout=30)
    took = time.monotonic() - t0
    assert resp[2] is None and took < 1.0, (resp, took)
    r = peer.event("finished", timeout=120)
    assert r["status"] == "passed", r["summary"]
