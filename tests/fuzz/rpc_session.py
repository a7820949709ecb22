#!/usr/bin/python3
"""Drives one short `pytestmon --rpc` session for `make valgrind` (and by hand):

    rpc_session.py FIXTURES_DIR COMMAND...      e.g. rpc_session.py tests/fixtures valgrind ... pytestmon --rpc

ping -> "pong", version, mem, a run of FIXTURES_DIR/proj_pass (waits for its `finished`
event), history, history_get, test_output (direct and through call), collect on proj_tree
(superseded, answered, and one still collecting), then closes stdin (EOF) and waits for the
co-process to exit.
Exits with the co-process's exit status (valgrind --error-exitcode=99 makes that 99 on memory
errors or leaks), or 1 when the session itself went wrong. Requests the co-process might send
to the editor are answered with nil. Timeouts are generous: valgrind is ~20x slower."""
import os
import select
import subprocess
import sys
import time

import msgpack

TIMEOUT = float(os.environ.get("RPC_SESSION_TIMEOUT", "120"))


class Session:
    def __init__(self, cmd):
        self.proc = subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE)
        self.unpacker = msgpack.Unpacker(raw=False)
        self.pending = []
        self.msgid = 0

    def send(self, obj):
        self.proc.stdin.write(msgpack.packb(obj, use_bin_type=True))
        self.proc.stdin.flush()

    def wait_for(self, want, what):
        deadline = time.monotonic() + TIMEOUT
        while True:
            for i, m in enumerate(self.pending):
                if want(m):
                    return self.pending.pop(i)
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise RuntimeError(f"no {what} within {TIMEOUT}s")
            r, _, _ = select.select([self.proc.stdout], [], [], remaining)
            if not r:
                continue
            chunk = os.read(self.proc.stdout.fileno(), 65536)
            if not chunk:
                raise RuntimeError(f"co-process closed stdout while waiting for {what}")
            self.unpacker.feed(chunk)
            for m in self.unpacker:
                if m[0] == 0:  # a request to the editor: answer it
                    self.send([1, m[1], None, None])
                else:
                    self.pending.append(m)

    def call(self, method, params):
        self.msgid += 1
        msgid = self.msgid
        self.send([0, msgid, method, params])
        m = self.wait_for(lambda m: m[0] == 1 and m[1] == msgid, f"answer to {method}")
        if m[2] is not None:
            raise RuntimeError(f"{method} failed: {m[2]!r}")
        return m[3]

    def event(self, name):
        m = self.wait_for(lambda m: m[0] == 2 and m[1] == "nvim_exec_lua" and m[2][1][0] == name,
                          f"event {name}")
        return m[2][1][1]


def main():
    if len(sys.argv) < 3:
        print(__doc__, file=sys.stderr)
        return 2
    fixtures, cmd = os.path.abspath(sys.argv[1]), sys.argv[2:]
    s = Session(cmd)
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
