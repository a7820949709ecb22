#!/usr/bin/python3
"""Regenerates the seed corpora of tests/fuzz/corpus/<harness>/ (run from anywhere, with
/usr/bin/python3, which has msgpack). Deterministic except for the samples of the real /proc of
the machine it runs on (/proc/self/*, /proc/meminfo, /proc/pressure/memory, the own cgroup).

  fuzz_rpc:   4-byte header (max chunk size, 3 seed bytes; see fuzz_rpc.c) + msgpack-RPC stream
  fuzz_junit: the JUnit samples of tests/fixtures/xml/ as they are, plus a few edge cases
  fuzz_proc:  1 selector byte (parser, see fuzz_proc.c) + the text of a real /proc or cgroup file
  fuzz_pyparse: 1 selector byte (0 pyimports, 1 collection, 2 coverage) + 1 line byte + the
              fixture projects' Python files, a collection record, the coverage fixture
"""
import hashlib
import os
import shutil
import sys

import msgpack

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(os.path.dirname(HERE))
CORPUS = os.path.join(HERE, "corpus")
MAX_FILE = 16 * 1024  # keep the corpora small


def writer(harness):
    d = os.path.join(CORPUS, harness)
    shutil.rmtree(d, ignore_errors=True)
    os.makedirs(d)
    seen = set()

    def put(name, data):
        data = data[:MAX_FILE]
        h = hashlib.sha1(data).hexdigest()
        if h in seen:
            return
        seen.add(h)
        safe = "".join(c if c.isalnum() or c in "-_." else "_" for c in name)
        with open(os.path.join(d, f"{safe}-{h[:8]}"), "wb") as f:
            f.write(data)

    return put


def pk(obj):
    return msgpack.packb(obj, use_bin_type=True)


def rpc_corpus():
    put = writer("fuzz_rpc")
    streams = {
        "ping": [pk([0, 1, "ping", []])],
        "echo_types": [pk([0, 2, "echo", [1, -1, 2**63, -(2**63), 1.5, True, False, None,
                                         "str", b"bin\x00x", [1, [2, [3]]],
                                         {"k": {"n": 1}, 7: "int key", -3: "neg", b"b": 1}]])],
        "echo_ext": [pk([0, 3, "echo", [msgpack.ExtType(1, b"\x01\x02")]])],
        "types": [pk([0, 4, "types", ["x"]])],
        "fail": [pk([0, 5, "fail", [1, 2]])],
        "silent": [pk([0, 6, "silent", []])],
        "unknown": [pk([0, 7, "nope", []])],
        "notify": [pk([2, "echo", [1]]), pk([2, "fail", []]), pk([2, "nope", []])],
        "responses": [pk([1, 1, None, "ok"]), pk([1, 2, "boom", None]),
                      pk([1, 3, ["list", "error"], None]), pk([1, 1, None, 1]),
                      pk([1, 99, None, None])],
        "malformed": [pk("not an array"), pk([0, 1]), pk([0, -1, "ping", []]),
                      pk([0, 8, 5, []]), pk([0, 9, "ping", {"a": 1}]), pk([3, 1, 2, 3]),
                      pk([0, 10, "ping", [], "extra"]), pk([2, 1, []]), pk([])],
        "garbage_then_valid": [b"\xc1\xc1\xff garbage", pk([0, 11, "ping", []]),
                               b"\xc1", pk([0, 12, "echo", ["after"]])],
        "truncated": [pk([0, 13, "echo", ["x" * 100]])[:-20]],
        "server_methods": [
            pk([0, 14, "version", []]),
            pk([0, 15, "configure", [{"log_dir": "/tmp/x", "history_size": 20,
                                      "sample_interval_ms": 200, "status_interval_ms": 250,
                                      "editor_pid": 1234}]]),
            pk([0, 16, "run", [{"cwd": "/tmp/p", "args": ["-x", "tests/t.py::test_a"],
                                "python": "/usr/bin/python3", "timeout_ms": 60000,
                                "env": {"A": "1"}, "file": "tests/t.py"}]]),
            pk([0, 17, "cancel", []]), pk([0, 18, "mem", [{"pid": 1}]]),
            pk([0, 19, "history", []]), pk([0, 20, "history_get", [1]]),
            pk([2, "nvim_exec_lua", ["return 1", []]])],
        "deep": [pk([0, 21, "echo", [[[[[[[[[[[[[[[[[[[[[[[[[[[[[[1]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]])],
        "big_str": [pk([0, 22, "echo", ["y" * 3000, b"z" * 300]])],
    }
    for name, msgs in streams.items():
        stream = b"".join(msgs)
        for hdr in (b"\x00\x00\x00\x00", b"\x01\x12\x34\x56", b"\x07\xab\xcd\xef"):
            put(f"{name}-split{hdr[0]}", hdr + stream)
    everything = b"".join(b"".join(m) for m in streams.values())
    put("everything-split13", b"\x0d\x01\x02\x03" + everything)


def junit_corpus():
    put = writer("fuzz_junit")
    xml_dir = os.path.join(REPO, "tests", "fixtures", "xml")
    for name in sorted(os.listdir(xml_dir)):
        if name.endswith(".xml"):
            with open(os.path.join(xml_dir, name), "rb") as f:
                put(name, f.read())
    edge = {
        "empty_suites": b'<?xml version="1.0" encoding="utf-8"?><testsuites/>',
        "not_junit": b"<html><body/></html>",
        "doctype": b'<!DOCTYPE x [<!ENTITY a "b">]><testsuites/>',
        "comment_prolog": b"<!-- c --><testsuite name='s' time='1.5'><testcase name='t'/></testsuite>",
        "subtests": (b'<testsuites><testsuite name="pytest" time="0.1"><testcase classname="test_basic"'
                     b' name="test_sub" file="test_basic.py" line="3" time="0.01">'
                     b'<failure message="first">test_basic.py:5: AssertionError</failure>'
                     b'<error message="failed on teardown with &quot;x&quot;">E x</error>'
                     b'<skipped type="pytest.xfail" message="r"/></testcase>'
                     b'<testcase classname="" name="test_basic" time="0"><error message="collection failure">'
                     b'E   ImportError\nconftest.py:1: in &lt;module&gt;</error></testcase>'
                     b'<testcase classname="a.b" name="t[x::y]" time="7"><skipped message="xfail-marked'
                     b' test passes unexpectedly"/><system-out>out</system-out></testcase>'
                     b"</testsuite></testsuites>"),
        "truncated": b'<testsuites><testsuite><testcase name="t" classname="c"><failure message="m">abc',
        "entities": b'<testsuite><testcase name="&#x1B;&amp;&lt;" classname="&#233;" line="99999999999"'
                    b' time="1e9"/></testsuite>',
    }
    for name, data in edge.items():
        put(name, data)


PROC_SELECTORS = {
    "statm": 0, "status": 1, "limits": 2, "smaps_rollup": 3, "stat": 4, "maps": 5,
    "meminfo": 6, "pressure_memory": 7, "cgroup": 8,
    # cgroup controller files
    "memory.max": 12, "memory.current": 12, "memory.high": 12, "memory.peak": 12,
    "memory.swap.current": 12, "memory.swap.max": 12, "memory.limit_in_bytes": 12,
    "memory.usage_in_bytes": 12, "memory.max_usage_in_bytes": 12, "memory.failcnt": 12,
    "memory.memsw.usage_in_bytes": 12, "memory.memsw.limit_in_bytes": 12,
    "memory.events": 13, "memory.stat": 13, "memory.oom_control": 13,
}


def proc_selector(path):
    base = os.path.basename(path)
    if base == "mountinfo":
        return [9, 10]
    if base == "memory" and os.path.basename(os.path.dirname(path)) == "pressure":
        return [7]
    if base in PROC_SELECTORS:
        return [PROC_SELECTORS[base]]
    return []


def proc_corpus():
    put = writer("fuzz_proc")

    def add(path, label):
        sels = proc_selector(path)
        if not sels:
            return
        try:
            with open(path, "rb") as f:
                data = f.read(MAX_FILE)
        except OSError:
            return
        for s in sels:
            put(f"{s:02d}-{label}", bytes([s]) + data)

    fixtures = os.path.join(REPO, "tests", "fixtures", "proc")
    for dirpath, _dirs, files in sorted(os.walk(fixtures)):
        for name in sorted(files):
            p = os.path.join(dirpath, name)
            rel = os.path.relpath(p, fixtures)
            add(p, rel.split(os.sep)[0] + "-" + name)
    for p in ("/proc/self/status", "/proc/self/limits", "/proc/self/statm", "/proc/self/stat",
              "/proc/self/smaps_rollup", "/proc/self/maps", "/proc/meminfo",
              "/proc/pressure/memory", "/proc/self/cgroup", "/proc/self/mountinfo"):
        add(p, "real-" + os.path.basename(p))
    # The real cgroup of this process, when it is v2 and readable.
    try:
        with open("/proc/self/cgroup") as f:
            for line in f:
                if line.startswith("0::"):
                    d = "/sys/fs/cgroup" + line[3:].strip()
                    for name in ("memory.max", "memory.current", "memory.events", "memory.stat"):
                        add(os.path.join(d, name), "real-" + name)
    except OSError:
        pass
    for s, text in ((11, rb"/a\040b\011c\012d\134e\400f\0"), (11, rb"\\\\\1"),
                    (12, b"max\n"), (12, b"9223372036854771712\n"),
                    (12, b"18446744073709551616\n"), (4, b"1 (a) b) c) R 77 1 1"),
                    (9, b"30 1 0:26 /a\\040b /sys/fs/cgroup/memory rw - cgroup cgroup rw,memory\n")):
        put(f"{s:02d}-synthetic", bytes([s]) + text)


def pyparse_corpus():
    put = writer("fuzz_pyparse")
    fixtures = os.path.join(REPO, "tests", "fixtures")
    for proj in ("proj_watch", "proj_tree", "proj_fail"):
        for dirpath, _, files in sorted(os.walk(os.path.join(fixtures, proj))):
            for f in sorted(files):
                if f.endswith(".py"):
                    with open(os.path.join(dirpath, f), "rb") as fh:
                        put(f"0-{proj}-{f}", bytes([0, 0]) + fh.read())
    put("0-relative", bytes([0, 0]) + b"from ..a import (b,\n c)\nimport x.y as z; __import__(name)\n")
    collection = (b'{"items": [{"nodeid": "t.py::test_a", "file": "/p/t.py", "line": 1, "end": 3},'
                  b' {"nodeid": "t.py::T::test_b", "file": "/p/t.py", "line": 6, "end": 8}],'
                  b' "classes": [{"nodeid": "t.py::T", "file": "/p/t.py", "line": 5, "end": 8}],'
                  b' "errors": [{"nodeid": "u.py", "file": "/p/u.py", "message": "E   boom"}]}')
    put("1-collection", bytes([1, 7]) + collection)
    with open(os.path.join(fixtures, "coverage", "proj_cov.json"), "rb") as fh:
        put("2-proj_cov", bytes([2, 0]) + fh.read())


if __name__ == "__main__":
    which = sys.argv[1:] or ["rpc", "junit", "proc", "pyparse"]
    for w in which:
        {"rpc": rpc_corpus, "junit": junit_corpus, "proc": proc_corpus, "pyparse": pyparse_corpus}[w]()
    for h in sorted(os.listdir(CORPUS)):
        d = os.path.join(CORPUS, h)
        n = len(os.listdir(d))
        size = sum(os.path.getsize(os.path.join(d, x)) for x in os.listdir(d))
        print(f"{h}: {n} files, {size} bytes")
