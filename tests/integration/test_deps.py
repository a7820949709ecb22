"""`make deps`: quiet when everything is installed; as a normal user with something missing
it prints the exact apt-get line and fails."""
import os
import shutil
import subprocess

import pytest

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def test_quiet_when_everything_is_present():
    p = subprocess.run(["sh", "tools/deps.sh"], cwd=REPO, capture_output=True, text=True, timeout=60)
    assert p.returncode == 0
    assert p.stdout == "" and p.stderr == ""


@pytest.mark.skipif(os.geteuid() != 0 or not shutil.which("setpriv"), reason="needs root to drop to nobody")
def test_non_root_prints_the_exact_install_line():
    env = dict(os.environ, PYTESTMON_DEPS_EXTRA="pytestmon-no-such-package")
    p = subprocess.run(["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups",
                        "sh", os.path.join(REPO, "tools/deps.sh")],
                       cwd="/", env=env, capture_output=True, text=True, timeout=60)
    assert p.returncode == 1
    assert "apt-get install -y pytestmon-no-such-package" in p.stderr
