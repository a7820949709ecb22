"""The suite is hermetic: every temporary file of the session (fixture projects, tmp_path, what
the editors, co-processes and pytest runs create) lives under one private root below build/, so
nothing planted outside it (a stray /tmp/pytest.ini) changes a result."""
import os
import stat
import subprocess
import tempfile

from conftest import BIN, REPO_ROOT, SESSION_TMP, TEST_PYTHON


def test_temporary_files_live_under_one_private_root(tmp_path):
    st = os.stat(SESSION_TMP)
    assert stat.S_IMODE(st.st_mode) == 0o700 and st.st_uid == os.getuid()
    assert os.path.dirname(SESSION_TMP) == os.path.join(REPO_ROOT, "build")
    assert str(tmp_path).startswith(SESSION_TMP + os.sep)
    assert tempfile.gettempdir() == SESSION_TMP
    assert os.environ["TMPDIR"] == SESSION_TMP


def test_a_project_made_by_a_test_sees_no_ini_from_outside(tmp_path):
    """pytest takes the first ini file above the paths it is given as its rootdir: a project
    without its own made under the session root finds none (under /tmp it found any
    /tmp/pytest.ini another user left)."""
    proj = tmp_path / "noini"
    proj.mkdir()
    (proj / "test_x.py").write_text("def test_x():\n    pass\n")
    out = subprocess.run([BIN, "run", "--json", "--python", TEST_PYTHON, "--cwd", str(proj)],
                         capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    import json
    r = json.loads(out.stdout)
    root = r.get("root") or r.get("rootdir")
    assert root and root.startswith(SESSION_TMP), r
