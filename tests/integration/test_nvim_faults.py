"""Faults seen from the editor with the real co-process: the editor dies mid-run, two runs in
quick succession, :PytestStop with nothing running."""
import os
import signal
import time

import psutil

from conftest import FIXTURES_DIR, NVIM, TEST_PYTHON, coprocesses, setup_editor, start_nvim, stop_nvim, wait_for

PYTHON = TEST_PYTHON


def setup_plugin(nv, cwd):
    setup_editor(nv, PYTHON)
    nv.command("cd " + cwd)


def test_editor_killed_mid_run_ends_pytest_and_the_coprocess():
    nv = start_nvim()
    setup_plugin(nv, os.path.join(FIXTURES_DIR, "proj_slow"))
    nv.command("PytestRun")
    # Wait until pytest runs the hanging test (progress names it).
    wait_for(nv, "(require('pytest.state').progress or {}).current ~= nil "
                 "and require('pytest.state').progress.current:find('test_hang') ~= nil", timeout=30)
    [co] = coprocesses(nv)
    tree = [co] + co.children(recursive=True)
    assert len(tree) >= 2, "pytest should be running under the co-process"
    editor = psutil.Process(nv.call("getpid"))
    t0 = time.monotonic()
    editor.send_signal(signal.SIGKILL)
    gone, alive = psutil.wait_procs(tree, timeout=5)
    assert not alive, f"left running after the editor died: {alive}"
    # The co-process noticed within a second (stdin EOF), well inside the wait above.
    assert time.monotonic() - t0 < 5
    try:
        nv.close()
    except Exception:
        pass


def test_two_runs_in_quick_succession_and_stop_with_nothing_running(nvim):
    setup_plugin(nvim, os.path.join(FIXTURES_DIR, "proj_fail"))
    nvim.command("PytestStop")                 # nothing running: a message, no error
    nvim.command("PytestRun")
    nvim.command("PytestRun")
    wait_for(nvim, "require('pytest').last() ~= nil and require('pytest').last().status == 'failed'",
             timeout=60)
    qf = nvim.eval("getqflist({'items': 1, 'title': 1})")
    assert qf["items"], "the second run's failures are listed"
    ids = {it["text"].split(":")[0] for it in qf["items"]}
    assert "test_basic.py" in ids or any(i.startswith("test_basic.py") for i in ids)
