"""The environment the plugin works in: the variables that name its files, and its warning.

Owns the names of the variables the co-process sets (each switches a part of the plugin on:
the report, the collection record, the coverage report, the arguments exec could not pass)
and the one warning of a part that switches itself off (_warn_off: "pytestmon plugin: ..." on
stderr, which src/pytest/runresult.c looks for).
"""
import os
import sys

_ENV = "PYTESTMON_REPORT"
_COLLECT_ENV = "PYTESTMON_COLLECT"
_COVERAGE_ENV = "PYTESTMON_COVERAGE"
_ARGS_ENV = "PYTESTMON_ARGS"
_IMPORTS_ENV = "PYTESTMON_IMPORTS"  # imports.py: the record of the modules the warm pytest preloads


def _no_space(exc):
    """True for the error of a write to a full file system (or quota)."""
    import errno

    return isinstance(exc, OSError) and exc.errno in (errno.ENOSPC, errno.EDQUOT)


def _warn_off(what, exc):
    """The one warning of a plugin that switches itself off. The co-process looks for
    "pytestmon plugin: no space left" on pytest's stderr (src/pytest/runresult.c): the report is
    then cut short because its file system is full, and it says so."""
    if _no_space(exc):
        path = os.environ.get(_ENV) or os.environ.get(_COLLECT_ENV) or "?"
        sys.stderr.write("pytestmon plugin: no space left on the device of %s (%s); results come from "
                         "pytest's output\n" % (path, exc.strerror))
    else:
        sys.stderr.write("pytestmon plugin: %s failed (%r); results come from pytest's output\n" % (what, exc))
