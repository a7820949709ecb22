"""The memory meter: one test's exact peak RSS in the process that runs it (``pytestmon.rss``).

Owns RssMeter (begin() when a test starts, end() after its teardown: the test's memory
properties, its garbage collector's record (gcrecord.py) among them), the format of those properties (the report writes them as they are) and the
attribute a worker leaves them in on the report (_RSS_ATTR). Two system calls per test in all:
this runs for every test.

``pytestmon.rss`` is ``[rss_at_start, peak]`` in bytes, and ``[rss_at_start, peak, before]`` for
the first test a process measures: ``before`` is that process's peak RSS from its start to that
test's start (the interpreter's start-up, imports, collection: pytest's process, or an xdist
worker's), read with getrusage() before the first reset. With the tests' peaks it gives every
moment of every process that ran tests one exact peak.
"""
import os
import resource

from .gcrecord import GcRecord

_STICKY_CHECK = 16  # RssMeter: tests between two checks of getrusage() against statm
# The report attribute of a worker's measure (see frames._FRAMES_ATTR: how it travels).
_RSS_ATTR = "pytestmon_rss"
_RSS_ITEM = '<property name="pytestmon.rss" value="[%d,%d]"/>'
_RSS_ITEM_BEFORE = '<property name="pytestmon.rss" value="[%d,%d,%d]"/>'


class RssMeter:
    """Exact peak RSS of one test in the process that runs it (``pytestmon.rss``: see the package docstring).

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
        self.last_growth = None  # the last test's growth (end())
        self.fds = None  # not opened yet in this process; [] when they cannot be
        self.gc = GcRecord()  # the garbage collector's record of the test (gcrecord.py)
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
        # this process's peak before its first test (start-up and collection), told with that test
        self.before = _maxrss() if fds else None
        return fds

    def close(self):
        for fd in self.fds or ():
            try:
                os.close(fd)
            except OSError:
                pass
        self.fds = None

    def begin(self):
        self.gc.begin()
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

    def growth_now(self):
        """The test's peak growth so far (its peak since it started minus its RSS then), or the
        last test's whole when it was just measured (end()); None when unknown. For the
        limit_memory check (limits.py): not on the per-test path."""
        try:
            if self.start is not None:
                peak = self._hwm() if self.sticky else _maxrss()
                return max(0, peak - self.start) if peak is not None else None
            return self.last_growth
        except (OSError, ValueError):
            return None

    def end(self):
        """The test's memory properties (``<property .../>`` elements, no wrapper: its RSS and
        the garbage collector's record), or None."""
        gc_prop = self.gc.end()
        start = self.start
        if start is None:
            return gc_prop or None
        self.start = None
        try:
            peak = self._hwm() if self.sticky else _maxrss()
            if peak is None:
                return gc_prop or None
            self.peak = peak
            if peak < start:
                peak = start
            self.last_growth = peak - start
            before = self.before
            if before is None:
                return _RSS_ITEM % (start, peak) + gc_prop
            self.before = None
            return _RSS_ITEM_BEFORE % (start, peak, before) + gc_prop
        except (OSError, ValueError):
            return gc_prop or None


def _maxrss():
    """This process's peak RSS in bytes as getrusage() tells it (ru_maxrss is in KiB on Linux)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
