"""tools/check_layers.py (make check-layers) passes on src/ and catches each kind of violation."""
import os
import shutil
import subprocess
import sys

import pytest

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
CHECK = os.path.join(REPO, "tools", "check_layers.py")


def check(src):
    return subprocess.run([sys.executable, CHECK, src], capture_output=True, text=True, timeout=60)


def test_the_tree_follows_the_layer_rule():
    r = check(os.path.join(REPO, "src"))
    assert r.returncode == 0, r.stdout
    assert "check-layers: OK" in r.stdout


@pytest.mark.parametrize("path,line,expect", [
    ("rpc/rpc.c", '#include "pytest/runner.h"', "rpc/ includes pytest/runner.h"),
    ("rpc/rpc.c", '#include "mem/procmem.h"', "rpc/ includes mem/procmem.h"),
    ("mem/procmem.c", '#include "parse/junit.h"', "mem/ includes parse/junit.h"),
    ("parse/junit.c", '#include "pytest/runner.h"', "parse/ includes pytest/runner.h"),
    ("parse/junit.c", "#include <uv.h>", "parse/ includes <uv.h>"),
    ("base/strbuf.c", '#include "rpc/rpc.h"', "base/ includes rpc/rpc.h"),
    ("pytest/runner.c", '#include "server.h"', "top level"),
    ("mem/sysmem.c", '#include "procmem.h"', "name its layer"),
])
def test_a_planted_violation_is_reported(tmp_path, path, line, expect):
    src = tmp_path / "src"
    shutil.copytree(os.path.join(REPO, "src"), src)
    f = src / path
    f.write_text(line + "\n" + f.read_text())
    r = check(str(src))
    assert r.returncode == 1
    assert f"src/{path}:1:" in r.stdout and expect in r.stdout, r.stdout
