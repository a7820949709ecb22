"""Oracle tests for `pytestmon mem`: psutil 5.9.4 (Debian 12) is the reference.

Run with /usr/bin/python3 (it has psutil and pytest). The binary is $PYTESTMON_BIN
(default /work/main/build/pytestmon relative to this repo).

- RSS, VMS and shared of a live idle child and of this test process agree EXACTLY with
  psutil memory_info() (both sampled while the process is idle; retried until stable).
- System total/available/used/swap agree with virtual_memory()/swap_memory().
- The seed failure for real: a child lowers RLIMIT_AS below its VmSize, its mmap fails with
  ENOMEM (and Python raises MemoryError), it stays alive, and `pytestmon mem` names
  RLIMIT_AS as the binding constraint with verdict exceeded while RSS is small.
- Fixture trees: the same verdicts through the CLI (--root).
"""
import json
import os
import subprocess
import sys

import psutil
import pytest

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(os.path.dirname(HERE))
BIN = os.environ.get("PYTESTMON_BIN", os.path.join(REPO, "build", "pytestmon"))
PY = "/usr/bin/python3"
MB = 1024 * 1024

pytestmark = pytest.mark.skipif(not os.access(BIN, os.X_OK), reason=f"no binary at {BIN}")


def mem(*args, check=True):
    r = subprocess.run([BIN, "mem", *args], capture_output=True, text=True, timeout=30)
    if check:
        assert r.returncode == 0, r.stderr
    return r


def mem_json(pid, *extra):
    return json.loads(mem("--pid", str(pid), "--json", *extra).stdout)


IDLE_CHILD = (
    "import sys\n"
    "sys.stdout.write('ready\\n'); sys.stdout.flush()\n"
    "sys.stdin.read()\n"
)


@pytest.fixture
def idle_child():
    p = subprocess.Popen([PY, "-c", IDLE_CHILD], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                         text=True)
    assert p.stdout.readline() == "ready\n"
    yield p
    p.stdin.close()
    p.wait(timeout=10)


def stable_compare(pid):
    """psutil before and after one pytestmon run; returns (psutil, report) from a round
    where psutil saw no change (the process was idle throughout)."""
    proc = psutil.Process(pid)
    for _ in range(20):
        before = proc.memory_info()
        report = mem_json(pid)
        after = proc.memory_info()
        if before == after:
            return before, report
    pytest.fail("process memory never stable across a pytestmon run")


@pytest.mark.parametrize("who", ["child", "self"])
def test_process_memory_matches_psutil_exactly(who, idle_child):
    pid = idle_child.pid if who == "child" else os.getpid()
    ref, report = stable_compare(pid)
    p = report["process"]
    assert report["pid"] == pid
    assert p["rss"] == ref.rss
    assert p["vms"] == ref.vms
    assert p["shared"] == ref.shared
    assert p["text"] == ref.text
    assert p["data"] == ref.data
    assert report["name"] == psutil.Process(pid).name()
    assert p["threads"] == psutil.Process(pid).num_threads()
    assert p["map_count"] == len(open(f"/proc/{pid}/maps").read().splitlines())


def test_system_memory_matches_psutil(idle_child):
    vm_before = psutil.virtual_memory()
    sw = psutil.swap_memory()
    s = mem_json(idle_child.pid)["system"]
    vm_after = psutil.virtual_memory()
    tol = 64 * MB
    assert s["total"] == vm_before.total
    for key in ("available", "used", "free"):
        lo = min(getattr(vm_before, key), getattr(vm_after, key)) - tol
        hi = max(getattr(vm_before, key), getattr(vm_after, key)) + tol
        assert lo <= s[key] <= hi, key
    assert abs(s["percent"] - vm_after.percent) <= 1.0
    assert abs(s["cached"] - vm_after.cached) <= tol
    assert s["buffers"] == pytest.approx(vm_after.buffers, abs=tol)
    assert s["swap"]["total"] == sw.total
    assert abs(s["swap"]["used"] - sw.used) <= tol
    assert abs(s["swap"]["percent"] - sw.percent) <= 1.0
    # psutil 5.9.4's `used` is total - free - cached - buffers, not total - available
    assert s["used_by_available"] == s["total"] - s["available"]


SEED_CHILD = r"""
import errno, mmap, os, resource, sys

def vms():
    return int(open('/proc/self/statm').read().split()[0]) * os.sysconf('SC_PAGE_SIZE')

# reserve 512 MB of address space without touching it (RSS stays small)
reserve = mmap.mmap(-1, 512 * 1024 * 1024, prot=mmap.PROT_READ)
limit = vms() - 128 * 1024 * 1024
soft, hard = resource.getrlimit(resource.RLIMIT_AS)
resource.setrlimit(resource.RLIMIT_AS, (limit, hard))  # below current VmSize: allowed
out = []
try:
    mmap.mmap(-1, 1024 * 1024)
    out.append('mapped')
except OSError as e:
    out.append('mmap errno %d (%s)' % (e.errno, os.strerror(e.errno)))
try:
    b = bytearray(64 * 1024 * 1024)
    out.append('allocated')
except MemoryError:
    out.append('MemoryError')
os.write(1, ('%d\n' % limit + ' | '.join(out) + '\n').encode())
os.read(0, 1)  # stay alive, idle, until the test closes stdin
"""


@pytest.fixture
def seed_child():
    p = subprocess.Popen([PY, "-c", SEED_CHILD], stdin=subprocess.PIPE, stdout=subprocess.PIPE)
    limit = int(p.stdout.readline())
    result = p.stdout.readline().decode()
    yield p, limit, result
    p.stdin.close()
    p.wait(timeout=10)


def test_seed_rlimit_as_reproduced(seed_child):
    p, limit, result = seed_child
    # the failure happened for real
    assert "mmap errno 12 (Cannot allocate memory)" in result
    assert "MemoryError" in result
    r = mem_json(p.pid)
    proc = r["process"]
    assert r["limits"]["address_space"]["soft"] == limit
    assert proc["vms"] > limit
    assert proc["rss"] < 100 * MB  # small: it is the address space, not RAM
    assert r["binding"]["name"] == "RLIMIT_AS"
    assert r["binding"]["verdict"] == "exceeded"
    assert r["verdict"] == "exceeded"
    by_name = {c["name"]: c for c in r["constraints"]}
    assert by_name["RLIMIT_AS"]["used"] == proc["vms"]  # VmSize
    assert by_name["RLIMIT_AS"]["limit"] == limit
    assert by_name["system"]["verdict"] == "ok"
    s = r["sentence"]
    assert s.startswith("address space ")
    assert "(RLIMIT_AS): new mappings will fail with ENOMEM even though" in s
    assert s.endswith(" is free")
    # and the human text says the same
    text = mem("--pid", str(p.pid)).stdout
    assert "exceeded" in text.splitlines()[0]
    assert "(RLIMIT_AS): new mappings will fail with ENOMEM" in text


@pytest.mark.parametrize("scenario,binding,verdict,sentence", [
    ("seed-rlimit-as", "RLIMIT_AS", "exceeded",
     "address space 1273 MB of 1024 MB limit (RLIMIT_AS): new mappings will fail with ENOMEM "
     "even though 4.7 GB is free"),
    ("v2-oomkill", "cgroup", "exceeded",
     "cgroup memory 512 MB of 512 MB limit (cgroup v2 /system.slice/ci-runner.service): the "
     "kernel OOM-kills a process (SIGKILL, exit 137) instead of returning ENOMEM; 3 OOM kills "
     "so far"),
    ("v1-nolimit", "system", "ok",
     "no memory limit is near: closest is system memory 4.3 GB of 23.5 GB (system, 18%)"),
    ("strict-overcommit", "CommitLimit", "near", None),
    ("mapcount", "max_map_count", "near", None),
])
def test_fixture_trees_through_cli(scenario, binding, verdict, sentence):
    root = os.path.join(REPO, "tests", "fixtures", "proc", scenario)
    r = mem_json(4242, "--root", root)
    assert r["binding"]["name"] == binding
    assert r["binding"]["verdict"] == verdict
    if sentence:
        assert r["sentence"] == sentence
    if scenario == "v1-nolimit":
        assert r["cgroup"]["version"] == 1
        assert r["cgroup"]["limit"] is None and r["cgroup"]["effective_limit"] is None


def test_cli_errors():
    r = mem("--pid", "2000000000", check=False)
    assert r.returncode == 2  # out of range pid: usage
    r = mem("--pid", "4999999", check=False)
    assert r.returncode in (1, 2)
    r = mem("--pid", "4242", "--root", "/nonexistent", check=False)
    assert r.returncode == 1
    assert "no such process" in r.stderr
    r = mem("--bogus", check=False)
    assert r.returncode == 2
