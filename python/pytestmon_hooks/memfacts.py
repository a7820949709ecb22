"""A memory failure's facts, read in the process where it happened (``pytestmon.memfail``).

Owns what the plugin reads when a test fails for want of memory (MemoryError, an OSError with
errno ENOMEM; an xdist worker that died, told by the controller): the process's own numbers (VmSize, VmRSS,
VmData, its mappings), its RLIMIT_AS and RLIMIT_DATA, its cgroup's memory limit, use and OOM-kill
count (v2 ``memory.max``/``memory.current``/``memory.events``, v1 ``memory.limit_in_bytes``/
``memory.usage_in_bytes``/``memory.oom_control``; the limit is the lowest of the cgroup and its
ancestors), the system's overcommit policy, memory and OOM kills (``/proc/meminfo``, ``vm.*``,
``/proc/vmstat``); for a worker that died, the OOM-kill counts when the run started beside them. They travel
as one JSON object in the report (an xdist worker's on the report, as frames do) and the co-process
words them: which limit refused the allocation (src/mem/memfail.h). Nothing here runs unless a test
failed that way, so it is not on the per-test path; it reads a few small files and allocates little
(the process is short of memory).

``$PYTESTMON_PROC_ROOT`` (tests only) puts a fake /proc and /sys tree in place of the real one.
"""
import json
import os
import resource

_MEMFAIL_ATTR = "pytestmon_memfail"  # the report attribute of a worker's facts
_MEMFAIL = "pytestmon.memfail"
_ROOT_ENV = "PYTESTMON_PROC_ROOT"
# v1 "no limit" reads as the largest page-rounded signed 64-bit value: anything this large is none
_NO_LIMIT = 1 << 60


def _read(path):
    try:
        with open(path, "rb") as f:
            return f.read(1 << 16).decode("utf-8", "replace")
    except OSError:
        return None


def _lines(path):
    """The number of lines of a file of any length, or None."""
    try:
        n = 0
        with open(path, "rb") as f:
            for chunk in iter(lambda: f.read(1 << 16), b""):
                n += chunk.count(b"\n")
        return n
    except OSError:
        return None


def _int(text):
    try:
        return int(text.strip())
    except (AttributeError, ValueError):
        return None


def _kv(text, unit=1):
    """{key: int} of "Key:   123 kB" or "key 123" lines."""
    out = {}
    for line in (text or "").splitlines():
        parts = line.replace(":", " ").split()
        if len(parts) >= 2:
            try:
                out[parts[0]] = int(parts[1]) * unit
            except ValueError:
                pass
    return out


def _rlimit(which):
    soft, hard = resource.getrlimit(which)
    inf = resource.RLIM_INFINITY
    return [-1 if soft == inf else soft, -1 if hard == inf else hard]


def _unescape(path):
    """mountinfo escapes space, tab, newline and backslash as \\ooo."""
    if "\\" not in path:
        return path
    out, i = [], 0
    while i < len(path):
        if path[i] == "\\" and i + 3 < len(path) and path[i + 1:i + 4].isdigit():
            out.append(chr(int(path[i + 1:i + 4], 8)))
            i += 4
        else:
            out.append(path[i])
            i += 1
    return "".join(out)


def _cgroup_dir(root):
    """(version, cgroup path, its directory, the mount's directory) of this process's memory
    cgroup, or None."""
    v1 = v2 = None
    for line in (_read(root + "/proc/self/cgroup") or "").splitlines():
        parts = line.split(":", 2)
        if len(parts) != 3:
            continue
        path = parts[2]
        if path.endswith(" (deleted)"):
            path = path[:-10]
        if "memory" in parts[1].split(","):
            v1 = path
        elif parts[0] == "0" and parts[1] == "":
            v2 = path
    for line in (_read(root + "/proc/self/mountinfo") or "").splitlines():
        left, sep, right = line.partition(" - ")
        f, r = left.split(), right.split()
        if not sep or len(f) < 5 or len(r) < 3:
            continue
        fstype, opts = r[0], r[2].split(",")
        if v1 is not None and fstype == "cgroup" and "memory" in opts:
            version, path = 1, v1
        elif v1 is None and v2 is not None and fstype == "cgroup2":
            version, path = 2, v2
        else:
            continue
        mroot, mpoint = _unescape(f[3]), _unescape(f[4])
        if mroot != "/" and (path == mroot or path.startswith(mroot + "/")):
            rel = path[len(mroot):]
        elif mroot == "/":
            rel = path
        else:
            continue
        base = root + mpoint
        return version, path, base + rel.rstrip("/"), base
    return None


def _cgroup(root):
    where = _cgroup_dir(root)
    if where is None:
        return None
    version, path, d, top = where
    cg = {"version": version, "path": path}
    if version == 2:
        cg["usage"] = _int(_read(d + "/memory.current"))
        events = _kv(_read(d + "/memory.events"))
        cg["oom"], cg["oom_kill"] = events.get("oom"), events.get("oom_kill")
        limit, at = None, d
        while True:  # the lowest memory.max of the cgroup and its ancestors
            m = (_read(at + "/memory.max") or "").strip()
            if m and m != "max":
                v = _int(m)
                if v is not None and (limit is None or v < limit):
                    limit = v
            if len(at) <= len(top) or "/" not in at[len(top):]:
                break
            at = at.rsplit("/", 1)[0]
        cg["limit"] = -1 if limit is None else limit
    else:
        cg["usage"] = _int(_read(d + "/memory.usage_in_bytes"))
        limit = _int(_read(d + "/memory.limit_in_bytes"))
        hier = _kv(_read(d + "/memory.stat")).get("hierarchical_memory_limit")
        if hier is not None and (limit is None or hier < limit):
            limit = hier
        cg["limit"] = -1 if limit is None or limit >= _NO_LIMIT else limit
        oom = _kv(_read(d + "/memory.oom_control"))
        cg["oom_kill"] = oom.get("oom_kill")
    return {k: v for k, v in cg.items() if v is not None}


def _vm_oom_kill(root):
    """The system's count of OOM kills (/proc/vmstat, kernel 4.13+), or None."""
    return _kv(_read(root + "/proc/vmstat")).get("oom_kill")


def oom_counts():
    """{"cgroup": n, "vm": n}: the OOM-kill counts of this process's cgroup and of the system
    now, the baseline a worker's death is compared with (missing ones absent)."""
    root = os.environ.get(_ROOT_ENV, "")
    counts = {"vm": _vm_oom_kill(root)}
    try:
        counts["cgroup"] = (_cgroup(root) or {}).get("oom_kill")
    except Exception:
        pass
    return {k: v for k, v in counts.items() if v is not None}


def read_facts(what, own=True, before=None):
    """The facts as a JSON text; `what` names the failure ("MemoryError", "OSError: [Errno 12]",
    "crash": an xdist worker died, told by the controller: `own` False leaves out its process's
    numbers, which are not the worker's; `before`: oom_counts() when the run started)."""
    root = os.environ.get(_ROOT_ENV, "")
    facts = {"what": what}
    if own:
        status = _kv(_read(root + "/proc/self/status"), 1024)
        for key, name in (("VmSize", "vm_size"), ("VmRSS", "vm_rss"), ("VmData", "vm_data"), ("VmHWM", "vm_hwm")):
            if key in status:
                facts[name] = status[key]
        try:
            facts["rlimit_as"] = _rlimit(resource.RLIMIT_AS)
            facts["rlimit_data"] = _rlimit(resource.RLIMIT_DATA)
        except (OSError, ValueError):
            pass
        n = _lines(root + "/proc/self/maps")
        if n is not None:
            facts["map_count"] = n
    for key, path in (("max_map_count", "/proc/sys/vm/max_map_count"),
                      ("overcommit_memory", "/proc/sys/vm/overcommit_memory")):
        v = _int(_read(root + path))
        if v is not None:
            facts[key] = v
    mem = _kv(_read(root + "/proc/meminfo"), 1024)
    for key, name in (("MemTotal", "mem_total"), ("MemAvailable", "mem_available"), ("SwapTotal", "swap_total"),
                      ("SwapFree", "swap_free"), ("CommitLimit", "commit_limit"), ("Committed_AS", "committed_as")):
        if key in mem:
            facts[name] = mem[key]
    before = before or {}
    v = _vm_oom_kill(root)
    if v is not None:
        facts["vm_oom_kill"] = v
        if "vm" in before:
            facts["vm_oom_kill_before"] = before["vm"]
    try:
        cg = _cgroup(root)
    except Exception:
        cg = None
    if cg:
        if "cgroup" in before:
            cg["oom_kill_before"] = before["cgroup"]
        facts["cgroup"] = cg
    return json.dumps(facts, separators=(",", ":"))


def failure_property(excinfo):
    """The report property of the facts of a phase that raised a memory failure (plugin.py
    decides that it is one), written as it is."""
    exc = excinfo.value
    what = "MemoryError" if isinstance(exc, MemoryError) else "%s: [Errno 12]" % type(exc).__name__
    return property_of(read_facts(what))


def crash_property(before):
    """The report property of the facts of an xdist worker that died (the controller's reading:
    its cgroup's and the system's OOM kills against `before`, oom_counts() at the start)."""
    return property_of(read_facts("crash", own=False, before=before))


def property_of(facts):
    """The report property of a failure's facts."""
    from .text import _attr

    return '<property name="%s" value="%s"/>' % (_MEMFAIL, _attr(facts))
