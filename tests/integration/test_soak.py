"""Run 2 and run 100 behave like run 1: 100 consecutive :PytestRun in one editor. Every
quickfix list is right; the co-process neither grows nor leaks descriptors or processes.
`make soak` does the same for 1000 runs (bench/)."""
import os

import psutil

from conftest import FIXTURES_DIR, not_warm, wait_for

PYTHON = "/usr/bin/python3"
RUNS = int(os.environ.get("PYTESTMON_SOAK_RUNS", "100"))
# The run whose RSS is the baseline. `make sanitize` sets 50: ASan's allocator holds freed
# memory in its quarantine and per-size caches, which fill over the first ~50 runs.
BASELINE = int(os.environ.get("PYTESTMON_SOAK_BASELINE", "10"))
PROJ = os.path.join(FIXTURES_DIR, "proj_soak")
EXPECTED = [  # quickfix text names the test without its own file
    (os.path.join(PROJ, "test_soak.py"), 10, "E", "test_fails: assert 41 == 42"),
    (os.path.join(PROJ, "test_soak.py"), 14, "E", "test_fails_in_helper: assert [1, 2] == [2, 1]"),
]


def quickfix(nv):
    items = nv.eval("getqflist()")
    return [(nv.call("fnamemodify", nv.call("bufname", it["bufnr"]), ":p"), it["lnum"], it["type"],
             it["text"].split("\n")[0]) for it in items]


def fd_count(p):
    return len(os.listdir(f"/proc/{p.pid}/fd"))


def test_hundred_runs_behave_like_the_first(nvim):
    nvim.exec_lua("require('pytest').setup({python = ...})", PYTHON)
    nvim.command("cd " + PROJ)
    rss_base = fds_base = None
    co = None
    for i in range(1, RUNS + 1):
        nvim.command("PytestRun")
        wait_for(nvim, f"require('pytest').last() ~= nil and require('pytest').last().run_id == {i}",
                 timeout=60)
        got = quickfix(nvim)
        assert got == EXPECTED, f"run {i}: {got}"
        if co is None:
            co = [p for p in psutil.Process(nvim.call("getpid")).children() if "--rpc" in p.cmdline()][0]
        if i == BASELINE:
            rss_base, fds_base = co.memory_info().rss, fd_count(co)
    rss_last, fds_last = co.memory_info().rss, fd_count(co)
    kids = not_warm(co.children(recursive=True))  # the warm pytest stays for the next run
    print(f"\nsoak {RUNS} runs: co-process rss run {BASELINE} {rss_base} run {RUNS} {rss_last}; "
          f"fds {fds_base} -> {fds_last}")
    assert fds_last == fds_base
    assert rss_last <= rss_base * 1.05 + 256 * 1024, (rss_base, rss_last)
    assert kids == [], f"left behind: {kids}"
