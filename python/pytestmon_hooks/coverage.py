"""The coverage report of a :PytestCoverage run: coverage.py's JSON report to ``$PYTESTMON_COVERAGE``.

Owns _write_coverage, called at session end (src/parse/coverage.h reads what it writes).
"""
import os

from .env import _COVERAGE_ENV


def _files_to_host(path):
    """The report's absolute file names as the editor sees them (pathmap.py), when mapped."""
    from .pathmap import _PAIRS, to_host

    if not _PAIRS:
        return
    import json

    with open(path, encoding="utf-8") as f:
        data = json.load(f)
    files = data.get("files")
    if isinstance(files, dict):
        data["files"] = {to_host(k): v for k, v in files.items()}
        with open(path, "w", encoding="utf-8") as f:
            json.dump(data, f)


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
        _files_to_host(path)
    except Exception as e:
        try:
            import json

            with open(path, "w", encoding="utf-8") as f:
                json.dump({"pytestmon_error": "%s: %s" % (type(e).__name__, e)}, f)
        except Exception:
            pass
