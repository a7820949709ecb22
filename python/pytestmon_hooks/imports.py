"""The record of what a run imported from outside the project: the modules the warm pytest
(python/pytestmon_warm.py) imports before it forks the next run. Imported only when
$PYTESTMON_IMPORTS names the file (written at the end of the session, one module name a line, in
the order they were imported).

Left out: modules whose file is under the project (its root, pytest's rootdir, the invocation
directory: they change between runs, each run imports them itself), modules without a file, and every module pytest's assertion rewriter rewrote or was told to
rewrite (plugins from entry points, ``-p`` modules, ``pytest_plugins``, conftest files):
importing those before pytest would make it warn "Module already imported so cannot be
rewritten" (an error under ``filterwarnings = error``)."""
import os
import sys


def _under(path, dirs):
    return any(path == d or path.startswith(d + os.sep) for d in dirs)


def write_imports(config, path):
    dirs = set()
    for d in (str(config.rootpath), str(config.invocation_params.dir), os.getcwd()):
        try:
            dirs.add(os.path.realpath(d))
        except (OSError, ValueError):
            pass
    hook = getattr(config.pluginmanager, "rewrite_hook", None)
    marked = set(getattr(hook, "_marked_for_rewrite_names", ()) or ()) | set(getattr(hook, "_must_rewrite", ()) or ())
    names = []
    real_dirs = {}
    # In a fork of the warm pytest (python/pytestmon_warm.py) what it had imported is known:
    # its preload list stays, and only the modules imported since are looked at.
    warm = getattr(sys, "_pytestmon_warm", None)
    skip = ()
    if warm:
        skip, preloaded = warm
        names = [n for n in preloaded if n in sys.modules]
    for name, mod in list(sys.modules.items()):
        if name in skip:
            continue
        if mod is None or name == "__main__" or name.startswith("pytestmon_") or "conftest" in name:
            continue
        f = getattr(mod, "__file__", None)
        if not isinstance(f, str):
            continue
        if type(getattr(mod, "__loader__", None)).__name__ == "AssertionRewritingHook":
            continue
        if any(name == m or name.startswith(m + ".") for m in marked):
            continue
        # The directory resolved once for all its modules (sympy brings a thousand): this runs at
        # the end of every run that may start a warm pytest.
        d, base = os.path.split(f)
        real_dir = real_dirs.get(d)
        if real_dir is None:
            try:
                real_dir = real_dirs[d] = os.path.realpath(d)
            except (OSError, ValueError):
                continue
        if _under(real_dir, dirs):
            continue
        names.append(name)
    tmp = path + ".tmp"
    with open(tmp, "w", encoding="utf-8", errors="surrogateescape") as out:
        out.write("".join(n + "\n" for n in names))
    os.replace(tmp, path)
