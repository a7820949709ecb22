"""A real Docker engine for the tests of a command prefix (issue #30): dockerd started when none
answers (root only: its own data root under the session's private directory would lose the
image cache between runs, so the engine's default one is used), an image made without a
registry from this machine's own files (`docker import` of the interpreter, its libraries,
pytest, pytest-cov, coverage, debugpy), cached by a key of their names, sizes and times, and
containers with a project mounted at /app.

The engine we start is ended when the test process exits (the image stays cached in its data
root). `engine()` returns None, or the reason when no engine can start; the tests then skip loudly
(pytest.skip with that reason), but CI on these machines (`$CI` set) fails instead.
"""
import atexit
import glob
import hashlib
import io
import os
import shutil
import subprocess
import tarfile
import time

DOCKER = shutil.which("docker")
DOCKERD = shutil.which("dockerd") or ("/usr/sbin/dockerd" if os.path.exists("/usr/sbin/dockerd") else None)
SOCKET = "/var/run/docker.sock"
IMAGE = "pytestmon-test"

# What the image holds: the interpreter, what a run and the tests inside need, and pytest with
# its plugins (Debian's dist-packages). Libraries are what ldd says these need.
BINARIES = ["/usr/bin/python3", "/usr/bin/python3.11", "/usr/bin/env", "/usr/bin/sleep", "/usr/bin/kill",
            "/usr/bin/ps", "/usr/bin/sh", "/usr/bin/dash", "/usr/bin/cat", "/usr/bin/pgrep", "/usr/bin/true"]
TREES = ["/usr/lib/python3.11", "/usr/lib/python3/dist-packages"]
_started = None  # the dockerd we started (a Popen), ended at exit (_stop_engine)


def _stop_engine():
    if _started is not None and _started.poll() is None:
        _started.terminate()
        try:
            _started.wait(30)
        except subprocess.TimeoutExpired:
            _started.kill()


atexit.register(_stop_engine)


def _answers(timeout=5):
    if not DOCKER:
        return False
    try:
        return subprocess.run([DOCKER, "info", "--format", "{{.ServerVersion}}"], capture_output=True,
                              timeout=timeout).returncode == 0
    except subprocess.TimeoutExpired:
        return False


def engine(deadline_s=60):
    """None when a Docker engine answers (started here if needed), else why not."""
    global _started
    if _answers():
        return None
    if not DOCKER:
        return "no docker client (install docker.io)"
    if not DOCKERD:
        return "no dockerd (install docker.io)"
    if os.geteuid() != 0:
        return "dockerd is not running and only root can start it here"
    if _started is None:
        log = open(os.path.join(os.environ.get("TMPDIR", "/tmp"), "pytestmon-dockerd.log"), "ab")
        _started = subprocess.Popen([DOCKERD], stdout=log, stderr=log, start_new_session=True)
    end = time.monotonic() + deadline_s
    while time.monotonic() < end:
        if _started.poll() is not None:
            return "dockerd exited with status %s" % _started.returncode
        if os.path.exists(SOCKET) and _answers():
            return None
        time.sleep(0.2)  # polling the engine with a deadline: it has no event to wait on
    return "dockerd did not answer within %ss" % deadline_s


def _libraries(paths):
    libs = set()
    for p in paths:
        out = subprocess.run(["ldd", p], capture_output=True, text=True).stdout
        for line in out.splitlines():
            part = line.split("=>")[-1].strip().split(" (")[0].strip()
            if part.startswith("/"):
                libs.add(os.path.realpath(part))
                libs.add(part)
    return libs


def _files():
    sos = glob.glob("/usr/lib/python3.11/lib-dynload/*.so") + glob.glob(
        "/usr/lib/python3/dist-packages/**/*.so", recursive=True)
    files = set(BINARIES) | _libraries(BINARIES + sos)
    for p in list(files):
        if p.startswith("/lib/") or p.startswith("/lib64/"):
            files.discard(p)
            files.add("/usr" + p)
    return sorted(f for f in files if os.path.exists(f))


def _key(files):
    h = hashlib.sha256()
    for f in files + TREES:
        st = os.stat(f)
        h.update(("%s %d %d\n" % (f, st.st_size, int(st.st_mtime))).encode())
    return h.hexdigest()[:16]


def image():
    """The image's name (IMAGE:KEY), made once per content key."""
    files = _files()
    tag = "%s:%s" % (IMAGE, _key(files))
    if subprocess.run([DOCKER, "image", "inspect", tag], capture_output=True).returncode == 0:
        return tag
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tar:
        for link, to in (("bin", "usr/bin"), ("lib", "usr/lib"), ("lib64", "usr/lib64"), ("sbin", "usr/sbin")):
            info = tarfile.TarInfo(link)
            info.type, info.linkname = tarfile.SYMTYPE, to
            tar.addfile(info)
        for d in ("tmp", "etc", "proc", "sys", "dev", "app"):
            info = tarfile.TarInfo(d)
            info.type, info.mode = tarfile.DIRTYPE, 0o1777 if d == "tmp" else 0o755
            tar.addfile(info)
        for f in files:
            tar.add(f, arcname=f.lstrip("/"))
        for t in TREES:
            tar.add(t, arcname=t.lstrip("/"),
                    filter=lambda i: None if "__pycache__" in i.name else i)
    subprocess.run([DOCKER, "import", "-", tag], input=buf.getvalue(), check=True, capture_output=True)
    return tag


class Container:
    """`docker run -d --memory MEM -v HOST:/app -w /app IMAGE sleep 3600`, removed by stop()."""

    def __init__(self, host_dir, memory="512m", inside="/app"):
        self.inside = inside
        self.id = subprocess.run(
            [DOCKER, "run", "-d", "--rm", "--memory", memory, "-v", "%s:%s" % (host_dir, inside), "-w", inside,
             image(), "sleep", "3600"], capture_output=True, text=True, check=True).stdout.strip()

    def prefix(self):
        return [DOCKER, "exec", "-i", self.id]

    def exec(self, *argv, **kw):
        return subprocess.run([DOCKER, "exec", self.id, *argv], capture_output=True, text=True, **kw)

    def pytests(self):
        """The command lines of the processes running pytest in the container."""
        out = self.exec("ps", "-eo", "args").stdout.splitlines()
        return [l for l in out[1:] if "pytest" in l and not l.startswith("ps ")]

    def stop(self):
        subprocess.run([DOCKER, "rm", "-f", self.id], capture_output=True)
