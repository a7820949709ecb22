"""What pytest collected: the JSON record of ``$PYTESTMON_COLLECT`` (src/parse/collection.h).

Owns where each collected test and class is defined (_Ranges: from code objects and one scan
of a module's lines, inspect as the fallback), the record itself (_collected) and the plugin
that writes it once collection ends (_CollectRecorder). Loaded only when the variable is set.
"""
import os
import sys

import pytest

from .env import _no_space, _warn_off
from .text import _ident, _longrepr_text


def _source_range(obj):
    """(first line, last line), 1-based, of a function's or class's source (decorators
    included), or None."""
    import inspect

    try:
        lines, start = inspect.getsourcelines(obj)
    except Exception:
        return None
    return (start, start + len(lines) - 1) if lines and start > 0 else None


def _code_end(code):
    """The last source line of a code object's statements (nested functions included)."""
    end = code.co_firstlineno
    if hasattr(code, "co_positions"):  # 3.11+: end lines too (a call's closing parenthesis)
        for _, last, _, _ in code.co_positions():
            if last is not None and last > end:
                end = last
    else:
        import dis

        for _, line in dis.findlinestarts(code):
            if line is not None and line > end:
                end = line
    for const in code.co_consts:
        if hasattr(const, "co_firstlineno"):
            end = max(end, _code_end(const))
    return end


class _Ranges:
    """Where tests and classes are defined, cheaply: pytest's own item.location and
    inspect.getsourcelines() cost ~40 us per test (reportinfo, tokenizing the block) and the
    latter re-parses the whole module for every class, which made collecting a 20,000-test suite
    cost a third more than pytest's own collection. A test's range comes from its code object
    (co_firstlineno is its first decorator's line; the end from its line table), a class's from
    one scan of its module's lines for `class NAME`. inspect is the fallback for anything else
    (Python < 3.8, a class name defined twice in a file, odd objects)."""

    def __init__(self):
        self.classes = {}  # path -> {class name: [(line index, indent), ...]}
        # (file, code object) -> (file, first, last): a parametrized test's cases share it. The file
        # is part of the key: code objects compare equal across files (co_filename is not
        # compared), so identical tests in two files would both be put in the first one.
        self.codes = {}

    def function(self, obj):
        """(file, first line, last line) of a test function, or None."""
        try:
            import inspect

            code = inspect.unwrap(obj).__code__
            key = (code.co_filename, code)
            if key in self.codes:
                return self.codes[key]
            rng = None
            if sys.version_info >= (3, 8) and os.path.isabs(code.co_filename):
                rng = code.co_filename, code.co_firstlineno, _code_end(code)
            self.codes[key] = rng
            return rng
        except Exception:
            return None

    def _class_lines(self, path):
        if path not in self.classes:
            import linecache
            import re

            found = {}
            pattern = re.compile(r"([ \t]*)class[ \t]+(\w+)")
            for i, text in enumerate(linecache.getlines(path)):
                m = pattern.match(text)
                if m:
                    found.setdefault(m.group(2), []).append((i, len(m.group(1).expandtabs())))
            self.classes[path] = found
        return self.classes[path]

    def klass(self, cls):
        """(first line, last line) of a class, or None."""
        try:
            import linecache

            path = sys.modules[cls.__module__].__file__
            where = self._class_lines(path).get(cls.__name__, ())
            if len(where) == 1:
                lines = linecache.getlines(path)
                i, indent = where[0]
                first = i
                while first > 0 and lines[first - 1].strip().startswith("@"):
                    first -= 1
                last = i
                for j in range(i + 1, len(lines)):
                    text = lines[j]
                    stripped = text.strip()
                    if not stripped or stripped.startswith("#"):
                        continue
                    expanded = text.expandtabs()
                    if len(expanded) - len(expanded.lstrip()) <= indent:
                        break  # the first statement after the class body
                    last = j
                return first + 1, last + 1
        except Exception:
            pass
        return _source_range(cls)


def _item_location(item):
    """(path, 0-based line or None) of an item that is no test function (a conftest hook's, a
    doctest): its reportinfo() as is, without the relative path item.location computes at some
    50 us an item; item.location when reportinfo() is not usable."""
    try:
        info = item.reportinfo()
        path = os.fspath(info[0])
        if path and isinstance(info[1], (int, type(None))):
            return path, info[1]
    except Exception:
        pass
    return item.location


def _node_file(node, root):
    path = getattr(node, "path", None) or getattr(node, "fspath", None)
    if path is None:
        return root
    return os.path.normpath(os.path.join(root, str(path)))


def _class_file(cls):
    """The file a class is defined in, or None: a class imported into another test module (or
    made elsewhere) is defined in its own module, whose lines _Ranges.klass reads."""
    try:
        path = sys.modules[cls.__module__].__file__
        return os.path.normpath(path) if path and os.path.isabs(path) else None
    except Exception:
        return None


def _to_host(record):
    """The record's paths as the editor sees them (pathmap.py: unchanged without a map)."""
    from .pathmap import _PAIRS, to_host

    if _PAIRS:
        record["rootdir"] = to_host(record["rootdir"])
        for key in ("items", "classes", "errors"):
            for entry in record[key]:
                if entry.get("file"):
                    entry["file"] = to_host(entry["file"])
    return record


def _collected(session, errors=()):
    """What pytest collected, with where each test and class is defined, and the collection
    errors at their files: the JSON document of PYTESTMON_COLLECT (see src/parse/collection.h)."""
    root = str(session.config.rootpath) if hasattr(session.config, "rootpath") else str(session.config.rootdir)
    ranges = _Ranges()
    items, classes = [], {}
    for item in session.items:
        obj = getattr(item, "obj", None) if isinstance(item, pytest.Function) else None
        rng = ranges.function(obj) if obj is not None else None
        if rng:
            entry = {"nodeid": _ident(item.nodeid), "file": _ident(os.path.normpath(rng[0])), "line": rng[1],
                     "end": rng[2]}
        else:
            loc = _item_location(item)
            path = os.path.join(root, loc[0]) if loc and loc[0] else str(getattr(item, "fspath", ""))
            entry = {"nodeid": _ident(item.nodeid), "file": _ident(os.path.normpath(path))}
            frng = _source_range(obj) if obj is not None else None
            if frng:
                entry["line"], entry["end"] = frng
            elif loc and loc[1] is not None:
                entry["line"] = entry["end"] = loc[1] + 1
        items.append(entry)
        node = item.parent
        while node is not None and isinstance(node, pytest.Class):
            if node.nodeid not in classes:
                cls = getattr(node, "obj", None)
                c = {"nodeid": _ident(node.nodeid), "file": _ident(_class_file(cls) or _node_file(node, root))}
                crng = ranges.klass(cls)
                if crng:
                    c["line"], c["end"] = crng
                classes[node.nodeid] = c
            node = node.parent
    errs = []
    for rep in errors:
        path = rep.nodeid.split("::")[0]
        errs.append({"nodeid": _ident(rep.nodeid), "file": _ident(os.path.normpath(os.path.join(root, path))),
                     "message": _ident(_longrepr_text(rep))})
    return {"rootdir": _ident(root), "items": items, "classes": list(classes.values()), "errors": errs}


class _CollectRecorder:
    """Writes _collected() to $PYTESTMON_COLLECT once collection ends (the co-process's
    `collect` method and the nearest test). Registered whenever that variable is set, with or
    without the report writer (a bare collection needs no report)."""

    def __init__(self, config, path):
        self.path = path
        self.is_worker = hasattr(config, "workerinput")
        self.errors = []

    @pytest.hookimpl(trylast=True)
    def pytest_collectreport(self, report):
        if report.failed:
            self.errors.append(report)

    @pytest.hookimpl(trylast=True)
    def pytest_collection_finish(self, session):
        if self.is_worker:
            return
        try:
            import json

            text = json.dumps(_to_host(_collected(session, self.errors)))  # the C encoder: dump() is pure Python
            with open(self.path, "w", encoding="utf-8") as f:
                f.write(text)
        except Exception as e:
            if _no_space(e):
                _warn_off("collection", e)
            else:
                sys.stderr.write("pytestmon plugin: cannot record what was collected (%r)\n" % (e,))
