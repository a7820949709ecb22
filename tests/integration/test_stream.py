"""The plugin's live stream (contract items 1 and 2 of the session brief): the co-process reads
the plugin's report while pytest runs and pushes `tests` events, feeds `progress` from it, leaves
pytest's terminal at the verbosity the user chose, and gives each test its exact memory growth.
Real co-process over real pipes (the Peer of test_rpc_protocol), real pytest on
tests/fixtures/proj_stream, with $PYTESTMON_TEST_PYTHON (pytest 7.2 or 8.3)."""
import json
import os
import subprocess

import pytest

from conftest import FIXTURES_DIR, TEST_PYTHON
from test_rpc_protocol import Peer

PROJ = os.path.join(FIXTURES_DIR, "proj_stream")
MB = 1024 * 1024


@pytest.fixture
def peer():
    p = Peer()
    yield p
    p.close()


def _has_xdist():
    import subprocess

    return subprocess.run([TEST_PYTHON, "-c", "import xdist"], capture_output=True).returncode == 0


needs_xdist = pytest.mark.skipif(not _has_xdist(), reason="pytest-xdist is not installed for this interpreter")


def start(peer, msgid, args, env=None, python=TEST_PYTHON):
    opts = {"cwd": PROJ, "python": python, "args": ["-p", "no:cacheprovider"] + list(args)}
    if env:
        opts["env"] = env
    peer.request(msgid, "run", [opts])
    return peer.response(msgid)[3]


def event(peer, timeout=60):
    """(name, payload) of the next event pushed."""
    m = peer.next_message(timeout, lambda m: m[0] == 2 and m[1] == "nvim_exec_lua")
    return m[2][1][0], m[2][1][1]


def until_finished(peer, run_id, seen=None):
    """Every event of the run up to its `finished`, in order: [(name, payload), ...]."""
    seen = [] if seen is None else seen
    while True:
        name, p = event(peer, timeout=120)
        if isinstance(p, dict) and p.get("run_id") not in (None, run_id):
            continue
        seen.append((name, p))
        if name == "finished":
            return seen


def latest_entries(events):
    """The latest entry of every test told in `tests` events."""
    out = {}
    for name, p in events:
        if name == "tests":
            for t in p["tests"]:
                out[t["nodeid"]] = t
    return out


@pytest.mark.parametrize("args", [[], ["-n", "2"]], ids=["serial", "xdist"])
def test_tests_events_arrive_while_pytest_runs(peer, tmp_path, args):
    """test_waits blocks until a file exists; we create it only once a `tests` event has said
    test_first passed, so that event came while pytest was running, before `finished`."""
    if args and not _has_xdist():
        pytest.skip("pytest-xdist is not installed for this interpreter")
    gate = tmp_path / "gate"
    run_id = start(peer, 1, ["test_gate.py"] + args, env={"PYTESTMON_GATE": str(gate)})
    seen = []
    while True:
        name, p = event(peer)
        assert name != "finished", f"finished before any tests event: {p.get('summary')}"
        seen.append((name, p))
        latest = latest_entries(seen)
        # Both told: test_first passed and test_waits running (it waits for the gate). Under
        # xdist test_waits may start in its worker only after test_first passed: a gate written
        # before that let it pass at once, its start and its end in one `tests` event.
        if name == "tests" and latest.get("test_gate.py::test_first", {}).get("status") == "passed" \
                and latest.get("test_gate.py::test_waits", {}).get("status") == "running":
            break
    gate.write_text("go")
    events = until_finished(peer, run_id, seen)
    final = latest_entries(events)
    assert {k: v["status"] for k, v in final.items()} == {
        "test_gate.py::test_first": "passed", "test_gate.py::test_waits": "passed"}
    assert all(isinstance(v["duration_s"], float) for v in final.values())
    assert final["test_gate.py::test_waits"]["duration_s"] > 0
    # test_waits was told running while it waited
    running = [t for n, p in events if n == "tests" for t in p["tests"] if t["status"] == "running"]
    assert "test_gate.py::test_waits" in [t["nodeid"] for t in running]
    assert events[-1][1]["status"] == "passed"


@pytest.mark.parametrize("args", [[], ["-q"], ["-p", "no:terminal"], ["-n", "2"]],
                         ids=["default", "quiet", "no-terminal", "xdist"])
def test_progress_shows_done_total_current_at_any_verbosity(peer, tmp_path, args):
    """While test_waits waits, a `progress` event says 1 of 2 done and test_waits running,
    whatever the terminal shows (nothing at all with -p no:terminal)."""
    if "-n" in args and not _has_xdist():
        pytest.skip("pytest-xdist is not installed for this interpreter")
    gate = tmp_path / "gate"
    run_id = start(peer, 1, ["test_gate.py"] + args, env={"PYTESTMON_GATE": str(gate)})
    while True:
        name, p = event(peer)
        assert name != "finished", f"finished while test_waits should still wait: {p.get('summary')}"
        if name == "progress" and p.get("current") == "test_gate.py::test_waits" and p["done"] == 1:
            break
    assert p["total"] == 2 and p["failed"] == 0 and p["percent"] == 50, p
    gate.write_text("go")
    fin = until_finished(peer, run_id)[-1][1]
    assert fin["status"] == "passed" and fin["counts"]["passed"] == 2, fin["summary"]


@pytest.mark.parametrize("args,verbose", [([], False), (["-q"], False), (["-v"], True)],
                         ids=["default", "quiet", "user-v"])
def test_output_is_as_verbose_as_the_user_asked(peer, tmp_path, args, verbose):
    """No per-test `PASSED` lines in the output or the run log unless the user passed -v; the
    results are complete anyway."""
    peer.request(900, "configure", [{"log_dir": str(tmp_path)}])
    assert peer.response(900)[3] is True
    run_id = start(peer, 1, ["test_mem.py"] + args)
    fin = until_finished(peer, run_id)[-1][1]
    assert fin["status"] == "passed" and fin["counts"]["passed"] == 3, fin["summary"]
    assert fin["summary"].startswith("3 passed"), fin["summary"]
    tail = fin["output_tail"]
    assert ("test_mem.py::test_small_before PASSED" in tail) == verbose, tail
    assert "3 passed" in tail  # pytest's closing line is there at every verbosity but -qq
    with open(fin["log_path"]) as f:
        assert ("PASSED" in f.read()) == verbose


@pytest.mark.parametrize("args", [[], ["-n", "2"]], ids=["serial", "xdist"])
def test_a_brief_200mb_test_gets_its_own_growth(peer, args):
    """test_big_brief touches 200 MB for 5 ms between two small tests: sampling every 100 ms
    cannot see it; the plugin's exact peak gives it to that test, not to its neighbours."""
    if args and not _has_xdist():
        pytest.skip("pytest-xdist is not installed for this interpreter")
    run_id = start(peer, 1, ["test_mem.py"] + args)
    events = until_finished(peer, run_id)
    final = latest_entries(events)
    big = final["test_mem.py::test_big_brief"]["rss_growth_bytes"]
    assert big >= 190 * MB, big
    for small in ("test_mem.py::test_small_before", "test_mem.py::test_small_after"):
        assert 0 <= final[small]["rss_growth_bytes"] < 20 * MB, (small, final[small])
    mem = events[-1][1]["memory"]
    assert mem["top_growth"][0]["nodeid"] == "test_mem.py::test_big_brief", mem["top_growth"]
    assert mem["top_growth"][0]["growth"] == big and mem["top_growth_source"] == "plugin"


def test_an_exited_threads_peak_is_not_given_to_later_tests(peer):
    """getrusage() keeps an exited thread's peak past the reset: the plugin must notice and
    measure the later tests from VmHWM, not give them the thread's 200 MB."""
    run_id = start(peer, 1, ["test_thread_mem.py"])
    final = latest_entries(until_finished(peer, run_id))
    assert final["test_thread_mem.py::test_thread_big"]["rss_growth_bytes"] >= 190 * MB, final
    for small in ("test_thread_mem.py::test_small_after_thread", "test_thread_mem.py::test_small_after_thread_2"):
        assert 0 <= final[small]["rss_growth_bytes"] < 20 * MB, (small, final[small])


def test_a_failure_is_told_failed_and_counted(peer):
    run_id = start(peer, 1, ["test_output.py"])
    events = until_finished(peer, run_id)
    final = latest_entries(events)
    assert final["test_output.py::test_prints"]["status"] == "failed"
    assert final["test_output.py::test_prints_a_lot"]["status"] == "passed"
    last_progress = [p for n, p in events if n == "progress"][-1]
    fin = events[-1][1]
    assert fin["counts"]["failed"] == 1 and fin["failures"][0]["nodeid"] == "test_output.py::test_prints"
    assert last_progress["failed"] in (0, 1)  # the last push may come before the failure is read


def test_interpreter_that_cannot_load_the_plugin_keeps_terminal_progress(peer, tmp_path):
    """python -E drops PYTHONPATH: no plugin, so no stream; progress comes from -v lines as
    before and the run's results from pytest's junitxml."""
    py = tmp_path / "python"
    py.write_text(f"#!/bin/sh\nexec {TEST_PYTHON} -E \"$@\"\n")
    py.chmod(0o755)
    gate = tmp_path / "gate"
    run_id = start(peer, 1, ["test_gate.py"], env={"PYTESTMON_GATE": str(gate)}, python=str(py))
    while True:
        name, p = event(peer)
        assert name not in ("finished", "tests"), (name, p)
        if name == "progress" and p.get("current") == "test_gate.py::test_waits":
            break
    assert p["done"] == 1 and p["total"] == 2, p
    gate.write_text("go")
    events = until_finished(peer, run_id)
    assert "tests" not in [n for n, _ in events]
    fin = events[-1][1]
    assert fin["status"] == "passed" and fin["source"] == "junit" and "-v" in fin["cmd"], fin["cmd"]
    assert "test_gate.py::test_first PASSED" in fin["output_tail"]


def test_nearest_run_streams_its_own_report(peer, tmp_path):
    """A run of the test at the cursor asks pytest what it collects first (that collection writes
    a report of its own): the stream follows the run's report, not the collection's."""
    gate = tmp_path / "gate"
    gate.write_text("open")
    src = os.path.join(PROJ, "test_gate.py")
    line = next(i for i, l in enumerate(open(src), 1) if "def test_waits" in l) + 2
    peer.request(1, "run", [{"cwd": PROJ, "python": TEST_PYTHON, "args": ["-p", "no:cacheprovider"],
                             "file": src, "nearest_line": line, "env": {"PYTESTMON_GATE": str(gate)}}])
    run_id = peer.response(1)[3]
    events = until_finished(peer, run_id)
    assert latest_entries(events) == {"test_gate.py::test_waits": latest_entries(events)["test_gate.py::test_waits"]}
    assert latest_entries(events)["test_gate.py::test_waits"]["status"] == "passed"
    assert events[-1][1]["counts"]["passed"] == 1


def test_the_editor_keeps_each_tests_latest_state(ed, tmp_path):
    """Through the real shim: while test_waits waits, the editor's state already has test_first
    passed and test_waits running; after the run both passed, with the big test's growth."""
    from conftest import wait_for, fired

    gate = tmp_path / "gate"
    ed.command("cd " + PROJ)
    ed.exec_lua("local py, gate = ... require('pytest').setup({ python = py, env = { PYTESTMON_GATE = gate } })",
                TEST_PYTHON, str(gate))
    before = fired(ed)
    ed.command("PytestRun -p no:cacheprovider test_gate.py test_mem.py")
    wait_for(ed, "(require('pytest.state').tests['test_gate.py::test_waits'] or {}).status == 'running'", timeout=60)
    state = ed.exec_lua("return require('pytest.state').tests")
    assert state["test_gate.py::test_first"]["status"] == "passed"
    assert ed.exec_lua("return require('pytest.state').running") is True
    gate.write_text("go")
    wait_for(ed, f"#_G.fired > {before}", timeout=60)
    state = ed.exec_lua("return require('pytest.state').tests")
    assert state["test_gate.py::test_waits"]["status"] == "passed"
    assert state["test_mem.py::test_big_brief"]["rss_growth_bytes"] >= 190 * MB


@pytest.mark.parametrize("args", [[], ["-n", "2"]], ids=["serial", "xdist"])
def test_failures_stream_with_the_tests_and_finished_can_leave_them_out(peer, args):
    """Each failure comes in a `tests` event as pytest reports it, with its place, in the order of
    the final list; `finished` then says how many (failures_streamed) and, for a client that
    asked (configure stream_failures=1, as the editor does), leaves the list out: the history
    keeps it. Without the option `finished` carries the list as before."""
    if args and not _has_xdist():
        pytest.skip("pytest-xdist is not installed for this interpreter")
    results = {}
    for msgid, stream in ((1, 0), (3, 1)):
        peer.request(msgid, "configure", [{"stream_failures": stream}])
        assert peer.response(msgid)[3] is True
        run_id = start(peer, msgid + 1, ["test_output.py", "test_gate.py::test_first", "--tb=line"] + args)
        events = until_finished(peer, run_id)
        streamed = [f for n, p in events if n == "tests" for f in p.get("failures", [])]
        results[stream] = (run_id, streamed, events[-1][1])
    run0, streamed0, fin0 = results[0]
    assert fin0["failures"] == streamed0 and fin0["failures_streamed"] == len(streamed0) == 1
    f = streamed0[0]
    assert f["nodeid"] == "test_output.py::test_prints" and f["file"] == os.path.join(PROJ, "test_output.py")
    assert isinstance(f["line"], int) and f["line"] > 0
    run1, streamed1, fin1 = results[1]
    assert "failures" not in fin1 and fin1["failures_streamed"] == 1 and streamed1 == streamed0
    assert fin1["counts"]["failed"] == 1
    peer.request(9, "history_get", [run1])
    kept = peer.response(9)[3]
    assert kept["failures"] == streamed1, kept


def test_the_first_failure_is_measured_without_what_the_plugin_loads(peer, tmp_path):
    """#28: the plugin loaded sysconfig's data (the standard library's paths, to leave its frames
    out) at the run's first failure, inside that test's measured window: +2.7 MB on Python 3.14,
    +0.1 to 0.4 MB on 3.11, charged to a test that allocates nothing. What the plugin's failure
    path needs is loaded before the first test: the modules loaded while the first failing test
    is measured are those pytest itself loads there (a run without the plugin: the reference),
    and the test's growth stays small."""
    proj = os.path.join(FIXTURES_DIR, "proj_firstfail")
    bare, ours = tmp_path / "bare.json", tmp_path / "ours.json"
    env = {k: v for k, v in os.environ.items() if not k.startswith("PYTESTMON_")}
    subprocess.run([TEST_PYTHON, "-m", "pytest", "-p", "no:cacheprovider", "-q"], cwd=proj,
                   env=dict(env, FIRSTFAIL_MODULES=str(bare)), capture_output=True, timeout=120)
    peer.request(1, "run", [{"cwd": proj, "python": TEST_PYTHON, "args": ["-p", "no:cacheprovider"],
                             "env": {"FIRSTFAIL_MODULES": str(ours)}}])
    final = latest_entries(until_finished(peer, peer.response(1)[3]))
    first = "test_first.py::test_fails_first"
    assert final[first]["status"] == "failed", final
    with open(bare) as f:
        pytest_loads = set(json.load(f)[first])
    with open(ours) as f:
        loaded = set(json.load(f)[first])
    assert loaded <= pytest_loads, sorted(loaded - pytest_loads)
    assert 0 <= final[first]["rss_growth_bytes"] < 0.2 * MB, final[first]


SUBTESTS_PROJ = os.path.join(FIXTURES_DIR, "proj_subtests")
# The failing subtests of proj_subtests: (node id, description, message, the line of the failing
# assertion inside the subtest's block).
FAILED_SUBTESTS = [
    ("test_fixture.py::test_odd", "[odd] (i=1)", "assert (1 % 2) == 0", 8),
    ("test_fixture.py::test_words", "[second]", "AssertionError: assert 'z' in 'abc'", 15),
    ("test_unit.py::Numbers::test_even", "(i=1)", "AssertionError: 1 != 0", 9),
]


def _closing_line(tail):
    """pytest's closing line ("3 failed, 5 passed, 3 subtests passed in 0.04s")."""
    lines = [l.strip("= ") for l in tail.splitlines() if l.startswith("=") and " in " in l]
    return lines[-1]


@pytest.mark.parametrize("args", [[], ["-n", "2"]], ids=["serial", "xdist"])
def test_each_failed_subtest_is_a_failure_of_its_own(peer, request, args):
    """#28: pytest 9's subtests (pytest-subtests on 7/8) are reports of their own for the same
    node id; the plugin kept the test's last one, so a failing unittest subTest was lost under
    the test's passing report (no failure, the test passed, while pytest said "3 failed"), and
    a `subtests` fixture's failure became "contains 1 failed subtest". Each failed subtest is a
    failure (streamed and in `finished`) at its own line with its own message and its
    description, a `tests` entry of its own (its test's stays the test's), and the counts and the
    summary are pytest's own closing line."""
    from conftest import require_subtests

    support = require_subtests(request.node.nodeid)
    if args and not _has_xdist():
        pytest.skip("pytest-xdist is not installed for this interpreter")
    peer.request(1, "configure", [{"stream_failures": 1}])
    peer.response(1)
    peer.request(2, "run", [{"cwd": SUBTESTS_PROJ, "python": TEST_PYTHON, "args": ["-p", "no:cacheprovider"] + args}])
    events = until_finished(peer, peer.response(2)[3])
    fin = events[-1][1]
    failures = [f for n, p in events if n == "tests" for f in p.get("failures", [])]
    assert fin["failures_streamed"] == len(failures)
    # pytest 9 under xdist describes a parameter by the repr of its repr: (i='1')
    subs = [(f["nodeid"], f["subtest"].replace("'", ""), f["message"], f["file"], f["line"])
            for f in failures if "subtest" in f]
    want = [(n, d, m, os.path.join(SUBTESTS_PROJ, n.split("::")[0]), line) for n, d, m, line in FAILED_SUBTESTS]
    assert (sorted(subs) if args else subs) == want, subs  # xdist: in the order the workers end them
    own = {f["nodeid"]: f["message"] for f in failures if "subtest" not in f}
    # The tests keep pytest's verdict: pytest 9 fails a test whose subtests failed (not unittest's).
    if support == "pytest 9":
        assert own == {"test_fixture.py::test_odd": "contains 1 failed subtest",
                       "test_fixture.py::test_words": "contains 1 failed subtest"}, own
    else:
        assert own == {}, own
    entries = {}
    for n, p in events:
        if n == "tests":
            for t in p["tests"]:
                entries[(t["nodeid"], t.get("subtest", "").replace("'", ""))] = t["status"]
    assert {k: v for k, v in entries.items() if k[1]} == {(n, d): "failed" for n, d, _, _ in FAILED_SUBTESTS}
    assert entries[("test_unit.py::Numbers::test_even", "")] == "passed"  # as pytest says
    assert entries[("test_fixture.py::test_plain", "")] == "passed"
    # The counts and the summary are pytest's own closing line's.
    closing = _closing_line(fin["output_tail"])
    assert fin["summary"] == closing, (fin["summary"], closing)
    failed = int(closing.split(" failed")[0])
    assert fin["counts"]["failed"] == failed == len(failures)
    # Progress counts failures the way the result does, as they come: never more than pytest's,
    # never fewer than before (the last push may come before the last failure).
    pushed = [p["failed"] for n, p in events if n == "progress"]
    assert pushed == sorted(pushed) and pushed[-1] <= failed, pushed
