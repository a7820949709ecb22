"""pytest plugin used as an oracle: records what pytest itself knows about each failure.

Loaded with `-p pytest_oracle` (PYTHONPATH pointing here); writes ORACLE_OUT as JSON:
[{nodeid, when, entries: [[abs_path, line1], ...]}] for every failed/errored report."""
import json
import os

_records = []


def pytest_runtest_logreport(report):
    if not report.failed:
        return
    entries = []
    tb = getattr(report.longrepr, "reprtraceback", None)
    for e in getattr(tb, "reprentries", []) or []:
        loc = getattr(e, "reprfileloc", None)
        if loc is not None:
            entries.append([os.path.abspath(loc.path), loc.lineno])
    _records.append({"nodeid": report.nodeid, "when": report.when, "entries": entries})


def pytest_collectreport(report):
    if report.failed:
        _records.append({"nodeid": report.nodeid, "when": "collect", "entries": []})


def pytest_sessionfinish(session):
    out = os.environ.get("ORACLE_OUT")
    if out:
        with open(out, "w") as f:
            json.dump(_records, f)
