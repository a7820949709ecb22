""":checkhealth pytest on 0.7 (health#report_*) and 0.10 (vim.health.*)."""
import os
import shutil

from conftest import FIXTURES_DIR, PROJ_FAIL, TEST_PYTHON

SECTIONS = ["pytest: Neovim", "pytest: co-process", "pytest: project", "pytest: directories",
            "pytest: memory"]


def checkhealth(nvim):
    nvim.command("checkhealth pytest")
    return "\n".join(nvim.current.buffer[:])


def test_sections_and_version(nvim):
    text = checkhealth(nvim)
    for s in SECTIONS:
        assert s in text, s
    v = nvim.exec_lua("local v = vim.version() return string.format('%d.%d.%d', v.major, v.minor, v.patch)")
    assert f"Neovim {v} (supported: 0.7 or newer)" in text
    assert "Failed to run healthcheck" not in text
    assert "ERROR: No healthchecks found" not in text


def test_missing_binary_is_an_error_with_advice(nvim, repo_root):
    nvim.call("setenv", "PYTESTMON_BIN", "/nonexistent/pytestmon")
    text = checkhealth(nvim)
    assert "co-process not found or not executable: /nonexistent/pytestmon" in text
    assert f"run `make` in {repo_root}" in text


def test_project_root_and_python(nvim):
    nvim.command("edit " + os.path.join(PROJ_FAIL, "tests", "test_math.py"))
    nvim.exec_lua("require('pytest').setup({ python = '/usr/bin/python3' })")
    text = checkhealth(nvim)
    assert f"project root: {PROJ_FAIL} (found pytest.ini)" in text
    assert "python: /usr/bin/python3" in text
    assert "pytest 7." in text or "pytest 8." in text


def test_project_root_is_the_runs_root(nvim):
    """tests/conftest.py is nearer, pyproject.toml above it is the root (the co-process says so,
    the same rule as for runs)."""
    proj = os.path.join(FIXTURES_DIR, "proj_flat")
    nvim.command("edit " + os.path.join(proj, "tests", "test_a.py"))
    nvim.exec_lua("require('pytest').setup({ python = function(root) return root .. '/no-such-python' end })")
    text = checkhealth(nvim)
    assert f"project root: {proj} (found pyproject.toml)" in text
    assert f"python interpreter not found: {proj}/no-such-python" in text


def test_log_dir_writable(nvim, tmp_path):
    d = tmp_path / "logs"
    nvim.exec_lua("require('pytest').setup({ log_dir = ... })", str(d))
    text = checkhealth(nvim)
    assert f"log directory writable: {d}" in text


def test_log_dir_unsafe_is_an_error(nvim, tmp_path):
    d = tmp_path / "logs"
    d.mkdir()
    os.chmod(d, 0o777)
    nvim.exec_lua("require('pytest').setup({ log_dir = ... })", str(d))
    text = checkhealth(nvim)
    assert f"log directory is writable by group or others (mode 777): {d}" in text
    assert "runs have no logs" in text


def test_interpreter_output_is_shown_clean(nvim, tmp_path):
    """An interpreter (or its sitecustomize) printing control sequences: the report shows text."""
    py = tmp_path / "python"
    py.write_text("#!/bin/sh\nprintf '7.2\\033]0;pwned\\007\\033[2J!\\n'\n")
    py.chmod(0o755)
    nvim.command("edit " + os.path.join(PROJ_FAIL, "tests", "test_math.py"))
    nvim.exec_lua("require('pytest').setup({ python = ... })", str(py))
    text = checkhealth(nvim)
    assert "pytest 7.2!" in text
    assert not [c for c in text if ord(c) < 32 and c not in "\n\t"]


def test_debugpy_and_nvim_dap_for_pytest_debug(nvim, tmp_path):
    # In the project: the interpreters below (under tmp_path) are outside its root, so health
    # may ask them (it runs nothing under the root, which is the cwd when no marker is found).
    nvim.command("cd " + PROJ_FAIL)
    nvim.command("edit " + os.path.join(PROJ_FAIL, "tests", "test_math.py"))
    nvim.exec_lua("require('pytest').setup({ python = '/usr/bin/python3' })")
    text = checkhealth(nvim)
    assert "debugpy 1." in text and "(:PytestDebug)" in text
    assert ":PytestDebug without nvim-dap: debugpy waits on 127.0.0.1" in text
    # An interpreter without debugpy (it has pytest): a warning with advice; nvim-dap present.
    py = tmp_path / "python"
    py.write_text('#!/bin/sh\ncase "$*" in *debugpy*) echo "No module named debugpy" >&2; exit 1;; esac\n'
                  'exec /usr/bin/python3 "$@"\n')
    py.chmod(0o755)
    fake = tmp_path / "fake-dap" / "lua"
    fake.mkdir(parents=True)
    (fake / "dap.lua").write_text("return { run = function() end, adapters = {} }\n")
    nvim.command("set rtp^=" + str(tmp_path / "fake-dap"))
    nvim.exec_lua("require('pytest').setup({ python = ... })", str(py))
    text = checkhealth(nvim)
    assert f"debugpy is not importable with {py}: :PytestDebug cannot work (No module named debugpy)" in text
    assert "install python3-debugpy" in text
    assert ":PytestDebug hands its launch configuration to nvim-dap" in text


def _project_that_tells_if_run(tmp_path):
    """A project whose code leaves a marker when anything of it runs: .venv/bin/python (a
    script), and pytest.py at the root (what `import pytest` finds first from the root)."""
    proj = tmp_path / "proj"
    (proj / "tests").mkdir(parents=True)
    (proj / "pytest.ini").write_text("[pytest]\n")
    (proj / "tests" / "test_a.py").write_text("def test_a():\n    pass\n")
    (proj / "pytest.py").write_text(f"open({str(tmp_path / 'imported')!r}, 'w').close()\n__version__ = 'pwned'\n")
    (proj / ".venv" / "bin").mkdir(parents=True)
    py = proj / ".venv" / "bin" / "python"
    py.write_text(f"#!/bin/sh\ntouch {tmp_path / 'ran'}\nexec {TEST_PYTHON} \"$@\"\n")
    py.chmod(0o755)
    return proj, py


def _health_in(nvim, proj):
    nvim.call("setenv", "VIRTUAL_ENV", "")
    nvim.command("cd " + str(proj))
    nvim.command("edit " + str(proj / "tests" / "test_a.py"))
    nvim.exec_lua("require('pytest').setup({})")
    return checkhealth(nvim)


def test_checkhealth_does_not_run_the_projects_interpreter(nvim, tmp_path):
    """The project's venv interpreter is not run: versions come from its files."""
    proj, py = _project_that_tells_if_run(tmp_path)
    text = _health_in(nvim, proj)
    assert not (tmp_path / "ran").exists(), "the project's interpreter was run"
    assert f"python: {py} (chosen by .venv in the project root)" in text
    assert "run :PytestRun to check the interpreter" in text
    assert f"no pyvenv.cfg beside {py.parent}" in text
    # A real venv's layout: its Python version from pyvenv.cfg, pytest's and debugpy's from
    # the dist-info METADATA in its site-packages.
    (proj / ".venv" / "pyvenv.cfg").write_text("home = /usr/bin\ninclude-system-site-packages = false\n"
                                             "version = 3.11.2\n")
    site = proj / ".venv" / "lib" / "python3.11" / "site-packages"
    (site / "pytest-7.4.0.dist-info").mkdir(parents=True)
    (site / "pytest-7.4.0.dist-info" / "METADATA").write_text("Metadata-Version: 2.1\nName: pytest\n"
                                                              "Version: 7.4.0\n")
    (site / "pytest_cov-4.0.0.dist-info").mkdir()
    text = checkhealth(nvim)
    assert f"Python 3.11.2 ({proj}/.venv/pyvenv.cfg)" in text
    assert f"pytest 7.4.0 (installed in {site})" in text
    assert f"debugpy is not installed in {proj}/.venv: :PytestDebug cannot work" in text
    assert not (tmp_path / "ran").exists(), "the project's interpreter was run"
    assert not (tmp_path / "imported").exists()


def test_checkhealth_asks_the_system_interpreter_outside_the_project(nvim, tmp_path):
    """No venv: python3 from PATH (here the test interpreter, which has pytest) is asked from
    "/", so the pytest.py at the root (nvim's current directory) is not imported."""
    proj, py = _project_that_tells_if_run(tmp_path)
    shutil.rmtree(proj / ".venv")
    bindir = tmp_path / "bin"
    bindir.mkdir()
    (bindir / "python3").symlink_to(TEST_PYTHON)
    nvim.call("setenv", "PATH", f"{bindir}:{os.environ['PATH']}")
    text = _health_in(nvim, proj)
    assert not (tmp_path / "imported").exists(), "the project's pytest.py was imported"
    assert f"python: {bindir}/python3 (chosen by python3 from PATH)" in text
    assert "pytest 7." in text or "pytest 8." in text
    assert "pwned" not in text


def test_checkhealth_names_a_refused_interpreter(nvim, tmp_path):
    """A venv interpreter writable by others (or owned by another user) is refused by runs:
    the report says so, naming the file, and runs nothing."""
    proj, py = _project_that_tells_if_run(tmp_path)
    py.chmod(0o777)
    text = _health_in(nvim, proj)
    assert not (tmp_path / "ran").exists(), "the refused interpreter was run"
    assert (f"refusing interpreter {py}: writable by others (mode 0777); "
            "set the `python` option to run it anyway") in text
    if os.geteuid() == 0:
        py.chmod(0o755)
        os.chown(py, 65534, 65534)
        text = checkhealth(nvim)
        assert f"refusing interpreter {py}: owned by uid 65534 (not you or root)" in text
    assert not (tmp_path / "ran").exists()
    assert not (tmp_path / "imported").exists()
