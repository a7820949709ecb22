"""Failures are located exactly whatever the user does to pytest's report and terminal: the
pytestmon plugin (python/pytestmon_hooks/) hands over pytest's own traceback frames, node ids
and counts. The reference is an independent run without the plugin (pytest's junitxml and the
traceback-text algorithm, exact on plain runs) on proj_fail, which holds every failure shape."""
import json
import os
import shutil
import subprocess
import tempfile

import pytest

from conftest import BIN, FIXTURES_DIR, TEST_PYTHON

PYTHON = TEST_PYTHON
PROJ = os.path.join(FIXTURES_DIR, "proj_fail")


def run(cwd, *args, env=None):
    e = dict(os.environ)
    e.update(env or {})
    p = subprocess.run([BIN, "run", "--json", "--python", PYTHON, "--cwd", cwd, "--", *args],
                       capture_output=True, text=True, env=e, timeout=120)
    return json.loads(p.stdout)


def sites(r, root, with_message=True):
    out = set()
    for f in r["failures"]:
        rel = lambda p: os.path.relpath(p, root) if p else None
        site = (f["nodeid"], f["kind"], f.get("when"), rel(f["file"]), f["line"],
                rel(f.get("crash_file")), f.get("crash_line"))
        out.add(site + ((f["message"],) if with_message else ()))
    return out


@pytest.fixture(scope="module")
def reference(tmp_path_factory):
    no_plugin = str(tmp_path_factory.mktemp("no-plugin"))
    r = run(PROJ, env={"PYTESTMON_PYDIR": no_plugin})
    assert r["source"] == "junit" and "-p" not in r["cmd"]
    assert len(r["failures"]) == 22
    return r


@pytest.mark.parametrize("opts", [
    [], ["--tb=no"], ["--tb=line"], ["--tb=short"], ["--tb=native"], ["-q"], ["-p", "no:junitxml"],
    ["-n", "2"], ["--tb=no", "-n", "2", "-p", "no:junitxml"],
], ids=lambda o: " ".join(o) or "plain")
def test_locations_are_exact_whatever_the_options(reference, opts):
    r = run(PROJ, *opts)
    assert r["source"] == "junit", r.get("source_reason")
    assert sites(r, PROJ) == sites(reference, PROJ)
    # pytest's own counts: its summary counts a strict XPASS as failed.
    c = r["counts"]
    assert (c["failed"], c["passed"], c["errors"], c["skipped"], c["xfailed"], c["xpassed"]) == (18, 4, 4, 1, 1, 1)


def test_user_junitxml_is_written_and_results_are_exact(reference, tmp_path):
    theirs = tmp_path / "out.xml"
    r = run(PROJ, f"--junitxml={theirs}")
    assert theirs.exists() and b"<testcase" in theirs.read_bytes()
    assert r["source"] == "junit" and sites(r, PROJ) == sites(reference, PROJ)


def test_no_terminal_still_locates(reference):
    # pytest itself reports "no option named 'verbose'" for failed asserts without its
    # terminal plugin: the messages are pytest's, the places stay exact.
    r = run(PROJ, "-p", "no:terminal")
    assert r["source"] == "junit"
    got = {s[:5] for s in sites(r, PROJ, with_message=False)}
    assert got == {s[:5] for s in sites(reference, PROJ, with_message=False)}


def test_addopts_quiet_and_no_junitxml(reference, tmp_path):
    proj = tmp_path / "proj"
    shutil.copytree(PROJ, proj)
    with open(proj / "pytest.ini", "a") as f:
        f.write("addopts = -q -p no:junitxml --tb=line\n")
    r = run(str(proj))
    assert r["source"] == "junit"
    assert sites(r, str(proj)) == sites(reference, PROJ)


def pytest_summary(cwd, *args):
    """pytest's own closing line, without its time: "3 failed, 24 deselected"."""
    p = subprocess.run([PYTHON, "-m", "pytest", "-p", "no:cacheprovider", *args], cwd=cwd,
                       capture_output=True, text=True, timeout=120)
    last = p.stdout.strip().splitlines()[-1].strip("= ")
    return last.rsplit(" in ", 1)[0]


@pytest.mark.parametrize("args", [["-k", "test_add or test_mul"], ["--continue-on-collection-errors"],
                                  ["-m", "slow_marker_unused"]], ids=lambda a: " ".join(a))
def test_counts_are_pytests_own(args):
    proj = os.path.join(FIXTURES_DIR, "proj_collect") if "--continue-on-collection-errors" in args else PROJ
    r = run(proj, *args)
    assert r["summary"].rsplit(" in ", 1)[0] == pytest_summary(proj, *args)


# ---- in the editor: the quickfix list of :PytestRun, :PytestFile, :PytestNearest ---------------

from conftest import record_finished, wait_finished, wait_for  # noqa: E402


@pytest.fixture
def ed(nvim):
    return record_finished(nvim)  # set up by run_in(), with the args of each case


def run_in(ed, command, opts):
    ed.exec_lua("local py, args = ... require('pytest').setup({ python = py, args = args })", PYTHON, opts)
    wait_finished(ed, command, timeout=120)
    return ed.exec_lua("""
        local out = {}
        for _, it in ipairs(vim.fn.getqflist()) do
          table.insert(out, { vim.api.nvim_buf_get_name(it.bufnr), it.lnum, it.type })
        end
        return out
    """)


def expected_entries(reference, only_file=None):
    """(file, line, type) of every quickfix entry the reference's failures make."""
    out = set()
    for f in reference["failures"]:
        if only_file and f["file"] != only_file:
            continue
        out.add((f["file"], f["line"], "E"))
        if f.get("crash_file"):
            out.add((f["crash_file"], f["crash_line"], "I"))
    return out


EDITOR_OPTS = [["--tb=no"], ["--tb=line", "-p", "no:junitxml"], ["-q", "--tb=native"], ["-p", "no:terminal"],
               ["--tb=short", "--junitxml=" + os.path.join(tempfile.gettempdir(), "pytestmon-test-user.xml")]]


@pytest.mark.parametrize("opts", EDITOR_OPTS, ids=lambda o: " ".join(o))
def test_run_file_nearest_in_the_editor(ed, reference, opts):
    ed.command("cd " + PROJ)
    got = run_in(ed, "PytestRun", opts)
    assert set(map(tuple, got)) == expected_entries(reference)

    math = os.path.join(PROJ, "tests", "test_math.py")
    ed.command("edit " + math)
    got = run_in(ed, "PytestFile", opts)
    assert set(map(tuple, got)) == expected_entries(reference, only_file=math)

    # Nearest inside TestCalc.test_mul: its failing assert, exactly.
    ed.current.window.cursor = (26, 8)
    got = run_in(ed, "PytestNearest", opts)
    assert [tuple(e) for e in got] == [(math, 26, "E")]


# ---- one clear sentence each (#13 item 11), through the editor -----------------------------------

def finished_note(ed, command, before_fired):
    ed.command(command)
    wait_for(ed, f"#_G.fired > {before_fired}", timeout=60)
    return ed.exec_lua("return _G.__notes[#_G.__notes].msg")


def test_messages_say_it_once(ed, tmp_path):
    ed.exec_lua("local py = ... require('pytest').setup({ python = py, timeout = 1 })", PYTHON)
    ed.command("cd " + os.path.join(FIXTURES_DIR, "proj_slow"))
    msg = finished_note(ed, "PytestRun test_hang.py::test_hang", 0)
    assert msg == "pytest: timed out after 1 s", msg
    ed.exec_lua("local py = ... require('pytest').setup({ python = py })", PYTHON)
    msg = finished_note(ed, "PytestRun --bogus-flag", 1)
    assert msg.startswith("pytest: pytest usage error: ") and msg.count("usage error") == 1, msg
    assert msg.endswith("unrecognized arguments: --bogus-flag"), msg
    ed.command("PytestRun test_hang.py::test_hang")
    wait_for(ed, "require('pytest').is_running() and require('pytest.state').run_id ~= nil")
    msg = finished_note(ed, "PytestStop", 2)
    assert msg == "pytest: run cancelled", msg
    proj = tmp_path / "p"
    proj.mkdir()
    (proj / "pytest.ini").write_text("[pytest]\n")
    (proj / "conftest.py").write_text("import os\nimport no_such_module_xyz\n")
    (proj / "test_a.py").write_text("def test_a():\n    pass\n")
    ed.command("cd " + str(proj))
    msg = finished_note(ed, "PytestRun", 3)
    assert msg == ("pytest: pytest could not import conftest.py: "
                   "ModuleNotFoundError: No module named 'no_such_module_xyz'"), msg
    items = ed.exec_lua("local o = {} for _, it in ipairs(vim.fn.getqflist()) do"
                        " table.insert(o, { vim.api.nvim_buf_get_name(it.bufnr), it.lnum }) end return o")
    assert items == [[str(proj / "conftest.py"), 2]]
