"""What a run leaves behind when things go wrong: the co-process killed under pytest, files a
test drops into the private JUnit directory, bursts of run/cancel, orphans that cannot die yet,
pids reused after pytest was reaped. Speaks msgpack-RPC to `pytestmon --rpc` directly."""
import glob
import os
import resource
import signal
import subprocess
import time

import msgpack
import psutil
import pytest

from conftest import FIXTURES_DIR, make_project
from test_rpc_protocol import Peer

PYTHON = "/usr/bin/python3"
FREEZER = "/sys/fs/cgroup/freezer"


class EnvPeer(Peer):
    """A co-process with its own TMPDIR (and optionally a descriptor limit)."""

    def __init__(self, tmpdir, nofile=None):
        env = dict(os.environ, TMPDIR=str(tmpdir))

        def limit():
            if nofile:
                resource.setrlimit(resource.RLIMIT_NOFILE, (nofile, nofile))

        super().__init__(env=env, preexec_fn=limit)

    def ping(self, msgid, timeout=10):
        self.request(msgid, "ping", [])
        assert self.response(msgid, timeout)[3] == "pong"


@pytest.fixture
def peers():
    made = []

    def make(tmpdir, **kw):
        p = EnvPeer(tmpdir, **kw)
        made.append(p)
        return p

    yield make
    for p in made:
        p.close()


def private_dirs(tmpdir):
    return sorted(glob.glob(os.path.join(str(tmpdir), "pytestmon-*")))


def wait_gone(pids, timeout):
    """Waits until no pid runs (a zombie nobody reaps counts as gone); returns those left."""
    deadline = time.monotonic() + timeout
    while True:
        left = []
        for pid in pids:
            try:
                if psutil.Process(pid).status() != psutil.STATUS_ZOMBIE:
                    left.append(pid)
            except psutil.NoSuchProcess:
                pass
        if not left or time.monotonic() > deadline:
            return left
        time.sleep(0.05)  # polling the process table, within the deadline


def kill_all(pids):
    for pid in pids:
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass


def wait_for_file(path, timeout=30):
    deadline = time.monotonic() + timeout
    while not (path.exists() and path.read_text().strip()):
        assert time.monotonic() < deadline, f"{path} never written"
        time.sleep(0.05)  # polling a file the test under run writes, within the deadline
    return path.read_text().strip()


def wait_current(peer, name, timeout=30):
    peer.next_message(timeout, lambda m: m[0] == 2 and m[2][1][0] == "progress"
                      and name in (m[2][1][1].get("current") or ""))


# ---- the co-process killed under a run (#12 item 5) ----------------------------------------


def test_killed_coprocess_takes_pytest_with_it_and_its_dir_is_swept(peers, tmp_path):
    tmp = tmp_path / "tmp"
    tmp.mkdir()
    outside = tmp_path / "outside.txt"
    outside.write_text("keep me")
    first = peers(tmp)
    first.request(1, "run", [{"cwd": os.path.join(FIXTURES_DIR, "proj_slow"), "python": PYTHON}])
    first.response(1)
    wait_current(first, "test_hang")
    tree = [p.pid for p in psutil.Process(first.proc.pid).children(recursive=True)]
    assert tree, "pytest should be running"
    stale = private_dirs(tmp)
    assert len(stale) == 1
    os.symlink(outside, os.path.join(stale[0], "link"))
    try:
        first.proc.kill()
        first.proc.wait(10)
        left = wait_gone(tree, 10)
        assert not left, "pytest outlived the co-process that was SIGKILLed"
    finally:
        kill_all(tree)
    assert private_dirs(tmp) == stale, "nobody could remove it: its owner was SIGKILLed"

    # A co-process starting later removes the dead one's directory, and nothing a symlink in it
    # points to; the directory of a live co-process stays.
    second = peers(tmp)
    second.ping(2)
    assert private_dirs(tmp) == []
    assert outside.read_text() == "keep me"
    second.request(3, "run", [{"cwd": os.path.join(FIXTURES_DIR, "proj_slow"), "python": PYTHON}])
    second.response(3)
    wait_current(second, "test_hang")
    live = private_dirs(tmp)
    assert len(live) == 1
    third = peers(tmp)
    third.ping(4)
    assert private_dirs(tmp) == live, "a live co-process's directory was swept"


def test_killed_coprocess_takes_xdist_workers_with_it(peers, tmp_path):
    """PDEATHSIG reaches pytest only; its workers end when their channel to it reaches EOF."""
    marks = tmp_path / "marks"
    marks.mkdir()
    proj = make_project(
        tmp_path, "test_hang.py",
        "import os, time\n\n"
        "def hang(name):\n"
        f"    open(os.path.join({str(marks)!r}, name), 'w').write(str(os.getpid()))\n"
        "    time.sleep(300)\n\n"
        "def test_a():\n    hang('a')\n\n"
        "def test_b():\n    hang('b')\n")
    peer = peers(tmp_path)
    peer.request(1, "run", [{"cwd": str(proj), "python": PYTHON, "args": ["-n", "2"]}])
    peer.response(1)
    wait_for_file(marks / "a")  # both workers are inside a test: pytest has nothing to print
    wait_for_file(marks / "b")
    tree = [p.pid for p in psutil.Process(peer.proc.pid).children(recursive=True)]
    try:
        peer.proc.kill()
        peer.proc.wait(10)
        left = wait_gone(tree, 15)
        assert not left, f"outlived the co-process: {[psutil.Process(p).cmdline() for p in left]}"
    finally:
        kill_all(tree)


# ---- files a test drops into the private directory (#12 item 6) ------------------------------


def test_whatever_a_test_drops_into_the_private_dir_is_removed_and_symlinks_not_followed(peers, tmp_path):
    tmp = tmp_path / "tmp"
    tmp.mkdir()
    victim_dir = tmp_path / "victim"
    victim_dir.mkdir()
    (victim_dir / "precious").write_text("keep me")
    victim_file = tmp_path / "victim.txt"
    victim_file.write_text("keep me too")
    proj = make_project(
        tmp_path, "test_drop.py",
        "import os\n\n"
        "def test_drop(request):\n"
        "    d = os.path.dirname(os.environ.get('PYTESTMON_REPORT') or request.config.option.xmlpath)\n"
        "    open(os.path.join(d, 'dropped.txt'), 'w').write('x')\n"
        "    os.makedirs(os.path.join(d, 'sub', 'deeper'))\n"
        "    open(os.path.join(d, 'sub', 'deeper', 'f'), 'w').write('x')\n"
        f"    os.symlink({str(victim_dir)!r}, os.path.join(d, 'sub', 'to_dir'))\n"
        f"    os.symlink({str(victim_file)!r}, os.path.join(d, 'to_file'))\n")
    peer = peers(tmp)
    # The latest run's directory (its report) is kept for test_output until a newer run
    # finishes; then it goes, and the newest one goes when the co-process ends.
    dirs = []
    for i in (1, 2):
        peer.request(i, "run", [{"cwd": str(proj), "python": PYTHON}])
        run_id = peer.response(i)[3]
        r = peer.event("finished")
        assert r["run_id"] == run_id and r["status"] == "passed", r.get("error")
        dirs.append(private_dirs(tmp))
        assert len(dirs[-1]) == 1, "the latest run's directory is kept"
    assert dirs[0] != dirs[1], "the older run's directory stayed behind"
    assert (victim_dir / "precious").read_text() == "keep me"
    assert victim_file.read_text() == "keep me too"
    peer.proc.stdin.close()
    assert peer.proc.wait(10) == 0
    assert private_dirs(tmp) == [], "the private directory stayed behind"
    assert (victim_dir / "precious").read_text() == "keep me"
    assert victim_file.read_text() == "keep me too"


# ---- bursts of run/cancel (#12 item 12) ------------------------------------------------------


def test_pipelined_run_cancel_pairs_stay_within_the_descriptor_limit(peers, tmp_path):
    n = 100
    peer = peers(tmp_path, nofile=64)
    peer.request(1, "configure", [{"log_dir": str(tmp_path / "logs")}])
    assert peer.response(1)[3] is True
    batch = b"".join(msgpack.packb([0, 10 + 2 * i, "run", [{"cwd": os.path.join(FIXTURES_DIR, "proj_slow"),
                                                              "python": PYTHON}]])
                     + msgpack.packb([0, 11 + 2 * i, "cancel", []]) for i in range(n))
    batch += msgpack.packb([0, 5000, "run", [{"cwd": os.path.join(FIXTURES_DIR, "proj_pass"), "python": PYTHON}]])
    peer.send(batch)
    ids = [peer.response(10 + 2 * i, 60)[3] for i in range(n)]
    assert all(peer.response(11 + 2 * i, 60)[3] is True for i in range(n)), "a cancel found no run"
    last = peer.response(5000, 60)[3]
    results = {}
    while len(results) < n + 1:
        r = peer.event("finished", timeout=120)
        results[r["run_id"]] = r
    bad = [(r["run_id"], r.get("error"), r.get("log_error")) for r in results.values()
           if r["status"] == "error" or r.get("log_error")]
    assert not bad, f"{len(bad)} runs failed, e.g. {bad[:3]}"
    assert all(results[i]["status"] == "cancelled" for i in ids)
    assert results[last]["status"] == "passed"
    peer.ping(6000)


# ---- orphans that cannot die yet, pids reused (#12 item 14) ----------------------------------


@pytest.fixture
def freezer(tmp_path):
    """A cgroup v1 freezer group: tasks moved there cannot die before it is thawed (they sit in
    uninterruptible sleep with SIGKILL pending, as on a hung NFS or FUSE mount)."""
    path = os.path.join(FREEZER, f"pytestmon-test-{os.getpid()}-{tmp_path.name}")
    try:
        os.mkdir(path)
    except OSError as e:
        pytest.skip(f"no writable cgroup v1 freezer at {FREEZER}: {e}")
    try:
        yield path
    finally:
        with open(os.path.join(path, "freezer.state"), "w") as f:
            f.write("THAWED")
        with open(os.path.join(path, "tasks")) as f:
            kill_all(int(p) for p in f.read().split())
        deadline = time.monotonic() + 10
        while True:
            try:
                os.rmdir(path)
                break
            except OSError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.05)  # the killed tasks leave the group as they exit


def sigkill_pending(pid):
    with open(f"/proc/{pid}/status") as f:
        fields = dict(line.split(":", 1) for line in f if ":" in line)
    mask = int(fields["SigPnd"], 16) | int(fields["ShdPnd"], 16)
    return bool(mask & (1 << (signal.SIGKILL - 1)))


def thaw(freezer):
    with open(os.path.join(freezer, "freezer.state"), "w") as f:
        f.write("THAWED")


def frozen_grandchild_project(tmp_path, freezer, pidfile, inherit_stdout):
    """A test that starts `sleep` in a session of its own, freezes it and passes."""
    out = "None" if inherit_stdout else "subprocess.DEVNULL"
    return make_project(
        tmp_path, "test_frozen.py",
        "import os, subprocess, time\n\n"
        "def test_leaves_a_frozen_child():\n"
        f"    p = subprocess.Popen(['sleep', '300'], start_new_session=True, stdout={out}, stderr={out})\n"
        f"    open({os.path.join(freezer, 'tasks')!r}, 'w').write(str(p.pid))\n"
        f"    open({os.path.join(freezer, 'freezer.state')!r}, 'w').write('FROZEN')\n"
        f"    while open({os.path.join(freezer, 'freezer.state')!r}).read().strip() != 'FROZEN':\n"
        "        time.sleep(0.01)\n"
        f"    open({str(pidfile)!r}, 'w').write(f'{{p.pid}} {{os.getpid()}}')\n")


def test_an_orphan_that_cannot_die_yet_does_not_freeze_the_coprocess(peers, tmp_path, freezer):
    pidfile = tmp_path / "pids"
    proj = frozen_grandchild_project(tmp_path, freezer, pidfile, inherit_stdout=False)
    peer = peers(tmp_path)
    peer.request(1, "run", [{"cwd": str(proj), "python": PYTHON}])
    run_id = peer.response(1)[3]
    # pytest exits; the frozen `sleep` is reparented to the co-process (a subreaper), which
    # SIGKILLs it and must not wait for it.
    r = peer.event("finished", timeout=30)
    assert r["run_id"] == run_id and r["status"] == "passed"
    orphan = int(wait_for_file(pidfile).split()[0])
    assert psutil.Process(orphan).ppid() == peer.proc.pid
    deadline = time.monotonic() + 10
    while not sigkill_pending(orphan):
        assert time.monotonic() < deadline, "the orphan was never sent SIGKILL"
        time.sleep(0.05)  # polling /proc, within the deadline
    # Answers keep coming across several status ticks (250 ms), each of which retries it.
    until = time.monotonic() + 1.5
    msgid = 10
    while time.monotonic() < until:
        peer.ping(msgid, timeout=2)
        msgid += 1
    thaw(freezer)
    deadline = time.monotonic() + 10
    while psutil.pid_exists(orphan):  # reaped by a later tick, not left a zombie
        assert time.monotonic() < deadline, psutil.Process(orphan).status()
        time.sleep(0.05)  # polling the process table, within the deadline


def test_pytest_pid_reused_after_reaping_is_not_signalled(peers, tmp_path, freezer):
    try:
        with open("/proc/sys/kernel/ns_last_pid", "r+") as f:
            f.read()
    except OSError as e:
        pytest.skip(f"cannot steer pid allocation: {e}")
    pidfile = tmp_path / "pids"
    proj = frozen_grandchild_project(tmp_path, freezer, pidfile, inherit_stdout=True)
    peer = peers(tmp_path)
    # -s: the frozen `sleep` holds pytest's stdout pipe, so the run stays open after pytest
    # was reaped.
    peer.request(1, "run", [{"cwd": str(proj), "python": PYTHON, "args": ["-s"]}])
    peer.response(1)
    orphan, pytest_pid = map(int, wait_for_file(pidfile).split())
    assert not wait_gone([pytest_pid], 30)
    victim = None
    try:
        for _ in range(50):  # another process on the machine may take the pid first
            with open("/proc/sys/kernel/ns_last_pid", "w") as f:
                f.write(str(pytest_pid - 1))
            p = subprocess.Popen(["sleep", "300"], start_new_session=True)
            if p.pid == pytest_pid:
                victim = p
                break
            p.kill()
            p.wait()
        if victim is None:
            pytest.skip("could not get pytest's old pid for a new process")
        # Stopping ends every live run with SIGKILL; this one's pytest is long gone. The pong
        # comes from the loop iteration that saw the signal, or a later one.
        peer.proc.send_signal(signal.SIGTERM)
        peer.ping(2)
        thaw(freezer)
        assert peer.proc.wait(15) == 0
        assert victim.poll() is None, "a process that reused pytest's pid was killed"
    finally:
        if victim:
            victim.kill()
            victim.wait()


def test_runs_whose_pipes_a_frozen_process_holds_do_not_block_new_runs(peers, tmp_path, freezer):
    """Five cancelled runs each leave a process that holds their pipes and cannot die yet: their
    pytests were reaped, so they do not count against the closing runs a new run waits for."""
    marks = tmp_path / "marks"
    marks.mkdir()
    proj = make_project(
        tmp_path, "test_stuck.py",
        "import os, subprocess, time\n\n"
        "def test_stuck():\n"
        "    p = subprocess.Popen(['sleep', '300'], start_new_session=True)\n"
        f"    open({os.path.join(freezer, 'tasks')!r}, 'w').write(str(p.pid))\n"
        f"    open({os.path.join(freezer, 'freezer.state')!r}, 'w').write('FROZEN')\n"
        f"    open(os.path.join({str(marks)!r}, str(os.getpid())), 'w').write('x')\n"
        "    time.sleep(300)\n")
    peer = peers(tmp_path)
    for i in range(1, 6):  # each run cancels the one before
        peer.request(i, "run", [{"cwd": str(proj), "python": PYTHON, "args": ["-s"], "kill_grace_ms": 200}])
        peer.response(i)
        deadline = time.monotonic() + 30
        while len(os.listdir(marks)) < i:
            assert time.monotonic() < deadline, f"run {i} never froze its child"
            time.sleep(0.05)  # polling a directory the runs write to, within the deadline
    peer.request(6, "cancel", [])
    assert peer.response(6)[3] is True
    peer.request(7, "run", [{"cwd": os.path.join(FIXTURES_DIR, "proj_pass"), "python": PYTHON}])
    last = peer.response(7)[3]
    r = peer.next_message(30, lambda m: m[0] == 2 and m[2][1][0] == "finished" and m[2][1][1]["run_id"] == last)
    assert r[2][1][1]["status"] == "passed"
    thaw(freezer)
    results = {}
    while len(results) < 5:
        r = peer.event("finished", timeout=30)
        results[r["run_id"]] = r
    assert sorted(r["status"] for r in results.values()) == ["cancelled"] * 5
