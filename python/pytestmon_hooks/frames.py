"""A failure's frames in the user's code (``pytestmon.frames``).

Owns which traceback entries are the user's (not the standard library's, installed packages',
pytest's or pluggy's, not ``__tracebackhide__`` ones: user_frames, _library_dirs) and where a
worker leaves them on the report (_FRAMES_ATTR, read by _frames_of on xdist's controller).
"""
import os
import sys

import pytest

from .pathmap import to_host

# Where a worker (plugin.WorkerPlugin) leaves a report's frames (and, memory._RSS_ATTR, its test's
# memory): attributes of the report itself (TestReport keeps unknown keyword arguments, so xdist
# carries them from a worker to the controller), not user_properties, which pytest's own
# --junitxml would write out.
_FRAMES_ATTR = "pytestmon_frames"


def _library_dirs():
    """Directories whose code is not the user's: the standard library, installed packages
    (of this interpreter and of the one a venv was made from), pytest and pluggy. Found when the
    plugin starts, before the first test (plugin.Plugin, WorkerPlugin): what it loads
    (sysconfig's data) is not a test's memory."""
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
        frames.append([to_host(path), entry.lineno + 1])
    return frames


def _frames_of(rep):
    return getattr(rep, _FRAMES_ATTR, None)
