"""Paths back to where the editor sees them, for a pytest run through a prefix (a container,
another host: the ``path_map`` option).

Owns ``to_host``: the map is ``$PYTESTMON_PATHMAP`` (a JSON list of [inside, host] pairs, set by
src/pytest/launch.c, whose src/base/pathmap.c maps the other way with the same rule: the
longest entry matching whole components wins). Every path the plugin writes for the co-process
(a failure's frames, the collection record's files and rootdir, the session's rootdir, the
coverage report's files) goes through it; without the variable it returns its argument.
Also owns the prefix's lifetime rule (``watch_stdin``): behind ``docker exec -i`` or ssh, the
co-process holds our stdin open while it wants us, and a killed client does not end us.
"""
import os

_MAP_ENV = "PYTESTMON_PATHMAP"
_STDIN_ENV = "PYTESTMON_STDIN_EOF"


def _load():
    text = os.environ.get(_MAP_ENV)
    if not text:
        return ()
    try:
        import json

        pairs = [(str(a).rstrip("/") or "/", str(b).rstrip("/") or "/") for a, b in json.loads(text)]
    except Exception:
        return ()
    return tuple(sorted(pairs, key=lambda p: -len(p[0])))


_PAIRS = _load()
BEHIND_PREFIX = os.environ.get(_MAP_ENV) is not None  # launch.c sets it for every prefixed run
LIMITS_FILE = "limits.json"  # beside the report (src/pytest/runner.c reads it)


def to_host(path):
    """``path`` (absolute, as pytest sees it) as the editor sees it: unchanged when no entry maps it."""
    if not _PAIRS or not isinstance(path, str) or not path.startswith("/"):
        return path
    for inside, host in _PAIRS:
        if inside == "/":
            return host + path if host != "/" else path
        if path == inside or path.startswith(inside + "/"):
            rest = path[len(inside):]
            return (host + rest) if host != "/" else (rest or "/")
    return path


_TEXT_RE = None


def text_to_host(text):
    """A failure's text with every path below a mapped directory as the editor sees it (the
    traceback's "/app/t.py:3:" lines: the co-process locates a failure without frames, a
    doctest's, from them, and the user reads them)."""
    global _TEXT_RE
    if not _PAIRS or "/" not in text:
        return text
    if _TEXT_RE is None:
        import re

        alts = "|".join(re.escape(inside) for inside, _ in _PAIRS if inside != "/")
        if not alts:
            return text
        # a whole path's start: not inside a longer path or word
        _TEXT_RE = re.compile(r"(?<![\w./~-])(?:%s)(?=[/\s:\"']|$)" % alts)
    hosts = {inside: host for inside, host in _PAIRS}
    return _TEXT_RE.sub(lambda m: hosts[m.group(0)], text)


def write_limits(report_path):
    """Behind a prefix: the memory limits where pytest runs (memfacts.read_facts: its cgroup's
    limit and OOM-kill count, the system's), beside the report, at the start: a pytest the OOM
    killer ends there says nothing more, and the co-process here sees only its client's exit."""
    try:
        from .memfacts import read_facts

        text = read_facts("start", own=False)
        with open(os.path.join(os.path.dirname(report_path), LIMITS_FILE), "w", encoding="utf-8") as f:
            f.write(text)
    except Exception:
        pass


def watch_stdin():
    """Behind a prefix (``$PYTESTMON_STDIN_EOF``): a daemon thread reads stdin, and at its end (the
    co-process cancelled the run, or died) ends this process with SIGTERM, then SIGKILL after 3 s.
    Once per process: pytest's (xdist's workers get their own stdin from execnet). Called when
    pytest imports the plugin (``-p``), before its capture replaces fd 0."""
    if os.environ.pop(_STDIN_ENV, None) != "1":
        return
    import threading

    try:
        fd = os.dup(0)  # pytest's capture puts /dev/null on fd 0 later
    except OSError:
        return

    def wait():
        try:
            while os.read(fd, 4096):
                pass
        except OSError:
            pass
        import signal
        import time

        os.kill(os.getpid(), signal.SIGTERM)
        time.sleep(3)
        os.kill(os.getpid(), signal.SIGKILL)

    threading.Thread(target=wait, name="pytestmon-stdin", daemon=True).start()
