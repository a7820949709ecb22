""":PytestDebug: the test around the cursor (or the file) under debugpy, on real pytest runs.

With nvim-dap (here a stand-in lua/dap.lua that records what it is handed) the co-process's
launch configuration goes to require('dap').run(); the test then launches debugpy's real adapter
with exactly that configuration and a small DAP client (dapclient.py) checks that the debuggee
stops at a breakpoint. Without nvim-dap the co-process starts debugpy listening on 127.0.0.1 and
the client attaches to the port the notification names. In the editor, on both nvim versions."""
import os
import re
import time

import psutil
import pytest

from conftest import FIXTURES_DIR, TEST_PYTHON, PromptWatch, get_notes, start_nvim, stop_nvim, wait_for
from dapclient import DapClient, stop_at_breakpoint
from test_rpc_protocol import Peer

PROJ = os.path.join(FIXTURES_DIR, "proj_debug")
TEST_FILE = os.path.join(PROJ, "test_debug.py")
ARGS = ["-p", "no:cacheprovider"]

FAKE_DAP = """
-- Stand-in for nvim-dap: records the configurations it is handed.
local M = { adapters = {}, configurations = {}, runs = {} }
M.adapters.python = { type = 'executable', command = 'python3', args = { '-m', 'debugpy.adapter' } }
function M.run(config) table.insert(M.runs, config) end
return M
"""


def break_line(test_name):
    """The line of `# BREAK: test_name` in the fixture."""
    with open(TEST_FILE) as f:
        for n, line in enumerate(f, 1):
            if line.rstrip().endswith("# BREAK: " + test_name):
                return n
    raise AssertionError(f"no BREAK marker for {test_name}")


def editor(tmp_path, with_dap, **setup):
    nv = start_nvim(home=tmp_path / "xdg")
    if with_dap:
        fake = tmp_path / "fake-dap"
        (fake / "lua").mkdir(parents=True)
        (fake / "lua" / "dap.lua").write_text(FAKE_DAP)
        nv.command("set rtp^=" + str(fake))
    opts = {"python": TEST_PYTHON, "args": ARGS}
    opts.update(setup)
    nv.exec_lua("require('pytest').setup(...)", opts)
    return nv


@pytest.fixture
def dap_editor(tmp_path):
    nv = editor(tmp_path, True, env={"PYTESTMON_DEBUG_MARK": "from-the-config"})
    yield nv
    stop_nvim(nv)


@pytest.fixture
def plain_editor(tmp_path):
    nv = editor(tmp_path, False, env={"PYTESTMON_DEBUG_MARK": "from-the-config"})
    yield nv
    stop_nvim(nv)


def debug_at(nv, line, scope=""):
    nv.command("edit " + TEST_FILE)
    nv.api.win_set_cursor(0, [line, 0])
    nv.command("PytestDebug " + scope)


def notes(nv):
    return [n["msg"] for n in get_notes(nv)]


def wait_note(nv, pattern, timeout=60):
    deadline = time.monotonic() + timeout
    while True:
        for msg in notes(nv):
            if re.search(pattern, msg):
                return msg
        assert time.monotonic() < deadline, f"no notification like {pattern!r} in {timeout}s: {notes(nv)}"
        time.sleep(0.05)


def gone(pid, timeout=20):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if psutil.Process(pid).status() == psutil.STATUS_ZOMBIE:
                return True
        except psutil.NoSuchProcess:
            return True
        time.sleep(0.05)
    return False


def debugpy_processes(nv):
    """Descendants of the editor running debugpy (the debuggee and its daemonized adapter)."""
    out = []
    for p in psutil.Process(nv.call("getpid")).children(recursive=True):
        try:
            if "debugpy" in " ".join(p.cmdline()) and p.status() != psutil.STATUS_ZOMBIE:
                out.append(p)
        except psutil.Error:
            pass
    return out


# ---- with nvim-dap: the launch configuration -------------------------------------------------

def test_nvim_dap_gets_a_configuration_that_stops_at_the_breakpoint(dap_editor):
    nv = dap_editor
    line = break_line("test_env")
    debug_at(nv, line)
    conf = wait_for(nv, "require('dap').runs[1]", timeout=60)
    assert conf["type"] == "python" and conf["request"] == "launch"
    assert conf["module"] == "pytest"
    assert conf["args"] == ARGS + ["test_debug.py::test_env"]
    assert conf["cwd"] == PROJ
    assert conf["python"] == TEST_PYTHON
    assert conf["env"] == {"PYTESTMON_DEBUG_MARK": "from-the-config"}
    assert conf["justMyCode"] is False
    # Launch debugpy's real adapter with exactly that configuration, as nvim-dap would.
    dap = DapClient.spawn([TEST_PYTHON, "-m", "debugpy.adapter"])
    try:
        top = stop_at_breakpoint(dap, "launch", conf, TEST_FILE, line)
        assert top["line"] == line and top["source"]["path"] == TEST_FILE, top
        # test_env passes only with the configured env: the debuggee got it.
        assert dap.event("exited", timeout=60)["exitCode"] == 0
    finally:
        dap.close()


def test_file_scope_and_a_cursor_outside_every_test(dap_editor):
    nv = dap_editor
    debug_at(nv, break_line("test_other"), "file")
    conf = wait_for(nv, "require('dap').runs[1]", timeout=60)
    assert conf["args"] == ARGS + [TEST_FILE]
    debug_at(nv, 1)   # the module docstring: no test there, the whole file
    conf = wait_for(nv, "require('dap').runs[2]", timeout=60)
    assert conf["args"] == ARGS + [TEST_FILE]
    wait_note(nv, "no test at the cursor; debugging the whole file")


def test_debug_config_option_is_merged_and_a_missing_adapter_is_explained(tmp_path):
    nv = editor(tmp_path, True, debug_config={"console": "integratedTerminal", "justMyCode": True})
    try:
        debug_at(nv, break_line("test_doubles"))
        conf = wait_for(nv, "require('dap').runs[1]", timeout=60)
        assert conf["console"] == "integratedTerminal" and conf["justMyCode"] is True
        assert conf["args"][-1] == "test_debug.py::test_doubles"
        nv.exec_lua("require('dap').adapters.python = nil")
        debug_at(nv, break_line("test_doubles"))
        wait_note(nv, "nvim-dap has no 'python' adapter")
        assert nv.exec_lua("return #require('dap').runs") == 1
    finally:
        stop_nvim(nv)


def test_bad_scope_is_an_error(dap_editor):
    nv = dap_editor
    nv.command("edit " + TEST_FILE)
    with pytest.raises(Exception, match=r"\(pytest\) :PytestDebug takes 'file' or nothing"):
        nv.command("PytestDebug everything")


# ---- without nvim-dap: debugpy listens -------------------------------------------------------

def listening(nv):
    return wait_for(nv, "require('pytest.debug').listening()", timeout=60)


def handoff(nv):
    """The lines of the scratch buffer that says how to attach (pytest://debug)."""
    return wait_for(nv, "vim.fn.bufexists('pytest://debug') == 1"
                        " and vim.api.nvim_buf_get_lines(vim.fn.bufnr('pytest://debug'), 0, -1, false)")


def test_without_nvim_dap_debugpy_listens_and_the_client_stops_at_the_breakpoint(plain_editor):
    nv = plain_editor
    line = break_line("test_env")
    debug_at(nv, line)
    where = listening(nv)
    assert where["host"] == "127.0.0.1" and where["target"] == "test_debug.py::test_env"
    msg = wait_note(nv, r"debugpy waits on 127\.0\.0\.1:\d+")
    port = int(re.search(r"127\.0\.0\.1:(\d+)", msg).group(1))
    assert port == where["port"]
    text = "\n".join(handoff(nv))
    assert f"port = {port}" in text and f'"port": {port}' in text   # nvim-dap and VS Code snippets
    dap = DapClient.connect(port)
    try:
        top = stop_at_breakpoint(dap, "attach", {"justMyCode": False, "redirectOutput": True}, TEST_FILE, line)
        assert top["line"] == line and top["source"]["path"] == TEST_FILE, top
        # It ran with the configured env (test_env passes only then), and its output reached
        # the debugger (redirectOutput, as the notification's snippets say).
        wait_note(nv, "the debugged tests passed")
        dap.next_message(lambda m: m.get("event") == "output" and "1 passed" in m["body"].get("output", ""),
                         30, "pytest's summary as output")
    finally:
        dap.close()
    assert gone(where["pid"])
    assert nv.exec_lua("return require('pytest.debug').listening()") is None


def test_pytest_stop_ends_the_listening_debugpy_and_its_adapter(plain_editor):
    nv = plain_editor
    debug_at(nv, 1, "file")
    where = listening(nv)
    deadline = time.monotonic() + 30
    while len(debugpy_processes(nv)) < 2:   # the debuggee and its daemonized adapter
        assert time.monotonic() < deadline, [p.cmdline() for p in debugpy_processes(nv)]
        time.sleep(0.05)
    procs = debugpy_processes(nv)
    nv.command("PytestStop")
    wait_note(nv, "the debugged pytest was stopped")
    assert all(gone(p.pid) for p in procs), [p.cmdline() for p in procs]
    assert gone(where["pid"])


def test_quitting_the_editor_ends_the_listening_debugpy(tmp_path):
    nv = editor(tmp_path, False)
    debug_at(nv, break_line("test_doubles"))
    listening(nv)
    deadline = time.monotonic() + 30
    while len(debugpy_processes(nv)) < 2:
        assert time.monotonic() < deadline
        time.sleep(0.05)
    stop_nvim(nv)   # fails if anything it started is left running


def test_a_missing_debugpy_is_reported(tmp_path):
    fake_python = tmp_path / "python"   # a Python that has no debugpy module
    fake_python.write_text("#!/bin/sh\necho \"$0: No module named debugpy\" >&2\nexit 1\n")
    fake_python.chmod(0o755)
    nv = editor(tmp_path, False, python=str(fake_python))
    try:
        debug_at(nv, 1, "file")
        msg = wait_note(nv, r"debugpy ended")
        assert "No module named debugpy" in msg
    finally:
        stop_nvim(nv)


# ---- the co-process alone --------------------------------------------------------------------

def test_debug_methods_check_their_params():
    p = Peer()
    try:
        p.request(1, "debug_config", [{"cwd": PROJ}])
        assert "option 'file' is required" in p.response(1)[2]
        p.request(2, "debug_listen", [{"file": TEST_FILE, "listen": True}])
        assert "listen" in p.response(2)[2]
        p.request(3, "debug_config", [{"cwd": "/nonexistent/dir", "file": TEST_FILE}])
        debug_id = p.response(3)[3]
        ev = p.event("debug")
        assert ev["debug_id"] == debug_id and "working directory is not a directory" in ev["error"]
    finally:
        p.close()


def test_pytest_debug_says_one_line_and_never_waits_at_a_prompt(plain_editor, tmp_path):
    """#29 item 4: without nvim-dap, :PytestDebug notified 7 lines (how to attach with nvim-dap
    and VS Code), which left Neovim 0.7 with a UI at a hit-enter prompt. Now: one line in the echo
    area; the snippets in a scratch buffer (pytest://debug) shown beside, the cursor where it was;
    a user's own vim.notify gets the same one line."""
    nv = plain_editor
    nv.exec_lua("vim.notify = _G.__builtin_notify")  # Neovim's own: it echoes
    nv.ui_attach(80, 24, rgb=True)
    watch = PromptWatch(nv, tmp_path / "nvim.sock")
    try:
        debug_at(nv, break_line("test_env"))
        where = listening(nv)
        nv.command("redraw")  # whatever the handler echoed is on the screen now
        assert nv.api.get_mode()["blocking"] is False
    finally:
        watch.close()
    assert watch.seen == [], "nvim waited at a prompt: %r" % watch.seen
    lines = handoff(nv)
    port = where["port"]
    echoed = nv.exec_lua("return vim.api.nvim_exec('messages', true)").split("\n")
    assert echoed[-1] == f"pytest: debugpy waits on 127.0.0.1:{port}; see pytest://debug"
    text = "\n".join(lines)
    assert f"connect = {{ host = '127.0.0.1', port = {port} }}" in text and f'"port": {port}' in text
    assert nv.api.buf_get_name(0) == TEST_FILE  # the cursor stayed in the test file
    # every line shows, wrapped (they are wider than the window)
    assert nv.exec_lua("local w = vim.fn.bufwinid('pytest://debug') return { vim.fn.line('w0', w),"
                       " vim.fn.line('w$', w), vim.api.nvim_buf_line_count(vim.api.nvim_win_get_buf(w)) }") == [
        1, len(lines), len(lines)]
    nv.command("PytestStop")
    wait_for(nv, "require('pytest.debug').listening() == nil", timeout=30)
    # A user's own vim.notify (nvim-notify, fidget, noice) gets the one line too.
    nv.exec_lua("_G.__notes = {} vim.notify = function(m, l) table.insert(_G.__notes, { msg = m, level = l }) end")
    debug_at(nv, 1, "file")
    where = listening(nv)
    msg = wait_note(nv, r"debugpy waits on")
    assert msg == f"pytest: debugpy waits on 127.0.0.1:{where['port']}; see pytest://debug"
    assert [m for m in notes(nv) if "\n" in m] == []
    nv.command("PytestStop")
    wait_note(nv, "the debugged pytest was stopped")
