"""The coverage report of a :PytestCoverage run: coverage.py's JSON report to ``$PYTESTMON_COVERAGE``.

Owns _write_coverage, called at session end (src/parse/coverage.h reads what it writes).
"""
import os

from .env import _COVERAGE_ENV


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
