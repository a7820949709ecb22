"""bench/hook_clock.py, the clock `make bench` puts inside pytest around our plugin's per-test
hooks, clocks the plugin itself: the clocked run writes the same report as an unclocked one
(every test, its outcome, its memory), and the clock counted every test. `make bench` is not
part of `make test`; this keeps its tool from drifting from the plugin it measures. Real pytest
($PYTESTMON_TEST_PYTHON) on a generated project."""
import json
import os
import re
import subprocess

from conftest import REPO_ROOT, TEST_PYTHON

TESTS = 30
FAILING = {7, 19}


def _project(tmp_path):
    tmp_path.mkdir()
    body = "".join("def test_%02d():\n    assert %d %s %d\n\n\n" % (i, i, "!=" if i in FAILING else "==", i)
                   for i in range(TESTS))
    (tmp_path / "test_many.py").write_text(body)
    (tmp_path / "pytest.ini").write_text("[pytest]\n")
    return tmp_path


def _run(proj, out, clocked):
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([os.path.join(REPO_ROOT, "python"),
                                                       os.path.join(REPO_ROOT, "bench")]),
               PYTESTMON_REPORT=str(out / "report.xml"), BENCH_HOOK_CLOCK=str(out / "clock.json"))
    argv = [TEST_PYTHON, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-p", "pytestmon_plugin"]
    if clocked:
        argv += ["-p", "hook_clock"]
    p = subprocess.run(argv, cwd=proj, env=env, capture_output=True, text=True, timeout=120)
    assert p.returncode == 1, p.stdout[-2000:] + p.stderr[-2000:]
    assert "pytestmon plugin" not in p.stderr, p.stderr  # it did not switch itself off
    report = (out / "report.xml").read_text()
    cases = re.findall(r'<testcase [^>]*nodeid="([^"]+)"[^>]*>(.*?)</testcase>', report, re.S)
    outcome = {nodeid: ("failed" if "<failure" in body else "passed", "pytestmon.rss" in body)
               for nodeid, body in cases}
    clock = json.loads((out / "clock.json").read_text()) if clocked else None
    return outcome, clock


def test_the_clocked_plugin_writes_the_same_report_and_counts_every_test(tmp_path):
    proj = _project(tmp_path / "proj")
    plain_out, clocked_out = tmp_path / "plain", tmp_path / "clocked"
    plain_out.mkdir()
    clocked_out.mkdir()
    plain, _ = _run(proj, plain_out, clocked=False)
    clocked, clock = _run(proj, clocked_out, clocked=True)

    assert len(plain) == TESTS
    assert clocked == plain
    assert sorted(n for n, (o, _) in clocked.items() if o == "failed") == [
        "test_many.py::test_%02d" % i for i in sorted(FAILING)]
    assert all(measured for _, measured in clocked.values())  # the meter ran under the clock
    assert clock["tests"] == TESTS
    assert clock["start"] > 0 and clock["results"] > 0
    assert 0 < clock["meter"] < clock["start"] + clock["results"]  # inside the hooks' time
    assert 0 < clock["gc"] < clock["meter"]  # the garbage collector's record, inside the meter's
    assert clock["gc_callbacks"] >= 0
