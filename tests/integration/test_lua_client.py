"""The co-process lifecycle as the user meets it, against a small fake co-process written in
Python that speaks the HACKING.md contract (so the shim is tested independently of the C side):
missing binary, `configure` on start, run requests, events, death and restart."""
import json
import os
import stat
import textwrap

import pytest

from conftest import PROJ_FAIL, start_nvim, stop_nvim, wait_for

FAKE = textwrap.dedent(
    r'''
    #!/usr/bin/python3
    import json, os, sys
    import msgpack

    LOG = os.environ["FAKE_LOG"]
    out = sys.stdout.buffer
    def log(obj):
        with open(LOG, "a") as f:
            f.write(json.dumps(obj) + "\n")
    def send(msg):
        out.write(msgpack.packb(msg, use_bin_type=True)); out.flush()
    def event(name, payload):
        send([2, "nvim_exec_lua", ["return require('pytest.events').dispatch(...)", [name, payload]]])

    assert sys.argv[1:] == ["--rpc"], sys.argv
    unpacker = msgpack.Unpacker(raw=False)
    run_id = 0
    while True:
        data = sys.stdin.buffer.read1(65536)
        if not data:
            sys.exit(0)
        unpacker.feed(data)
        for msg in unpacker:
            if msg[0] != 0:
                continue
            _, msgid, method, params = msg
            log({"method": method, "params": params})
            if method == "die":
                sys.exit(3)
            result = {"ping": "pong", "configure": True, "cancel": False,
                      "version": {"version": "fake", "libuv": "1", "msgpack": "1", "libxml2": "1"},
                      "history": [], "mem": {"verdict": "ok", "sentence": "fake"}}.get(method)
            if method == "run":
                run_id += 1
                result = run_id
            send([1, msgid, None, result])
            if method == "run":
                req = params[0]
                event("started", {"run_id": run_id, "args": req["args"], "cwd": req["cwd"],
                                  "root": req["cwd"]})
                event("finished", {"run_id": run_id, "args": req["args"], "cwd": req["cwd"],
                                   "root": req["cwd"], "status": "passed", "exit_code": 0,
                                   "summary": "1 passed in 0.01s", "failures": []})
    '''
).lstrip()


@pytest.fixture
def fake(tmp_path):
    path = tmp_path / "fake-pytestmon"
    path.write_text(FAKE)
    path.chmod(path.stat().st_mode | stat.S_IXUSR)
    log = tmp_path / "calls.jsonl"
    nv = start_nvim(env={"PYTESTMON_BIN": str(path), "FAKE_LOG": str(log)})

    def calls():
        if not log.exists():
            return []
        return [json.loads(l) for l in log.read_text().splitlines()]

    nv.calls = calls
    yield nv
    stop_nvim(nv)


def notes(nv):
    return nv.exec_lua("return _G.__notes")


def test_missing_binary_one_clear_message(nvim, repo_root):
    nvim.call("setenv", "PYTESTMON_BIN", "/nonexistent/pytestmon")
    nvim.command("cd " + PROJ_FAIL)
    nvim.command("PytestRun")
    msgs = notes(nvim)
    assert len(msgs) == 1
    assert msgs[0]["level"] == 4
    assert msgs[0]["msg"] == (
        "pytest: co-process /nonexistent/pytestmon is missing or not executable; "
        f"run `make` in {repo_root} to build it"
    )


def test_not_started_until_first_use(fake):
    assert fake.exec_lua("return require('pytest.client').is_running()") is False
    assert fake.calls() == []


def test_configure_sent_first(fake):
    assert fake.exec_lua("return require('pytest.client').call('ping')") == "pong"
    calls = fake.calls()
    assert [c["method"] for c in calls] == ["configure", "ping"]
    conf = calls[0]["params"][0]
    assert conf["editor_pid"] == fake.call("getpid")
    assert conf["history_size"] == 5 and conf["sample_interval_ms"] == 100
    assert conf["log_dir"] == fake.exec_lua("return require('pytest.config').get().log_dir")


def test_run_request_and_events(fake):
    fake.exec_lua("require('pytest').setup({ python = '/usr/bin/python3', timeout = 2, args = { '-q' } })")
    fake.command("edit " + os.path.join(PROJ_FAIL, "tests", "test_math.py"))
    fake.command("PytestFile")
    wait_for(fake, "require('pytest').last() ~= nil")
    run = [c for c in fake.calls() if c["method"] == "run"][0]["params"][0]
    assert run == {
        "cwd": PROJ_FAIL,
        "args": ["-q", "tests/test_math.py"],
        "python": "/usr/bin/python3",
        "file": os.path.join(PROJ_FAIL, "tests", "test_math.py"),
        "timeout_ms": 2000,
    }
    assert notes(fake)[-1]["msg"] == "pytest: 1 passed in 0.01s"
    assert fake.exec_lua("return vim.fn.getqflist({ title = 1 }).title") == "pytest -q tests/test_math.py: 1 passed in 0.01s"
    # :PytestLast repeats it; :PytestFailed adds --lf.
    fake.command("PytestLast")
    fake.command("PytestFailed")
    runs = [c["params"][0]["args"] for c in fake.calls() if c["method"] == "run"]
    assert runs == [["-q", "tests/test_math.py"], ["-q", "tests/test_math.py"],
                    ["-q", "tests/test_math.py", "--lf"]]


def test_run_command_splits_like_a_shell(fake):
    fake.command("cd " + PROJ_FAIL)
    fake.command(r'PytestRun -k "add or mul" tests/sub/test_spaced\ name\ é.py')
    run = [c for c in fake.calls() if c["method"] == "run"][0]["params"][0]
    assert run["args"] == ["-k", "add or mul", "tests/sub/test_spaced name é.py"]
    assert run["cwd"] == PROJ_FAIL


def test_nearest_sends_node_id(fake):
    fake.command("edit " + os.path.join(PROJ_FAIL, "tests", "test_math.py"))
    fake.current.window.cursor = (26, 8)
    fake.command("PytestNearest")
    run = [c for c in fake.calls() if c["method"] == "run"][0]["params"][0]
    assert run["args"] == ["tests/test_math.py::TestCalc::test_mul"]


def test_stop_without_run(fake):
    fake.command("PytestStop")
    assert notes(fake)[-1]["msg"] == "pytest: no run is active"


def test_restart_after_death_told_once(fake):
    assert fake.exec_lua("return require('pytest.client').call('ping')") == "pong"
    ok, _ = fake.exec_lua("return { require('pytest.client').request('die') }")
    assert ok is False
    wait_for(fake, "not require('pytest.client').is_running()")
    assert fake.exec_lua("return require('pytest.client').call('ping')") == "pong"
    assert fake.exec_lua("return require('pytest.client').call('ping')") == "pong"
    msgs = [n["msg"] for n in notes(fake)]
    assert msgs == ["pytest: pytestmon co-process exited (code 3); restarted"]
    assert [c["method"] for c in fake.calls()] == ["configure", "ping", "die", "configure", "ping", "ping"]


def test_history_empty(fake):
    fake.command("PytestHistory")
    assert notes(fake)[-1]["msg"] == "pytest: no runs in the history yet"
