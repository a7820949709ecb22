#!/usr/bin/env python3
"""make check-layers: src/ is layered; a file may include only its own layer and the layers below.

    base    strbuf, span, path, textclean, logdir: no project includes but base/
    rpc     msgpack-RPC framing and params: base/ only (knows nothing of pytest or memory)
    mem     /proc, cgroups, limits, sampler, memory report: base/ only
    parse   pure readers of pytest's outputs and Python sources: base/ only, and never libuv
    pytest  the run: project root, interpreter, processes: base/, parse/, mem/
    src/    main, server (ties rpc, mem and pytest together), history: anything

Exit status 1 with one line per offending include."""
import os
import re
import sys

ALLOWED = {
    "base": {"base"},
    "rpc": {"base", "rpc"},
    "mem": {"base", "mem"},
    "parse": {"base", "parse"},
    "pytest": {"base", "parse", "mem", "pytest"},
}
NO_LIBUV = {"base", "parse"}
INCLUDE = re.compile(r'^\s*#\s*include\s+([<"])([^">]+)[">]')


def layer_of(relpath):
    head = relpath.split("/")[0]
    return head if head in ALLOWED else None


def check(src):
    errors = []
    for dirpath, _, names in os.walk(src):
        for name in sorted(names):
            if not name.endswith((".c", ".h")):
                continue
            path = os.path.join(dirpath, name)
            rel = os.path.relpath(path, src)
            layer = layer_of(rel) if "/" in rel else None
            with open(path, encoding="utf-8") as f:
                for lineno, line in enumerate(f, 1):
                    m = INCLUDE.match(line)
                    if not m:
                        continue
                    kind, target = m.groups()
                    where = f"src/{rel}:{lineno}"
                    if kind == '"':
                        if "/" not in target and layer is not None and not os.path.exists(os.path.join(src, target)):
                            errors.append(f"{where}: includes \"{target}\": name its layer (\"<layer>/{target}\")")
                            continue
                        if not os.path.exists(os.path.join(src, target)):
                            errors.append(f"{where}: includes \"{target}\", which is not under src/")
                            continue
                        if layer is None:
                            continue
                        to = layer_of(target)
                        if to is None:
                            errors.append(f"{where}: {layer}/ includes src/{target} (top level: only main and server may)")
                        elif to not in ALLOWED[layer]:
                            errors.append(f"{where}: {layer}/ includes {target} ({to}/ is not below {layer}/)")
                    elif target == "uv.h" and layer in NO_LIBUV:
                        errors.append(f"{where}: {layer}/ includes <uv.h> ({layer}/ knows nothing of libuv)")
    return errors


def main():
    src = sys.argv[1] if len(sys.argv) > 1 else "src"
    errors = check(src)
    for e in errors:
        print(e)
    if errors:
        print(f"check-layers: {len(errors)} include(s) break the layer rule (tools/check_layers.py)")
        return 1
    print("check-layers: OK")
    return 0


if __name__ == "__main__":
    sys.exit(main())
