#!/usr/bin/python3
"""`make soak`: N consecutive :PytestRun of a small failing suite in a headless nvim
(bench/soak.lua does the runs). Prints co-process RSS and open fds after run 10 vs run N,
leftover/zombie processes, and whether every run reported the same failing node ids.
Exits non-zero if RSS grows > 5% (run 10 -> N), the fd count changes, anything is left over,
or any run's result is wrong. SOAK_N overrides the number of runs (default 1000)."""
import datetime
import json
import os
import platform
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)
OUT = os.path.join(REPO, "build", "bench")


def main():
    n = int(os.environ.get("SOAK_N", "1000"))
    subprocess.run(["/usr/bin/python3", os.path.join(HERE, "gen.py"), OUT, "--quick"], check=True)
    suite = os.path.join(OUT, "small_fail")
    fd, out = tempfile.mkstemp(prefix="soak-", suffix=".json")
    os.close(fd)
    state = tempfile.mkdtemp(prefix="soak-xdg-")  # run logs land here, removed afterwards
    env = dict(os.environ, SOAK_CWD=suite, SOAK_N=str(n), SOAK_OUT=out, XDG_STATE_HOME=state,
               XDG_CACHE_HOME=state)
    env.pop("PYTESTMON_BIN", None)
    t0 = time.monotonic()
    p = subprocess.run([os.environ.get("PYTESTMON_NVIM", "nvim"), "--headless", "--clean", "--cmd",
                        "set rtp^=" + REPO, "-c", "luafile " + os.path.join(HERE, "soak.lua")], env=env,
                       timeout=7200)
    took = time.monotonic() - t0
    with open(out) as f:
        r = json.load(f)
    os.unlink(out)
    subprocess.run(["rm", "-rf", state])
    time.sleep(0.5)
    # after nvim has quit: the co-process and anything in the suite's cwd must be gone too
    after = []
    for d in os.listdir("/proc"):
        if d.isdigit():
            try:
                if os.readlink("/proc/%s/cwd" % d) == suite or int(d) == r["co_pid"]:
                    after.append(int(d))
            except OSError:
                pass
    rss10, rssn = r["rss"]["10"], r["rss"][str(n)]
    fd10, fdn = r["fds"]["10"], r["fds"][str(n)]
    growth = (rssn - rss10) / rss10 * 100
    secs = sorted(r["seconds"])
    print("soak %s, nproc %d, kernel %s, nvim exit %d, %d runs in %.0f s (median run %.3f s, max %.3f s)" % (
        datetime.datetime.now().strftime("%Y-%m-%d %H:%M"), os.cpu_count(), platform.release(), p.returncode, n,
        took, secs[len(secs) // 2], secs[-1]))
    print("co-process RSS (kB) by run: %s" % ", ".join("%s: %s" % (k, v) for k, v in
                                                      sorted(r["rss"].items(), key=lambda kv: int(kv[0]))))
    print("co-process RSS after run 10: %d kB, after run %d: %d kB (%+.2f%%)" % (rss10, n, rssn, growth))
    print("co-process open fds after run 10: %d, after run %d: %d" % (fd10, n, fdn))
    print("failing node ids (every run must match): %s" % " ".join(r["expected"] or []))
    print("runs with a wrong result: %d %s" % (len(r["bad"]), r["bad"][:3]))
    print("leftover processes after the last run (children of the co-process or in the suite dir): %s" % (
        r["leftover"] or "none"))
    print("processes left after nvim quit (co-process or in the suite dir): %s" % (after or "none"))
    fails = []
    if growth > 5:
        fails.append("RSS grew %.2f%% > 5%%" % growth)
    if fd10 != fdn:
        fails.append("fd count changed %d -> %d" % (fd10, fdn))
    if r["leftover"] or after:
        fails.append("processes left over")
    if r["bad"] or not r["expected"]:
        fails.append("%d runs with wrong results" % len(r["bad"]))
    if p.returncode != 0:
        fails.append("nvim exited %d" % p.returncode)
    print("SOAK " + ("FAIL: " + "; ".join(fails) if fails else "PASS"))
    return 1 if fails else 0


if __name__ == "__main__":
    sys.exit(main())
