"""`pytestmon run` on the fixture projects: errorformat output, JSON, exit codes, bad input,
and an oracle comparison with what pytest itself reports for the same run."""
import json
import os
import re
import shutil
import subprocess

import pytest

from conftest import BIN, FIXTURES_DIR, REPO_ROOT, TEST_PYTHON, make_project

PYTHON = TEST_PYTHON
ORACLE_DIR = os.path.join(os.path.dirname(__file__), "oracle")


def run_cli(*args, cwd=None, env=None, timeout=120):
    e = dict(os.environ)
    e.update(env or {})
    return subprocess.run([BIN, "run", *args], cwd=cwd, env=e, capture_output=True, text=True,
                          timeout=timeout)


def run_json(*args, **kw):
    p = run_cli("--json", *args, **kw)
    return p.returncode, json.loads(p.stdout)


def fixture(name):
    return os.path.join(FIXTURES_DIR, name)


def test_errorformat_lines_and_exit_code():
    p = run_cli("--python", PYTHON, "--cwd", fixture("proj_fail"))
    assert p.returncode == 1
    lines = p.stdout.splitlines()
    assert re.match(r"^pytest: \d+ failed, \d+ passed", lines[-1])
    pattern = re.compile(r"^(/[^:]+):(\d+): (.*)$")   # Vim's default errorformat: %f:%l: %m
    entries = [pattern.match(l) for l in lines[:-1]]
    assert all(entries), lines
    for m in entries:
        assert os.path.isfile(m.group(1)), m.group(1)
    assert any(m.group(3).startswith("test_basic.py::test_assert_eq assert 3 == 4") for m in entries)


def test_json_counts_and_failure_fields():
    code, r = run_json("--python", PYTHON, "--cwd", fixture("proj_fail"))
    assert code == r["exit_code"] == 1
    assert r["status"] == "failed" and r["source"] == "junit"
    assert r["exit_meaning"] == "tests failed"
    c = r["counts"]
    assert c["failed"] > 0 and c["passed"] > 0 and c["skipped"] >= 1 and c["xfailed"] >= 1
    by_id = {}
    for f in r["failures"]:
        by_id.setdefault(f["nodeid"], []).append(f)
    eq = by_id["test_basic.py::test_assert_eq"][0]
    assert eq["kind"] == "failed" and eq["message"] == "assert 3 == 4"
    src = open(eq["file"]).read().splitlines()
    assert "assert" in src[eq["line"] - 1]                # the assert line, not the def
    crash = by_id["test_basic.py::test_helper_crash"][0]
    assert crash["crash_file"].endswith("helpers/calc.py")
    # A failing call plus an erroring teardown of the same test: two entries.
    kinds = sorted(f["kind"] for f in by_id["test_basic.py::test_call_and_teardown"])
    assert kinds == ["error", "failed"]
    assert r["seconds"] >= 0 and isinstance(r["slowest"], list)


def test_crash_site_above_the_working_directory_is_kept():
    """proj_subroot/testing is its own root (pytest.ini); the code under test is ../src. The
    traceback names it `../src/tracing.py:2`: outside the root, still the crash site."""
    code, r = run_json("--python", PYTHON, "--cwd", fixture("proj_subroot/testing"))
    assert code == 1 and r["root"] == fixture("proj_subroot/testing")
    (f,) = r["failures"]
    assert f["nodeid"] == "test_c.py::test_trace_zero"
    assert (f["crash_file"], f["crash_line"]) == (fixture("proj_subroot/src/tracing.py"), 2)


def test_oracle_failures_and_locations_match_pytest(tmp_path):
    """Same project run by pytest with an oracle plugin: the same failing node ids, and each
    of our test-file locations is the last traceback entry pytest has in that file."""
    out = tmp_path / "oracle.json"
    proj = fixture("proj_fail")
    env = dict(os.environ, PYTHONPATH=ORACLE_DIR, ORACLE_OUT=str(out))
    subprocess.run([PYTHON, "-m", "pytest", "-p", "pytest_oracle", "-p", "no:cacheprovider", "-q"],
                   cwd=proj, env=env, capture_output=True, timeout=120)
    oracle = json.loads(out.read_text())
    code, r = run_json("--python", PYTHON, "--cwd", proj)
    ours = sorted((f["nodeid"], f["kind"] == "failed" or f["kind"] == "xpass strict") for f in r["failures"])
    theirs = sorted((o["nodeid"], o["when"] == "call") for o in oracle)
    assert [n for n, _ in ours] == [n for n, _ in theirs]
    for f in r["failures"]:
        rec = [o for o in oracle if o["nodeid"] == f["nodeid"] and o["when"] == f.get("when", o["when"])]
        entries = [e for o in rec for e in o["entries"] if os.path.realpath(e[0]) == os.path.realpath(f["file"])]
        if entries:
            assert f["line"] == entries[-1][1], (f, entries)


@pytest.mark.parametrize("args,status,needle", [
    (["--python", "/nonexistent/python"], "error", "no Python interpreter found"),
    (["--python", PYTHON, "--bogus-flag"], "usage_error", "unrecognized arguments: --bogus-flag"),
    (["--python", PYTHON, "-k", "matches_nothing_at_all"], "no_tests", "deselected"),  # pytest's words
    (["--python", PYTHON, "no_such_file.py"], "usage_error", "file or directory not found"),
])
def test_bad_input_is_explained(args, status, needle):
    code, r = run_json("--cwd", fixture("proj_pass"), *args)
    assert r["status"] == status
    assert needle in r["summary"]


def test_pytest_not_installed_for_interpreter(tmp_path):
    py = shutil.which("python3", path="/root/.pyenv/shims") or None
    fake = tmp_path / "python"
    fake.write_text("#!/bin/sh\necho \"/usr/bin/python3: No module named pytest\" >&2\nexit 1\n")
    fake.chmod(0o755)
    code, r = run_json("--python", str(fake), "--cwd", fixture("proj_pass"))
    assert r["status"] == "error" and code == 127
    assert r["error"] == f"pytest is not installed for {fake} (No module named pytest)"


def test_pytest_missing_for_a_real_interpreter_is_not_tests_failed(tmp_path):
    # A venv without pytest (like a pyenv shim's python3 on PATH): pytest never ran, so
    # neither the exit status nor the meaning may say "tests failed" (1).
    subprocess.run(["/usr/bin/python3", "-m", "venv", "--without-pip", str(tmp_path / "venv")], check=True)
    py = str(tmp_path / "venv" / "bin" / "python")
    p = run_cli("--python", py, "--cwd", fixture("proj_pass"))
    assert p.returncode == 127, (p.stdout, p.stderr)
    assert p.stdout.splitlines()[-1] == f"pytest: pytest is not installed for {py} (No module named pytest)"
    assert "tests failed" not in p.stdout + p.stderr
    code, r = run_json("--python", py, "--cwd", fixture("proj_pass"))
    assert code == 127 and r["status"] == "error" and r["exit_code"] == 1
    assert r["exit_meaning"] == "pytest is not installed"


@pytest.mark.parametrize("flag", ["--help", "-h"])
def test_run_help_is_pytestmons_usage(flag):
    # Not handed to pytest (nor to an interpreter that does not exist): pytestmon's own usage.
    p = run_cli("--json", "--python", "/nonexistent/python", flag, "-x", cwd=fixture("proj_pass"))
    assert p.returncode == 0 and p.stderr == ""
    assert p.stdout.startswith("usage: pytestmon run [--cwd DIR] [--python PY]")
    for word in ("--timeout SEC", "--json", "Exit status:", "127 when pytest did not run"):
        assert word in p.stdout
    assert not p.stdout.splitlines()[-1].startswith("pytest:") and "{" not in p.stdout


def test_help_after_the_separator_is_pytests():
    p = run_cli("--python", PYTHON, "--cwd", fixture("proj_pass"), "--", "--help")
    assert p.returncode == 0 and "usage: pytestmon" not in p.stdout


def test_cwd_not_a_directory():
    code, r = run_json("--python", PYTHON, "--cwd", "/nonexistent/dir")
    assert r["status"] == "error" and "not a directory" in r["error"]


def test_timeout_reports_and_leaves_nothing():
    code, r = run_json("--python", PYTHON, "--timeout", "1.5", "--cwd", fixture("proj_slow"))
    assert r["status"] == "timed_out" and r["error"] == "timed out after 1.5 s"


def test_relative_paths_from_the_editor_cwd_still_work():
    # The user's cwd is a subdirectory; pytest starts in the project root.
    sub = os.path.join(fixture("proj_fail"), "tests")
    code, r = run_json("--python", PYTHON, "--cwd", sub, "test_math.py")
    assert r["root"] == fixture("proj_fail")
    assert r["failures"] and all(f["nodeid"].startswith("tests/test_math.py::") for f in r["failures"])


def test_paths_with_spaces_and_non_ascii():
    code, r = run_json("--python", PYTHON, "--cwd", fixture("proj_fail"), "tests/sub")
    [f] = r["failures"]
    assert f["file"].endswith("tests/sub/test_spaced name é.py") and os.path.isfile(f["file"])


def test_junit_missing_falls_back_to_terminal(tmp_path):
    # A test that kills pytest outright: no XML, no short summary, only progress lines.
    proj = make_project(tmp_path, "test_a.py", "import os\n\ndef test_bad():\n    assert 1 == 2\n\n"
                                                "def test_zz_crash():\n    os._exit(3)\n")
    code, r = run_json("--python", PYTHON, "--cwd", str(proj))
    # The plugin's report holds test_bad and is cut off at the crash.
    assert r["source"] == "terminal"
    assert "pytest died before its JUnit report was complete" in r["source_reason"]
    assert [f["nodeid"] for f in r["failures"]] == ["test_a.py::test_bad"]
    assert r["failures"][0]["line"] == 3      # the def line of test_bad, found in the file
    assert r["exit_code"] == 3


def test_memory_error_names_rlimit_as():
    code, r = run_json("--python", PYTHON, "--cwd", fixture("proj_memerr"))
    assert r["status"] == "failed"
    m = r["memory"]
    assert m["diagnosis_cause"] == "RLIMIT_AS" and m["memory_related"] is True
    assert "under RLIMIT_AS" in m["diagnosis"] and "200 MB limit" in m["diagnosis"]
    assert m["peak_rss"] < 200 * 1024 * 1024       # RSS small: RSS was never the problem


def test_killed_pytest_without_memory_pressure_says_so(tmp_path):
    env = {"PYTESTMON_FIXTURE_MODE": "sigkill"}
    code, r = run_json("--python", PYTHON, "--cwd", fixture("proj_memerr"), env=env)
    assert r["status"] == "error" and r["signal"] == 9
    assert "killed by signal 9" in r["error"]
    assert r["memory"]["diagnosis"] == "no memory limit was near"
    assert r["source"] == "terminal"


def test_terminal_fallback_reads_the_short_summary(tmp_path):
    # Without our plugin (not found), a user --junitxml wins over ours: no report where we
    # look, but pytest's -rfE summary lines name each failure with its message.
    code, r = run_json("--python", PYTHON, "--cwd", fixture("proj_soak"),
                       f"--junitxml={tmp_path / 'elsewhere.xml'}",
                       env={"PYTESTMON_PYDIR": str(tmp_path / "no-plugin-here")})
    assert r["source"] == "terminal" and r["source_reason"] == "pytest wrote no JUnit report"
    got = [(f["nodeid"], f["message"], f["line"]) for f in r["failures"]]
    assert got == [("test_soak.py::test_fails", "assert 41 == 42", 8),
                   ("test_soak.py::test_fails_in_helper", "assert [1, 2] == [2, 1]", 13)]
    assert r["counts"]["failed"] == 2 and r["counts"]["passed"] == 1


def test_rlimit_as_too_low_to_start_python_is_named():
    # The seed's failure mode at its most extreme: the interpreter cannot even map libc.
    if subprocess.run(["prlimit", "--as=9000000", BIN, "--version"], capture_output=True).returncode != 0:
        pytest.skip("this co-process build (a sanitizer's) cannot itself start under a 9 MB RLIMIT_AS")
    p = subprocess.run(["prlimit", "--as=9000000", BIN, "run", "--json", "--python", PYTHON,
                        "--cwd", fixture("proj_pass")], capture_output=True, text=True, timeout=60)
    r = json.loads(p.stdout)
    assert r["status"] == "error" and r["exit_code"] == 127
    # The loader's words vary ("libc.so.6: failed to map segment from shared object", "cannot
    # create cache for search path: Cannot allocate memory", ...: see the scan below).
    assert r["error"].startswith("pytest could not start: ")
    assert "error while loading shared libraries: " in r["error"]
    # The sentence depends on whether pytest's address space was sampled before it died
    # ("RLIMIT_AS was reached: ..." or "... under RLIMIT_AS: ..."): either names the limit.
    assert r["memory"]["diagnosis_cause"] == "RLIMIT_AS"
    assert "RLIMIT_AS" in r["memory"]["diagnosis"]


SID_PYTHON = os.path.join(REPO_ROOT, "build", "pytest-9", "python")   # make pytest9


@pytest.mark.parametrize("which", ["test_python", "sid_python3.14"])
def test_rlimit_as_at_interpreter_start_is_named(which):
    # Address-space limits from where the kernel cannot even exec the interpreter up through
    # its start-up: whatever stops it, the dynamic loader (exit 127, in glibc's words, which
    # differ between Debian 12 and unstable) or Python's start-up ("Fatal Python error: ...:
    # memory allocation failed", "failed to initialize an exception type", "Frozen object named
    # 'os' is invalid", MemoryError), the run says pytest could not start and names RLIMIT_AS.
    python = TEST_PYTHON if which == "test_python" else SID_PYTHON
    if not os.path.exists(python):
        pytest.skip("sid's Python 3.14 is not fetched (make pytest9)")
    if subprocess.run(["prlimit", "--as=6000000", BIN, "--version"], capture_output=True).returncode != 0:
        pytest.skip("this co-process build (a sanitizer's) cannot itself start under a 6 MB RLIMIT_AS")
    loader, start_up, lost = [], [], []
    for limit in range(6_000_000, 18_000_001, 250_000):
        p = subprocess.run(["prlimit", f"--as={limit}", BIN, "run", "--json", "--python", python,
                            "--cwd", fixture("proj_pass")], capture_output=True, text=True, timeout=60)
        r = json.loads(p.stdout)
        if r.get("signal") or r["status"] == "passed":
            continue        # the kernel could not exec it (SIGSEGV, nothing said); or it ran
        said = (limit, r["status"], r.get("error"), r["memory"].get("diagnosis_cause"))
        assert r["status"] == "error", said
        if not r["error"].startswith("pytest could not start: "):
            assert r["error"].startswith("pytest crashed: "), said
            continue        # pytest was importing: a MemoryError, or Python lost the error
        if re.search(r"object repr +: *\n|<exception str\(\) failed>", r["output_tail"]):
            lost.append(said)
            continue        # Python could not even render its error (its own markers for that)
        assert r["memory"].get("diagnosis_cause") == "RLIMIT_AS", (said, r["output_tail"][-1000:])
        (loader if r["exit_code"] == 127 else start_up).append(said)
    assert loader and start_up, (loader, start_up, lost)
    assert all("error while loading shared libraries: " in s[2] for s in loader), loader
    assert all("Fatal Python error: " in s[2] for s in start_up), start_up


def test_pytest_crash_after_the_tests_is_shown(tmp_path):
    # A test deletes the directory pytest runs in: pytest's own os.chdir at the end fails
    # (INTERNALERROR-like traceback, exit 1). The tests did run; pytest crashed.
    proj = make_project(tmp_path, "test_x.py",
                        "import os, shutil\n\ndef test_ok():\n    pass\n\n"
                        "def test_rm():\n    shutil.rmtree(os.path.dirname(os.path.abspath(__file__)))\n")
    code, r = run_json("--python", PYTHON, "--cwd", str(proj))
    assert r["status"] == "error"
    assert r["error"].startswith("pytest crashed: FileNotFoundError: "), r["error"]
    assert r["failures"] == [] and r["counts"]["passed"] == 2


def test_conftest_import_error_is_located(tmp_path):
    proj = make_project(tmp_path, "test_a.py", "def test_a():\n    pass\n")
    (proj / "conftest.py").write_text("import os\nimport no_such_module_xyz\n")
    code, r = run_json("--python", PYTHON, "--cwd", str(proj))
    assert code == 4 and r["status"] == "usage_error"
    assert r["error"] == ("pytest could not import conftest.py: "
                          "ModuleNotFoundError: No module named 'no_such_module_xyz'")
    assert [(f["file"], f["line"], f["message"]) for f in r["failures"]] == [
        (str(proj / "conftest.py"), 2, "ModuleNotFoundError: No module named 'no_such_module_xyz'")]


# A test message that would set the window title (OSC 0), write the clipboard (OSC 52), send a
# device control string, return the carriage and back up (CR, BS), and recolour the terminal.
HOSTILE_MESSAGE = r'"T\x1b]0;pwned\x07I\x1b]52;c;ZXZpbA==\x07T\x1bP1$r\x1b\\L\rE\bS\x1b[31m!\x9b2J"'
CONTROL = re.compile(r"[\x00-\x08\x0a-\x1f\x7f\x80-\x9f]")


def test_terminal_fallback_output_has_no_control_sequences(tmp_path):
    # The terminal fallback: no plugin (not found) and the user's --junitxml elsewhere.
    proj = make_project(tmp_path, "test_h.py", f"def test_h():\n    assert False, {HOSTILE_MESSAGE}\n")
    no_plugin = {"PYTESTMON_PYDIR": str(tmp_path / "no-plugin-here")}
    p = subprocess.run([BIN, "run", "--python", PYTHON, "--cwd", str(proj),
                        f"--junitxml={tmp_path / 'elsewhere.xml'}"], capture_output=True, timeout=120,
                       env=dict(os.environ, **no_plugin))
    assert p.returncode == 1
    out = p.stdout.decode("utf-8")
    lines = out.split("\n")
    assert lines[0].endswith("test_h.py::test_h AssertionError: TITLES!"), out
    assert lines[1].startswith("pytest: 1 failed") and lines[2:] == [""]
    assert not CONTROL.search(out.replace("\n", "")), repr(out)
    code, r = run_json("--python", PYTHON, "--cwd", str(proj), f"--junitxml={tmp_path / 'elsewhere.xml'}",
                       env=no_plugin)
    assert r["source"] == "terminal"
    assert r["failures"][0]["message"] == "AssertionError: TITLES!"


def test_huge_message_is_cut_for_display_and_whole_in_the_log(tmp_path):
    proj = make_project(tmp_path, "test_big.py",
                        "def test_big():\n    assert False, 'x' * (10 * 1024 * 1024)\n")
    code, r = run_json("--python", PYTHON, "--cwd", str(proj))
    assert r["source"] == "junit"
    msg = r["failures"][0]["message"]
    assert msg.startswith("AssertionError: xxxx") and " [... cut: " in msg
    assert len(msg.encode()) <= 4096 + 64
    p = run_cli("--python", PYTHON, "--cwd", str(proj))
    assert len(p.stdout) < 3 * 4096


def test_mem_report_of_a_process_with_a_hostile_name():
    # A process can name itself (comm, 15 bytes) anything: the report must not replay it.
    code = ("import ctypes, sys; ctypes.CDLL(None).prctl(15, b'a\\x1b]0;pwn\\x07\\xc2\\x9b2Jb', 0, 0, 0);"
            " print('ready', flush=True); sys.stdin.read()")
    child = subprocess.Popen([PYTHON, "-c", code], stdin=subprocess.PIPE, stdout=subprocess.PIPE)
    try:
        assert child.stdout.readline() == b"ready\n"
        with open(f"/proc/{child.pid}/comm", "rb") as f:
            assert b"\x1b]0;pwn\x07" in f.read()
        p = subprocess.run([BIN, "mem", "--pid", str(child.pid)], capture_output=True, timeout=60)
        assert p.returncode == 0, p.stderr
        first = p.stdout.decode().split("\n")[0]
        assert first.startswith(f"pid {child.pid} (ab): ")
        assert not CONTROL.search(p.stdout.decode().replace("\n", ""))
        p = subprocess.run([BIN, "mem", "--pid", str(child.pid), "--json"], capture_output=True,
                           timeout=60)
        assert not re.search(rb"[\x00-\x09\x0b-\x1f\x7f-\xff]", p.stdout)
        assert json.loads(p.stdout)["name"] == "a\x1b]0;pwn\x07\x9b2Jb"
    finally:
        child.stdin.close()
        child.wait(timeout=10)


def test_interpreter_that_cannot_load_the_plugin_still_runs(tmp_path):
    # An interpreter wrapper that drops PYTHONPATH (python -E): our plugin cannot be imported,
    # so the run goes on without it (pytest's own junitxml), with the same failures.
    py = tmp_path / "python"
    py.write_text(f"#!/bin/sh\nexec {PYTHON} -E \"$@\"\n")
    py.chmod(0o755)
    code, r = run_json("--python", str(py), "--cwd", fixture("proj_soak"))
    assert r["source"] == "junit" and "pytestmon_plugin" not in r["cmd"], r["cmd"]
    assert [f["nodeid"] for f in r["failures"]] == ["test_soak.py::test_fails", "test_soak.py::test_fails_in_helper"]
    code, r = run_json("--python", PYTHON, "--cwd", fixture("proj_soak"))
    assert "pytestmon_plugin" in r["cmd"]


@pytest.mark.parametrize("args", [[], ["-n", "2"]], ids=["serial", "xdist"])
def test_users_junitxml_is_left_as_pytest_writes_it(tmp_path, args):
    # The plugin hands its frames and per-test memory over on the report objects, not as
    # user_properties, which pytest's junitxml would write into the user's own file.
    if args and subprocess.run([PYTHON, "-c", "import xdist"], capture_output=True).returncode != 0:
        pytest.skip("pytest-xdist is not installed for this interpreter")
    proj = make_project(tmp_path, "test_u.py", "def test_ok():\n    pass\n\n\ndef test_bad():\n"
                                               "    x = 1\n    assert x == 2\n")
    user = tmp_path / "user.xml"
    code, r = run_json("--python", PYTHON, "--cwd", str(proj), f"--junitxml={user}", *args)
    assert r["source"] == "junit" and [f["nodeid"] for f in r["failures"]] == ["test_u.py::test_bad"]
    assert r["failures"][0]["line"] == 7
    text = user.read_text()
    assert 'name="test_bad"' in text and "pytestmon" not in text, text


def test_report_that_cannot_be_memory_mapped_is_written_piece_by_piece(tmp_path):
    # Where the report file cannot be mapped (a file system without shared mappings: here
    # mmap.mmap fails as it would there), the plugin writes each piece with write(2): the same
    # results, frames and output, read the same way.
    proj = make_project(tmp_path, "test_w.py",
                        "def helper(x):\n    assert x == 2\n\n\n"
                        "def test_bad():\n    print('said before failing')\n    helper(1)\n\n\n"
                        + "".join("def test_ok_%d():\n    pass\n\n\n" % i for i in range(300)))
    tried = tmp_path / "mmap-tried"
    (proj / "conftest.py").write_text(
        "import errno, mmap\n\n\ndef _no_mapping(*args, **kwargs):\n"
        f"    open({str(tried)!r}, 'a').close()\n"
        "    raise OSError(errno.ENODEV, 'no shared mappings here')\n\n\nmmap.mmap = _no_mapping\n")
    code, r = run_json("--python", PYTHON, "--cwd", str(proj))
    assert "pytestmon_plugin" in r["cmd"] and r["source"] == "junit", (r["cmd"], r["source"])
    assert r["counts"]["passed"] == 300 and r["counts"]["failed"] == 1, r["counts"]
    [f] = r["failures"]
    assert (f["nodeid"], f["line"], f["message"]) == ("test_w.py::test_bad", 2, "assert 1 == 2"), f
    assert "pytestmon plugin" not in r["output_tail"], r["output_tail"][-500:]
    assert tried.exists(), "the plugin never tried to map the report: the fallback was not tested"


def test_output_written_a_little_at_a_time_is_all_read(tmp_path):
    # The co-process pauses reading after a short read (runner.c, pace_reading): 3 MB at once,
    # then thousands of small writes, all arrive in order, and the run ends as pytest does.
    proj = make_project(tmp_path, "test_p.py",
                        "import sys\n\ndef test_p():\n"
                        "    sys.stdout.write('x' * (3 * 1024 * 1024) + '\\n')\n"
                        "    for i in range(5000):\n"
                        "        sys.stdout.write('line %d\\n' % i)\n        sys.stdout.flush()\n"
                        "    sys.stdout.write('END\\n')\n")
    code, r = run_json("--python", PYTHON, "--cwd", str(proj), "-s")
    assert code == 0 and r["status"] == "passed", r["summary"]
    tail = r["output_tail"]
    assert "line 4997\nline 4998\nline 4999\nEND\n" in tail, tail[-300:]
    assert "1 passed" in tail[tail.index("END"):]


def test_xdist_frames_when_a_plugin_makes_all_reports_before_logging_them(tmp_path):
    # pytest-rerunfailures makes a test's setup, call and teardown reports before it logs any
    # (runtestprotocol(item, log=False)): under xdist a worker's failure frames must still ride
    # on the call's report. With --tb=no they are all that says where the test failed.
    if subprocess.run([PYTHON, "-c", "import xdist"], capture_output=True).returncode != 0:
        pytest.skip("pytest-xdist is not installed for this interpreter")
    proj = make_project(tmp_path, "test_r.py", "def helper():\n    assert 1 == 2\n\n\n"
                                               "def test_r():\n    x = 1\n    helper()\n")
    (proj / "conftest.py").write_text(
        "import pytest\nfrom _pytest.runner import runtestprotocol\n\n\n"
        "@pytest.hookimpl(tryfirst=True)\n"
        "def pytest_runtest_protocol(item, nextitem):\n"
        "    item.ihook.pytest_runtest_logstart(nodeid=item.nodeid, location=item.location)\n"
        "    reports = runtestprotocol(item, nextitem=nextitem, log=False)\n"
        "    for rep in reports:\n"
        "        item.ihook.pytest_runtest_logreport(report=rep)\n"
        "    item.ihook.pytest_runtest_logfinish(nodeid=item.nodeid, location=item.location)\n"
        "    return True\n")
    code, r = run_json("--python", PYTHON, "--cwd", str(proj), "--tb=no", "-n", "2")
    assert r["source"] == "junit" and r["counts"]["failed"] == 1, (r["source"], r["counts"])
    [f] = r["failures"]
    assert (f["nodeid"], f["line"]) == ("test_r.py::test_r", 2), f


def test_full_tmpdir_gives_pytest_s_answer_and_says_so(small_tmpfs, tmp_path):
    # Not a byte left in $TMPDIR: the plugin cannot reserve its report's first window. pytest
    # runs as it would without us (the report's shared mapping made it die of SIGBUS).
    proj = make_project(tmp_path, "test_a.py", "def test_a():\n    pass\n")
    full = small_tmpfs(0)
    code, r = run_json("--python", PYTHON, "--cwd", str(proj), env={"TMPDIR": full})
    assert (r["status"], code, r.get("signal")) == ("passed", 0, None), r["summary"]
    assert r["counts"]["passed"] == 1 and r["source"] == "terminal"
    assert r["source_reason"] == "no space left in $TMPDIR (%s)" % full
    assert r["summary"].startswith("1 passed in ") and "no space left in $TMPDIR (%s)" % full in r["summary"]


def test_tmpdir_that_fills_during_the_run_gives_pytest_s_answer(small_tmpfs, tmp_path):
    # Room for the report's first window (256 KiB) but not its second: the plugin goes on with
    # write(2) until the space ends, then stops; the counts and failures are pytest's (its
    # terminal summary), not the cut-off report's. (The tests print nothing: pytest's capture
    # files are in $TMPDIR too, and a test that prints would fail for want of space.)
    proj = make_project(tmp_path, "test_a.py",
                        "import pytest\n\n\n@pytest.mark.parametrize('i', range(1500), "
                        "ids=lambda i: 'case-%04d-%s' % (i, 'z' * 150))\n"
                        "def test_many(i):\n    assert i not in (3, 1400)\n")
    full = small_tmpfs(300 * 1024)
    code, r = run_json("--python", PYTHON, "--cwd", str(proj), env={"TMPDIR": full})
    assert (r["status"], code, r.get("signal")) == ("failed", 1, None), r["summary"]
    assert r["source_reason"] == "no space left in $TMPDIR (%s)" % full, r.get("source_reason")
    assert (r["counts"]["passed"], r["counts"]["failed"]) == (1498, 2), r["counts"]
    assert r["summary"].startswith("2 failed, 1498 passed in "), r["summary"]
    assert [f["nodeid"] for f in r["failures"]] == ["test_a.py::test_many[case-%04d-%s]" % (i, "z" * 150)
                                                    for i in (3, 1400)]
