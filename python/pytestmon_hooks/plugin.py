"""The plugin's hooks: which plugin a process registers, and what each hook hands to the parts.

Owns pytest_configure (the report's Plugin in pytest's process or xdist's controller,
WorkerPlugin in an xdist worker, collection.py's recorder), pytest_load_initial_conftests (the
arguments of ``$PYTESTMON_ARGS`` put back) and _Guarded (a hook that fails switches the plugin
off with one warning). The per-test hooks (pytest_runtest_logstart, pytest_runtest_logreport)
are the plugin's hot path, clocked by bench/hook_clock.py: every name they use is a global of
this module or an attribute of the plugin, with no layer of calls between them and the parts.
"""
import os
import sys

import pytest

from .coverage import _write_coverage
from .env import _ARGS_ENV, _COLLECT_ENV, _ENV, _IMPORTS_ENV, _no_space, _warn_off
from .frames import _FRAMES_ATTR, _library_dirs, user_frames
from .limits import Limits, memray_active, register_marker
from .memory import _RSS_ATTR, RssMeter
from .pathmap import BEHIND_PREFIX, watch_stdin, write_limits
from .report import Writer

# Behind a prefix only (pathmap.py); now, when pytest imports us (-p), before its capture puts
# /dev/null on fd 0.
watch_stdin()

_PHASES = ("setup", "call", "teardown")
_MEMFAIL_ATTR = "pytestmon_memfail"  # memfacts._MEMFAIL_ATTR (memfacts is imported at a memory failure only)
_ENOMEM = 12


def _memory_failure(excinfo):
    """The report property of a memory failure's facts (memfacts.py), read now, in this process;
    None for any other failure (no import, no file read)."""
    exc = excinfo.value
    if not (isinstance(exc, MemoryError) or (isinstance(exc, OSError) and exc.errno == _ENOMEM)):
        return None
    try:
        from .memfacts import failure_property

        return failure_property(excinfo)
    except Exception as e:  # the facts are extra: the failure is reported without them
        sys.stderr.write("pytestmon plugin: cannot read the memory failure's facts (%r)\n" % (e,))
        return None


class _Guarded:
    """A hook body that fails switches the plugin off with one warning: it never breaks a run."""

    def off(self, what, exc):
        _warn_off(what, exc)
        try:
            self.config.pluginmanager.unregister(self)
        except Exception:
            pass

    def frames(self, excinfo):
        """user_frames() of a failure."""
        return user_frames(excinfo, self.library)


class Plugin(_Guarded):
    """The process that writes the report: pytest's only one, or xdist's controller. In the
    former the tests run here: the meter measures them, and a failure's frames come with
    pytest_exception_interact (no makereport wrapper around every phase of every test)."""

    def __init__(self, config, path):
        self.config = config
        # Found now, not at the first failure: sysconfig's data would be that test's memory
        # (+2.7 MB on Python 3.14); so in a worker.
        self.library = _library_dirs()
        self.writer = Writer(config, path)
        self.deselected = 0
        self.rss = RssMeter()
        self.collected_told = False
        self.xdist_controller = None  # known once xdist has configured itself
        self.oom_before = None  # xdist's controller: the OOM-kill counts at the start (memfacts.oom_counts)
        if BEHIND_PREFIX:
            write_limits(path)

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
        """After a failed phase's logreport (when it raised): its frames, and for a memory
        failure its facts (which limit refused the allocation), read here at once."""
        try:
            if report.failed and call.excinfo is not None and report.when in _PHASES:
                memfail = _memory_failure(call.excinfo)
                if memfail is not None:
                    setattr(report, _MEMFAIL_ATTR, memfail)
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

    def pytest_sessionstart(self, session):
        """Under xdist: the OOM-kill counts now, that a worker's death is compared with."""
        if self._is_xdist_controller():
            try:
                from .memfacts import oom_counts

                self.oom_before = oom_counts()
            except Exception as e:
                sys.stderr.write("pytestmon plugin: cannot read the OOM-kill counts (%r)\n" % (e,))

    @pytest.hookimpl(optionalhook=True)
    def pytest_handlecrashitem(self, crashitem, report, sched):
        """An xdist worker died running a test: whether the OOM killer killed it (its report,
        which logreport writes next, carries the facts)."""
        if self.oom_before is None:
            return
        try:
            from .memfacts import crash_property

            setattr(report, _MEMFAIL_ATTR, crash_property(self.oom_before))
        except Exception as e:
            sys.stderr.write("pytestmon plugin: cannot read the memory facts of a crash (%r)\n" % (e,))

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
        imports = os.environ.get(_IMPORTS_ENV)
        if imports:
            try:
                from .imports import write_imports  # only here: what the warm pytest preloads

                write_imports(self.config, imports)
            except Exception as e:
                sys.stderr.write("pytestmon plugin: cannot record the imports (%r)\n" % (e,))


class WorkerPlugin(_Guarded):
    """An xdist worker: it measures its tests and finds a failure's frames; both travel to the
    controller as attributes of the report, set in a logreport that runs before xdist's own
    (which sends the report, before pytest_exception_interact). The failure's exception comes
    from a makereport that only keeps it (pytest's own makes the report): a hookwrapper around
    every phase of every test cost a generator each."""

    def __init__(self, config):
        self.config = config
        self.library = _library_dirs()
        self.rss = RssMeter()
        # (node id, phase) -> excinfo of a failed phase not reported yet: keyed, not the last one,
        # as a plugin may make all of a test's reports before logging any (pytest-rerunfailures)
        self.excinfos = {}
        self.memfails = {}  # the same key -> a memory failure's facts (memfacts.py)

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
            memfail = _memory_failure(call.excinfo)  # the facts of a memory failure: now, here
            if memfail is not None:
                self.memfails[(item.nodeid, call.when)] = memfail
        # None: pytest's own makes the report

    @pytest.hookimpl(tryfirst=True)
    def pytest_runtest_logreport(self, report):
        try:
            excinfos = self.excinfos
            if excinfos:
                exc = excinfos.pop((report.nodeid, report.when), None)
                if exc is not None and report.outcome == "failed":
                    setattr(report, _FRAMES_ATTR, self.frames(exc))
                    if self.memfails:
                        memfail = self.memfails.pop((report.nodeid, report.when), None)
                        if memfail is not None:
                            setattr(report, _MEMFAIL_ATTR, memfail)
            if report.when == "teardown":
                excinfos.clear()  # the test is over: nothing of it is reported later
                self.memfails.clear()
                rss = self.rss.end()
                if rss is not None:
                    setattr(report, _RSS_ATTR, rss)
        except Exception as e:
            self.off("pytest_runtest_logreport", e)


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
    # pytest-memray's limit_memory marker, ours to check when pytest-memray is not active: known
    # in every run of ours (a collection with --strict-markers too)
    try:
        memray = memray_active(config)
        if not memray:
            register_marker(config)
    except Exception as e:
        memray = True
        sys.stderr.write("pytestmon plugin: cannot register the limit_memory marker (%r)\n" % (e,))
    collect_path = os.environ.get(_COLLECT_ENV)
    if collect_path:
        try:
            from .collection import _CollectRecorder  # only here: a run that collects nothing for us skips its import

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
        if not memray:  # limit_memory is checked where the tests run (xdist's controller collects none)
            config.pluginmanager.register(Limits(config, plugin.rss), "pytestmon-limits")
    except Exception as e:
        if _no_space(e):
            _warn_off("start", e)
        else:
            sys.stderr.write("pytestmon plugin: cannot start (%r); results come from pytest's output\n" % (e,))
