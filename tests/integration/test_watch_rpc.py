"""Watch mode's limits over real pipes (no editor): a huge saved file is dealt with off the
event loop and skipped (the co-process answers at once meanwhile), and a long initial scan
of a big tree ends within a second when the editor goes away."""
import os
import shutil
import subprocess
import time

import pytest

from conftest import FIXTURES_DIR, TEST_PYTHON
from test_rpc_protocol import Peer

MIB = 1024 * 1024
WATCH_FIXTURE = os.path.join(FIXTURES_DIR, "proj_watch")


@pytest.fixture
def peer():
    p = Peer()
    yield p
    # Let it end its runs itself (stdin closed), then make sure it is gone.
    if p.proc.poll() is None:
        p.proc.stdin.close()
        try:
            p.proc.wait(10)
        except subprocess.TimeoutExpired:
            pass
    p.close()


def take_watch(peer, states):
    """The first `watch` event already read whose state is in `states` (taken), or None."""
    for i, m in enumerate(peer.pending):
        if m[0] == 2 and m[2][1][0] == "watch" and m[2][1][1]["state"] in states:
            return peer.pending.pop(i)[2][1][1]
    return None


def wait_watch(peer, states, timeout=30):
    deadline = time.monotonic() + timeout
    while True:
        ev = peer.event("watch", timeout=max(0.01, deadline - time.monotonic()))
        if ev["state"] in states:
            return ev


def test_a_huge_saved_file_is_read_off_the_loop_and_skipped(peer, tmp_path):
    proj = tmp_path / "proj"
    shutil.copytree(WATCH_FIXTURE, proj)
    peer.request(1, "watch", [{"cwd": str(proj), "python": TEST_PYTHON, "debounce_ms": 10}])
    assert peer.response(1)[3] == {"root": str(proj)}
    ready = wait_watch(peer, ("ready",))
    assert ready["truncated"] is False and "skipped" not in ready, ready

    # 200 MB of zeros (sparse: reading it still means 200 MB through read()).
    big = proj / "pkg" / "big.py"
    with open(big, "wb") as f:
        f.truncate(200 * MIB)
    peer.request(2, "saved", [{"file": str(big)}])
    assert peer.response(2)[3] is True
    # While the save is dealt with, the co-process answers at once.
    worst, msgid, ev = 0.0, 100, None
    deadline = time.monotonic() + 30
    while ev is None:
        assert time.monotonic() < deadline, "no watch decision within 30 s"
        t0 = time.monotonic()
        peer.request(msgid, "ping", [])
        assert peer.response(msgid, timeout=10)[3] == "pong"
        worst = max(worst, time.monotonic() - t0)
        msgid += 1
        ev = take_watch(peer, ("run", "idle"))
    assert worst < 0.25, f"ping took {worst:.3f} s while the save was handled"
    # Nothing imports pkg.big: no run; the file was not read, and the event says so.
    assert ev["state"] == "idle" and ev["saved"] == [str(big)], ev
    assert [s["file"] for s in ev["skipped"]] == [str(big)], ev
    assert "larger than 8 MiB" in ev["skipped"][0]["why"], ev

    # The graph came back from the thread pool whole: a module's save reruns its importers.
    peer.request(3, "saved", [{"file": str(proj / "pkg" / "a.py")}])
    assert peer.response(3)[3] is True
    ev = wait_watch(peer, ("run", "idle"))
    assert ev["state"] == "run" and ev["whole"] is False and "skipped" not in ev, ev
    assert ev["tests"] == [str(proj / "tests" / "test_a.py"), str(proj / "tests" / "test_b.py")]
    fin = peer.event("finished", timeout=120)
    assert fin["run_id"] == ev["run_id"] and fin["status"] == "passed", fin["summary"]


def test_closing_stdin_during_a_long_scan_exits_within_a_second(peer, tmp_path):
    # A big tree without any project marker: 600 files of 6 MiB of Python each (hard links
    # of one file: cheap to make, each read and parsed by the scan), seconds of scanning.
    tree = tmp_path / "tree"
    tree.mkdir()
    line = "import os, sys  # a comment\nx = [1, 2, 'three']\n"
    first = tree / "m.py"
    first.write_text(line * (6 * MIB // len(line)))
    for d in range(20):
        (tree / f"d{d}").mkdir()
        for i in range(30):
            os.link(first, tree / f"d{d}" / f"m{i}.py")
    peer.request(1, "watch", [{"cwd": str(tree), "python": TEST_PYTHON}])
    assert peer.response(1)[3] == {"root": str(tree)}
    assert peer.event("watch")["state"] == "scanning"
    # The editor goes away while the graph is being built.
    t0 = time.monotonic()
    peer.proc.stdin.close()
    try:
        peer.proc.wait(timeout=1.0)
    except subprocess.TimeoutExpired:
        pytest.fail("the co-process still runs 1 s after its stdin was closed")
    assert time.monotonic() - t0 < 1.0
    assert peer.proc.returncode == 0
