""":PytestDebug: the test around the cursor (or the file) under debugpy, on real pytest runs.

With nvim-dap (here a stand-in lua/dap.lua that records what it is handed) the co-process's
launch configuration goes to require('dap').run(); the test then launches debugpy's real adapter
with exactly that configuration and a small DAP client (dapclient.py) checks that the debuggee
stops at a breakpoint. Without nvim-dap the co-process starts debugpy behind an endpoint of its
own on 127.0.0.1 and the client attaches to the port the notification names; a second user
(uid 65534, through setpriv) is shut out of both of the endpoint's sockets before a byte. In the
editor, on both nvim versions, and against the co-process alone."""
import os
import re
import subprocess
import sys
import time

import socket

import psutil
import pytest

from conftest import (FIXTURES_DIR, TEST_PYTHON, PromptWatch, get_notes, record_finished, run_and_wait,
                      start_nvim, stop_nvim, wait_for)
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


# A client run as another user (uid 65534, no account needed): it connects to 127.0.0.1:PORT
# (retrying while nothing listens there, as an attacker would), sends a DAP `initialize`, reads
# until the connection ends, and prints what it got.
OTHER_USER_CLIENT = r"""
import json, socket, sys, time
port = int(sys.argv[1])
deadline = time.monotonic() + 20
while True:
    try:
        s = socket.create_connection(("127.0.0.1", port), timeout=5)
        break
    except ConnectionRefusedError:
        if time.monotonic() > deadline:
            print("REFUSED 0")
            sys.exit(0)
        time.sleep(0.05)
body = json.dumps({"seq": 1, "type": "request", "command": "initialize",
                   "arguments": {"clientID": "intruder", "adapterID": "python"}}).encode()
try:
    s.sendall(b"Content-Length: %d\r\n\r\n" % len(body) + body)
except OSError:
    pass
got = b""
s.settimeout(20)
how = "CLOSED"
try:
    while True:
        d = s.recv(65536)
        if not d:
            break
        got += d
except socket.timeout:
    how = "OPEN"
except ConnectionResetError:
    pass
print(how, len(got))
"""


def other_user_connects(port):
    """Run OTHER_USER_CLIENT as uid/gid 65534 against `port`: ("CLOSED"|"OPEN"|"REFUSED", bytes got)."""
    out = subprocess.run(["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", sys.executable, "-c",
                          OTHER_USER_CLIENT, str(port)], cwd="/", capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    how, n = out.stdout.split()
    return how, int(n)


def listening_ports(pids):
    """TCP ports some process of `pids` listens on."""
    ports = set()
    for pid in pids:
        try:
            for c in psutil.Process(pid).connections(kind="tcp"):
                if c.status == psutil.CONN_LISTEN:
                    ports.add(c.laddr.port)
        except psutil.NoSuchProcess:
            pass
    return ports


def session_pids(pid):
    """pid and its descendants."""
    try:
        return [pid] + [c.pid for c in psutil.Process(pid).children(recursive=True)]
    except psutil.NoSuchProcess:
        return []


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
    assert "for 5 min" in text   # the default attach timeout
    dap = DapClient.connect(port, retry=False)   # announced: it accepts now
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


def test_pytest_stop_ends_the_listening_debugpy(plain_editor):
    nv = plain_editor
    debug_at(nv, 1, "file")
    where = listening(nv)
    procs = debugpy_processes(nv)
    assert [p.pid for p in procs] == [where["pid"]]   # the debuggee: debugpy starts no adapter
    nv.command("PytestStop")
    wait_note(nv, "the debugged pytest was stopped")
    assert all(gone(p.pid) for p in procs), [p.cmdline() for p in procs]
    assert gone(where["pid"])


def test_quitting_the_editor_ends_the_listening_debugpy(tmp_path):
    nv = editor(tmp_path, False)
    debug_at(nv, break_line("test_doubles"))
    listening(nv)
    stop_nvim(nv)   # fails if anything it started is left running


def test_another_user_is_shut_out_and_the_owner_attaches(plain_editor):
    """Issue #24: debugpy's --listen port took any local user's DAP client (a conditional
    breakpoint then ran code as us). Now another uid's connection is closed before a byte goes
    either way, the editor is told, and the session stays ours: we attach and stop. Nothing of
    the session listens on TCP but the co-process's own endpoint."""
    nv = plain_editor
    line = break_line("test_doubles")
    debug_at(nv, line)
    where = listening(nv)
    assert other_user_connects(where["port"]) == ("CLOSED", 0)
    wait_note(nv, r"refused a connection to the debug endpoint from uid 65534: only you can attach")
    coprocess = psutil.Process(where["pid"]).parent()
    assert listening_ports(session_pids(where["pid"])) == set()   # debugpy listens on nothing
    assert listening_ports([coprocess.pid]) == {where["port"]}
    dap = DapClient.connect(where["port"], retry=False)
    try:
        top = stop_at_breakpoint(dap, "attach", {"justMyCode": False}, TEST_FILE, line)
        assert top["line"] == line and top["source"]["path"] == TEST_FILE, top
        wait_note(nv, "the debugged tests passed")
    finally:
        dap.close()
    assert listening_ports([coprocess.pid]) == set()


def test_an_unattached_debugpy_ends_after_the_attach_timeout(tmp_path):
    nv = editor(tmp_path, False, debug_attach_timeout_ms=1500)
    try:
        debug_at(nv, 1, "file")
        where = listening(nv)
        wait_note(nv, r"debugpy waits on 127\.0\.0\.1:\d+; see pytest://debug")
        assert re.search(r"debugpy waits for a debugger on 127\.0\.0\.1:\d+ \(.*\), for 1\.5 s\.",
                         "\n".join(handoff(nv)))   # the attach help, in pytest://debug
        wait_note(nv, r"no debugger attached within 1\.5 s: debugpy was ended \(option debug_attach_timeout_ms\)",
                  timeout=30)
        assert gone(where["pid"])
        assert nv.exec_lua("return require('pytest.debug').listening()") is None
        with pytest.raises(Exception, match=r"debug_attach_timeout_ms.*must be an integer from 100 to 86400000"):
            nv.exec_lua("require('pytest').setup({ debug_attach_timeout_ms = 50 })")
    finally:
        stop_nvim(nv)


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
        p.request(4, "debug_listen", [{"file": TEST_FILE, "attach_timeout_ms": 50}])
        assert "attach_timeout_ms" in p.response(4)[2]
        p.request(5, "debug_config", [{"file": TEST_FILE, "attach_timeout_ms": 1000}])
        assert "attach_timeout_ms" in p.response(5)[2]   # only a listening debugpy waits
    finally:
        p.close()


def listen(p, msgid, **opts):
    """debug_listen on the fixture's file; returns the `debug` event that announces the endpoint."""
    req = {"cwd": PROJ, "file": TEST_FILE, "python": TEST_PYTHON, "args": ARGS}
    req.update(opts)
    p.request(msgid, "debug_listen", [req])
    debug_id = p.response(msgid)[3]
    ev = p.event("debug", timeout=60)
    assert ev["debug_id"] == debug_id and "listen" in ev, ev
    return ev


def test_the_announced_endpoint_accepts_at_once():
    """Issue #24: the port was announced before debugpy bound it (a connection made at once was
    refused for ~0.25 s). Now one attempt right at the announcement is served to the end."""
    p = Peer()
    try:
        line = break_line("test_other")
        ev = listen(p, 1, nearest_line=line)
        dap = DapClient.connect(ev["listen"]["port"], retry=False)
        try:
            top = stop_at_breakpoint(dap, "attach", {"justMyCode": False}, TEST_FILE, line)
            assert top["line"] == line, top
            end = p.event("debug", timeout=60)
            assert end["exited"] and end["status"] == 0 and not end.get("timed_out"), end
            dap.next_message(lambda m: m.get("event") == "terminated", 20, "the terminated event")
        finally:
            dap.close()
        p.proc.stdin.close()
        assert p.proc.wait(20) == 0   # a clean exit (under ASan: no leak)
    finally:
        p.close()


def test_the_attach_timeout_ends_debugpy_and_says_so():
    p = Peer()
    try:
        ev = listen(p, 1, attach_timeout_ms=300)
        assert ev["attach_timeout_ms"] == 300
        end = p.event("debug", timeout=30)
        assert end["debug_id"] == ev["debug_id"] and end["exited"] and end["timed_out"] is True, end
        assert end["attach_timeout_ms"] == 300 and end["signal"] == 9 and not end["cancelled"], end
        with pytest.raises(OSError):
            socket.create_connection(("127.0.0.1", ev["listen"]["port"]), timeout=5).close()
        p.proc.stdin.close()
        assert p.proc.wait(20) == 0
    finally:
        p.close()


def test_the_debugpy_side_takes_only_the_process_it_started(tmp_path):
    """The socket debugpy's debug server connects to (`--connect`) takes only the process the
    co-process spawned: another uid's connection and one of ours from another process are
    closed unread, and only then does the debuggee connect. The interpreter is a script that
    says its arguments and waits on a FIFO before it execs Python (same pid)."""
    go = tmp_path / "go"
    os.mkfifo(go)
    said = tmp_path / "args"
    python = tmp_path / "python"
    python.write_text(f'#!/bin/sh\nprintf "%s\\n" "$@" > "{said}"\nread line < "{go}"\nexec {TEST_PYTHON} "$@"\n')
    python.chmod(0o755)
    p = Peer()
    try:
        p.request(1, "debug_listen", [{"cwd": PROJ, "file": TEST_FILE, "python": str(python), "args": ARGS}])
        debug_id = p.response(1)[3]
        deadline = time.monotonic() + 60
        while True:   # the script opens the FIFO once it has written its arguments
            try:
                fd = os.open(go, os.O_WRONLY | os.O_NONBLOCK)
                break
            except OSError:
                assert time.monotonic() < deadline, "the interpreter script never waited on the FIFO"
                time.sleep(0.02)
        argv = said.read_text().splitlines()
        assert argv[:2] == ["-m", "debugpy"] and argv[2] == "--connect", argv
        server_port = int(argv[3].rpartition(":")[2])
        assert other_user_connects(server_port) == ("CLOSED", 0)
        ev = p.event("debug")
        assert ev == {"debug_id": debug_id, "refused": {"uid": 65534, "endpoint": "server"}}, ev
        with socket.create_connection(("127.0.0.1", server_port), timeout=5) as ours:   # our uid, not its pid
            ours.settimeout(20)
            assert ours.recv(100) == b""
        os.write(fd, b"go\n")
        os.close(fd)
        ev = p.event("debug", timeout=60)
        assert ev["debug_id"] == debug_id and "listen" in ev, ev
        dap = DapClient.connect(ev["listen"]["port"], retry=False)
        try:
            stop_at_breakpoint(dap, "attach", {"justMyCode": False}, TEST_FILE, break_line("test_other"))
            p.proc.stdin.close()   # the co-process ends with a live relay: a clean exit
            assert p.proc.wait(20) == 0
        finally:
            dap.close()
    finally:
        p.close()


# ---- the same selection as a run (issue #25 (a), (b)) ------------------------------------------

MONO_TEST = "def test_a():\n    pass\n\n\ndef test_b():\n    assert 1 + 1 == 2\n"


def monorepo(tmp_path):
    """pytest's rootdir (a parent pytest.ini) above the project root (setup.cfg, no pytest
    section): node ids name paths from the rootdir, pytest runs in the project root."""
    mono = tmp_path / "mono"
    (mono / "sub" / "tests").mkdir(parents=True)
    (mono / "pytest.ini").write_text("[pytest]\n")
    (mono / "sub" / "setup.cfg").write_text("[metadata]\nname = sub\n")
    test = mono / "sub" / "tests" / "test_a.py"
    test.write_text(MONO_TEST)
    return mono / "sub", str(test)


def test_nearest_and_debug_below_pytests_rootdir_select_the_test(dap_editor, tmp_path):
    """A Nearest run and the debugger's configuration hand pytest a path relative to the
    directory it runs in, not to its rootdir (`file or directory not found: sub/tests/...`)."""
    nv = record_finished(dap_editor)
    sub, test = monorepo(tmp_path)
    nv.command("edit " + test)
    nv.api.win_set_cursor(0, [6, 0])
    r = run_and_wait(nv, "PytestNearest", timeout=120)
    assert r["root"] == str(sub), r
    assert r["counts"]["passed"] == 1 and r["counts"]["failed"] == 0, r["summary"]
    assert r["args"][-1] == "tests/test_a.py::test_b"
    nv.command("PytestDebug")
    conf = wait_for(nv, "require('dap').runs[1]", timeout=60)
    assert conf["cwd"] == str(sub) and conf["args"][-1] == "tests/test_a.py::test_b", conf
    ran = subprocess.run([conf["python"], "-m", "pytest"] + conf["args"], cwd=conf["cwd"],
                         capture_output=True, text=True, timeout=120)
    assert ran.returncode == 0 and "1 passed" in ran.stdout, ran.stdout + ran.stderr


def test_debug_under_no_terminal_finds_the_test_as_a_run_does(tmp_path):
    """The user's `-p no:terminal`: the debugger's lookup added -q, a usage error with it, and
    the whole file was debugged; a run with the same args found the test."""
    nv = editor(tmp_path, True, args=ARGS + ["-p", "no:terminal"])
    try:
        line = break_line("test_env")
        debug_at(nv, line)
        conf = wait_for(nv, "require('dap').runs[1]", timeout=60)
        assert conf["args"][-1] == "test_debug.py::test_env", conf["args"]
    finally:
        stop_nvim(nv)


def test_pytest_debug_says_one_line_and_never_waits_at_a_prompt(plain_editor, tmp_path):
    """#29 item 4: without nvim-dap, :PytestDebug notified 7 lines (how to attach with nvim-dap
    and VS Code), which left Neovim 0.7 with a UI at a hit-enter prompt. Now: one line in the echo
    area; the snippets in a scratch buffer (pytest://debug) shown beside, the cursor where it was;
    a user's own vim.notify gets the same one line."""
    nv = plain_editor
    nv.exec_lua("vim.notify = _G.__builtin_notify")  # Neovim's own: it echoes
    nv.ui_attach(80, 24, rgb=True)
    watch = PromptWatch(nv)
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
