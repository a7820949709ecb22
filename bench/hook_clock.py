"""A bench-only pytest plugin that clocks pytestmon's plugin from inside pytest: the time spent in
its per-test hooks (pytest_runtest_logstart, pytest_runtest_logreport of python/pytestmon_hooks/plugin.py's
Plugin), of it in the memory meter (memory.py's RssMeter.begin/end: the exact per-test peak
RSS), of that in the garbage collector's record (gcrecord.py's GcRecord.begin/end), and the time
of the record's gc.callbacks entry (it runs during the tests, when Python collects, not in the
hooks), in a real run.

bench/run.py loads it after pytestmon's (`-p pytestmon_plugin -p hook_clock`, PYTESTMON_REPORT
set) and reads $BENCH_HOOK_CLOCK (JSON) when pytest exits. Whole-process timings cannot resolve
a few microseconds a test on a shared machine (one variant's repetitions span 0.8-1.4x); the
clock inside the process can: it is what the plugin itself costs a test, apart from pytest's
dispatch of the hook calls (bench/null_plugin.py, variant (e)) and the fixed cost of a run.

The plugin's object is taken out of pytest's plugin manager, its hook methods are replaced on
the instance by clocked ones with the same names, arguments and hookimpl options, and it is
registered again: pytest then calls exactly the plugin's code, with a clock read around it
(~0.1 us a read, counted in the figures)."""
import gc
import json
import os
import time

import pytest

_clock = time.perf_counter_ns
_totals = {"start": 0, "results": 0, "meter": 0, "gc": 0, "gc_callbacks": 0, "tests": 0}


def _timed(fn, key):
    """fn, with the time spent in each call added to _totals[key]."""
    def timed(*args):
        t0 = _clock()
        try:
            return fn(*args)
        finally:
            _totals[key] += _clock() - t0

    return timed


def _clocked_meter(meter):
    meter.begin, meter.end = _timed(meter.begin, "meter"), _timed(meter.end, "meter")
    record = meter.gc
    record.begin, record.end = _timed(record.begin, "gc"), _timed(record.end, "gc")
    timed = _timed(record.callback, "gc_callbacks")
    gc.callbacks[gc.callbacks.index(record.callback)] = timed
    record.callback = timed


def _clocked_hooks(plugin):
    logstart, logreport = plugin.pytest_runtest_logstart, plugin.pytest_runtest_logreport
    start, results = _timed(logstart, "start"), _timed(logreport, "results")

    # pluggy passes a hook's arguments by the implementation's parameter names: these two name
    # them as the plugin's methods do (a *args wrapper would be called with none)
    def pytest_runtest_logstart(nodeid, location):
        _totals["tests"] += 1
        return start(nodeid, location)

    def pytest_runtest_logreport(report):
        return results(report)

    # pluggy reads the hookimpl options (tryfirst/trylast) from the function's marker
    pytest_runtest_logstart.pytest_impl = logstart.__func__.pytest_impl
    pytest_runtest_logreport.pytest_impl = logreport.__func__.pytest_impl
    plugin.pytest_runtest_logstart = pytest_runtest_logstart
    plugin.pytest_runtest_logreport = pytest_runtest_logreport


@pytest.hookimpl(trylast=True)
def pytest_configure(config):
    pm = config.pluginmanager
    plugin = pm.get_plugin("pytestmon")
    if plugin is None or not hasattr(plugin, "writer"):
        raise pytest.UsageError("hook_clock: pytestmon's plugin is not active (PYTESTMON_REPORT unset?)")
    pm.unregister(plugin)
    _clocked_meter(plugin.rss)
    _clocked_hooks(plugin)
    pm.register(plugin, "pytestmon")


def pytest_unconfigure(config):
    with open(os.environ["BENCH_HOOK_CLOCK"], "w") as f:
        json.dump(_totals, f)
