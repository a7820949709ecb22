""":checkhealth pytest on 0.7 (health#report_*) and 0.10 (vim.health.*)."""
import os

from conftest import FIXTURES_DIR, PROJ_FAIL

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
