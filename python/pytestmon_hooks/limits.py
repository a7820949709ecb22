"""pytest-memray's ``@pytest.mark.limit_memory("100 MB")``, honoured when pytest-memray is not active.

Owns the marker's registration (so that ``--strict-markers`` accepts it) and its check: a marked
test whose exact peak RSS growth (memory.RssMeter: the kernel's peak of the process that ran it,
reset when the test started, minus its RSS then) is above the limit fails as pytest-memray fails
it ("Test was limited to 100.0MiB but allocated 300.0MiB"), saying what was measured. The check
is made when the call's report is logged (the growth over setup and call: the call fails, as
pytest-memray's would) and again at the teardown's (over setup, call and teardown: a teardown that
pushed it over fails the teardown). Limits and Check run in the process that runs the tests
(pytest's, or each xdist worker), and only when a collected test carries the marker: a run
without one has no hook of theirs per test.
"""
import re

import pytest

_MARKER = "limit_memory"
_UNITS = {"B": 1, "KB": 1 << 10, "MB": 1 << 20, "GB": 1 << 30, "TB": 1 << 40, "PB": 1 << 50}
_SIZE = re.compile(r"(?P<n>\+?\d*\.\d+|\+?\d+)\s*(?P<unit>[KMGTP]B|B)", re.IGNORECASE)


def memray_active(config):
    """pytest-memray is installed and asked for (``--memray`` or its ini): it checks the marker."""
    if not config.pluginmanager.hasplugin("memray"):
        return False
    try:
        if config.getoption("memray", default=False):
            return True
        return bool(config.getini("memray"))
    except (ValueError, KeyError):
        return False


def register_marker(config):
    config.addinivalue_line(
        "markers",
        "limit_memory(limit): fail the test when its peak RSS grows by more than limit, e.g. \"100 MB\" "
        "(pytest-memray's marker, checked by pytestmon when pytest-memray is not active: the exact "
        "peak of setup, call and teardown)")


def parse_size(text):
    """Bytes of "100 MB" (pytest-memray's units: B, KB, MB, GB, TB, PB, powers of 1024)."""
    m = _SIZE.match(str(text).strip())
    if not m:
        raise ValueError("invalid memory size %r (e.g. \"100 MB\")" % (text,))
    return float(m.group("n")) * _UNITS[m.group("unit").upper()]


def sizeof_fmt(num):
    """As pytest-memray writes sizes: 100.0MiB."""
    for unit in ("", "Ki", "Mi", "Gi", "Ti", "Pi", "Ei", "Zi"):
        if abs(num) < 1024.0:
            return "%3.1f%sB" % (num, unit)
        num /= 1024.0
    return "%.1fYiB" % num


class Limits:
    """Registered at configure; at the end of the collection it finds the marked tests and, when
    there are any, registers Check for them."""

    def __init__(self, config, meter):
        self.config = config
        self.meter = meter

    @pytest.hookimpl(trylast=True)
    def pytest_collection_modifyitems(self, session, config, items):
        """After the deselection: the marked tests of those that will run."""
        limits, cache = {}, {}
        for item in items:
            marker = item.get_closest_marker(_MARKER) if _any_marker(item, cache) else None
            if marker is not None:
                limits[item.nodeid] = marker
        if limits:
            config.pluginmanager.register(Check(limits, self.meter), "pytestmon-limit-memory")


def _any_marker(node, cache):
    """Whether the node or a parent has a marker of its own (own_markers is a list: cheaper than
    get_closest_marker on each of 20,000 unmarked tests); each parent is asked once."""
    if node.own_markers:
        return True
    parent = node.parent
    if parent is None:
        return False
    key = id(parent)
    found = cache.get(key)
    if found is None:
        found = cache[key] = _any_marker(parent, cache)
    return found


class Check:
    """The check of the marked tests, when their call and teardown reports are logged (tryfirst:
    before the terminal, the report writer and xdist's sending see them)."""

    def __init__(self, limits, meter):
        self.limits = limits  # nodeid -> its limit_memory marker
        self.meter = meter
        self.failed = set()

    @pytest.hookimpl(tryfirst=True)
    def pytest_runtest_logreport(self, report):
        marker = self.limits.get(report.nodeid)
        if marker is None or report.when == "setup" or not report.passed or report.nodeid in self.failed:
            return
        try:
            limit = parse_size(marker.args[0] if marker.args else marker.kwargs.get("limit"))
        except (ValueError, TypeError) as e:
            self._fail(report, "limit_memory: %s" % e)
            return
        growth = self.meter.growth_now()
        if growth is None or growth <= limit:
            return
        phases = "setup and call" if report.when == "call" else "setup, call and teardown"
        self._fail(report, "Test was limited to %s but allocated %s (pytestmon: exact peak RSS growth over %s)"
                   % (sizeof_fmt(limit), sizeof_fmt(growth), phases))

    def _fail(self, report, text):
        self.failed.add(report.nodeid)
        report.outcome = "failed"
        report.longrepr = text
