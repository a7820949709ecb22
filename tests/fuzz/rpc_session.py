#!/usr/bin/python3
"""Drives one short `pytestmon --rpc` session for `make valgrind` (and by hand):

    rpc_session.py FIXTURES_DIR COMMAND...      e.g. rpc_session.py tests/fixtures valgrind ... pytestmon --rpc

ping -> "pong", version, mem, a run of FIXTURES_DIR/proj_pass (waits for its `finished`
event), history, history_get, test_output (direct and through call), collect on proj_tree
(superseded, answered, and one still collecting), then closes stdin (EOF) and waits for the
co-process to exit.
Exits with the co-process's exit status (valgrind --error-exitcode=99 makes that 99 on memory
errors or leaks), or 1 when the session itself went wrong. Requests the co-process might send
to the editor are answered with nil (tests/rpcpeer.py). Timeouts are generous: valgrind is ~20x
slower."""
import os
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from rpcpeer import RpcPeer  # noqa: E402  (tests/rpcpeer.py, shared with the tests and bench)

TIMEOUT = float(os.environ.get("RPC_SESSION_TIMEOUT", "120"))


class Session(RpcPeer):
    """RpcPeer with valgrind's generous deadline on every wait."""

    def call(self, method, params):
        return super().call(method, params, TIMEOUT)

    def event(self, name):
        return super().event(name, TIMEOUT)


def main():
    if len(sys.argv) < 3:
        print(__doc__, file=sys.stderr)
        return 2
    fixtures, cmd = os.path.abspath(sys.argv[1]), sys.argv[2:]
    s = Session(cmd, stderr=None)
    try:
        assert s.call("ping", []) == "pong"
        assert "version" in s.call("version", [])
        assert isinstance(s.call("mem", [{}]), dict)
        run_id = s.call("run", [{"cwd": os.path.join(fixtures, "proj_pass"),
                                 "python": "/usr/bin/python3", "args": []}])
        while True:
            fin = s.event("finished")
            if fin.get("run_id") == run_id:
                break
        assert isinstance(s.call("history", []), list)
        s.call("history_get", [run_id])
        # one test's output: read at once, and in the thread pool through `call`
        out = s.call("test_output", [{"nodeid": "test_ok.py::test_one"}])
        assert out["status"] == "passed", out
        s.send([2, "call", [7, "test_output", [{"nodeid": "test_ok.py::test_one"}]]])
        assert s.event("reply")["result"]["status"] == "passed"
        # the test tree: one collect superseded by the next, then shutdown with one collecting
        tree = os.path.join(fixtures, "proj_tree")
        s.call("collect", [{"cwd": tree, "python": "/usr/bin/python3", "debounce_ms": 60000}])
        cid = s.call("collect", [{"cwd": tree, "python": "/usr/bin/python3"}])
        assert s.event("collection")["collect_id"] == cid
        s.call("collect", [{"cwd": tree, "python": "/usr/bin/python3", "env": {"PROJ_TREE_SLOW_COLLECT": "60"}}])
        print(f"rpc_session: run {run_id} finished: exit_code={fin.get('exit_code')}",
              file=sys.stderr)
    except Exception as e:  # noqa: BLE001 - report and clean up
        print(f"rpc_session: {e}", file=sys.stderr)
        s.proc.kill()
        s.proc.wait()
        return 1
    s.proc.stdin.close()  # EOF: the co-process must exit cleanly
    try:
        rc = s.proc.wait(TIMEOUT)
    except subprocess.TimeoutExpired:
        print("rpc_session: no exit after stdin EOF", file=sys.stderr)
        s.proc.kill()
        s.proc.wait()
        return 1
    print(f"rpc_session: co-process exit status {rc}", file=sys.stderr)
    return rc


if __name__ == "__main__":
    sys.exit(main())
