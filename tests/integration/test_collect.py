"""The test tree over real pipes: `collect` (pytest collects with our plugin: items, classes and
collection errors at their files and lines; same root, args and env as a run; debounced, a newer
request supersedes an older one) and `test_output` (one test's report from the run's report file).
Fixture: tests/fixtures/proj_tree (see tests/fixtures/README.md)."""
import os

import msgpack
import psutil
import pytest

from conftest import FIXTURES_DIR, TEST_PYTHON
from test_rpc_protocol import Peer

TREE = os.path.join(FIXTURES_DIR, "proj_tree")


@pytest.fixture
def peer():
    p = Peer()
    yield p
    p.close()


def collect(peer, msgid, **opts):
    opts.setdefault("python", TEST_PYTHON)
    peer.request(msgid, "collect", [opts])
    resp = peer.response(msgid)
    assert resp[2] is None, resp
    return resp[3]


def collection(peer, collect_id, timeout=60):
    """The `collection` event of collect_id; any other collection event before it is returned
    too (the test decides whether it may exist)."""
    others = []
    while True:
        ev = peer.event("collection", timeout=timeout)
        if ev["collect_id"] == collect_id:
            return ev, others
        others.append(ev)


def f(*parts):
    return os.path.join(TREE, *parts)


# Where pytest says each test and class is defined: (file, first line incl. decorators, last line).
ITEMS = {
    "test_plain.py::test_plain": (f("test_plain.py"), 4, 5),
    "test_plain.py::test_param[1]": (f("test_plain.py"), 8, 10),
    "test_plain.py::test_param[2]": (f("test_plain.py"), 8, 10),
    "test_plain.py::test_generated[one]": (f("test_plain.py"), 13, 14),
    "test_plain.py::test_generated[two]": (f("test_plain.py"), 13, 14),
    "test_plain.py::test_generated[three]": (f("test_plain.py"), 13, 14),
    "test_classes.py::TestOuter::test_method": (f("test_classes.py"), 2, 3),
    "test_classes.py::TestOuter::TestInner::test_nested": (f("test_classes.py"), 6, 8),
    "test_classes.py::TestOuter::TestInner::test_nested_ok": (f("test_classes.py"), 10, 11),
    # inherited: defined in the base class's file
    "test_inherit.py::TestChild::test_inherited": (f("base_checks.py"), 2, 4),
    "test_inherit.py::TestChild::test_own": (f("test_inherit.py"), 7, 8),
    # made by a conftest hook: the line its reportinfo() gives
    "data.check::line1": (f("data.check"), 1, 1),
    "data.check::line2": (f("data.check"), 2, 2),
    "sub/test_sub.py::test_in_sub": (f("sub", "test_sub.py"), 1, 4),
}
CLASSES = {
    "test_classes.py::TestOuter": (f("test_classes.py"), 1, 11),
    "test_classes.py::TestOuter::TestInner": (f("test_classes.py"), 5, 11),
    "test_inherit.py::TestChild": (f("test_inherit.py"), 4, 8),  # its own file, not its base's
}


def by_nodeid(nodes):
    return {n["nodeid"]: (n["file"], n["line"], n["end"]) for n in nodes}


def test_collect_reports_every_test_class_and_error_where_defined(peer):
    cid = collect(peer, 1, cwd=TREE)
    ev, others = collection(peer, cid)
    assert others == []
    assert "error" not in ev, ev.get("error")
    assert ev["root"] == TREE
    assert by_nodeid(ev["items"]) == ITEMS  # ignored/ is left out by addopts
    assert by_nodeid(ev["classes"]) == CLASSES
    [err] = ev["errors"]
    assert err["nodeid"] == "test_broken.py" and err["file"] == f("test_broken.py")
    assert "No module named 'no_such_module_pytestmon_tree'" in err["message"]
    assert isinstance(ev["ms"], int) and ev["ms"] > 0


def test_collect_from_a_subdirectory_uses_the_root_its_ini_args_and_env(peer):
    """As a run: the root is proj_tree (its pytest.ini and addopts apply), relative args are
    meant from the editor's cwd, the user's env reaches pytest."""
    cid = collect(peer, 1, cwd=f("sub"), env={"PROJ_TREE_EXTRA": "1"})
    ev, _ = collection(peer, cid)
    assert ev["root"] == TREE
    ids = {i["nodeid"] for i in ev["items"]}
    assert "test_plain.py::test_generated[four]" in ids and "sub/test_sub.py::test_in_sub" in ids
    assert not any(i.startswith("ignored/") for i in ids)
    cid = collect(peer, 2, cwd=f("sub"), args=["."])  # "." of the editor's cwd: sub/ of the root
    ev, _ = collection(peer, cid)
    assert [i["nodeid"] for i in ev["items"]] == ["sub/test_sub.py::test_in_sub"]
    assert ev["errors"] == []


def _pytest_children(pid):
    return [p for p in psutil.Process(pid).children(recursive=True)
            if "pytest" in " ".join(p.cmdline())]


def _wait(cond, timeout=30):
    import time

    deadline = time.monotonic() + timeout
    while not cond():
        assert time.monotonic() < deadline, "condition not met in time"
        time.sleep(0.02)


def test_a_newer_collect_supersedes_a_collecting_one_which_reports_nothing(peer):
    """The older request's pytest (still collecting: 60 s) is killed and it sends no event; a
    request waiting out its debounce delay is dropped the same way."""
    slow = collect(peer, 1, cwd=TREE, env={"PROJ_TREE_SLOW_COLLECT": "60"})
    _wait(lambda: _pytest_children(peer.proc.pid))
    waiting = collect(peer, 2, cwd=TREE, debounce_ms=60000)
    newest = collect(peer, 3, cwd=TREE, debounce_ms=50)
    assert slow < waiting < newest
    ev, others = collection(peer, newest)
    assert others == [], "a superseded collect reports nothing"
    assert len(ev["items"]) == len(ITEMS)
    _wait(lambda: not _pytest_children(peer.proc.pid))  # the slow pytest is gone
    peer.request(4, "ping", [])
    assert peer.response(4)[3] == "pong"
    assert not [m for m in peer.pending if m[0] == 2 and m[2][1][0] == "collection"]


def test_a_collection_while_a_run_ends_is_not_disturbed(peer):
    """A run that ends reaps the orphans among our children: a collection's pytest is not one."""
    cid = collect(peer, 1, cwd=TREE, env={"PROJ_TREE_SLOW_COLLECT": "1.5"})
    _wait(lambda: _pytest_children(peer.proc.pid))
    peer.request(2, "run", [{"cwd": os.path.join(FIXTURES_DIR, "proj_pass"), "python": TEST_PYTHON}])
    run_id = peer.response(2)[3]
    fin = peer.event("finished", timeout=60)
    assert fin["run_id"] == run_id and fin["status"] == "passed" and fin["counts"]["passed"] == 3
    ev, _ = collection(peer, cid)
    assert "error" not in ev, ev.get("error")
    assert by_nodeid(ev["items"]) == ITEMS


def test_collect_says_why_pytest_collected_nothing(peer):
    cid = collect(peer, 1, cwd=TREE, args=["--no-such-option-pytestmon"])
    ev, _ = collection(peer, cid)
    assert "items" not in ev
    assert "pytest collected nothing (exit status 4" in ev["error"]
    assert "unrecognized arguments: --no-such-option-pytestmon" in ev["error"]
    cid = collect(peer, 2, cwd=TREE, python="/nonexistent/python3")
    ev, _ = collection(peer, cid)
    assert "cannot run '/nonexistent/python3'" in ev["error"]
    peer.request(3, "collect", [{"cwd": TREE, "debounce_ms": -1}])
    assert "debounce_ms" in peer.response(3)[2]


def test_collect_in_a_full_tmpdir_says_so(small_tmpfs):
    full = small_tmpfs(0)
    p = Peer(env=dict(os.environ, TMPDIR=full))
    try:
        cid = collect(p, 1, cwd=TREE)
        ev, _ = collection(p, cid)
        assert ev.get("error") == "no space left in $TMPDIR (%s): pytest's collection could not be recorded" % full, ev
    finally:
        p.close()


def run_tree(peer, msgid, args=()):
    peer.request(msgid, "run", [{"cwd": TREE, "python": TEST_PYTHON,
                                 "args": ["--continue-on-collection-errors"] + list(args)}])
    run_id = peer.response(msgid)[3]
    fin = peer.event("finished", timeout=60)
    assert fin["run_id"] == run_id and fin["counts"]["failed"] == 4
    return run_id


def call(peer, req_id, method, params):
    """As the editor asks (pytest.client.async): the answer is a `reply` event."""
    peer.send(msgpack.packb([2, "call", [req_id, method, params]]))
    while True:
        ev = peer.event("reply")
        if ev["req_id"] == req_id:
            return ev


def test_test_output_is_the_tests_own_report(peer):
    peer.request(1, "test_output", [{"nodeid": "sub/test_sub.py::test_in_sub"}])
    assert peer.response(1)[2] == "no run has a report yet: run the tests first"
    run_id = run_tree(peer, 2)
    r = call(peer, 3, "test_output", [{"nodeid": "sub/test_sub.py::test_in_sub"}])["result"]
    assert r["run_id"] == run_id and r["nodeid"] == "sub/test_sub.py::test_in_sub"
    assert r["status"] == "failed" and r["message"] == "assert (1 + 1) == 3"
    assert "sub/test_sub.py:4: AssertionError" in r["text"]
    # The plugin writes the test's captured output (its <system-out>/<system-err>).
    assert r["stdout"] == "hello from sub\n" and r["stderr"] == "err from sub\n"
    r = call(peer, 4, "test_output", [{"nodeid": "test_inherit.py::TestChild::test_inherited", "run_id": run_id}])
    assert r["result"]["status"] == "passed" and "text" not in r["result"]
    r = call(peer, 5, "test_output", [{"nodeid": "test_plain.py::test_nope"}])
    assert r["error"] == "no test 'test_plain.py::test_nope' in the run's report"
    r = call(peer, 6, "test_output", [{"nodeid": "sub/test_sub.py::test_in_sub", "run_id": run_id + 5}])
    assert r["error"] == "the report of run %d is not kept (only the latest run's is: run %d)" % (run_id + 5, run_id)
    # The report outlives the run until a newer run finishes: its directory is still there.
    peer.request(7, "test_output", [{"nodeid": "test_plain.py::test_plain"}])
    assert peer.response(7)[3]["status"] == "passed"


def test_test_output_has_the_captured_output(peer, monkeypatch, tmp_path):
    """Captured stdout/stderr as the report carries them: here pytest's own junitxml (the plugin
    cannot be found) with junit_logging=all."""
    monkeypatch.setenv("PYTESTMON_PYDIR", str(tmp_path))  # no plugin there
    p = Peer()
    try:
        run_tree(p, 1, ["-o", "junit_logging=all"])
        r = call(p, 2, "test_output", [{"nodeid": "sub/test_sub.py::test_in_sub"}])["result"]
        assert r["status"] == "failed" and "assert (1 + 1) == 3" in r["message"]
        assert "hello from sub" in r["stdout"] and "err from sub" in r["stderr"]
        r = call(p, 3, "test_output", [{"nodeid": "test_classes.py::TestOuter::TestInner::test_nested"}])["result"]
        assert "captured from test_nested" in r["stdout"] and "hello from sub" not in r["stdout"]
    finally:
        p.close()


def test_a_large_collection_comes_in_parts(peer, tmp_path):
    """Over 2,000 items: parts of 2,000 (`more`), in order, then the rest with classes and errors;
    the editor (pytest.events) hands the tree the whole list."""
    (tmp_path / "pytest.ini").write_text("[pytest]\n")
    (tmp_path / "test_many.py").write_text(
        "import pytest\n\n@pytest.mark.parametrize('i', range(4500))\ndef test_i(i):\n    pass\n")
    cid = collect(peer, 1, cwd=str(tmp_path), debounce_ms=0)
    parts = []
    while True:
        ev, _ = collection(peer, cid)
        parts.append(ev)
        if not ev.get("more"):
            break
    assert [len(p["items"]) for p in parts] == [2000, 2000, 500]
    assert all(p["more"] is True and "classes" not in p for p in parts[:-1]) and "more" not in parts[-1]
    ids = [it["nodeid"] for p in parts for it in p["items"]]
    assert ids == ["test_many.py::test_i[%d]" % i for i in range(4500)]


ABORTING_CONFTEST = (
    "import os, sys\n"
    "# pytest dies of SIGABRT while it collects for us (as a C extension that segfaults on\n"
    "# import would); a plain run of the tests works.\n"
    "if '--collect-only' in sys.argv:\n"
    "    os.abort()\n")


def _aborting_project(tmp_path):
    proj = tmp_path / "aborts"
    proj.mkdir()
    (proj / "pytest.ini").write_text("[pytest]\n")
    (proj / "conftest.py").write_text(ABORTING_CONFTEST)
    (proj / "test_a.py").write_text("def test_one():\n    assert True\n\n\ndef test_two():\n    assert True\n")
    return proj


def _alive(peer, msgid):
    peer.request(msgid, "ping", [])
    assert peer.response(msgid)[3] == "pong"


def test_a_collection_killed_by_a_signal_is_said_and_the_co_process_goes_on(peer, tmp_path):
    """pytest killed by a signal while it collects: the collection was never read, so nothing of
    it may be freed (it was: uninitialised memory freed, the co-process died at the second
    collect). Collect (several times), Nearest's lookup and the debugger's all go on."""
    proj = _aborting_project(tmp_path)
    for i in range(3):
        cid = collect(peer, 10 + i, cwd=str(proj))
        ev, _ = collection(peer, cid)
        assert ev["error"].startswith("pytest was killed by signal 6 (SIGABRT) while collecting"), ev
        _alive(peer, 20 + i)
    test_file = str(proj / "test_a.py")
    peer.request(30, "run", [{"cwd": str(proj), "python": TEST_PYTHON, "file": test_file, "nearest_line": 5}])
    run_id = peer.response(30)[3]
    fin = peer.event("finished", timeout=120)
    assert fin["run_id"] == run_id
    # Nothing was found around the line, so the whole file ran (as when collection fails).
    assert fin["counts"]["passed"] == 2, fin
    _alive(peer, 31)
    peer.request(40, "debug_config", [{"cwd": str(proj), "python": TEST_PYTHON, "file": test_file,
                                       "nearest_line": 5}])
    debug_id = peer.response(40)[3]
    ev = peer.event("debug", timeout=120)
    assert ev["debug_id"] == debug_id and "config" in ev, ev
    assert ev["config"]["args"][-1] == test_file or ev["config"]["args"][-1].endswith("test_a.py"), ev
    _alive(peer, 41)
