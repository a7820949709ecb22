"""The report file: the JUnit-shaped XML stream the co-process reads (format: the package docstring).

Owns the file and its format: Writer (the shared memory map it is written through, one
<testcase> per finished test and per subtest pytest counts, the stream's <pytestmon-*> elements,
pytest's counts at close), the report's constants and what goes into a testcase (result, frames,
the memory properties as memory.py and memfacts.py format them, captured output). Writer.logreport
and Writer.start run for every test: keep them lean.
"""
import json  # here, not at the first failure: a module loaded then would be that test's memory
import mmap
import os

from pytest import TestReport

from .frames import _frames_of
from .memory import _RSS_ATTR
from .pathmap import to_host
from .text import _PLAIN, _attr, _id_attr, _longrepr_text, _text

_FRAMES = "pytestmon.frames"
_MEMFAIL_ATTR = "pytestmon_memfail"  # memfacts.py's facts of a memory failure, on the failed phase's report
_OUTPUT_MAX = 64 * 1024
_WINDOW = 1 << 18  # bytes of the report mapped at a time (Writer)
_CASE_AT_LINE = '<testcase classname="%s" name="%s" nodeid="%s" file="%s" line="%d" time="%.3f">%s</testcase>'
_CASE = '<testcase classname="%s" name="%s" nodeid="%s"%s time="%.3f">%s</testcase>'
_UNKNOWN = object()


def _mangle(nodeid):
    """classname and name as pytest's junitxml writes them (xunit1)."""
    names = nodeid.split("::")
    names[0] = names[0].replace("/", ".")
    if names[0].endswith(".py"):
        names[0] = names[0][:-3]
    base = names[:-1]
    return ".".join(base), names[-1]


def _crash_message(rep):
    """As pytest's junitxml: the crash line's message, else the whole report text."""
    crash = getattr(rep.longrepr, "reprcrash", None)
    msg = getattr(crash, "message", None)
    return msg if msg is not None else _longrepr_text(rep)


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


def _terminal_reporter(config):
    """pytest's terminal reporter when it keeps `stats` (its counts), else None (-p no:terminal)."""
    tr = config.pluginmanager.get_plugin("terminalreporter")
    return tr if isinstance(getattr(tr, "stats", None), dict) else None


def _terminal_category(rep):
    """What pytest's terminal plugin would call this report (_pytest/terminal.py)."""
    if rep.outcome == "failed" and getattr(rep, "when", "call") != "call":
        return "error"
    return rep.outcome


def _subtest(rep):
    """pytest's description of a subtest's report ("[msg] (i=1)", "(<subtest>)"), or None when
    `rep` is no subtest's. Subtests: pytest 9's own (SubtestReport) and pytest-subtests' on
    pytest 7/8 (SubTestReport), a report with a `context` (msg, kwargs) made in the test's call
    for each `with subtests.test(...)` or unittest `subTest`, its test's node id and phase."""
    ctx = getattr(rep, "context", None)
    if ctx is None or not hasattr(ctx, "kwargs") or not hasattr(ctx, "msg"):
        return None
    for name in ("_sub_test_description", "sub_test_description"):  # pytest 9, pytest-subtests
        describe = getattr(rep, name, None)
        if describe is not None:
            try:
                return str(describe())
            except Exception:
                break
    parts = ["[%s]" % ctx.msg] if isinstance(ctx.msg, str) else []
    if ctx.kwargs:
        parts.append("(%s)" % ", ".join("%s=%s" % kv for kv in dict(ctx.kwargs).items()))
    return " ".join(parts) or "(<subtest>)"


class Writer:
    """Owns the report file; writes one <testcase> per finished test.

    The file is written through a shared memory map of a window of it (_WINDOW bytes, the next
    one mapped when it is full): what the plugin writes is in the page cache, where the
    co-process reads it, the moment it is copied, without a system call per test, and it stays
    there if pytest dies. The window ahead of the text is zeros, so the document ends at the first
    NUL byte until the file is cut to its length at close (src/parse/junit.h). A window's blocks
    are reserved before it is mapped (posix_fallocate). Where the file cannot be mapped or the
    next window not reserved (a full $TMPDIR), each piece is written with write(2) instead; when
    that fails for want of space, the plugin switches itself off saying so (env._warn_off) and the
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
        self.write('<pytestmon-session rootdir="%s"/>' % _attr(to_host(str(root))))
        self.pending = {}   # nodeid -> reports of the test so far
        self.frames = {}    # (nodeid, phase) -> frames, from pytest_exception_interact
        self.frames_follow = True  # frames come that way (not on xdist's controller: with the report)
        # (report, rss, subtest) of a testcase that waits for its frames: a failed teardown's, or
        # a failed subtest's (subtest: its description; else None)
        self.deferred = None
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
        category = self.category(rep)
        if category:
            self.counts[category] = self.counts.get(category, 0) + 1

    def category(self, rep):
        """What pytest counts `rep` as ("passed", "failed", "subtests passed", "" for nothing)."""
        try:
            res = self.config.hook.pytest_report_teststatus(report=rep, config=self.config)
            # None: no plugin decided (-p no:terminal, whose hook is the last resort): decide as
            # it does (a phase other than the call that failed is an error).
            return res[0] if res else _terminal_category(rep)
        except Exception:
            return rep.outcome

    def case(self, rep, body, time_s, subtest=None):
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
        if subtest is not None:  # an attribute after nodeid's (as _id_attr's nodeid-esc)
            nodeid_attr += '" subtest="' + _attr(subtest)
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
        """`rss`: the memory meter's properties (memory.RssMeter.end), written as they are."""
        if frames is None:
            return "" if rss is None else "<properties>%s</properties>" % rss
        props = '<property name="%s" value="%s"/>' % (_FRAMES, _attr(json.dumps(frames)))
        if rss is not None:
            props += rss
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
        properties, else the report's own, from an xdist worker)."""
        if self.counting:
            self.count(rep)
        nodeid = rep.nodeid
        if rep.when != "teardown":
            if rep.__class__ is not TestReport:  # pytest's own class: one comparison per report
                subtest = _subtest(rep)
                if subtest is not None:
                    self.subtest(rep, subtest)
                    return
            if rep.when == "???":  # xdist: the worker died running the test (no teardown follows)
                self.pending.pop(nodeid, None)
                memfail = getattr(rep, _MEMFAIL_ATTR, None)
                self.case(rep, self.properties(None, memfail) + self.result(rep, "???"), rep.duration or 0.0)
                return
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
            if self.deferred is not None:
                self.settle()
            self.deferred = (rep, rss, None)  # its frames follow (exception): written then
            return
        self.testcase(rep, rss)

    def subtest(self, rep, subtest):
        """A subtest's report, in its test's call: a testcase of its own (the test's node id, a
        `subtest` attribute: pytest's description of it), written at once (a failure: when its
        frames have come), when pytest counts it: every failure; a skip or xfail where pytest's
        verbosity counts those. A passed subtest is in no count of pytest's but "subtests
        passed", nor in any of ours: it is not written. The test's own testcase follows, as
        pytest reports it (pytest 9 fails a test whose subtests failed: "contains 1 failed
        subtest")."""
        if rep.passed:
            return
        category = self.category(rep)
        if not category or category.startswith("subtests "):
            return
        if self.deferred is not None:
            self.settle()
        if rep.failed and self.frames_follow:
            self.deferred = (rep, None, subtest)  # its frames follow (exception)
            return
        self.subcase(rep, subtest)

    def subcase(self, rep, subtest):
        frames = self._frames(rep) if rep.failed else None
        body = self.properties(frames) + self.result(rep, "call")
        if rep.sections:
            body += self.output(rep)
        self.case(rep, body, rep.duration or 0.0, subtest)

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
        self.case(rep, "" if rss is None else "<properties>%s</properties>" % rss, time_s)
        return True

    def exception(self, rep, frames):
        """The frames of a phase's (or a subtest's) failure (pytest_exception_interact, after
        its logreport)."""
        deferred = self.deferred
        if deferred is not None and deferred[0] is not rep and deferred[2] is not None:
            self.settle()  # a subtest whose frames did not come: not with these
        self.frames[(rep.nodeid, rep.when)] = frames
        if self.deferred is not None and self.deferred[0] is rep:
            self.settle()

    def settle(self):
        """Writes the testcase that waits for its frames (they did not come)."""
        if self.deferred is not None:
            rep, rss, subtest = self.deferred
            self.deferred = None
            if subtest is None:
                self.testcase(rep, rss)
            else:
                self.subcase(rep, subtest)

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
        # a memory failure's facts (memfacts.py: a property, written as it is)
        memfail = getattr(main, _MEMFAIL_ATTR, None) if body and main.failed else None
        if rep.failed:
            if body:
                self.case(rep, self.properties(frames, memfail) + body, time_s)
            frames, body = self._frames(rep), self.result(rep, "teardown")
            memfail = getattr(rep, _MEMFAIL_ATTR, None)
        if rep.sections:
            body += self.output(rep)
        if memfail is not None:
            rss = memfail if rss is None else rss + memfail
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
