"""pytestmon's warm pytest: one per project, started by the co-process (src/pytest/warm.c) through
its launcher (``python -m pytestmon_warm`` in the project's root, with a run's environment), so
that a run is a fork of a process that has imported pytest and the modules the previous run
imported from outside the project, instead of a fresh interpreter. PYTEST_DONT_REWRITE

The contract (the C side is src/pytest/warm.c and src/pytest/warmattach.c):

- fd 0 is the control channel, a socket pair with the co-process (private: no file system
  name). We write one line when we are ready (``ready PID``), or why we cannot serve
  (``refused REASON``: a preload started a thread, ...), and ``stale REASON`` before we exit
  because a preloaded file changed. Each byte the co-process sends carries (SCM_RIGHTS) one end
  of a new connection, whose other end is the stdin of a ``pytestmon --warm-attach`` step that
  stands for the run (the co-process's Child: its exit status is the run's).
- On a connection the step sends a 4-byte big-endian length and that many bytes: the run's cwd,
  argument count, arguments and environment entries, NUL-separated, with its stdout and stderr
  (the run's pipes) attached. We answer ``pid N`` when the run's process (a fork of us) runs, then
  ``status W`` (its raw wait status) when it ended; or ``cold REASON``: the step then runs the
  same command cold. A connection that ends before the status (the step was killed) kills the
  fork's process group.
- The co-process first sends module names on the control channel, one a line, then an empty
  line (the previous run's imports from outside the project, recorded by our plugin:
  pytestmon_hooks/imports.py). They are imported in that order; one whose import warns is dropped again (a cold run would see its warning), one
  that starts a thread ends the preload (fork would be unsafe): we then refuse, naming it.
- Never stale: before each fork the files of every preloaded module, the directories on
  sys.path and the interpreter are stat()ed; any change in mtime or size (a ``pip install``, a
  ``git checkout``) refuses the run (cold) and ends this process once its forks are done (the
  co-process starts a new one).
- Each fork: its own session, PR_SET_PDEATHSIG (it dies with us, and we with the co-process), fds
  0/1/2 /dev/null and the run's pipes, the run's cwd, environment and ``sys.argv``, our
  ``atexit`` handlers dropped; it runs ``pytest.console_main()`` as ``python -m pytest`` would,
  runs its own exit handlers and exits with pytest's status. We never run a test ourselves.
"""
import os
import sys


def _read_preload(control):
    """The module names the co-process sends first on the control channel: one a line, then an
    empty line."""
    buf = b""
    while not (buf == b"\n" or buf.endswith(b"\n\n")):
        data = control.recv(1 << 16)
        if not data:
            break
        buf += data
    return [n for n in buf.decode("utf-8", "replace").split("\n") if n.strip()]


PRELOADED = []  # the names of the list that were imported


def _preload(names):
    """Imports the modules `names` (after the plugins: a module that imports a plugin's would
    otherwise import it past the rewriter). Returns why forking is unsafe (None when it is not)."""
    import threading

    refusal = _preload_plugins()
    if refusal:
        return refusal
    # Our own plugin, as `-p pytestmon_plugin` loads it (PYTEST_DONT_REWRITE: pytest does not
    # mind it imported), and what it imports only when asked (a lookup's collection record).
    for name in ("pytestmon_plugin", "pytestmon_hooks.collection", "pytestmon_hooks.imports"):
        _import_watched(name)
    for name in names:
        if name in sys.modules:
            PRELOADED.append(name)
            continue
        _import_watched(name)
        if name in sys.modules:
            PRELOADED.append(name)
        if threading.active_count() > 1 or _threads() > 1:
            return "importing %s started a thread" % name
    return None


def _import_watched(name):
    """Imports module `name`; one whose import warns or fails is dropped again, with what it
    imported (the run imports it, and sees what a cold run sees)."""
    import importlib
    import warnings

    before = set(sys.modules)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            importlib.import_module(name)
        except BaseException:
            caught.append(None)
    if caught:
        for added in set(sys.modules) - before:
            sys.modules.pop(added, None)


def _preload_plugins():
    """pytest's plugins from entry points (pytest11), imported as pytest itself imports them:
    through its assertion rewriter, with the modules of their distributions marked for rewrite.
    A fork's pytest then finds them imported by a rewriter (no "Module already imported so
    cannot be rewritten" warning) and registers them as a cold pytest would. Returns why forking
    became unsafe, or None. Nothing when PYTEST_DISABLE_PLUGIN_AUTOLOAD is set."""
    import threading

    if os.environ.get("PYTEST_DISABLE_PLUGIN_AUTOLOAD"):
        return None
    try:
        import importlib.metadata as md
        from _pytest.assertion import install_importhook
        from _pytest.config import get_config

        config = get_config([])
        # No ini file is read: the rewriter takes the defaults (python_files).
        if not hasattr(config, "_inicfg") and not hasattr(type(config), "inicfg"):
            config.inicfg = {}  # pytest 7, 8
        elif not hasattr(config, "_inicfg"):
            config._inicfg = {}  # pytest 9
        hook = install_importhook(config)
    except Exception:
        return None  # another pytest's internals: its runs load the plugins themselves
    try:
        try:
            config._mark_plugins_for_rewrite(hook)
        except TypeError:  # pytest 9: whether autoload is off is an argument
            config._mark_plugins_for_rewrite(hook, False)
        seen = set()
        for dist in md.distributions():
            for ep in dist.entry_points:
                if ep.group != "pytest11":
                    continue
                name = ep.value.split(":")[0].strip()
                if name in seen or name in sys.modules:
                    continue
                seen.add(name)
                _import_watched(name)
                if threading.active_count() > 1 or _threads() > 1:
                    return "importing the pytest plugin %s started a thread" % name
    except Exception:
        pass
    finally:
        if hook in sys.meta_path:
            sys.meta_path.remove(hook)
    return None


def _threads():
    try:
        return len(os.listdir("/proc/self/task"))
    except OSError:
        return 1


def _fingerprint():
    """(path, mtime_ns, size) of the interpreter, every sys.path directory and every loaded
    module's file."""
    paths = {sys.executable}
    paths.update(p for p in sys.path if p)
    for mod in list(sys.modules.values()):
        f = getattr(mod, "__file__", None)
        if isinstance(f, str):
            paths.add(f)
    out = []
    for p in sorted(paths):
        out.append((p,) + _stat(p))
    return out


def _stat(p):
    try:
        st = os.stat(p)
        return (st.st_mtime_ns, st.st_size)
    except OSError:
        return (-1, -1)


def _changed(fp):
    for p, mtime, size in fp:
        if _stat(p) != (mtime, size):
            return p
    return None


class Server:
    def __init__(self, control, fp, refusal):
        import selectors
        import signal
        import socket

        self.socket = socket
        self.signal = signal
        self.control = control
        self.fp = fp
        self.refusal = refusal
        self.stale = None
        self.sel = selectors.DefaultSelector()
        self.conns = {}  # fd -> [socket, buffer, fds]
        self.forks = {}  # pid -> socket (None once its step is gone)
        self.wake_r, self.wake_w = os.pipe()
        os.set_blocking(self.wake_w, False)
        os.set_blocking(self.wake_r, False)
        signal.set_wakeup_fd(self.wake_w)
        signal.signal(signal.SIGCHLD, lambda *a: None)
        self.sel.register(control, selectors.EVENT_READ, "control")
        self.sel.register(self.wake_r, selectors.EVENT_READ, "wake")

    def tell(self, line):
        try:
            self.control.sendall((line.replace("\n", " ") + "\n").encode("utf-8", "replace"))
        except OSError:
            pass

    def serve(self):
        while True:
            if self.stale and not self.forks and not self.conns:
                return 0
            for key, _ in self.sel.select():
                what = key.data
                if what == "control":
                    if not self.on_control():
                        return 0
                elif what == "wake":
                    try:
                        os.read(self.wake_r, 4096)
                    except OSError:
                        pass
                    self.reap()
                else:
                    self.on_conn(key.fileobj)

    def on_control(self):
        try:
            data, anc, _, _ = self.control.recvmsg(64, self.socket.CMSG_SPACE(16 * 4))
        except (InterruptedError, BlockingIOError):
            return True
        except OSError:
            return False
        fds = _fds(anc)
        if not data and not fds:
            return False  # the co-process is gone
        import selectors

        for fd in fds:
            s = self.socket.socket(fileno=fd)
            self.conns[s.fileno()] = [s, b"", []]
            self.sel.register(s, selectors.EVENT_READ, "conn")
        return True

    def on_conn(self, s):
        fd = s.fileno()
        entry = self.conns.get(fd)
        if entry is None:  # a fork's step: readable means it is gone (or wrote what it should not)
            self.step_gone(s)
            return
        try:
            data, anc, _, _ = s.recvmsg(1 << 16, self.socket.CMSG_SPACE(16 * 4))
        except (InterruptedError, BlockingIOError):
            return
        except OSError:
            data, anc = b"", []
        entry[2].extend(_fds(anc))
        if not data:
            self.drop(s)
            return
        entry[1] += data
        buf = entry[1]
        if len(buf) < 4:
            return
        n = int.from_bytes(buf[:4], "big")
        if len(buf) < 4 + n:
            return
        del self.conns[fd]
        self.request(s, buf[4 : 4 + n], entry[2])

    def drop(self, s):
        entry = self.conns.pop(s.fileno(), None)
        for fd in entry[2] if entry else []:
            _close(fd)
        self.sel.unregister(s)
        s.close()

    def step_gone(self, s):
        try:
            data = s.recv(64)
        except OSError:
            data = b""
        if data:
            return
        self.sel.unregister(s)
        for pid, conn in self.forks.items():
            if conn is s:
                try:
                    os.killpg(pid, self.signal.SIGKILL)
                except OSError:
                    pass
                self.forks[pid] = None
        s.close()

    def reply(self, s, line):
        try:
            s.sendall((line + "\n").encode("utf-8", "replace"))
        except OSError:
            pass

    def refuse(self, s, fds, reason):
        self.reply(s, "cold " + reason)
        for fd in fds:
            _close(fd)
        self.sel.unregister(s)
        s.close()

    def request(self, s, payload, fds):
        import threading

        parts = payload.split(b"\0")
        try:
            cwd = os.fsdecode(parts[0])
            argc = int(parts[1])
            argv = [os.fsdecode(a) for a in parts[2 : 2 + argc]]
            env = [os.fsdecode(e) for e in parts[2 + argc :] if e]
        except (IndexError, ValueError):
            self.refuse(s, fds, "the warm process could not read the request")
            return
        if len(fds) != 2:
            self.refuse(s, fds, "the warm process did not get the run's output pipes")
            return
        if self.refusal:
            self.refuse(s, fds, self.refusal)
            return
        if self.stale is None:
            changed = _changed(self.fp)
            if changed:
                self.stale = "%s changed since the warm process started" % changed
                self.tell("stale " + self.stale)
        if self.stale:
            self.refuse(s, fds, self.stale)
            return
        if argv[1:3] != ["-m", "pytest"]:
            self.refuse(s, fds, "not a `python -m pytest` command")
            return
        if threading.active_count() > 1 or _threads() > 1:
            self.refuse(s, fds, "the warm process has %d threads: fork is unsafe" % max(threading.active_count(), _threads()))
            return
        sys.stdout.flush()
        sys.stderr.flush()
        pid = os.fork()
        if pid == 0:
            try:
                self.child(cwd, argv, env, fds, s)
            finally:
                os._exit(70)
        for fd in fds:
            _close(fd)
        self.forks[pid] = s
        self.reply(s, "pid %d" % pid)

    def reap(self):
        while True:
            try:
                pid, status = os.waitpid(-1, os.WNOHANG)
            except ChildProcessError:
                return
            if pid == 0:
                return
            s = self.forks.pop(pid, None)
            if s is not None:
                self.reply(s, "status %d" % status)
                try:
                    self.sel.unregister(s)
                except (KeyError, ValueError):
                    pass
                s.close()

    def child(self, cwd, argv, env, fds, conn):
        signal = self.signal
        os.setsid()
        _pdeathsig()
        if os.getppid() != SERVER_PID:
            os._exit(70)
        signal.set_wakeup_fd(-1)
        for sig in (signal.SIGCHLD, signal.SIGTERM, signal.SIGHUP, signal.SIGPIPE):
            signal.signal(sig, signal.SIG_DFL)
        signal.signal(signal.SIGPIPE, signal.SIG_IGN)  # as Python itself sets it
        signal.signal(signal.SIGINT, signal.default_int_handler)
        null = os.open(os.devnull, os.O_RDONLY)
        os.dup2(null, 0)
        os.dup2(fds[0], 1)
        os.dup2(fds[1], 2)
        keep = {0, 1, 2}
        for fd in [null, fds[0], fds[1], self.wake_r, self.wake_w, self.control.fileno()] + list(self.conns) + [
            c.fileno() for c in self.forks.values() if c is not None
        ] + [conn.fileno()]:
            if fd not in keep and fd >= 0:
                _close(fd)
        try:
            self.sel.close()
        except Exception:
            pass
        os.chdir(cwd)
        os.environ.clear()
        for e in env:
            k, sep, v = e.partition("=")
            if sep and k:
                os.environ[k] = v
        import atexit
        import pytest
        import pytest.__main__ as pymain  # noqa: F401  (what `python -m pytest` runs)

        atexit._clear()  # ours are not the run's
        # What our plugin's record of the run's imports need not look at again (imports.py)
        sys._pytestmon_warm = (self.known, PRELOADED)
        sys.argv = [pymain.__file__] + argv[3:]
        main = type(sys)("__main__")
        main.__file__ = pymain.__file__
        sys.modules["__main__"] = main
        # What `python -m pytest` runs: pytest 9.1's __main__ calls _console_main (its
        # console_main warns that it is deprecated: on stderr), older ones console_main.
        import _pytest.config

        entry = getattr(_pytest.config, "_console_main", None) or pytest.console_main
        code = 0
        try:
            code = entry()
        except SystemExit as e:
            code = _exit_code(e.code)
        except BaseException:
            import traceback

            traceback.print_exc()
            code = 1
        try:
            import threading

            threading._shutdown()
        except Exception:
            pass
        atexit._run_exitfuncs()
        for f in (sys.stdout, sys.stderr):
            try:
                f.flush()
            except Exception:
                pass
        os._exit(code if isinstance(code, int) and 0 <= code < 256 else 1)


def _exit_code(c):
    if c is None:
        return 0
    if isinstance(c, int):
        return c & 0xFF
    sys.stderr.write("%s\n" % (c,))
    return 1


def _fds(anc):
    import array
    import socket

    fds = []
    for level, kind, data in anc:
        if level == socket.SOL_SOCKET and kind == socket.SCM_RIGHTS:
            a = array.array("i")
            a.frombytes(data[: len(data) - (len(data) % a.itemsize)])
            fds.extend(a)
    return fds


def _close(fd):
    try:
        os.close(fd)
    except OSError:
        pass


_LIBC = []  # the C library's handle, opened once in the warm pytest


def _pdeathsig():
    import ctypes
    import signal

    if not _LIBC:
        _LIBC.append(ctypes.CDLL(None, use_errno=True))
    _LIBC[0].prctl(1, int(signal.SIGKILL), 0, 0, 0)  # PR_SET_PDEATHSIG


SERVER_PID = os.getpid()


def main():
    import gc
    import socket

    control = socket.socket(fileno=os.dup(0))
    null = os.open(os.devnull, os.O_RDONLY)
    os.dup2(null, 0)
    os.close(null)
    import pytest  # noqa: F401  (pytest, not its plugins: their modules are imported by its plugin manager)
    import _pytest.config  # noqa: F401
    import pytest.__main__  # noqa: F401  (what `python -m pytest` runs: each fork's sys.argv[0])
    import ctypes  # noqa: F401  (every fork's PR_SET_PDEATHSIG)

    _LIBC.append(ctypes.CDLL(None, use_errno=True))

    refusal = _preload(_read_preload(control))
    if refusal is None and (_threads() > 1):
        refusal = "the warm process has %d threads: fork is unsafe" % _threads()
    fp = _fingerprint()
    Server.known = frozenset(sys.modules)
    gc.collect()
    if hasattr(gc, "freeze"):  # CPython 3.7+; PyPy has none (its children copy more pages)
        gc.freeze()
    server = Server(control, fp, refusal)
    server.tell(("refused " + refusal) if refusal else ("ready %d %d" % (os.getpid(), len(fp))))
    return server.serve()


if __name__ == "__main__":
    sys.exit(main())
