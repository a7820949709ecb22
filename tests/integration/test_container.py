"""pytest in a container or behind another command (issue #30): the `prefix` and `path_map`
options, through the real co-process, a real Docker engine (tests/integration/containers.py:
dockerd started when none answers, an image made from this machine's own files), an `unshare -m`
bind-mount wrapper with the project at another path, and ssh to this machine (a private sshd).

The projects are copies of the fixtures in one private directory, mounted at /app in a container
limited to 512 MB. The reference for exact answers is the same project run on this side with
the same interpreter (/usr/bin/python3: the image holds its pytest)."""
import json
import os
import shutil
import signal
import subprocess
import time

import psutil
import pytest

import containers
from conftest import BIN, FIXTURES_DIR, REPO_ROOT, fired, make_project, record_finished, wait_finished, wait_for
from dapclient import DapClient, stop_at_breakpoint
from test_debug import FAKE_DAP
from test_exact_locations import sites
from test_rpc_protocol import Peer

HOST_PYTHON = "/usr/bin/python3"  # what the image holds
INSIDE = "/app"


@pytest.fixture(scope="module")
def engine():
    why = containers.engine()
    if why:
        if os.environ.get("CI") or os.environ.get("PYTESTMON_REQUIRE_DOCKER"):
            pytest.fail("no Docker engine on a CI machine: " + why)
        pytest.skip("SKIPPED LOUDLY: no Docker engine: " + why)


@pytest.fixture(scope="module")
def shared(engine, tmp_path_factory):
    """(host dir, container): the fixtures' copies, mounted at /app."""
    host = tmp_path_factory.mktemp("container-projects")
    for name in ("proj_fail", "proj_cov", "proj_slow", "proj_debug", "proj_watch"):
        shutil.copytree(os.path.join(FIXTURES_DIR, name), host / name)
    (host / "proj_big").mkdir()
    (host / "proj_big" / "pytest.ini").write_text("[pytest]\n")
    (host / "proj_big" / "test_big.py").write_text(
        "def test_small():\n    x = bytearray(20 << 20)\n\n"
        "def test_too_big():\n    bytearray(64 << 40)\n")
    (host / "proj_oom").mkdir()
    (host / "proj_oom" / "pytest.ini").write_text("[pytest]\n")
    (host / "proj_oom" / "test_oom.py").write_text("def test_over_512mb():\n    x = b'x' * (700 << 20)\n")
    c = containers.Container(str(host), memory="512m", inside=INSIDE)
    yield str(host), c
    c.stop()


def cli(cwd, *args, prefix=None, path_map=None, python=None):
    argv = [BIN, "run", "--json", "--cwd", cwd]
    for w in prefix or ():
        argv += ["--prefix", w]
    for inside, host in (path_map or {}).items():
        argv += ["--path-map", f"{inside}={host}"]
    if python:
        argv += ["--python", python]
    p = subprocess.run(argv + ["--", *args], capture_output=True, text=True, timeout=180)
    return json.loads(p.stdout)


def in_container(shared, name, *args):
    host, c = shared
    return cli(os.path.join(host, name), *args, prefix=c.prefix(), path_map={INSIDE: host})


@pytest.fixture(scope="module")
def host_copy(tmp_path_factory):
    """A copy of proj_fail only this side runs (the container's bytecode in the shared copies
    names /app paths, which a run here would show)."""
    d = tmp_path_factory.mktemp("host-only") / "proj_fail"
    shutil.copytree(os.path.join(FIXTURES_DIR, "proj_fail"), d)
    return str(d)


def on_host(root, *args):
    return cli(root, *args, python=HOST_PYTHON)


def request(shared, **over):
    host, c = shared
    req = {"prefix": c.prefix(), "path_map": {INSIDE: host}}
    req.update(over)
    return req


def wait_until(pred, timeout, what):
    deadline = time.monotonic() + timeout
    while not pred():
        assert time.monotonic() < deadline, what
        time.sleep(0.1)  # the container's process table has no event to wait on


def test_plugin_maps_back_with_the_c_rule():
    """pytestmon_hooks/pathmap.py (what comes back) follows src/base/pathmap.c's rule (what goes
    in, tests/unit/test_pathmap.c): the longest entry, whole components."""
    code = ("import json; from pytestmon_hooks.pathmap import to_host, text_to_host; print(json.dumps(["
            "to_host('/app/t.py'), to_host('/app/vendor/x.py'), to_host('/apple/x'), to_host('/app'), "
            "to_host('/usr/lib/x.py'), text_to_host('/app/t.py:3: E\\n  File \\\"/app/vendor/v.py\\\", line 2 "
            "/srv/app/x /apple')]))")
    env = dict(os.environ, PYTESTMON_PATHMAP=json.dumps([["/app", "/h/p"], ["/app/vendor", "/srv/vendor"]]),
               PYTHONPATH=os.path.join(REPO_ROOT, "python"))
    out = subprocess.run([HOST_PYTHON, "-c", code], capture_output=True, text=True, env=env, check=True).stdout
    assert json.loads(out) == ["/h/p/t.py", "/srv/vendor/x.py", "/apple/x", "/h/p", "/usr/lib/x.py",
                               '/h/p/t.py:3: E\n  File "/srv/vendor/v.py", line 2 /srv/app/x /apple']


@pytest.mark.parametrize("opts", [[], ["--tb=short"], ["-n", "2"], ["-p", "no:junitxml", "--tb=no"]],
                         ids=lambda o: " ".join(o) or "plain")
def test_exact_locations_equal_the_hosts(shared, host_copy, opts):
    host, _ = shared
    root = os.path.join(host, "proj_fail")
    ref = on_host(host_copy, *opts)
    got = in_container(shared, "proj_fail", *opts)
    assert got["source"] == "junit", got.get("source_reason")
    assert got["cmd"][:3] == ["docker", "exec", "-i"] or got["cmd"][0].endswith("docker")
    assert "/app/proj_fail" in got["cmd"], "pytest runs in the mapped root"
    assert len(ref["failures"]) == 22 and sites(got, root) == sites(ref, host_copy)
    assert all(f["file"].startswith(root + "/") for f in got["failures"]), "files are host paths"
    assert got["counts"] == ref["counts"]
    # The run's private directory is removed; the bytecode cache of the other side stays there.
    assert os.listdir(os.path.join(root, ".pytestmon")) == ["pycache"], "the private directory is removed"


def test_file_and_failed_map_forward(shared):
    host, _ = shared
    root = os.path.join(host, "proj_fail")
    f = os.path.join(root, "tests", "test_math.py")
    r = in_container(shared, "proj_fail", f)  # an absolute host path, as :PytestFile sends it
    assert r["source"] == "junit" and r["failures"]
    assert {x["nodeid"].split("::")[0] for x in r["failures"]} == {"tests/test_math.py"}
    assert "/app/proj_fail/tests/test_math.py" in r["cmd"]
    full = in_container(shared, "proj_fail")  # the last failures, in the project's cache (shared)
    lf = in_container(shared, "proj_fail", "--lf")
    assert lf["counts"]["failed"] == 18 and lf["counts"]["passed"] < full["counts"]["passed"]
    assert {x["nodeid"] for x in lf["failures"]} == {x["nodeid"] for x in full["failures"]}


def test_nearest_collect_and_coverage_through_rpc(shared):
    host, c = shared
    root = os.path.join(host, "proj_fail")
    p = Peer()
    try:
        test_file = os.path.join(root, "test_basic.py")
        line = next(i for i, l in enumerate(open(test_file), 1) if "def test_assert_eq" in l) + 1
        p.request(1, "run", [request(shared, cwd=root, file=test_file, nearest_line=line)])
        run_id = p.response(1)[3]
        st = p.event("started", timeout=60)
        assert st["nearest_found"] is True and st["args"][-1] == "test_basic.py::test_assert_eq"
        fin = p.event("finished", timeout=120, want=lambda e: e["run_id"] == run_id)
        assert fin["counts"]["failed"] == 1 and fin["failures"][0]["file"] == test_file
        # The tree's collection: items in host files, the root as the editor sees it.
        p.request(2, "collect", [request(shared, cwd=root)])
        cid = p.response(2)[3]
        col = p.event("collection", timeout=120, want=lambda e: e["collect_id"] == cid)
        assert col["root"] == root and col["items"], col
        assert all(i["file"].startswith(root + "/") for i in col["items"])
        assert all(x["file"].startswith(root + "/") for x in col["classes"])
        # Coverage: the report's files are host files.
        cov_root = os.path.join(host, "proj_cov")
        shapes = os.path.join(cov_root, "calc", "shapes.py")
        p.request(3, "run", [request(shared, cwd=cov_root, coverage=1, coverage_files=[shapes])])
        run_id = p.response(3)[3]
        cov = p.event("coverage", timeout=120, want=lambda e: e["run_id"] == run_id)
        files = [row[0] for row in cov["files"]]
        assert any(f.endswith("calc/shapes.py") for f in files), files
        assert not any(f.startswith(INSIDE) for f in files), files
        assert shapes in cov["lines"], cov["lines"].keys()
    finally:
        p.close()


def test_memory_is_measured_inside_and_the_512mb_limit_named(shared):
    host, c = shared
    r = in_container(shared, "proj_big")
    assert r["counts"]["failed"] == 1 and r["counts"]["passed"] == 1
    f = r["failures"][0]
    assert f["file"] == os.path.join(host, "proj_big", "test_big.py")
    lim = f["memory_limit"]["sentence"]
    assert "memory.limit_in_bytes 512 MB" in lim or "memory.max 512 MB" in lim, lim
    m = r["memory"]
    assert m["memory_related"] and "512 MB" in m["diagnosis"], m.get("diagnosis")
    # Pytest's own numbers, from inside: not the docker client's (sampled here: dropped).
    assert m["peak_source"] == "plugin" and m["peak_rss"] > 20 << 20
    assert m["tree_peak_rss"] == 0 and m["timeline"] == []
    small = next(t for t in m["top_growth"] if t["nodeid"].endswith("test_small"))
    assert small["growth"] >= 19 << 20  # exact, from inside the test's process


def test_a_run_there_leaves_no_bytecode_that_names_its_paths_here(shared, tmp_path):
    """Python and pytest's assertion rewriter cache bytecode beside the sources, and a cached
    code object keeps the path it was compiled at: a run in the container left /app paths in the
    shared tree, and the next run on this side showed them (failures, frames, the tree's marks).
    Through a prefix the cache goes to the project's private .pytestmon/ (PYTHONPYCACHEPREFIX)."""
    host, c = shared
    root = os.path.join(host, "proj_shared")
    shutil.copytree(os.path.join(FIXTURES_DIR, "proj_fail"), root)
    there = in_container(shared, "proj_shared")
    assert len(there["failures"]) == 22
    assert not [d for d, _, files in os.walk(root) if "__pycache__" in d and ".pytestmon" not in d and files]
    here = on_host(root)
    files = {f["file"] for f in here["failures"]} | {f["crash_file"] for f in here["failures"] if f.get("crash_file")}
    assert files and all(f.startswith(root + "/") for f in files), sorted(files)


def test_every_run_names_the_lowest_limit_where_pytest_runs(shared):
    """Not only a run that failed for memory: every run through the prefix carries the limits our
    plugin read in the container (:PytestMemory shows them), the container's 512 MB the lowest."""
    r = in_container(shared, "proj_fail")
    w = r["memory"]["where_pytest_runs"]
    assert w["binding"] == "cgroup" and w["cgroup_limit"] == 512 << 20 and w["binding_bytes"] == 512 << 20, w
    assert "512 MB" in w["sentence"] and w["mem_total"] > w["cgroup_limit"], w
    assert "diagnosis" not in r["memory"], r["memory"].get("diagnosis")


def test_watch_reruns_go_through_the_prefix(shared):
    host, c = shared
    root = os.path.join(host, "proj_watch")
    p = Peer()
    try:
        p.request(1, "watch", [request(shared, cwd=root, debounce_ms=10)])
        assert p.response(1)[3] == {"root": root}
        p.event("watch", timeout=60, want=lambda e: e["state"] == "ready")
        saved = os.path.join(root, "pkg", "a.py")
        p.request(2, "saved", [{"file": saved}])
        assert p.response(2)[3] is True
        run = p.event("watch", timeout=60, want=lambda e: e["state"] == "run")
        st = p.event("started", timeout=60, want=lambda e: e["run_id"] == run["run_id"])
        assert st["cmd"][:len(c.prefix())] == c.prefix() and "/app/proj_watch" in st["cmd"]
        fin = p.event("finished", timeout=120, want=lambda e: e["run_id"] == run["run_id"])
        assert fin["source"] == "junit" and fin["counts"]["passed"] + fin["counts"]["failed"] > 0
        assert all(f["file"].startswith(root + "/") for f in fin.get("failures", []))
    finally:
        p.close()


def test_a_pytest_the_oom_killer_ends_names_the_containers_limit(shared):
    r = in_container(shared, "proj_oom")
    m = r["memory"]
    assert r["exit_code"] == 137 and r["status"] != "passed", r["summary"]
    assert m["diagnosis_cause"] == "cgroup_oom_kill" and m["memory_related"], m.get("diagnosis")
    assert "512 MB" in m["diagnosis"] and "OOM killer" in m["diagnosis"], m["diagnosis"]


def test_progress_tells_pytests_size_measured_inside(shared):
    """The status line's tree RSS through a prefix: not the docker client's (a few MB), but the
    plugin's exact peak from inside, while the run goes on."""
    host, c = shared
    root = os.path.join(host, "proj_grow")
    os.makedirs(root, exist_ok=True)
    go = os.path.join(root, "go")
    with open(os.path.join(root, "pytest.ini"), "w") as f:
        f.write("[pytest]\n")
    with open(os.path.join(root, "test_grow.py"), "w") as f:
        f.write("import os, time\nKEEP = []\n\n"
                "def test_grow():\n    KEEP.append(bytearray(80 << 20))\n\n"
                "def test_wait():\n    end = time.monotonic() + 60\n"
                "    while not os.path.exists('go') and time.monotonic() < end:\n        time.sleep(0.05)\n")
    p = Peer()
    try:
        p.request(1, "run", [request(shared, cwd=root)])
        run_id = p.response(1)[3]
        ev = p.event("progress", timeout=60, want=lambda e: e["run_id"] == run_id and e.get("done", 0) >= 1
                     and e.get("tree_rss", 0) >= 80 << 20)
        assert ev["tree_rss"] < 512 << 20, ev
        open(go, "w").close()
        fin = p.event("finished", timeout=60, want=lambda e: e["run_id"] == run_id)
        assert fin["counts"]["passed"] == 2, fin["summary"]
        # The warm pytest (#26) is on this side: a prefixed run is cold, and says why.
        assert fin["warm"] is False and "command prefix" in fin["warm_reason"], fin.get("warm_reason")
    finally:
        p.close()


def test_stop_leaves_no_pytest_in_the_container(shared):
    host, c = shared
    root = os.path.join(host, "proj_slow")
    p = Peer()
    try:
        p.request(1, "run", [request(shared, cwd=root, kill_grace_ms=5000)])
        run_id = p.response(1)[3]
        wait_until(lambda: c.pytests(), 60, "pytest never started in the container")
        p.request(2, "cancel", [])
        assert p.response(2)[3] is True
        fin = p.event("finished", timeout=30, want=lambda e: e["run_id"] == run_id)
        assert fin["status"] == "cancelled"
        wait_until(lambda: not c.pytests(), 10, "pytest still runs in the container after cancel")
    finally:
        p.close()


def test_killed_coprocess_leaves_nothing_in_the_container(shared):
    host, c = shared
    root = os.path.join(host, "proj_slow")
    p = Peer()
    p.request(1, "run", [request(shared, cwd=root)])
    p.response(1)
    wait_until(lambda: c.pytests(), 60, "pytest never started in the container")
    p.proc.send_signal(signal.SIGKILL)
    p.close()
    wait_until(lambda: not c.pytests(), 10, "pytest outlived the co-process in the container")
    left = set(os.listdir(os.path.join(root, ".pytestmon"))) - {"pycache"}
    assert left, "the killed co-process's private directory is still there"
    # The next run's co-process sweeps it (its owner is gone).
    r = cli(root, "-k", "quick", prefix=c.prefix(), path_map={INSIDE: host})
    assert r["counts"]["passed"] == 1
    assert os.listdir(os.path.join(root, ".pytestmon")) == ["pycache"]


# ---- a second kind of prefix: a bind mount in a private mount namespace, another path ----

def unshare_prefix(host, inside):
    return ["unshare", "-m", "--propagation", "private", "sh", "-c",
            'mount --bind "$1" "$2" && shift 2 && exec "$@"', "sh", host, inside]


@pytest.fixture
def elsewhere(tmp_path):
    if os.geteuid() != 0 or not shutil.which("unshare"):
        pytest.skip("SKIPPED LOUDLY: unshare -m needs root")
    host = tmp_path / "here"
    inside = tmp_path / "there"  # empty on this side: the project is there only behind the prefix
    shutil.copytree(os.path.join(FIXTURES_DIR, "proj_fail"), host)
    inside.mkdir()
    return str(host), str(inside)


def test_unshare_bind_mount_at_another_path(elsewhere):
    host, inside = elsewhere
    ref = cli(host, python=HOST_PYTHON)
    got = cli(host, prefix=unshare_prefix(host, inside), path_map={inside: host}, python=HOST_PYTHON)
    assert got["source"] == "junit", got.get("source_reason")
    assert inside in got["cmd"] and sites(got, host) == sites(ref, host)
    assert not os.listdir(inside), "nothing was written on this side's inside path"


def test_unshare_prefix_cancel_ends_pytest(elsewhere, tmp_path):
    proj = make_project(tmp_path, "test_hang.py",
                        "import os, time\n\ndef test_hang():\n"
                        "    open(os.path.join(os.path.dirname(__file__), 'pid'), 'w').write(str(os.getpid()))\n"
                        "    time.sleep(3600)\n")
    there = tmp_path / "proj-there"
    there.mkdir()
    p = Peer()
    try:
        p.request(1, "run", [{"cwd": str(proj), "python": HOST_PYTHON, "kill_grace_ms": 5000,
                              "prefix": unshare_prefix(str(proj), str(there)), "path_map": {str(there): str(proj)}}])
        run_id = p.response(1)[3]
        st = p.event("started", timeout=60)
        assert str(there) in st["cmd"]
        pidfile = os.path.join(str(proj), "pid")
        wait_until(lambda: os.path.exists(pidfile) and open(pidfile).read(), 60, "the test never started")
        pid = int(open(pidfile).read())
        p.request(2, "cancel", [])
        fin = p.event("finished", timeout=30, want=lambda e: e["run_id"] == run_id)
        assert fin["status"] == "cancelled"
        wait_until(lambda: not psutil.pid_exists(pid) or psutil.Process(pid).status() == "zombie", 10,
                   "pytest outlived the cancel")
    finally:
        p.close()


# ---- through the editor (both Neovim versions: PYTESTMON_NVIM) --------------------------------

def editor_setup(ed, shared):
    host, c = shared
    ed.exec_lua("""
        local prefix, host = ...
        require('pytest').setup({ prefix = function() return prefix end,
                                  path_map = function(root) return { ['/app'] = host } end })
    """, c.prefix(), host)
    record_finished(ed)


def qf_entries(ed):
    return ed.exec_lua("""
        local out = {}
        for _, it in ipairs(vim.fn.getqflist()) do
          table.insert(out, { vim.api.nvim_buf_get_name(it.bufnr), it.lnum, it.type })
        end
        return out
    """)


def test_editor_run_file_nearest_tree_and_stop(nvim, shared, host_copy):
    host, c = shared
    root = os.path.join(host, "proj_fail")
    ref = on_host(host_copy, "--tb=no")
    moved = lambda p: p and os.path.join(root, os.path.relpath(p, host_copy))
    want = {(moved(f["file"]), f["line"], "E") for f in ref["failures"]} | {
        (moved(f["crash_file"]), f["crash_line"], "I") for f in ref["failures"] if f.get("crash_file")}
    ed = nvim
    editor_setup(ed, shared)
    ed.command("cd " + root)
    wait_finished(ed, "PytestRun", timeout=120)
    assert set(map(tuple, qf_entries(ed))) == want
    # :PytestMemory names the limit where pytest runs: the container's, not this machine's.
    lines = ed.exec_lua("return (require('pytest.memory').render(nil, 'x', require('pytest').last(), {}))")
    where = [l for l in lines if "where pytest runs" in l]
    assert where and "512 MB" in where[0], lines
    math = os.path.join(root, "tests", "test_math.py")
    ed.command("edit " + math)
    wait_finished(ed, "PytestFile", timeout=120)
    assert {e[0] for e in qf_entries(ed)} == {math}
    ed.current.window.cursor = (26, 8)
    wait_finished(ed, "PytestNearest", timeout=120)
    assert [tuple(e) for e in qf_entries(ed)] == [(math, 26, "E")]
    # The tree: collected through the prefix, its nodes in host files, marks in the buffer.
    ed.exec_lua("_G.collected = 0; vim.api.nvim_create_autocmd('User', { pattern = 'PytestCollected',"
                " callback = function() _G.collected = _G.collected + 1 end })")
    ed.exec_lua("require('pytest.tree').collect()")
    wait_for(ed, "_G.collected > 0", timeout=120)
    files = ed.exec_lua("""
        local out = {}
        for _, n in ipairs(require('pytest').tree().tests) do
          if n.file then out[n.file] = true end
        end
        return vim.tbl_keys(out)
    """)
    assert math in files and all(f.startswith(root) for f in files), files
    # :PytestStop ends pytest in the container.
    ed.command("cd " + os.path.join(host, "proj_slow"))
    ed.command("edit " + os.path.join(host, "proj_slow", "test_hang.py"))
    before = fired(ed)
    ed.command("PytestRun")
    wait_until(lambda: c.pytests(), 60, "pytest never started in the container")
    ed.command("PytestStop")
    wait_for(ed, f"#_G.fired > {before}", timeout=30)
    assert ed.exec_lua("return require('pytest').last().status") == "cancelled"
    wait_until(lambda: not c.pytests(), 10, "pytest still runs in the container after :PytestStop")


def test_editor_coverage_signs_equal_the_hosts(nvim, shared, tmp_path):
    host, c = shared
    ref_proj = tmp_path / "proj_cov"
    shutil.copytree(os.path.join(FIXTURES_DIR, "proj_cov"), ref_proj,
                    ignore=shutil.ignore_patterns("__pycache__", ".coverage*"))
    root = os.path.join(host, "proj_cov")
    shapes = os.path.join(root, "calc", "shapes.py")
    editor_setup(nvim, shared)
    nvim.exec_lua("""_G.cov_fired = 0
        vim.api.nvim_create_autocmd('User', { pattern = 'PytestCoverage',
          callback = function() _G.cov_fired = _G.cov_fired + 1 end })""")
    nvim.command("cd " + root)
    nvim.command("edit " + shapes)
    nvim.command("PytestCoverage")
    wait_for(nvim, "_G.cov_fired == 1", timeout=120)
    wait_for(nvim, "#require('pytest.coverage').signs(vim.fn.bufnr(%r)) > 0" % shapes, timeout=30)
    got = nvim.exec_lua("return require('pytest.coverage').signs(vim.fn.bufnr(...))", shapes)
    # the oracle: coverage.py's own report of the same tests on this side
    data, out = str(tmp_path / "o.coverage"), str(tmp_path / "o.json")
    env = dict(os.environ, COVERAGE_FILE=data)
    subprocess.run([HOST_PYTHON, "-m", "pytest", "-p", "no:cacheprovider", "-q", "--cov=" + str(ref_proj),
                    "--cov-report="], cwd=ref_proj, env=env, check=True, stdout=subprocess.DEVNULL)
    subprocess.run([HOST_PYTHON, "-m", "coverage", "json", "--data-file=" + data, "-o", out], cwd=ref_proj,
                   env=env, check=True, stdout=subprocess.DEVNULL)
    want = json.load(open(out))["files"]["calc/shapes.py"]["missing_lines"]
    assert want and got == want


def test_checkhealth_shows_the_prefix_and_asks_the_interpreter(nvim, shared):
    host, c = shared
    editor_setup(nvim, shared)
    nvim.command("cd " + os.path.join(host, "proj_fail"))
    nvim.command("checkhealth pytest")
    text = "\n".join(nvim.current.buffer[:])
    assert "prefix: " + " ".join(c.prefix()) in text, text
    assert "path_map: /app (there) -> " + host in text
    assert "pytest runs in /app/proj_fail there" in text
    assert "python python3 there answers: Python 3.11" in text and "pytest 7." in text, text


def test_nvim_dap_debugs_through_the_prefix_and_stops_in_the_host_file(nvim, shared, tmp_path):
    """:PytestDebug with nvim-dap (test_debug.py's stand-in, which records what it is handed):
    the adapter is `PREFIX python3 -m debugpy.adapter` on stdio, the configuration in the
    container's paths with pathMappings; debugpy's real adapter, started exactly so, stops at a
    breakpoint set in the host file."""
    host, c = shared
    root = os.path.join(host, "proj_debug")
    test_file = os.path.join(root, "test_debug.py")
    line = next(n for n, l in enumerate(open(test_file), 1) if l.rstrip().endswith("# BREAK: test_env"))
    fake = tmp_path / "fake-dap"
    (fake / "lua").mkdir(parents=True)
    (fake / "lua" / "dap.lua").write_text(FAKE_DAP)
    nvim.command("set rtp^=" + str(fake))
    nvim.exec_lua("""
        local prefix, host = ...
        require('pytest').setup({ prefix = prefix, path_map = { ['/app'] = host },
                                  env = { PYTESTMON_DEBUG_MARK = 'from-the-config' } })
    """, c.prefix(), host)
    nvim.command("edit " + test_file)
    nvim.api.win_set_cursor(0, [line, 0])
    nvim.command("PytestDebug")
    conf = wait_for(nvim, "require('dap').runs[1]", timeout=60)
    adapter = nvim.exec_lua("return require('dap').adapters.pytestmon_prefix")
    assert conf["type"] == "pytestmon_prefix" and adapter["type"] == "executable"
    assert [adapter["command"]] + adapter["args"] == c.prefix() + ["python3", "-m", "debugpy.adapter"]
    assert conf["cwd"] == "/app/proj_debug" and conf["args"][-1] == "test_debug.py::test_env"
    assert conf["pathMappings"] == [{"localRoot": host, "remoteRoot": "/app"}]
    dap = DapClient.spawn([adapter["command"]] + adapter["args"])
    try:
        top = stop_at_breakpoint(dap, "launch", conf, test_file, line)
        assert top["line"] == line and top["source"]["path"] == test_file, top
        assert dap.event("exited", timeout=60)["exitCode"] == 0  # the env reached the debuggee
    finally:
        dap.close()
    wait_until(lambda: not [l for l in c.exec("ps", "-eo", "args").stdout.splitlines() if "debugpy" in l], 20,
               "debugpy still runs in the container")


# ---- a third kind: ssh to this machine (Debian's openssh-server, key-based, started here) ----

@pytest.fixture(scope="module")
def sshd(tmp_path_factory):
    """A private sshd on 127.0.0.1 (its own host key, config and authorized key) and the ssh
    prefix that reaches it as this user."""
    sshd_bin = shutil.which("sshd") or ("/usr/sbin/sshd" if os.path.exists("/usr/sbin/sshd") else None)
    if not sshd_bin or os.geteuid() != 0:
        if os.environ.get("CI") or os.environ.get("PYTESTMON_REQUIRE_DOCKER"):
            pytest.fail("no sshd (install openssh-server) or not root")
        pytest.skip("SKIPPED LOUDLY: no sshd (install openssh-server) or not root")
    d = tmp_path_factory.mktemp("sshd")
    for key in ("host_key", "user_key"):
        subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(d / key)], check=True)
    shutil.copy(d / "user_key.pub", d / "authorized_keys")
    os.chmod(d / "authorized_keys", 0o600)
    import socket
    with socket.socket() as s:  # a test's own port: nothing else here listens on it after the probe
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    (d / "sshd_config").write_text(
        f"ListenAddress 127.0.0.1:{port}\nHostKey {d}/host_key\nAuthorizedKeysFile {d}/authorized_keys\n"
        f"PidFile {d}/sshd.pid\nStrictModes no\nPermitRootLogin prohibit-password\nUsePAM no\n"
        "PasswordAuthentication no\nKbdInteractiveAuthentication no\n")
    os.makedirs("/run/sshd", exist_ok=True)
    proc = subprocess.Popen([sshd_bin, "-D", "-e", "-f", str(d / "sshd_config")], stderr=subprocess.DEVNULL)
    prefix = ["ssh", "-T", "-p", str(port), "-i", str(d / "user_key"), "-o", f"UserKnownHostsFile={d}/known_hosts",
              "-o", "StrictHostKeyChecking=no", "-o", "BatchMode=yes", "-o", "LogLevel=ERROR", "root@127.0.0.1"]
    wait_until(lambda: subprocess.run(prefix + ["true"], capture_output=True).returncode == 0, 30,
               "the test's sshd never answered")
    yield prefix
    proc.terminate()
    proc.wait(10)


def test_ssh_prefix_runs_quoted_and_stops(sshd, tmp_path):
    host = tmp_path / "proj with space's"
    shutil.copytree(os.path.join(FIXTURES_DIR, "proj_fail"), host)
    ref = cli(str(host), python=HOST_PYTHON)
    got = cli(str(host), prefix=sshd, python=HOST_PYTHON)
    assert got["source"] == "junit", (got.get("source_reason"), got.get("output_tail"))
    assert sites(got, str(host)) == sites(ref, str(host))
    spaced = str(host / "tests" / "sub" / "test_spaced name é.py")
    one = cli(str(host), spaced, prefix=sshd, python=HOST_PYTHON)  # a path a shell would split
    assert one["counts"]["failed"] >= 1 and {f["file"] for f in one["failures"]} == {spaced}
    # :PytestStop: the ssh client killed ends nothing there; stdin's EOF does.
    slow = tmp_path / "slow"
    shutil.copytree(os.path.join(FIXTURES_DIR, "proj_slow"), slow)
    p = Peer()
    try:
        p.request(1, "run", [{"cwd": str(slow), "python": HOST_PYTHON, "prefix": sshd, "kill_grace_ms": 5000}])
        run_id = p.response(1)[3]
        p.event("tests", timeout=60, want=lambda e: any(t["status"] == "running" for t in e["tests"]))

        def remote_pytests():  # pytest there: started by sshd (not our child), in the project
            found = []
            for q in psutil.process_iter(["cmdline", "cwd"]):
                cmd = q.info["cmdline"] or []
                if q.info["cwd"] == str(slow) and "pytest" in cmd and cmd[0] != "ssh" and q.status() != "zombie":
                    found.append(q.pid)
            return found

        pids = remote_pytests()
        assert pids and all(q.pid not in pids for q in psutil.Process(p.proc.pid).children(recursive=True))
        p.request(2, "cancel", [])
        assert p.event("finished", timeout=30, want=lambda e: e["run_id"] == run_id)["status"] == "cancelled"
        wait_until(lambda: not remote_pytests(), 10, "pytest outlived the cancel behind ssh")
    finally:
        p.close()
