"""pytestmon's pytest plugin: exact facts from pytest itself, for the pytestmon co-process.

Loaded by the co-process with ``-p pytestmon_plugin`` (pytestmon_plugin.py imports this module;
this directory is put first on the child's PYTHONPATH) and active only when
``PYTESTMON_REPORT`` names a file: then it writes
there, as the run goes, a JUnit-shaped XML report (the xunit1 dialect pytest's own junitxml
writes, which the co-process's libxml2 reader already reads), whatever the user did to
pytest's junitxml (``-p no:junitxml``, their own ``--junitxml``) or to the terminal
(``--tb=no``, ``-q``, ``-p no:terminal``). Beyond pytest's junitxml each testcase carries:

- ``nodeid``: pytest's node id (no rebuilding from the mangled classname); when it holds
  characters XML cannot carry (controls, with pytest's forfeit-all-rights option), also
  ``nodeid-esc``, the id reversibly escaped (_id_attr). Either way the reader gets the test's
  identity (_ident: NUL and lone surrogates become U+FFFD), the same as in the collection record;
- ``<property name="pytestmon.frames" value="[[path, line], ...]">``: the traceback entries
  of the failure in the user's code, outermost first (absolute paths, 1-based lines), read
  from ``excinfo.traceback`` whatever ``--tb`` says, without pytest's, pluggy's, the
  standard library's or installed packages' frames and without ``__tracebackhide__`` ones;
- ``<property name="pytestmon.rss" value="[rss_at_start, peak]">``: bytes, measured in the
  process that ran the test (an xdist worker's too): the kernel's peak RSS is reset to the RSS
  when the test starts (``/proc/self/clear_refs``; that RSS read from statm) and read after its
  teardown (RssMeter), so a test that touches 200 MB for 5 ms is measured exactly. Absent where clear_refs cannot be written;
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

When ``PYTESTMON_ARGS`` names a file, it holds arguments exec could not pass (one of more than
32 KiB: a rerun of a test whose id is that long), each behind a placeholder on the command line;
they are put back before pytest parses its arguments (pytest_load_initial_conftests).

When ``PYTESTMON_COVERAGE`` names a file (:PytestCoverage, the run has pytest-cov's ``--cov``),
coverage.py's JSON report of pytest-cov's combined data is written there at session end
(src/parse/coverage.h reads it): pytest-cov before 4.1 has no JSON report of its own. When coverage.py
cannot write it, ``{"pytestmon_error": "..."}`` is written instead.

Testcases are written when a test's teardown is reported and the document is closed at session
end. The file is read while it grows: it is written through a shared memory map, so every piece
is in the page cache, for the co-process to read, as soon as it is written (no system call per
test), and nothing is lost when pytest dies; until the document is closed the file may end in
zeros (its end is the first NUL byte). Under xdist the workers only compute frames and memory
(they travel as attributes of the report, which xdist carries to the controller, and stay out of
pytest's own --junitxml); the controller writes.

Must import on every interpreter pytest 7+ runs on (Python 3.7+) and must never break a run:
every hook body is guarded, and a failure switches the plugin off with one warning.
"""
import mmap
import os
import re
import resource
import sys

import pytest

_FRAMES = "pytestmon.frames"
_RSS = "pytestmon.rss"
_OUTPUT_MAX = 64 * 1024
_WINDOW = 1 << 18  # bytes of the report mapped at a time (Writer)
_CASE_AT_LINE = '<testcase classname="%s" name="%s" nodeid="%s" file="%s" line="%d" time="%.3f">%s</testcase>'
_CASE = '<testcase classname="%s" name="%s" nodeid="%s"%s time="%.3f">%s</testcase>'
_PHASES = ("setup", "call", "teardown")
_STICKY_CHECK = 16  # RssMeter: tests between two checks of getrusage() against statm
_RSS_ITEM = '<property name="%s" value="[%%d,%%d]"/>' % _RSS
_RSS_PROPERTY = "<properties>" + _RSS_ITEM + "</properties>"
_UNKNOWN = object()
_ENV = "PYTESTMON_REPORT"
_COLLECT_ENV = "PYTESTMON_COLLECT"
_COVERAGE_ENV = "PYTESTMON_COVERAGE"
_ARGS_ENV = "PYTESTMON_ARGS"


def _library_dirs():
    """Directories whose code is not the user's: the standard library, installed packages
    (of this interpreter and of the one a venv was made from), pytest and pluggy."""
    import sysconfig

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

# A test's identity, the same in the report, the collection record and every event of the
# co-process: pytest's node id, but for what no C string or UTF-8 text can hold (NUL and lone
# surrogates, possible with disable_test_id_escaping_and_forfeit_all_rights_to_community_support
# or a custom collector), which become U+FFFD.
_NOT_TEXT = re.compile("[\x00\ud800-\udfff]")
# What XML 1.0 cannot hold, even as a character reference.
_NOT_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff\ud800-\udfff]")


def _ident(s):
    """The identity of node id `s` (see _NOT_TEXT); an ASCII id without NUL (nearly all) costs
    two scans in C, not a regular expression."""
    if s.isascii() and "\x00" not in s:
        return s
    return _NOT_TEXT.sub("\ufffd", s)


def _esc_char(m):
    c = m.group()
    return "\\\\" if c == "\\" else "\\x%02X" % ord(c) if c < " " else "\\u%04X" % ord(c)


_ESC = re.compile("[\\\\\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]")


def _id_attr(nodeid):
    r"""The value of a `nodeid` attribute (between its quotes). The text is the node id as
    pytest's junitxml would write it ("#x1B" for ESC); when the id holds characters XML cannot
    carry, `" nodeid-esc="VALUE` follows: the identity with a backslash written `\\`, a control
    `\xHH` and U+FFFE/U+FFFF `\uHHHH` (src/parse/nodeid.c, nodeid_unescape). Plain ids (nearly
    all) cost one match."""
    if _PLAIN(nodeid):
        return nodeid
    ident = _ident(nodeid)
    value = _clean(ident).translate(_ESCAPES)
    if _NOT_XML.search(ident):
        value += '" nodeid-esc="' + _ESC.sub(_esc_char, ident).translate(_ESCAPES)
    return value


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


# Where a worker (WorkerPlugin) leaves a report's frames and its test's memory: attributes of the
# report itself (TestReport keeps unknown keyword arguments, so xdist carries them from a worker
# to the controller), not user_properties, which pytest's own --junitxml would write out.
_FRAMES_ATTR = "pytestmon_frames"
_RSS_ATTR = "pytestmon_rss"


def _frames_of(rep):
    return getattr(rep, _FRAMES_ATTR, None)


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
    current RSS; it is written only when the peak the last test left is above the RSS read from
    statm at the start (else the peak is that RSS already). The peak is read with getrusage()
    (ru_maxrss, ~1 us) rather than from /proc/self/status (VmHWM, ~8 us: the kernel formats the
    whole file), which matters in suites of 20,000 tests: two system calls per test in all.
    getrusage() reports max(peak, the peak of this process's exited threads at the time they
    exited), and that second value survives the reset: once a thread has exited above the
    current RSS, ru_maxrss after a reset no longer equals the current RSS (compared at a
    process's first test and at every _STICKY_CHECK-th), and the meter reads VmHWM from then on.
    The /proc files stay open and are read with pread at offset 0, which regenerates them; a
    forked child drops its parent's (they name the parent) and opens its own at its first test."""

    def __init__(self):
        self.page = os.sysconf("SC_PAGE_SIZE")
        self.start = None
        self.fds = None  # not opened yet in this process; [] when they cannot be
        os.register_at_fork(after_in_child=self._forked)

    def _forked(self):
        self.close()
        self.start = None

    def _open(self):
        """The three files of this process."""
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
        self.sticky = False  # getrusage() is above the real peak: read VmHWM
        self.tests = 0  # tests begun in this process
        self.peak = 1 << 62  # the kernel's peak as the last test left it (unknown: reset)
        return fds

    def close(self):
        for fd in self.fds or ():
            try:
                os.close(fd)
            except OSError:
                pass
        self.fds = None

    def begin(self):
        fds = self.fds
        if fds is None:
            fds = self._open()
        if not fds:
            return
        try:
            rss = self._statm()
            self.tests += 1
            check = not self.sticky and self.tests % _STICKY_CHECK == 1
            # The kernel's peak is reset to the RSS now only when it is above it: while it is
            # not (the usual case: an RSS that did not drop since the last test's peak), it
            # already is the RSS now, and a system call per test is saved.
            if rss < self.peak or check:
                os.write(fds[0], b"5")
                if check:
                    # Just after the reset getrusage() says the RSS, unless an exited thread's
                    # peak is in the way (more than a little above it): read VmHWM from then on.
                    self.sticky = _maxrss() - rss > 1048576
            self.start = rss
        except (OSError, ValueError, IndexError):
            self.start = None
            self.close()
            self.fds = []

    def _statm(self):
        return int(os.pread(self.fds[1], 64, 0).split(None, 2)[1]) * self.page

    def _hwm(self):
        status = os.pread(self.fds[2], 4096, 0)
        i = status.find(b"VmHWM:")
        return int(status[i + 6:status.index(b"kB", i)]) * 1024 if i >= 0 else None

    def end(self):
        """[rss_at_start, peak] in bytes, or None."""
        start = self.start
        if start is None:
            return None
        self.start = None
        try:
            peak = self._hwm() if self.sticky else _maxrss()
            if peak is None:
                return None
            self.peak = peak
            return [start, peak if peak > start else start]
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
    """Owns the report file; writes one <testcase> per finished test.

    The file is written through a shared memory map of a window of it (_WINDOW bytes, the next
    one mapped when it is full): what the plugin writes is in the page cache, where the
    co-process reads it, the moment it is copied, without a system call per test, and it stays
    there if pytest dies. The window ahead of the text is zeros, so the document ends at the first
    NUL byte until the file is cut to its length at close (src/parse/junit.h). A window's blocks
    are reserved before it is mapped (posix_fallocate). Where the file cannot be mapped or the
    next window not reserved (a full $TMPDIR), each piece is written with write(2) instead; when
    that fails for want of space, the plugin switches itself off saying so (_warn_off) and the
    results come from pytest's output. A forked child (a test's own fork) writes nothing."""

    def __init__(self, config, path):
        self.config = config
        self.path = path
        self.fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC, 0o600)
        self.map = None  # the mapped window, or None: write(2)
        self.base = 0    # the window's offset in the file
        self.pos = 0     # the next byte's offset in the window
        self.forked = False
        self.closed = False
        try:
            self._map_window()
        except (OSError, ValueError):
            self._unmapped()
        os.register_at_fork(after_in_child=self._in_child)
        self.write('<?xml version="1.0" encoding="utf-8"?><testsuites><testsuite name="pytest">')
        root = config.rootpath if hasattr(config, "rootpath") else config.rootdir
        self.write('<pytestmon-session rootdir="%s"/>' % _attr(root))
        self.pending = {}   # nodeid -> reports of the test so far
        self.frames = {}    # (nodeid, phase) -> frames, from pytest_exception_interact
        self.frames_follow = True  # frames come that way (not on xdist's controller: with the report)
        self.deferred = None  # (teardown report, rss) of a testcase that waits for its frames
        self.classnames = {}  # what is before a node id's last "::" -> its classname attribute
        self.files = {}       # report location path -> file attribute
        self.terminal = _UNKNOWN  # pytest's terminal reporter, once known (None: -p no:terminal)
        self.counting = True  # count(): false once the terminal is known to count
        self.counts = {}

    def _in_child(self):
        self.forked = True

    def _map_window(self):
        """Maps the window at self.base, its blocks reserved first: a page of a shared mapping
        that the file system cannot back (a full $TMPDIR) kills pytest with SIGBUS when it is
        written, where a reservation that fails is an OSError here. One system call a window."""
        os.posix_fallocate(self.fd, self.base, _WINDOW)
        self.map = mmap.mmap(self.fd, _WINDOW, offset=self.base)
        self.pos = 0

    def _unmapped(self):
        """The next window cannot be mapped: what is written is cut to its length and the rest
        is written with write(2) at the end (ENOSPC then says there is no room at all)."""
        self.map = None
        os.ftruncate(self.fd, self.base)
        os.lseek(self.fd, self.base, os.SEEK_SET)

    def write(self, text):
        """Appends text to the report, visible to the co-process at once."""
        if self.forked or self.closed:
            return
        data = text.encode("utf-8")
        if self.map is None:
            self._write_all(data)
            return
        end = self.pos + len(data)
        if end <= _WINDOW:
            self.map[self.pos:end] = data
            self.pos = end
            return
        view = memoryview(data)
        while view:
            room = _WINDOW - self.pos
            if room == 0:
                self.map.close()
                self.base += _WINDOW
                try:
                    self._map_window()
                except (OSError, ValueError):
                    self._unmapped()
                    self._write_all(view)
                    return
                room = _WINDOW
            n = min(room, len(view))
            self.map[self.pos:self.pos + n] = view[:n]
            self.pos += n
            view = view[n:]

    def _write_all(self, data):
        view = memoryview(data)
        while view:
            view = view[os.write(self.fd, view):]

    def count(self, rep):
        """Counts rep as pytest's terminal does, unless the terminal counts (its `stats`, read at
        close, are what pytest's closing line says: no second hook call per test)."""
        if self.terminal is _UNKNOWN:
            self.terminal = _terminal_reporter(self.config)
        if self.terminal is not None:
            self.counting = False
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
        nodeid = rep.nodeid
        i = nodeid.rfind("::")
        if i < 0:
            classname, name = _mangle(nodeid)
            classname = _attr(classname)
        else:  # the class name is that of what is before the last "::": once per class or file
            classname = self.classnames.get(nodeid[:i])
            if classname is None:
                classname = self.classnames[nodeid[:i]] = _attr(_mangle(nodeid)[0])
            name = nodeid[i + 2:]
        if _PLAIN(nodeid):  # then so is the name, a part of it
            nodeid_attr = nodeid
        else:
            nodeid_attr, name = _id_attr(nodeid), _attr(name)
        loc = rep.location
        if loc:
            path = self.files.get(loc[0])
            if path is None:
                path = self.files[loc[0]] = _attr(loc[0].replace(os.sep, "/"))
            if loc[1] is not None:
                self.write(_CASE_AT_LINE % (classname, name, nodeid_attr, path, loc[1], time_s, body))
                return
            where = ' file="%s"' % path
        else:
            where = ""
        self.write(_CASE % (classname, name, nodeid_attr, where, time_s, body))

    @staticmethod
    def properties(frames, rss=None):
        if frames is None:
            return "" if rss is None else _RSS_PROPERTY % (rss[0], rss[1])
        import json

        props = '<property name="%s" value="%s"/>' % (_FRAMES, _attr(json.dumps(frames)))
        if rss is not None:
            props += _RSS_ITEM % (rss[0], rss[1])
        return "<properties>%s</properties>" % props

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
        self.write('<pytestmon-start nodeid="%s"/>' % _id_attr(nodeid))

    def collected(self, count):
        self.write('<pytestmon-collected count="%d"/>' % count)

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

    def logreport(self, rep, rss=None):
        """A phase's report. The testcase is written at the teardown's, with `rss` (the meter's
        [start, peak], else the report's own, from an xdist worker)."""
        if self.counting:
            self.count(rep)
        nodeid = rep.nodeid
        if rep.when != "teardown":
            reps = self.pending.get(nodeid)
            if reps is None:
                self.pending[nodeid] = [rep]
            else:
                reps.append(rep)
            return
        if rss is None:
            rss = getattr(rep, _RSS_ATTR, None)
        if rep.outcome == "passed":
            if self._passed_case(rep, rss):
                return
        elif rep.outcome == "failed" and self.frames_follow and (nodeid, "teardown") not in self.frames:
            self.deferred = (rep, rss)  # its frames follow (exception): written then
            return
        self.testcase(rep, rss)

    def _passed_case(self, rep, rss):
        """The testcase of a test whose every phase passed and printed nothing, written at once
        (most tests: the loop of testcase() and its properties/result/output calls cost a third
        of the plugin's time per test); False for any other test."""
        if rep.sections:
            return False
        reps = self.pending.get(rep.nodeid, ())
        time_s = rep.duration or 0.0
        for r in reps:
            if r.outcome != "passed":
                return False
            time_s += r.duration or 0.0
        if reps:
            del self.pending[rep.nodeid]
        self.case(rep, "" if rss is None else _RSS_PROPERTY % (rss[0], rss[1]), time_s)
        return True

    def exception(self, rep, frames):
        """The frames of a phase's failure (pytest_exception_interact, after its logreport)."""
        self.frames[(rep.nodeid, rep.when)] = frames
        if self.deferred is not None and self.deferred[0] is rep:
            self.settle()

    def settle(self):
        """Writes the testcase that waits for its teardown's frames (they did not come)."""
        if self.deferred is not None:
            rep, rss = self.deferred
            self.deferred = None
            self.testcase(rep, rss)

    def _frames(self, rep):
        frames = self.frames.pop((rep.nodeid, rep.when), None) if self.frames else None
        return frames if frames is not None else _frames_of(rep)

    def testcase(self, rep, rss):
        """The testcase of a test whose teardown `rep` is (one more for a failed teardown after
        a failed call, as junitxml)."""
        setup = call = None
        time_s = rep.duration or 0.0
        for r in self.pending.pop(rep.nodeid, ()):
            time_s += r.duration or 0.0
            if r.when == "setup":
                setup = r
            else:
                call = r
        main = setup if setup is not None and not setup.passed else call
        body = ""
        if main is not None and not main.passed:
            body = self.result(main, "setup" if main is setup else "call")
        frames = self._frames(main) if body and main.failed else None
        if rep.failed:
            if body:
                self.case(rep, self.properties(frames) + body, time_s)
            frames, body = self._frames(rep), self.result(rep, "teardown")
        if rep.sections:
            body += self.output(rep)
        self.case(rep, self.properties(frames, rss) + body, time_s)

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
            _attr(name), _id_attr(rep.nodeid), _attr(rep.nodeid.split("::")[0]), body))

    def close(self, deselected):
        if self.closed or self.forked:
            return
        self.settle()
        counts = self.counts
        if self.terminal is _UNKNOWN:  # no test was reported (all deselected, nothing collected)
            self.terminal = _terminal_reporter(self.config)
        if self.terminal is not None:
            counts = {k: len(v) for k, v in self.terminal.stats.items() if k and k != "warnings" and v}
        elif deselected:
            counts["deselected"] = deselected
        import json

        self.write('<properties><property name="pytestmon.counts" value="%s"/></properties>' % _attr(
            json.dumps(counts, sort_keys=True)))
        self.write('</testsuite></testsuites>')
        self.closed = True
        if self.map is not None:
            length = self.base + self.pos
            self.map.close()
            self.map = None
            os.ftruncate(self.fd, length)
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


def _class_file(cls):
    """The file a class is defined in, or None: a class imported into another test module (or
    made elsewhere) is defined in its own module, whose lines _Ranges.klass reads."""
    try:
        path = sys.modules[cls.__module__].__file__
        return os.path.normpath(path) if path and os.path.isabs(path) else None
    except Exception:
        return None


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
            entry = {"nodeid": _ident(item.nodeid), "file": _ident(os.path.normpath(rng[0])), "line": rng[1],
                     "end": rng[2]}
        else:
            loc = _item_location(item)
            path = os.path.join(root, loc[0]) if loc and loc[0] else str(getattr(item, "fspath", ""))
            entry = {"nodeid": _ident(item.nodeid), "file": _ident(os.path.normpath(path))}
            frng = _source_range(obj) if obj is not None else None
            if frng:
                entry["line"], entry["end"] = frng
            elif loc and loc[1] is not None:
                entry["line"] = entry["end"] = loc[1] + 1
        items.append(entry)
        node = item.parent
        while node is not None and isinstance(node, pytest.Class):
            if node.nodeid not in classes:
                cls = getattr(node, "obj", None)
                c = {"nodeid": _ident(node.nodeid), "file": _ident(_class_file(cls) or _node_file(node, root))}
                crng = ranges.klass(cls)
                if crng:
                    c["line"], c["end"] = crng
                classes[node.nodeid] = c
            node = node.parent
    errs = []
    for rep in errors:
        path = rep.nodeid.split("::")[0]
        errs.append({"nodeid": _ident(rep.nodeid), "file": _ident(os.path.normpath(os.path.join(root, path))),
                     "message": _ident(_longrepr_text(rep))})
    return {"rootdir": _ident(root), "items": items, "classes": list(classes.values()), "errors": errs}


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
            import json

            text = json.dumps(_collected(session, self.errors))  # the C encoder: dump() is pure Python
            with open(self.path, "w", encoding="utf-8") as f:
                f.write(text)
        except Exception as e:
            if _no_space(e):
                _warn_off("collection", e)
            else:
                sys.stderr.write("pytestmon plugin: cannot record what was collected (%r)\n" % (e,))


def _no_space(exc):
    """True for the error of a write to a full file system (or quota)."""
    import errno

    return isinstance(exc, OSError) and exc.errno in (errno.ENOSPC, errno.EDQUOT)


def _warn_off(what, exc):
    """The one warning of a plugin that switches itself off. The co-process looks for
    "pytestmon plugin: no space left" on pytest's stderr (src/pytest/runout.c): the report is
    then cut short because its file system is full, and it says so."""
    if _no_space(exc):
        path = os.environ.get(_ENV) or os.environ.get(_COLLECT_ENV) or "?"
        sys.stderr.write("pytestmon plugin: no space left on the device of %s (%s); results come from "
                         "pytest's output\n" % (path, exc.strerror))
    else:
        sys.stderr.write("pytestmon plugin: %s failed (%r); results come from pytest's output\n" % (what, exc))


class _Guarded:
    """A hook body that fails switches the plugin off with one warning: it never breaks a run."""

    def off(self, what, exc):
        _warn_off(what, exc)
        try:
            self.config.pluginmanager.unregister(self)
        except Exception:
            pass

    def frames(self, excinfo):
        """user_frames() of a failure, the library directories found at the first one."""
        if self.library is None:
            self.library = _library_dirs()
        return user_frames(excinfo, self.library)


class Plugin(_Guarded):
    """The process that writes the report: pytest's only one, or xdist's controller. In the
    former the tests run here: the meter measures them, and a failure's frames come with
    pytest_exception_interact (no makereport wrapper around every phase of every test)."""

    def __init__(self, config, path):
        self.config = config
        self.library = None  # _library_dirs(), at the first failure
        self.writer = Writer(config, path)
        self.deselected = 0
        self.rss = RssMeter()
        self.collected_told = False
        self.xdist_controller = None  # known once xdist has configured itself

    def _is_xdist_controller(self):
        if self.xdist_controller is None:
            self.xdist_controller = self.config.pluginmanager.has_plugin("dsession")
            self.writer.frames_follow = not self.xdist_controller
        return self.xdist_controller

    @pytest.hookimpl(tryfirst=True)
    def pytest_runtest_logstart(self, nodeid, location):
        """The memory meter starts (unless the test runs in an xdist worker) and the stream says
        the test started (xdist's controller: as a worker starts it)."""
        try:
            writer = self.writer
            if writer.deferred is not None:
                writer.settle()
            if not self._is_xdist_controller():
                self.rss.begin()
            writer.start(nodeid)
        except Exception as e:
            self.off("pytest_runtest_logstart", e)

    @pytest.hookimpl(trylast=True)
    def pytest_runtest_logreport(self, report):
        try:
            rss = None
            if report.when == "teardown" and not self.xdist_controller:
                rss = self.rss.end()
            self.writer.logreport(report, rss)
        except Exception as e:
            self.off("pytest_runtest_logreport", e)

    def pytest_exception_interact(self, node, call, report):
        """After a failed phase's logreport (when it raised): its frames."""
        try:
            if report.failed and call.excinfo is not None and report.when in _PHASES:
                self.writer.exception(report, self.frames(call.excinfo))
        except Exception as e:
            self.off("pytest_exception_interact", e)

    def _tell_collected(self, count):
        if self.collected_told:
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
    def pytest_collectreport(self, report):
        try:
            self.writer.collectreport(report)
        except Exception as e:
            self.off("pytest_collectreport", e)

    def pytest_deselected(self, items):
        self.deselected += len(items)

    @pytest.hookimpl(trylast=True)
    def pytest_collection_finish(self, session):
        if not self._is_xdist_controller():
            self._tell_collected(len(session.items))

    @pytest.hookimpl(trylast=True)
    def pytest_sessionfinish(self, session):
        try:
            self.writer.close(self.deselected)
        except Exception as e:
            self.off("pytest_sessionfinish", e)
        _write_coverage(self.config)


class WorkerPlugin(_Guarded):
    """An xdist worker: it measures its tests and finds a failure's frames; both travel to the
    controller as attributes of the report, set in a logreport that runs before xdist's own
    (which sends the report, before pytest_exception_interact). The failure's exception comes
    from a makereport that only keeps it (pytest's own makes the report): a hookwrapper around
    every phase of every test cost a generator each."""

    def __init__(self, config):
        self.config = config
        self.library = None
        self.rss = RssMeter()
        # (node id, phase) -> excinfo of a failed phase not reported yet: keyed, not the last one,
        # as a plugin may make all of a test's reports before logging any (pytest-rerunfailures)
        self.excinfos = {}

    @pytest.hookimpl(tryfirst=True)
    def pytest_runtest_logstart(self, nodeid, location):
        try:
            self.rss.begin()
        except Exception as e:
            self.off("pytest_runtest_logstart", e)

    @pytest.hookimpl(tryfirst=True)
    def pytest_runtest_makereport(self, item, call):
        if call.excinfo is not None:
            self.excinfos[(item.nodeid, call.when)] = call.excinfo
        # None: pytest's own makes the report

    @pytest.hookimpl(tryfirst=True)
    def pytest_runtest_logreport(self, report):
        try:
            excinfos = self.excinfos
            if excinfos:
                exc = excinfos.pop((report.nodeid, report.when), None)
                if exc is not None and report.outcome == "failed":
                    setattr(report, _FRAMES_ATTR, self.frames(exc))
            if report.when == "teardown":
                excinfos.clear()  # the test is over: nothing of it is reported later
                rss = self.rss.end()
                if rss is not None:
                    setattr(report, _RSS_ATTR, rss)
        except Exception as e:
            self.off("pytest_runtest_logreport", e)


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
            import json

            with open(path, "w", encoding="utf-8") as f:
                json.dump({"pytestmon_error": "%s: %s" % (type(e).__name__, e)}, f)
        except Exception:
            pass




@pytest.hookimpl(tryfirst=True)
def pytest_load_initial_conftests(early_config, parser, args):
    """Arguments exec could not pass (a rerun of a test whose id is a megabyte long) come in
    $PYTESTMON_ARGS: pairs of a placeholder on the command line and the argument it stands for,
    each NUL-terminated (src/pytest/pyplugin.h, pyplugin_spill_args). They are put back before
    pytest parses its arguments (this list is the one it parses)."""
    path = os.environ.get(_ARGS_ENV)
    if not path:
        return
    try:
        with open(path, "rb") as f:
            parts = f.read().split(b"\0")
        back = {os.fsdecode(parts[i]): os.fsdecode(parts[i + 1]) for i in range(0, len(parts) - 1, 2)}
        args[:] = [back.get(a, a) for a in args]
    except Exception as e:
        sys.stderr.write("pytestmon plugin: cannot read the arguments too long for the command line (%r)\n" % (e,))


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
        if hasattr(config, "workerinput"):
            plugin = WorkerPlugin(config)
        else:
            plugin = Plugin(config, path)
        config.pluginmanager.register(plugin, "pytestmon")
    except Exception as e:
        if _no_space(e):
            _warn_off("start", e)
        else:
            sys.stderr.write("pytestmon plugin: cannot start (%r); results come from pytest's output\n" % (e,))
