"""A venv interpreter another local user could have put there is refused: `run`, `collect`,
`debug_*` (over RPC) and `pytestmon run` start nothing and say which file and why; `resolve`
reports it; the explicit `python` option still wins; a real venv of your own is run.

The venv's python is a script that leaves a marker and then execs the test interpreter, so
"nothing was run" is a fact on disk. Another user's file: chown to uid 65534 (root only)."""
import os
import subprocess

import pytest

from conftest import BIN, TEST_PYTHON
from test_rpc_protocol import Peer

NOBODY = 65534


def make_project(tmp_path):
    proj = tmp_path / "proj"
    (proj / "tests").mkdir(parents=True)
    (proj / "pytest.ini").write_text("[pytest]\n")
    (proj / "tests" / "test_a.py").write_text("def test_a():\n    pass\n")
    (proj / ".venv" / "bin").mkdir(parents=True)
    py = proj / ".venv" / "bin" / "python"
    py.write_text(f"#!/bin/sh\necho ran >> {tmp_path / 'ran'}\nexec {TEST_PYTHON} \"$@\"\n")
    py.chmod(0o755)
    return proj, py


def make_unsafe(how, proj, py):
    """The venv's interpreter made unsafe in one way; the reason the refusal names."""
    if how == "owner":
        if os.geteuid() != 0:
            pytest.skip("making another user's file takes root")
        os.chown(py, NOBODY, NOBODY)
        return "owned by uid 65534 (not you or root)"
    if how == "world":
        py.chmod(0o777)
        return "writable by others (mode 0777)"
    if how == "group":
        py.chmod(0o775)
        return "writable by its group (mode 0775)"
    if how == "dir":
        (proj / ".venv" / "bin").chmod(0o777)
        return f"directory {proj}/.venv/bin is writable by others (mode 0777)"
    if how == "link":  # your link to their interpreter
        if os.geteuid() != 0:
            pytest.skip("making another user's file takes root")
        theirs = proj.parent / "theirs"
        os.rename(py, theirs)
        os.chown(theirs, NOBODY, NOBODY)
        py.symlink_to(theirs)
        return f"link target {theirs} is owned by uid 65534 (not you or root)"
    raise AssertionError(how)


def env_without_venv():
    env = dict(os.environ)
    env.pop("VIRTUAL_ENV", None)
    return env


@pytest.fixture
def peer():
    p = Peer(env=env_without_venv())
    yield p
    p.close()


def event_of(peer, name, key, ident, timeout=60):
    while True:
        e = peer.event(name, timeout=timeout)
        if e.get(key) == ident:
            return e


def run(peer, msgid, opts):
    peer.request(msgid, "run", [opts])
    run_id = peer.response(msgid)[3]
    return event_of(peer, "finished", "run_id", run_id, timeout=120)


@pytest.mark.parametrize("how", ["owner", "world", "group", "dir", "link"])
def test_unsafe_venv_interpreter_is_refused(peer, tmp_path, how):
    proj, py = make_project(tmp_path)
    reason = make_unsafe(how, proj, py)
    refusal = f"refusing interpreter {py}: {reason}; set the `python` option to run it anyway"
    cwd = str(proj)
    test_file = str(proj / "tests" / "test_a.py")

    r = run(peer, 1, {"cwd": cwd, "args": []})
    assert not (tmp_path / "ran").exists(), "the refused interpreter was run"
    assert r["status"] == "error" and r["error"] == refusal
    assert r["summary"] == "could not run pytest: " + refusal

    peer.request(2, "resolve", [{"cwd": cwd}])
    res = peer.response(2)[3]
    assert res["python"] == str(py) and res["python_why"] == ".venv in the project root"
    assert res["refused"] == refusal

    peer.request(3, "collect", [{"cwd": cwd, "file": test_file}])
    c = event_of(peer, "collection", "collect_id", peer.response(3)[3])
    assert c["error"] == refusal and "items" not in c

    for msgid, method in ((4, "debug_config"), (5, "debug_listen")):
        peer.request(msgid, method, [{"cwd": cwd, "file": test_file, "nearest_line": 1}])
        d = event_of(peer, "debug", "debug_id", peer.response(msgid)[3])
        assert d["error"] == refusal and "config" not in d

    assert not (tmp_path / "ran").exists(), "the refused interpreter was run"

    # The user's explicit choice still wins: the same file runs the tests.
    r = run(peer, 6, {"cwd": cwd, "args": [], "python": str(py)})
    assert r["status"] == "passed", r
    assert r["python"] == str(py) and r["python_why"] == "the python option"
    assert (tmp_path / "ran").exists()


def test_unsafe_virtual_env_is_refused(tmp_path):
    proj, py = make_project(tmp_path)
    py.chmod(0o777)
    env = env_without_venv()
    env["VIRTUAL_ENV"] = str(proj / ".venv")
    p = Peer(env=env)
    try:
        r = run(p, 1, {"cwd": str(proj), "args": []})
        assert not (tmp_path / "ran").exists(), "the refused interpreter was run"
        assert r["error"] == (f"refusing interpreter {py}: writable by others (mode 0777); "
                              "set the `python` option to run it anyway")
    finally:
        p.close()
    assert not (tmp_path / "ran").exists()


def test_own_venv_is_run(peer, tmp_path):
    """A real venv (python -> python3 -> the system's root-owned interpreter, your own links
    and directories) is not refused."""
    proj, py = make_project(tmp_path)
    py.unlink()
    subprocess.run([TEST_PYTHON, "-m", "venv", "--without-pip", "--system-site-packages",
                    "--clear", str(proj / ".venv")], check=True, timeout=120)
    assert os.path.islink(py)
    peer.request(1, "resolve", [{"cwd": str(proj)}])
    assert "refused" not in peer.response(1)[3]
    r = run(peer, 2, {"cwd": str(proj), "args": []})
    assert r["status"] == "passed", r
    assert r["python"] == str(py) and r["python_why"] == ".venv in the project root"


def test_cli_run_refuses_and_the_python_option_wins(tmp_path):
    proj, py = make_project(tmp_path)
    make_unsafe("world", proj, py)
    p = subprocess.run([BIN, "run", "--cwd", str(proj)], env=env_without_venv(), capture_output=True,
                       text=True, timeout=120)
    assert not (tmp_path / "ran").exists(), "the refused interpreter was run"
    assert p.returncode != 0
    assert (f"could not run pytest: refusing interpreter {py}: writable by others (mode 0777); "
            "set the `python` option to run it anyway") in p.stdout + p.stderr
    assert not (tmp_path / "ran").exists()
    p = subprocess.run([BIN, "run", "--cwd", str(proj), "--python", str(py)], env=env_without_venv(),
                       capture_output=True, text=True, timeout=120)
    assert p.returncode == 0, p.stdout + p.stderr
    assert (tmp_path / "ran").exists()
