"""A small Debug Adapter Protocol client for the :PytestDebug tests: JSON messages with
Content-Length framing, over a TCP connection (to 127.0.0.1 only: the co-process's debug
endpoint) or a child's stdio (debugpy's adapter). Every wait has a deadline; no threads.

    dap = DapClient.connect(port)           # or DapClient.spawn([python, "-m", "debugpy.adapter"])
    dap.request("initialize", {...})
    ...
    dap.close()
"""
import json
import os
import select
import socket
import subprocess
import time


class DapError(AssertionError):
    pass


class DapClient:
    def __init__(self, read_fd, write, closer, proc=None):
        self._fd = read_fd
        self._write = write
        self._closer = closer
        self.proc = proc
        self._buf = b""
        self._seq = 0
        self.pending = []   # messages read but not consumed yet
        self.seen = []      # every message read, for failure messages

    @classmethod
    def connect(cls, port, host="127.0.0.1", timeout=20.0, retry=True):
        """Connect to a listening debugpy, retrying until it listens (deadline `timeout`); with
        retry=False one attempt only (an announced endpoint must accept at once)."""
        assert host == "127.0.0.1", "the tests connect to 127.0.0.1 only"
        deadline = time.monotonic() + timeout
        while True:
            try:
                sock = socket.create_connection((host, port), timeout=2)
                break
            except OSError as e:
                if not retry:
                    raise DapError(f"{host}:{port} refused the connection: {e}")
                if time.monotonic() > deadline:
                    raise DapError(f"nothing listens on {host}:{port} after {timeout}s")
                time.sleep(0.1)
        sock.setblocking(True)
        return cls(sock.fileno(), sock.sendall, sock.close)

    @classmethod
    def spawn(cls, argv, **kw):
        """Start a debug adapter speaking DAP on its stdio."""
        proc = subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE, **kw)

        def write(data):
            proc.stdin.write(data)
            proc.stdin.flush()

        def close():
            for f in (proc.stdin, proc.stdout):
                try:
                    f.close()
                except OSError:
                    pass

        return cls(proc.stdout.fileno(), write, close, proc)

    # ---- framing ----------------------------------------------------------------------

    def send(self, msg):
        body = json.dumps(msg).encode()
        self._write(b"Content-Length: %d\r\n\r\n" % len(body) + body)

    def _parse(self):
        while True:
            head, sep, rest = self._buf.partition(b"\r\n\r\n")
            if not sep:
                return
            length = None
            for line in head.split(b"\r\n"):
                name, _, value = line.partition(b":")
                if name.strip().lower() == b"content-length":
                    length = int(value)
            assert length is not None, f"DAP header without Content-Length: {head!r}"
            if len(rest) < length:
                return
            msg = json.loads(rest[:length])
            self._buf = rest[length:]
            self.pending.append(msg)
            self.seen.append(msg)

    def next_message(self, want, timeout=20.0, what="a message"):
        deadline = time.monotonic() + timeout
        while True:
            for i, m in enumerate(self.pending):
                if want(m):
                    return self.pending.pop(i)
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise DapError(f"no {what} within {timeout}s; seen: {self._summary()}")
            r, _, _ = select.select([self._fd], [], [], remaining)
            if not r:
                continue
            chunk = os.read(self._fd, 65536)
            if not chunk:
                # The peer closed: whatever is pending is all there is.
                for i, m in enumerate(self.pending):
                    if want(m):
                        return self.pending.pop(i)
                raise DapError(f"connection closed before {what}; seen: {self._summary()}")
            self._buf += chunk
            self._parse()

    def _summary(self):
        out = []
        for m in self.seen[-30:]:
            if m.get("type") == "event":
                out.append(f"event {m.get('event')} {json.dumps(m.get('body'))[:300]}")
            elif m.get("type") == "response":
                out.append(f"response {m.get('command')} success={m.get('success')} {m.get('message', '')}")
            else:
                out.append(f"{m.get('type')} {m.get('command')}")
        return "; ".join(out)

    # ---- requests and events -----------------------------------------------------------

    def request(self, command, arguments=None):
        """Send a request; returns its seq (wait for the answer with response())."""
        self._seq += 1
        msg = {"seq": self._seq, "type": "request", "command": command}
        if arguments is not None:
            msg["arguments"] = arguments
        self.send(msg)
        return self._seq

    def response(self, seq, timeout=20.0):
        m = self.next_message(lambda m: m.get("type") == "response" and m.get("request_seq") == seq,
                              timeout, f"response to request {seq}")
        if not m.get("success"):
            raise DapError(f"{m.get('command')} failed: {m.get('message')} {m.get('body')}")
        return m.get("body") or {}

    def call(self, command, arguments=None, timeout=20.0):
        return self.response(self.request(command, arguments), timeout)

    def event(self, name, timeout=20.0):
        return self.next_message(lambda m: m.get("type") == "event" and m.get("event") == name,
                                 timeout, f"event {name!r}").get("body") or {}

    def close(self):
        self._closer()
        if self.proc is not None:
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)


INITIALIZE = {
    "clientID": "pytestmon-tests",
    "adapterID": "python",
    "linesStartAt1": True,
    "columnsStartAt1": True,
    "pathFormat": "path",
    "supportsRunInTerminalRequest": False,
}


def stop_at_breakpoint(dap, start_command, start_args, path, line, timeout=60.0):
    """initialize, launch/attach (start_command), setBreakpoints at path:line, configurationDone;
    wait until the debuggee stops there (reason breakpoint, top frame at path:line); continue.
    Returns the top frame."""
    dap.call("initialize", INITIALIZE)
    start = dap.request(start_command, start_args)
    dap.event("initialized", timeout)
    bps = dap.call("setBreakpoints", {"source": {"path": path}, "breakpoints": [{"line": line}]})
    assert bps["breakpoints"] and bps["breakpoints"][0].get("verified", True), bps
    dap.call("configurationDone", {})
    dap.response(start, timeout)
    stopped = dap.event("stopped", timeout)
    assert stopped.get("reason") == "breakpoint", stopped
    trace = dap.call("stackTrace", {"threadId": stopped["threadId"], "startFrame": 0, "levels": 1})
    top = trace["stackFrames"][0]
    dap.call("continue", {"threadId": stopped["threadId"]})
    return top
