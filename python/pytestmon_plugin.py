"""pytestmon's pytest plugin: exact facts from pytest itself, for the pytestmon co-process.

Loaded by the co-process with ``-p pytestmon_plugin`` (this directory is put first on the
child's PYTHONPATH) and active only when ``PYTESTMON_REPORT`` names a file: then it writes
there, as the run goes, a JUnit-shaped XML report (the xunit1 dialect pytest's own junitxml
writes, which the co-process's libxml2 reader already reads), whatever the user did to
pytest's junitxml (``-p no:junitxml``, their own ``--junitxml``) or to the terminal
(``--tb=no``, ``-q``, ``-p no:terminal``). Beyond pytest's junitxml each testcase carries:

- ``nodeid``: pytest's node id, verbatim (no rebuilding from the mangled classname);
- ``<property name="pytestmon.frames" value="[[path, line], ...]">``: the traceback entries
  of the failure in the user's code, outermost first (absolute paths, 1-based lines), read
  from ``excinfo.traceback`` whatever ``--tb`` says, without pytest's, pluggy's, the
  standard library's or installed packages' frames and without ``__tracebackhide__`` ones;
- ``<property name="pytestmon.rss" value="[rss_at_start, peak]">``: bytes, measured in the
  process that ran the test (an xdist worker's too): ``/proc/self/clear_refs`` is reset to "5" when
  the test starts (its RSS read then, from statm) and VmHWM read after its teardown, so a test that touches
  200 MB for 5 ms is measured exactly. Absent where clear_refs cannot be written;
- ``<system-out>``/``<system-err>``: the test's captured stdout, and its captured stderr and log
  (setup, call and teardown), each at most 64 KiB (cut with a note saying how much there was);

and the suite carries ``pytestmon.counts``: pytest's own numbers (``pytest_report_teststatus``
categories, as the terminal summary counts them, plus ``deselected``).

The stream also tells, as the run goes (so that the co-process can show live progress without
reading pytest's terminal, which therefore shows what the user chose: no -v is forced):
``<pytestmon-session rootdir="..."/>`` first (pytest's rootdir: the testcases' files are
relative to it), ``<pytestmon-collected count="N"/>`` once the number of tests to run is known and
``<pytestmon-start nodeid="..."/>`` when a test starts (both written by the controller under
xdist). Readers of pytest's own junitxml ignore unknown elements.

When ``PYTESTMON_COLLECT`` names a file (with or without ``PYTESTMON_REPORT``), what pytest
collected is written there as JSON once collection ends: every item's node id, file and source
line range (decorators included; an inherited test's is in its base class's file), the classes
around them (each in its own file) and the collection errors (node id, file, pytest's report
text) (src/parse/collection.h).

When ``PYTESTMON_COVERAGE`` names a file (:PytestCoverage, the run has pytest-cov's ``--cov``),
coverage.py's JSON report of pytest-cov's combined data is written there at session end
(src/parse/coverage.h reads it): pytest-cov before 4.1 has no JSON report of its own. When coverage.py
cannot write it, ``{"pytestmon_error": "..."}`` is written instead.

Testcases are written when a test's teardown is reported and the document is closed at session
end. The file is read while it grows: a test's start and a failure are flushed at once, a passed
testcase with the next start (at most 50 ms later; at once on xdist's controller), and what is
buffered when pytest exits without closing the document is flushed at exit. Under xdist the workers only
compute frames and memory (they travel in ``report.user_properties``); the controller writes.

Must import on every interpreter pytest 7+ runs on (Python 3.7+) and must never break a run:
every hook body is guarded, and a failure switches the plugin off with one warning.
"""
import atexit
import json
import os
import re
import resource
import sys
import sysconfig
import time

import pytest

_FRAMES = "pytestmon.frames"
_RSS = "pytestmon.rss"
_OUTPUT_MAX = 64 * 1024
_FLUSH_S = 0.05    # a passed test's result is in the file within this (the co-process polls every 50 ms)
_UNKNOWN = object()
_ENV = "PYTESTMON_REPORT"
_COLLECT_ENV = "PYTESTMON_COLLECT"
_COVERAGE_ENV = "PYTESTMON_COVERAGE"


def _library_dirs():
    """Directories whose code is not the user's: the standard library, installed packages
    (of this interpreter and of the one a venv was made from), pytest and pluggy."""
    dirs = set()
    for scheme_vars in ({}, {"base": sys.base_prefix, "platbase": sys.base_exec_prefix}):
        try:
            paths = sysconfig.get_paths(vars=scheme_vars) if scheme_vars else sysconfig.get_paths()
        except Exception:
            continue
        for key in ("stdlib", "platstdlib", "purelib", "platlib"):
            if paths.get(key):
                dirs.add(paths[key])
    for path in sys.path:
        if path.endswith(("site-packages", "dist-packages")):
            dirs.add(path)
    import _pytest
    import pluggy

    dirs.add(os.path.dirname(_pytest.__file__))
    dirs.add(os.path.dirname(pluggy.__file__))
    dirs.add(os.path.dirname(pytest.__file__))
    out = set()
    for d in dirs:
        out.add(os.path.join(os.path.abspath(d), ""))
        out.add(os.path.join(os.path.realpath(d), ""))
    return tuple(sorted(out))


def _hidden(entry, excinfo):
    try:
        return entry.ishidden(excinfo)  # pytest 8.1+
    except TypeError:
        return entry.ishidden()
    except Exception:
        return False


def user_frames(excinfo, library):
    """[[abs path, 1-based line], ...] of the traceback entries in the user's code."""
    frames = []
    for entry in excinfo.traceback:
        path = os.path.abspath(str(entry.path))
        if path.startswith(library) or not os.path.isabs(path) or _hidden(entry, excinfo):
            continue
        frames.append([path, entry.lineno + 1])
    return frames


def _mangle(nodeid):
    """classname and name as pytest's junitxml writes them (xunit1)."""
    names = nodeid.split("::")
    names[0] = names[0].replace("/", ".")
    if names[0].endswith(".py"):
        names[0] = names[0][:-3]
    base = names[:-1]
    return ".".join(base), names[-1]


_ESCAPES = str.maketrans({"&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "\n": "&#10;",
                          "\r": "&#13;", "\t": "&#9;"})
_TEXT_ESCAPES = str.maketrans({"&": "&amp;", "<": "&lt;", ">": "&gt;"})
# Characters XML 1.0 forbids become the literal text "#xHH", as pytest's junitxml writes them.
_FORBIDDEN = {c: "#x%02X" % c for c in list(range(0, 9)) + [11, 12] + list(range(14, 32))}
_FORBIDDEN.update({c: "#x%X" % c for c in (0xFFFE, 0xFFFF)})


def _clean(s):
    s = s.translate(_FORBIDDEN)
    try:
        s.encode("utf-8")
    except UnicodeEncodeError:  # lone surrogates
        s = s.encode("utf-8", "replace").decode("utf-8")
    return s


# Printable ASCII but for the characters XML escapes: the common node id, name or path, which
# _attr returns as it is (a third of the time of the translations, per test).
_PLAIN = re.compile(r"[ !#-%'-;=?-~]*\Z").match


def _attr(s):
    s = str(s)
    return s if _PLAIN(s) else _clean(s).translate(_ESCAPES)


def _text(s):
    return _clean(str(s)).translate(_TEXT_ESCAPES)


def _longrepr_text(rep):
    try:
        return str(rep.longrepr) if rep.longrepr is not None else ""
    except Exception as e:  # a repr that fails to render must not lose the result
        return "(pytestmon: cannot render the report: %r)" % (e,)


def _crash_message(rep):
    """As pytest's junitxml: the crash line's message, else the whole report text."""
    crash = getattr(rep.longrepr, "reprcrash", None)
    msg = getattr(crash, "message", None)
    return msg if msg is not None else _longrepr_text(rep)


def _property_of(rep, key):
    for name, value in getattr(rep, "user_properties", ()) or ():
        if name == key:
            return value
    return None


def _frames_of(rep):
    return _property_of(rep, _FRAMES)


def _capped(text):
    """At most _OUTPUT_MAX characters of text, cut with a note saying how much there was."""
    if len(text) <= _OUTPUT_MAX:
        return text
    return text[:_OUTPUT_MAX] + "\n[... pytestmon: cut, %d characters in all]\n" % len(text)


def _captured(rep):
    """(stdout, stderr + log) captured during the test's phases, from its last report's
    sections ("Captured stdout call", "Captured log setup", ...): each a string, maybe ""."""
    out, err = [], []
    for title, content in getattr(rep, "sections", ()) or ():
        if not content:
            continue
        if title.startswith("Captured stdout"):
            out.append(content)
        elif title.startswith("Captured stderr"):
            err.append(content)
        elif title.startswith("Captured log"):
            err.append("--- %s ---\n%s" % (title[9:], content))
    return "".join(out), "".join(err)


class RssMeter:
    """Exact peak RSS of one test in the process that runs it (see the module docstring).

    Writing "5" to /proc/self/clear_refs resets the kernel's peak RSS of this process to its
    current RSS. The peak is then read with getrusage() (ru_maxrss, ~1 us) rather than from
    /proc/self/status (VmHWM, ~8 us: the kernel formats the whole file), which matters in suites
    of 20,000 tests. getrusage() reports max(peak, the peak of this process's exited threads at
    the time they exited), and that second value survives the reset: once a thread has exited
    above the current RSS, ru_maxrss after a reset no longer equals the current RSS (statm), and
    the meter reads VmHWM from status from then on. The /proc files stay open and are read with
    pread at offset 0, which regenerates them."""

    def __init__(self):
        self.page = os.sysconf("SC_PAGE_SIZE")
        self.start = None
        self.pid = None
        self.fds = None
        self.sticky = False  # getrusage() is above the real peak: read VmHWM

    def _open(self):
        """The three files of this process (a forked process opens its own)."""
        self.close()
        fds = []
        try:
            fds.append(os.open("/proc/self/clear_refs", os.O_WRONLY | os.O_CLOEXEC))
            fds.append(os.open("/proc/self/statm", os.O_RDONLY | os.O_CLOEXEC))
            fds.append(os.open("/proc/self/status", os.O_RDONLY | os.O_CLOEXEC))
        except OSError:
            for fd in fds:
                os.close(fd)
            fds = []
        self.fds = fds
        self.pid = os.getpid()
        self.sticky = False

    def close(self):
        for fd in self.fds or ():
            try:
                os.close(fd)
            except OSError:
                pass
        self.fds = None

    def begin(self):
        self.start = None
        if self.pid != os.getpid():
            self._open()
        if not self.fds:
            return
        try:
            os.write(self.fds[0], b"5")
            self.start = int(os.pread(self.fds[1], 128, 0).split()[1]) * self.page
            if not self.sticky:
                # Equal to the RSS just reset to, but for the pages touched between the two
                # calls; more than a little above it: an exited thread's peak is in the way.
                self.sticky = _maxrss() - self.start > 1024 * 1024
        except (OSError, ValueError, IndexError):
            self.close()
            self.fds = []

    def _hwm(self):
        status = os.pread(self.fds[2], 4096, 0)
        i = status.find(b"VmHWM:")
        return int(status[i + 6:status.index(b"kB", i)]) * 1024 if i >= 0 else None

    def end(self):
        """[rss_at_start, peak] in bytes, or None."""
        start, self.start = self.start, None
        if start is None or not self.fds or self.pid != os.getpid():
            return None
        try:
            peak = self._hwm() if self.sticky else _maxrss()
            return None if peak is None else [start, max(peak, start)]
        except (OSError, ValueError):
            return None


def _maxrss():
    """This process's peak RSS in bytes as getrusage() tells it (ru_maxrss is in KiB on Linux)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


def _terminal_reporter(config):
    """pytest's terminal reporter when it keeps `stats` (its counts), else None (-p no:terminal)."""
    tr = config.pluginmanager.get_plugin("terminalreporter")
    return tr if isinstance(getattr(tr, "stats", None), dict) else None


def _terminal_category(rep):
    """What pytest's terminal plugin would call this report (_pytest/terminal.py)."""
    if rep.outcome == "failed" and getattr(rep, "when", "call") != "call":
        return "error"
    return rep.outcome


class Writer:
    """Owns the report file; writes one <testcase> per finished test."""

    def __init__(self, config, path):
        self.config = config
        self.path = path
        self.fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC, 0o600)
        self.buf = []          # text written since the last flush
        self.flushed_at = 0.0  # time.monotonic() of the last flush
        self.pid = os.getpid()
        # pytest can die after the tests without reaching pytest_sessionfinish (an exception in
        # its own clean-up): what is buffered still reaches the file (not in a forked child).
        atexit.register(self.flush_at_exit)
        self.write('<?xml version="1.0" encoding="utf-8"?><testsuites><testsuite name="pytest">')
        root = config.rootpath if hasattr(config, "rootpath") else config.rootdir
        self.write('<pytestmon-session rootdir="%s"/>' % _attr(root))
        self.flush()
        self.pending = {}   # nodeid -> reports of the test so far
        self.terminal = _UNKNOWN  # pytest's terminal reporter, once known (None: -p no:terminal)
        self.eager = False  # flush every testcase (xdist's controller: see flush_soon)
        self.counts = {}
        self.closed = False

    def write(self, text):
        self.buf.append(text)

    def flush(self):
        """One write(2) of everything buffered: the co-process reads the file as it grows."""
        data = "".join(self.buf).encode("utf-8")
        self.buf = []
        self.flushed_at = time.monotonic()
        view = memoryview(data)
        while view:
            view = view[os.write(self.fd, view):]

    def flush_at_exit(self):
        if not self.closed and self.buf and os.getpid() == self.pid:
            try:
                self.flush()
            except OSError:
                pass

    def flush_soon(self):
        """After a passed testcase: in one process the next test's start follows at once (and is
        flushed: a test that runs long is seen running) or the session's end does, so the
        testcase waits at most _FLUSH_S for it (one write per test costs more than the rest of
        what the plugin does for a test). xdist's controller (`eager`) hears results while
        other workers' tests run for as long as they take: it flushes every one."""
        if self.eager or time.monotonic() - self.flushed_at >= _FLUSH_S:
            self.flush()

    def count(self, rep):
        """Counts rep as pytest's terminal does, unless the terminal counts (its `stats`, read at
        close, are what pytest's closing line says: no second hook call per test)."""
        if self.terminal is _UNKNOWN:
            self.terminal = _terminal_reporter(self.config)
        if self.terminal is not None:
            return
        if rep.passed and getattr(rep, "when", "call") in ("setup", "teardown"):
            return  # no category (pytest's runner hook says ""): skip two hook calls per test
        try:
            res = self.config.hook.pytest_report_teststatus(report=rep, config=self.config)
            # None: no plugin decided (-p no:terminal, whose hook is the last resort): decide as
            # it does (a phase other than the call that failed is an error).
            category = res[0] if res else _terminal_category(rep)
        except Exception:
            category = rep.outcome
        if category:
            self.counts[category] = self.counts.get(category, 0) + 1

    def case(self, rep, body, time_s):
        classname, name = _mangle(rep.nodeid)
        loc = getattr(rep, "location", None)
        attrs = 'classname="%s" name="%s" nodeid="%s"' % (_attr(classname), _attr(name), _attr(rep.nodeid))
        if loc:
            attrs += ' file="%s"' % _attr(loc[0].replace(os.sep, "/"))
            if loc[1] is not None:
                attrs += ' line="%d"' % loc[1]
        attrs += ' time="%.3f"' % time_s
        self.write("<testcase %s>%s</testcase>" % (attrs, body))

    @staticmethod
    def properties(frames, rss=None):
        props = ""
        if frames is not None:
            props += '<property name="%s" value="%s"/>' % (_FRAMES, _attr(json.dumps(frames)))
        if rss is not None:
            props += '<property name="%s" value="[%d,%d]"/>' % (_RSS, rss[0], rss[1])
        return "<properties>%s</properties>" % props if props else ""

    @staticmethod
    def output(rep):
        out, err = _captured(rep)
        text = ""
        if out:
            text += "<system-out>%s</system-out>" % _text(_capped(out))
        if err:
            text += "<system-err>%s</system-err>" % _text(_capped(err))
        return text

    def start(self, nodeid):
        self.write('<pytestmon-start nodeid="%s"/>' % _attr(nodeid))
        self.flush()

    def collected(self, count):
        self.write('<pytestmon-collected count="%d"/>' % count)
        self.flush()

    def result(self, rep, phase):
        """The failure/error/skipped element of one phase's report, or ""."""
        if rep.failed:
            if phase == "call":
                return '<failure message="%s">%s</failure>' % (_attr(_crash_message(rep)),
                                                                 _text(_longrepr_text(rep)))
            return '<error message="failed on %s with &quot;%s&quot;">%s</error>' % (
                phase, _attr(_crash_message(rep)), _text(_longrepr_text(rep)))
        if rep.skipped:
            if hasattr(rep, "wasxfail"):
                return '<skipped type="pytest.xfail" message="%s"/>' % _attr(rep.wasxfail)
            lr = rep.longrepr
            if isinstance(lr, tuple) and len(lr) == 3:
                path, line, reason = lr
                return '<skipped type="pytest.skip" message="%s">%s</skipped>' % (
                    _attr(reason), _text("%s:%s: %s" % (path, line, reason)))
            return '<skipped type="pytest.skip" message="">%s</skipped>' % _text(_longrepr_text(rep))
        return ""

    def logreport(self, rep):
        self.count(rep)
        reps = self.pending.setdefault(rep.nodeid, {})
        reps[rep.when] = rep
        if rep.when != "teardown":
            return
        del self.pending[rep.nodeid]
        time_s = sum(getattr(r, "duration", 0.0) or 0.0 for r in reps.values())
        setup, call = reps.get("setup"), reps.get("call")
        main = setup if setup is not None and not setup.passed else call
        rss = _property_of(rep, _RSS)
        body = ""
        if main is not None:
            body = self.result(main, "setup" if main is setup else "call")
        frames = _frames_of(main) if body and main.failed else None
        if rep.failed:
            if body:  # a failed call and a failed teardown: two testcases, as junitxml
                self.case(rep, self.properties(frames) + body, time_s)
            frames, body = _frames_of(rep), self.result(rep, "teardown")
        self.case(rep, self.properties(frames, rss) + body + self.output(rep), time_s)
        if rep.failed or (main is not None and main.failed):
            self.flush()  # a failure is shown at once
        else:
            self.flush_soon()

    def collectreport(self, rep):
        if not rep.failed and not rep.skipped:
            return
        self.count(rep)
        if rep.failed:
            body = '<error message="collection failure">%s</error>' % _text(_longrepr_text(rep))
        else:
            body = self.result(rep, "collect")
        name = rep.nodeid.replace("/", ".")
        if name.endswith(".py"):
            name = name[:-3]
        self.write('<testcase classname="" name="%s" nodeid="%s" file="%s" time="0.000">%s</testcase>' % (
            _attr(name), _attr(rep.nodeid), _attr(rep.nodeid.split("::")[0]), body))
        self.flush()

    def close(self, deselected):
        if self.closed:
            return
        self.closed = True
        counts = self.counts
        if self.terminal is _UNKNOWN:  # no test was reported (all deselected, nothing collected)
            self.terminal = _terminal_reporter(self.config)
        if self.terminal is not None:
            counts = {k: len(v) for k, v in self.terminal.stats.items() if k and k != "warnings" and v}
        elif deselected:
            counts["deselected"] = deselected
        self.write('<properties><property name="pytestmon.counts" value="%s"/></properties>' % _attr(
            json.dumps(counts, sort_keys=True)))
        self.write('</testsuite></testsuites>')
        self.flush()
        os.close(self.fd)


def _source_range(obj):
    """(first line, last line), 1-based, of a function's or class's source (decorators
    included), or None."""
    import inspect

    try:
        lines, start = inspect.getsourcelines(obj)
    except Exception:
        return None
    return (start, start + len(lines) - 1) if lines and start > 0 else None


def _code_end(code):
    """The last source line of a code object's statements (nested functions included)."""
    end = code.co_firstlineno
    if hasattr(code, "co_positions"):  # 3.11+: end lines too (a call's closing parenthesis)
        for _, last, _, _ in code.co_positions():
            if last is not None and last > end:
                end = last
    else:
        import dis

        for _, line in dis.findlinestarts(code):
            if line is not None and line > end:
                end = line
    for const in code.co_consts:
        if hasattr(const, "co_firstlineno"):
            end = max(end, _code_end(const))
    return end


class _Ranges:
    """Where tests and classes are defined, cheaply: pytest's own item.location and
    inspect.getsourcelines() cost ~40 us per test (reportinfo, tokenizing the block) and the
    latter re-parses the whole module for every class, which made collecting a 20,000-test suite
    cost a third more than pytest's own collection. A test's range comes from its code object
    (co_firstlineno is its first decorator's line; the end from its line table), a class's from
    one scan of its module's lines for `class NAME`. inspect is the fallback for anything else
    (Python < 3.8, a class name defined twice in a file, odd objects)."""

    def __init__(self):
        self.classes = {}  # path -> {class name: [(line index, indent), ...]}
        # (file, code object) -> (file, first, last): a parametrized test's cases share it. The file
        # is part of the key: code objects compare equal across files (co_filename is not
        # compared), so identical tests in two files would both be put in the first one.
        self.codes = {}

    def function(self, obj):
        """(file, first line, last line) of a test function, or None."""
        try:
            import inspect

            code = inspect.unwrap(obj).__code__
            key = (code.co_filename, code)
            if key in self.codes:
                return self.codes[key]
            rng = None
            if sys.version_info >= (3, 8) and os.path.isabs(code.co_filename):
                rng = code.co_filename, code.co_firstlineno, _code_end(code)
            self.codes[key] = rng
            return rng
        except Exception:
            return None

    def _class_lines(self, path):
        if path not in self.classes:
            import linecache
            import re

            found = {}
            pattern = re.compile(r"([ \t]*)class[ \t]+(\w+)")
            for i, text in enumerate(linecache.getlines(path)):
                m = pattern.match(text)
                if m:
                    found.setdefault(m.group(2), []).append((i, len(m.group(1).expandtabs())))
            self.classes[path] = found
        return self.classes[path]

    def klass(self, cls):
        """(first line, last line) of a class, or None."""
        try:
            import linecache

            path = sys.modules[cls.__module__].__file__
            where = self._class_lines(path).get(cls.__name__, ())
            if len(where) == 1:
                lines = linecache.getlines(path)
                i, indent = where[0]
                first = i
                while first > 0 and lines[first - 1].strip().startswith("@"):
                    first -= 1
                last = i
                for j in range(i + 1, len(lines)):
                    text = lines[j]
                    stripped = text.strip()
                    if not stripped or stripped.startswith("#"):
                        continue
                    expanded = text.expandtabs()
                    if len(expanded) - len(expanded.lstrip()) <= indent:
                        break  # the first statement after the class body
                    last = j
                return first + 1, last + 1
        except Exception:
            pass
        return _source_range(cls)


def _item_location(item):
    """(path, 0-based line or None) of an item that is no test function (a conftest hook's, a
    doctest): its reportinfo() as is, without the relative path item.location computes at some
    50 us an item; item.location when reportinfo() is not usable."""
    try:
        info = item.reportinfo()
        path = os.fspath(info[0])
        if path and isinstance(info[1], (int, type(None))):
            return path, info[1]
    except Exception:
        pass
    return item.location


def _node_file(node, root):
    path = getattr(node, "path", None) or getattr(node, "fspath", None)
    if path is None:
        return root
    return os.path.normpath(os.path.join(root, str(path)))


def _collected(session, errors=()):
    """What pytest collected, with where each test and class is defined, and the collection
    errors at their files: the JSON document of PYTESTMON_COLLECT (see src/parse/collection.h)."""
    root = str(session.config.rootpath) if hasattr(session.config, "rootpath") else str(session.config.rootdir)
    ranges = _Ranges()
    items, classes = [], {}
    for item in session.items:
        obj = getattr(item, "obj", None) if isinstance(item, pytest.Function) else None
        rng = ranges.function(obj) if obj is not None else None
        if rng:
            entry = {"nodeid": item.nodeid, "file": os.path.normpath(rng[0]), "line": rng[1], "end": rng[2]}
        else:
            loc = _item_location(item)
            path = os.path.join(root, loc[0]) if loc and loc[0] else str(getattr(item, "fspath", ""))
            entry = {"nodeid": item.nodeid, "file": os.path.normpath(path)}
            frng = _source_range(obj) if obj is not None else None
            if frng:
                entry["line"], entry["end"] = frng
            elif loc and loc[1] is not None:
                entry["line"] = entry["end"] = loc[1] + 1
        items.append(entry)
        node = item.parent
        while node is not None and isinstance(node, pytest.Class):
            if node.nodeid not in classes:
                c = {"nodeid": node.nodeid, "file": _node_file(node, root)}
                crng = ranges.klass(getattr(node, "obj", None))
                if crng:
                    c["line"], c["end"] = crng
                classes[node.nodeid] = c
            node = node.parent
    errs = []
    for rep in errors:
        path = rep.nodeid.split("::")[0]
        errs.append({"nodeid": rep.nodeid, "file": os.path.normpath(os.path.join(root, path)),
                     "message": _longrepr_text(rep)})
    return {"rootdir": root, "items": items, "classes": list(classes.values()), "errors": errs}


class _CollectRecorder:
    """Writes _collected() to $PYTESTMON_COLLECT once collection ends (the co-process's
    `collect` method and the nearest test). Registered whenever that variable is set, with or
    without the report writer (a bare collection needs no report)."""

    def __init__(self, config, path):
        self.path = path
        self.is_worker = hasattr(config, "workerinput")
        self.errors = []

    @pytest.hookimpl(trylast=True)
    def pytest_collectreport(self, report):
        if report.failed:
            self.errors.append(report)

    @pytest.hookimpl(trylast=True)
    def pytest_collection_finish(self, session):
        if self.is_worker:
            return
        try:
            text = json.dumps(_collected(session, self.errors))  # the C encoder: dump() is pure Python
            with open(self.path, "w", encoding="utf-8") as f:
                f.write(text)
        except Exception as e:
            sys.stderr.write("pytestmon plugin: cannot record what was collected (%r)\n" % (e,))


class Plugin:
    def __init__(self, config, path):
        self.config = config
        self.library = _library_dirs()
        self.is_worker = hasattr(config, "workerinput")
        self.writer = None if self.is_worker else Writer(config, path)
        self.deselected = 0
        self.rss = RssMeter()
        self.collected_told = False
        self.xdist_controller = None  # known once xdist has configured itself

    def _is_xdist_controller(self):
        if self.xdist_controller is None:
            self.xdist_controller = not self.is_worker and self.config.pluginmanager.has_plugin("dsession")
        return self.xdist_controller

    def off(self, what, exc):
        sys.stderr.write("pytestmon plugin: %s failed (%r); results come from pytest's output\n" % (what, exc))
        try:
            self.config.pluginmanager.unregister(self)
        except Exception:
            pass

    @pytest.hookimpl(hookwrapper=True)
    def pytest_runtest_makereport(self, item, call):
        outcome = yield
        try:
            rep = outcome.get_result()
            if rep.failed and call.excinfo is not None:
                frames = user_frames(call.excinfo, self.library)
                rep.user_properties = list(rep.user_properties) + [(_FRAMES, frames)]
            if call.when == "teardown":
                rss = self.rss.end()
                if rss is not None:
                    rep.user_properties = list(rep.user_properties) + [(_RSS, rss)]
        except Exception as e:
            self.off("pytest_runtest_makereport", e)

    @pytest.hookimpl(tryfirst=True)
    def pytest_runtest_logstart(self, nodeid, location):
        """In the process that runs the test: the memory meter starts. In the controller (the
        only process under -n 0, xdist's controller as a worker's test starts): the stream says so."""
        try:
            if not self._is_xdist_controller():
                self.rss.begin()
            elif self.writer is not None:
                self.writer.eager = True
            if self.writer is not None:
                self.writer.start(nodeid)
        except Exception as e:
            self.off("pytest_runtest_logstart", e)

    def _tell_collected(self, count):
        if self.writer is None or self.collected_told:
            return
        self.collected_told = True
        try:
            self.writer.collected(count)
        except Exception as e:
            self.off("collection", e)

    @pytest.hookimpl(optionalhook=True)
    def pytest_xdist_node_collection_finished(self, node, ids):
        """The controller under xdist: each worker collected the same items (xdist checks)."""
        self._tell_collected(len(ids))

    @pytest.hookimpl(trylast=True)
    def pytest_runtest_logreport(self, report):
        if self.writer is None:
            return
        try:
            self.writer.logreport(report)
        except Exception as e:
            self.off("pytest_runtest_logreport", e)

    @pytest.hookimpl(trylast=True)
    def pytest_collectreport(self, report):
        if self.writer is None:
            return
        try:
            self.writer.collectreport(report)
        except Exception as e:
            self.off("pytest_collectreport", e)

    def pytest_deselected(self, items):
        self.deselected += len(items)

    @pytest.hookimpl(trylast=True)
    def pytest_collection_finish(self, session):
        if not self.is_worker and not self._is_xdist_controller():
            self._tell_collected(len(session.items))

    @pytest.hookimpl(trylast=True)
    def pytest_sessionfinish(self, session):
        if self.writer is None:
            return
        try:
            self.writer.close(self.deselected)
        except Exception as e:
            self.off("pytest_sessionfinish", e)
        _write_coverage(self.config)


def _write_coverage(config):
    """coverage.py's JSON report of the data pytest-cov combined at the end of the test loop
    (its pytest_runtestloop wrapper), to $PYTESTMON_COVERAGE. Nothing when pytest-cov measured
    nothing (--no-cov); the co-process says so."""
    path = os.environ.get(_COVERAGE_ENV)
    if not path:
        return
    try:
        cov_plugin = config.pluginmanager.getplugin("_cov")
        controller = getattr(cov_plugin, "cov_controller", None)
        cov = getattr(controller, "cov", None)
        if cov is None or getattr(cov_plugin, "_disabled", False):
            return
        cov.json_report(outfile=path, ignore_errors=True)
    except Exception as e:
        try:
            with open(path, "w", encoding="utf-8") as f:
                json.dump({"pytestmon_error": "%s: %s" % (type(e).__name__, e)}, f)
        except Exception:
            pass




@pytest.hookimpl(tryfirst=True)
def pytest_configure(config):
    collect_path = os.environ.get(_COLLECT_ENV)
    if collect_path:
        try:
            config.pluginmanager.register(_CollectRecorder(config, collect_path), "pytestmon-collect")
            if config.option.collectonly and (config.option.verbose or 0) > -2:
                # Nobody reads this terminal: "file: N" lines cost less than a tree or node ids
                # (an option here, not -qq on the command line: -p no:terminal would refuse it).
                config.option.verbose = -2
        except Exception as e:
            sys.stderr.write("pytestmon plugin: cannot record what is collected (%r)\n" % (e,))
    path = os.environ.get(_ENV)
    if not path:
        return
    try:
        config.pluginmanager.register(Plugin(config, path), "pytestmon")
    except Exception as e:
        sys.stderr.write("pytestmon plugin: cannot start (%r); results come from pytest's output\n" % (e,))
