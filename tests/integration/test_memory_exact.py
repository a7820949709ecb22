"""Issue #27: what the user sees of memory is measured, not sampled, in every process of a run.

`pytestmon run --json` (the real co-process, the real pytest of $PYTESTMON_TEST_PYTHON: 7.2 or
8.3, serially and under xdist's -n 2) on tests/fixtures/proj_mem."""
import json
import os
import re
import subprocess
import tempfile

import pytest

from conftest import BIN, FIXTURES_DIR, TEST_PYTHON

PROJ = os.path.join(FIXTURES_DIR, "proj_mem")
MB = 1024 * 1024
MODES = pytest.mark.parametrize("mode", [[], ["-n", "2"]], ids=["serial", "xdist"])


def _has_xdist():
    return subprocess.run([TEST_PYTHON, "-c", "import xdist"], capture_output=True).returncode == 0


def _limited_python(limit):
    """An interpreter that runs TEST_PYTHON under `prlimit <limit>` (e.g. --as=1500000000): the
    limit is pytest's and its workers' (rlimits are inherited), not the co-process's, which an
    instrumented build (ASan reserves terabytes of shadow memory) could not start under."""
    d = tempfile.mkdtemp(prefix="limited-")
    path = os.path.join(d, "python")
    with open(path, "w") as f:
        f.write('#!/bin/sh\nexec prlimit %s -- %s "$@"\n' % (limit, TEST_PYTHON))
    os.chmod(path, 0o700)
    return path


def run(*args, env=None, limit=None, timeout=180):
    """The result of `pytestmon run --json` in proj_mem (pytest's args after the options);
    `limit`: a prlimit option for pytest's processes."""
    if "-n" in args and not _has_xdist():
        pytest.skip("pytest-xdist is not installed for this interpreter")
    e = dict(os.environ)
    e.update(env or {})
    python = _limited_python(limit) if limit else TEST_PYTHON
    p = subprocess.run([BIN, "run", "--json", "--python", python, "--cwd", PROJ,
                        "-p", "no:cacheprovider", *args], env=e, capture_output=True, text=True,
                       timeout=timeout)
    assert p.stdout, p.stderr
    return json.loads(p.stdout)


# ---- item 1: the run's peak -------------------------------------------------------------------

@MODES
def test_a_300mb_spike_is_the_run_s_peak_in_three_of_three_runs(mode):
    """test_spike holds 300 MB for 5 ms. Sampled, identical runs said 215, 248 and 293 MB; the
    run's peak is now the exact peak of the process that ran it, whatever the samples caught:
    three runs agree within 3 %. Under xdist the samples' sum over the tree (which may catch the
    spike beside the other workers) is tree_peak_rss, not the peak."""
    peaks = []
    for _ in range(3):
        r = run("test_spike.py", *mode)
        assert r["status"] == "passed", r["summary"]
        mem = r["memory"]
        assert mem["peak_source"] == "plugin", mem
        assert mem["peak_test"] == "test_spike.py::test_spike" and mem["peak_when"] == "test", mem
        assert mem["peak_rss"] >= 300 * MB, mem["peak_rss"]
        assert mem["tree_peak_rss"] >= max(p["rss"] for p in mem["timeline"])
        peaks.append(mem["peak_rss"])
    assert max(peaks) <= min(peaks) * 1.03, [p / MB for p in peaks]


@MODES
def test_the_collection_phase_s_peak_is_in_the_run_s_peak(mode):
    """test_collect_peak.py touches 250 MB while it is imported: before any test, in pytest's
    process (serial) or in each worker's (xdist, which collect themselves). The plugin reads that
    process's peak before its first test's reset, and it is the run's peak."""
    r = run("test_collect_peak.py", *mode)
    assert r["status"] == "passed", r["summary"]
    mem = r["memory"]
    assert mem["peak_rss"] >= 250 * MB, mem
    assert mem["peak_when"] == "before" and mem["peak_test"] == "test_collect_peak.py::test_after_a_heavy_collection", mem
    # the test itself grew by nothing like it
    assert mem["top_growth"][0]["growth"] < 50 * MB, mem["top_growth"]


# ---- item 2: the limit that refused an allocation, at the failing test ------------------------

def _failures(r):
    return {f["nodeid"].split("::")[-1]: f for f in r["failures"]}


@MODES
def test_rlimit_as_is_named_at_the_failing_test(mode):
    """The seed's case: under `prlimit --as=1500000000` a test allocating 2 GB failed with
    `MemoryError` and nothing else. The plugin reads the facts in the test's own process (an
    xdist worker's too) at the failure; the message names the limit and the numbers."""
    r = run("test_enomem.py", "-k", "over_the_limit", *mode, env={"PROJ_MEM_LIMIT": "1"},
            limit="--as=1500000000")
    assert r["status"] == "failed", r["summary"]
    fs = _failures(r)
    assert set(fs) == {"test_bytearray_over_the_limit", "test_mmap_over_the_limit"}, fs
    big, mapped = fs["test_bytearray_over_the_limit"], fs["test_mmap_over_the_limit"]
    assert big["message"].startswith("MemoryError: address-space limit (RLIMIT_AS 1.4 GB) reached: VmSize "), big
    assert ", RSS " in big["message"] and big["memory_limit"]["cause"] == "RLIMIT_AS"
    assert mapped["message"].startswith("OSError: [Errno 12] Cannot allocate memory: address-space limit "
                                        "(RLIMIT_AS 1.4 GB) reached: VmSize "), mapped
    assert mapped["memory_limit"]["cause"] == "RLIMIT_AS"


@MODES
def test_rlimit_data_is_named_at_the_failing_test(mode):
    r = run("test_enomem.py", "-k", "bytearray_over_the_limit", *mode, env={"PROJ_MEM_LIMIT": "1"},
            limit="--data=1500000000")
    f = _failures(r)["test_bytearray_over_the_limit"]
    assert f["message"].startswith("MemoryError: data-segment limit (RLIMIT_DATA 1.4 GB) reached: VmData "), f
    assert f["memory_limit"]["cause"] == "RLIMIT_DATA"


def test_no_limit_says_the_allocation_itself_is_too_large():
    r = run("test_enomem.py", "-k", "far_more", env={"PROJ_MEM_LIMIT": "1"})
    f = _failures(r)["test_far_more_than_the_machine"]
    assert f["message"].startswith("MemoryError: none: the allocation itself is larger than available (RAM "), f
    assert f["memory_limit"]["cause"] == "none"


def fake_root(tmp_path, scenario):
    """A private copy of a fake /proc + /sys tree (tests/fixtures/proc) as the plugin reads it:
    its process's files as /proc/self (this machine cannot make a cgroup with a limit)."""
    import shutil

    root = tmp_path / scenario
    shutil.copytree(os.path.join(FIXTURES_DIR, "proc", scenario), root)
    for name in ("cgroup", "status", "maps"):
        shutil.copy(root / "proc" / "4242" / name, root / "proc" / "self" / name)
    return root


@pytest.mark.parametrize("scenario,limit", [("v2-oomkill", "memory.max 512 MB, cgroup v2 /system.slice/ci-runner.service"),
                                            ("v1-oomkill", "memory.limit_in_bytes 256 MB, cgroup v1 /ci/job-77")])
def test_a_cgroup_at_its_limit_is_named_at_the_failing_test(tmp_path, scenario, limit):
    root = fake_root(tmp_path, scenario)
    r = run("test_enomem.py", "-k", "far_more", env={"PROJ_MEM_LIMIT": "1", "PYTESTMON_PROC_ROOT": str(root)})
    f = _failures(r)["test_far_more_than_the_machine"]
    assert f["message"].startswith(f"MemoryError: cgroup memory limit ({limit}) reached: usage "), f
    assert f["memory_limit"]["cause"] == "cgroup"


def test_a_worker_killed_by_the_oom_killer_is_named_at_its_test(tmp_path):
    """-n 2: the worker running the test dies of SIGKILL after its cgroup's oom_kill count rose
    (the fake tree's memory.events, bumped as the kernel would): xdist's controller reads the
    count at the start and at the crash, and the crash's failure says the OOM killer did it."""
    root = fake_root(tmp_path, "v2-oomkill")
    events = root / "sys/fs/cgroup/system.slice/ci-runner.service/memory.events"
    r = run("test_enomem.py", "-k", "killed", "-n", "2",
            env={"PROJ_MEM_LIMIT": "1", "PYTESTMON_PROC_ROOT": str(root), "PROJ_MEM_OOM_EVENTS": str(events)})
    f = _failures(r)["test_killed_like_the_oom_killer_would"]
    assert "crashed while running" in f["message"], f
    assert f["message"].endswith(": killed by the OOM killer: cgroup memory limit (memory.max 512 MB, cgroup v2 "
                                 "/system.slice/ci-runner.service) reached: usage 512 MB, oom_kill 3 -> 4"), f
    assert f["memory_limit"]["cause"] == "cgroup_oom_kill"


def test_a_worker_that_dies_without_an_oom_kill_is_not_blamed_on_memory():
    r = run("test_enomem.py", "-k", "killed", "-n", "2", env={"PROJ_MEM_LIMIT": "1"})
    f = _failures(r)["test_killed_like_the_oom_killer_would"]
    assert "crashed while running" in f["message"] and "memory_limit" not in f, f


def test_the_editor_names_the_limit_at_the_failing_test(nvim, tmp_path):
    """Where the user looks: the quickfix text, the diagnostic, :PytestOutput of the test and the
    tree all say which limit refused the allocation (here a fake cgroup at its limit)."""
    import shutil

    from conftest import run_and_wait, setup_editor, wait_for

    proj = tmp_path / "proj_mem"
    shutil.copytree(PROJ, proj, ignore=shutil.ignore_patterns("__pycache__"))
    root = fake_root(tmp_path, "v2-oomkill")
    ed = setup_editor(nvim)
    ed.exec_lua("local py, root = ... require('pytest').setup({ python = py, env = { PROJ_MEM_LIMIT = '1', "
                "PYTESTMON_PROC_ROOT = root } })", TEST_PYTHON, str(root))
    ed.command("cd " + str(proj))
    ed.command("edit test_enomem.py")
    r = run_and_wait(ed, "PytestRun test_enomem.py -k far_more")
    assert r["status"] == "failed", r["summary"]
    want = "MemoryError: cgroup memory limit (memory.max 512 MB, cgroup v2 /system.slice/ci-runner.service) reached: usage 512 MB"
    qf = ed.exec_lua("return vim.tbl_map(function(i) return i.text end, vim.fn.getqflist())")
    assert any(t.startswith("test_far_more_than_the_machine: " + want) for t in qf), qf
    diags = ed.exec_lua("return vim.tbl_map(function(d) return d.message end, "
                        "vim.diagnostic.get(0, { namespace = require('pytest.results').ns }))")
    assert any(want in d for d in diags), diags
    tests = {t["id"]: t for t in ed.exec_lua("return require('pytest').tree().tests")}
    assert tests["test_enomem.py::test_far_more_than_the_machine"]["memory_limit"] == "cgroup", tests
    ed.exec_lua("require('pytest.tree').collect()")  # :PytestOutput finds the test under the cursor in it
    wait_for(ed, "require('pytest').tree().collected and not require('pytest').tree().collecting", timeout=60)
    line = ed.exec_lua("return vim.fn.search('def test_far_more_than_the_machine', 'n')")
    ed.exec_lua("vim.api.nvim_win_set_cursor(0, { ..., 4 })", line + 2)
    ed.command("PytestOutput")
    wait_for(ed, "vim.fn.bufnr('pytest://test-output') ~= -1", timeout=30)
    text = ed.exec_lua("return vim.api.nvim_buf_get_lines(vim.fn.bufnr('pytest://test-output'), 0, -1, false)")
    i = text.index("== memory limit ==")
    assert text[i + 1].startswith("cgroup memory limit (memory.max 512 MB") and text[i + 1].endswith("(cause: cgroup)"), text


# ---- item 3: budgets -------------------------------------------------------------------------

@MODES
def test_limit_memory_fails_only_the_tests_over_their_limit(mode):
    """pytest-memray's marker without pytest-memray: registered (--strict-markers accepts it) and
    checked with the exact peak growth of setup and call (the call fails, as pytest-memray's
    would) or of setup, call and teardown (the teardown fails)."""
    r = run("test_limit.py", "--strict-markers", *mode)
    fs = _failures(r)
    assert set(fs) == {"test_over_its_limit", "test_over_its_limit_in_teardown", "test_bad_limit",
                       "test_inherits_the_limit"}, fs
    assert r["counts"]["passed"] == 3, r["counts"]  # within its limit, unlimited, the teardown test's call
    over = fs["test_over_its_limit"]
    assert over["kind"] == "failed" and over["when"] == "call", over
    assert re.fullmatch(r"Test was limited to 100\.0MiB but allocated (29\d|30\d)\.\dMiB "
                        r"\(pytestmon: exact peak RSS growth over setup and call\)", over["message"]), over
    td = fs["test_over_its_limit_in_teardown"]
    assert td["kind"] == "error" and td["when"] == "teardown", td
    assert td["message"].endswith("(pytestmon: exact peak RSS growth over setup, call and teardown)"), td
    assert fs["test_bad_limit"]["message"] == "limit_memory: invalid memory size 'a lot' (e.g. \"100 MB\")"
    assert fs["test_inherits_the_limit"]["message"].startswith("Test was limited to 100.0MiB")


def test_limit_memory_is_left_to_pytest_memray_when_it_is_active():
    r = run("test_limit.py", "-p", "memray_stub", "--memray", "-k", "over_its_limit and not teardown")
    assert r["status"] == "passed", r["failures"]
    # without --memray the stub is only installed: ours to check
    r = run("test_limit.py", "-p", "memray_stub", "-k", "over_its_limit and not teardown")
    assert r["status"] == "failed" and _failures(r)["test_over_its_limit"]["message"].startswith("Test was limited")


def test_the_memory_budget_warns_where_the_user_looks(nvim, tmp_path):
    """memory_budget = 100 (MiB): the tests that grew by more are warnings, not failures: an
    entry of type W in the quickfix list at their definitions, a mark, the tree; the run passes."""
    import shutil

    from conftest import run_and_wait, setup_editor, wait_for

    proj = tmp_path / "proj_mem"
    shutil.copytree(PROJ, proj, ignore=shutil.ignore_patterns("__pycache__"))
    ed = setup_editor(nvim)
    ed.exec_lua("require('pytest').setup({ python = ..., memory_budget = 100 })", TEST_PYTHON)
    ed.command("cd " + str(proj))
    ed.command("edit test_spike.py")
    r = run_and_wait(ed, "PytestRun test_spike.py")
    assert r["status"] == "passed", r["summary"]
    mem = r["memory"]
    assert mem["budget"] == 100 * MB and [o["nodeid"] for o in mem["over_budget"]] == ["test_spike.py::test_spike"]
    qf = ed.exec_lua("return vim.tbl_map(function(i) return { i.type, i.lnum, i.text, vim.api.nvim_buf_get_name(i.bufnr) } end, "
                     "vim.fn.getqflist())")
    assert len(qf) == 1, qf
    typ, lnum, text, name = qf[0]
    assert typ == "W" and name == str(proj / "test_spike.py") and lnum == 10, qf
    assert text.startswith("test_spike: peak RSS grew 3") and text.endswith("over the 100M memory budget"), qf
    tests = {t["id"]: t for t in ed.exec_lua("return require('pytest').tree().tests")}
    assert tests["test_spike.py::test_spike"]["over_budget"] is True, tests
    assert not tests["test_spike.py::test_small_before"].get("over_budget"), tests
    ed.exec_lua("require('pytest.tree').collect()")  # marks are placed at the collected definitions
    wait_for(ed, "require('pytest').tree().collected and not require('pytest').tree().collecting", timeout=60)
    wait_for(ed, "(function() for _, m in ipairs(require('pytest.marks').get(0)) do "
                 "if m.line == 10 and m.text:find('over memory budget', 1, true) then return true end end end)()",
             timeout=10)


# ---- item 4: the garbage collector per test ----------------------------------------------------

def _run_over_rpc(args, req_id=1):
    """A run through the co-process's RPC (as the editor asks): the latest `tests` entry of each
    test, the `finished` payload and the peer (to ask more of; the caller closes it)."""
    from test_rpc_protocol import Peer
    from test_stream import latest_entries, until_finished

    if "-n" in args and not _has_xdist():
        pytest.skip("pytest-xdist is not installed for this interpreter")
    peer = Peer()
    peer.request(req_id, "run", [{"cwd": PROJ, "python": TEST_PYTHON, "args": ["-p", "no:cacheprovider"] + args}])
    run_id = peer.response(req_id)[3]
    events = until_finished(peer, run_id)
    return latest_entries(events), events[-1][1], peer


@MODES
def test_a_test_making_20000_cycles_shows_them_collected_in_its_record(mode):
    """Each test's record of the collector, from gc.callbacks in the process that ran it (an xdist
    worker's too): collections per generation, objects collected, uncollectable, time, and the
    growth of gc.garbage (flagged). A test during which the collector did not run has none."""
    from test_collect import call

    tests, fin, peer = _run_over_rpc(["test_gc.py"] + mode)
    try:
        assert fin["status"] == "passed", fin["summary"]
        gc = tests["test_gc.py::test_makes_cycles"]["gc"]
        gen0, gen1, gen2, collected, uncollectable, ns, garbage = gc
        assert gen0 > 0 and collected >= 40000 - 2000, gc  # 20,000 cycles of two dicts
        assert uncollectable == 0 and garbage == 0 and ns > 0, gc
        saved = tests["test_gc.py::test_saves_garbage"]["gc"]
        assert saved[2] >= 1 and saved[6] >= 100, saved  # gc.collect() kept them in gc.garbage
        assert "gc" not in tests["test_gc.py::test_plain"], tests["test_gc.py::test_plain"]
        r = call(peer, 9, "test_output", [{"nodeid": "test_gc.py::test_makes_cycles"}])["result"]
        assert r["memory"]["gc"] == gc and r["memory"]["rss_peak"] >= r["memory"]["rss_start"] > 0, r
    finally:
        peer.close()


def test_the_editor_shows_the_gc_record_and_flags_garbage(nvim, tmp_path):
    """:PytestOutput of a test shows its memory and its collector's record; the tree has the
    record, and flags (detail and mark) a test that grew gc.garbage."""
    import shutil

    from conftest import run_and_wait, setup_editor, wait_for

    proj = tmp_path / "proj_mem"
    shutil.copytree(PROJ, proj, ignore=shutil.ignore_patterns("__pycache__"))
    ed = setup_editor(nvim)
    ed.command("cd " + str(proj))
    ed.command("edit test_gc.py")
    r = run_and_wait(ed, "PytestRun test_gc.py")
    assert r["status"] == "passed", r["summary"]
    tests = {t["id"]: t for t in ed.exec_lua("return require('pytest').tree().tests")}
    cycles = tests["test_gc.py::test_makes_cycles"]["gc"]
    assert cycles["collected"] >= 38000 and not cycles["flagged"], cycles
    saved = tests["test_gc.py::test_saves_garbage"]["gc"]
    assert saved["flagged"] and saved["garbage"] >= 100, saved
    ed.exec_lua("require('pytest.tree').collect()")
    wait_for(ed, "require('pytest').tree().collected and not require('pytest').tree().collecting", timeout=60)
    line = ed.exec_lua("return vim.fn.search('def test_saves_garbage', 'n')")
    wait_for(ed, "(function() for _, m in ipairs(require('pytest.marks').get(0)) do "
                 f"if m.line == {line} and m.text:find('gc.garbage +', 1, true) then return true end end end)()",
             timeout=10)
    ed.exec_lua("vim.api.nvim_win_set_cursor(0, { vim.fn.search('def test_makes_cycles', 'n') + 1, 4 })")
    ed.command("PytestOutput")
    wait_for(ed, "vim.fn.bufnr('pytest://test-output') ~= -1", timeout=30)
    text = ed.exec_lua("return vim.api.nvim_buf_get_lines(vim.fn.bufnr('pytest://test-output'), 0, -1, false)")
    i = text.index("== memory ==")
    assert text[i + 1].startswith("peak RSS ") and "(exact: setup, call and teardown)" in text[i + 1], text
    assert re.match(r"garbage collector: \d+ collections \(gen0 \d+, gen1 \d+, gen2 \d+\), \d{5,} objects collected, "
                    r"0 uncollectable, [\d.]+ ms; gc.garbage \+0$", text[i + 2]), text


# ---- item 5: per test, in :PytestMemory and the tree --------------------------------------------

def test_the_run_s_tops_by_peak_growth_and_gc_time():
    r = run("test_spike.py", "test_gc.py")
    mem = r["memory"]
    assert mem["top_peak"][0]["nodeid"] == "test_spike.py::test_spike", mem["top_peak"]
    assert mem["top_growth"][0]["nodeid"] == "test_spike.py::test_spike", mem["top_growth"]
    spike = mem["top_peak"][0]
    assert spike["peak"] >= 300 * MB and spike["growth"] >= 290 * MB and spike["status"] == "passed", spike
    gc_ids = [t["nodeid"] for t in mem["top_gc"]]
    assert {"test_gc.py::test_makes_cycles", "test_gc.py::test_saves_garbage"} <= set(gc_ids), mem["top_gc"]
    ns = [t["gc"][5] for t in mem["top_gc"]]
    assert ns == sorted(ns, reverse=True) and len(mem["top_gc"]) <= 10


def test_pytest_memory_lists_the_tops_and_the_tree_sorts_by_them(nvim, tmp_path):
    """:PytestMemory lists the tests with the highest exact peak, growth and GC time, with what
    marks them; the summary's `s` sorts the tree by the same numbers."""
    import shutil

    from conftest import run_and_wait, setup_editor, wait_for

    proj = tmp_path / "proj_mem"
    shutil.copytree(PROJ, proj, ignore=shutil.ignore_patterns("__pycache__"))
    ed = setup_editor(nvim)
    ed.exec_lua("require('pytest').setup({ python = ..., memory_budget = 100 })", TEST_PYTHON)
    ed.command("cd " + str(proj))
    r = run_and_wait(ed, "PytestRun test_gc.py test_spike.py")
    assert r["status"] == "passed", r["summary"]
    ed.command("PytestMemory")
    wait_for(ed, "require('pytest.client').pending() == 0")
    lines = ed.current.buffer[:]
    i = lines.index("  Tests by peak RSS (exact, top 6):")
    assert lines[i + 1].split() == ["peak", "growth", "gc"], lines[i:i + 3]
    first = lines[i + 2]
    assert re.match(r"    +3\d\dM +\+3\d\dM +(-|[\d.]+ms)  ✓ test_spike.py::test_spike  \[over memory budget\]$", first), first
    j = lines.index("  Tests by time in the garbage collector (exact, top 3):") if \
        "  Tests by time in the garbage collector (exact, top 3):" in lines else \
        next(k for k, l in enumerate(lines) if l.startswith("  Tests by time in the garbage collector"))
    gc_rows = lines[j + 2:j + 5]
    assert any("test_gc.py::test_saves_garbage  [gc.garbage +" in l for l in gc_rows), gc_rows
    assert any(l.rstrip().endswith("✓ test_gc.py::test_makes_cycles") for l in gc_rows), gc_rows
    assert "  Tests by RSS growth (exact, top 6):" in lines
    # The tree, sorted by exact peak: test_spike.py (its spike) comes before test_gc.py, and in it
    # test_spike first.
    ed.command("PytestSummary")
    wait_for(ed, "require('pytest').tree().collected and not require('pytest').tree().collecting", timeout=60)
    assert ed.exec_lua("return require('pytest.summary').cycle_sort()") == "peak"
    ed.exec_lua("vim.fn.win_gotoid(vim.fn.bufwinid(vim.fn.bufnr('pytest://summary')))")
    assert ed.exec_lua("return require('pytest.summary').find('test_spike.py', true)")
    ed.exec_lua("vim.api.nvim_feedkeys(vim.api.nvim_replace_termcodes('<Tab>', true, false, true), 'x', false)")

    def names():
        return [l.strip() for l in ed.exec_lua("return require('pytest.summary').lines()")]
    shown = names()
    assert "[by peak RSS]" in shown[0], shown
    assert shown.index(next(l for l in shown if "test_spike.py" in l and "::" not in l)) < \
        shown.index(next(l for l in shown if "test_gc.py" in l and "::" not in l)), shown
    spike_rows = [l for l in shown if "test_spike " in l or "test_small_" in l]
    assert spike_rows and "test_spike " in spike_rows[0], shown
    assert ed.exec_lua("return require('pytest.summary').cycle_sort()") == "growth"
    assert ed.exec_lua("return require('pytest.summary').cycle_sort()") == "gc"
    assert "[by GC time]" in names()[0]
    assert ed.exec_lua("return require('pytest.summary').cycle_sort()") is None
    assert "[by" not in names()[0]
