"""The one msgpack-RPC client of `pytestmon --rpc` that the integration tests, the valgrind
session (tests/fuzz/rpc_session.py) and the bench (bench/rpcclient.py) share.

It plays the editor's side of the pipe: requests are `[0, id, method, params]`, answers
`[1, id, error, result]`, events arrive as notifications `[2, "nvim_exec_lua", [code, [name,
payload]]]`. Every wait has a deadline; a co-process that closes its stdout fails the wait at
once. Requests the co-process might send to the editor are answered with nil (and kept in
`pending`, so a test can see them). Messages that arrive while waiting for another are kept in
`pending` in arrival order, with their arrival time (`arrived_at`, time.monotonic())."""
import os
import select
import subprocess
import time

import msgpack


class RpcPeer:
    def __init__(self, cmd, env=None, preexec_fn=None, stderr=subprocess.PIPE):
        self.proc = subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                     stderr=stderr, env=env, preexec_fn=preexec_fn, bufsize=0)
        self.unpacker = msgpack.Unpacker(raw=False, strict_map_key=False)
        self.pending = []      # messages not taken yet, in arrival order
        self.arrived_at = {}   # id(message) -> time.monotonic() of its arrival, while pending
        self.seen_events = []  # (name, payload) of every event taken by event()
        self.msgid = 0         # the last id call() used

    def send(self, data):
        """Writes bytes, or packs a message first."""
        if not isinstance(data, (bytes, bytearray)):
            data = msgpack.packb(data, use_bin_type=True)
        self.proc.stdin.write(data)
        self.proc.stdin.flush()

    def request(self, msgid, method, params):
        self.send([0, msgid, method, params])

    def _read(self, remaining):
        r, _, _ = select.select([self.proc.stdout], [], [], max(remaining, 0))
        if not r:
            return
        chunk = os.read(self.proc.stdout.fileno(), 1 << 20)
        if not chunk:
            raise AssertionError(f"the co-process closed its stdout; got {self.pending}")
        self.unpacker.feed(chunk)
        now = time.monotonic()
        for m in self.unpacker:
            if m[0] == 0:  # a request to the editor: answer it
                self.send([1, m[1], None, None])
            self.pending.append(m)
            self.arrived_at[id(m)] = now

    def next_message(self, timeout=10, want=None):
        """The first pending message matching `want` (any when None), waiting with a deadline."""
        return self.next_message_at(timeout, want)[1]

    def next_message_at(self, timeout=10, want=None, drop_older=False):
        """(arrival time, message) of next_message(); drop_older: the pending messages before it
        are dropped too (a long bench would otherwise keep every event it did not ask for)."""
        deadline = time.monotonic() + timeout
        while True:
            for i, m in enumerate(self.pending):
                if want is None or want(m):
                    first = 0 if drop_older else i
                    for old in self.pending[first:i + 1]:
                        if old is not m:
                            self.arrived_at.pop(id(old))
                    del self.pending[first:i + 1]
                    return self.arrived_at.pop(id(m)), m
            remaining = deadline - time.monotonic()
            assert remaining > 0, f"no message within {timeout}s; got {self.pending}"
            self._read(remaining)

    def response(self, msgid, timeout=10):
        return self.next_message(timeout, lambda m: m[0] == 1 and m[1] == msgid)

    def call(self, method, params, timeout=10):
        """Sends a request with the next id; its result, or RuntimeError with its error."""
        self.msgid += 1
        self.send([0, self.msgid, method, params])
        m = self.response(self.msgid, timeout)
        if m[2] is not None:
            raise RuntimeError(f"{method} failed: {m[2]!r}")
        return m[3]

    def event_at(self, name, timeout=30, want=None, drop_older=False):
        """(arrival time, payload) of the next `name` event whose payload matches `want`."""
        t, m = self.next_message_at(timeout, lambda m: m[0] == 2 and m[1] == "nvim_exec_lua"
                                    and m[2][1][0] == name and (want is None or want(m[2][1][1])),
                                    drop_older)
        self.seen_events.append((name, m[2][1][1]))
        return t, m[2][1][1]

    def event(self, name, timeout=30, want=None):
        return self.event_at(name, timeout, want)[1]

    def close(self):
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait(10)
