"""Minimal msgpack-RPC driver of `build/pytestmon --rpc` (the co-process Neovim talks to).

Requests are `[0, id, method, params]`; events arrive as notifications
`[2, "nvim_exec_lua", [code, [name, payload]]]`. Requests the co-process might send to the
editor are answered with nil.
"""
import os
import subprocess
import time

import msgpack


class CoProcess:
    def __init__(self, binary, env=None):
        if env is None:  # as lua/pytest/client.lua starts it: glibc's tcache off
            user = os.environ.get("GLIBC_TUNABLES", "")
            env = dict(os.environ, PYTESTMON_CHILD_GLIBC_TUNABLES=user,
                       GLIBC_TUNABLES=(user + ":" if user else "") + "glibc.malloc.tcache_count=0")
        self.p = subprocess.Popen([binary, "--rpc"], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                  stderr=subprocess.DEVNULL, env=env, bufsize=0)
        self.pid = self.p.pid
        self.unpacker = msgpack.Unpacker(raw=False, strict_map_key=False)
        self.next_id = 1
        self.events = []  # (monotonic seconds, name, payload)

    def _send(self, msg):
        self.p.stdin.write(msgpack.packb(msg, use_bin_type=True))
        self.p.stdin.flush()

    def _pump(self):
        data = os.read(self.p.stdout.fileno(), 1 << 20)
        if not data:
            raise EOFError("co-process closed its stdout")
        self.unpacker.feed(data)
        out = []
        for msg in self.unpacker:
            if msg[0] == 2 and msg[1] == "nvim_exec_lua":
                name, payload = msg[2][1][0], msg[2][1][1]
                self.events.append((time.monotonic(), name, payload))
            elif msg[0] == 0:  # a request to the editor: answer nil
                self._send([1, msg[1], None, None])
            out.append(msg)
        return out

    def request(self, method, *params):
        rid = self.next_id
        self.next_id += 1
        self._send([0, rid, method, list(params)])
        while True:
            for msg in self._pump():
                if msg[0] == 1 and msg[1] == rid:
                    if msg[2] is not None:
                        raise RuntimeError("%s failed: %r" % (method, msg[2]))
                    return msg[3]

    def wait_event(self, name, run_id=None, timeout=600):
        deadline = time.monotonic() + timeout
        while True:
            for i, (t, n, p) in enumerate(self.events):
                if n == name and (run_id is None or p.get("run_id") == run_id):
                    del self.events[: i + 1]
                    return t, p
            if time.monotonic() > deadline:
                raise TimeoutError("no %s event" % name)
            self._pump()

    def run(self, cwd, args=(), python="/usr/bin/python3", timeout=600):
        rid = self.request("run", {"cwd": cwd, "python": python, "args": list(args)})
        return self.wait_event("finished", rid, timeout)[1]

    def close(self):
        try:
            self.p.stdin.close()
        except OSError:
            pass
        try:
            self.p.wait(5)
        except subprocess.TimeoutExpired:
            self.p.kill()
            self.p.wait()


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
