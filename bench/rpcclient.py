"""The bench's driver of `build/pytestmon --rpc` (the co-process Neovim talks to), on the
msgpack-RPC client the tests share (tests/rpcpeer.py): started as lua/pytest/client.lua starts
it, with each event's arrival time kept for the timings.
"""
import os
import subprocess
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "tests"))
from rpcpeer import RpcPeer  # noqa: E402


class CoProcess(RpcPeer):
    def __init__(self, binary, env=None):
        if env is None:  # as lua/pytest/client.lua starts it: glibc's tcache off
            user = os.environ.get("GLIBC_TUNABLES", "")
            env = dict(os.environ, PYTESTMON_CHILD_GLIBC_TUNABLES=user,
                       GLIBC_TUNABLES=(user + ":" if user else "") + "glibc.malloc.tcache_count=0")
        super().__init__([binary, "--rpc"], env=env, stderr=subprocess.DEVNULL)
        self.pid = self.proc.pid

    def request(self, method, *params):
        """The result of `method` (RuntimeError with its error); no deadline but the bench's."""
        return self.call(method, list(params), timeout=600)

    def wait_event(self, name, run_id=None, timeout=600):
        """(arrival time, payload) of the next `name` event (of run_id, when given); the messages
        that came before it are dropped."""
        return self.event_at(name, timeout, None if run_id is None else lambda p: p.get("run_id") == run_id,
                             drop_older=True)

    def run(self, cwd, args=(), python="/usr/bin/python3", timeout=600):
        rid = self.request("run", {"cwd": cwd, "python": python, "args": list(args)})
        return self.wait_event("finished", rid, timeout)[1]

    def close(self):
        try:
            self.proc.stdin.close()
        except OSError:
            pass
        try:
            self.proc.wait(5)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()


def proc_status(pid, key):
    """A /proc/PID/status value in kB (VmRSS, VmHWM, ...)."""
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith(key + ":"):
                return int(line.split()[1])
    return None


def fd_count(pid):
    return len(os.listdir("/proc/%d/fd" % pid))


def cpu_ticks(pid):
    """utime + stime of PID in clock ticks."""
    with open("/proc/%d/stat" % pid) as f:
        s = f.read()
    fields = s[s.rindex(")") + 2:].split()
    return int(fields[11]) + int(fields[12])


def children(pid):
    """(pid, state, comm) of every process whose parent is PID."""
    out = []
    for d in os.listdir("/proc"):
        if not d.isdigit():
            continue
        try:
            with open("/proc/%s/stat" % d) as f:
                s = f.read()
        except OSError:
            continue
        rest = s[s.rindex(")") + 2:].split()
        if int(rest[1]) == pid:
            out.append((int(d), rest[0], s[s.index("(") + 1: s.rindex(")")]))
    return out
